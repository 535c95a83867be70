package report

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/tcpwhy/tcpwhy/capture"
	"github.com/tcpwhy/tcpwhy/classify"
)

// JSON record types: the NDJSON contract other tools read. Count fields
// are always written, also when zero; counter maps list non-zero deltas.

type jsonInput struct {
	Name       string   `json:"name"`
	Format     string   `json:"format"`
	Compressed bool     `json:"compressed"`
	Nanosecond bool     `json:"nanosecond"`
	LinkTypes  []string `json:"link_types"`
	Snaplen    int      `json:"snaplen"`
	Packets    int64    `json:"packets"`
}

type jsonCapture struct {
	Type         string      `json:"type"`
	Files        []jsonInput `json:"files"`
	LinkTypes    []string    `json:"link_types"`
	Packets      int64       `json:"packets"`
	TCPSegments  int64       `json:"tcp_segments"`
	ICMPErrors   int64       `json:"icmp_errors"`
	Fragments    int64       `json:"fragments"`
	Other        int64       `json:"other"`
	BadChecksums int64       `json:"bad_checksums"`
	Truncated    int64       `json:"truncated"`
	Dropped      *int64      `json:"dropped"`
	First        *string     `json:"first"`
	Last         *string     `json:"last"`
	Errors       []string    `json:"errors"`
}

type jsonDiagnosis struct {
	Kind            string   `json:"kind"`
	Explanation     string   `json:"explanation"`
	Checks          []string `json:"checks"`
	Evidence        []int64  `json:"evidence"`
	Connections     int      `json:"connections"`
	Clients         int      `json:"clients"`
	Start           *string  `json:"start"`
	End             *string  `json:"end"`
	DurationS       float64  `json:"duration_s"`
	AbortOnOverflow *string  `json:"abort_on_overflow,omitempty"`
	RejectedBy      *string  `json:"rejected_by,omitempty"`
}

type jsonListener struct {
	Type                string                   `json:"type"`
	Server              string                   `json:"server"`
	Connections         int                      `json:"connections"`
	Verdicts            map[classify.Verdict]int `json:"verdicts"`
	Diagnosis           []jsonDiagnosis          `json:"diagnosis"`
	AcceptQueueEstimate *int                     `json:"accept_queue_estimate"`
	SynDrops            int                      `json:"syn_drops"`
	SYNCookies          int                      `json:"syn_cookies"`
}

type jsonReconciled struct {
	Name        string `json:"name"`
	Netstat     string `json:"netstat"`
	Observed    int64  `json:"observed"`
	Predicted   int64  `json:"predicted"`
	Status      string `json:"status"`
	Explanation string `json:"explanation"`
}

type jsonReconciliation struct {
	Type            string           `json:"type"`
	Hosts           []string         `json:"hosts"`
	HostGuessed     bool             `json:"host_guessed"`
	Files           []string         `json:"files"`
	Mode            string           `json:"mode"`
	Counters        []jsonReconciled `json:"counters"`
	Explained       []string         `json:"explained"`
	PartlyExplained []string         `json:"partly_explained"`
	NotInCapture    []string         `json:"not_in_capture"`
	NotInCounters   []string         `json:"not_in_counters"`
	OverPredicted   []string         `json:"over_predicted"`
	Ignored         int              `json:"ignored"`
}

type jsonSummary struct {
	Type      string                   `json:"type"`
	Flows     int                      `json:"flows"`
	Failing   int                      `json:"failing"`
	Verdicts  map[classify.Verdict]int `json:"verdicts"`
	Listeners int                      `json:"listeners"`
	Evicted   int64                    `json:"evicted"`
	PeakFlows int                      `json:"peak_flows"`
	StrayICMP int64                    `json:"stray_icmp"`
	// Unexamined counts the notable flows the listener diagnosis counted
	// but did not examine (it keeps at most 32768).
	Unexamined int `json:"unexamined"`
	// HostsUntracked counts the flow sides whose address the host view
	// did not track (it tracks at most 262144 addresses).
	HostsUntracked int `json:"hosts_untracked"`
	// ListenersLeftOut counts the server ip:ports without a listener
	// record, and ListenerFlowsLeftOut their flows (a port scan's probes,
	// a gateway's one-off connections; see
	// classify.Analysis.ListenersLeftOut).
	ListenersLeftOut     int `json:"listeners_left_out"`
	ListenerFlowsLeftOut int `json:"listener_flows_left_out"`
}

func timeString(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// CaptureRecord builds the `capture` record.
func captureRecord(info capture.Info, err error) jsonCapture {
	c := jsonCapture{Type: "capture", Packets: info.Packets, TCPSegments: info.TCP, ICMPErrors: info.ICMPErrors,
		Fragments: info.Fragments, Other: info.Other, BadChecksums: info.BadChecksums, Truncated: info.Truncated,
		Files: []jsonInput{}, LinkTypes: []string{}, Errors: errorList(err)}
	if info.Dropped >= 0 && len(info.Inputs) > 0 && info.Inputs[0].Format == "live" {
		d := info.Dropped
		c.Dropped = &d
	}
	seen := map[string]bool{}
	for _, in := range info.Inputs {
		c.Files = append(c.Files, jsonInput{Name: in.Name, Format: in.Format, Compressed: in.Compressed,
			Nanosecond: in.Nanosecond, LinkTypes: nonNil(in.LinkTypes), Snaplen: in.Snaplen, Packets: in.Packets})
		for _, l := range in.LinkTypes {
			if !seen[l] {
				seen[l] = true
				c.LinkTypes = append(c.LinkTypes, l)
			}
		}
	}
	if !info.First.IsZero() {
		f, l := timeString(info.First), timeString(info.Last)
		c.First, c.Last = &f, &l
	}
	return c
}

// errorList splits joined errors into their messages.
func errorList(err error) []string {
	out := []string{}
	if err == nil {
		return out
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			out = append(out, errorList(e)...)
		}
		return out
	}
	return append(out, err.Error())
}

// FlowRecord builds the `flow` record of one classified flow.
func listenerRecord(l *classify.Listener) jsonListener {
	j := jsonListener{Type: "listener", Server: l.Server.String(), Connections: l.Connections, Verdicts: l.Verdicts,
		Diagnosis: []jsonDiagnosis{}, AcceptQueueEstimate: l.AcceptQueueEstimate, SynDrops: l.SynDrops, SYNCookies: l.SYNCookies}
	for _, d := range l.Diagnosis {
		jd := jsonDiagnosis{Kind: d.Kind, Explanation: d.Explanation,
			Checks: nonNil(d.Checks), Evidence: nonNil(d.Evidence), Connections: d.Connections, Clients: d.Clients}
		if !d.Start.IsZero() {
			s, e := timeString(d.Start), timeString(d.End)
			jd.Start, jd.End = &s, &e
			jd.DurationS = d.End.Sub(d.Start).Seconds()
		}
		if d.Kind == classify.KindOverflow {
			v := d.AbortOnOverflow
			jd.AbortOnOverflow = &v
		}
		if d.Kind == classify.KindRejectOrNot {
			v := d.RejectedBy
			jd.RejectedBy = &v
		}
		j.Diagnosis = append(j.Diagnosis, jd)
	}
	return j
}

func reconciliationRecord(rec *classify.Reconciliation) jsonReconciliation {
	j := jsonReconciliation{Type: "reconciliation", Hosts: []string{}, HostGuessed: rec.HostGuessed, Files: nonNil(rec.Sources),
		Mode: rec.Mode, Counters: []jsonReconciled{}, Explained: rec.Status(classify.Explained),
		PartlyExplained: rec.Status(classify.PartlyExplained), NotInCapture: rec.Status(classify.NotInCapture),
		NotInCounters: rec.Status(classify.NotInCounters), OverPredicted: rec.Status(classify.OverPredicted), Ignored: rec.Ignored}
	for _, h := range rec.Hosts {
		j.Hosts = append(j.Hosts, h.String())
	}
	for _, c := range rec.Counters {
		j.Counters = append(j.Counters, jsonReconciled{Name: c.Name, Netstat: c.Netstat, Observed: c.Observed,
			Predicted: c.Predicted, Status: c.Status, Explanation: c.Explanation})
	}
	return j
}

// JSONFlow writes one `flow` record (for streaming output).
func JSONFlow(w io.Writer, r *classify.FlowResult) error {
	_, err := w.Write(appendFlowRecord(nil, r))
	return err
}

// JSON writes the analysis as NDJSON: `capture` first, one `flow` per
// connection, one `listener` per server ip:port, one `host` per IP, one
// `reconciliation` per recs entry (counters a user gave with --nstat),
// and `summary` last. skipFlows leaves out the flow records (when they
// were streamed already).
func JSON(w io.Writer, a *classify.Analysis, skipFlows bool, recs ...*classify.Reconciliation) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	if err := enc.Encode(captureRecord(a.Capture, a.Err)); err != nil {
		return fmt.Errorf("write json: %w", err)
	}
	if !skipFlows {
		var buf []byte
		for _, r := range a.Flows {
			buf = appendFlowRecord(buf[:0], r)
			if _, err := bw.Write(buf); err != nil {
				return fmt.Errorf("write json: %w", err)
			}
		}
	}
	return jsonTail(bw, enc, a, recs)
}

// JSONStream writes the same NDJSON as JSON for an analysis that hands
// its flows over one by one and keeps none (classify.Options.Bounded).
// The flow records wait in a spool (memory, then an unlinked temporary
// file) because the capture record, whose counts are known only at the
// end, comes first. Flow records appear in the order they were handed
// over.
type JSONStream struct {
	spooled
	buf []byte
	err error
}

// NewJSONStream returns a JSONStream writing to w.
func NewJSONStream(w io.Writer) *JSONStream {
	s := &JSONStream{}
	s.init(w)
	return s
}

// Flow spools one flow record. It keeps nothing of r
// (classify.Options.ReuseResults).
func (s *JSONStream) Flow(r *classify.FlowResult) {
	if s.err != nil {
		return
	}
	s.buf = appendFlowRecord(s.buf[:0], r)
	if _, err := s.bw.Write(s.buf); err != nil {
		s.err = fmt.Errorf("write json: %w", err)
	}
}

// Close writes the capture record, the spooled flow records, and the
// listener, host, reconciliation and summary records of a.
func (s *JSONStream) Close(a *classify.Analysis, recs ...*classify.Reconciliation) error {
	if s.err != nil {
		return s.err
	}
	bw := bufio.NewWriterSize(s.w, 64<<10)
	enc := json.NewEncoder(bw)
	if err := enc.Encode(captureRecord(a.Capture, a.Err)); err != nil {
		return fmt.Errorf("write json: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write json: %w", err)
	}
	if err := s.drain(); err != nil {
		return fmt.Errorf("write json: %w", err)
	}
	return jsonTail(bw, enc, a, recs)
}

// jsonTail writes the records after the flows and flushes bw.
func jsonTail(bw *bufio.Writer, enc *json.Encoder, a *classify.Analysis, recs []*classify.Reconciliation) error {
	for _, l := range a.Listeners {
		if err := enc.Encode(listenerRecord(l)); err != nil {
			return fmt.Errorf("write json: %w", err)
		}
	}
	var b []byte
	for _, h := range a.Hosts {
		// Written by hand, as the flow records are: a large capture has
		// tens of thousands of hosts, and this runs after the last packet.
		b = appendHostRecord(b[:0], h)
		if _, err := bw.Write(b); err != nil {
			return fmt.Errorf("write json: %w", err)
		}
	}
	for _, rec := range recs {
		if rec == nil {
			continue
		}
		if err := enc.Encode(reconciliationRecord(rec)); err != nil {
			return fmt.Errorf("write json: %w", err)
		}
	}
	flows, failing := a.Counts()
	s := jsonSummary{Type: "summary", Flows: flows, Failing: failing, Verdicts: a.Verdicts,
		Listeners: len(a.Listeners), Evicted: a.Evicted, PeakFlows: a.PeakFlows, StrayICMP: a.StrayICMP, Unexamined: a.Unexamined,
		HostsUntracked: a.UntrackedHostSides, ListenersLeftOut: a.ListenersLeftOut, ListenerFlowsLeftOut: a.ListenerFlowsLeftOut}
	if err := enc.Encode(s); err != nil {
		return fmt.Errorf("write json: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write json: %w", err)
	}
	return nil
}

package classify

import (
	"cmp"
	"errors"
	"io"
	"net/netip"
	"slices"
	"time"

	"github.com/tcpwhy/tcpwhy/capture"
	"github.com/tcpwhy/tcpwhy/flows"
)

// Options tune an analysis.
type Options struct {
	// Count stops after this many packets (0: all), like `tcpdump -c`.
	Count int64
	// MaxFlows caps the flows tracked at once (0: no cap).
	MaxFlows int
	// OnFlow, when set, receives each flow as soon as it is decided (for
	// streaming output); the flows are still in Analysis.Flows unless
	// Stream is set.
	OnFlow func(*FlowResult)
	// Stream hands each decided flow to OnFlow only and keeps nothing of
	// it, so that memory stays bounded on an endless live capture:
	// Analysis.Flows, Listeners, Hosts and Verdicts stay empty (build
	// them from the flows collected with Summarize).
	Stream bool
	// OnTick, when set, is called when a live source reports that time
	// passed without a packet (capture.ErrTick), after the flows idle by
	// then were decided.
	OnTick func(now time.Time)
	// IdleHandshake, IdleEstablished and IdleClosed are how long a flow
	// may stay silent in each state before it is decided (0: the flow
	// table's defaults of 3 minutes, 2 hours and 60 s). A live capture
	// shortens IdleClosed so that closed flows are reported soon.
	IdleHandshake, IdleEstablished, IdleClosed time.Duration
	// OnSegment, when set, is called for every segment after the flow
	// table has seen it (the text renderer uses it to print packets).
	OnSegment func(seg *capture.Segment, u flows.Update)
}

// Analysis is the whole result: what the renderers print.
type Analysis struct {
	// Capture describes the input.
	Capture capture.Info
	// Flows are the classified flows, ordered by first packet.
	Flows []*FlowResult
	// Listeners are the server ip:ports, ordered by address.
	Listeners []*Listener
	// Hosts are the IP addresses with their predicted counters.
	Hosts []*Host
	// Verdicts counts flows by verdict.
	Verdicts map[Verdict]int
	// Evicted counts flows decided early because the table was full.
	Evicted int64
	// PeakFlows is the largest number of flows tracked at once.
	PeakFlows int
	// StrayICMP counts ICMP errors that matched no flow.
	StrayICMP int64
	// Err holds the read errors of broken inputs (nil when clean).
	Err error
}

// Analyze reads every segment of src, tracks the flows and classifies
// them. A broken input is reported in Analysis.Err; everything read
// before it is analysed.
func Analyze(src capture.Source, opts Options) *Analysis {
	a := &Analysis{Verdicts: map[Verdict]int{}}
	var pending []*flows.Flow
	table := flows.NewTable(flows.Config{MaxFlows: opts.MaxFlows, IdleHandshake: opts.IdleHandshake,
		IdleEstablished: opts.IdleEstablished, IdleClosed: opts.IdleClosed, OnDone: func(f *flows.Flow) {
			pending = append(pending, f)
		}})
	var seg capture.Segment
	var last time.Time
	var err error
	for {
		if opts.Count > 0 && src.Info().Packets >= opts.Count {
			break
		}
		if err = src.Next(&seg); err != nil {
			if !errors.Is(err, capture.ErrTick) {
				break
			}
			// A live source's tick: time passed without a packet.
			if seg.Time.After(last) {
				last = seg.Time
			}
			table.Advance(seg.Time)
			if len(pending) > 0 {
				a.take(pending, last, opts)
				pending = release(table, pending)
			}
			if opts.OnTick != nil {
				opts.OnTick(seg.Time)
			}
			continue
		}
		if seg.Time.After(last) {
			last = seg.Time
		}
		u := table.Add(&seg)
		if opts.OnSegment != nil {
			opts.OnSegment(&seg, u)
		}
		if len(pending) > 0 {
			a.take(pending, last, opts)
			pending = release(table, pending)
		}
	}
	if err != nil && !errors.Is(err, io.EOF) {
		a.Err = err
	}
	table.Flush()
	a.take(pending, last, opts)
	release(table, pending)
	a.Capture = src.Info()
	if e := src.Err(); e != nil {
		a.Err = errors.Join(a.Err, e)
	}
	a.Evicted = table.Evicted
	a.PeakFlows = table.Peak
	a.StrayICMP = table.StrayICMP
	a.finish()
	return a
}

func (a *Analysis) take(fs []*flows.Flow, end time.Time, opts Options) {
	for _, f := range fs {
		r := Flow(f, end)
		if !opts.Stream {
			a.Flows = append(a.Flows, r)
		}
		if opts.OnFlow != nil {
			opts.OnFlow(r)
		}
	}
}

// Summarize builds an Analysis from decided flows, as Analyze does at its
// end: the flows ordered by ID, the listener and host views, the counts
// by verdict. The listener diagnosis may reclassify flows (SYNs dropped
// by an overflowing listener become overflow). Capture and the table's
// counts are left for the caller to fill. It is for callers that collect
// the flows themselves (Options.Stream).
func Summarize(rs []*FlowResult) *Analysis {
	a := &Analysis{Flows: rs, Verdicts: map[Verdict]int{}}
	a.finish()
	return a
}

// finish orders the flows and builds the listener and host views.
func (a *Analysis) finish() {
	slices.SortFunc(a.Flows, func(x, y *FlowResult) int { return cmp.Compare(x.ID, y.ID) })
	a.Listeners = listeners(a.Flows)
	for _, v := range Verdicts {
		a.Verdicts[v] = 0
	}
	for _, r := range a.Flows {
		a.Verdicts[r.Verdict]++
	}
	a.Hosts = hosts(a.Flows, a.Listeners)
}

// Host is one IP address and the counter deltas its nstat should show.
type Host struct {
	// IP is the address.
	IP netip.Addr
	// Counters are the predicted deltas.
	Counters Counters
}

func hosts(rs []*FlowResult, ls []*Listener) []*Host {
	m := map[netip.Addr]*Host{}
	get := func(ip netip.Addr) *Host {
		h := m[ip]
		if h == nil {
			h = &Host{IP: ip, Counters: Counters{}}
			m[ip] = h
		}
		return h
	}
	for _, r := range rs {
		ch, sh := get(r.Client.Addr()), get(r.Server.Addr())
		for k, v := range r.ClientCounters {
			ch.Counters.Add(k, v)
		}
		for k, v := range r.ServerCounters {
			sh.Counters.Add(k, v)
		}
	}
	for _, l := range ls {
		h := get(l.Server.Addr())
		h.Counters.Add("TcpExtListenOverflows", l.SynDrops)
		h.Counters.Add("TcpExtListenDrops", l.SynDrops)
	}
	out := make([]*Host, 0, len(m))
	for _, h := range m {
		out = append(out, h)
	}
	slices.SortFunc(out, func(x, y *Host) int { return x.IP.Compare(y.IP) })
	return out
}

package report

import (
	"bufio"
	"cmp"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tcpwhy/tcpwhy/capture"
	"github.com/tcpwhy/tcpwhy/classify"
)

//go:embed templates/report.html.tmpl
var htmlSource string

// htmlTemplate returns the report's template, parsed on first use (not
// at start-up: the other outputs need neither its 0.5 MB of parse trees
// nor the time); html/template escapes every value by context (text,
// attribute, inside the inline SVG).
var htmlTemplate = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("report").Parse(htmlSource))
})

// Ladder geometry, in SVG user units.
const (
	ladderWidth     = 1180
	ladderClientX   = 200
	ladderServerX   = 560
	ladderTop       = 50
	ladderRow       = 34
	ladderSlant     = 14
	ladderNoteX     = 590
	ladderNoteChars = 80
	ladderMax       = 48
)

// Timeline geometry.
const (
	timelineWidth = 1000
	timelineLeft  = 150
	timelineRight = 20
	timelineLane  = 22
	timelineTop   = 10
)

type htmlView struct {
	Title     string
	Captured  string
	Notes     []string
	Findings  []htmlFinding
	Verdicts  []htmlCount
	Listeners []htmlListener
	// MoreFindings counts the findings past the listed ones.
	MoreFindings int
	// Failing are the rows of the failing-flows table; Sections the
	// flows shown with their packets.
	Failing, Sections []htmlFlow
	// FailingNote and SectionsNote say what was left out of a large
	// capture's report.
	FailingNote, SectionsNote string
	Hosts                     []htmlHost
	HavePackets               bool
	// ListenersNote and HostsNote say how many listeners and hosts a
	// large capture's report leaves out.
	ListenersNote, HostsNote string
}

type htmlFinding struct{ Verdict, Text string }

type htmlCount struct {
	Verdict string
	Count   int
	Failing bool
}

type htmlListener struct {
	Server    string
	Summary   string
	Diagnosis []classify.Diagnosis
	Estimate  *int
	Timeline  htmlTimeline
}

type htmlTimeline struct {
	Width, Height int
	AxisY         int
	Lanes         []htmlLane
	Marks         []htmlMark
	Span          string
	Start         string
}

type htmlLane struct {
	Y, TextY int
	Verdict  string
	Count    int
}

type htmlMark struct {
	X, Y, W, H int
	Verdict    string
	Title      string
}

type htmlFlow struct {
	ID          int64
	Client      string
	Server      string
	Verdict     string
	Explanation string
	Notes       []string
	Reset       string
	Zeek        string
	Packets     string
	Ladder      *htmlLadder
	// Shown is set when the flow's section (its ladder) is on the page,
	// for the failing-flows table to link to it.
	Shown bool
}

type htmlLadder struct {
	Width, Height    int
	ClientX, ServerX int
	LineEnd          int
	Arrows           []htmlArrow
	Gaps             []htmlGap
	Decisive         []htmlArrow
	Omitted          int
}

type htmlArrow struct {
	Packet           int64
	X1, Y1, X2, Y2   int
	LabelX, LabelY   int
	TimeY            int
	HlY              int
	Label            string
	Time             string
	Decisive         bool
	ICMP             bool
	NoteY            int
	Note             string
	FullNote         string
	Notes            []string
	Line             string
	Labels           string
	FromClient       bool
	NoteMarkerX      int
	NoteMarkerNumber int
}

type htmlGap struct {
	Y     int
	Count int
}

type htmlHost struct {
	IP       string
	Counters []htmlCounter
}

type htmlCounter struct {
	Name  string
	Delta string
	Text  string
}

// HTML writes the analysis as one self-contained HTML page (inline CSS
// and SVG, no script, no external resource; a Content-Security-Policy
// forbids any fetch): the findings, a timeline of connection outcomes per
// listener, and for each failing flow a ladder diagram of its packets
// with the decisive ones highlighted and annotated. Everything taken from
// the capture is escaped by html/template. px holds the packets of a
// second pass (nil: no ladders).
func HTML(w io.Writer, a *classify.Analysis, d *Digest, px *PacketIndex) error {
	v := htmlView{Title: "tcpwhy report: " + strings.Join(inputNames(a.Capture), ", "), Captured: capturedText(a, d),
		HavePackets: px != nil}
	if a.Capture.BadChecksums > 0 {
		v.Notes = append(v.Notes, fmt.Sprintf("%d TCP segments carry a wrong checksum (checksum offload on the capturing host, or veth); they were analysed anyway.", a.Capture.BadChecksums))
	}
	if a.Evicted > 0 {
		v.Notes = append(v.Notes, fmt.Sprintf("The flow table was full: %d flows were decided early (raise --max-flows).", a.Evicted))
	}
	if a.ListenersLeftOut > 0 {
		v.Notes = append(v.Notes, sentence(listenersLeftOutNote(a)))
	}
	for _, e := range errorList(a.Err) {
		v.Notes = append(v.Notes, "Read error: "+e)
	}
	fs, nfs := d.findingList()
	for _, f := range fs {
		v.Findings = append(v.Findings, htmlFinding{Verdict: string(f.Verdict), Text: f.Text()})
	}
	v.MoreFindings = nfs - len(fs)
	for _, vd := range classify.Verdicts {
		if n := a.Verdicts[vd]; n > 0 {
			v.Verdicts = append(v.Verdicts, htmlCount{Verdict: string(vd), Count: n, Failing: vd.Failing()})
		}
	}
	listeners, moreListeners := busiestListeners(a.Listeners)
	if len(moreListeners) > 0 {
		v.ListenersNote = fmt.Sprintf("The %d listeners with the most failing connections; %d more are not shown (%s); --json has every listener.",
			len(listeners), len(moreListeners), restDiagnoses(moreListeners))
	}
	for _, l := range listeners {
		v.Listeners = append(v.Listeners, htmlListener{Server: l.Server.String(),
			Summary:   plural(l.Connections, "connection") + " (" + verdictCounts(l.Verdicts) + ")",
			Diagnosis: l.Diagnosis, Estimate: l.AcceptQueueEstimate, Timeline: timeline(a, d.timelines[l.Server], l)})
	}
	flow := func(r *classify.FlowResult, withLadder bool) htmlFlow {
		f := htmlFlow{ID: r.ID, Client: r.Client.String(), Server: r.Server.String(), Verdict: string(r.Verdict),
			Explanation: r.Explanation, Notes: r.Notes, Reset: "-", Zeek: r.ZeekState + " " + r.ZeekHistory,
			Packets: fmt.Sprintf("%d-%d", r.FirstPacket, r.LastPacket)}
		if r.Reset != nil {
			f.Reset = resetText(r.Reset)
		}
		if withLadder && px != nil {
			f.Ladder = ladder(r, px.Flow(r.ID))
		}
		return f
	}
	failing, sections := d.Failing(), d.Sections()
	shown := map[int64]bool{}
	for _, r := range sections {
		v.Sections = append(v.Sections, flow(r, true))
		shown[r.ID] = true
	}
	for _, r := range failing {
		f := flow(r, false)
		f.Shown = shown[r.ID]
		v.Failing = append(v.Failing, f)
	}
	if n := d.FailingCount(); n > len(failing) {
		v.FailingNote = fmt.Sprintf("The first %d of the %d failing flows, by flow number; --json lists every flow.", len(failing), n)
	}
	if d.FailingCount() > digestMaxSections {
		v.SectionsNote = "The first flow of each failing verdict:"
	}
	hosts, moreHosts := busiestHosts(hostsWithCounters(a))
	if len(moreHosts) > 0 {
		v.HostsNote = fmt.Sprintf("The %d hosts with the largest deltas; %d more are not listed; --json has every host.", len(hosts), len(moreHosts))
	}
	for _, h := range hosts {
		hh := htmlHost{IP: h.IP.String()}
		for _, name := range counterNames(h.Counters) {
			hh.Counters = append(hh.Counters, htmlCounter{Name: name, Delta: fmt.Sprintf("%+d", h.Counters[name]), Text: classify.NetstatText[name]})
		}
		v.Hosts = append(v.Hosts, hh)
	}
	bw := bufio.NewWriter(w)
	if err := htmlTemplate().Execute(bw, v); err != nil {
		return fmt.Errorf("write html: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write html: %w", err)
	}
	return nil
}

func capturedText(a *classify.Analysis, d *Digest) string {
	ci := a.Capture
	s := fmt.Sprintf("%d packets, %d TCP segments", ci.Packets, ci.TCP)
	if ci.ICMPErrors > 0 {
		s += fmt.Sprintf(", %d ICMP errors", ci.ICMPErrors)
	}
	if !ci.First.IsZero() {
		s += fmt.Sprintf(", from %s to %s UTC (%.3f s)", ci.First.UTC().Format("2006-01-02 15:04:05.000000"),
			ci.Last.UTC().Format("15:04:05.000000"), ci.Last.Sub(ci.First).Seconds())
	}
	return s + fmt.Sprintf("; %s, %d failing, %s.", plural(d.Flows(), "flow"), d.FailingCount(), plural(len(a.Listeners), "listener"))
}

// timeline draws one lane per verdict seen at the listener and one mark
// per connection, from its first to its last packet, on the capture's
// time axis; past digestMaxMarks connections, one mark per stretch of
// time the lane's connections cover.
func timeline(a *classify.Analysis, sm *serverMarks, l *classify.Listener) htmlTimeline {
	t0, t1 := a.Capture.First, a.Capture.Last
	span := t1.Sub(t0)
	tl := htmlTimeline{Width: timelineWidth, Span: fmt.Sprintf("%.3f s", span.Seconds()), Start: t0.UTC().Format("15:04:05.000")}
	lane := map[classify.Verdict]int{}
	for _, vd := range classify.Verdicts {
		if n := l.Verdicts[vd]; n > 0 {
			lane[vd] = len(tl.Lanes)
			y := timelineTop + len(tl.Lanes)*timelineLane
			tl.Lanes = append(tl.Lanes, htmlLane{Y: y, TextY: y + 15, Verdict: string(vd), Count: n})
		}
	}
	tl.AxisY = timelineTop + len(tl.Lanes)*timelineLane + 4
	tl.Height = tl.AxisY + 22
	if sm == nil {
		return tl
	}
	plot := timelineWidth - timelineLeft - timelineRight
	x := func(t time.Time) int {
		if span <= 0 {
			return timelineLeft
		}
		// Clamp: a coarse stretch may reach past the capture's ends.
		d := min(max(t.Sub(t0), 0), span)
		return timelineLeft + int(float64(plot)*float64(d)/float64(span))
	}
	mark := func(vd classify.Verdict, start, end time.Time, title string) {
		i, ok := lane[vd]
		if !ok {
			return
		}
		x0, x1 := x(start), x(end)
		tl.Marks = append(tl.Marks, htmlMark{X: x0, Y: timelineTop + i*timelineLane + 4, W: max(x1-x0, 3), H: timelineLane - 8,
			Verdict: string(vd), Title: title})
	}
	if sm.lanes == nil {
		ms := slices.Clone(sm.marks)
		slices.SortFunc(ms, func(p, q markFlow) int { return cmp.Compare(p.id, q.id) })
		for _, m := range ms {
			start, end := time.Unix(0, m.start), time.Unix(0, m.end)
			mark(m.verdict, start, end, fmt.Sprintf("flow %d: %s > %s, %s, %.3f s", m.id, m.client, l.Server, m.verdict, end.Sub(start).Seconds()))
		}
		return tl
	}
	for _, vd := range classify.Verdicts {
		lr := sm.lanes[vd]
		if lr == nil {
			continue
		}
		for _, r := range lr.runs {
			start, end := lr.span(r)
			mark(vd, start, end, fmt.Sprintf("%s, %s: %s between %s and %s", l.Server, vd, plural(r.n, "connection"),
				start.UTC().Format("15:04:05.000"), end.UTC().Format("15:04:05.000")))
		}
	}
	return tl
}

// flagText is the flags as tcpdump writes them ("S.", "R", "P.").
func flagText(f capture.Flags) string {
	var b []byte
	for _, n := range tcpFlagNames {
		if f&n.bit != 0 {
			b = append(b, n.name)
		}
	}
	if len(b) == 0 {
		return "none"
	}
	return string(b)
}

// ladder lays out a flow's packets as arrows between the client's and the
// server's vertical lines.
func ladder(r *classify.FlowResult, fp *FlowPackets) *htmlLadder {
	ps, gaps := fp.ladderPackets(ladderMax)
	if len(ps) == 0 {
		return nil
	}
	ld := &htmlLadder{Width: ladderWidth, ClientX: ladderClientX, ServerX: ladderServerX}
	y := ladderTop
	notes := 0
	for i, p := range ps {
		a := htmlArrow{Packet: p.Packet, Y1: y, Y2: y + ladderSlant, Decisive: p.Decisive, ICMP: p.ICMP, Line: p.Line,
			Labels: p.Labels, Notes: p.Notes, FromClient: p.FromClient, TimeY: y + 4, HlY: y - 15,
			Time: fmt.Sprintf("#%d  +%.6f s", p.Packet, p.Time.Sub(r.Start).Seconds())}
		if p.FromClient {
			a.X1, a.X2 = ladderClientX, ladderServerX
		} else {
			a.X1, a.X2 = ladderServerX, ladderClientX
		}
		a.LabelX, a.LabelY = (ladderClientX+ladderServerX)/2, y-2
		if p.ICMP {
			a.Label = "ICMP error quoting [" + flagText(p.Flags) + "]"
		} else {
			a.Label = fmt.Sprintf("[%s] seq %d", flagText(p.Flags), p.Seq)
			if p.Flags&capture.ACK != 0 {
				a.Label += fmt.Sprintf(" ack %d", p.Ack)
			}
			a.Label += fmt.Sprintf(" win %d len %d", p.Window, p.Len)
		}
		var side []string
		if p.Labels != "" {
			side = append(side, "["+p.Labels+"]")
		}
		if len(p.Notes) > 0 {
			notes++
			a.NoteMarkerNumber = notes
			side = append(side, fmt.Sprintf("(%d) %s", notes, p.Notes[0]))
			ld.Decisive = append(ld.Decisive, a)
		}
		if len(side) > 0 {
			a.FullNote = strings.Join(side, " ")
			a.Note = truncate(a.FullNote, ladderNoteChars)
			a.NoteY = y + ladderSlant/2 + 4
		}
		ld.Arrows = append(ld.Arrows, a)
		y += ladderRow
		if gaps[i] > 0 {
			ld.Gaps = append(ld.Gaps, htmlGap{Y: y - 8, Count: gaps[i]})
			ld.Omitted += gaps[i]
			y += ladderRow / 2
		}
	}
	ld.LineEnd = y
	ld.Height = y + 10
	return ld
}

// truncate cuts s to n runes, with an ellipsis.
func truncate(s string, n int) string {
	rs := []rune(s)
	if len(rs) <= n {
		return s
	}
	return string(rs[:n-1]) + "…"
}

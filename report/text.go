package report

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"unsafe"

	"github.com/tcpwhy/tcpwhy/capture"
	"github.com/tcpwhy/tcpwhy/classify"
	"github.com/tcpwhy/tcpwhy/flows"
	"github.com/tcpwhy/tcpwhy/internal/prefetch"
)

// PacketPrinter prints packets as `tcpdump -n` does and, under each
// packet that carries a verdict or a per-segment event, an indented
// annotation line starting with "    ^ " that tcpdump never emits.
// It is fed the segments of a second pass over the capture, with the
// verdicts (AddFlow) and sequence-analysis labels (AddSeq) of the first.
type PacketPrinter struct {
	w     *bufio.Writer
	tp    *TcpdumpPrinter
	notes noteIndex
	// labels are the sequence-analysis labels, apart from the notes so
	// that AddSeq and AddFlow may run in different goroutines.
	labels      SeqLabels
	annotations bool
	buf         []byte
	err         error

	// With StartWriter, Segment fills cur and a goroutine of its own
	// adds the annotations and writes the lines (see writeLines). Two
	// batches in three go unformatted (deferred), for that goroutine to
	// format with wtp; batches counts the batches handed over.
	cur     *lineBatch
	full    chan *lineBatch
	free    chan *lineBatch
	written chan error
	wtp     *TcpdumpPrinter
	batches int
}

// lineBatch is a run of packet lines on their way to the writing
// goroutine: formatted (text), or, when deferred, the segments to format
// with what they need of the printer's state (states), their frames
// copied into data (each ending at dataEnd).
type lineBatch struct {
	text  []byte
	lines []printedLine

	deferred bool
	segs     []capture.Segment
	states   []LineState
	data     []byte
	dataEnd  []int

	// asked counts the bytes of text (or, deferred, of data) asked for
	// ahead of the appends (see package prefetch): the batch comes back
	// from the writer's core.
	asked int
}

// writeAhead is how many lines ahead the formatting goroutine asks for
// the cache lines of a batch it will write, and textAhead how many bytes
// of text or frames.
const (
	writeAhead = 4
	textAhead  = 1024
)

// ask asks for the cache lines the batch's next lines will be written to.
func (c *lineBatch) ask() {
	if !c.deferred {
		c.asked = prefetch.Spare(c.text, c.asked, textAhead)
		return
	}
	if i := len(c.segs) + writeAhead; i < cap(c.segs) {
		segs, states := c.segs[:cap(c.segs)], c.states[:cap(c.states)]
		prefetch.Write(unsafe.Pointer(&segs[i]), unsafe.Sizeof(segs[i]))
		if i < len(states) {
			prefetch.Write(unsafe.Pointer(&states[i]), unsafe.Sizeof(states[i]))
		}
	}
	c.asked = prefetch.Spare(c.data, c.asked, textAhead)
}

// printedLine is one packet's line in a lineBatch.
type printedLine struct {
	packet int64
	end    int  // the line's end in text
	tcp    bool // a TCP segment: sequence labels may follow
}

// lineBatchSize is how many lines a lineBatch carries; a deferred
// batch goes once its frames reach deferredData bytes.
const (
	lineBatchSize = 256
	deferredData  = 256 << 10
)

// NewPacketPrinter returns a printer writing to w. a may be nil (no
// verdict annotations); annotations=false prints only tcpdump's lines.
func NewPacketPrinter(w io.Writer, a *classify.Analysis, o TcpdumpOptions, annotations bool) *PacketPrinter {
	p := &PacketPrinter{w: bufio.NewWriterSize(w, 256<<10), tp: NewTcpdumpPrinter(o), annotations: annotations}
	if a != nil {
		for _, r := range a.Flows {
			p.AddFlow(r)
		}
	}
	return p
}

// AddFlow takes the annotations of one flow (for a first pass that hands
// its flows over one by one instead of keeping them). It copies them and
// keeps nothing of r (classify.Options.ReuseResults).
func (p *PacketPrinter) AddFlow(r *classify.FlowResult) {
	if !p.annotations {
		return
	}
	for _, an := range r.Annotations {
		addNote(&p.notes, an.Packet, an.Text)
	}
}

// AddSeq takes the sequence-analysis labels of one segment, found by a
// first pass (classify.Options.OnSeq), to print them under the packet in
// the second, which then runs no flow table. It may run concurrently
// with AddFlow, not with itself.
func (p *PacketPrinter) AddSeq(packet int64, r flows.SeqResult) {
	if !p.annotations {
		return
	}
	p.labels.Add(packet, r)
}

// StartWriter makes the printer add the annotations and write in a
// goroutine of its own, while Segment formats the packet lines: two
// cores share the printing of the annotated text's second pass. Segment
// formats one batch of lines in three itself; for the others it only
// advances the printer's state (TcpdumpPrinter.Resolve) and leaves the
// formatting to the writer, which has less to do (on big.pcap the
// reading goroutine, Segment and the writer then take about 0.9, 1.3
// and 1.1 s of CPU). AddFlow and AddSeq must not be called after
// it, nor Segment with labels in u (u.Seq); Close waits for the writer.
func (p *PacketPrinter) StartWriter() {
	const depth = 8
	p.full, p.free, p.written = make(chan *lineBatch, depth), make(chan *lineBatch, depth+1), make(chan error, 1)
	for range depth + 1 {
		p.free <- &lineBatch{lines: make([]printedLine, 0, lineBatchSize)}
	}
	p.wtp = NewTcpdumpPrinter(p.tp.opt)
	p.cur = <-p.free
	go p.writeLines()
}

// writeLines is the writing goroutine of StartWriter.
func (p *PacketPrinter) writeLines() {
	var err error
	var b []byte
	for batch := range p.full {
		if batch.deferred {
			p.formatDeferred(batch)
		}
		start := 0
		for _, l := range batch.lines {
			if err != nil {
				break
			}
			b = append(b[:0], batch.text[start:l.end]...)
			start = l.end
			b, err = p.annotate(b, l.packet, l.tcp)
			if err == nil {
				if _, werr := p.w.Write(b); werr != nil {
					err = fmt.Errorf("write output: %w", werr)
				}
			}
		}
		batch.text, batch.lines = batch.text[:0], batch.lines[:0]
		batch.segs, batch.states, batch.data, batch.dataEnd = batch.segs[:0], batch.states[:0], batch.data[:0], batch.dataEnd[:0]
		p.free <- batch
	}
	p.written <- err
}

// formatDeferred formats the lines of a deferred batch into its text.
func (p *PacketPrinter) formatDeferred(batch *lineBatch) {
	start := 0
	for i := range batch.segs {
		seg := &batch.segs[i]
		end := batch.dataEnd[i]
		seg.Data = batch.data[start:end:end]
		start = end
		batch.text = p.appendLine(batch.text, seg, p.wtp, &batch.states[i])
		batch.lines[i].end = len(batch.text)
	}
}

// annotate appends the annotation lines that follow packet's line: its
// sequence labels (AddSeq; for a TCP segment) and its verdicts' notes.
func (p *PacketPrinter) annotate(b []byte, packet int64, tcp bool) ([]byte, error) {
	if !p.annotations {
		return b, nil
	}
	if tcp {
		b = p.labels.appendLines(b, packet)
	}
	b = p.notes.appendFor(b, packet)
	return b, cmp.Or(p.labels.idx.err, p.notes.err)
}

// Segment prints one segment (TCP segments only; ICMP errors get only
// their annotations) with its annotations: the labels of u.Seq, or of
// AddSeq when u has none, then the verdicts' annotations.
func (p *PacketPrinter) Segment(seg *capture.Segment, u flows.Update) {
	if p.cur != nil {
		p.formatLine(seg)
		return
	}
	if p.err != nil {
		return
	}
	b := p.appendLine(p.buf[:0], seg, p.tp, nil)
	labels := seg.Kind == capture.KindTCP
	if p.annotations && u.Seq.Labels != 0 {
		b = append(b, "    ^ ["...)
		b = u.Seq.AppendStrings(b)
		b = append(b, "]\n"...)
		labels = false
	}
	b, err := p.annotate(b, seg.Packet, labels)
	p.buf = b
	if err != nil {
		p.err = err
		return
	}
	if _, err := p.w.Write(b); err != nil {
		p.err = fmt.Errorf("write output: %w", err)
	}
}

// appendLine appends seg's own line: a TCP segment's tcpdump line,
// printed by tp (from st when it is not nil, see LineState), or an ICMP
// error's annotation (ICMP errors carry no sequence labels).
func (p *PacketPrinter) appendLine(b []byte, seg *capture.Segment, tp *TcpdumpPrinter, st *LineState) []byte {
	switch {
	case seg.Kind == capture.KindTCP && st != nil:
		b = tp.AppendResolved(b, seg, st)
		return append(b, '\n')
	case seg.Kind == capture.KindTCP:
		b = tp.AppendLine(b, seg)
		return append(b, '\n')
	case p.annotations && seg.Kind == capture.KindICMPError:
		return fmt.Appendf(b, "    ^ packet %d: %s from %s quotes %s > %s\n", seg.Packet, icmpText(seg), seg.ICMPFrom, seg.SrcAddrPort(), seg.DstAddrPort())
	}
	return b
}

func icmpText(seg *capture.Segment) string {
	if seg.ICMPv6 {
		return fmt.Sprintf("ICMP6 destination unreachable (code %d)", seg.ICMPCode)
	}
	return fmt.Sprintf("ICMP destination unreachable (code %d)", seg.ICMPCode)
}

// formatLine formats seg's line (a TCP segment's, or an ICMP error's
// annotation) into the current batch for the writing goroutine, or, in a
// deferred batch, copies seg with its line's state for the writer to
// format.
func (p *PacketPrinter) formatLine(seg *capture.Segment) {
	c := p.cur
	c.ask()
	tcp := seg.Kind == capture.KindTCP
	if c.deferred {
		var st LineState
		if tcp {
			st = p.tp.Resolve(seg)
		}
		c.segs = append(c.segs, *seg)
		c.states = append(c.states, st)
		c.data = append(c.data, seg.Data...)
		c.dataEnd = append(c.dataEnd, len(c.data))
		c.lines = append(c.lines, printedLine{packet: seg.Packet, tcp: tcp})
	} else {
		c.text = p.appendLine(c.text, seg, p.tp, nil)
		c.lines = append(c.lines, printedLine{packet: seg.Packet, end: len(c.text), tcp: tcp})
	}
	if len(c.lines) == lineBatchSize || len(c.data) >= deferredData {
		p.full <- c
		p.cur = <-p.free
		p.cur.asked = 0
		p.batches++
		p.cur.deferred = p.batches%3 != 0
	}
}

// Close flushes the output and returns the first write error.
func (p *PacketPrinter) Close() error {
	if p.cur != nil {
		if len(p.cur.lines) > 0 {
			p.full <- p.cur
		}
		close(p.full)
		p.err = cmp.Or(p.err, <-p.written)
		p.cur = nil
	}
	p.notes.release()
	p.labels.idx.release()
	if err := p.w.Flush(); err != nil && p.err == nil {
		p.err = fmt.Errorf("write output: %w", err)
	}
	return p.err
}

// Summary writes the end-of-run summary: counts by verdict, the failing
// flows, the listener diagnoses and the per-host counter deltas.
func Summary(w io.Writer, a *classify.Analysis, recs ...*classify.Reconciliation) error {
	bw := bufio.NewWriter(w)
	summaryHead(bw, a)
	var fl failingList
	for _, r := range a.Flows {
		if fl.take(r) {
			if fl.listed == 1 {
				fmt.Fprintf(bw, "\nfailing flows:\n")
			}
			failingLine(bw, r)
		}
	}
	fl.appendMore(bw)
	return summaryTail(bw, a, recs)
}

// maxFailingLines is how many failing flows the summary lists: the first
// ones, and then the first of each failing verdict not yet listed. A
// line under the list counts the others by verdict: a SYN flood's two
// million unanswered attempts are a count, not two million lines
// (--json has every flow).
const maxFailingLines = 100

// failingList chooses the failing flows the summary lists (see
// maxFailingLines) and counts the others.
type failingList struct {
	listed int
	// verdicts holds the failing verdicts with a listed flow; more counts
	// the flows not listed, by verdict (nil until there is one).
	verdicts map[classify.Verdict]bool
	more     map[classify.Verdict]int
}

// take reports whether r is a failing flow the summary lists, and counts
// it when it is one that is not.
func (l *failingList) take(r *classify.FlowResult) bool {
	if !l.lists(r.Verdict) {
		l.count(r.Verdict)
		return false
	}
	if l.verdicts == nil {
		l.verdicts = map[classify.Verdict]bool{}
	}
	l.listed++
	l.verdicts[r.Verdict] = true
	return true
}

// lists reports whether the summary would list the next flow of verdict
// v: a failing flow among the first ones, or the first of its verdict.
func (l *failingList) lists(v classify.Verdict) bool {
	return v.Failing() && (l.listed < maxFailingLines || !l.verdicts[v])
}

// count counts a flow of verdict v that is not listed (none when v is
// not failing).
func (l *failingList) count(v classify.Verdict) {
	if !v.Failing() {
		return
	}
	if l.more == nil {
		l.more = map[classify.Verdict]int{}
	}
	l.more[v]++
}

// appendMore writes the line that counts the failing flows not listed.
func (l *failingList) appendMore(bw *bufio.Writer) {
	n := 0
	for _, c := range l.more {
		n += c
	}
	if n > 0 {
		fmt.Fprintf(bw, "  ... and %d more failing flows, not listed: %s (--json has every flow)\n", n, verdictCounts(l.more))
	}
}

// SummaryStream writes the same summary as Summary for an analysis that
// hands its flows over one by one and keeps none
// (classify.Options.Bounded): the failing flows' lines wait in a spool
// (memory, then an unlinked temporary file) until the counts above them
// are known. They appear in the order the flows were handed over.
type SummaryStream struct {
	spooled
	failing failingList
}

// NewSummaryStream returns a SummaryStream writing to w.
func NewSummaryStream(w io.Writer) *SummaryStream {
	s := &SummaryStream{}
	s.init(w)
	return s
}

// Flow spools the line of a failing flow. It keeps nothing of r
// (classify.Options.ReuseResults).
func (s *SummaryStream) Flow(r *classify.FlowResult) {
	if s.failing.take(r) {
		failingLine(s.bw, r)
	}
}

// WantHeld is for classify.Options.WantHeld: it reports whether Flow
// would list a held flow of verdict v, and counts the flow as Flow would
// when it would not (the analysis then skips it).
func (s *SummaryStream) WantHeld(v classify.Verdict) bool {
	if s.failing.lists(v) {
		return true
	}
	s.failing.count(v)
	return false
}

// Close writes the summary of a with the spooled lines.
func (s *SummaryStream) Close(a *classify.Analysis, recs ...*classify.Reconciliation) error {
	bw := bufio.NewWriter(s.w)
	summaryHead(bw, a)
	if s.failing.listed > 0 {
		fmt.Fprintf(bw, "\nfailing flows:\n")
		if err := bw.Flush(); err != nil {
			return fmt.Errorf("write output: %w", err)
		}
		if err := s.drain(); err != nil {
			return fmt.Errorf("write output: %w", err)
		}
		s.failing.appendMore(bw)
	}
	return summaryTail(bw, a, recs)
}

func failingLine(bw *bufio.Writer, r *classify.FlowResult) {
	fmt.Fprintf(bw, "  %s > %s  %s: %s [packets %d-%d]\n", r.Client, r.Server, r.Verdict, r.Explanation, r.FirstPacket, r.LastPacket)
	if r.Reset != nil && r.Reset.InjectedSuspect != nil {
		fmt.Fprintf(bw, "      injected RST suspect (packet %d): %s\n", r.Reset.InjectedSuspect.Packet, strings.Join(r.Reset.InjectedSuspect.Evidence, "; "))
	}
}

// summaryHead writes the summary's title, notes and counts by verdict.
func summaryHead(bw *bufio.Writer, a *classify.Analysis) {
	ci := a.Capture
	span := ""
	if !ci.First.IsZero() {
		span = fmt.Sprintf(", %.3f s", ci.Last.Sub(ci.First).Seconds())
	}
	names := make([]string, 0, len(ci.Inputs))
	for _, in := range ci.Inputs {
		names = append(names, in.Name)
	}
	nflows, _ := a.Counts()
	fmt.Fprintf(bw, "\n== tcpwhy summary: %d flows in %s (%d packets, %d TCP%s)\n", nflows, strings.Join(names, ", "), ci.Packets, ci.TCP, span)
	if ci.BadChecksums > 0 {
		fmt.Fprintf(bw, "note: %d TCP segments carry a wrong checksum (checksum offload on the capturing host, or veth); they were analysed anyway\n", ci.BadChecksums)
	}
	if ci.Fragments > 0 {
		fmt.Fprintf(bw, "note: %d IP fragments were counted and skipped\n", ci.Fragments)
	}
	if a.Evicted > 0 {
		fmt.Fprintf(bw, "note: the flow table was full: %d flows were decided early (raise --max-flows)\n", a.Evicted)
	}
	if a.UntrackedHostSides > 0 {
		fmt.Fprintf(bw, "note: the host view tracks at most 262144 addresses; %d flow sides from further addresses were left out of it\n", a.UntrackedHostSides)
	}
	if a.ListenersLeftOut > 0 {
		fmt.Fprintf(bw, "note: %s\n", listenersLeftOutNote(a))
	}
	if a.Unexamined > 0 {
		fmt.Fprintf(bw, "note: the listener diagnosis examined the first notable flows and only counted %d more\n", a.Unexamined)
	}
	fmt.Fprintf(bw, "\nflows by verdict:\n")
	for _, v := range classify.Verdicts {
		if n := a.Verdicts[v]; n > 0 {
			fmt.Fprintf(bw, "  %-17s %d\n", v, n)
		}
	}
}

// summaryTail writes the listener diagnoses, the host counters, the
// reconciliations and the errors, and flushes bw.
func summaryTail(bw *bufio.Writer, a *classify.Analysis, recs []*classify.Reconciliation) error {
	if listed, rest := diagnosedListeners(a); len(listed) > 0 {
		fmt.Fprintf(bw, "\nlisteners:\n")
		checks := checkSet{}
		for _, l := range listed {
			fmt.Fprintf(bw, "  %s: %d connections (%s)\n", l.Server, l.Connections, verdictCounts(l.Verdicts))
			for _, d := range l.Diagnosis {
				fmt.Fprintf(bw, "    %s: %s\n", d.Kind, d.Explanation)
				if d.Kind == "overflow" && l.AcceptQueueEstimate != nil {
					fmt.Fprintf(bw, "      accept queue estimate: %d connections (min(backlog, somaxconn)+1)\n", *l.AcceptQueueEstimate)
				}
				fresh, ref := checks.take(d)
				for _, c := range fresh {
					fmt.Fprintf(bw, "      check: %s\n", c)
				}
				if ref != "" {
					fmt.Fprintf(bw, "      check: %s\n", ref)
				}
			}
		}
		if len(rest) > 0 {
			fmt.Fprintf(bw, "  ... and %d more listeners with a diagnosis, not listed (--json has every listener): %s\n",
				len(rest), diagnosisCounts(rest))
		}
	}
	if hosts := hostsWithCounters(a); len(hosts) > 0 {
		fmt.Fprintf(bw, "\npredicted nstat deltas per host (confirm with nstat -az on the host):\n")
		listed, rest := busiestHosts(hosts)
		for _, h := range listed {
			fmt.Fprintf(bw, "  %s\n", h.IP)
			counterLines(bw, h.Counters)
		}
		if len(rest) > 0 {
			sum := classify.Counters{}
			for _, h := range rest {
				for name, n := range h.Counters {
					sum[name] += n
				}
			}
			fmt.Fprintf(bw, "  ... and %d more hosts, not listed (--json has every host); together:\n", len(rest))
			counterLines(bw, sum)
		}
	}
	for _, rec := range recs {
		if rec != nil {
			reconciliationText(bw, rec)
		}
	}
	for _, e := range errorList(a.Err) {
		fmt.Fprintf(bw, "\nerror: %s\n", e)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// maxHostLines is how many hosts the summary's, the Markdown and the HTML
// reports' counter deltas list: the ones with the largest deltas. A SYN
// flood from spoofed addresses makes a host of each (up to the host
// view's bound); the summary sums the others on one entry, the reports
// count them.
const maxHostLines = 50

// maxListenerLines bounds the listeners the summary and the Markdown and
// HTML reports describe; the rest are counted by diagnosis.
const maxListenerLines = 50

// hostsWithCounters returns the hosts with predicted counter deltas, in
// their order.
func hostsWithCounters(a *classify.Analysis) []*classify.Host {
	var hosts []*classify.Host
	for _, h := range a.Hosts {
		if len(h.Counters) > 0 {
			hosts = append(hosts, h)
		}
	}
	return hosts
}

// busiestListeners splits listeners, diagnosed or not, into the
// maxListenerLines with the most failing connections (the first on a
// tie), in their order, and the others (the HTML report, which also
// shows the healthy listeners of a small capture).
func busiestListeners(ls []*classify.Listener) (listed, rest []*classify.Listener) {
	return busiest(ls, maxListenerLines, failingConnections)
}

// failingConnections counts a listener's connections with a failing
// verdict.
func failingConnections(l *classify.Listener) int64 {
	var n int64
	for v, c := range l.Verdicts {
		if v.Failing() {
			n += int64(c)
		}
	}
	return n
}

// restDiagnoses describes the diagnoses of listeners left out of a
// report: "22 syn-drops, 24 reject-or-no-listener", or "none has a
// diagnosis".
func restDiagnoses(ls []*classify.Listener) string {
	if s := diagnosisCounts(ls); s != "" {
		return s
	}
	return "none has a diagnosis"
}

// diagnosedListeners splits the listeners with a diagnosis into the
// maxListenerLines with the most failing connections (in their order)
// and the others.
func diagnosedListeners(a *classify.Analysis) (listed, rest []*classify.Listener) {
	var diag []*classify.Listener
	for _, l := range a.Listeners {
		if len(l.Diagnosis) > 0 {
			diag = append(diag, l)
		}
	}
	return busiest(diag, maxListenerLines, failingConnections)
}

// diagnosisCounts counts listeners by diagnosis, in order of first
// appearance: "22 syn-drops, 24 reject-or-no-listener".
func diagnosisCounts(ls []*classify.Listener) string {
	kinds := map[string]int{}
	var order []string
	for _, l := range ls {
		for _, d := range l.Diagnosis {
			if kinds[d.Kind] == 0 {
				order = append(order, d.Kind)
			}
			kinds[d.Kind]++
		}
	}
	parts := make([]string, len(order))
	for i, k := range order {
		parts[i] = fmt.Sprintf("%d %s", kinds[k], k)
	}
	return strings.Join(parts, ", ")
}

// checkSet remembers the checks written, so that each is written once.
type checkSet map[string]bool

// take returns d's checks not written yet, and when some were, a line
// that refers to them ("as for syn-drops above").
func (s checkSet) take(d classify.Diagnosis) (fresh []string, ref string) {
	seen := 0
	for _, c := range d.Checks {
		if s[c] {
			seen++
			continue
		}
		s[c] = true
		fresh = append(fresh, c)
	}
	switch {
	case seen > 0 && len(fresh) == 0:
		ref = "as for " + d.Kind + " above"
	case seen > 0:
		ref = "and as for " + d.Kind + " above"
	}
	return fresh, ref
}

// busiestHosts splits hosts into the maxHostLines with the largest sum
// of absolute counter deltas (the first on a tie), in their order, and
// the others, in their order.
func busiestHosts(hosts []*classify.Host) (listed, rest []*classify.Host) {
	return busiest(hosts, maxHostLines, func(h *classify.Host) int64 {
		var t int64
		for _, n := range h.Counters {
			t += int64(max(n, -n))
		}
		return t
	})
}

// busiest splits items into the n of largest weight (the first on a
// tie), in their order, and the others, in their order.
func busiest[T any](items []T, n int, weight func(T) int64) (listed, rest []T) {
	if len(items) <= n {
		return items, nil
	}
	order := make([]int, len(items))
	weights := make([]int64, len(items))
	for i, it := range items {
		order[i], weights[i] = i, weight(it)
	}
	slices.SortStableFunc(order, func(i, j int) int { return cmp.Compare(weights[j], weights[i]) })
	keep := make([]bool, len(items))
	for _, i := range order[:n] {
		keep[i] = true
	}
	for i, it := range items {
		if keep[i] {
			listed = append(listed, it)
		} else {
			rest = append(rest, it)
		}
	}
	return listed, rest
}

// counterLines writes a host's counter deltas, one per line.
func counterLines(bw *bufio.Writer, c classify.Counters) {
	for _, name := range counterNames(c) {
		fmt.Fprintf(bw, "    %-26s %+6d  (netstat -s: %s)\n", name, c[name], classify.NetstatPhrase(name))
	}
}

// counterNames lists a counter map's names in print order.
func counterNames(c classify.Counters) []string {
	var out []string
	seen := map[string]bool{}
	for _, n := range classify.CounterOrder {
		if c[n] != 0 {
			out = append(out, n)
			seen[n] = true
		}
	}
	var rest []string
	for n := range c {
		if !seen[n] && c[n] != 0 {
			rest = append(rest, n)
		}
	}
	slices.Sort(rest)
	return append(out, rest...)
}

func verdictCounts(m map[classify.Verdict]int) string {
	var parts []string
	for _, v := range classify.Verdicts {
		if m[v] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", m[v], v))
		}
	}
	return strings.Join(parts, ", ")
}

// reconciliationText writes one reconciliation, grouped by status.
func reconciliationText(bw *bufio.Writer, rec *classify.Reconciliation) {
	hosts := make([]string, len(rec.Hosts))
	for i, h := range rec.Hosts {
		hosts[i] = h.String()
	}
	how := "one output, taken as the change over the capture; nstat -az and netstat -s print totals since boot, so give --nstat twice, before and after, for the change"
	if rec.Mode == "snapshots" {
		how = "the last output minus the first"
	}
	guessed := ""
	if rec.HostGuessed {
		guessed = "; host guessed from the counters, choose it with --nstat-host"
	}
	fmt.Fprintf(bw, "\ncounters reconciled for %s (%s: %s%s):\n", strings.Join(hosts, ", "), strings.Join(rec.Sources, ", "), how, guessed)
	groups := []struct{ status, title string }{
		{classify.Explained, "explained by the capture"},
		{classify.PartlyExplained, "partly explained"},
		{classify.NotInCapture, "moved in the counters but not in the capture"},
		{classify.NotInCounters, "moved in the capture but not in the counters"},
		{classify.OverPredicted, "moved less than the capture shows"},
	}
	for _, g := range groups {
		first := true
		for _, c := range rec.Counters {
			if c.Status != g.status {
				continue
			}
			if first {
				fmt.Fprintf(bw, "  %s:\n", g.title)
				first = false
			}
			fmt.Fprintf(bw, "    %-26s counters %+7d  capture %+7d  (netstat -s: %s)\n", c.Name, c.Observed, c.Predicted, c.Netstat)
			if c.Status != classify.Explained {
				fmt.Fprintf(bw, "      %s\n", c.Explanation)
			}
		}
	}
	if len(rec.Counters) == 0 {
		fmt.Fprintf(bw, "  no connection counter moved, and the capture predicts none\n")
	}
	if rec.Ignored > 0 {
		fmt.Fprintf(bw, "  (%d other counters are not about connections and were not compared)\n", rec.Ignored)
	}
}

// listenersLeftOutNote says which server ip:ports the listener view left
// out (classify.Analysis.ListenersLeftOut).
func listenersLeftOutNote(a *classify.Analysis) string {
	return fmt.Sprintf("the listener view left out %d server ip:ports that saw at most %d connections each, none examined by the diagnosis (a port scan, or a gateway's one-off connections); they had %d flows, counted in the verdict totals",
		a.ListenersLeftOut, a.ListenersLeftOutMost, a.ListenerFlowsLeftOut)
}

// sentence turns a note of the text summary into a sentence of the
// reports: a capital first letter and a full stop.
func sentence(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:] + "."
}

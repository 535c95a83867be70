package classify

import (
	"cmp"
	"errors"
	"io"
	"net/netip"
	"runtime"
	"slices"
	"time"

	"github.com/tcpwhy/tcpwhy/capture"
	"github.com/tcpwhy/tcpwhy/flows"
)

// Options tune an analysis.
type Options struct {
	// Count stops after this many packets (0: all), like `tcpdump -c`. A
	// capture.Limited source counts them itself, exactly; with another
	// source the count is checked between segments, which packets that
	// are not TCP can take past it.
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
	// Bounded hands each flow to OnFlow once its verdict is final and
	// keeps none of them (Analysis.Flows stays empty), so that memory
	// tracks the flows open at once, not all flows: most flows are handed
	// over as they are decided, in that order; syn-timeout flows, which
	// the listener diagnosis may turn into overflow, are handed over at
	// the end. Listeners, Hosts and Verdicts are built as usual, from
	// compact summaries of the flows.
	Bounded bool
	// ReuseResults says that OnFlow keeps nothing of the FlowResult it is
	// given (nor the maps and the Evidence and Annotations it points to)
	// once it returns, but copies (its other slices and pointers are each
	// flow's own): with Bounded,
	// the analysis then reuses that memory for the next flow instead of
	// allocating a FlowResult per flow (about half of what an analysis
	// allocates, and so of the garbage collector's work).
	ReuseResults bool
	// NoAnnotations leaves every FlowResult's Annotations empty: for
	// outputs that print no packets (the JSON records, the summary, Zeek's
	// rows), which never read them. Their text costs about a microsecond
	// for each failing flow.
	NoAnnotations bool
	// WantHeld, when set with Bounded, is called for each syn-timeout
	// flow held to the end, before it is read back, with its final
	// verdict: syn-timeout, or overflow when the listener diagnosis
	// reclassified it. A flow it reports false for is neither read back
	// nor handed to OnFlow (the caller counts it then): the summary lists
	// a hundred failing flows and counts the rest, and a SYN flood holds
	// millions.
	WantHeld func(Verdict) bool
	// OnTick, when set, is called when a live source reports that time
	// passed without a packet (capture.ErrTick), after the flows idle by
	// then were decided.
	OnTick func(now time.Time)
	// IdleHandshake, IdleEstablished and IdleClosed are how long a flow
	// may stay silent in each state before it is decided (0: the flow
	// table's defaults of 3 minutes, 2 hours and 5 s). A live capture
	// shortens IdleClosed so that closed flows are reported soon.
	IdleHandshake, IdleEstablished, IdleClosed time.Duration
	// OnSegment, when set, is called for every segment after the flow
	// table has seen it, in packet order (the text renderer uses it to
	// print packets).
	OnSegment func(seg *capture.Segment, u flows.Update)
	// OnSeq, when set, runs Wireshark's per-segment analysis in the flow
	// table and receives its result for every segment it labels
	// (retransmission, duplicate ACK, ...), in packet order, with the
	// segment's packet number. It runs in the flow table's goroutine,
	// not OnFlow's. The annotated text's first pass keeps the labels for
	// its second pass, which needs no flow table then.
	OnSeq func(packet int64, r flows.SeqResult)
	// SegmentsOnly hands every segment to OnSegment and does nothing
	// else: no flow table (u is the zero Update) and no classification;
	// the Analysis has the capture's counts and errors only (the second
	// pass of the annotated text, whose verdicts and sequence labels the
	// first pass found). With a second core, reading and decoding run in
	// a goroutine of their own.
	SegmentsOnly bool
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
	// FlowCount counts the flows analysed and Failing those with a
	// failing verdict (also when the flows were not kept).
	FlowCount, Failing int
	// Unexamined counts the flows the listener diagnosis counted but did
	// not examine one by one, because it kept the most it may.
	Unexamined int
	// UntrackedHostSides counts the flow sides (client or server) whose
	// IP address the host view did not track because it already tracked
	// the most it may (a SYN flood from millions of spoofed addresses).
	UntrackedHostSides int
	// ListenersLeftOut counts the server ip:ports left out of Listeners,
	// and ListenerFlowsLeftOut their connections: past 16,384 listeners
	// whose flows no diagnosis examined, the view drops the oldest of
	// those with the fewest connections (a port scan's probes, a
	// gateway's one-off connections), at most ListenersLeftOutMost
	// connections each (2, doubled whenever none had so few).
	ListenersLeftOut, ListenerFlowsLeftOut, ListenersLeftOutMost int

	agg  *aggregate
	held heldFlows
	// spare is the FlowResult reused for every flow (Options.ReuseResults).
	spare *FlowResult
	// flowsInUse is the flow table's InUse at the end: 0 unless a
	// decided flow was never released (TestParallelEqualsSerial).
	flowsInUse int
}

// Analyze reads every segment of src, tracks the flows and classifies
// them. A broken input is reported in Analysis.Err; everything read
// before it is analysed.
func Analyze(src capture.Source, opts Options) *Analysis {
	a := &Analysis{Verdicts: map[Verdict]int{}}
	if opts.SegmentsOnly {
		opts.Bounded = false
	}
	if !opts.Stream && !opts.SegmentsOnly {
		a.agg = newAggregate()
	}
	var pending []*flows.Flow
	// handOver classifies the flows decided (see below). A segment, a
	// sweep or Flush that decides many flows at once hands them over
	// maxPending at a time, so that compacted flows made whole to be
	// decided do not pile up (a SYN flood's at the end of a capture).
	var handOver func(final bool)
	const maxPending = 256
	table := flows.NewTable(flows.Config{MaxFlows: opts.MaxFlows, IdleHandshake: opts.IdleHandshake,
		IdleEstablished: opts.IdleEstablished, IdleClosed: opts.IdleClosed, NoSeqAnalysis: opts.OnSegment == nil && opts.OnSeq == nil,
		OnDone: func(f *flows.Flow) {
			pending = append(pending, f)
			if len(pending) >= maxPending {
				handOver(false)
			}
		}})
	var seg capture.Segment
	var last time.Time
	var err error
	// The count is the source's to keep when it can (exact, and no
	// per-packet call of Info); otherwise it is checked between segments.
	count := opts.Count
	if l, ok := src.(capture.Limited); ok && count > 0 {
		l.LimitPackets(count)
		count = 0
	}
	// Reading and decoding run in a goroutine of their own when there is
	// a second core and the source is not live (ticks); the segments'
	// bytes are copied only for OnSegment (printing).
	// On one core, a capture file whose packets are not printed is read
	// in batches in this goroutine (inline), so that the table can ask
	// for the flows of the segments ahead (see below).
	var pf *prefetcher
	inline := false
	_, live := src.(capture.Live)
	if !live && !opts.Stream && opts.OnTick == nil {
		switch {
		case runtime.GOMAXPROCS(0) > 1:
			pf = newPrefetcher(src, count, opts.OnSegment != nil)
		case opts.OnSegment == nil && batchOneCore:
			pf, inline = newBatchReader(src, count), true
		}
	}
	onSegment := opts.OnSegment
	// handOver classifies the flows the table decided. With the reading
	// goroutine, classification (and OnFlow: rendering) runs in a third
	// goroutine, in decision order, so that two cores share three stages.
	handOver = func(bool) {
		a.take(pending, last, opts)
		pending = release(table, pending)
	}
	var classified chan struct{}
	if pf != nil && !inline {
		type decided struct {
			f   *flows.Flow
			end time.Time
		}
		const handBatch = 64
		var work []decided
		ch := make(chan []decided, 16)
		classified = make(chan struct{})
		// Classified flows come back to be released by the table (in
		// its goroutine), every one of them: the table's flows are
		// outside the heap, and one never released would keep its
		// memory. The table takes back all that came back before each
		// batch it sends, so at most the batches in ch, the one being
		// classified and the one being sent are on their way back:
		// recycle has room for them all, and a send on it never waits
		// for long.
		recycle := make(chan []decided, 2*cap(ch))
		go func() {
			for batch := range ch {
				for i, d := range batch {
					if i+warmDecidedAhead < len(batch) {
						batch[i+warmDecidedAhead].f.Warm()
					}
					a.takeOne(d.f, d.end, opts)
				}
				recycle <- batch
			}
			close(classified)
		}()
		handOver = func(final bool) {
			for more := true; more; {
				select {
				case done := <-recycle:
					for _, d := range done {
						table.Release(d.f)
					}
					if cap(work) == 0 {
						work = done[:0]
					}
				default:
					more = false
				}
			}
			for _, f := range pending {
				if cap(work) == 0 {
					work = make([]decided, 0, handBatch)
				}
				work = append(work, decided{f, last})
			}
			pending = pending[:0]
			if len(work) >= handBatch || final {
				ch <- work
				work = nil
			}
			if final {
				close(ch)
				<-classified
				for len(recycle) > 0 {
					for _, d := range <-recycle {
						table.Release(d.f)
					}
				}
			}
		}
	}
	for {
		sp := &seg
		if pf != nil {
			if sp, err = pf.next(); err != nil {
				if err == errCountReached {
					err = nil
				}
				break
			}
			// With many flows tracked, the hash table and the flows are
			// not in the cache: ask for the slot of the segment eight
			// ahead and, found from its slot asked for four segments
			// earlier, the flow of the segment four ahead.
			if !opts.SegmentsOnly && table.Warming() {
				if s := pf.ahead(warmSlotAhead); s != nil {
					table.WarmSlot(s)
				}
				if s := pf.ahead(warmFlowAhead); s != nil {
					table.WarmFlow(s)
				}
			}
		} else {
			if count > 0 && src.Info().Packets >= count {
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
					handOver(false)
				}
				if opts.OnTick != nil {
					opts.OnTick(seg.Time)
				}
				continue
			}
		}
		if sp.Time.After(last) {
			last = sp.Time
		}
		var u flows.Update
		if !opts.SegmentsOnly {
			u = table.Add(sp)
			if opts.OnSeq != nil && u.Seq.Labels != 0 {
				opts.OnSeq(sp.Packet, u.Seq)
			}
		}
		if onSegment != nil {
			onSegment(sp, u)
		}
		if len(pending) > 0 {
			handOver(false)
		}
	}
	if err != nil && !errors.Is(err, io.EOF) {
		a.Err = err
	}
	table.Flush()
	handOver(true)
	a.flowsInUse = table.InUse()
	a.Capture = src.Info()
	if e := src.Err(); e != nil {
		a.Err = errors.Join(a.Err, e)
	}
	a.Evicted = table.Evicted
	a.PeakFlows = table.Peak
	a.StrayICMP = table.StrayICMP
	if !opts.Stream && !opts.SegmentsOnly {
		a.finish()
	}
	if opts.Bounded {
		var spare *FlowResult
		if opts.ReuseResults {
			// OnFlow keeps nothing of r (see Options.ReuseResults).
			spare = new(FlowResult)
		}
		var want func(id int64) bool
		if opts.WantHeld != nil {
			want = func(id int64) bool {
				if a.agg.reclassified[id] {
					return opts.WantHeld(Overflow)
				}
				return opts.WantHeld(SynTimeout)
			}
		}
		err := a.held.each(spare, want, func(r *FlowResult) {
			if a.agg.reclassified[r.ID] {
				reclassifyOverflow(r)
			}
			if opts.OnFlow != nil {
				opts.OnFlow(r)
			}
		})
		if err != nil {
			a.Err = errors.Join(a.Err, err)
		}
	}
	a.agg = nil
	return a
}

// warmDecidedAhead is how many decided flows ahead of the one it
// classifies the analysis asks for a flow's cache lines (flows.Flow.Warm):
// on big.pcap, one core, --json, 2.50-2.61 s against 2.56-2.73 s without
// (five interleaved pairs, each faster).
const warmDecidedAhead = 2

// newReusedResult returns a FlowResult to classify every flow into
// (Options.ReuseResults), which keeps one string of each Zeek history.
func newReusedResult() *FlowResult { return &FlowResult{histories: map[string]string{}} }

// take classifies decided flows (none with SegmentsOnly), asking for each
// flow's memory a little ahead.
func (a *Analysis) take(fs []*flows.Flow, end time.Time, opts Options) {
	for i, f := range fs {
		if i+warmDecidedAhead < len(fs) {
			fs[i+warmDecidedAhead].Warm()
		}
		a.takeOne(f, end, opts)
	}
}

// takeOne classifies one decided flow, adds it to the listener and host
// views and keeps it, holds it back or hands it to OnFlow.
func (a *Analysis) takeOne(f *flows.Flow, end time.Time, opts Options) {
	if opts.SegmentsOnly {
		return
	}
	reuse := opts.Bounded && opts.ReuseResults
	var r *FlowResult
	if reuse {
		// Neither the aggregate nor the held flows keep r: both code
		// what they need of it.
		r = a.spare
		if r == nil {
			r = newReusedResult()
			a.spare = r
		}
	} else {
		r = new(FlowResult)
	}
	r.noAnnotations = opts.NoAnnotations
	classifyInto(r, f, end)
	if a.agg != nil {
		a.agg.add(r)
	}
	switch {
	case opts.Bounded:
		if r.Verdict == SynTimeout {
			a.held.add(r)
			return
		}
	case !opts.Stream:
		a.Flows = append(a.Flows, r)
	}
	if opts.OnFlow != nil {
		opts.OnFlow(r)
	}
}

// Summarize builds an Analysis from decided flows, as Analyze does at its
// end: the flows ordered by ID, the listener and host views, the counts
// by verdict. The listener diagnosis may reclassify flows (SYNs dropped
// by an overflowing listener become overflow). Capture and the table's
// counts are left for the caller to fill. It is for callers that collect
// the flows themselves (Options.Stream).
func Summarize(rs []*FlowResult) *Analysis {
	a := &Analysis{Flows: rs, agg: newAggregate()}
	for _, r := range rs {
		a.agg.add(r)
	}
	a.finish()
	a.agg = nil
	return a
}

// finish orders the flows, builds the listener and host views and applies
// the listener diagnosis's reclassifications to the flows kept.
func (a *Analysis) finish() {
	slices.SortFunc(a.Flows, func(x, y *FlowResult) int { return cmp.Compare(x.ID, y.ID) })
	var err error
	a.Listeners, a.Hosts, err = a.agg.finish()
	if err != nil {
		a.Err = errors.Join(a.Err, err)
	}
	a.Verdicts = a.agg.verdicts
	a.FlowCount, a.Failing, a.Unexamined = a.agg.flows, a.agg.failing, a.agg.skipped
	a.UntrackedHostSides = a.agg.hosts.untracked
	a.ListenersLeftOut, a.ListenerFlowsLeftOut, a.ListenersLeftOutMost = a.agg.leftOut, a.agg.leftOutFlows, a.agg.leftOutMax
	for _, r := range a.Flows {
		if a.agg.reclassified[r.ID] {
			reclassifyOverflow(r)
		}
	}
}

// Host is one IP address and the counter deltas its nstat should show.
type Host struct {
	// IP is the address.
	IP netip.Addr
	// Counters are the predicted deltas.
	Counters Counters
}

// Counts returns how many flows were analysed and how many of them
// failed: FlowCount and Failing, or for an Analysis put together by hand
// (FlowCount zero), the counts of its Flows.
func (a *Analysis) Counts() (flows, failing int) {
	if a.FlowCount > 0 || len(a.Flows) == 0 {
		return a.FlowCount, a.Failing
	}
	for _, r := range a.Flows {
		if r.Verdict.Failing() {
			failing++
		}
	}
	return len(a.Flows), failing
}

package classify

import (
	"cmp"
	"math"
	"net/netip"
	"slices"
	"time"
)

// The listener and host views are built from what each decided flow
// leaves behind, not from the flows themselves, so that an analysis can
// emit and free every flow as soon as it is decided. A flow leaves:
//   - counts (connections, verdicts, counter deltas, TTL ranges), always;
//   - a flowTimes per answered flow of a listener: the SYN-ACK and
//     accept-queue times the diagnosis compares other flows with, kept
//     as a compact record of about 10 bytes within a fixed in-memory
//     budget, beyond which they go to a temporary file (see times.go);
//   - a brief (a compact copy of the FlowResult, about 170 bytes) only
//     when the flow is notable to a diagnosis: a failing verdict, dropped
//     SYNs, a SYN cookie, a retransmitted SYN-ACK, a slow first response
//     or a reset by the server. Ordinary flows (most of a capture) leave
//     none, and briefs are capped (maxBriefs).
// What stays in memory is thus bounded whatever the number of flows: the
// briefs by maxBriefs, the hosts by maxHosts, the times by timesInMemory
// (plus a partial chunk per listener).

// maxBriefs caps the briefs kept over a whole analysis; beyond it the
// listener diagnosis counts flows but no longer examines them one by one
// (a SYN flood of millions of spoofed addresses must not exhaust memory),
// and the summary says so.
const maxBriefs = 1 << 15

// noTime is the Unix-ns form of the zero time.Time in briefs (no capture
// time is that early: flows clamp times to 1678).
const noTime = math.MinInt64

// unixNs returns t as Unix ns, noTime for the zero time.
func unixNs(t time.Time) int64 {
	if t.IsZero() {
		return noTime
	}
	return t.UnixNano()
}

// nsTime is the inverse of unixNs (times are in UTC, as flows makes them).
func nsTime(ns int64) time.Time {
	if ns == noTime {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

// brief is the part of a FlowResult the listener diagnosis reads, with
// times as Unix ns (noTime: none) and the reset and hints reduced to what
// the diagnoses compare.
type brief struct {
	id          int64
	firstPacket int64
	client      netip.Addr
	verdict     Verdict
	// evidence is the flow's evidence, at most maxEvidence packets, in
	// the aggregate's arena.
	evidence []int64
	// start, end, handshakeDone and firstResponse are the FlowResult's
	// Start, End, HandshakeDone and ServerFirstResponse.
	start, end, handshakeDone, firstResponse int64
	// synAck, synAckPkt, dropped, dropStart, dropEnd and cookie are the
	// hints of the same names (cookie as a set of cookieSigns bits).
	synAck, synAckPkt  int64
	dropStart, dropEnd int64
	dropped            int32
	cookie             uint8
	// rstPkt, rstTime and rstTTL are the server's first RST's number,
	// time and TTL.
	rstPkt, rstTime int64
	rstTTL          uint8
	flags           briefFlags
}

type briefFlags uint8

const (
	// bfSynAckRetrans: the server retransmitted its SYN-ACK.
	bfSynAckRetrans briefFlags = 1 << iota
	// bfReset: the flow has a Reset; bfResetByServer, bfResetActive and
	// bfResetInvalidSYN describe it (By server, Generator "active",
	// Reason "INVALID_SYN").
	bfReset
	bfResetByServer
	bfResetActive
	bfResetInvalidSYN
	// bfRSTIPID: the server's first RST has a non-zero IP ID.
	bfRSTIPID
)

func (b *brief) Start() time.Time               { return nsTime(b.start) }
func (b *brief) End() time.Time                 { return nsTime(b.end) }
func (b *brief) HandshakeDone() time.Time       { return nsTime(b.handshakeDone) }
func (b *brief) ServerFirstResponse() time.Time { return nsTime(b.firstResponse) }
func (b *brief) has(f briefFlags) bool          { return b.flags&f != 0 }

// briefChunk is how many briefs the aggregate allocates at once.
const briefChunk = 256

// evidenceChunk is how many evidence packet numbers the aggregate's
// arena allocates at once.
const evidenceChunk = 4096

// listenerAgg collects what the flows of one server ip:port leave.
type listenerAgg struct {
	l        *Listener
	times    timesList
	briefs   []*brief
	synDrops int
	fullOpts bool
	// overflowed lists the IDs of the syn-timeout flows the diagnosis
	// turned into overflow.
	overflowed []int64
}

// aggregate builds the listener and host views flow by flow.
type aggregate struct {
	listeners map[netip.AddrPort]*listenerAgg
	times     timesStore
	hosts     hostTable
	verdicts  map[Verdict]int
	flows     int
	failing   int
	// briefSlab and evidence hold the briefs and their evidence, filled
	// chunk by chunk (nothing is ever copied to grow them).
	briefSlab []brief
	evidence  []int64
	briefs    int
	// skipped counts the notable flows left without a brief (maxBriefs).
	skipped int
	// reclassified maps the IDs of flows the listener diagnosis turned
	// into overflow (filled by finish).
	reclassified map[int64]bool
}

func newAggregate() *aggregate {
	return &aggregate{listeners: map[netip.AddrPort]*listenerAgg{}, verdicts: map[Verdict]int{}}
}

// notable reports whether some listener diagnosis looks at the flow
// itself, beyond its counts and times.
func notable(r *FlowResult) bool {
	if r.Verdict.Failing() || r.hints.dropped > 0 || len(r.hints.cookie) > 0 || r.SYNACKRetransmits > 0 {
		return true
	}
	if !r.HandshakeDone.IsZero() && !r.ServerFirstResponse.IsZero() && r.ServerFirstResponse.Sub(r.HandshakeDone) >= slowAcceptDelay {
		return true
	}
	return r.Reset != nil && r.Reset.By == SideServer
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// add takes one decided flow.
func (g *aggregate) add(r *FlowResult) {
	g.flows++
	g.verdicts[r.Verdict]++
	if r.Verdict.Failing() {
		g.failing++
	}
	h := &r.hints
	ch := g.hosts.get(r.Client.Addr())
	g.hosts.addCounters(ch, r.ClientCounters)
	ch.addTTL(h.cliTTL[0], h.cliTTL[1], h.cliTTLN)
	sh := g.hosts.get(r.Server.Addr())
	g.hosts.addCounters(sh, r.ServerCounters)
	sh.addTTL(h.srvTTL[0], h.srvTTL[1], h.srvTTLN)
	if r.RolesGuessed && r.Verdict == Midstream {
		return
	}
	la := g.listeners[r.Server]
	if la == nil {
		la = &listenerAgg{l: &Listener{Server: r.Server, Verdicts: map[Verdict]int{}}}
		g.listeners[r.Server] = la
	}
	la.l.Connections++
	la.synDrops += r.SynDropsSeen
	la.fullOpts = la.fullOpts || h.fullOpts
	ft := flowTimes{synAckPkt: h.synAckPkt, handshakeDone: unixNano(r.HandshakeDone), waitEnd: math.MaxInt64,
		overflow: r.Verdict == Overflow}
	if h.synAckPkt != 0 {
		ft.synAck = h.synAck.UnixNano()
	}
	if !r.ServerFirstResponse.IsZero() {
		ft.waitEnd = r.ServerFirstResponse.UnixNano()
	}
	if !r.ClosedAt.IsZero() {
		ft.waitEnd = min(ft.waitEnd, r.ClosedAt.UnixNano())
	}
	if ft.synAckPkt != 0 || ft.handshakeDone != 0 {
		// The diagnosis looks only at answered or completed handshakes.
		la.times.add(&g.times, &ft)
	}
	if !notable(r) {
		la.l.Verdicts[r.Verdict]++
		return
	}
	if g.briefs >= maxBriefs {
		g.skipped++
		la.l.Verdicts[r.Verdict]++
		return
	}
	g.briefs++
	la.briefs = append(la.briefs, g.newBrief(r))
}

// newBrief returns the brief of r, in the aggregate's slab.
func (g *aggregate) newBrief(r *FlowResult) *brief {
	if len(g.briefSlab) == cap(g.briefSlab) {
		g.briefSlab = make([]brief, 0, briefChunk)
	}
	g.briefSlab = g.briefSlab[:len(g.briefSlab)+1]
	b := &g.briefSlab[len(g.briefSlab)-1]
	h := &r.hints
	*b = brief{id: r.ID, firstPacket: r.FirstPacket, client: r.Client.Addr(), verdict: r.Verdict,
		start: unixNs(r.Start), end: unixNs(r.End), handshakeDone: unixNs(r.HandshakeDone),
		firstResponse: unixNs(r.ServerFirstResponse), synAck: unixNs(h.synAck), synAckPkt: h.synAckPkt,
		dropStart: unixNs(h.dropStart), dropEnd: unixNs(h.dropEnd), dropped: int32(h.dropped),
		rstPkt: h.srvRST.Number, rstTime: unixNs(h.srvRST.Time()), rstTTL: h.srvRST.TTL}
	if ev := r.Evidence[:min(len(r.Evidence), maxEvidence)]; len(ev) > 0 {
		if cap(g.evidence)-len(g.evidence) < len(ev) {
			g.evidence = make([]int64, 0, evidenceChunk)
		}
		n := len(g.evidence)
		g.evidence = append(g.evidence, ev...)
		b.evidence = g.evidence[n : n+len(ev) : n+len(ev)]
	}
	for i, s := range cookieSigns {
		if slices.Contains(h.cookie, s) {
			b.cookie |= 1 << i
		}
	}
	if r.SYNACKRetransmits > 0 {
		b.flags |= bfSynAckRetrans
	}
	if rs := r.Reset; rs != nil {
		b.flags |= bfReset
		if rs.By == SideServer {
			b.flags |= bfResetByServer
		}
		if rs.Generator == "active" {
			b.flags |= bfResetActive
		}
		if rs.Reason == "INVALID_SYN" {
			b.flags |= bfResetInvalidSYN
		}
	}
	if h.srvRST.IPID != 0 {
		b.flags |= bfRSTIPID
	}
	return b
}

// finish diagnoses the listeners and returns the listener and host views;
// it fills g.reclassified and moves the reclassified flows' verdict counts.
// The error is one of writing or reading back the temporary file of the
// listener times.
func (g *aggregate) finish() ([]*Listener, []*Host, error) {
	g.reclassified = map[int64]bool{}
	out := make([]*Listener, 0, len(g.listeners))
	var err error
	for _, la := range g.listeners {
		// Diagnoses pick their evidence from the first flows.
		slices.SortFunc(la.briefs, func(x, y *brief) int { return cmp.Compare(x.id, y.id) })
		var ttl *ttlRange
		if h := g.hosts.lookup(la.l.Server.Addr()); h != nil {
			ttl = &ttlRange{min: h.ttlMin, max: h.ttlMax}
			if h.ttlSeen {
				ttl.n = 1
			}
		}
		if e := diagnose(la, &g.times, ttl); e != nil && err == nil {
			err = e
		}
		for _, b := range la.briefs {
			la.l.Verdicts[b.verdict]++
		}
		for _, id := range la.overflowed {
			g.reclassified[id] = true
			g.verdicts[SynTimeout]--
			g.verdicts[Overflow]++
		}
		out = append(out, la.l)
	}
	if e := g.times.close(); e != nil && err == nil {
		err = e
	}
	slices.SortFunc(out, func(x, y *Listener) int { return x.Server.Compare(y.Server) })
	for _, l := range out {
		h := g.hosts.get(l.Server.Addr())
		g.hosts.addCounters(h, Counters{"TcpExtListenOverflows": l.SynDrops, "TcpExtListenDrops": l.SynDrops})
	}
	hs := g.hosts.views()
	for _, v := range Verdicts {
		if _, ok := g.verdicts[v]; !ok {
			g.verdicts[v] = 0
		}
	}
	return out, hs, err
}

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
//   - a flowTimes (40 bytes, no pointers) per flow of a listener: the
//     SYN-ACK and accept-queue times the diagnosis compares other flows
//     with;
//   - a brief (a trimmed copy of the FlowResult) only when the flow is
//     notable to a diagnosis: a failing verdict, dropped SYNs, a SYN
//     cookie, a retransmitted SYN-ACK, a slow first response or a reset
//     by the server. Ordinary flows (most of a capture) leave none.

// maxBriefs caps the briefs (about 0.5 KiB each) kept over a whole
// analysis; beyond it the listener diagnosis counts flows but no longer
// examines them one by one (a SYN flood of millions of spoofed addresses
// must not exhaust memory), and the summary says so.
const maxBriefs = 1 << 15

// flowTimes is what the diagnosis needs of every flow of a listener.
type flowTimes struct {
	// synAck and synAckPkt are the first SYN-ACK's time (Unix ns) and
	// packet number (0: none).
	synAck, synAckPkt int64
	// handshakeDone is when the client completed the handshake (Unix ns,
	// 0: never); waitEnd is the earliest of the server's first response
	// and the close (math.MaxInt64: neither).
	handshakeDone, waitEnd int64
	// overflow is set when the flow's verdict is overflow.
	overflow bool
}

// timesChunk is how many flowTimes a timesList allocates at once.
const timesChunk = 1024

// timesList holds flowTimes in fixed chunks: growing it never copies nor
// leaves a doubled array behind.
type timesList struct{ chunks [][]flowTimes }

func (l *timesList) add(t flowTimes) {
	n := len(l.chunks)
	if n == 0 || len(l.chunks[n-1]) == timesChunk {
		// A listener's first chunk starts small: most listeners of a
		// capture see few flows.
		size := timesChunk
		if n == 0 {
			size = 16
		}
		l.chunks = append(l.chunks, make([]flowTimes, 0, size))
		n++
	}
	c := &l.chunks[n-1]
	if len(*c) == cap(*c) {
		// Only the first chunk grows (16 -> timesChunk).
		*c = append(make([]flowTimes, 0, min(2*cap(*c), timesChunk)), *c...)
	}
	*c = append(*c, t)
}

// each calls fn for every flowTimes in the order they were added.
func (l *timesList) each(fn func(t *flowTimes)) {
	for _, c := range l.chunks {
		for i := range c {
			fn(&c[i])
		}
	}
}

// brief is the part of a FlowResult the listener diagnosis reads.
type brief struct {
	ID                                int64
	Client, Server                    netip.AddrPort
	Verdict                           Verdict
	SYNRetransmits, SYNACKRetransmits int
	Start, End                        time.Time
	HandshakeDone                     time.Time
	ServerFirstResponse, ClosedAt     time.Time
	FirstPacket                       int64
	Evidence                          []int64
	Reset                             *Reset
	hints                             flowHints
}

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
	// hosts holds, per IP address, its counter deltas (nil until one is
	// non-zero: most hosts of a large capture have none) and the TTL
	// range of its packets.
	hosts    map[netip.Addr]*hostAgg
	verdicts map[Verdict]int
	flows    int
	failing  int
	briefs   int
	// skipped counts the notable flows left without a brief (maxBriefs).
	skipped int
	// untrackedHosts counts the flow sides (client or server) whose
	// address was beyond maxHosts; spare takes their counts.
	untrackedHosts int
	spare          hostAgg
	// reclassified maps the IDs of flows the listener diagnosis turned
	// into overflow (filled by finish).
	reclassified map[int64]bool
}

func newAggregate() *aggregate {
	return &aggregate{listeners: map[netip.AddrPort]*listenerAgg{}, hosts: map[netip.Addr]*hostAgg{},
		verdicts: map[Verdict]int{}}
}

// hostAgg is what the flows leave of one IP address: its counter deltas
// as a short list (a host of a large capture has a few, often none; a
// map each would cost hundreds of bytes per spoofed address of a SYN
// flood) and the TTL range of its packets.
type hostAgg struct {
	counters []hostCounter
	ttl      ttlRange
}

type hostCounter struct {
	name string
	n    int
}

func (h *hostAgg) add(c Counters) {
	for k, v := range c {
		if v == 0 {
			continue
		}
		i := 0
		for i < len(h.counters) && h.counters[i].name != k {
			i++
		}
		if i == len(h.counters) {
			h.counters = append(h.counters, hostCounter{name: k})
		}
		h.counters[i].n += v
	}
}

// counterMap returns the deltas as Counters (without the zero ones).
func (h *hostAgg) counterMap() Counters {
	c := make(Counters, len(h.counters))
	for _, e := range h.counters {
		c.Add(e.name, e.n)
	}
	return c
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// maxHosts caps the IP addresses the host view tracks (about 100 bytes
// each): a SYN flood from millions of spoofed addresses must not exhaust
// memory. Addresses first seen beyond it are counted, not tracked.
const maxHosts = 1 << 18

func (g *aggregate) host(ip netip.Addr) *hostAgg {
	h := g.hosts[ip]
	if h == nil {
		if len(g.hosts) >= maxHosts {
			g.untrackedHosts++
			g.spare = hostAgg{}
			return &g.spare
		}
		h = &hostAgg{}
		g.hosts[ip] = h
	}
	return h
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

// add takes one decided flow.
func (g *aggregate) add(r *FlowResult) {
	g.flows++
	g.verdicts[r.Verdict]++
	if r.Verdict.Failing() {
		g.failing++
	}
	ch, sh := g.host(r.Client.Addr()), g.host(r.Server.Addr())
	ch.add(r.ClientCounters)
	sh.add(r.ServerCounters)
	h := &r.hints
	sh.ttl.add(h.srvTTL[0], h.srvTTL[1], h.srvTTLN)
	ch.ttl.add(h.cliTTL[0], h.cliTTL[1], h.cliTTLN)
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
		la.times.add(ft)
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
	b := &brief{ID: r.ID, Client: r.Client, Server: r.Server, Verdict: r.Verdict, SYNRetransmits: r.SYNRetransmits,
		SYNACKRetransmits: r.SYNACKRetransmits, Start: r.Start, End: r.End, HandshakeDone: r.HandshakeDone,
		ServerFirstResponse: r.ServerFirstResponse, ClosedAt: r.ClosedAt, FirstPacket: r.FirstPacket,
		Evidence: r.Evidence, hints: r.hints}
	if len(b.Evidence) > maxEvidence {
		b.Evidence = b.Evidence[:maxEvidence:maxEvidence]
	}
	if r.Reset != nil {
		rs := *r.Reset
		rs.InjectedSuspect = nil
		b.Reset = &rs
	}
	la.briefs = append(la.briefs, b)
}

// finish diagnoses the listeners and returns the listener and host views;
// it fills g.reclassified and moves the reclassified flows' verdict counts.
func (g *aggregate) finish() ([]*Listener, []*Host) {
	g.reclassified = map[int64]bool{}
	out := make([]*Listener, 0, len(g.listeners))
	for _, la := range g.listeners {
		// Diagnoses pick their evidence from the first flows.
		slices.SortFunc(la.briefs, func(x, y *brief) int { return cmp.Compare(x.ID, y.ID) })
		var ttl *ttlRange
		if h := g.hosts[la.l.Server.Addr()]; h != nil {
			ttl = &h.ttl
		}
		diagnose(la, ttl)
		for _, b := range la.briefs {
			la.l.Verdicts[b.Verdict]++
		}
		for _, id := range la.overflowed {
			g.reclassified[id] = true
			g.verdicts[SynTimeout]--
			g.verdicts[Overflow]++
		}
		out = append(out, la.l)
	}
	slices.SortFunc(out, func(x, y *Listener) int { return x.Server.Compare(y.Server) })
	for _, l := range out {
		g.host(l.Server.Addr()).add(Counters{"TcpExtListenOverflows": l.SynDrops, "TcpExtListenDrops": l.SynDrops})
	}
	hs := make([]*Host, 0, len(g.hosts))
	for ip, h := range g.hosts {
		hs = append(hs, &Host{IP: ip, Counters: h.counterMap()})
	}
	slices.SortFunc(hs, func(x, y *Host) int { return x.IP.Compare(y.IP) })
	for _, v := range Verdicts {
		if _, ok := g.verdicts[v]; !ok {
			g.verdicts[v] = 0
		}
	}
	return out, hs
}

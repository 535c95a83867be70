package classify

import (
	"cmp"
	"math"
	"net/netip"
	"slices"
	"time"

	"github.com/tcpwhy/tcpwhy/internal/fifo"
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

// maxListeners is how many listeners without a brief (none of their flows
// examined by a diagnosis) the view tracks; past it, it leaves out those
// with the fewest connections, oldest first. A port scan probes hundreds
// of thousands of ip:ports, and a gateway's capture may reach as many
// servers a few times each (a 500,000-probe scan peaked at 456 MiB with
// each ip:port a listener of about 560 bytes), while a service with a
// problem to diagnose has briefs (at most maxBriefs in all) or many
// connections.
const maxListeners = 1 << 14

// leaveOutConnections is the most connections a listener may have had
// and still be left out (see leavable), at first: it doubles each time no
// listener qualifies (see leaveOut).
const leaveOutConnections = 2

// listenerAgg collects what the flows of one server ip:port leave.
type listenerAgg struct {
	l *Listener
	// seq orders the listeners by their first flow.
	seq   int
	times timesList
	// enc holds the briefs of the listener's notable flows, encoded;
	// finish decodes them into briefs for the diagnosis.
	enc      briefList
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
	briefs    int
	// skipped counts the notable flows left without a brief (maxBriefs).
	skipped int
	// reclassified maps the IDs of flows the listener diagnosis turned
	// into overflow (filled by finish).
	reclassified map[int64]bool
	// queue lists the listeners in the order they were first seen: the
	// ones leaveOut considers.
	queue fifo.Queue[netip.AddrPort]
	// leftOut counts the listeners left out (maxListeners) and
	// leftOutFlows their connections; leftOutMax is the most connections
	// one of them may have had (leaveOutConnections, doubled while no
	// listener qualified). seq counts the listeners seen, examined those
	// with a brief (never left out).
	leftOut, leftOutFlows, leftOutMax, seq, examined int
	// leftOutSinceRequeue is set once a listener was left out since the
	// queue was last filled again.
	leftOutSinceRequeue bool
}

func newAggregate() *aggregate {
	return &aggregate{listeners: map[netip.AddrPort]*listenerAgg{}, verdicts: map[Verdict]int{}, leftOutMax: leaveOutConnections}
}

// hostViewsAhead says whether finish may build the host views while it
// diagnoses the listeners; tests turn it off to compare with building
// them after.
var hostViewsAhead = true

// hostsKnown reports whether every listener's server has a record in the
// host table, so that the host views can be taken before the listeners'
// drop counters are known (see finish).
func (g *aggregate) hostsKnown() bool {
	for _, la := range g.listeners {
		if g.hosts.lookup(la.l.Server.Addr()) == nil {
			return false
		}
	}
	return true
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
		var spare *listenerAgg
		if len(g.listeners)-g.examined >= maxListeners {
			spare = g.leaveOut()
		}
		la = g.newListener(r.Server, spare)
		g.listeners[r.Server] = la
		g.queue.Push(r.Server)
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
	if la.enc.n == 0 {
		g.examined++
	}
	b := briefOf(r)
	la.enc.add(&b)
}

// leavable reports whether the listener can be left out of the view: at
// most `most` connections, none examined (no briefs). All it holds is
// counts and its SYN-ACK times, which the diagnoses read only for flows
// they examine.
func (la *listenerAgg) leavable(most int) bool {
	return la.l.Connections <= most && la.enc.n == 0
}

// leaveOut takes the oldest leavable listener out of the view, counting
// it in leftOut, and returns it for reuse (nil when none is leavable). The
// listeners it passes over are considered again only when none is left
// to consider: then every listener not examined is queued again, oldest
// first, and, if none was left out since it was last, the most
// connections a listener may have doubles.
func (g *aggregate) leaveOut() *listenerAgg {
	for {
		k, ok := g.queue.Pop()
		if !ok {
			if !g.requeue() {
				return nil
			}
			continue
		}
		if la := g.listeners[k]; la != nil && la.leavable(g.leftOutMax) {
			delete(g.listeners, k)
			g.leftOut++
			g.leftOutFlows += la.l.Connections
			g.leftOutSinceRequeue = true
			return la
		}
	}
}

// requeue queues every listener no diagnosis examines, oldest first, and
// doubles leftOutMax unless a listener was left out since the last time;
// it reports false when there is none.
func (g *aggregate) requeue() bool {
	var las []*listenerAgg
	for _, la := range g.listeners {
		if la.enc.n == 0 {
			las = append(las, la)
		}
	}
	if len(las) == 0 {
		return false
	}
	slices.SortFunc(las, func(x, y *listenerAgg) int { return cmp.Compare(x.seq, y.seq) })
	for _, la := range las {
		g.queue.Push(la.l.Server)
	}
	if !g.leftOutSinceRequeue {
		g.leftOutMax *= 2
	}
	g.leftOutSinceRequeue = false
	return true
}

// newListener returns the aggregate of a listener first seen: spare, a
// listener left out, emptied (a scan replaces one with the next at each
// probe: reused, they cost no allocation), or a new one.
func (g *aggregate) newListener(s netip.AddrPort, spare *listenerAgg) *listenerAgg {
	g.seq++
	if spare == nil {
		return &listenerAgg{l: &Listener{Server: s, Verdicts: map[Verdict]int{}}, seq: g.seq}
	}
	// The current chunk of times stays (and stays counted in the
	// store's budget); full chunks in memory are let go.
	for _, c := range spare.times.full {
		g.times.mem -= cap(c.b)
	}
	l, verdicts, cur := spare.l, spare.l.Verdicts, spare.times.cur[:0]
	clear(verdicts)
	*l = Listener{Server: s, Verdicts: verdicts}
	*spare = listenerAgg{l: l, seq: g.seq, times: timesList{cur: cur}}
	return spare
}

// finish diagnoses the listeners and returns the listener and host views;
// it fills g.reclassified and moves the reclassified flows' verdict counts.
// The error is one of writing or reading back the temporary file of the
// listener times, or of decoding the briefs.
func (g *aggregate) finish() ([]*Listener, []*Host, error) {
	g.reclassified = map[int64]bool{}
	// The host views (a Counters map for each of tens of thousands of
	// hosts) depend on the diagnoses only through the listeners' drop
	// counters, added to their servers' views after: they are built in a
	// goroutine, on the second core, while this one diagnoses the
	// listeners; both only read the host table. On big.pcap (65,000
	// hosts), --json on two cores, finish took 38-54 ms instead of 54-74
	// (eight runs each, order rotated), after the last packet, where the
	// other core has nothing else to do. When a listener's server has no
	// record (the table was full), get must make one or count it
	// untracked first: the views are then built after the diagnoses.
	var views chan []*Host
	if hostViewsAhead && g.hostsKnown() {
		views = make(chan []*Host, 1)
		go func() { views <- g.hosts.views() }()
	}
	g.queue = fifo.Queue[netip.AddrPort]{}
	out := make([]*Listener, 0, len(g.listeners))
	var err error
	for _, la := range g.listeners {
		briefs, e := la.enc.decode()
		if e != nil && err == nil {
			err = e
		}
		la.enc = briefList{}
		la.briefs = briefs
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
		la.briefs = nil
		out = append(out, la.l)
	}
	if e := g.times.close(); e != nil && err == nil {
		err = e
	}
	slices.SortFunc(out, func(x, y *Listener) int { return x.Server.Compare(y.Server) })
	var hs []*Host
	if views != nil {
		hs = <-views
		for _, l := range out {
			if l.SynDrops == 0 {
				continue
			}
			ip := l.Server.Addr()
			if i, ok := slices.BinarySearchFunc(hs, ip, func(h *Host, ip netip.Addr) int { return h.IP.Compare(ip) }); ok {
				hs[i].Counters.Add("TcpExtListenOverflows", l.SynDrops)
				hs[i].Counters.Add("TcpExtListenDrops", l.SynDrops)
			}
		}
	} else {
		for _, l := range out {
			h := g.hosts.get(l.Server.Addr())
			g.hosts.addCounters(h, Counters{"TcpExtListenOverflows": l.SynDrops, "TcpExtListenDrops": l.SynDrops})
		}
		hs = g.hosts.views()
	}
	for _, v := range Verdicts {
		if _, ok := g.verdicts[v]; !ok {
			g.verdicts[v] = 0
		}
	}
	return out, hs, err
}

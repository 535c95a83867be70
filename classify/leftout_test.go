package classify

import (
	"net/netip"
	"testing"
)

// TestListenersLeftOut feeds the listener view a port scan's probes and a
// gateway's one-off connections (one connection to each of many
// ip:ports), then servers with three connections each, between real
// services. The view keeps every listener its diagnosis examines and at
// most maxListeners others: first it leaves out those with at most two
// connections, oldest first; once none is left, those with at most four.
// Every connection is counted either in a listener or as left out.
func TestListenersLeftOut(t *testing.T) {
	g := newAggregate()
	id := int64(0)
	add := func(server netip.AddrPort, v Verdict) {
		id++
		r := &FlowResult{ID: id, Client: netip.MustParseAddrPort("10.0.0.1:40000"), Server: server, Verdict: v}
		if v == SynTimeout {
			r.SynDropsSeen = 1 // a filtered port's SYN, as classify counts it
		}
		g.add(r)
	}
	server := func(wave, i int) netip.AddrPort {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(wave), byte(i >> 8), byte(i)}), uint16(1+i>>16))
	}
	web := netip.MustParseAddrPort("10.9.9.9:80")
	down := netip.MustParseAddrPort("10.9.9.8:443")
	for range 3 {
		add(web, GracefulClose)
	}
	const downConns = 5
	for range downConns {
		add(down, NoListener) // a service that is down: refused again and again
	}
	// Closed ports (RST), filtered ones (no answer), unreachable ones, and
	// a gateway's one-off connections to many servers: the first
	// maxBriefs-downConns failing ones get briefs.
	probes := maxBriefs + 2*maxListeners
	verdicts := []Verdict{NoListener, SynTimeout, Unreachable, GracefulClose}
	for i := range probes {
		add(server(1, i), verdicts[i%4])
	}
	examined := maxBriefs - downConns + 1 // the probes with a brief, and down
	check := func(phase string, wantLeftOut, wantMax int, kept, gone []netip.AddrPort) {
		t.Helper()
		if len(g.listeners) != examined+maxListeners {
			t.Errorf("%s: %d listeners, want %d", phase, len(g.listeners), examined+maxListeners)
		}
		if g.leftOut != wantLeftOut || g.leftOutMax != wantMax {
			t.Errorf("%s: left out %d listeners of at most %d connections, want %d of at most %d",
				phase, g.leftOut, g.leftOutMax, wantLeftOut, wantMax)
		}
		conns := 0
		for _, la := range g.listeners {
			conns += la.l.Connections
			if la.enc.n > 0 {
				continue // its briefs' verdicts are counted at the end
			}
			// A listener reusing one left out starts from nothing.
			n := 0
			for _, c := range la.l.Verdicts {
				n += c
			}
			if n != la.l.Connections {
				t.Errorf("%s: %s has %d connections, %d counted by verdict", phase, la.l.Server, la.l.Connections, n)
			}
		}
		if conns+g.leftOutFlows != int(id) {
			t.Errorf("%s: %d connections in listeners and %d left out, want %d in all", phase, conns, g.leftOutFlows, id)
		}
		for _, s := range kept {
			if g.listeners[s] == nil {
				t.Errorf("%s: %s was left out", phase, s)
			}
		}
		for _, s := range gone {
			if g.listeners[s] != nil {
				t.Errorf("%s: %s was kept", phase, s)
			}
		}
	}
	// The unexamined: web and the probes without a brief, all but
	// maxListeners of them left out, the one-offs first.
	unexamined := 1 + probes - (maxBriefs - downConns)
	check("probes", unexamined-maxListeners, leaveOutConnections,
		[]netip.AddrPort{web, down, server(1, 0), server(1, probes-1)}, []netip.AddrPort{server(1, probes-maxListeners-1)})

	// Servers with three connections each: the one-offs go, then, none
	// left, those with up to four connections, oldest first: web too.
	wave := 2 * maxListeners
	for i := range wave {
		for range 3 {
			add(server(2, i), GracefulClose)
		}
	}
	check("three each", unexamined+wave-maxListeners, 2*leaveOutConnections,
		[]netip.AddrPort{down, server(1, 0), server(2, wave-1)}, []netip.AddrPort{web, server(2, 0), server(1, probes-1)})
	if n := g.verdicts[GracefulClose]; n != 3+probes/4+3*wave {
		t.Errorf("graceful-close counted %d times, want %d", n, 3+probes/4+3*wave)
	}
}

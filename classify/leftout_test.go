package classify

import (
	"net/netip"
	"testing"
)

// TestListenersLeftOut feeds the listener view a port scan's probes and
// a gateway's one-off connections (one connection to each of many
// ip:ports) between real services: the view keeps the services and the
// probes its diagnosis examines, leaves the other one-off ip:ports out,
// and every connection is counted either in a listener or as left out.
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
	web := netip.MustParseAddrPort("10.9.9.9:80")
	down := netip.MustParseAddrPort("10.9.9.8:443")
	late := netip.MustParseAddrPort("10.9.9.7:22")
	for range 3 {
		add(web, GracefulClose)
	}
	const downConns = 5
	for range downConns {
		add(down, NoListener) // a service that is down: refused again and again
	}
	probes := maxBriefs + 2*maxListeners
	// Closed ports (RST), filtered ones (no answer), unreachable ones, and
	// a gateway's one-off connections to many servers.
	verdicts := []Verdict{NoListener, SynTimeout, Unreachable, GracefulClose}
	for i := range probes {
		add(netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), uint16(1+i>>16)), verdicts[i%4])
	}
	add(late, GracefulClose)

	ls, _, err := g.finish()
	if err != nil {
		t.Fatal(err)
	}
	conns := 0
	byServer := map[netip.AddrPort]*Listener{}
	for _, l := range ls {
		conns += l.Connections
		byServer[l.Server] = l
		// A listener reusing one left out starts from nothing.
		n := 0
		for _, c := range l.Verdicts {
			n += c
		}
		if n != l.Connections {
			t.Errorf("%s: %d connections, %d counted by verdict", l.Server, l.Connections, n)
		}
	}
	for _, s := range []netip.AddrPort{web, down, late} {
		if byServer[s] == nil {
			t.Errorf("%s was left out", s)
		}
	}
	if l := byServer[down]; l != nil && l.Connections != downConns {
		t.Errorf("%s: %d connections, want %d", down, l.Connections, downConns)
	}
	// The probes with a brief stay (the diagnosis examines them), and
	// the services (the late one makes room by leaving out the newest
	// probe); the other probes are left out.
	if want := probes - (maxBriefs - downConns); g.leftOut != want || g.leftOutFlows != want {
		t.Errorf("left out %d listeners with %d flows, want %d", g.leftOut, g.leftOutFlows, want)
	}
	if len(ls) != maxBriefs-downConns+3 {
		t.Errorf("%d listeners, want %d", len(ls), maxBriefs-downConns+3)
	}
	if total := 3 + downConns + probes + 1; conns+g.leftOutFlows != total {
		t.Errorf("%d connections in listeners and %d left out, want %d in all", conns, g.leftOutFlows, total)
	}
	for _, v := range verdicts {
		want := probes / 4
		switch v {
		case NoListener:
			want += downConns
		case GracefulClose:
			want += 4
		}
		if g.verdicts[v] != want {
			t.Errorf("%s counted %d times, want %d", v, g.verdicts[v], want)
		}
	}
}

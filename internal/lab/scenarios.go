//go:build linux

package lab

import (
	"fmt"
	"time"
)

// Server addresses and client address helpers.
const (
	srv4 = "10.77.0.2:8080"
	srv6 = "[fd77::2]:8080"
)

func cl4(port int) string { return fmt.Sprintf("%s:%d", ClientV4, port) }
func cl6(port int) string { return fmt.Sprintf("[%s]:%d", ClientV6, port) }
func sv4(port int) string { return fmt.Sprintf("%s:%d", ServerV4, port) }
func sv6(port int) string { return fmt.Sprintf("[%s]:%d", ServerV6, port) }

// Flow scripts, shared by the single scenarios and the mixed one.

// request/response exchange, then the client closes first.
func gracefulClientFirst(e *Env, l *Listener, f *FlowRun) {
	if f.Connect().Result != "ok" || !f.Accept(l) {
		return
	}
	f.C(Send(100))
	f.S(Recv(100))
	f.S(Send(1000))
	f.C(Recv(1000))
	f.C(Close())
	f.S(RecvEOF())
	f.S(Close())
}

// request/response exchange, the server closes after its response.
func gracefulServerFirst(e *Env, l *Listener, f *FlowRun) {
	if f.Connect().Result != "ok" || !f.Accept(l) {
		return
	}
	f.C(Send(100))
	f.S(Recv(100))
	f.S(Send(1000))
	f.S(Close())
	f.C(RecvEOF())
	f.C(Close())
}

// server speaks first (a banner), so the client sends nothing before the
// handshake completed on the server.
func serverSpeaksFirst(e *Env, l *Listener, f *FlowRun) {
	if f.Connect().Result != "ok" || !f.Accept(l) {
		return
	}
	f.S(Send(50))
	f.C(Recv(50))
	f.C(Send(100))
	f.S(Recv(100))
	f.S(Send(1000))
	f.C(Recv(1000))
	f.C(Close())
	f.S(RecvEOF())
	f.S(Close())
}

// both sides close at the same moment; over a delayed link the FINs cross.
func simultaneousClose(e *Env, l *Listener, f *FlowRun) {
	if f.Connect().Result != "ok" || !f.Accept(l) {
		return
	}
	f.C(Send(100))
	f.S(Recv(100))
	f.S(Send(1000))
	f.C(Recv(1000))
	e.Sleep(100 * time.Millisecond)
	e.Par(func() { f.C(Close()) }, func() { f.S(Close()) })
}

// the client sends its request and shuts down its sending side; the server
// keeps sending and never closes while the capture runs.
func halfClose(e *Env, l *Listener, f *FlowRun) {
	if f.Connect().Result != "ok" || !f.Accept(l) {
		return
	}
	f.C(Send(100))
	f.C(ShutWR())
	f.S(RecvEOF())
	for range 3 {
		f.S(Send(1000))
		e.Sleep(50 * time.Millisecond)
	}
	f.C(Recv(3000))
}

// connect only (refused, unreachable, filtered).
func connectOnly(e *Env, l *Listener, f *FlowRun) { f.Connect() }

func exchange(f *FlowRun) {
	f.C(Send(100))
	f.S(Recv(100))
	f.S(Send(1000))
	f.C(Recv(1000))
}

// SO_LINGER{1,0} close by the client after a complete exchange.
func lingerAbortClient(e *Env, l *Listener, f *FlowRun) {
	if f.Connect().Result != "ok" || !f.Accept(l) {
		return
	}
	exchange(f)
	f.C(Linger0())
	f.C(Close())
	f.S(RecvT(0, 3000))
}

// SO_LINGER{1,0} close by the server after a complete exchange.
func lingerAbortServer(e *Env, l *Listener, f *FlowRun) {
	if f.Connect().Result != "ok" || !f.Accept(l) {
		return
	}
	exchange(f)
	f.S(Linger0())
	f.S(Close())
	f.C(RecvT(0, 3000))
}

// the client pipelines a second request the server never reads; the server
// closes with it unread.
func earlyCloseServer(e *Env, l *Listener, f *FlowRun) {
	if f.Connect().Result != "ok" || !f.Accept(l) {
		return
	}
	exchange(f)
	f.C(Send(200))
	e.Sleep(100 * time.Millisecond)
	f.S(Close())
	f.C(RecvT(0, 3000))
}

// the server speaks first (a banner); the client closes without reading
// it. A client that sent a request first and then reset would look on the
// wire exactly like a zero-linger abort after reading its response, so
// the scenario keeps the two apart by what the wire can show: here the
// client never answered what it was sent.
func earlyCloseClient(e *Env, l *Listener, f *FlowRun) {
	if f.Connect().Result != "ok" || !f.Accept(l) {
		return
	}
	f.S(Send(5000))
	e.Sleep(100 * time.Millisecond)
	f.C(Close())
	f.S(RecvT(0, 3000))
}

// the server closes an idle connection after its FIN was ACKed (it is a
// FIN_WAIT2 timewait mini-socket by then); the client sends another request.
func dataAfterCloseFinWait2(e *Env, l *Listener, f *FlowRun) {
	if f.Connect().Result != "ok" || !f.Accept(l) {
		return
	}
	exchange(f)
	f.S(Close())
	e.Sleep(100 * time.Millisecond)
	f.C(Send(100))
	e.Sleep(100 * time.Millisecond)
	f.C(Send(100))
}

// the server closes while the client's next request is in flight (needs
// the delayed link): the data reaches a FIN_WAIT1 socket whose FIN is not
// yet ACKed.
func dataAfterCloseFinWait1(e *Env, l *Listener, f *FlowRun) {
	if f.Connect().Result != "ok" || !f.Accept(l) {
		return
	}
	exchange(f)
	e.Sleep(50 * time.Millisecond)
	e.Par(func() { f.S(Close()) }, func() { f.C(Send(100)) })
	e.Sleep(200 * time.Millisecond)
	f.C(Send(100))
}

// TCP_LINGER2 = -1: the client half-closes, reads the response, and its
// close() in FIN_WAIT2 aborts with a RST instead of lingering.
func linger2Abort(e *Env, l *Listener, f *FlowRun) {
	if f.Connect().Result != "ok" || !f.Accept(l) {
		return
	}
	f.C(Send(100))
	f.C(ShutWR())
	f.S(RecvEOF())
	f.S(Send(1000))
	f.C(Recv(1000))
	e.Sleep(50 * time.Millisecond)
	f.C(Linger2(-1))
	f.C(Close())
	e.Sleep(100 * time.Millisecond)
	f.S(Send(100))
}

// after an exchange the server's firewall drops everything from the client;
// the client's data is retransmitted until tcp_retries2 gives up.
func rtoTimeout(e *Env, l *Listener, f *FlowRun, port int) {
	if f.Connect().Result != "ok" || !f.Accept(l) {
		return
	}
	exchange(f)
	e.Sleep(200 * time.Millisecond) // let the client's ACK of the response arrive first
	e.ServerNft(nftRulesetNamed("blackhole", nil, fmt.Sprintf("tcp sport %d drop", port)))
	f.C(Send(1000))
	f.C(RecvT(0, 20000))
}

// nftRulesetNamed is nftRuleset with another table name, so it can be
// added next to the scenario's own table.
func nftRulesetNamed(table string, sets []string, rules ...string) string {
	s := nftRuleset(sets, rules...)
	return "table inet " + table + s[len("table inet lab"):]
}

// one builds a single-flow scenario around a listener on srv.
func one(name, desc, client, server string, listen bool, x Expect,
	script func(*Env, *Listener, *FlowRun)) *Scenario {
	return &Scenario{Name: name, Description: desc, Run: func(e *Env) {
		var l *Listener
		if listen {
			l = e.Listen(server, 128)
		}
		script(e, l, e.Flow(client, server, x))
	}}
}

// Scenarios returns every lab scenario, in a stable order.
func Scenarios() []*Scenario {
	var s []*Scenario
	add := func(sc *Scenario) *Scenario { s = append(s, sc); return sc }

	gcf := add(&Scenario{Name: "graceful-client-first",
		Description: "client sends a request, server answers, client closes first, server closes (IPv4, then IPv6)",
		Run: func(e *Env) {
			l4, l6 := e.Listen(srv4, 128), e.Listen(srv6, 128)
			gracefulClientFirst(e, l4, e.Flow(cl4(40001), srv4, Expect{Verdict: "graceful-close", FirstFin: "client"}))
			gracefulClientFirst(e, l6, e.Flow(cl6(40002), srv6, Expect{Verdict: "graceful-close", FirstFin: "client"}))
		}})
	gcf.Checks = []Check{Eq("client", "TcpOutRsts", 0), Eq("server", "TcpOutRsts", 0)}

	gsf := add(one("graceful-server-first", "client sends a request, server answers and closes first, client closes",
		cl4(40001), srv4, true, Expect{Verdict: "graceful-close", FirstFin: "server"}, gracefulServerFirst))
	gsf.Captures = []CaptureSpec{{File: "server-any.pcap", Point: "server", Any: true}, {File: "client-nano.pcap", Point: "client", Nano: true}}
	gsf.Checks = []Check{Eq("client", "TcpOutRsts", 0), Eq("server", "TcpOutRsts", 0)}

	sim := add(one("simultaneous-close", "both sides close at the same moment over a link with 20 ms one-way delay, so the FINs cross (both go FIN_WAIT1 -> CLOSING -> TIME_WAIT)",
		cl4(40001), srv4, true, Expect{Verdict: "graceful-close", FirstFin: "both"}, simultaneousClose))
	sim.Link, sim.Delay = LinkDelay, 20*time.Millisecond
	sim.Captures = []CaptureSpec{{File: "server.pcapng", Point: "server", PcapNG: true}, {File: "client.pcap", Point: "client"}}
	sim.Notes = []string{"first_fin_by is \"both\": the FINs crossed on the 20 ms link, each capture point sees its own side's FIN first and neither FIN acknowledges the other."}
	sim.Checks = []Check{Eq("client", "TcpOutRsts", 0), Eq("server", "TcpOutRsts", 0)}

	hc := add(one("half-close", "client sends its request and shuts down writing (FIN); server reads to EOF and keeps sending; nobody closes before the capture ends",
		cl4(40001), srv4, true, Expect{Verdict: "half-close", FirstFin: "client"}, halfClose))
	hc.Captures = []CaptureSpec{{File: "server-sll.pcap", Point: "server", Any: true, SLL1: true}, {File: "client.pcap", Point: "client"}}

	nl4 := add(one("no-listener-v4", "client connects to a port nothing listens on (IPv4): the server kernel answers the SYN with RST",
		cl4(40001), sv4(8081), false, Expect{Verdict: "no-listener", ResetBy: "server", Client: "ECONNREFUSED", Server: "none"}, connectOnly))
	nl4.Checks = []Check{Eq("client", "TcpAttemptFails", 1), Eq("server", "TcpOutRsts", 1)}
	nl6 := add(one("no-listener-v6", "client connects to a port nothing listens on (IPv6): the server kernel answers the SYN with RST",
		cl6(40001), sv6(8081), false, Expect{Verdict: "no-listener", ResetBy: "server", Client: "ECONNREFUSED", Server: "none"}, connectOnly))
	nl6.Checks = []Check{Eq("client", "TcpAttemptFails", 1), Eq("server", "TcpOutRsts", 1)}

	unRules := nftRuleset(nil,
		"meta nfproto ipv4 tcp dport 8082 reject with icmp type port-unreachable",
		"meta nfproto ipv6 tcp dport 8082 reject with icmpv6 type port-unreachable",
		"meta nfproto ipv4 tcp dport 8083 reject with icmp type admin-prohibited")
	unFlows := func(syn int) func(e *Env) {
		return func(e *Env) {
			connectOnly(e, nil, e.Flow(cl4(40001), sv4(8082), Expect{Verdict: "unreachable", Syn: syn, Client: "ECONNREFUSED", Server: "none", Note: "ICMP port unreachable"}))
			connectOnly(e, nil, e.Flow(cl6(40002), sv6(8082), Expect{Verdict: "unreachable", Syn: syn, Client: "ECONNREFUSED", Server: "none", Note: "ICMPv6 port unreachable"}))
			connectOnly(e, nil, e.Flow(cl4(40003), sv4(8083), Expect{Verdict: "unreachable", Syn: syn, Client: "EHOSTUNREACH", Server: "none", Note: "ICMP communication administratively prohibited"}))
		}
	}
	un := add(&Scenario{Name: "icmp-unreachable", Link: LinkDelay, Delay: 5 * time.Millisecond,
		Description: "the server's firewall rejects SYNs with ICMP errors: port-unreachable (IPv4 and ICMPv6) and admin-prohibited (IPv4); 5 ms one-way delay",
		ServerNft:   unRules, Run: unFlows(0)})
	un.Checks = []Check{Eq("client", "TcpAttemptFails", 3), Eq("client", "TcpExtTCPSynRetrans", 0), Eq("server", "TcpOutRsts", 0),
		Eq("server", "IcmpOutDestUnreachs", 2), Eq("server", "Icmp6OutDestUnreachs", 1)}
	un0 := add(&Scenario{Name: "icmp-unreachable-zero-rtt",
		Description: "as icmp-unreachable, on a veth pair with no delay: the ICMP error arrives while connect() still holds the socket lock",
		ServerNft:   unRules, Run: unFlows(-1)})
	un0.Checks = []Check{Eq("client", "TcpAttemptFails", 3), Eq("server", "TcpOutRsts", 0)}
	un0.Notes = []string{"with zero RTT the ICMP error reaches the client while connect() still owns the socket, so tcp_v4_err/tcp_v6_err only record a soft error; the SYN is retransmitted (1 s later) and the ICMP error to the retransmission ends the connect. With any real RTT (scenario icmp-unreachable) the first ICMP error ends it at once. SYN retransmit counts were counted on the wire."}

	ft := add(one("filtered-port", "the server's firewall drops every SYN to the port; the client's connect() times out",
		cl4(40001), sv4(8084), false, Expect{Verdict: "syn-timeout", Syn: 2, Client: "ETIMEDOUT", Server: "none"}, connectOnly))
	ft.ServerNft = nftRuleset(nil, "tcp dport 8084 drop")
	ft.ClientSysctls = map[string]string{"net.ipv4.tcp_syn_retries": "1", "net.ipv4.tcp_syn_linear_timeouts": "2"}
	ft.Checks = []Check{Eq("client", "TcpAttemptFails", 1), Eq("client", "TcpExtTCPSynRetrans", 2), Eq("client", "TcpExtTCPAbortOnTimeout", 1), Eq("server", "TcpOutRsts", 0)}
	ft.Notes = []string{"tcp_syn_retries=1 with tcp_syn_linear_timeouts=2 gave 2 SYN retransmissions 1 s apart (linear backoff), then connect() failed with ETIMEDOUT",
		"a connect() that times out in SYN_SENT also counts as TcpExtTCPAbortOnTimeout (tcp_write_err), besides TcpAttemptFails"}

	sr := add(one("syn-retransmit", "the server's firewall drops the client's first SYN; the retransmitted SYN (1 s later) succeeds and the connection closes gracefully",
		cl4(40001), srv4, true, Expect{Verdict: "graceful-close", Syn: 1, FirstFin: "client"}, gracefulClientFirst))
	sr.ServerNft = nftRuleset([]string{"synseen"}, dropFirst("synseen", "tcp dport 8080 "+matchSYN, "tcp sport")...)
	sr.Checks = []Check{Eq("client", "TcpExtTCPSynRetrans", 1), Eq("server", "TcpExtTCPSynRetrans", 0)}

	sar := add(one("synack-retransmit", "the server's firewall drops the client's handshake ACK; the server retransmits its SYN-ACK after 1 s, the client ACKs again and the (server-speaks-first) exchange completes",
		cl4(40001), srv4, true, Expect{Verdict: "graceful-close", SynAck: 1, FirstFin: "client"}, serverSpeaksFirst))
	sar.ServerNft = nftRuleset([]string{"ackseen"}, dropFirst("ackseen", "tcp dport 8080 "+matchBareAC, "tcp sport")...)
	sar.Checks = []Check{Eq("server", "TcpExtTCPSynRetrans", 1), Eq("client", "TcpExtTCPSynRetrans", 0)}

	sal := add(one("synack-lost", "the client's firewall drops the server's first SYN-ACK; the client retransmits its SYN and/or the server its SYN-ACK (both timers are 1 s, so which fires first varies)",
		cl4(40001), srv4, true, Expect{Verdict: "graceful-close", Syn: -1, SynAck: -1, FirstFin: "client"}, gracefulClientFirst))
	sal.ClientNft = nftRuleset([]string{"saseen"}, dropFirst("saseen", "tcp sport 8080 "+matchSYNACK, "tcp dport")...)
	sal.Notes = []string{"retransmit counts were counted on the wire: the client's SYN timer and the server's SYN-ACK timer both fire after about 1 s, so the counts vary between runs"}

	lac := add(one("linger-abort-client", "after a complete exchange the client closes with SO_LINGER {1, 0}: an active RST instead of a FIN",
		cl4(40001), srv4, true, Expect{Verdict: "abort", ResetBy: "client", Server: "ECONNRESET"}, lingerAbortClient))
	lac.Checks = []Check{Eq("client", "TcpOutRsts", 1), Eq("client", "TcpExtTCPAbortOnData", 1), Eq("client", "TcpExtTCPAbortOnLinger", 0), Eq("server", "TcpOutRsts", 0)}
	lac.Notes = []string{"a zero-linger close counts as TCPAbortOnData (not TCPAbortOnLinger), RST reason TCP_STATE"}
	las := add(one("linger-abort-server", "after a complete exchange the server closes with SO_LINGER {1, 0}: an active RST instead of a FIN",
		cl4(40001), srv4, true, Expect{Verdict: "abort", ResetBy: "server", Client: "ECONNRESET"}, lingerAbortServer))
	las.Checks = []Check{Eq("server", "TcpOutRsts", 1), Eq("server", "TcpExtTCPAbortOnData", 1), Eq("server", "TcpExtTCPAbortOnLinger", 0), Eq("client", "TcpOutRsts", 0)}
	las.Notes = lac.Notes

	ecs := add(one("early-close-server", "the client pipelines a second request; the server closes without reading it: RST instead of FIN (TCP_ABORT_ON_CLOSE)",
		cl4(40001), srv4, true, Expect{Verdict: "early-close", ResetBy: "server", Client: "ECONNRESET"}, earlyCloseServer))
	ecs.Checks = []Check{Eq("server", "TcpExtTCPAbortOnClose", 1), Eq("server", "TcpOutRsts", 1), Eq("client", "TcpOutRsts", 0)}
	ecc := add(one("early-close-client", "the server speaks first (5000-byte banner); the client closes without reading it: RST instead of FIN (TCP_ABORT_ON_CLOSE)",
		cl4(40001), srv4, true, Expect{Verdict: "early-close", ResetBy: "client", Server: "ECONNRESET"}, earlyCloseClient))
	ecc.Checks = []Check{Eq("client", "TcpExtTCPAbortOnClose", 1), Eq("client", "TcpOutRsts", 1), Eq("server", "TcpOutRsts", 0)}

	dw1 := add(one("data-after-close-fin-wait1", "the server closes while the client's next request is in flight on a 20 ms link: the data reaches the server in FIN_WAIT1 (its FIN not yet ACKed) and is answered with RST (TCP_ABORT_ON_DATA)",
		cl4(40001), srv4, true, Expect{Verdict: "data-after-close", FirstFin: "server", ResetBy: "server", Client: "EPIPE"}, dataAfterCloseFinWait1))
	dw1.Link, dw1.Delay = LinkDelay, 20*time.Millisecond
	dw1.Checks = []Check{Eq("server", "TcpExtTCPAbortOnData", 1), Eq("server", "TcpOutRsts", 1)}
	dw2 := add(one("data-after-close-fin-wait2", "the server closes, the client ACKs the FIN, then sends another request: the server's FIN_WAIT2 timewait mini-socket answers with RST (TCP_TIMEWAIT_SOCKET)",
		cl4(40001), srv4, true, Expect{Verdict: "data-after-close", FirstFin: "server", ResetBy: "server", Client: "EPIPE"}, dataAfterCloseFinWait2))
	dw2.Checks = []Check{Eq("server", "TcpExtTCPAbortOnData", 0), Eq("server", "TcpOutRsts", 1)}
	dw2.Notes = []string{"the RST comes from the timewait mini-socket, so TCPAbortOnData does not move"}

	l2 := add(one("linger2-abort", "the client sets TCP_LINGER2 = -1, half-closes, reads the response and closes in FIN_WAIT2: RST instead of lingering (TCP_ABORT_ON_LINGER)",
		cl4(40001), srv4, true, Expect{Verdict: "abort", FirstFin: "client", ResetBy: "client", Server: "EPIPE"}, linger2Abort))
	l2.Checks = []Check{Eq("client", "TcpExtTCPAbortOnLinger", 1), Eq("client", "TcpOutRsts", 1)}

	rto := add(&Scenario{Name: "rto-timeout",
		Description:   "after an exchange the server's firewall drops everything from the client; the client retransmits its data until tcp_retries2=3 gives up (ETIMEDOUT, no RST)",
		ClientSysctls: map[string]string{"net.ipv4.tcp_retries2": "3"},
		Run: func(e *Env) {
			l := e.Listen(srv4, 128)
			rtoTimeout(e, l, e.Flow(cl4(40001), srv4, Expect{Verdict: "timeout", Client: "ETIMEDOUT"}), 40001)
		}})
	rto.Checks = []Check{Eq("client", "TcpExtTCPAbortOnTimeout", 1), Eq("client", "TcpOutRsts", 0), Eq("server", "TcpOutRsts", 0)}

	add(overflowScenario("overflow-abort0", 0))
	add(overflowScenario("overflow-abort1", 1))
	add(syncookieOverflow())
	add(mixedScenario())
	return s
}

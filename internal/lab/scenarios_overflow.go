//go:build linux

package lab

import (
	"fmt"
	"time"
)

// flowByClient finds a flow of a truth by its client address.
func flowByClient(t *Truth, client string) *FlowTruth {
	for i := range t.Flows {
		if t.Flows[i].Client == client {
			return &t.Flows[i]
		}
	}
	return nil
}

// fill connects and sends a request the server never answers (it never
// accepts): the connection sits in the accept queue.
func fill(e *Env, f *FlowRun) {
	if f.Connect().Result == "ok" {
		f.C(Send(100))
	}
}

// overflowScenario builds the accept-queue overflow scenarios with
// tcp_abort_on_overflow = abort. Backlog 2 (the queue holds 3): c1 and c2
// connect one after the other, then c3 and c4 send their SYNs 25 ms apart so
// both are answered before either ACK arrives (50 ms one-way delay); c3's
// ACK takes the last slot and c4's ACK overflows. c5 connects when the
// queue is full: its SYNs are dropped.
func overflowScenario(name string, abort int) *Scenario {
	port := 8080
	c := func(i int) string { return cl4(40000 + i) }
	sc := &Scenario{Name: name, Link: LinkDelay, Delay: 50 * time.Millisecond,
		ServerSysctls: map[string]string{"net.ipv4.tcp_abort_on_overflow": fmt.Sprint(abort), "net.ipv4.tcp_synack_retries": "1"},
		ClientSysctls: map[string]string{"net.ipv4.tcp_syn_retries": "1", "net.ipv4.tcp_syn_linear_timeouts": "2"},
	}
	x4 := Expect{Verdict: "overflow", SynAck: -1, ResetBy: "server", Client: "ECONNRESET", Server: "none",
		Note: "its handshake ACK found the accept queue full and was dropped; the server retransmitted its SYN-ACK until the request expired, then answered the client's next segment with RST"}
	if abort == 1 {
		x4 = Expect{Verdict: "overflow", SynAck: 0, ResetBy: "server", Client: "ECONNRESET", Server: "none",
			Note: "its handshake ACK found the accept queue full and was answered at once by RST (tcp_abort_on_overflow=1); connect() had succeeded"}
		sc.Description = "accept queue overflow with tcp_abort_on_overflow=1: listen backlog 2, the server never accepts; the fourth client's handshake ACK is answered by RST, a fifth client's SYNs are dropped"
	} else {
		sc.Description = "accept queue overflow with tcp_abort_on_overflow=0: listen backlog 2, the server never accepts; the fourth client's handshake ACK is dropped and the SYN-ACK retransmitted until the request expires, a fifth client's SYNs are dropped"
	}
	sc.Run = func(e *Env) {
		l := e.Listen(sv4(port), 2)
		l.Overflow, l.OverflowClients = true, 2
		open := Expect{Verdict: "open", Server: "none", Note: "in the accept queue, never accepted"}
		fill(e, e.Flow(c(1), sv4(port), open))
		e.Sleep(100 * time.Millisecond)
		fill(e, e.Flow(c(2), sv4(port), open))
		e.Sleep(100 * time.Millisecond)
		f3 := e.Flow(c(3), sv4(port), open)
		f4 := e.Flow(c(4), sv4(port), x4)
		f5 := e.Flow(c(5), sv4(port), Expect{Verdict: "overflow", Syn: 2, Client: "ETIMEDOUT", Server: "none",
			Note: "its SYNs arrived while the accept queue was full and were dropped without answer; on its own it looks like syn-timeout"})
		e.Par(
			func() { fill(e, f3) },
			func() {
				e.Sleep(25 * time.Millisecond)
				if f4.Connect().Result == "ok" {
					f4.C(Send(100))
					f4.C(RecvT(0, 12000))
				}
			},
			func() {
				e.Sleep(300 * time.Millisecond)
				f5.Connect()
			})
	}
	sc.Checks = []Check{AtLeast("server", "TcpExtListenOverflows", 4), AtLeast("server", "TcpExtListenDrops", 4)}
	if abort == 1 {
		sc.Checks = append(sc.Checks, Eq("server", "TcpExtEmbryonicRsts", 1))
	} else {
		sc.Checks = append(sc.Checks, Eq("server", "TcpExtEmbryonicRsts", 0))
	}
	sc.Verify = func(t *Truth) []string {
		var bad []string
		if f := flowByClient(t, c(4)); f != nil && abort == 0 && f.SynackRetransmits < 1 {
			bad = append(bad, "overflowed client saw no SYN-ACK retransmission")
		}
		return bad
	}
	sc.Notes = []string{
		"listen backlog 2: the accept queue holds backlog+1 = 3 connections (sk_acceptq_is_full uses >)",
		"ListenOverflows/ListenDrops count every dropped segment (the ACK, the client's data and its retransmissions, each SYN of the fifth client), not clients",
	}
	return sc
}

// syncookieOverflow: backlog 1, tcp_syncookies=1; four clients send their
// SYNs 20 ms apart over a 50 ms one-way delay (all SYNs arrive before the
// first ACK). The SYN queue (limit = backlog) fills at once, so the
// kernel answers the later SYNs with SYN cookies; the accept queue holds 2,
// so the third and fourth handshake ACKs overflow. Cookie requests keep no
// state: no SYN-ACK retransmission, the clients' data is dropped until their
// tcp_retries2 gives up.
func syncookieOverflow() *Scenario {
	c := func(i int) string { return cl4(40000 + i) }
	sc := &Scenario{Name: "overflow-syncookies", Link: LinkDelay, Delay: 50 * time.Millisecond,
		Description:   "listen backlog 1 with tcp_syncookies=1: a burst of four SYNs fills the SYN queue, later SYNs get cookie SYN-ACKs; the accept queue (2) overflows and the cookie clients' ACKs and data are dropped without SYN-ACK retransmission until their tcp_retries2=3 gives up",
		ServerSysctls: map[string]string{"net.ipv4.tcp_syncookies": "1", "net.ipv4.tcp_abort_on_overflow": "0"},
		ClientSysctls: map[string]string{"net.ipv4.tcp_retries2": "3"},
	}
	sc.Run = func(e *Env) {
		l := e.Listen(sv4(8080), 1)
		l.Overflow, l.OverflowClients = true, 2
		open := Expect{Verdict: "open", Server: "none", Note: "in the accept queue, never accepted"}
		over := Expect{Verdict: "overflow", SynAck: 0, Client: "ETIMEDOUT", Server: "none",
			Note: "answered with a SYN cookie; its ACK and data found the accept queue full and were dropped; a cookie SYN-ACK is never retransmitted; the client gave up on its data (tcp_retries2)"}
		fs := []*FlowRun{e.Flow(c(1), sv4(8080), open), e.Flow(c(2), sv4(8080), open),
			e.Flow(c(3), sv4(8080), over), e.Flow(c(4), sv4(8080), over)}
		var fns []func()
		for i, f := range fs {
			fns = append(fns, func() {
				e.Sleep(time.Duration(i) * 20 * time.Millisecond)
				if f.Connect().Result != "ok" {
					return
				}
				f.C(Send(100))
				if i >= 2 {
					f.C(RecvT(0, 15000))
				}
			})
		}
		e.Par(fns...)
	}
	sc.Checks = []Check{AtLeast("server", "TcpExtSyncookiesSent", 2), AtLeast("server", "TcpExtTCPReqQFullDoCookies", 2),
		AtLeast("server", "TcpExtListenOverflows", 2), Eq("server", "TcpExtTCPSynRetrans", 0), Eq("client", "TcpExtTCPAbortOnTimeout", 2)}
	sc.Notes = []string{"listen backlog 1: the SYN queue limit is the backlog, so with tcp_syncookies=1 the SYNs that find it full get cookies (TcpExtTCPReqQFullDoCookies, TcpExtSyncookiesSent count how many); the accept queue holds backlog+1 = 2"}
	return sc
}

// mixedScenario runs most single scenarios at once in one namespace pair
// (30 ms one-way delay), IPv4 and IPv6 interleaved, flows starting 40 ms
// apart.
func mixedScenario() *Scenario {
	type entry struct {
		port   int
		v6     bool
		server int // server port
		x      Expect
		script func(*Env, *Listener, *FlowRun)
	}
	gc := Expect{Verdict: "graceful-close", FirstFin: "client"}
	entries := []entry{
		{41001, false, 8080, gc, gracefulClientFirst},
		{41002, true, 8080, gc, gracefulClientFirst},
		{41003, true, 8080, Expect{Verdict: "graceful-close", FirstFin: "server"}, gracefulServerFirst},
		{41004, false, 8080, Expect{Verdict: "half-close", FirstFin: "client"}, halfClose},
		{41005, false, 8081, Expect{Verdict: "no-listener", ResetBy: "server", Client: "ECONNREFUSED", Server: "none"}, connectOnly},
		{41006, true, 8081, Expect{Verdict: "no-listener", ResetBy: "server", Client: "ECONNREFUSED", Server: "none"}, connectOnly},
		{41007, false, 8082, Expect{Verdict: "unreachable", Client: "ECONNREFUSED", Server: "none", Note: "ICMP port unreachable"}, connectOnly},
		{41008, true, 8082, Expect{Verdict: "unreachable", Client: "ECONNREFUSED", Server: "none", Note: "ICMPv6 port unreachable"}, connectOnly},
		{41009, false, 8084, Expect{Verdict: "syn-timeout", Syn: 2, Client: "ETIMEDOUT", Server: "none"}, connectOnly},
		{41010, true, 8080, Expect{Verdict: "graceful-close", Syn: 1, FirstFin: "client", Note: "first SYN dropped by the server's firewall"}, gracefulClientFirst},
		{41011, false, 8080, Expect{Verdict: "graceful-close", SynAck: 1, FirstFin: "client", Note: "first handshake ACK dropped by the server's firewall"}, serverSpeaksFirst},
		{41012, true, 8080, Expect{Verdict: "abort", ResetBy: "client", Server: "ECONNRESET", Note: "SO_LINGER {1,0} close by the client"}, lingerAbortClient},
		{41013, false, 8080, Expect{Verdict: "abort", ResetBy: "server", Client: "ECONNRESET", Note: "SO_LINGER {1,0} close by the server"}, lingerAbortServer},
		{41014, false, 8080, Expect{Verdict: "early-close", ResetBy: "server", Client: "ECONNRESET"}, earlyCloseServer},
		{41015, true, 8080, Expect{Verdict: "early-close", ResetBy: "client", Server: "ECONNRESET"}, earlyCloseClient},
		{41016, false, 8080, Expect{Verdict: "data-after-close", FirstFin: "server", ResetBy: "server", Client: "EPIPE", Note: "answered by the FIN_WAIT2 timewait mini-socket"}, dataAfterCloseFinWait2},
		{41017, true, 8080, Expect{Verdict: "data-after-close", FirstFin: "server", ResetBy: "server", Client: "EPIPE", Note: "data reached the server in FIN_WAIT1"}, dataAfterCloseFinWait1},
		{41018, true, 8080, Expect{Verdict: "abort", FirstFin: "client", ResetBy: "client", Server: "EPIPE", Note: "TCP_LINGER2=-1 close in FIN_WAIT2"}, linger2Abort},
		{41019, false, 8080, Expect{Verdict: "timeout", Client: "ETIMEDOUT"}, func(e *Env, l *Listener, f *FlowRun) { rtoTimeout(e, l, f, 41019) }},
		{41020, true, 8080, Expect{Verdict: "graceful-close", FirstFin: "both"}, simultaneousClose},
	}
	sc := &Scenario{Name: "mixed", Link: LinkDelay, Delay: 30 * time.Millisecond,
		Description:   "most scenarios at once in one namespace pair with 30 ms one-way delay, IPv4 and IPv6 interleaved, plus an accept-queue overflow (tcp_abort_on_overflow=1, backlog 2) on port 9090",
		ServerSysctls: map[string]string{"net.ipv4.tcp_abort_on_overflow": "1"},
		ClientSysctls: map[string]string{"net.ipv4.tcp_syn_retries": "1", "net.ipv4.tcp_syn_linear_timeouts": "2", "net.ipv4.tcp_retries2": "3"},
		ServerNft: nftRuleset([]string{"synseen", "ackseen"}, append(append([]string{
			"meta nfproto ipv4 tcp dport 8082 reject with icmp type port-unreachable",
			"meta nfproto ipv6 tcp dport 8082 reject with icmpv6 type port-unreachable",
			"tcp dport 8084 drop"},
			dropFirst("synseen", "tcp sport 41010 "+matchSYN, "tcp sport")...),
			dropFirst("ackseen", "tcp sport 41011 "+matchBareAC, "tcp sport")...)...),
		Captures: []CaptureSpec{{File: "server.pcap", Point: "server"}, {File: "client.pcapng", Point: "client", PcapNG: true}},
	}
	sc.Run = func(e *Env) {
		l4, l6 := e.Listen(sv4(8080), 128), e.Listen(sv6(8080), 128)
		lo := e.Listen(sv4(9090), 2)
		lo.Overflow, lo.OverflowClients = true, 1
		var fns []func()
		for i, en := range entries {
			client, server, l := cl4(en.port), sv4(en.server), l4
			if en.v6 {
				client, server, l = cl6(en.port), sv6(en.server), l6
			}
			f := e.Flow(client, server, en.x)
			fns = append(fns, func() {
				e.Sleep(time.Duration(i) * 40 * time.Millisecond)
				en.script(e, l, f)
			})
		}
		open := Expect{Verdict: "open", Server: "none", Note: "in the accept queue of port 9090, never accepted"}
		o := func(i int) string { return cl4(41020 + i) }
		f1, f2, f3 := e.Flow(o(1), sv4(9090), open), e.Flow(o(2), sv4(9090), open), e.Flow(o(3), sv4(9090), open)
		f4 := e.Flow(o(4), sv4(9090), Expect{Verdict: "overflow", ResetBy: "server", Client: "ECONNRESET", Server: "none",
			Note: "handshake ACK found the accept queue full: RST at once (tcp_abort_on_overflow=1)"})
		fns = append(fns, func() {
			e.Sleep(300 * time.Millisecond)
			fill(e, f1)
			e.Sleep(100 * time.Millisecond)
			fill(e, f2)
			e.Sleep(100 * time.Millisecond)
			e.Par(func() { fill(e, f3) }, func() {
				e.Sleep(25 * time.Millisecond)
				if f4.Connect().Result == "ok" {
					f4.C(Send(100))
					f4.C(RecvT(0, 5000))
				}
			})
		})
		e.Par(fns...)
	}
	sc.Checks = []Check{
		Eq("client", "TcpAttemptFails", 5),
		Eq("client", "TcpExtTCPAbortOnClose", 1), Eq("server", "TcpExtTCPAbortOnClose", 1),
		Eq("client", "TcpExtTCPAbortOnData", 1), Eq("server", "TcpExtTCPAbortOnData", 2),
		Eq("client", "TcpExtTCPAbortOnLinger", 1), Eq("client", "TcpExtTCPAbortOnTimeout", 2),
		Eq("server", "TcpExtEmbryonicRsts", 1), AtLeast("server", "TcpExtListenOverflows", 1),
	}
	sc.Notes = []string{"one namespace pair for all flows: the counters are the sums over all flows",
		"client sysctls apply to every flow: tcp_syn_retries=1 + tcp_syn_linear_timeouts=2 (2 SYN retransmissions 1 s apart for the filtered port), tcp_retries2=3 (the RTO timeout flow)"}
	return sc
}

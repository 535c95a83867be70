package classify

import (
	"net/netip"
	"testing"
	"time"

	"github.com/tcpwhy/tcpwhy/capture"
	"github.com/tcpwhy/tcpwhy/flows"
)

// conv builds a synthetic conversation between a client and a server.
type conv struct {
	t    time.Time
	n    int64
	segs []capture.Segment
	c, s netip.AddrPort
}

const (
	cISN = 1000
	sISN = 5000
)

func newConv() *conv {
	return &conv{t: time.Unix(1700000000, 0), c: netip.MustParseAddrPort("10.0.0.1:40000"), s: netip.MustParseAddrPort("10.0.0.2:80")}
}

// add appends a segment after dt seconds. fromClient says who sends it.
func (v *conv) add(dt float64, fromClient bool, fl capture.Flags, seq, ack uint32, win uint16, length int, ts bool) *conv {
	v.t = v.t.Add(time.Duration(dt * float64(time.Second)))
	v.n++
	src, dst := v.s, v.c
	if fromClient {
		src, dst = v.c, v.s
	}
	seg := capture.Segment{Packet: v.n, Time: v.t, IPVersion: 4, Src: src.Addr(), Dst: dst.Addr(), SrcPort: src.Port(),
		DstPort: dst.Port(), Seq: seq, Ack: ack, Flags: fl, Window: win, PayloadLen: length, TTL: 64, Opt: capture.Options{WScale: -1}}
	if ts {
		seg.Opt.HasTS = true
		seg.OptionsLen = 12
	}
	v.segs = append(v.segs, seg)
	return v
}

const (
	S  = capture.SYN
	SA = capture.SYN | capture.ACK
	A  = capture.ACK
	PA = capture.PSH | capture.ACK
	FA = capture.FIN | capture.ACK
	R  = capture.RST
	RA = capture.RST | capture.ACK
)

func (v *conv) handshake() *conv {
	return v.add(0, true, S, cISN, 0, 64240, 0, true).
		add(0.001, false, SA, sISN, cISN+1, 65160, 0, true).
		add(0.001, true, A, cISN+1, sISN+1, 502, 0, true)
}

func (v *conv) run(t *testing.T) []*FlowResult {
	t.Helper()
	var out []*FlowResult
	var end time.Time
	tab := flows.NewTable(flows.Config{OnDone: func(f *flows.Flow) { out = append(out, Flow(f, end)) }})
	for i := range v.segs {
		end = v.segs[i].Time
		tab.Add(&v.segs[i])
	}
	tab.Flush()
	return out
}

func TestVerdicts(t *testing.T) {
	tests := []struct {
		name    string
		conv    func() *conv
		verdict Verdict
		reason  string
		by      Side
		gen     string
		check   func(t *testing.T, r *FlowResult)
	}{
		{name: "graceful close, client first", verdict: GracefulClose, conv: func() *conv {
			return newConv().handshake().
				add(0.01, true, PA, cISN+1, sISN+1, 502, 10, true).
				add(0.001, false, A, sISN+1, cISN+11, 509, 0, true).
				add(0.001, false, PA, sISN+1, cISN+11, 509, 20, true).
				add(0.001, true, FA, cISN+11, sISN+21, 502, 0, true).
				add(0.001, false, FA, sISN+21, cISN+12, 509, 0, true).
				add(0.001, true, A, cISN+12, sISN+22, 502, 0, true)
		}, check: func(t *testing.T, r *FlowResult) {
			if r.FirstFINBy != SideClient {
				t.Errorf("first FIN by %q, want client", r.FirstFINBy)
			}
			if r.HandshakeRTT < 0.0019 || r.HandshakeRTT > 0.0021 {
				t.Errorf("handshake RTT %v, want 0.002", r.HandshakeRTT)
			}
		}},
		{name: "simultaneous close", verdict: GracefulClose, conv: func() *conv {
			return newConv().handshake().
				add(0.01, true, FA, cISN+1, sISN+1, 502, 0, true).
				add(0, false, FA, sISN+1, cISN+1, 509, 0, true).
				add(0.001, true, A, cISN+2, sISN+2, 502, 0, true).
				add(0, false, A, sISN+2, cISN+2, 509, 0, true)
		}, check: func(t *testing.T, r *FlowResult) {
			if r.FirstFINBy != SideBoth {
				t.Errorf("first FIN by %q, want both", r.FirstFINBy)
			}
		}},
		{name: "half-close", verdict: HalfClose, conv: func() *conv {
			return newConv().handshake().add(0.01, true, FA, cISN+1, sISN+1, 502, 0, true).add(0.001, false, A, sISN+1, cISN+2, 509, 0, true)
		}},
		{name: "open", verdict: Open, conv: func() *conv { return newConv().handshake() }},
		{name: "midstream", verdict: Midstream, conv: func() *conv {
			return newConv().add(0, true, PA, 7, 9, 502, 10, true).add(0.01, false, A, 9, 17, 509, 0, true)
		}, check: func(t *testing.T, r *FlowResult) {
			if !r.RolesGuessed || r.Server.Port() != 80 {
				t.Errorf("roles guessed=%v server=%v, want guessed and port 80", r.RolesGuessed, r.Server)
			}
		}},
		{name: "no listener", verdict: NoListener, reason: "NO_SOCKET", by: SideServer, gen: "passive", conv: func() *conv {
			return newConv().add(0, true, S, cISN, 0, 64240, 0, true).add(0.0001, false, RA, 0, cISN+1, 0, 0, false)
		}, check: func(t *testing.T, r *FlowResult) {
			if r.ClientCounters["TcpAttemptFails"] != 1 || r.ServerCounters["TcpOutRsts"] != 1 {
				t.Errorf("counters client %v server %v", r.ClientCounters, r.ServerCounters)
			}
			if !r.Reset.Accepted {
				t.Error("RST answering the SYN should be accepted")
			}
		}},
		{name: "syn timeout, linux 6.5 schedule", verdict: SynTimeout, conv: func() *conv {
			v := newConv().add(0, true, S, cISN, 0, 64240, 0, true)
			for i := 0; i < 4; i++ {
				v.add(1, true, S, cISN, 0, 64240, 0, true)
			}
			return v
		}, check: func(t *testing.T, r *FlowResult) {
			if r.SYNRetransmits != 4 || r.SYN == nil || len(r.SYN.Matches) == 0 || r.SYN.Matches[0] != "linux>=6.5" {
				t.Errorf("retransmits %d schedule %+v", r.SYNRetransmits, r.SYN)
			}
			if r.ClientCounters["TcpExtTCPSynRetrans"] != 4 {
				t.Errorf("TCPSynRetrans %v", r.ClientCounters)
			}
		}},
		{name: "syn timeout, linux 3.1 schedule", verdict: SynTimeout, conv: func() *conv {
			return newConv().add(0, true, S, cISN, 0, 64240, 0, true).add(1, true, S, cISN, 0, 64240, 0, true).
				add(2, true, S, cISN, 0, 64240, 0, true).add(4, true, S, cISN, 0, 64240, 0, true)
		}, check: func(t *testing.T, r *FlowResult) {
			if len(r.SYN.Matches) != 1 || r.SYN.Matches[0] != "linux-3.1..6.4" || r.SYN.GiveUp != 127 {
				t.Errorf("schedule %+v", r.SYN)
			}
		}},
		{name: "overflow, abort_on_overflow=1", verdict: Overflow, reason: "INVALID_SYN", by: SideServer, gen: "passive", conv: func() *conv {
			return newConv().handshake().add(0.00001, false, R, sISN+1, 0, 0, 0, false)
		}, check: func(t *testing.T, r *FlowResult) {
			for _, k := range []string{"TcpExtListenOverflows", "TcpExtListenDrops", "TcpExtEmbryonicRsts", "TcpOutRsts"} {
				if r.ServerCounters[k] != 1 {
					t.Errorf("server %s = %d, want 1", k, r.ServerCounters[k])
				}
			}
		}},
		{name: "overflow, abort_on_overflow=1, first handshake ACK lost", verdict: Overflow, reason: "INVALID_SYN", by: SideServer, gen: "passive", conv: func() *conv {
			return newConv().handshake().
				add(1, false, SA, sISN, cISN+1, 65160, 0, true).
				add(0.001, true, A, cISN+1, sISN+1, 502, 0, true).
				add(0.00001, false, R, sISN+1, 0, 0, 0, false)
		}},
		{name: "overflow, abort_on_overflow=0", verdict: Overflow, conv: func() *conv {
			return newConv().handshake().
				add(0.0001, true, PA, cISN+1, sISN+1, 502, 10, true).
				add(0.2, true, PA, cISN+1, sISN+1, 502, 10, true).
				add(0.8, false, SA, sISN, cISN+1, 65160, 0, true).
				add(0.0001, true, A, cISN+11, sISN+1, 502, 0, true).
				add(2, false, SA, sISN, cISN+1, 65160, 0, true)
		}, check: func(t *testing.T, r *FlowResult) {
			if r.SYNACKRetransmits != 2 || r.ServerCounters["TcpExtListenOverflows"] == 0 {
				t.Errorf("synack retransmits %d counters %v", r.SYNACKRetransmits, r.ServerCounters)
			}
		}},
		{name: "lost handshake ACK is not an overflow", verdict: Open, conv: func() *conv {
			return newConv().handshake().
				add(1, false, SA, sISN, cISN+1, 65160, 0, true).
				add(0.0001, true, A, cISN+1, sISN+1, 502, 0, true)
		}, check: func(t *testing.T, r *FlowResult) {
			if r.SYNACKRetransmits != 1 || r.ServerCounters["TcpExtTCPSynRetrans"] != 1 {
				t.Errorf("synack retransmits %d, counters %v", r.SYNACKRetransmits, r.ServerCounters)
			}
		}},
		{name: "early close by the server", verdict: EarlyClose, reason: "TCP_ABORT_ON_CLOSE", by: SideServer, gen: "active", conv: func() *conv {
			return newConv().handshake().
				add(0.001, true, PA, cISN+1, sISN+1, 502, 13, true).
				add(0.001, false, A, sISN+1, cISN+14, 509, 0, true).
				add(0.01, false, RA, sISN+1, cISN+14, 509, 0, true)
		}, check: func(t *testing.T, r *FlowResult) {
			if r.ServerCounters["TcpExtTCPAbortOnClose"] != 1 {
				t.Errorf("server counters %v", r.ServerCounters)
			}
		}},
		{name: "zero-linger abort by the server after answering", verdict: Abort, reason: "TCP_STATE", by: SideServer, gen: "active", conv: func() *conv {
			return newConv().handshake().
				add(0.001, true, PA, cISN+1, sISN+1, 502, 13, true).
				add(0.001, false, PA, sISN+1, cISN+14, 509, 20, true).
				add(0.001, true, A, cISN+14, sISN+21, 502, 0, true).
				add(0.01, false, RA, sISN+21, cISN+14, 509, 0, true)
		}, check: func(t *testing.T, r *FlowResult) {
			if r.ServerCounters["TcpExtTCPAbortOnData"] != 1 || r.ClientCounters["TcpEstabResets"] != 1 {
				t.Errorf("counters client %v server %v", r.ClientCounters, r.ServerCounters)
			}
		}},
		{name: "data after close, FIN acknowledged first", verdict: DataAfterClose, reason: "TCP_TIMEWAIT_SOCKET", by: SideServer, gen: "passive", conv: func() *conv {
			return newConv().handshake().
				add(0.01, false, FA, sISN+1, cISN+1, 509, 0, true).
				add(0.001, true, A, cISN+1, sISN+2, 502, 0, true).
				add(0.1, true, PA, cISN+1, sISN+2, 502, 5, true).
				add(0.0001, false, R, sISN+2, 0, 0, 0, false)
		}},
		{name: "data after close, FIN not yet acknowledged", verdict: DataAfterClose, reason: "TCP_ABORT_ON_DATA", by: SideServer, gen: "passive", conv: func() *conv {
			return newConv().handshake().
				add(0.01, false, FA, sISN+1, cISN+1, 509, 0, true).
				add(0.001, true, PA, cISN+1, sISN+2, 502, 5, true).
				add(0.0001, false, R, sISN+2, 0, 0, 0, false)
		}, check: func(t *testing.T, r *FlowResult) {
			if r.ServerCounters["TcpExtTCPAbortOnData"] != 1 {
				t.Errorf("server counters %v", r.ServerCounters)
			}
		}},
		{name: "passive RST mid-stream", verdict: NoSocket, reason: "NO_SOCKET", by: SideServer, gen: "passive", conv: func() *conv {
			return newConv().handshake().
				add(300, true, PA, cISN+1, sISN+1, 502, 5, true).
				add(0.0001, false, R, sISN+1, 0, 0, 0, false)
		}},
		{name: "linger2 abort after FIN", verdict: Abort, reason: "TCP_ABORT_ON_LINGER", by: SideClient, gen: "active", conv: func() *conv {
			return newConv().handshake().
				add(0.01, true, FA, cISN+1, sISN+1, 502, 0, true).
				add(0.001, false, A, sISN+1, cISN+2, 509, 0, true).
				add(0.001, true, RA, cISN+2, sISN+1, 502, 0, true)
		}},
		{name: "retransmission timeout", verdict: Timeout, conv: func() *conv {
			v := newConv().handshake().
				add(0.01, true, PA, cISN+1, sISN+1, 502, 5, true).
				add(0.001, false, PA, sISN+1, cISN+6, 509, 7, true).
				add(0.01, true, PA, cISN+6, sISN+8, 502, 5, true)
			for _, gap := range []float64{0.2, 0.4, 0.8, 1.6} {
				v.add(gap, true, PA, cISN+6, sISN+8, 502, 5, true)
			}
			return v
		}, check: func(t *testing.T, r *FlowResult) {
			if r.ClientCounters["TcpExtTCPAbortOnTimeout"] != 1 {
				t.Errorf("client counters %v", r.ClientCounters)
			}
		}},
		{name: "overflow with a SYN cookie: data ignored, SYN-ACK never resent", verdict: Overflow, conv: func() *conv {
			v := newConv().handshake().add(0.0001, true, PA, cISN+1, sISN+1, 502, 5, true)
			for _, gap := range []float64{0.2, 0.4, 0.8, 1.6} {
				v.add(gap, true, PA, cISN+1, sISN+1, 502, 5, true)
			}
			return v
		}, check: func(t *testing.T, r *FlowResult) {
			if r.ServerCounters["TcpExtListenOverflows"] != 6 || r.ClientCounters["TcpExtTCPAbortOnTimeout"] != 1 {
				t.Errorf("counters client %v server %v", r.ClientCounters, r.ServerCounters)
			}
		}},
		{name: "lone RST", verdict: UnknownReset, conv: func() *conv {
			return newConv().add(0, false, R, 77, 0, 0, 0, false)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := tt.conv().run(t)
			if len(rs) != 1 {
				t.Fatalf("got %d flows, want 1", len(rs))
			}
			r := rs[0]
			if r.Verdict != tt.verdict {
				t.Fatalf("verdict %q, want %q (%s)", r.Verdict, tt.verdict, r.Explanation)
			}
			if tt.reason != "" || tt.by != "" {
				if r.Reset == nil {
					t.Fatalf("no reset recorded")
				}
				if r.Reset.Reason != tt.reason || r.Reset.By != tt.by || r.Reset.Generator != tt.gen {
					t.Errorf("reset %+v, want reason %s by %s generator %s", *r.Reset, tt.reason, tt.by, tt.gen)
				}
			}
			if r.Explanation == "" {
				t.Error("empty explanation")
			}
			if tt.check != nil {
				tt.check(t, r)
			}
		})
	}
}

func TestUnreachable(t *testing.T) {
	v := newConv().add(0, true, S, cISN, 0, 64240, 0, true)
	v.n++
	v.segs = append(v.segs, capture.Segment{Packet: v.n, Time: v.t.Add(time.Millisecond), Kind: capture.KindICMPError, IPVersion: 4,
		Src: v.c.Addr(), Dst: v.s.Addr(), SrcPort: v.c.Port(), DstPort: v.s.Port(), Seq: cISN, Flags: S,
		ICMPFrom: v.s.Addr(), ICMPType: 3, ICMPCode: 3})
	rs := v.run(t)
	if len(rs) != 1 || rs[0].Verdict != Unreachable {
		t.Fatalf("got %+v", rs)
	}
	if rs[0].ClientCounters["TcpAttemptFails"] != 1 {
		t.Errorf("client counters %v", rs[0].ClientCounters)
	}
}

func TestPortReuseStartsNewFlow(t *testing.T) {
	v := newConv().add(0, true, S, cISN, 0, 64240, 0, true).add(0.0001, false, RA, 0, cISN+1, 0, 0, false).
		add(1, true, S, cISN+99, 0, 64240, 0, true).add(0.0001, false, RA, 0, cISN+100, 0, 0, false)
	rs := v.run(t)
	if len(rs) != 2 || rs[0].Verdict != NoListener || rs[1].Verdict != NoListener {
		t.Fatalf("got %d flows: %+v", len(rs), rs)
	}
}

func TestScheduleMatching(t *testing.T) {
	cases := []struct {
		gaps []float64
		want []string
	}{
		{[]float64{1, 1, 1}, []string{"linux>=6.5"}},
		{[]float64{1, 2, 4}, []string{"linux-3.1..6.4"}},
		{[]float64{1}, []string{"linux>=6.5", "linux-3.1..6.4"}},
		{[]float64{3, 6}, []string{"linux<3.1"}},
		{[]float64{0.2}, nil},
	}
	for _, c := range cases {
		got := matchSchedule(c.gaps).Matches
		if len(got) != len(c.want) {
			t.Errorf("%v: got %v want %v", c.gaps, got, c.want)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%v: got %v want %v", c.gaps, got, c.want)
			}
		}
	}
}

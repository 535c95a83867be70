package flows_test

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/tcpwhy/tcpwhy/capture"
	"github.com/tcpwhy/tcpwhy/flows"
)

// tableTuples are the 4-tuples FuzzTable's segments use.
var tableTuples = [4][2]netip.AddrPort{
	{netip.MustParseAddrPort("10.0.0.1:40000"), netip.MustParseAddrPort("10.0.0.2:80")},
	{netip.MustParseAddrPort("10.0.0.1:40001"), netip.MustParseAddrPort("10.0.0.2:80")},
	{netip.MustParseAddrPort("[2001:db8::1]:50000"), netip.MustParseAddrPort("[2001:db8::2]:443")},
	{netip.MustParseAddrPort("10.0.0.9:1"), netip.MustParseAddrPort("10.0.0.9:2")},
}

// tableSegments makes segments from 6 bytes each: b0 tuple (bits 0-1),
// direction (bit 2), ICMP error (bit 3), sequence mode (bits 4-5: in
// order, retransmission, arbitrary); b1 flags; b2 payload length; b3 time
// step (ms; above 200: minutes; 255: back a second); b4-b5 an arbitrary
// number for the sequence and ack. Sequence numbers start near 2^32.
func tableSegments(data []byte) []capture.Segment {
	var segs []capture.Segment
	t := time.Unix(1700000000, 0)
	var next [4][2]uint32
	for i := range next {
		next[i] = [2]uint32{0xfffffff0, 0x10}
	}
	for i := 0; i+6 <= len(data); i += 6 {
		b := data[i : i+6]
		k, d := int(b[0]&3), int(b[0]>>2&1)
		src, dst := tableTuples[k][d], tableTuples[k][1-d]
		switch {
		case b[3] == 255:
			t = t.Add(-time.Second)
		case b[3] > 200:
			t = t.Add(time.Duration(b[3]-200) * 5 * time.Minute)
		default:
			t = t.Add(time.Duration(b[3]) * time.Millisecond)
		}
		r := binary.BigEndian.Uint16(b[4:6])
		seq := next[k][d]
		switch b[0] >> 4 & 3 {
		case 1:
			seq -= uint32(b[2]) + 1
		case 2, 3:
			seq = uint32(r) << 16
		}
		seg := capture.Segment{
			Packet: int64(len(segs) + 1), Time: t, IPVersion: 4, Src: src.Addr(), Dst: dst.Addr(),
			SrcPort: src.Port(), DstPort: dst.Port(), Seq: seq, Ack: next[k][1-d] - uint32(r&0xff),
			Flags: capture.Flags(b[1]), Window: r >> 8, PayloadLen: int(b[2]) * 7, TTL: 64,
			Checksum: capture.ChecksumGood, DataOffset: 20, Opt: capture.Options{WScale: -1},
		}
		if src.Addr().Is6() {
			seg.IPVersion = 6
		}
		if b[0]&8 != 0 {
			seg.Kind = capture.KindICMPError
			seg.ICMPFrom, seg.ICMPType, seg.ICMPCode = netip.MustParseAddr("192.0.2.1"), 3, 3
		} else if end := seq + seg.SeqLen(); int32(end-next[k][d]) > 0 {
			next[k][d] = end
		}
		segs = append(segs, seg)
	}
	return segs
}

// closedConnSeed is a fuzz seed in tableSegments' coding: a handshake, a
// request and a FIN close from each side.
var closedConnSeed = []byte{
	0, byte(capture.SYN), 0, 0, 0, 0,
	4, byte(capture.SYN | capture.ACK), 0, 1, 0, 0,
	0, byte(capture.ACK), 0, 1, 0, 0,
	0, byte(capture.PSH | capture.ACK), 10, 1, 0, 0,
	4, byte(capture.FIN | capture.ACK), 0, 1, 0, 0,
	0, byte(capture.FIN | capture.ACK), 0, 1, 0, 0,
	4, byte(capture.ACK), 0, 1, 0, 0,
}

// FuzzTable feeds arbitrary segment sequences to a small table with short
// idle limits: no panic, every flow decided exactly once, every TCP
// segment counted in exactly one flow, the cap held, and each flow's
// evidence packets within its first and last packet.
func FuzzTable(f *testing.F) {
	f.Add(uint8(0), closedConnSeed)
	f.Add(uint8(1), []byte{0, byte(capture.SYN), 0, 0, 0, 0, 1, byte(capture.SYN), 0, 0, 0, 0, 8, byte(capture.SYN), 0, 1, 0, 0, 0, byte(capture.SYN), 0, 250, 0, 0})
	f.Add(uint8(2), []byte{3, byte(capture.ACK), 5, 0, 0, 0, 7, byte(capture.RST), 0, 255, 0, 0, 3, byte(capture.SYN), 0, 1, 1, 0})
	f.Fuzz(func(t *testing.T, cfg uint8, data []byte) {
		if len(data) > 64<<10 {
			return
		}
		segs := tableSegments(data)
		limit := int(cfg % 4)
		// With an odd number of bytes, decided flows are released for
		// reuse, as the analysis does.
		release := len(data)%2 == 1
		decided := map[int64]bool{}
		var evicted int64
		var counted int
		var tab *flows.Table
		var held []*flows.Flow // decided and released only at the end
		tab = flows.NewTable(flows.Config{
			MaxFlows:        limit,
			IdleHandshake:   time.Duration(cfg>>2&3+1) * time.Minute,
			IdleEstablished: time.Duration(cfg>>4&3+1) * 10 * time.Minute,
			IdleClosed:      time.Duration(cfg>>6+1) * 30 * time.Second,
			OnDone: func(fl *flows.Flow) {
				if decided[fl.ID] {
					t.Fatalf("flow %d decided twice", fl.ID)
				}
				decided[fl.ID] = true
				if fl.Evicted {
					evicted++
				}
				counted += fl.Packets()
				checkFlow(t, fl)
				if release {
					tab.Release(fl)
				} else {
					held = append(held, fl)
				}
			},
		})
		tcp := 0
		for i := range segs {
			if segs[i].Kind == capture.KindTCP {
				tcp++
			}
			u := tab.Add(&segs[i])
			if u.Flow != nil && decided[u.Flow.ID] {
				t.Fatalf("segment %d went to decided flow %d", i+1, u.Flow.ID)
			}
			if segs[i].Kind == capture.KindTCP && u.Flow == nil {
				t.Fatalf("segment %d: no flow", i+1)
			}
			if limit > 0 && tab.Len() > limit {
				t.Fatalf("%d flows tracked, cap %d", tab.Len(), limit)
			}
		}
		tab.Flush()
		if tab.Len() != 0 || counted != tcp {
			t.Fatalf("after Flush: %d flows left, %d of %d segments counted", tab.Len(), counted, tcp)
		}
		if evicted != tab.Evicted {
			t.Fatalf("%d flows marked evicted, table says %d", evicted, tab.Evicted)
		}
		// Every flow goes back: the table's memory is all free.
		for _, fl := range held {
			tab.Release(fl)
		}
		if n := tab.InUse(); n != 0 {
			t.Fatalf("%d flows in use after Flush and Release", n)
		}
	})
}

// checkFlow checks the invariants of a decided flow.
func checkFlow(t *testing.T, f *flows.Flow) {
	t.Helper()
	c, s := f.Client(), f.Server()
	if c.Packets < 0 || s.Packets < 0 {
		t.Fatalf("flow %d: %d+%d endpoint packets", f.ID, c.Packets, s.Packets)
	}
	if f.First.Number > f.Last.Number {
		t.Fatalf("flow %d: first packet %d after last %d", f.ID, f.First.Number, f.Last.Number)
	}
	in := func(what string, n int64) {
		if n != 0 && (n < f.First.Number || n > f.Last.Number) {
			t.Fatalf("flow %d: %s packet %d outside %d..%d", f.ID, what, n, f.First.Number, f.Last.Number)
		}
	}
	for d := range f.Ep {
		e := &f.Ep[d]
		if e.DataPackets > e.Packets || e.Bytes < 0 || e.Retransmits < 0 || e.SYNCount < 0 || e.RSTCount < 0 {
			t.Fatalf("flow %d side %d: %+v", f.ID, d, e)
		}
		if (e.RST().Number != 0) != (e.RSTCount > 0) {
			t.Fatalf("flow %d side %d: RST %d, count %d", f.ID, d, e.RST().Number, e.RSTCount)
		}
		if e.SYNs() != min(int(e.SYNCount), flows.MaxSYNs) {
			t.Fatalf("flow %d side %d: %d SYNs kept of %d", f.ID, d, e.SYNs(), e.SYNCount)
		}
		for i := 0; i < e.SYNs(); i++ {
			p := e.SYN(i)
			if p.Number == 0 || p.Flags&capture.SYN == 0 || (i > 0 && p.Number <= e.SYN(i-1).Number) {
				t.Fatalf("flow %d side %d: SYN %d is packet %d (flags %v)", f.ID, d, i, p.Number, p.Flags)
			}
			in("SYN", p.Number)
		}
		if e.SYNCount > 0 && e.ISN() != e.SYN(0).Seq {
			t.Fatalf("flow %d side %d: ISN %d, first SYN %d", f.ID, d, e.ISN(), e.SYN(0).Seq)
		}
		if l := e.LastData(); l.Number < e.LastNewData.Number || (l.Number == 0) != (e.FirstData.Number == 0) {
			t.Fatalf("flow %d side %d: last data %d, last new data %d, first data %d", f.ID, d, l.Number, e.LastNewData.Number, e.FirstData.Number)
		}
		if e.LastRST().Number < e.RST().Number {
			t.Fatalf("flow %d side %d: last RST %d before first %d", f.ID, d, e.LastRST().Number, e.RST().Number)
		}
		icmp := int64(0)
		if e.ICMP() != nil {
			icmp = e.ICMP().Packet.Number
		}
		for what, n := range map[string]int64{"FIN": e.FIN.Number, "FINAcked": e.FINAcked.Number, "RST": e.RST().Number, "LastRST": e.LastRST().Number,
			"FirstData": e.FirstData.Number, "LastData": e.LastData().Number, "LastNewData": e.LastNewData.Number, "ICMP": icmp,
			"TailFirst": e.TailFirst().Number, "TailLast": e.TailLast().Number, "DataAfterPeerFIN": e.DataAfterPeerFIN().Number,
			"LastPacket": e.LastPacketNumber()} {
			in(what, n)
		}
	}
	in("HandshakeAck", f.HandshakeAck.Number)
	in("ChallengeACK", f.ChallengeACK().Number)
	in("FirstSynAckAfterAck", f.FirstSynAckAfterAck().Number)
}

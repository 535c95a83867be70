package classify_test

import (
	"encoding/binary"
	"io"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/tcpwhy/tcpwhy/capture"
	"github.com/tcpwhy/tcpwhy/classify"
	"github.com/tcpwhy/tcpwhy/flows"
)

// fuzzStep is how many input bytes make one segment.
const fuzzStep = 7

// fuzzTuples are the 4-tuples the fuzzed segments use: two share their
// addresses (so they share listeners and hosts), one is IPv6, and the
// last has both ports ephemeral (roles guessed either way).
var fuzzTuples = [4][2]netip.AddrPort{
	{netip.MustParseAddrPort("10.0.0.1:40000"), netip.MustParseAddrPort("10.0.0.2:80")},
	{netip.MustParseAddrPort("10.0.0.1:40001"), netip.MustParseAddrPort("10.0.0.2:80")},
	{netip.MustParseAddrPort("[2001:db8::1]:50000"), netip.MustParseAddrPort("[2001:db8::2]:443")},
	{netip.MustParseAddrPort("10.0.0.3:33000"), netip.MustParseAddrPort("10.0.0.1:40000")},
}

// fuzzSegments turns arbitrary bytes into a sequence of segments. Each
// segment takes fuzzStep bytes:
//
//	b0: bits 0-1 tuple, bit 2 direction, bit 3 ICMP error, bit 4 bad
//	    checksum, bit 5 snaplen-truncated, bits 6-7 sequence mode
//	    (in order, retransmission, near the next sequence, arbitrary)
//	b1: TCP flags
//	b2: payload length
//	b3: time step (milliseconds, seconds, minutes, or one second back)
//	b4: bits 0-1 ack mode (the peer's next, behind it, zero, arbitrary),
//	    bit 2 zero window, bit 3 timestamps, bit 4 TTL change
//	b5, b6: arbitrary numbers for the sequence and ack modes
//
// Sequence numbers start near 2^32 so that they wrap.
func fuzzSegments(data []byte) []capture.Segment {
	var segs []capture.Segment
	t := time.Unix(1700000000, 0)
	var next, last [len(fuzzTuples)][2]uint32
	for i := range next {
		next[i] = [2]uint32{0xffffff00 - uint32(i)*0x1000, 0x7fffff00}
		last[i] = next[i]
	}
	for i := 0; i+fuzzStep <= len(data); i += fuzzStep {
		b := data[i : i+fuzzStep]
		k, d := int(b[0]&3), int(b[0]>>2&1)
		src, dst := fuzzTuples[k][d], fuzzTuples[k][1-d]
		switch step := b[3]; {
		case step < 128:
			t = t.Add(time.Duration(step) * time.Millisecond)
		case step < 192:
			t = t.Add(time.Duration(step-128) * time.Second)
		case step < 255:
			t = t.Add(time.Duration(step-192) * 3 * time.Minute)
		default:
			t = t.Add(-time.Second)
		}
		n := int(b[2])
		if n >= 200 {
			n = (n - 199) * 1000
		}
		fl := capture.Flags(b[1])
		r16 := binary.BigEndian.Uint16(b[5:7])
		var seq uint32
		switch b[0] >> 6 {
		case 0:
			seq = next[k][d]
		case 1:
			seq = last[k][d]
		case 2:
			seq = next[k][d] + uint32(int32(int8(b[5]))*int32(b[6]))
		default:
			seq = uint32(r16)<<16 | uint32(b[6])
		}
		var ack uint32
		switch b[4] & 3 {
		case 0:
			ack = next[k][1-d]
		case 1:
			ack = next[k][1-d] - uint32(b[6])
		case 2:
			ack = 0
		default:
			ack = uint32(b[5])<<24 | uint32(r16)
		}
		seg := capture.Segment{
			Packet: int64(len(segs) + 1), Time: t, IPVersion: 4, Src: src.Addr(), Dst: dst.Addr(),
			SrcPort: src.Port(), DstPort: dst.Port(), Seq: seq, Ack: ack, Flags: fl, Window: 502,
			PayloadLen: n, TTL: 64, IPID: uint16(i), DataOffset: 20, Checksum: capture.ChecksumGood,
			Opt: capture.Options{WScale: -1},
		}
		if src.Addr().Is6() {
			seg.IPVersion = 6
		}
		seg.IPLen = 40 + n
		if b[4]&4 != 0 {
			seg.Window = 0
		}
		if b[4]&8 != 0 {
			seg.Opt.HasTS, seg.Opt.TSVal, seg.Opt.TSEcr = true, uint32(i), uint32(r16)
			seg.OptionsLen, seg.DataOffset = 12, 32
		}
		if fl&capture.SYN != 0 && b[4]&8 != 0 {
			seg.Opt.MSS, seg.Opt.WScale, seg.Opt.SACKPermitted = 1460, int8(b[6]%16), true
		}
		if b[4]&16 != 0 {
			seg.TTL = 255 - b[6]%8
		}
		if b[0]&16 != 0 {
			seg.Checksum = capture.ChecksumBad
		}
		if b[0]&32 != 0 {
			seg.Checksum = capture.ChecksumUnknown
			seg.PayloadInferred = n > 0
		}
		if b[0]&8 != 0 {
			seg.Kind = capture.KindICMPError
			seg.ICMPFrom = netip.MustParseAddr("192.0.2.9")
			seg.ICMPType, seg.ICMPCode = 3, b[6]%16
			if seg.IPVersion == 6 {
				seg.ICMPFrom, seg.ICMPType, seg.ICMPv6 = netip.MustParseAddr("2001:db8::99"), 1, true
			}
			seg.Checksum = capture.ChecksumUnknown
		} else {
			last[k][d] = seq
			if end := seq + seg.SeqLen(); int32(end-next[k][d]) > 0 {
				next[k][d] = end
			}
		}
		segs = append(segs, seg)
	}
	return segs
}

// sliceSource is a capture.Source over prepared segments.
type sliceSource struct {
	segs []capture.Segment
	i    int
	info capture.Info
}

func (s *sliceSource) Next(seg *capture.Segment) error {
	if s.i >= len(s.segs) {
		return io.EOF
	}
	*seg = s.segs[s.i]
	s.i++
	s.info.Packets++
	if seg.Kind == capture.KindICMPError {
		s.info.ICMPErrors++
	} else {
		s.info.TCP++
	}
	return nil
}
func (s *sliceSource) Info() capture.Info { return s.info }
func (s *sliceSource) Err() error         { return nil }
func (s *sliceSource) Close() error       { return nil }

// checkResult checks the invariants of one classified flow.
func checkResult(t *testing.T, r *classify.FlowResult) {
	t.Helper()
	if !slices.Contains(classify.Verdicts, r.Verdict) {
		t.Fatalf("flow %d: verdict %q is not in the vocabulary", r.ID, r.Verdict)
	}
	if r.Explanation == "" {
		t.Fatalf("flow %d (%s): no explanation", r.ID, r.Verdict)
	}
	if r.FirstPacket < 1 || r.LastPacket < r.FirstPacket {
		t.Fatalf("flow %d: packets %d..%d", r.ID, r.FirstPacket, r.LastPacket)
	}
	in := func(what string, n int64) {
		if n < r.FirstPacket || n > r.LastPacket {
			t.Fatalf("flow %d (%s): %s packet %d outside the flow's packets %d..%d", r.ID, r.Verdict, what, n, r.FirstPacket, r.LastPacket)
		}
	}
	for _, n := range r.Evidence {
		in("evidence", n)
	}
	for _, a := range r.Annotations {
		in("annotated", a.Packet)
	}
	if r.Reset != nil {
		in("reset", r.Reset.Packet)
	}
	for name, c := range map[string]classify.Counters{"client": r.ClientCounters, "server": r.ServerCounters} {
		for k, v := range c {
			if v < 0 {
				t.Fatalf("flow %d (%s): %s counter %s = %d", r.ID, r.Verdict, name, k, v)
			}
		}
	}
	for what, v := range map[string]int{"syn_retransmits": r.SYNRetransmits, "synack_retransmits": r.SYNACKRetransmits,
		"client_packets": r.ClientPackets, "server_packets": r.ServerPackets, "syn_drops": r.SynDropsSeen,
		"overflow_drops": r.OverflowDrops} {
		if v < 0 {
			t.Fatalf("flow %d (%s): %s = %d", r.ID, r.Verdict, what, v)
		}
	}
	if r.ClientBytes < 0 || r.ServerBytes < 0 {
		t.Fatalf("flow %d: bytes %d/%d", r.ID, r.ClientBytes, r.ServerBytes)
	}
}

// FuzzFlows feeds a sequence of arbitrary segments to the flow table and
// classifies every flow it decides: no panic, a verdict from the
// vocabulary, no negative counters, evidence within the flow's packets,
// every TCP segment in exactly one flow, and the table within its cap.
// Analyze over the same segments must agree.
func FuzzFlows(f *testing.F) {
	hs := []byte{
		0x00, byte(capture.SYN), 0, 0, 2, 0, 0, // client SYN
		0x04, byte(capture.SYN | capture.ACK), 0, 1, 0, 0, 0, // server SYN-ACK
		0x00, byte(capture.ACK), 0, 1, 0, 0, 0, // client ACK
	}
	data := []byte{0x00, byte(capture.PSH | capture.ACK), 100, 1, 0, 0, 0, 0x04, byte(capture.ACK), 0, 1, 0, 0, 0}
	fins := []byte{0x00, byte(capture.FIN | capture.ACK), 0, 1, 0, 0, 0, 0x04, byte(capture.FIN | capture.ACK), 0, 1, 0, 0, 0, 0x00, byte(capture.ACK), 0, 1, 0, 0, 0}
	rst := []byte{0x04, byte(capture.RST | capture.ACK), 0, 1, 0, 0, 0}
	seed := func(parts ...[]byte) []byte { return slices.Concat(parts...) }
	f.Add(uint8(0), seed(hs, data, fins))
	f.Add(uint8(1), seed(hs, data, rst, hs))
	f.Add(uint8(0), seed(hs[:7], []byte{0x00, byte(capture.SYN), 0, 129, 0, 0, 0, 0x00, byte(capture.SYN), 0, 130, 0, 0, 0}))
	f.Add(uint8(0), seed(hs[:7], []byte{0x04, byte(capture.RST | capture.ACK), 0, 1, 0, 0, 0}))
	f.Add(uint8(2), seed(hs[:7], []byte{0x08, byte(capture.SYN), 0, 1, 0, 0, 0}))
	f.Add(uint8(0), seed(hs, data, data, []byte{0x00, byte(capture.PSH | capture.ACK), 100, 200, 0, 0, 0, 0x40, byte(capture.PSH | capture.ACK), 100, 200, 0, 0, 0}))
	f.Add(uint8(3), seed(hs, []byte{0x01, byte(capture.SYN), 0, 1, 0, 0, 0, 0x02, byte(capture.SYN), 0, 1, 0, 0, 0, 0x03, byte(capture.ACK), 10, 255, 0, 0, 0}))
	f.Fuzz(func(t *testing.T, maxFlows uint8, data []byte) {
		if len(data) > 64<<10 {
			return
		}
		segs := fuzzSegments(data)
		limit := int(maxFlows % 4) // 0: no cap
		var results []*classify.FlowResult
		var end time.Time
		decided := map[*flows.Flow]bool{}
		tab := flows.NewTable(flows.Config{MaxFlows: limit, OnDone: func(fl *flows.Flow) {
			if decided[fl] {
				t.Fatalf("flow %d decided twice", fl.ID)
			}
			decided[fl] = true
			results = append(results, classify.Flow(fl, end))
		}})
		var tcp int
		for i := range segs {
			if segs[i].Time.After(end) {
				end = segs[i].Time
			}
			if segs[i].Kind == capture.KindTCP {
				tcp++
			}
			u := tab.Add(&segs[i])
			if segs[i].Kind == capture.KindTCP && u.Flow == nil {
				t.Fatalf("segment %d: no flow", i+1)
			}
			if limit > 0 && tab.Len() > limit {
				t.Fatalf("%d flows tracked, cap %d", tab.Len(), limit)
			}
		}
		tab.Flush()
		if tab.Len() != 0 {
			t.Fatalf("%d flows left after Flush", tab.Len())
		}
		if limit > 0 && tab.Peak > limit {
			t.Fatalf("peak %d flows, cap %d", tab.Peak, limit)
		}
		ids := map[int64]bool{}
		counted := 0
		for _, r := range results {
			checkResult(t, r)
			if ids[r.ID] {
				t.Fatalf("flow id %d twice", r.ID)
			}
			ids[r.ID] = true
			counted += r.ClientPackets + r.ServerPackets
		}
		if counted != tcp {
			t.Fatalf("flows count %d segments, %d TCP segments fed", counted, tcp)
		}
		for fl := range decided {
			tab.Release(fl)
		}
		if n := tab.InUse(); n != 0 {
			t.Fatalf("%d flows in use after Flush and Release", n)
		}

		a := classify.Analyze(&sliceSource{segs: segs}, classify.Options{MaxFlows: limit})
		if len(a.Flows) != len(results) {
			t.Fatalf("Analyze found %d flows, the table %d", len(a.Flows), len(results))
		}
		byID := map[int64]*classify.FlowResult{}
		for _, r := range results {
			byID[r.ID] = r
		}
		total := 0
		for _, r := range a.Flows {
			checkResult(t, r)
			// The listener diagnosis turns syn-timeout flows to a listener
			// whose accept queue overflowed into overflow.
			if w := byID[r.ID]; w == nil || w.Verdict != r.Verdict && !(w.Verdict == classify.SynTimeout && r.Verdict == classify.Overflow) {
				t.Fatalf("flow %d: Analyze says %s, the table walk %v", r.ID, r.Verdict, w)
			}
		}
		for _, v := range classify.Verdicts {
			total += a.Verdicts[v]
		}
		if total != len(a.Flows) || len(a.Verdicts) != len(classify.Verdicts) {
			t.Fatalf("verdict counts %v for %d flows", a.Verdicts, len(a.Flows))
		}
		for _, h := range a.Hosts {
			for k, v := range h.Counters {
				if v < 0 {
					t.Fatalf("host %s: counter %s = %d", h.IP, k, v)
				}
			}
		}
		for _, l := range a.Listeners {
			if l.Connections < 0 || l.SynDrops < 0 {
				t.Fatalf("listener %s: %+v", l.Server, l)
			}
		}
	})
}

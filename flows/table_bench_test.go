package flows

import (
	"net/netip"
	"testing"
	"time"

	"github.com/tcpwhy/tcpwhy/capture"
)

// benchSegments builds n connections of a handshake, a request, a
// response and a FIN close each, interleaved.
func benchSegments(n int) []capture.Segment {
	var segs []capture.Segment
	t0 := time.Unix(1700000000, 0)
	srv := netip.MustParseAddr("10.0.0.2")
	for i := 0; i < n; i++ {
		cli := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		add := func(k int, fromClient bool, fl capture.Flags, seq, ack uint32, length int) {
			s := capture.Segment{Time: t0.Add(time.Duration(i*10+k) * time.Millisecond), IPVersion: 4, Flags: fl,
				Seq: seq, Ack: ack, Window: 500, PayloadLen: length, TTL: 64, IPID: uint16(k + 1)}
			s.Opt.HasTS, s.Opt.TSVal = true, uint32(k)
			if fromClient {
				s.Src, s.Dst, s.SrcPort, s.DstPort = cli, srv, 40000, 80
			} else {
				s.Src, s.Dst, s.SrcPort, s.DstPort = srv, cli, 80, 40000
			}
			segs = append(segs, s)
		}
		add(0, true, capture.SYN, 100, 0, 0)
		add(1, false, capture.SYN|capture.ACK, 900, 101, 0)
		add(2, true, capture.ACK, 101, 901, 0)
		add(3, true, capture.PSH|capture.ACK, 101, 901, 100)
		add(4, false, capture.ACK, 901, 201, 0)
		add(5, false, capture.PSH|capture.ACK, 901, 201, 1000)
		add(6, true, capture.ACK, 201, 1901, 0)
		add(7, true, capture.FIN|capture.ACK, 201, 1901, 0)
		add(8, false, capture.FIN|capture.ACK, 1901, 202, 0)
		add(9, true, capture.ACK, 202, 1902, 0)
	}
	for i := range segs {
		segs[i].Packet = int64(i + 1)
	}
	return segs
}

// BenchmarkTableAdd measures the flow update path on established flows:
// every connection is opened once, then each iteration feeds one segment.
// Only the first segment of a flow allocates (the Flow itself).
func BenchmarkTableAdd(b *testing.B) {
	segs := benchSegments(1000)
	tab := NewTable(Config{})
	for i := range segs {
		tab.Add(&segs[i])
	}
	// Steady state: re-feed the data and ACK segments of existing flows.
	var steady []capture.Segment
	for _, s := range segs {
		if s.Flags&(capture.SYN|capture.FIN) == 0 {
			steady = append(steady, s)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s := &steady[i%len(steady)]
		tab.Add(s)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "segments/s")
}

// BenchmarkFlushFlood measures Flush at the end of a SYN flood: 200,000
// unanswered attempts, most of them compacted. One op is one Flush;
// ns/flow is per flow decided.
func BenchmarkFlushFlood(b *testing.B) {
	const n = 200000
	t0 := time.Unix(1700000000, 0)
	srv := netip.MustParseAddr("10.0.0.2")
	segs := make([]capture.Segment, n)
	for i := range segs {
		segs[i] = capture.Segment{Packet: int64(i + 1), Time: t0.Add(time.Duration(i) * 5 * time.Microsecond),
			IPVersion: 4, Flags: capture.SYN, Seq: uint32(i), Window: 500, TTL: 64, IPID: uint16(i),
			Src: netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), Dst: srv, SrcPort: 40000, DstPort: 80}
	}
	var decided int
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		var tab *Table
		tab = NewTable(Config{OnDone: func(f *Flow) { decided++; tab.Release(f) }})
		for i := range segs {
			tab.Add(&segs[i])
		}
		if tab.Compacted < n/2 {
			b.Fatalf("%d of %d flows compacted, want most", tab.Compacted, n)
		}
		decided = 0
		b.StartTimer()
		tab.Flush()
		if decided != n {
			b.Fatalf("Flush decided %d flows, want %d", decided, n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/flow")
}

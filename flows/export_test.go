package flows

import (
	"net/netip"
	"slices"
	"time"

	"github.com/tcpwhy/tcpwhy/capture"
)

// Snapshot returns a copy of f without its place in the table's idle
// list (the link index and the listed mark), for comparing flows of two
// tables.
func Snapshot(f *Flow) Flow {
	g := *f
	g.link, g.listed = 0, false
	return g
}

// InFloodMode reports whether t compacts unanswered attempts at once
// (see attemptStats).
func InFloodMode(t *Table) bool { return t.attempts.flood }

// WholeFlows counts the flows t keeps whole (not compacted).
func WholeFlows(t *Table) int {
	n := 0
	for l := range t.idle {
		for k := t.idle[l].head; k != 0; k = t.links[k].next {
			n++
		}
	}
	return n
}

// WholeClosed counts the answered flows that closed and that t keeps
// whole.
func WholeClosed(t *Table) int {
	n := 0
	for k := t.idle[answered*numIdleKinds+uint8(idleClosed)].head; k != 0; k = t.links[k].next {
		n++
	}
	return n
}

// KeptAliveSegments returns the segments of n connections opened
// spacing apart, each a handshake and a request and response over 6 ms.
// With pause 0 they stay open and quiet; otherwise each has a second
// exchange pause after its first, and the even ones then close with FINs.
// The segments are in time order and numbered.
func KeptAliveSegments(n int, spacing, pause time.Duration) []capture.Segment {
	t0 := time.Unix(1700000000, 0)
	srv := netip.MustParseAddr("192.0.2.1")
	var segs []capture.Segment
	for i := range n {
		cli := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		at := t0.Add(time.Duration(i) * spacing)
		cseq, sseq := uint32(1000+i), uint32(900000+i)
		add := func(fromClient bool, fl capture.Flags, length int) {
			s := capture.Segment{Time: at, IPVersion: 4, Kind: capture.KindTCP, Flags: fl, Window: 500,
				PayloadLen: length, TTL: 64, Opt: capture.Options{WScale: -1}}
			if fromClient {
				s.Src, s.Dst, s.SrcPort, s.DstPort = cli, srv, 40000, 443
				s.Seq, s.Ack = cseq, sseq
				cseq += uint32(length)
			} else {
				s.Src, s.Dst, s.SrcPort, s.DstPort = srv, cli, 443, 40000
				s.Seq, s.Ack = sseq, cseq
				sseq += uint32(length)
			}
			if fl&(capture.SYN|capture.FIN) != 0 {
				if fromClient {
					cseq++
				} else {
					sseq++
				}
			}
			if fl&capture.ACK == 0 {
				s.Ack = 0
			}
			segs = append(segs, s)
			at = at.Add(time.Millisecond)
		}
		exchange := func() {
			add(true, capture.PSH|capture.ACK, 100)
			add(false, capture.ACK, 0)
			add(false, capture.PSH|capture.ACK, 1000)
			add(true, capture.ACK, 0)
		}
		add(true, capture.SYN, 0)
		add(false, capture.SYN|capture.ACK, 0)
		add(true, capture.ACK, 0)
		exchange()
		if pause == 0 {
			continue
		}
		at = at.Add(pause)
		exchange()
		if i%2 == 0 {
			add(true, capture.FIN|capture.ACK, 0)
			add(false, capture.FIN|capture.ACK, 0)
			add(true, capture.ACK, 0)
		}
	}
	slices.SortStableFunc(segs, func(a, b capture.Segment) int { return a.Time.Compare(b.Time) })
	for i := range segs {
		segs[i].Packet = int64(i + 1)
	}
	return segs
}

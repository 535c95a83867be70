package flows

import (
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/tcpwhy/tcpwhy/capture"
)

// TestIdleLinksReused checks that the idle lists' link indexes of
// decided flows are reused: over 4,000 connections of which at most a few
// hundred are tracked at once, the links grow to the peak of tracked
// flows, not to the flows seen; and every listed flow's index names it.
func TestIdleLinksReused(t *testing.T) {
	segs := benchSegments(4000)
	// 200 new connections a second, each lasting 90 ms: closed flows
	// leave 5 s later, so about 1,000 are tracked at once.
	for i := range segs {
		c, k := i/10, i%10
		segs[i].Time = time.Unix(1700000000, 0).Add(time.Duration(c)*5*time.Millisecond + time.Duration(k)*10*time.Millisecond)
	}
	decided := 0
	tab := NewTable(Config{CompactAbove: 1 << 30, OnDone: func(*Flow) { decided++ }})
	for i := range segs {
		tab.Add(&segs[i])
	}
	if decided < 2000 {
		t.Fatalf("%d flows decided before the end, want most of 4000", decided)
	}
	if n := len(tab.links) - 1; n > tab.Peak {
		t.Fatalf("%d link indexes for a peak of %d tracked flows: decided flows' indexes are not reused", n, tab.Peak)
	}
	listed := 0
	for l := range uint8(numLists) {
		for k := tab.idle[l].head; k != 0; k = tab.links[k].next {
			f := tab.linked[k]
			if f == nil || f.link != k || !f.listed || f.list != l {
				t.Fatalf("link %d of list %d names %+v", k, l, f)
			}
			listed++
		}
	}
	if listed != tab.Len() {
		t.Fatalf("%d flows in the idle lists, %d tracked", listed, tab.Len())
	}
	tab.Flush()
	if n := len(tab.links) - 1 - len(tab.freeLinks); n != 0 {
		t.Fatalf("%d link indexes in use after Flush", n)
	}
}

// TestShrinkAfterFlood checks that the memory a SYN flood took is given
// back once its attempts are decided, as in a live capture that goes on:
// the store's chunks, most of the hash table and most of the idle lists'
// links. The connections that go on across the flood stay tracked.
func TestShrinkAfterFlood(t *testing.T) {
	const flood = 20000
	t0 := time.Unix(1700000000, 0)
	srv := netip.MustParseAddr("10.0.0.2")
	syn := func(i int, at time.Time) capture.Segment {
		return capture.Segment{Time: at, IPVersion: 4, Flags: capture.SYN, Seq: uint32(i), Window: 500, TTL: 64,
			IPID: uint16(i), Src: netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), Dst: srv, SrcPort: 40000, DstPort: 80}
	}
	decided := 0
	tab := NewTable(Config{CompactAbove: 1000, OnDone: func(*Flow) { decided++ }})
	packet := int64(0)
	peakLinks := 0
	add := func(s capture.Segment) {
		packet++
		s.Packet = packet
		tab.Add(&s)
		peakLinks = max(peakLinks, len(tab.links))
	}
	// The flood, 50 us apart (1 s), and in its middle some connections
	// that stay open (so that their link indexes change when the links
	// are renumbered).
	live := benchSegments(50)
	for i := range flood {
		at := t0.Add(time.Duration(i) * 50 * time.Microsecond)
		if i == flood/2 {
			for k := range live {
				if k%10 < 3 { // the handshakes only: open connections
					live[k].Time = at
					add(live[k])
				}
			}
		}
		add(syn(i, at))
	}
	if tab.store.live == 0 || len(tab.slots) < flood {
		t.Fatalf("during the flood: %d compacted, %d slots; want most of %d compacted and the slots grown", tab.store.live, len(tab.slots), flood)
	}
	if mapped := len(tab.store.mem.mapped); runtime.GOOS == "linux" && mapped != len(tab.store.recs)+len(tab.store.arena) {
		t.Fatalf("during the flood: %d chunks mapped outside the heap, want the store's %d record and %d arena chunks", mapped, len(tab.store.recs), len(tab.store.arena))
	}
	// Four minutes later the attempts are past the handshake limit (3
	// minutes); the open connections are not past theirs.
	later := t0.Add(4 * time.Minute)
	for i := range live {
		if i%10 == 3 { // a request on each open connection
			live[i].Time = later
			add(live[i])
		}
	}
	for k := range 3 {
		tab.Advance(later.Add(time.Duration(k+1) * sweepEvery))
	}
	if decided != flood {
		t.Fatalf("%d flows decided, want the %d attempts", decided, flood)
	}
	if n := tab.Len(); n != 50 {
		t.Fatalf("%d flows tracked after the flood, want the 50 open connections", n)
	}
	if tab.store.nrec != 0 || len(tab.store.recs) != 0 || len(tab.store.arena) != 0 || len(tab.store.mem.mapped) != 0 {
		t.Fatalf("the store keeps %d records, %d record chunks, %d arena chunks (%d mapped) after the flood",
			tab.store.nrec, len(tab.store.recs), len(tab.store.arena), len(tab.store.mem.mapped))
	}
	if n := len(tab.slots); n > minSlots {
		t.Fatalf("%d slots for %d flows after the flood, want %d", n, tab.Len(), minSlots)
	}
	// Renumbered when fewer than a quarter were in use: at the end, or
	// in flood mode (attemptStats) as soon as the attempts were compacted.
	if n := len(tab.links); n > 2*51 || peakLinks <= 2*51 {
		t.Fatalf("%d link indexes for 50 listed flows after the flood (%d at its peak)", n, peakLinks)
	}
	checkIdleLists(t, tab)
	// And the connections go on: their next segments find their flows,
	// and the lists stay whole.
	for i := range live {
		if i%10 == 4 {
			live[i].Time = later.Add(time.Second)
			packet++
			live[i].Packet = packet
			if u := tab.Add(&live[i]); u.New {
				t.Fatalf("segment %d of an open connection started a new flow after the shrink", i)
			}
		}
	}
	checkIdleLists(t, tab)
}

// checkIdleLists checks that the idle lists, walked forwards and
// backwards, hold each tracked flow once, and that each listed flow's
// link index names it.
func checkIdleLists(t *testing.T, tab *Table) {
	t.Helper()
	listed := 0
	for l := range uint8(numLists) {
		var prev uint32
		n := 0
		for k := tab.idle[l].head; k != 0; k = tab.links[k].next {
			if f := tab.linked[k]; f == nil || f.link != k || f.list != l || tab.links[k].prev != prev {
				t.Fatalf("list %d: link %d names %v, prev %d (want %d)", l, k, f, tab.links[k].prev, prev)
			}
			if n++; n > tab.Len() {
				t.Fatalf("list %d: a cycle", l)
			}
			prev = k
		}
		if tab.idle[l].tail != prev {
			t.Fatalf("list %d: tail %d, last link %d", l, tab.idle[l].tail, prev)
		}
		listed += n
	}
	if listed != tab.Len() {
		t.Fatalf("%d flows in the idle lists, %d tracked", listed, tab.Len())
	}
}

// TestFlushReleasesStore checks that Flush gives back the store's chunks,
// which live outside the heap, once it has decided its compacted flows,
// and that the table still works after.
func TestFlushReleasesStore(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	srv := netip.MustParseAddr("10.0.0.2")
	decided := 0
	tab := NewTable(Config{CompactAbove: 100, OnDone: func(*Flow) { decided++ }})
	add := func(i int) {
		s := capture.Segment{Packet: int64(i + 1), Time: t0.Add(time.Duration(i) * time.Millisecond), IPVersion: 4, Flags: capture.SYN,
			Seq: uint32(i), Window: 500, TTL: 64, Src: netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), Dst: srv, SrcPort: 40000, DstPort: 80}
		tab.Add(&s)
	}
	for i := range 3000 {
		add(i)
	}
	if tab.store.live == 0 {
		t.Fatal("no attempt compacted")
	}
	tab.Flush()
	if decided != 3000 {
		t.Fatalf("%d flows decided, want 3000", decided)
	}
	if tab.store.nrec != 0 || len(tab.store.arena) != 0 || len(tab.store.mem.mapped) != 0 {
		t.Fatalf("after Flush the store keeps %d records, %d arena chunks, %d mapped chunks", tab.store.nrec, len(tab.store.arena), len(tab.store.mem.mapped))
	}
	for i := range 3000 {
		add(3000 + i)
	}
	tab.Flush()
	if decided != 6000 {
		t.Fatalf("%d flows decided, want 6000", decided)
	}
}

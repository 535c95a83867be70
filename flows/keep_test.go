package flows

import (
	"net/netip"
	"testing"
	"time"

	"github.com/tcpwhy/tcpwhy/capture"
)

// TestKeepPoolTrim checks that trim gives back the blocks whose objects
// are all free, keeps every object in use where it is, hands out the
// free objects it kept before allocating again, and keeps a block's worth
// when nothing is in use.
func TestKeepPoolTrim(t *testing.T) {
	var p keepPool[epRare]
	const blocks = 20
	objs := make([]*epRare, blocks*keepBlock)
	for i := range objs {
		objs[i] = p.get()
	}
	if len(p.blocks) != blocks || len(p.free) != 0 {
		t.Fatalf("after %d gets: %d blocks, %d free; want %d and 0", len(objs), len(p.blocks), len(p.free), blocks)
	}
	// One object in every hundred stays in use: 13 objects in 13 of the
	// 20 blocks, so that 7 blocks are all free.
	inUse := map[*epRare]int64{}
	for i, x := range objs {
		if i%100 == 0 {
			x.rst.Number = int64(i + 1)
			inUse[x] = x.rst.Number
			continue
		}
		p.put(x)
	}
	p.trim()
	if len(p.blocks) != len(inUse) || len(p.free) != len(inUse)*(keepBlock-1) {
		t.Fatalf("after trim: %d blocks, %d free; want %d and %d", len(p.blocks), len(p.free), len(inUse), len(inUse)*(keepBlock-1))
	}
	inBlock := func(x *epRare) bool {
		b := p.blocks[p.blockOf(x)]
		for k := range b {
			if &b[k] == x {
				return true
			}
		}
		return false
	}
	seen := map[*epRare]bool{}
	for _, x := range p.free {
		if _, used := inUse[x]; used || seen[x] || !inBlock(x) {
			t.Fatalf("free object %p: in use %v, listed twice %v, in a kept block %v", x, used, seen[x], inBlock(x))
		}
		seen[x] = true
	}
	for x, n := range inUse {
		if !inBlock(x) || x.rst.Number != n {
			t.Fatalf("object in use %p: in a kept block %v, value %d (want %d)", x, inBlock(x), x.rst.Number, n)
		}
	}
	for range len(p.free) {
		if x := p.get(); seen[x] != true {
			t.Fatalf("get returned %p, not one of the free objects kept", x)
		}
	}
	if len(p.blocks) != len(inUse) {
		t.Fatalf("get allocated while free objects were kept: %d blocks", len(p.blocks))
	}
	if p.get(); len(p.blocks) != len(inUse)+1 {
		t.Fatalf("get with none free: %d blocks, want %d", len(p.blocks), len(inUse)+1)
	}

	// Nothing in use: one block's worth stays.
	var q keepPool[flowRare]
	all := make([]*flowRare, blocks*keepBlock)
	for i := range all {
		all[i] = q.get()
	}
	for _, x := range all {
		q.put(x)
	}
	q.trim()
	if len(q.blocks) != 1 || len(q.free) != keepBlock {
		t.Fatalf("nothing in use, after trim: %d blocks, %d free; want 1 and %d", len(q.blocks), len(q.free), keepBlock)
	}
}

// TestKeepPoolTrimBacksOff checks that a pool whose free objects are
// spread over blocks still in use is not searched again at every trim.
func TestKeepPoolTrimBacksOff(t *testing.T) {
	var p keepPool[epRare]
	objs := make([]*epRare, 8*keepBlock)
	for i := range objs {
		objs[i] = p.get()
	}
	for i, x := range objs {
		if i%keepBlock != 0 {
			p.put(x)
		}
	}
	p.trim()
	if len(p.blocks) != 8 {
		t.Fatalf("%d blocks after trim, want the 8 that each hold an object in use", len(p.blocks))
	}
	if want := min(len(p.free)+len(p.free)/4, len(objs)); p.retryAt != want {
		t.Fatalf("retryAt %d, want %d", p.retryAt, want)
	}
	p.trim()
	if len(p.blocks) != 8 || p.retryAt == 0 {
		t.Fatalf("trim again at once: %d blocks, retryAt %d", len(p.blocks), p.retryAt)
	}
	// Once the objects in use are back, trim looks again.
	for i := 0; i < len(objs); i += keepBlock {
		p.put(objs[i])
	}
	p.trim()
	if len(p.blocks) != 1 || p.retryAt != 0 {
		t.Fatalf("after every object came back: %d blocks, retryAt %d; want 1 and 0", len(p.blocks), p.retryAt)
	}
}

// TestTableGivesBackRareState checks that the table's sweeps give back
// the endpoints' rare state a burst of refused connections took (a port
// scan in a live capture), once those flows are decided and released.
func TestTableGivesBackRareState(t *testing.T) {
	blocks := func() int {
		epRares.mu.Lock()
		defer epRares.mu.Unlock()
		return len(epRares.blocks)
	}
	before := blocks()
	t0 := time.Unix(1700000000, 0)
	srv := netip.MustParseAddr("10.0.0.2")
	var decided []*Flow
	tab := NewTable(Config{OnDone: func(f *Flow) { decided = append(decided, f) }})
	packet := int64(0)
	add := func(s capture.Segment) {
		packet++
		s.Packet = packet
		tab.Add(&s)
		for _, f := range decided {
			tab.Release(f)
		}
		decided = decided[:0]
	}
	// 20,000 refused connections in 1 s: a SYN, and a RST from the
	// server. Each flow keeps the RST in its server's rare state while it
	// waits for late packets.
	const probes = 20000
	for i := range probes {
		at := t0.Add(time.Duration(i) * 50 * time.Microsecond)
		cli := netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})
		port := uint16(1000 + i%50000)
		add(capture.Segment{Time: at, IPVersion: 4, Flags: capture.SYN, Seq: uint32(i), Window: 500, TTL: 64,
			Src: cli, Dst: srv, SrcPort: 40000, DstPort: port})
		add(capture.Segment{Time: at, IPVersion: 4, Flags: capture.RST | capture.ACK, Ack: uint32(i) + 1, TTL: 64,
			Src: srv, Dst: cli, SrcPort: port, DstPort: 40000})
	}
	peak := blocks()
	if peak-before < probes/keepBlock/2 {
		t.Fatalf("the burst took %d blocks of rare state (%d before, %d at the peak), want at least %d", peak-before, before, peak, probes/keepBlock/2)
	}
	// A minute later every probe is decided; a few sweeps follow.
	later := t0.Add(time.Minute)
	for k := range 3 {
		tab.Advance(later.Add(time.Duration(k) * sweepEvery))
		for _, f := range decided {
			tab.Release(f)
		}
		decided = decided[:0]
	}
	if n := tab.Len(); n != 0 {
		t.Fatalf("%d flows tracked a minute after the burst, want 0", n)
	}
	if after := blocks(); after-before > (peak-before)/4 {
		t.Fatalf("%d blocks of rare state after the burst was decided (%d before, %d at the peak): want the burst's given back", after, before, peak)
	}
}

package flows

import (
	"math/rand/v2"
	"net/netip"
	"reflect"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"github.com/tcpwhy/tcpwhy/capture"
)

func TestSymmetricHash(t *testing.T) {
	tuples := [][2]netip.AddrPort{
		{netip.MustParseAddrPort("10.0.0.1:40000"), netip.MustParseAddrPort("10.0.0.2:80")},
		{netip.MustParseAddrPort("10.0.0.1:40001"), netip.MustParseAddrPort("10.0.0.2:80")},
		{netip.MustParseAddrPort("10.0.0.2:40000"), netip.MustParseAddrPort("10.0.0.1:80")},
		{netip.MustParseAddrPort("[::ffff:10.0.0.1]:40000"), netip.MustParseAddrPort("[::ffff:10.0.0.2]:80")},
		{netip.MustParseAddrPort("[2001:db8::1]:50000"), netip.MustParseAddrPort("[2001:db8::2]:443")},
		{netip.MustParseAddrPort("[2001:db8::1]:443"), netip.MustParseAddrPort("[2001:db8::2]:50000")},
		{netip.MustParseAddrPort("10.0.0.9:1"), netip.MustParseAddrPort("10.0.0.9:1")},
		{netip.AddrPortFrom(netip.Addr{}, 0), netip.AddrPortFrom(netip.Addr{}, 0)},
	}
	seen := map[uint64]int{}
	for i, tu := range tuples {
		h := SymmetricHash(tu[0], tu[1])
		if r := SymmetricHash(tu[1], tu[0]); r != h {
			t.Errorf("%v: %#x one way, %#x the other", tu, h, r)
		}
		if j, dup := seen[h]; dup {
			t.Errorf("%v and %v hash alike (%#x)", tuples[j], tu, h)
		}
		seen[h] = i
	}
	// The bits are mixed: over many client ports, each of the low and
	// high 8 bits is set about half the time.
	var ones [64]int
	const n = 4096
	srv := netip.MustParseAddrPort("10.0.0.2:443")
	for p := range n {
		h := SymmetricHash(netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), uint16(30000+p)), srv)
		for b := range 64 {
			ones[b] += int(h >> b & 1)
		}
	}
	for b, c := range ones {
		if c < n*4/10 || c > n*6/10 {
			t.Errorf("bit %d set %d times of %d", b, c, n)
		}
	}
}

func TestEpAddrRoundTrip(t *testing.T) {
	for _, s := range []string{"10.0.0.1:40000", "[::ffff:10.0.0.1]:40000", "[2001:db8::1]:443", "[::]:0", "0.0.0.0:0"} {
		ap := netip.MustParseAddrPort(s)
		if got := epAddrOf(ap).addrPort(); got != ap {
			t.Errorf("%s: got %s back", s, got)
		}
	}
	if epAddrOf(netip.MustParseAddrPort("10.0.0.1:1")) == epAddrOf(netip.MustParseAddrPort("[::ffff:10.0.0.1]:1")) {
		t.Error("IPv4 and IPv4-mapped IPv6 addresses are one endpoint")
	}
	if got := epAddrOf(netip.AddrPort{}).addrPort(); got != (netip.AddrPort{}) {
		t.Errorf("zero AddrPort: got %s back", got)
	}
}

func TestStamp(t *testing.T) {
	for _, tm := range []time.Time{
		time.Unix(0, 0), time.Unix(1700000000, 123456789), time.Unix(-1, 999999999), time.Unix(1<<32, 1),
		time.Date(1700, 1, 1, 0, 0, 0, 5, time.UTC), time.Date(2262, 1, 1, 0, 0, 0, 5, time.UTC),
	} {
		s := stampOf(tm)
		if s == 0 || !s.time().Equal(tm) || s.time().Location() != time.UTC {
			t.Errorf("%v: stamp %d gives %v", tm, s, s.time())
		}
	}
	if s := stampOf(time.Time{}); s != 0 || !s.time().IsZero() || !(Packet{}).Time().IsZero() || !(Mark{}).Time().IsZero() {
		t.Errorf("zero time: stamp %d gives %v", s, s.time())
	}
	// Out of range: clamped, still ordered, never the zero stamp.
	lo, hi := stampOf(time.Date(1, 1, 2, 0, 0, 0, 0, time.UTC)), stampOf(time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC))
	mid := stampOf(time.Unix(1700000000, 0))
	if lo == 0 || !(lo < mid && mid < hi) {
		t.Errorf("clamped stamps %d, %d, %d out of order", lo, mid, hi)
	}
	a, b := stampOf(time.Unix(100, 0)), stampOf(time.Unix(103, 500))
	if d := b.sub(a); d != 3*time.Second+500 {
		t.Errorf("sub: %v", d)
	}
	if d := a.sub(b); d != -(3*time.Second + 500) {
		t.Errorf("sub: %v", d)
	}
	if d := hi.sub(0); d != time.Duration(1<<63-1) {
		t.Errorf("saturated sub: %v", d)
	}
	if a.add(3*time.Second+500) != b || hi.add(1000*time.Hour) < hi || lo.add(-1000*time.Hour) == 0 {
		t.Error("add")
	}
}

// tupleSeg is a segment of flow i (of many) from its client or server.
func tupleSeg(i int, fromClient bool, fl capture.Flags, at time.Time, num int64) capture.Segment {
	cli := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
	srv := netip.MustParseAddr("192.0.2.1")
	s := capture.Segment{Packet: num, Time: at, IPVersion: 4, Flags: fl, Seq: 1000, Window: 100, TTL: 64,
		Opt: capture.Options{WScale: -1}}
	if i%3 == 0 {
		cli = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i)})
		s.IPVersion = 6
		srv = netip.MustParseAddr("2001:db8::1")
	}
	s.Src, s.Dst, s.SrcPort, s.DstPort = cli, srv, uint16(1024+i%50000), 443
	if !fromClient {
		s.Src, s.Dst, s.SrcPort, s.DstPort = srv, cli, 443, uint16(1024+i%50000)
		s.Seq = 5000
	}
	return s
}

// TestTableMatchesModel opens and closes flows in random order (so that
// the hash table grows and shifts entries back on deletion) and checks
// every lookup against a map.
func TestTableMatchesModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var decided []*Flow
	tab := NewTable(Config{IdleClosed: time.Hour, OnDone: func(f *Flow) { decided = append(decided, f) }})
	model := map[int]*Flow{}
	at := time.Unix(1700000000, 0)
	num := int64(0)
	for step := range 60000 {
		i := rng.IntN(5000)
		num++
		at = at.Add(time.Microsecond)
		f, open := model[i]
		switch {
		case !open:
			seg := tupleSeg(i, true, capture.SYN, at, num)
			u := tab.Add(&seg)
			if !u.New || u.Dir != Client {
				t.Fatalf("step %d: SYN of flow %d: %+v", step, i, u)
			}
			model[i] = u.Flow
		case rng.IntN(4) == 0:
			// A RST from the server ends the flow; a new SYN with
			// another ISN then starts another.
			seg := tupleSeg(i, false, capture.RST|capture.ACK, at, num)
			seg.Ack = 1001
			if u := tab.Add(&seg); u.Flow != f || u.Dir != Server {
				t.Fatalf("step %d: RST of flow %d went to %p, want %p", step, i, u.Flow, f)
			}
			num++
			syn := tupleSeg(i, true, capture.SYN, at, num)
			syn.Seq = uint32(7000 + step)
			u := tab.Add(&syn)
			if !u.New || u.Flow == f || !u.Flow.Reused {
				t.Fatalf("step %d: new SYN of flow %d: %+v", step, i, u)
			}
			model[i] = u.Flow
		default:
			seg := tupleSeg(i, rng.IntN(2) == 0, capture.ACK, at, num)
			if u := tab.Add(&seg); u.Flow != f || u.New {
				t.Fatalf("step %d: segment of flow %d went to %p, want %p", step, i, u.Flow, f)
			}
		}
		if tab.Len() != len(model) {
			t.Fatalf("step %d: table has %d flows, model %d", step, tab.Len(), len(model))
		}
		// Reuse the decided flows' memory as the analysis does.
		for _, d := range decided {
			tab.Release(d)
		}
		decided = decided[:0]
	}
	for i, f := range model {
		seg := tupleSeg(i, false, capture.ACK, at, num)
		if got := tab.lookup(slotHash(symHash(epAddrFrom(seg.Src, seg.SrcPort), epAddrFrom(seg.Dst, seg.DstPort))),
			epAddrFrom(seg.Src, seg.SrcPort), epAddrFrom(seg.Dst, seg.DstPort)); got != f {
			t.Fatalf("flow %d: lookup found %p, want %p", i, got, f)
		}
	}
	tab.Flush()
	if tab.Len() != 0 || len(decided) != len(model) {
		t.Fatalf("after Flush: %d flows tracked, %d decided of %d", tab.Len(), len(decided), len(model))
	}
}

func TestRelease(t *testing.T) {
	var done []*Flow
	tab := NewTable(Config{OnDone: func(f *Flow) { done = append(done, f) }})
	at := time.Unix(1700000000, 0)
	seg := tupleSeg(1, true, capture.SYN, at, 1)
	first := tab.Add(&seg).Flow
	tab.Release(first) // not decided yet: ignored
	if tab.slab.inUse != 1 {
		t.Fatal("an undecided flow was taken back")
	}
	for _, s := range []capture.Segment{tupleSeg(1, false, capture.RST|capture.ACK, at, 2), tupleSeg(2, true, capture.SYN, at, 3)} {
		tab.Add(&s)
	}
	// A RST, then a SYN from the other side: the first flow is decided
	// when its tuple is reused.
	syn := tupleSeg(1, true, capture.SYN, at.Add(10*time.Second), 4)
	syn.Seq = 99
	second := tab.Add(&syn).Flow
	if len(done) != 1 || done[0] != first {
		t.Fatalf("decided %v, want the first flow", done)
	}
	if first.Ep[Server].RST().Number != 2 || first.Ep[Server].RSTCount != 1 {
		t.Fatalf("first flow's RST: %+v", first.Ep[Server].RST())
	}
	firstSeq := first.Seq
	tab.Release(first)
	tab.Release(first) // twice: no effect
	syn3 := tupleSeg(3, true, capture.SYN, at.Add(11*time.Second), 5)
	third := tab.Add(&syn3).Flow
	if third != first {
		t.Fatal("the released flow was not reused")
	}
	if third.ID != 4 || third.Ep[Server].RST().Number != 0 || third.Ep[Server].RSTCount != 0 || third.Ep[Client].SYN(0).Number != 5 || third.decided {
		t.Fatalf("reused flow not reset: ID %d, RST %d, SYN %d", third.ID, third.Ep[Server].RST().Number, third.Ep[Client].SYN(0).Number)
	}
	// The reused flow keeps the first one's SeqAnalysis, started afresh.
	var fresh SeqAnalysis
	fresh.Observe(Client, &syn3)
	if third.Seq == nil || third.Seq != firstSeq || *third.Seq != fresh {
		t.Fatalf("reused flow's SeqAnalysis %p (first flow's %p) not reset: %+v, want %+v", third.Seq, firstSeq, third.Seq, fresh)
	}
	syn4 := tupleSeg(4, true, capture.SYN, at.Add(12*time.Second), 6)
	if fourth := tab.Add(&syn4).Flow; fourth == first || fourth == second || fourth == third {
		t.Fatal("a flow released once was handed out twice")
	}
}

// TestRareState checks the packets kept outside the Flow: SYN
// retransmissions beyond the first, RSTs, a retransmitted last data
// segment, and ICMP errors.
func TestRareState(t *testing.T) {
	tab := NewTable(Config{})
	at := time.Unix(1700000000, 0)
	n := int64(0)
	add := func(fromClient bool, fl capture.Flags, seq, ack uint32, payload int, dt time.Duration) Update {
		n++
		at = at.Add(dt)
		s := tupleSeg(7, fromClient, fl, at, n)
		s.Seq, s.Ack, s.PayloadLen, s.IPID = seq, ack, payload, uint16(n)
		return tab.Add(&s)
	}
	for range MaxSYNs + 3 {
		add(true, capture.SYN, 100, 0, 0, time.Second)
	}
	f := add(false, capture.SYN|capture.ACK, 900, 101, 0, time.Millisecond).Flow
	c, s := f.Client(), f.Server()
	if c.SYNCount != MaxSYNs+3 || c.SYNs() != MaxSYNs || c.ISN() != 100 {
		t.Fatalf("SYNs: count %d, kept %d, ISN %d", c.SYNCount, c.SYNs(), c.ISN())
	}
	for i := range MaxSYNs {
		if p := c.SYN(i); p.Number != int64(i+1) || p.Time().Sub(c.SYN(0).Time()) != time.Duration(i)*time.Second {
			t.Fatalf("SYN %d: packet %d at %v", i, p.Number, p.Time())
		}
	}
	if c.SYN(MaxSYNs).Number != 0 || c.SYN(-1).Number != 0 || s.SYN(1).Number != 0 {
		t.Fatal("SYN beyond those kept")
	}
	add(true, capture.ACK, 101, 901, 0, time.Millisecond)
	add(true, capture.ACK|capture.PSH, 101, 901, 50, time.Millisecond)
	dataN := n
	if c.LastData().Number != dataN || c.LastNewData.Number != dataN || c.FirstData.Number != dataN {
		t.Fatalf("last data %d, last new data %d, want %d", c.LastData().Number, c.LastNewData.Number, dataN)
	}
	add(true, capture.ACK|capture.PSH, 101, 901, 50, 200*time.Millisecond)
	if c.LastData().Number != n || c.LastNewData.Number != dataN {
		t.Fatalf("after a retransmission: last data %d, last new data %d", c.LastData().Number, c.LastNewData.Number)
	}
	if c.Retransmits != 1 || c.TailRetransmits != 1 || c.TailFirst().Number != n || c.TailLast().Number != n {
		t.Fatalf("retransmits %d, tail %d from %d", c.Retransmits, c.TailRetransmits, c.TailFirst().Number)
	}
	add(true, capture.ACK|capture.PSH, 151, 901, 50, time.Millisecond)
	if c.LastData().Number != n || c.LastNewData.Number != n || c.TailRetransmits != 0 || c.TailFirst().Number != n-1 {
		t.Fatalf("after new data: last data %d, last new data %d, tail %d", c.LastData().Number, c.LastNewData.Number, c.TailRetransmits)
	}
	add(false, capture.RST, 901, 0, 0, time.Millisecond)
	add(false, capture.RST, 950, 0, 0, time.Millisecond)
	if s.RSTCount != 2 || s.RST().Seq != 901 || s.LastRST().Seq != 950 {
		t.Fatalf("RSTs: %d, first seq %d, last seq %d", s.RSTCount, s.RST().Seq, s.LastRST().Seq)
	}
	icmp := tupleSeg(7, true, capture.ACK, at, n+1)
	icmp.Kind, icmp.ICMPType, icmp.ICMPCode, icmp.ICMPFrom = capture.KindICMPError, 3, 1, netip.MustParseAddr("192.0.2.254")
	tab.Add(&icmp)
	tab.Add(&icmp)
	if in := c.ICMP(); in == nil || in.Count != 2 || in.Packet.Number != n+1 || in.Code != 1 || in.From != icmp.ICMPFrom || s.ICMP() != nil {
		t.Fatalf("ICMP: %+v", c.ICMP())
	}
	if f.Last.Number != n+1 {
		t.Fatalf("last packet %d, want the ICMP error %d", f.Last.Number, n+1)
	}
}

// TestFlowLayout checks what Endpoint's field order promises (issue 7):
// the fields a segment's lookup and Flow.add use for nearly every segment,
// of the sender and of its peer (those before FIN, and FIN.Number), lie
// within two cache lines for each endpoint. Where a Flow starts within a
// line is measured: Go puts an 8-byte header before it.
func TestFlowLayout(t *testing.T) {
	heap := make([]*Flow, 100) // on the heap, as the table's flows are
	for i := range heap {
		heap[i] = new(Flow)
	}
	start := uintptr(unsafe.Pointer(heap[0])) % 64
	for _, f := range heap {
		if s := uintptr(unsafe.Pointer(f)) % 64; s != start {
			t.Fatalf("Flows start at bytes %d and %d of a cache line", start, s)
		}
	}
	flowSink = heap
	var f Flow
	for d := range f.Ep {
		lo := start + unsafe.Offsetof(f.Ep) + uintptr(d)*unsafe.Sizeof(f.Ep[0])
		hi := lo + unsafe.Offsetof(f.Ep[0].FIN) + unsafe.Offsetof(f.Ep[0].FIN.Number) + unsafe.Sizeof(f.Ep[0].FIN.Number)
		if lines := (hi-1)/64 - lo/64 + 1; lines > 2 {
			t.Errorf("endpoint %d: its per-segment fields (bytes %d-%d from the Flow's cache line) span %d cache lines, want 2", d, lo, hi-1, lines)
		}
	}
	for _, off := range []uintptr{unsafe.Offsetof(f.Ep[0].addr), unsafe.Offsetof(f.Ep[0].lastNumber), unsafe.Offsetof(f.Ep[0].State), unsafe.Offsetof(f.Ep[0].RSTCount)} {
		if off >= unsafe.Offsetof(f.Ep[0].FIN) {
			t.Errorf("a per-segment field of Endpoint at byte %d lies after FIN (%d)", off, unsafe.Offsetof(f.Ep[0].FIN))
		}
	}
}

// flowSink makes TestFlowLayout's flows escape to the heap.
var flowSink []*Flow

// TestSizes guards the memory a tracked flow costs (issue 7): a Flow
// must fit Go's 1024-byte size class (it was 1200 bytes, in the 1280
// class), and a Packet stay 40 bytes.
func TestSizes(t *testing.T) {
	if n := unsafe.Sizeof(Flow{}); n > 1016 {
		t.Errorf("sizeof(Flow) = %d (Endpoint %d, ZeekConn %d), want at most 1016 (1024 with Go's header)",
			n, unsafe.Sizeof(Endpoint{}), unsafe.Sizeof(ZeekConn{}))
	}
	// What an allocation takes, header and size class included.
	keep := make([]*Flow, 0, 1000)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 1000 {
		keep = append(keep, new(Flow))
	}
	runtime.ReadMemStats(&after)
	if n := (after.TotalAlloc - before.TotalAlloc) / uint64(len(keep)); n != 1024 {
		t.Errorf("a Flow allocation takes %d bytes, want 1024", n)
	}
	if n := unsafe.Sizeof(Packet{}); n != 40 {
		t.Errorf("sizeof(Packet) = %d, want 40", n)
	}
	if n := unsafe.Sizeof(Mark{}); n != 16 {
		t.Errorf("sizeof(Mark) = %d, want 16", n)
	}
	if n := unsafe.Sizeof(closedFlow{}); n > 48 {
		t.Errorf("sizeof(closedFlow) = %d, want at most 48", n)
	}
	// The garbage collector must have nothing to scan in a closedStore's
	// records (a flood keeps millions), and cannot see pointers in them:
	// they are outside the heap (offHeap).
	if hasPointers(reflect.TypeOf(closedFlow{})) {
		t.Error("closedFlow holds pointers")
	}
	// Eight hash-table slots to a cache line, and nothing in them for the
	// collector to scan.
	if n := unsafe.Sizeof(slot{}); n != 8 {
		t.Errorf("sizeof(slot) = %d, want 8", n)
	}
	if hasPointers(reflect.TypeOf(slot{})) {
		t.Error("slot holds pointers")
	}
	// A compacted flow codes its SeqAnalysis's fields, and cannot keep
	// pointers in it.
	if hasPointers(reflect.TypeOf(SeqAnalysis{})) {
		t.Error("SeqAnalysis holds pointers: encodeSeq cannot code them")
	}
}

// hasPointers reports whether a value of type t holds pointers.
func hasPointers(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Struct:
		for i := range t.NumField() {
			if hasPointers(t.Field(i).Type) {
				return true
			}
		}
		return false
	case reflect.Array:
		return t.Len() > 0 && hasPointers(t.Elem())
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return false
	}
	return true
}

// TestSeqAnalysisLazy checks that a flow has a SeqAnalysis only when the
// table runs the analysis.
func TestSeqAnalysisLazy(t *testing.T) {
	at := time.Unix(1700000000, 0)
	for _, off := range []bool{false, true} {
		tab := NewTable(Config{NoSeqAnalysis: off})
		syn := tupleSeg(1, true, capture.SYN, at, 1)
		f := tab.Add(&syn).Flow
		ack := tupleSeg(1, false, capture.ACK, at, 2)
		tab.Add(&ack)
		if (f.Seq == nil) != off {
			t.Errorf("NoSeqAnalysis %v: Flow.Seq %p", off, f.Seq)
		}
	}
}

// TestExpiryByKind checks that each flow is decided once it has been
// idle for its own limit, within a sweep, whatever the kinds of the flows
// before it in the order of activity: a handshake that waits minutes and
// an established connection that waits hours must not hold back a closed
// flow behind them.
func TestExpiryByKind(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	srv := netip.MustParseAddr("192.0.2.1")
	seg := func(cli int, fromClient bool, fl capture.Flags, seq, ack uint32, at time.Duration) capture.Segment {
		c := netip.AddrFrom4([4]byte{10, 0, 0, byte(cli)})
		s := capture.Segment{Time: t0.Add(at), IPVersion: 4, Flags: fl, Seq: seq, Ack: ack, Window: 100, TTL: 64,
			Opt: capture.Options{WScale: -1}, Src: c, Dst: srv, SrcPort: 40000, DstPort: 443}
		if !fromClient {
			s.Src, s.Dst, s.SrcPort, s.DstPort = srv, c, 443, 40000
		}
		return s
	}
	const syn, ack, synack, fin, rst = capture.SYN, capture.ACK, capture.SYN | capture.ACK, capture.FIN | capture.ACK, capture.RST | capture.ACK
	s := time.Second
	segs := []capture.Segment{
		seg(1, true, syn, 100, 0, 0),   // 1: an attempt never answered
		seg(2, true, syn, 100, 0, 1*s), // 2: established, then silent
		seg(2, false, synack, 500, 101, 1*s+1),
		seg(2, true, ack, 101, 501, 1*s+2),
		seg(3, true, syn, 100, 0, 2*s), // 3: closed with FINs
		seg(3, false, synack, 500, 101, 2*s+1),
		seg(3, true, ack, 101, 501, 2*s+2),
		seg(3, true, fin, 101, 501, 2*s+3),
		seg(3, false, fin, 501, 102, 2*s+4),
		seg(3, true, ack, 102, 502, 2*s+5),
		seg(4, true, syn, 100, 0, 3*s), // 4: refused
		seg(4, false, rst, 0, 101, 3*s+1),
	}
	// Another connection's packets every 50 ms keep the clock going.
	const tick = 50 * time.Millisecond
	segs = append(segs, seg(9, true, syn, 100, 0, 4*s), seg(9, false, synack, 500, 101, 4*s+1), seg(9, true, ack, 101, 501, 4*s+2))
	for at, n := 4*s+tick, uint32(0); at < 4*time.Minute; at, n = at+tick, n+1 {
		segs = append(segs, seg(9, true, ack|capture.PSH, 101+n, 501, at))
	}
	for i := range segs {
		segs[i].Packet = int64(i + 1)
	}
	var now time.Duration
	decidedAt := map[netip.Addr]time.Duration{}
	tab := NewTable(Config{OnDone: func(f *Flow) { decidedAt[f.Client().Addr().Addr()] = now }})
	for i := range segs {
		now = segs[i].Time.Sub(t0)
		tab.Add(&segs[i])
	}
	for cli, last := range map[byte]time.Duration{1: 3 * time.Minute, 3: 2*s + 5 + 5*s, 4: 3*s + 1 + 5*s} {
		at, ok := decidedAt[netip.AddrFrom4([4]byte{10, 0, 0, cli})]
		if !ok {
			t.Errorf("flow %d not decided", cli)
			continue
		}
		// Decided at the first sweep at or after its limit; sweeps come
		// every sweepEvery of capture time, packets every tick.
		if at < last || at > last+sweepEvery+tick {
			t.Errorf("flow %d decided at %v, want within %v of %v", cli, at, sweepEvery+tick, last)
		}
	}
	if at, ok := decidedAt[netip.AddrFrom4([4]byte{10, 0, 0, 2})]; ok {
		t.Errorf("the established flow was decided at %v, before its 2 hours", at)
	}
}

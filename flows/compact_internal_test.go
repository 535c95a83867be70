package flows

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"testing"
	"time"
	"unsafe"
)

// TestCompactRoundTrip codes flows whose every scalar field holds a
// random value (small, large, near a reference, or extreme) and checks
// that decoding gives them back.
func TestCompactRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	value := func(ref uint64) uint64 {
		switch rng.IntN(6) {
		case 0:
			return 0
		case 1:
			return uint64(rng.IntN(300))
		case 2:
			return ref + uint64(rng.IntN(2_000_000)) - 1_000_000
		case 3:
			return ref + uint64(rng.IntN(1000))*1000
		case 4:
			return [...]uint64{1 << 63, 1<<64 - 1, 1 << 62, noTimeBits, 1 << 60, 1<<60 - 1}[rng.IntN(6)]
		default:
			return rng.Uint64()
		}
	}
	var shared, full codeBook
	for i := range maxBitmaps {
		bm := make([]byte, flowLayout.bitmapLen)
		binary.LittleEndian.PutUint32(bm, uint32(i)|1<<31)
		full.bitmapID(bm)
	}
	for range 2000 {
		var f Flow
		f.First.t = stamp(rng.Uint64())
		for _, l := range flowLayout.leaves {
			setLeaf(&f, l, value)
		}
		// The closedFlow keeps these, not the coding.
		f.Ep[0].addr, f.Ep[1].addr = epAddr{}, epAddr{}
		f.ID, f.Last, f.list, f.listed = 0, Mark{}, 0, false
		for i, book := range []*codeBook{nil, &shared, &full} {
			var g Flow
			b := encodeFlow(nil, &f, book)
			if !decodeFlow(b, &g, book) {
				t.Fatalf("book %d: %d-byte coding does not decode", i, len(b))
			}
			if f != g {
				t.Fatalf("book %d: round trip changed the flow:\n%+v\n%+v", i, f, g)
			}
			if decodeFlow(b[:len(b)-1], new(Flow), book) {
				t.Fatalf("book %d: a truncated coding decodes", i)
			}
		}
	}
	if n := len(shared.ids); n < 1000 || n >= maxBitmaps {
		t.Errorf("the shared book holds %d bitmaps", n)
	}
	if len(full.ids) != maxBitmaps {
		t.Errorf("the full book grew to %d bitmaps", len(full.ids))
	}
	// A coding that names a bitmap the book lacks is refused.
	var f Flow
	f.Ep[0].Bytes = 1
	b := encodeFlow(nil, &f, &shared)
	if decodeFlow(b, new(Flow), &codeBook{}) {
		t.Error("a coding decodes with another book")
	}
}

// TestCodeBookNamesBitmaps checks that flows with the same nonzero
// fields share their bitmap, which the coding names in a byte, and that
// the fields equal to those of the bitmap's template (the first flow
// coded with it) cost their bit alone.
func TestCodeBookNamesBitmaps(t *testing.T) {
	var book codeBook
	var f Flow
	f.Ep[0].Bytes, f.First.t, f.Ep[0].Packets = 7, stampOf(time.Unix(1e9, 0)), 3
	plain := encodeFlow(nil, &f, nil)
	first := encodeFlow(nil, &f, &book)
	f.Ep[0].Bytes, f.First.t, f.Ep[0].Packets = 8, f.First.t+5000, 4
	second := encodeFlow(nil, &f, &book)
	if len(book.ids) != 1 {
		t.Fatalf("the book holds %d bitmaps, want 1", len(book.ids))
	}
	// Without the book: the references (the time in 10 bytes, the rest
	// in a byte each), the bitmap, the three fields. With it: the time,
	// against the base, in a byte; the bitmap's number in a byte; a byte
	// of bits that name the fields that differ from the template's: none
	// for the first flow, the template itself, all three for the second.
	fields := len(plain) - 13 - flowLayout.bitmapLen
	if want := 4 + 1 + 1; len(first) != want {
		t.Errorf("the first coding takes %d bytes, want %d (%x)", len(first), want, first)
	}
	if want := len(first) + fields; len(second) != want {
		t.Errorf("the second coding takes %d bytes, want %d (%x)", len(second), want, second)
	}
	var g Flow
	if !decodeFlow(second, &g, &book) || g != f {
		t.Errorf("the second coding gives back %+v", g)
	}
	f.Ep[0].Bytes, f.First.t, f.Ep[0].Packets = 7, f.First.t-5000, 3
	g = Flow{}
	if !decodeFlow(first, &g, &book) || g != f {
		t.Errorf("the first coding gives back %+v", g)
	}
}

// BenchmarkCompact measures coding and decoding a closed flow (a
// handshake, a request, a response and a FIN close) as the table does
// when it compacts the flow and when the flow expires.
func BenchmarkCompact(b *testing.B) {
	var closed *Flow
	tab := NewTable(Config{NoSeqAnalysis: true, OnDone: func(f *Flow) {
		if closed == nil {
			g := *f
			closed = &g
		}
	}})
	for _, s := range benchSegments(1) {
		tab.Add(&s)
	}
	tab.Flush()
	if closed == nil {
		b.Fatal("no flow decided")
	}
	closed.link, closed.listed = 0, false
	var s closedStore
	var scratch []byte
	var c cref
	b.Run("store", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if c != 0 {
				s.freeRec(c)
			}
			c = s.newRec()
			var ok bool
			if scratch, ok = s.put(c, closed, scratch); !ok {
				b.Fatal("the store did not take the flow")
			}
		}
		b.ReportMetric(float64(s.rec(c).dataLen), "B/flow")
	})
	b.Run("load", func(b *testing.B) {
		var f Flow
		for b.Loop() {
			f = Flow{}
			s.get(c, &f)
		}
		if f != *closed {
			b.Fatal("load gave another flow")
		}
	})
}

// TestSeqCodingRoundTrip codes sequence analyses whose every field holds
// a random value (zero, small, near a reference, or any), against random
// references, and checks that decoding gives them back and that a cut
// coding is refused.
func TestSeqCodingRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for range 2000 {
		refs := flowRefs{number: rng.Int64N(1 << 40), t: stamp(rng.Uint64()), seq: [2]uint32{rng.Uint32(), rng.Uint32()}}
		var a, b SeqAnalysis
		base := unsafe.Pointer(&a)
		for _, l := range seqLayout.leaves {
			v := [...]uint64{0, uint64(rng.IntN(300)), rng.Uint64(),
				uint64(refs.t-stampBias) + uint64(rng.IntN(1_000_000)),
				uint64(refs.seq[rng.IntN(2)]) + uint64(rng.IntN(100_000))}[rng.IntN(5)]
			l.set(base, v)
		}
		code := encodeSeq([]byte{7}, &a, &refs)
		rest, ok := decodeSeq(append(code[1:], 9), &b, &refs)
		if !ok || a != b || len(rest) != 1 || rest[0] != 9 {
			t.Fatalf("round trip: ok %v, equal %v, rest %v", ok, a == b, rest)
		}
		// Every nonzero field needs its bytes: without the last one the
		// coding must be refused.
		if a != (SeqAnalysis{}) {
			if _, ok := decodeSeq(code[1:len(code)-1], new(SeqAnalysis), &refs); ok {
				t.Fatalf("a cut coding decoded")
			}
		}
	}
}

// TestRareCodingRoundTrip codes the rare state of flows (either
// endpoint's, with 0 to MaxSYNs-1 SYN retransmissions, and the flow's)
// whose every field holds a random value, and checks that decoding gives
// it back and that a cut coding is refused.
func TestRareCodingRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	fill := func(lo *layout, base unsafe.Pointer, refs *flowRefs) {
		for _, l := range lo.leaves {
			v := [...]uint64{0, uint64(rng.IntN(300)), rng.Uint64(), uint64(refs.number) + uint64(rng.IntN(10_000)),
				uint64(refs.t) + uint64(rng.IntN(1_000_000_000)), uint64(refs.seq[rng.IntN(2)]) + uint64(rng.IntN(100_000))}[rng.IntN(6)]
			l.set(base, v)
		}
	}
	for range 2000 {
		refs := flowRefs{number: rng.Int64N(1 << 40), t: stamp(rng.Uint64()), seq: [2]uint32{rng.Uint32(), rng.Uint32()}}
		var f Flow
		for d := range f.Ep {
			if rng.IntN(3) == 0 {
				continue
			}
			r := new(epRare)
			fill(&epRareLayout, unsafe.Pointer(r), &refs)
			for range rng.IntN(MaxSYNs) {
				var p Packet
				fill(&packetLayout, unsafe.Pointer(&p), &refs)
				r.syns = append(r.syns, p)
			}
			f.Ep[d].rare = r
		}
		if rng.IntN(2) == 0 {
			f.rare = new(flowRare)
			fill(&flowRareLayout, unsafe.Pointer(f.rare), &refs)
		}
		seq := rng.IntN(2) == 0
		code := encodeRare([]byte{7}, &f, &refs, seq)
		var g Flow
		rest, hasSeq, ok := decodeRare(append(code[1:], 9), &g, &refs)
		if !ok || len(rest) != 1 || rest[0] != 9 || hasSeq != seq {
			t.Fatalf("round trip: ok %v, rest %v, sequence analysis %v (coded %v)", ok, rest, hasSeq, seq)
		}
		for d := range f.Ep {
			if !reflect.DeepEqual(f.Ep[d].rare, g.Ep[d].rare) {
				t.Fatalf("endpoint %d: %+v, decoded %+v", d, f.Ep[d].rare, g.Ep[d].rare)
			}
		}
		if !reflect.DeepEqual(f.rare, g.rare) {
			t.Fatalf("flow: %+v, decoded %+v", f.rare, g.rare)
		}
		if _, _, ok := decodeRare(code[1:len(code)-1], new(Flow), &refs); ok && len(code) > 2 {
			t.Fatalf("a cut coding decoded")
		}
	}
}

// setLeaf sets leaf l of f to value(ref), ref the value the coding
// likely codes it against: the flow's first time for 64-bit leaves, a
// sequence number for 32-bit ones, 0 for the rest.
func setLeaf(f *Flow, l leaf, value func(ref uint64) uint64) {
	var ref uint64
	switch l.kind {
	case leaf8:
		ref = uint64(f.First.t)
	case leaf4:
		ref = uint64(f.Ep[0].NextSeq)
	}
	l.set(unsafe.Pointer(f), value(ref))
}

// set stores v, cut to the leaf's size, in the leaf of the struct at
// base.
func (l leaf) set(base unsafe.Pointer, v uint64) {
	p := unsafe.Add(base, l.off)
	switch l.kind {
	case leaf8:
		*(*uint64)(p) = v
	case leaf4:
		*(*uint32)(p) = uint32(v)
	case leaf2:
		*(*uint16)(p) = uint16(v)
	case leaf1:
		*(*uint8)(p) = uint8(v)
	default:
		*(*bool)(p) = v != 0
	}
}

// TestPutKeepsOnlyUncodedPointers puts flows with rare state in a store:
// only an ICMP error is kept as a pointer, and get gives back the same
// flow.
func TestPutKeepsOnlyUncodedPointers(t *testing.T) {
	var s closedStore
	for _, withICMP := range []bool{false, true} {
		var f Flow
		f.First = Mark{Number: 10, t: 1 << 40}
		f.Ep[0].rareState().rst = Packet{Number: 12, t: 1<<40 + 5000, Seq: 7, Flags: 4}
		f.Ep[1].rareState().syns = []Packet{{Number: 11, t: 1<<40 + 1000, Seq: 9, Flags: 18}}
		f.rareState().challengeACK = Packet{Number: 13, t: 1<<40 + 9000}
		if withICMP {
			f.Ep[1].rare.icmp = &ICMPError{}
		}
		c := s.newRec()
		if _, ok := s.put(c, &f, nil); !ok {
			t.Fatal("put refused the flow")
		}
		if kept := s.rec(c).hasPtrs; kept != withICMP {
			t.Errorf("ICMP error %v: pointers kept %v", withICMP, kept)
		}
		var g Flow
		s.get(c, &g)
		g.Ep[0].addr, g.Ep[1].addr = f.Ep[0].addr, f.Ep[1].addr
		if !reflect.DeepEqual(f, g) {
			t.Errorf("ICMP error %v: got back\n%+v\nwant\n%+v", withICMP, g, f)
		}
		if withICMP && g.Ep[1].rare.icmp != f.Ep[1].rare.icmp {
			t.Error("the ICMP error is not the same object")
		}
	}
}

// TestAddrCoding codes endpoints of each kind, and a cut coding, as a
// compacted flow's coding starts.
func TestAddrCoding(t *testing.T) {
	eps := []epAddr{
		epAddrOf(netip.MustParseAddrPort("192.0.2.7:443")),
		epAddrOf(netip.MustParseAddrPort("[2001:db8::1]:8080")),
		epAddrOf(netip.MustParseAddrPort("[::ffff:192.0.2.7]:80")),
		{kind: 4, hi: 1, lo: 5, port: 9}, // not a canonical IPv4 address
		{},
	}
	for i, x := range eps {
		for _, y := range eps {
			b := appendAddr(appendAddr([]byte{}, x), y)
			if x.kind == 4 && i == 0 && len(b) != 7+len(appendAddr(nil, y)) {
				t.Errorf("%v codes into %d bytes, want 7", x.addrPort(), len(b)-len(appendAddr(nil, y)))
			}
			gx, gy, rest, ok := decodeAddrs(append(b, 42))
			if !ok || gx != x || gy != y || len(rest) != 1 || rest[0] != 42 {
				t.Fatalf("%+v, %+v: decoded %+v, %+v, rest %v, ok %v", x, y, gx, gy, rest, ok)
			}
			for n := range b {
				if _, _, _, ok := decodeAddrs(b[:n]); ok {
					t.Fatalf("%+v, %+v: %d of %d bytes decode", x, y, n, len(b))
				}
			}
		}
	}
}

// TestTemplateRoundTrip codes flows that share a few bitmaps, each a
// template's fields with some changed (to another nonzero value, so
// that the bitmap stays), with one book, and checks that each decodes to
// itself, that a cut coding does not decode, and that the codings of
// flows nearer their template are shorter.
func TestTemplateRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	nonzero := func(ref uint64) uint64 {
		for {
			var v uint64
			switch rng.IntN(5) {
			case 0:
				v = uint64(rng.IntN(300))
			case 1:
				v = ref + uint64(rng.IntN(2_000_000)) - 1_000_000
			case 2:
				v = ref + uint64(rng.IntN(1000))*1000
			case 3:
				v = [...]uint64{1 << 63, 1<<64 - 1, 1 << 62, noTimeBits, 1 << 60, 1<<60 - 1}[rng.IntN(6)]
			default:
				v = rng.Uint64()
			}
			if v != 0 {
				return v
			}
		}
	}
	// set gives leaf l of f a nonzero value that fits its size.
	set := func(f *Flow, l leaf) {
		for {
			setLeaf(f, l, nonzero)
			if leafValue(unsafe.Add(unsafe.Pointer(f), l.off), l.kind) != 0 {
				return
			}
		}
	}
	var templates [4]Flow
	for k := range templates {
		for _, l := range flowLayout.leaves {
			if rng.IntN(3) > 0 {
				set(&templates[k], l)
			}
		}
	}
	var book codeBook
	var sizes [2]struct{ n, bytes int }
	for i := range 4000 {
		// Three flows in a row share a bitmap: the coding tries the
		// last bitmap's template first.
		f := templates[i/3%len(templates)]
		// From one field changed in ten to every field.
		changed := [2]int{10, 1}[rng.IntN(2)]
		for _, l := range flowLayout.leaves {
			if leafValue(unsafe.Add(unsafe.Pointer(&f), l.off), l.kind) != 0 && rng.IntN(changed) == 0 {
				set(&f, l)
			}
		}
		b := encodeFlow(nil, &f, &book)
		var g Flow
		if !decodeFlow(b, &g, &book) || f != g {
			t.Fatalf("flow %d: round trip changed the flow:\n%+v\n%+v", i, f, g)
		}
		if decodeFlow(b[:len(b)-1], new(Flow), &book) {
			t.Fatalf("flow %d: a cut coding decodes", i)
		}
		if i >= 3*len(templates) {
			s := &sizes[changed/10]
			s.n++
			s.bytes += len(b)
		}
	}
	if len(book.ids) != len(templates) || len(book.templates) != len(templates) {
		t.Errorf("the book holds %d bitmaps and %d templates, want %d", len(book.ids), len(book.templates), len(templates))
	}
	near, far := float64(sizes[1].bytes)/float64(sizes[1].n), float64(sizes[0].bytes)/float64(sizes[0].n)
	if near >= far*0.7 {
		t.Errorf("codings of flows one field in ten from their template take %.0f bytes, of flows with every field changed %.0f", near, far)
	}
}

package flows

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"reflect"
	"slices"
	"unsafe"
)

// A closed (or reset) flow stays in the table IdleClosed (5 s) for late
// packets, and at a busy capture's connection rate most of the flows
// tracked at once are such closed flows. When the table tracks more than
// Config.CompactAbove flows, it keeps a flow that closed (from the next
// call on) as a closedFlow in its closedStore: a 48-byte record and a
// coding of about 220 bytes for a request/response connection, 75 for a
// lone SYN. The coding holds the endpoints' addresses, then the flow's
// scalar fields: a bitmap of the nonzero ones (named by its number in
// the store's codeBook), then each nonzero 64-, 32- and 16-bit field as
// a varint delta from the value it is most likely near (the flow's first
// packet number or time, a side's sequence number, or one of the last
// two fields of its size) or as how far back an equal older field is, a
// byte as itself, a true bool by its bit alone. The rare state of the
// flow and its endpoints (resets, retransmission runs, SYN
// retransmissions) and the SeqAnalysis follow, coded the same way; the
// few pointers left (Zeek's data blocks, an ICMP error) are kept as they
// are. A late packet, the flow's expiry, eviction and Flush turn it back
// into the same Flow (decodeFlow undoes encodeFlow exactly;
// TestCompactRoundTrip), so compacting changes nothing but memory.
//
// The coding walks Flow's and SeqAnalysis's fields with reflect once, at
// start-up (see layout), and reads and writes them through their
// offsets: it needs no update when a field is added, and a field of a
// kind it cannot code (a slice, map, string or interface) stops the
// program at start-up, in any test.

// closedFlow is a compacted closed flow (see above), a compacted attempt
// that one side left unanswered (see Table.compactUnanswered), or a
// compacted open connection that fell quiet (see Table.compactIdle), in a
// closedStore: 48 bytes and the coding (which starts with the endpoints'
// addresses), no pointers.
type closedFlow struct {
	// lastNumber and last are the flow's Last mark: the list's order and
	// the expiry time.
	lastNumber int64
	last       stamp
	// id is the flow's ID, for Flush's order.
	id int64
	// prev and next link the table's list of compacted flows of the same
	// idle list, in order of last activity.
	prev, next cref
	// data is the coding of the endpoints and the scalar fields,
	// dataLen bytes.
	data dataRef
	// h is the flow's slot hash (slotHash), to find its slot.
	h       uint32
	dataLen uint16
	// list is the idle list (see listOf) the flow was in.
	list uint8
	// hasPtrs is set when the flow has pointers that put does not code:
	// the store keeps them (closedStore.ptrs).
	hasPtrs bool
}

// hasTuple reports whether the endpoints of the compacted flow c are a
// and b, in either order.
func (s *closedStore) hasTuple(c cref, a, b epAddr) bool {
	r := s.rec(c)
	x, y, _, ok := decodeAddrs(s.block(r.data, int(r.dataLen)))
	return ok && sameTuple(x, y, a, b)
}

// Tags of an endpoint's address in a coding (appendAddr).
const (
	addrIPv4 = iota + 1 // 4 bytes of IPv4 address, 2 of port
	addrRaw             // the kind, 8 bytes of hi, 8 of lo, 2 of port
)

// appendAddr appends the coding of the endpoint e to dst.
func appendAddr(dst []byte, e epAddr) []byte {
	if e.kind == 4 && e.hi == 0 && e.lo>>32 == 0xffff {
		dst = append(dst, addrIPv4)
		dst = binary.LittleEndian.AppendUint32(dst, uint32(e.lo))
	} else {
		dst = append(dst, addrRaw, e.kind)
		dst = binary.LittleEndian.AppendUint64(dst, e.hi)
		dst = binary.LittleEndian.AppendUint64(dst, e.lo)
	}
	return binary.LittleEndian.AppendUint16(dst, e.port)
}

// decodeAddr decodes the coding of an endpoint that appendAddr made at
// the start of b, and returns the rest of b; false when b does not start
// with one.
func decodeAddr(b []byte) (epAddr, []byte, bool) {
	var e epAddr
	switch {
	case len(b) >= 7 && b[0] == addrIPv4:
		e.kind, e.lo = 4, 0xffff<<32|uint64(binary.LittleEndian.Uint32(b[1:]))
		b = b[5:]
	case len(b) >= 20 && b[0] == addrRaw:
		e.kind, e.hi, e.lo = b[1], binary.LittleEndian.Uint64(b[2:]), binary.LittleEndian.Uint64(b[10:])
		b = b[18:]
	default:
		return e, nil, false
	}
	e.port = binary.LittleEndian.Uint16(b)
	return e, b[2:], true
}

// decodeAddrs decodes the two endpoints that start a compacted flow's
// coding b, and returns the rest of b.
func decodeAddrs(b []byte) (x, y epAddr, rest []byte, ok bool) {
	if x, b, ok = decodeAddr(b); ok {
		y, b, ok = decodeAddr(b)
	}
	return x, y, b, ok
}

// leafKind is how a scalar field of Flow is coded.
type leafKind uint8

const (
	leaf8    leafKind = iota // 64 bits: tagged varint delta
	leaf4                    // 32 bits: tagged varint delta
	leaf2                    // 16 bits: tagged varint delta
	leaf1                    // 8 bits: the byte
	leafBool                 // a bool: true when its bit in the bitmap is set
)

// leaf is one scalar field of Flow: its offset and coding.
type leaf struct {
	off  uintptr
	kind leafKind
	// mask selects the leaf's bytes in the 8-byte word that holds it
	// (fields are aligned to their size), as the word is loaded.
	mask uint64
}

// maxFlowPtrs bounds the pointers a closedFlow keeps: Flow's pointer
// fields that put does not code, and its endpoints' ICMP errors in the
// last two.
const maxFlowPtrs = 8

// layout is how the coding walks a struct: its scalar fields (leaves),
// in memory order, and which of them lie in each of its 8-byte words, so
// that zero words are skipped whole.
type layout struct {
	// leaves are the struct's scalar fields, in memory order.
	leaves []leaf
	// ptrs are the offsets of its pointer fields.
	ptrs []uintptr
	// words[w] is the first leaf in the 8-byte word w and beyond
	// (words[w+1] ends its leaves).
	words []uint16
	// bitmapLen is the length of the bitmap of nonzero leaves that
	// starts a coding.
	bitmapLen int
	// maxCoding is the longest the coding of the leaves can be, after
	// the bitmap.
	maxCoding int
	// leafBytes selects, in each 8-byte word of the struct, the bytes of
	// its leaves.
	leafBytes []uint64
}

var (
	// flowLayout is Flow's, without the fields the closedFlow keeps (the
	// endpoints' addresses, ID, Last and the idle list) and those it
	// replaces (the idle-list link and listed). Its ptrs are the pointer
	// fields a closedFlow keeps.
	flowLayout = newLayout(reflect.TypeFor[Flow](), "Flow", "link", "listed", "ID", "Last", "list")
	// seqLayout is SeqAnalysis's, which holds no pointers (TestSizes).
	seqLayout = newLayout(reflect.TypeFor[SeqAnalysis](), "SeqAnalysis")
	// epRareLayout, flowRareLayout and packetLayout code an endpoint's
	// and a flow's rare state: epRare's SYN retransmissions (a slice)
	// are coded as a count and a Packet each, and its ICMP error (a
	// pointer) is kept as a pointer.
	epRareLayout   = newLayout(reflect.TypeFor[epRare](), "epRare", "syns")
	flowRareLayout = newLayout(reflect.TypeFor[flowRare](), "flowRare")
	packetLayout   = newLayout(reflect.TypeFor[Packet](), "Packet")
)

// rareOffsets are the offsets in Flow of the pointers to the rare state
// (Ep[0].rare, Ep[1].rare, rare), which a closedFlow codes.
var rareOffsets = [3]uintptr{
	unsafe.Offsetof(Flow{}.Ep) + unsafe.Offsetof(Endpoint{}.rare),
	unsafe.Offsetof(Flow{}.Ep) + unsafe.Sizeof(Endpoint{}) + unsafe.Offsetof(Endpoint{}.rare),
	unsafe.Offsetof(Flow{}.rare),
}

// keptAsPointer reports whether put keeps Flow's pointer field at off as
// it is (not the sequence analysis or the rare state, which it codes).
func keptAsPointer(off uintptr) bool {
	return off != flowSeqOffset && off != rareOffsets[0] && off != rareOffsets[1] && off != rareOffsets[2]
}

func init() {
	// A closedFlow keeps Flow's pointer fields and its endpoints' ICMP
	// errors (the last two of its pointers).
	if len(flowLayout.ptrs)+2 > maxFlowPtrs {
		panic(fmt.Sprintf("flows: Flow has %d pointer fields, a closedFlow keeps %d", len(flowLayout.ptrs), maxFlowPtrs-2))
	}
	if len(epRareLayout.ptrs) != 1 || len(flowRareLayout.ptrs) != 0 || len(packetLayout.ptrs) != 0 {
		panic("flows: the rare state holds pointers its coding does not keep")
	}
	if flowLayout.bitmapLen > maxBitmapLen {
		panic(fmt.Sprintf("flows: Flow's bitmap of nonzero fields takes %d bytes, encodeFlow has room for %d", flowLayout.bitmapLen, maxBitmapLen))
	}
	if len(seqLayout.ptrs) > 0 {
		panic("flows: SeqAnalysis holds pointers, which its coding cannot keep")
	}
}

// newLayout walks the struct type t, leaving out its top-level fields
// named in skip.
func newLayout(t reflect.Type, name string, skip ...string) layout {
	var lo layout
	for i := range t.NumField() {
		f := t.Field(i)
		if slices.Contains(skip, f.Name) {
			continue
		}
		lo.add(f.Type, f.Offset, name+"."+f.Name)
	}
	lo.bitmapLen = (len(lo.leaves) + 7) / 8
	lo.leafBytes = make([]uint64, (t.Size()+7)/8)
	for _, l := range lo.leaves {
		lo.leafBytes[l.off/8] |= l.mask
		lo.maxCoding += [...]int{leaf8: binary.MaxVarintLen64, leaf4: binary.MaxVarintLen64, leaf2: binary.MaxVarintLen32, leaf1: 1, leafBool: 0}[l.kind]
	}
	words := (t.Size() + 7) / 8
	lo.words = make([]uint16, words+1)
	w := uintptr(0)
	for i, l := range lo.leaves {
		for ; w <= l.off/8; w++ {
			lo.words[w] = uint16(i)
		}
	}
	for ; w <= words; w++ {
		lo.words[w] = uint16(len(lo.leaves))
	}
	return lo
}

// add adds the scalar and pointer fields of a value of type t at offset
// off.
func (lo *layout) add(t reflect.Type, off uintptr, name string) {
	switch t.Kind() {
	case reflect.Struct:
		if t == reflect.TypeFor[epAddr]() {
			// The endpoints' addresses are kept in the closedFlow.
			return
		}
		for i := range t.NumField() {
			f := t.Field(i)
			lo.add(f.Type, off+f.Offset, name+"."+f.Name)
		}
	case reflect.Array:
		for i := range t.Len() {
			lo.add(t.Elem(), off+uintptr(i)*t.Elem().Size(), fmt.Sprintf("%s[%d]", name, i))
		}
	case reflect.Pointer, reflect.UnsafePointer:
		lo.ptrs = append(lo.ptrs, off)
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64:
		var k leafKind
		switch t.Size() {
		case 1:
			k = leaf1
			if t.Kind() == reflect.Bool {
				k = leafBool
			}
		case 8:
			k = leaf8
		case 4:
			k = leaf4
		case 2:
			k = leaf2
		default:
			panic(fmt.Sprintf("flows: %s has size %d", name, t.Size()))
		}
		size := t.Size()
		if off%size != 0 {
			panic(fmt.Sprintf("flows: %s is not aligned to its size", name))
		}
		mask := uint64(1)<<(8*size) - 1
		if size == 8 {
			mask = ^uint64(0)
		}
		lo.leaves = append(lo.leaves, leaf{off: off, kind: k, mask: mask << (8 * (off % 8))})
	default:
		panic(fmt.Sprintf("flows: %s is a %s, which a closedFlow cannot keep", name, t.Kind()))
	}
}

// The references a 64-bit field is coded against (the low three bits of
// its varint): itself (zigzag), the flow's first packet number, its first
// time as a stamp and in Unix nanoseconds (Zeek's timers), the last and
// the last but one nonzero 64-bit field (packet numbers and times
// alternate), Zeek's unset timer. The next bit is set when the delta was
// a whole number of microseconds and is coded divided by 1000 (times in
// a microsecond capture). A first byte tagRaw8 marks 8 raw bytes.
const (
	tagSelf = iota
	tagNumber
	tagStamp
	tagNanos
	tagPrev
	tagPrev2
	tagNoTime
	// tagRecent marks a field equal to an older one of its size than
	// tagPrev2's: the varint is then how far back, shifted by 4 (by 3
	// with tagRecent4 for 32-bit fields, by 2 with tagRecent2 for 16-bit
	// ones, whose other tags are the references and the last two).
	tagRecent
	tagRaw8 = 0xff
)

// tagRecent's counterparts for 32- and 16-bit fields.
const (
	tagRecent4 = 5
	tagRecent2 = 3
)

// recentLen is how many nonzero fields of each size recent keeps.
const recentLen = 8

// recent holds the last nonzero fields of one size that a coding has
// passed, so that a field equal to one of them is coded by how far back
// it is.
type recent[T uint64 | uint32 | uint16] struct {
	v [recentLen]T
	n uint
}

// push adds v, the newest.
func (r *recent[T]) push(v T) {
	r.v[r.n%recentLen] = v
	r.n++
}

// back returns the value j back (0 is the newest), or 0 when there is
// none.
func (r *recent[T]) back(j int) T {
	if uint(j) >= r.n {
		return 0
	}
	return r.v[(r.n-1-uint(j))%recentLen]
}

// find returns how far back (2 or more; the last two have their own
// tags) the newest value equal to v is, or 0 when none is.
func (r *recent[T]) find(v T) int {
	for j := 2; j < recentLen && uint(j) < r.n; j++ {
		if r.v[(r.n-1-uint(j))%recentLen] == v {
			return j
		}
	}
	return 0
}

// older returns the value that find's result j names, decoding; false
// when j names none.
func (r *recent[T]) older(j uint64) (T, bool) {
	if j < 2 || j >= recentLen || j >= uint64(r.n) {
		return 0, false
	}
	return r.back(int(j)), true
}

// noTimeBits is zeekNoTime as a uint64.
var noTimeBits = func() uint64 { v := zeekNoTime; return uint64(v) }()

// flowRefs are the values a coded flow's fields are deltas from.
type flowRefs struct {
	number int64
	t      stamp
	seq    [2]uint32
}

func zigzag(d int64) uint64   { return uint64(d<<1) ^ uint64(d>>63) }
func unzigzag(u uint64) int64 { return int64(u>>1) ^ -int64(u&1) }

// refsOf returns the references f's fields are coded against.
func refsOf(f *Flow) flowRefs {
	return flowRefs{number: f.First.Number, t: f.First.t, seq: [2]uint32{f.Ep[0].NextSeq, f.Ep[1].NextSeq}}
}

// encodeFlow appends the coding of f's scalar fields (but its endpoints'
// addresses, ID, Last and idle-list fields, which the closedFlow keeps)
// to dst and returns it: the references, then the fields. With a book,
// the first time is coded against the book's base, the bitmap of nonzero
// fields is named by its number in the book, and the fields are coded
// against the book's template for that bitmap (encodeAgainst); when the
// book is full, a 0 and the bitmap follow instead, and the fields are
// coded alone, as without a book.
func encodeFlow(dst []byte, f *Flow, book *codeBook) []byte {
	refs := refsOf(f)
	dst = binary.AppendUvarint(dst, zigzag(refs.number))
	if book != nil {
		dst = book.appendTime(dst, refs.t)
	} else {
		dst = binary.AppendUvarint(dst, uint64(refs.t))
	}
	dst = binary.AppendUvarint(dst, uint64(refs.seq[0]))
	dst = binary.AppendUvarint(dst, uint64(refs.seq[1]))
	if book == nil {
		return flowLayout.encode(dst, unsafe.Pointer(f), &refs)
	}
	// While flows come with the nonzero fields of the flow coded before
	// them (a SYN flood's attempts all have the same), the last bitmap's
	// template is tried first, which spares the bitmap's pass. Where
	// they come mixed (busy.pcap's connections), the try would mostly
	// fail, after walking part of the flow.
	if id := book.lastID; book.repeats && id != 0 && int(id) <= len(book.templates) {
		at := len(dst)
		if out, ok := flowLayout.encodeAgainst(binary.AppendUvarint(dst, uint64(id)), unsafe.Pointer(f), book.templates[id-1], &refs); ok {
			return out
		}
		dst = dst[:at]
	}
	var bits [maxBitmapLen]byte
	bm := bits[:flowLayout.bitmapLen]
	flowLayout.nonzero(bm, unsafe.Pointer(f))
	last := book.lastID
	id := book.bitmapID(bm)
	book.repeats = id == last
	if id == 0 {
		return flowLayout.encode(append(dst, 0), unsafe.Pointer(f), &refs)
	}
	dst = binary.AppendUvarint(dst, uint64(id))
	dst, _ = flowLayout.encodeAgainst(dst, unsafe.Pointer(f), book.template(id, f), &refs)
	return dst
}

// maxBitmapLen bounds flowLayout's bitmapLen (checked at start-up).
const maxBitmapLen = 64

// nonzero sets bm, the bitmap of the struct at base (of layout lo), to
// its nonzero leaves.
func (lo *layout) nonzero(bm []byte, base unsafe.Pointer) {
	clear(bm)
	words := unsafe.Slice((*uint64)(base), len(lo.words)-1)
	for w, word := range words {
		if word == 0 {
			continue
		}
		for i := int(lo.words[w]); i < int(lo.words[w+1]); i++ {
			if word&lo.leaves[i].mask != 0 {
				bm[i/8] |= 1 << (i % 8)
			}
		}
	}
}

// leafValue returns the value of the leaf of kind k at p.
func leafValue(p unsafe.Pointer, k leafKind) uint64 {
	switch k {
	case leaf8:
		return *(*uint64)(p)
	case leaf4:
		return uint64(*(*uint32)(p))
	case leaf2:
		return uint64(*(*uint16)(p))
	}
	return uint64(*(*uint8)(p))
}

// encodeAgainst appends the coding of the struct at base (of layout lo)
// against the template t, a struct with the same nonzero leaves: a bit
// for each of them but the bools (true in both), set when the leaf
// differs from the template's, then the leaves that differ, each coded
// as encode codes it against the leaves before it that differ. The
// leaves equal to the template's cost their bit alone: a SYN flood's
// attempts differ in their times, sequence numbers and packet numbers,
// not in their options, states and counts. It walks the struct by 8-byte
// words and looks at the leaves of those that differ from the
// template's only. It returns dst unchanged and false when the struct's
// nonzero leaves are not the template's.
func (lo *layout) encodeAgainst(dst []byte, base unsafe.Pointer, t *template, refs *flowRefs) ([]byte, bool) {
	at := len(dst)
	nd := (len(t.order) + 7) / 8
	dst = slices.Grow(dst, nd+lo.maxCoding)
	out := dst[at : at+nd+lo.maxCoding]
	diff := out[:nd]
	clear(diff)
	n := nd
	var r8 recent[uint64]
	var r4 recent[uint32]
	var r2 recent[uint16]
	words := unsafe.Slice((*uint64)(base), len(lo.words)-1)
	tw := unsafe.Slice((*uint64)(unsafe.Pointer(t.f)), len(lo.words)-1)
	k := 0 // the template's nonzero leaves but the bools before this word
	for w, word := range words {
		d := word ^ tw[w]
		if d == 0 {
			k += int(t.count[w])
			continue
		}
		for i := int(lo.words[w]); i < int(lo.words[w+1]); i++ {
			l := lo.leaves[i]
			nz := word&l.mask != 0
			if nz != (tw[w]&l.mask != 0) {
				return dst[:at], false
			}
			if !nz || l.kind == leafBool {
				continue
			}
			if d&l.mask != 0 {
				diff[k/8] |= 1 << (k % 8)
				p := unsafe.Add(base, l.off)
				switch l.kind {
				case leaf8:
					v := *(*uint64)(p)
					n += put8(out[n:], v, refs, &r8)
					r8.push(v)
				case leaf4:
					v := *(*uint32)(p)
					n += put4(out[n:], v, refs, &r4)
					r4.push(v)
				case leaf2:
					v := *(*uint16)(p)
					n += put2(out[n:], v, &r2)
					r2.push(v)
				default:
					out[n] = *(*uint8)(p)
					n++
				}
			}
			k++
		}
	}
	return dst[:at+n], true
}

// decodeAgainst sets the struct at base (of layout lo), which must be
// zero, from the coding that encodeAgainst made with the template t at
// the start of b, and returns the rest of b; false when b does not start
// with such a coding.
func (lo *layout) decodeAgainst(b []byte, base unsafe.Pointer, t *template, refs *flowRefs) ([]byte, bool) {
	nd := (len(t.order) + 7) / 8
	if len(b) < nd {
		return nil, false
	}
	diff := b[:nd]
	b = b[nd:]
	// The template's leaves, then the ones that differ over them.
	words := unsafe.Slice((*uint64)(base), len(lo.words)-1)
	tw := unsafe.Slice((*uint64)(unsafe.Pointer(t.f)), len(lo.words)-1)
	for w := range words {
		words[w] |= tw[w] & lo.leafBytes[w]
	}
	var r8 recent[uint64]
	var r4 recent[uint32]
	var r2 recent[uint16]
	for j, byt := range diff {
		for byt != 0 {
			k := j*8 + bits.TrailingZeros8(byt)
			byt &= byt - 1
			if k >= len(t.order) {
				return nil, false
			}
			l := lo.leaves[t.order[k]]
			p := unsafe.Add(base, l.off)
			var ok bool
			if b, ok = getLeaf(b, p, l.kind, refs, &r8, &r4, &r2); !ok || leafValue(p, l.kind) == 0 {
				// Not the coding of a nonzero leaf.
				return nil, false
			}
		}
	}
	return b, true
}

// template is a flow that the flows with the same nonzero fields are
// coded against (layout.encodeAgainst).
type template struct {
	// f is the flow, its pointers cleared.
	f *Flow
	// order are its nonzero leaves but the bools, by index in
	// flowLayout.leaves; count holds how many of them each 8-byte word
	// of the flow holds.
	order []uint16
	count []uint8
}

// newTemplate returns a template made of f.
func newTemplate(f *Flow) *template {
	lo := &flowLayout
	t := &template{f: new(Flow), count: make([]uint8, len(lo.words)-1)}
	*t.f = *f
	base := unsafe.Pointer(t.f)
	for _, off := range lo.ptrs {
		*(*unsafe.Pointer)(unsafe.Add(base, off)) = nil
	}
	for i, l := range lo.leaves {
		if l.kind != leafBool && leafValue(unsafe.Add(base, l.off), l.kind) != 0 {
			t.order = append(t.order, uint16(i))
			t.count[l.off/8]++
		}
	}
	return t
}

// encode appends the coding of the struct at base, of layout lo, to dst:
// the bitmap of its nonzero leaves, then each of them coded against refs
// or the previous nonzero leaf of its size. The coding is written into
// room made at once for the longest it can be (maxCoding), not appended
// a byte at a time.
func (lo *layout) encode(dst []byte, base unsafe.Pointer, refs *flowRefs) []byte {
	at := len(dst)
	dst = slices.Grow(dst, lo.bitmapLen+lo.maxCoding)
	out := dst[at : at+lo.bitmapLen+lo.maxCoding]
	bm := out[:lo.bitmapLen]
	clear(bm)
	n := lo.bitmapLen
	// The last nonzero fields of each size.
	var r8 recent[uint64]
	var r4 recent[uint32]
	var r2 recent[uint16]
	words := unsafe.Slice((*uint64)(base), len(lo.words)-1)
	for w, word := range words {
		if word == 0 {
			continue
		}
		for i := int(lo.words[w]); i < int(lo.words[w+1]); i++ {
			l := lo.leaves[i]
			p := unsafe.Add(base, l.off)
			switch l.kind {
			case leaf8:
				v := *(*uint64)(p)
				if v == 0 {
					continue
				}
				n += put8(out[n:], v, refs, &r8)
				r8.push(v)
			case leaf4:
				v := *(*uint32)(p)
				if v == 0 {
					continue
				}
				n += put4(out[n:], v, refs, &r4)
				r4.push(v)
			case leaf2:
				v := *(*uint16)(p)
				if v == 0 {
					continue
				}
				n += put2(out[n:], v, &r2)
				r2.push(v)
			case leaf1:
				v := *(*uint8)(p)
				if v == 0 {
					continue
				}
				out[n] = v
				n++
			default:
				if !*(*bool)(p) {
					continue
				}
			}
			bm[i/8] |= 1 << (i % 8)
		}
	}
	return dst[:at+n]
}

// put8 writes the coding of the nonzero 64-bit field v at the start of
// out and returns its length; r holds the nonzero 64-bit fields before
// it.
func put8(out []byte, v uint64, refs *flowRefs, r *recent[uint64]) int {
	// The nearest reference (the first of equals); only its delta is
	// tried in microseconds (a division is dearer than the rest).
	best, ref, tag := zigzag(int64(v)), uint64(0), uint64(tagSelf)
	for j, c := range [6]uint64{uint64(refs.number), uint64(refs.t), uint64(refs.t - stampBias), r.back(0), r.back(1), noTimeBits} {
		if z := zigzag(int64(v - c)); z < best {
			best, ref, tag = z, c, uint64(j+1)
		}
	}
	delta := int64(v - ref)
	micro := uint64(0)
	if delta%1000 == 0 {
		best, micro = zigzag(delta/1000), 8
	}
	if best >= 1<<3 {
		// Two bytes or more: one if an older field holds the same.
		if j := r.find(v); j > 0 {
			out[0] = byte(j<<4 | tagRecent)
			return 1
		}
	}
	if best >= 1<<60 {
		out[0] = tagRaw8
		binary.LittleEndian.PutUint64(out[1:9], v)
		return 9
	}
	return binary.PutUvarint(out, best<<4|micro|tag)
}

// put4 writes the coding of the nonzero 32-bit field v at the start of
// out and returns its length; r holds the nonzero 32-bit fields before
// it.
func put4(out []byte, v uint32, refs *flowRefs, r *recent[uint32]) int {
	best, tag := uint64(v), uint64(0)
	if z := zigzag(int64(int32(v - refs.seq[0]))); z < best {
		best, tag = z, 1
	}
	if z := zigzag(int64(int32(v - refs.seq[1]))); z < best {
		best, tag = z, 2
	}
	if z := zigzag(int64(int32(v - r.back(0)))); z < best {
		best, tag = z, 3
	}
	if z := zigzag(int64(int32(v - r.back(1)))); z < best {
		best, tag = z, 4
	}
	if best >= 1<<4 {
		if j := r.find(v); j > 0 {
			best, tag = uint64(j), tagRecent4
		}
	}
	return binary.PutUvarint(out, best<<3|tag)
}

// put2 writes the coding of the nonzero 16-bit field v at the start of
// out and returns its length; r holds the nonzero 16-bit fields before
// it.
func put2(out []byte, v uint16, r *recent[uint16]) int {
	best, tag := uint64(v), uint64(0)
	if z := zigzag(int64(int16(v - r.back(0)))); z < best {
		best, tag = z, 1
	}
	if z := zigzag(int64(int16(v - r.back(1)))); z < best {
		best, tag = z, 2
	}
	if best >= 1<<5 {
		if j := r.find(v); j > 0 {
			best, tag = uint64(j), tagRecent2
		}
	}
	return binary.PutUvarint(out, best<<2|tag)
}

// decodeFlow sets the scalar fields of f that encodeFlow codes, which
// must be zero, from the coding b that encodeFlow made with book. It
// reports false when b is not such a coding.
func decodeFlow(b []byte, f *Flow, book *codeBook) bool {
	rest, _, ok := decodeFlowPrefix(b, f, book)
	return ok && len(rest) == 0
}

// decodeFlowPrefix is decodeFlow for a coding that starts b: it returns
// the rest of b and the references the fields were coded against.
func decodeFlowPrefix(b []byte, f *Flow, book *codeBook) ([]byte, flowRefs, bool) {
	var refs flowRefs
	var vals [4]uint64
	for i := range vals {
		if i == 1 && book != nil {
			t, rest, ok := book.time(b)
			if !ok {
				return nil, refs, false
			}
			vals[i], b = uint64(t), rest
			continue
		}
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return nil, refs, false
		}
		vals[i], b = v, b[n:]
	}
	refs.number, refs.t = unzigzag(vals[0]), stamp(vals[1])
	refs.seq = [2]uint32{uint32(vals[2]), uint32(vals[3])}
	if book != nil {
		id, n := binary.Uvarint(b)
		if n <= 0 {
			return nil, refs, false
		}
		b = b[n:]
		if id != 0 {
			if id > uint64(len(book.templates)) {
				return nil, refs, false
			}
			b, ok := flowLayout.decodeAgainst(b, unsafe.Pointer(f), book.templates[id-1], &refs)
			return b, refs, ok
		}
	}
	b, ok := flowLayout.decode(b, unsafe.Pointer(f), &refs)
	return b, refs, ok
}

// decode sets the struct at base, of layout lo, which must be zero, from
// the coding that encode made at the start of b, and returns the rest of
// b; false when b does not start with such a coding.
func (lo *layout) decode(b []byte, base unsafe.Pointer, refs *flowRefs) ([]byte, bool) {
	if len(b) < lo.bitmapLen {
		return nil, false
	}
	bm, b := b[:lo.bitmapLen], b[lo.bitmapLen:]
	var r8 recent[uint64]
	var r4 recent[uint32]
	var r2 recent[uint16]
	for i := 0; i < len(lo.leaves); i++ {
		if bm[i/8]>>(i%8) == 0 {
			// No more leaves in this byte of the bitmap.
			i |= 7
			continue
		}
		if bm[i/8]&(1<<(i%8)) == 0 {
			continue
		}
		l := lo.leaves[i]
		p := unsafe.Add(base, l.off)
		if l.kind == leafBool {
			*(*bool)(p) = true
			continue
		}
		var ok bool
		if b, ok = getLeaf(b, p, l.kind, refs, &r8, &r4, &r2); !ok {
			return nil, false
		}
	}
	return b, true
}

// getLeaf decodes the leaf of kind k (not a bool) that starts b into p,
// as encode coded it, pushing it on the recent fields of its size, and
// returns the rest of b; false when b does not start with such a coding.
func getLeaf(b []byte, p unsafe.Pointer, kind leafKind, refs *flowRefs, r8 *recent[uint64], r4 *recent[uint32], r2 *recent[uint16]) ([]byte, bool) {
	if kind == leaf1 {
		if len(b) == 0 {
			return nil, false
		}
		*(*uint8)(p), b = b[0], b[1:]
		return b, true
	}
	if kind == leaf8 && len(b) > 0 && b[0] == tagRaw8 {
		if len(b) < 9 {
			return nil, false
		}
		v := binary.LittleEndian.Uint64(b[1:])
		r8.push(v)
		*(*uint64)(p), b = v, b[9:]
		return b, true
	}
	u, n := binary.Uvarint(b)
	if n <= 0 {
		return nil, false
	}
	b = b[n:]
	switch kind {
	case leaf8:
		var r uint64
		switch u & 7 {
		case tagNumber:
			r = uint64(refs.number)
		case tagStamp:
			r = uint64(refs.t)
		case tagNanos:
			r = uint64(refs.t - stampBias)
		case tagPrev:
			r = r8.back(0)
		case tagPrev2:
			r = r8.back(1)
		case tagNoTime:
			r = noTimeBits
		case tagRecent:
			v, ok := r8.older(u >> 4)
			if !ok || u&8 != 0 {
				return nil, false
			}
			r8.push(v)
			*(*uint64)(p) = v
			return b, true
		}
		d := unzigzag(u >> 4)
		if u&8 != 0 {
			d *= 1000
		}
		v := r + uint64(d)
		r8.push(v)
		*(*uint64)(p) = v
	case leaf4:
		v := uint32(u >> 3)
		switch t := u & 7; {
		case t == tagRecent4:
			var ok bool
			if v, ok = r4.older(u >> 3); !ok {
				return nil, false
			}
		case t > tagRecent4:
			return nil, false
		case t != 0:
			r := [4]uint32{refs.seq[0], refs.seq[1], r4.back(0), r4.back(1)}[t-1]
			v = r + uint32(int32(unzigzag(u>>3)))
		}
		r4.push(v)
		*(*uint32)(p) = v
	default:
		v := uint16(u >> 2)
		switch t := u & 3; t {
		case tagRecent2:
			var ok bool
			if v, ok = r2.older(u >> 2); !ok {
				return nil, false
			}
		case 1, 2:
			v = r2.back(int(t-1)) + uint16(int16(unzigzag(u>>2)))
		}
		r2.push(v)
		*(*uint16)(p) = v
	}
	return b, true
}

// put keeps f, a closed flow, in the record c (new); scratch is a buffer
// for the coding. It returns the grown scratch, and false when the arena
// is full or the coding too large (f is then not kept).
func (s *closedStore) put(c cref, f *Flow, scratch []byte) ([]byte, bool) {
	// The rare state is coded after the flow (a flag each), so that a
	// compacted flow keeps no object of it, and the sequence analysis
	// after that (its flag with the rare state's, then its fields
	// against the flow's references), so that f keeps it for reuse: a
	// compacted SYN-flood attempt then costs no 136-byte SeqAnalysis.
	sa := f.Seq
	f.Seq = nil
	scratch = appendAddr(appendAddr(scratch[:0], f.Ep[0].addr), f.Ep[1].addr)
	scratch = encodeFlow(scratch, f, &s.book)
	f.Seq = sa
	refs := refsOf(f)
	scratch = encodeRare(scratch, f, &refs, sa != nil)
	if sa != nil {
		scratch = encodeSeq(scratch, sa, &refs)
	}
	if units(len(scratch)) > maxCodedUnits {
		return scratch, false
	}
	d := s.alloc(len(scratch))
	if d == 0 {
		return scratch, false
	}
	copy(s.block(d, len(scratch)), scratch)
	r := s.rec(c)
	r.data, r.dataLen = d, uint16(len(scratch))
	r.id = f.ID
	r.lastNumber, r.last, r.list = f.Last.Number, f.Last.t, f.list
	base := unsafe.Pointer(f)
	var ptrs *[maxFlowPtrs]unsafe.Pointer
	keep := func(i int, p unsafe.Pointer) {
		if p != nil {
			if ptrs == nil {
				ptrs = new([maxFlowPtrs]unsafe.Pointer)
			}
			ptrs[i] = p
		}
	}
	for i, off := range flowLayout.ptrs {
		if keptAsPointer(off) {
			keep(i, *(*unsafe.Pointer)(unsafe.Add(base, off)))
		}
	}
	for d := range f.Ep {
		if r := f.Ep[d].rare; r != nil && r.icmp != nil {
			keep(maxFlowPtrs-2+d, unsafe.Pointer(r.icmp))
		}
	}
	if ptrs != nil {
		if s.ptrs == nil {
			s.ptrs = map[cref]*[maxFlowPtrs]unsafe.Pointer{}
		}
		s.ptrs[c], r.hasPtrs = ptrs, true
	}
	return scratch, true
}

// get sets f, which must be zero, to the flow the record c holds.
func (s *closedStore) get(c cref, f *Flow) {
	r := s.rec(c)
	sa := f.Seq // a reused flow's zeroed analysis, or nil
	a, b, data, ok := decodeAddrs(s.block(r.data, int(r.dataLen)))
	var refs flowRefs
	if ok {
		data, refs, ok = decodeFlowPrefix(data, f, &s.book)
	}
	f.Seq = nil
	hasSeq := false
	if ok {
		data, hasSeq, ok = decodeRare(data, f, &refs)
	}
	if ok && hasSeq {
		if sa == nil {
			sa = new(SeqAnalysis)
		}
		data, ok = decodeSeq(data, sa, &refs)
	}
	if !ok || len(data) != 0 {
		panic("flows: a compacted flow does not decode")
	}
	f.Ep[0].addr, f.Ep[1].addr = a, b
	f.ID, f.Last, f.list = r.id, Mark{Number: r.lastNumber, t: r.last}, r.list
	base := unsafe.Pointer(f)
	ptrs := s.ptrs[c]
	if ptrs != nil {
		for i, off := range flowLayout.ptrs {
			if keptAsPointer(off) {
				*(*unsafe.Pointer)(unsafe.Add(base, off)) = ptrs[i]
			}
		}
		for d := range f.Ep {
			if p := ptrs[maxFlowPtrs-2+d]; p != nil {
				f.Ep[d].rare.icmp = (*ICMPError)(p)
			}
		}
	}
	if hasSeq {
		f.Seq = sa
	}
}

// encodeRare appends the coding of f's rare state to dst: a byte of flags
// (bit d: Ep[d].rare, bit 2: f.rare, bit 3: hasSeq, that a sequence
// analysis follows), then each present one against refs, an endpoint's
// SYN retransmissions as their count and a Packet each. The endpoints'
// ICMP errors are not coded (put keeps them).
func encodeRare(dst []byte, f *Flow, refs *flowRefs, hasSeq bool) []byte {
	flags := len(dst)
	dst = append(dst, 0)
	if hasSeq {
		dst[flags] = 1 << 3
	}
	for d := range f.Ep {
		r := f.Ep[d].rare
		if r == nil {
			continue
		}
		dst[flags] |= 1 << d
		dst = epRareLayout.encode(dst, unsafe.Pointer(r), refs)
		dst = binary.AppendUvarint(dst, uint64(len(r.syns)))
		for i := range r.syns {
			dst = packetLayout.encode(dst, unsafe.Pointer(&r.syns[i]), refs)
		}
	}
	if f.rare != nil {
		dst[flags] |= 1 << 2
		dst = flowRareLayout.encode(dst, unsafe.Pointer(f.rare), refs)
	}
	return dst
}

// decodeRare sets f's rare state, whose pointers must be nil, from the
// coding at the start of b that encodeRare made with refs, and returns the
// rest of b and whether a sequence analysis follows.
func decodeRare(b []byte, f *Flow, refs *flowRefs) ([]byte, bool, bool) {
	if len(b) == 0 {
		return nil, false, false
	}
	flags, b := b[0], b[1:]
	ok := true
	for d := range f.Ep {
		if flags&(1<<d) == 0 {
			continue
		}
		r := newEpRare()
		if b, ok = epRareLayout.decode(b, unsafe.Pointer(r), refs); !ok {
			return nil, false, false
		}
		n, k := binary.Uvarint(b)
		if k <= 0 || n > MaxSYNs {
			return nil, false, false
		}
		b = b[k:]
		if n > 0 {
			r.syns = make([]Packet, n)
			for i := range r.syns {
				if b, ok = packetLayout.decode(b, unsafe.Pointer(&r.syns[i]), refs); !ok {
					return nil, false, false
				}
			}
		}
		f.Ep[d].rare = r
	}
	if flags&(1<<2) != 0 {
		r := flowRares.get()
		if b, ok = flowRareLayout.decode(b, unsafe.Pointer(r), refs); !ok {
			return nil, false, false
		}
		f.rare = r
	}
	return b, flags&(1<<3) != 0, flags < 1<<4
}

// flowSeqOffset is the offset of Flow.Seq, which put codes (the other
// pointer fields are kept as they are).
const flowSeqOffset = unsafe.Offsetof(Flow{}.Seq)

// encodeSeq appends the coding of a to dst, its fields coded against
// refs, the references of its flow's coding.
func encodeSeq(dst []byte, a *SeqAnalysis, refs *flowRefs) []byte {
	return seqLayout.encode(dst, unsafe.Pointer(a), refs)
}

// decodeSeq sets a from the coding at the start of b that encodeSeq
// made with refs, and returns the rest of b.
func decodeSeq(b []byte, a *SeqAnalysis, refs *flowRefs) ([]byte, bool) {
	*a = SeqAnalysis{}
	return seqLayout.decode(b, unsafe.Pointer(a), refs)
}

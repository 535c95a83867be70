package flows

import "encoding/binary"

// maxBitmaps bounds a codeBook's bitmaps: past it, a coding carries its
// bitmap itself. A capture shows few patterns of nonzero fields (108 in
// the 300,000 connections of the busy bench capture, 35 in a SYN flood),
// so the bound only stops a capture made to defeat the book. Each bitmap
// keeps a template (about 1.5 KiB: a Flow and its list of nonzero
// fields), so a full book holds about 6 MiB.
const maxBitmaps = 1 << 12

// codeBook is what the codings of a closedStore share: the bitmaps of
// nonzero fields that start Flow's codings (numbered from 1, so that a
// coding names its bitmap in a byte or two instead of carrying its 34
// bytes) and the time the flows' first times are coded against. A coding
// is only readable with the book it was made with; a store's book lives
// as long as the codings in it (release resets both).
type codeBook struct {
	// ids numbers the bitmaps; keys holds them by number (from 1).
	ids  map[string]uint32
	keys []string
	// last and lastID are the bitmap bitmapID returned last and its
	// number: a SYN flood's codings all have the same, which a
	// comparison finds sooner than the map's hash of 34 bytes.
	last   string
	lastID uint32
	// repeats is set when the last flow coded had the bitmap of the
	// flow coded before it (encodeFlow).
	repeats bool
	// base is the first time of the first flow coded; baseSet is false
	// until then.
	base    stamp
	baseSet bool
	// templates holds, by number, the template of each bitmap: the
	// first flow coded with it (layout.encodeAgainst).
	templates []*template
}

// template returns the template of the bitmap numbered id, made of f
// (which has that bitmap) when the bitmap has none yet.
func (b *codeBook) template(id uint32, f *Flow) *template {
	if int(id) <= len(b.templates) {
		return b.templates[id-1]
	}
	if int(id) != len(b.templates)+1 {
		panic("flows: a bitmap numbered without its template")
	}
	t := newTemplate(f)
	b.templates = append(b.templates, t)
	return t
}

// bitmapID returns the number of the bitmap bm, adding it to the book;
// 0 when the book is full.
func (b *codeBook) bitmapID(bm []byte) uint32 {
	if b.lastID != 0 && b.last == string(bm) {
		return b.lastID
	}
	if id, ok := b.ids[string(bm)]; ok {
		b.last, b.lastID = b.keys[id-1], id
		return id
	}
	if len(b.ids) >= maxBitmaps {
		return 0
	}
	if b.ids == nil {
		b.ids = map[string]uint32{}
	}
	id := uint32(len(b.ids) + 1)
	key := string(bm)
	b.ids[key] = id
	b.keys = append(b.keys, key)
	b.last, b.lastID = key, id
	return id
}

// appendTime appends the coding of the time t against the book's base
// (set to t on the first call): the zigzag delta, in microseconds when it
// is a whole number of them, with a 2-bit tag (timeNanos, timeMicros), or
// timeRaw and the time's 8 bytes when the delta is too large for that.
func (b *codeBook) appendTime(dst []byte, t stamp) []byte {
	if !b.baseSet {
		b.base, b.baseSet = t, true
	}
	d := int64(t - b.base)
	z, tag := zigzag(d), uint64(timeNanos)
	if d%1000 == 0 {
		z, tag = zigzag(d/1000), timeMicros
	}
	if z >= 1<<62 {
		dst = append(dst, timeRaw)
		return binary.LittleEndian.AppendUint64(dst, uint64(t))
	}
	return binary.AppendUvarint(dst, z<<2|tag)
}

// The tags of appendTime's codings.
const (
	timeNanos = iota
	timeMicros
	timeRaw
)

// time decodes the coding of a time that appendTime made at the start of
// src, and returns the rest of src; false when src does not start with
// one.
func (b *codeBook) time(src []byte) (stamp, []byte, bool) {
	u, n := binary.Uvarint(src)
	if n <= 0 {
		return 0, nil, false
	}
	src = src[n:]
	switch u & 3 {
	case timeNanos:
		return b.base + stamp(unzigzag(u>>2)), src, true
	case timeMicros:
		return b.base + stamp(unzigzag(u>>2)*1000), src, true
	}
	if u != timeRaw || len(src) < 8 {
		return 0, nil, false
	}
	return stamp(binary.LittleEndian.Uint64(src)), src[8:], true
}

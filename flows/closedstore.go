package flows

import (
	"cmp"
	"encoding/binary"
	"slices"
	"unsafe"
)

// The compacted flows live in a closedStore: records in fixed chunks,
// their codings in an arena of byte chunks, linked by indices, not
// pointers. The garbage collector then has nothing to scan in them: a
// SYN flood keeps a million of them, and as heap objects with pointers
// (a closedFlow and its coding each) they cost every collection a walk
// over all of them.

// cref names a compacted flow in a closedStore: its index plus one (0 is
// none).
type cref uint32

// dataRef locates a coding in the store's arena: the chunk in the high
// 16 bits, the offset in units of arenaUnit in the low 16 (0 is none).
type dataRef uint32

const (
	// recChunkBits is the log2 of the records in a chunk.
	recChunkBits = 12
	// arenaUnit is the arena's allocation unit; codings are rounded up
	// to it and start on it.
	arenaUnit = 16
	// arenaChunk is the size of an arena chunk: 1<<16 units.
	arenaChunk = 1 << 16 * arenaUnit
	// maxArenaChunks bounds the arena (16 bits of chunk in a dataRef):
	// 64 GiB of codings.
	maxArenaChunks = 1 << 16
	// maxCodedUnits bounds a coding (4 KiB; a Flow of 1024 bytes codes to
	// at most about 1.8 KiB), so that each size has a free list.
	maxCodedUnits = 256
)

// closedStore holds compacted flows (see closedFlow).
type closedStore struct {
	recs [][]closedFlow
	nrec int
	// live counts the records in use.
	live int
	// free links the unused records through next.
	free cref
	// ptrs holds the pointers put does not code, of the flows that have
	// any (few do: Zeek's blocks of out-of-order data, ICMP errors): the
	// pointer fields of Flow at their index in flowLayout.ptrs, and the
	// endpoints' ICMP errors in the last two.
	ptrs map[cref]*[maxFlowPtrs]unsafe.Pointer
	// arena holds the codings; used is how much of its last chunk is
	// taken; freeData[n] links the free blocks of n units through their
	// first 4 bytes.
	arena    [][]byte
	used     int
	freeData [maxCodedUnits + 1]dataRef
	// freeBytes counts the bytes of the blocks in freeData.
	freeBytes int
	// mem hands out the chunks of recs and arena (outside the heap).
	mem *offHeap
	// book is what the codings share.
	book codeBook
}

// release gives back all the store's memory and empties it; it keeps
// mem. The store must hold no flow.
func (s *closedStore) release() {
	s.mem.freeAll()
	*s = closedStore{mem: s.mem}
}

// rec returns the record c names.
func (s *closedStore) rec(c cref) *closedFlow {
	i := int(c - 1)
	return &s.recs[i>>recChunkBits][i&(1<<recChunkBits-1)]
}

// recOf is rec, and nil for 0.
func (s *closedStore) recOf(c cref) *closedFlow {
	if c == 0 {
		return nil
	}
	return s.rec(c)
}

// newRec returns an unused, zero record.
func (s *closedStore) newRec() cref {
	s.live++
	if c := s.free; c != 0 {
		r := s.rec(c)
		s.free = r.next
		r.next = 0
		return c
	}
	if s.nrec&(1<<recChunkBits-1) == 0 {
		s.recs = append(s.recs, s.mem.recChunk())
	}
	s.nrec++
	return cref(s.nrec)
}

// freeRec gives back the record c, its coding and its pointers.
func (s *closedStore) freeRec(c cref) {
	r := s.rec(c)
	if r.data != 0 {
		s.freeBlock(r.data, int(r.dataLen))
	}
	if r.hasPtrs {
		delete(s.ptrs, c)
	}
	*r = closedFlow{next: s.free}
	s.free = c
	s.live--
}

// units returns how many arena units n bytes take.
func units(n int) int { return (n + arenaUnit - 1) / arenaUnit }

// alloc returns a block of n bytes (1 to maxCodedUnits units) in the
// arena, or 0 when the arena is full.
func (s *closedStore) alloc(n int) dataRef {
	u := units(n)
	if d := s.freeData[u]; d != 0 {
		s.freeData[u] = dataRef(binary.LittleEndian.Uint32(s.block(d, 4)))
		s.freeBytes -= u * arenaUnit
		return d
	}
	if len(s.arena) == 0 || s.used+u*arenaUnit > arenaChunk {
		if len(s.arena) == maxArenaChunks {
			return 0
		}
		s.arena = append(s.arena, s.mem.alloc(arenaChunk))
		s.used = 0
		if len(s.arena) == 1 {
			// Offset 0 of chunk 0 would be dataRef 0, which is none.
			s.used = arenaUnit
		}
	}
	d := dataRef((len(s.arena)-1)<<16 | s.used/arenaUnit)
	s.used += u * arenaUnit
	return d
}

// block returns the n bytes of the block d.
func (s *closedStore) block(d dataRef, n int) []byte {
	off := int(d&0xffff) * arenaUnit
	return s.arena[d>>16][off : off+n : off+n]
}

// freeBlock gives back the block d of n bytes.
func (s *closedStore) freeBlock(d dataRef, n int) {
	u := units(n)
	binary.LittleEndian.PutUint32(s.block(d, 4), uint32(s.freeData[u]))
	s.freeData[u] = d
	s.freeBytes += u * arenaUnit
}

// trim gives back what the store holds beyond its flows: all its memory
// once it holds none, else the arena's empty chunks once it is wasteful.
func (s *closedStore) trim() {
	switch {
	case s.live == 0 && s.nrec > 0:
		s.release()
	case s.wasteful():
		s.compactArena()
	}
}

// wasteful reports whether a quarter of the arena (of four chunks or
// more) lies in free blocks. A free block serves only a coding of its
// own size, and codings grow over a capture (their packet numbers and
// times do), so the blocks freed by older flows can stay unused while
// the arena grows: on a 2 M-SYN flood whose codings straddled 96 bytes
// (6 and 7 units, with an earlier order of Endpoint's fields) the arena
// held 190 MiB for 117 MiB of codings, 72 MiB of it free.
func (s *closedStore) wasteful() bool {
	return len(s.arena) >= 4 && s.freeBytes*4 > len(s.arena)*arenaChunk
}

// compactArena moves the live codings down to the start of the arena, in
// address order, and gives back the chunks left empty. A block never
// moves up (the packed position of each block is at most its old one),
// so the moves need no room beyond the arena. It costs a pass over the
// records and a sort of the live ones.
func (s *closedStore) compactArena() {
	type block struct {
		d dataRef
		c cref
	}
	live := make([]block, 0, s.live)
	for i := 1; i <= s.nrec; i++ {
		if r := s.rec(cref(i)); r.data != 0 {
			live = append(live, block{r.data, cref(i)})
		}
	}
	slices.SortFunc(live, func(a, b block) int { return cmp.Compare(a.d, b.d) })
	chunk, used := 0, arenaUnit // offset 0 of chunk 0 is dataRef 0, none
	for _, b := range live {
		r := s.rec(b.c)
		n := units(int(r.dataLen)) * arenaUnit
		if used+n > arenaChunk {
			chunk, used = chunk+1, 0
		}
		if d := dataRef(chunk<<16 | used/arenaUnit); d != b.d {
			copy(s.arena[chunk][used:used+n], s.block(b.d, n))
			r.data = d
		}
		used += n
	}
	for _, c := range s.arena[chunk+1:] {
		s.mem.free(c)
	}
	clear(s.arena[chunk+1:])
	s.arena, s.used = s.arena[:chunk+1], used
	s.freeData, s.freeBytes = [maxCodedUnits + 1]dataRef{}, 0
}

// closedList is a doubly linked list of compacted flows through
// closedFlow.prev/next.
type closedList struct{ head, tail cref }

func (s *closedStore) push(l *closedList, c cref) {
	r := s.rec(c)
	r.prev, r.next = l.tail, 0
	if l.tail != 0 {
		s.rec(l.tail).next = c
	} else {
		l.head = c
	}
	l.tail = c
}

// pushFront puts c at the head of l.
func (s *closedStore) pushFront(l *closedList, c cref) {
	r := s.rec(c)
	r.prev, r.next = 0, l.head
	if l.head != 0 {
		s.rec(l.head).prev = c
	} else {
		l.tail = c
	}
	l.head = c
}

func (s *closedStore) unlink(l *closedList, c cref) {
	r := s.rec(c)
	if r.prev != 0 {
		s.rec(r.prev).next = r.next
	} else {
		l.head = r.next
	}
	if r.next != 0 {
		s.rec(r.next).prev = r.prev
	} else {
		l.tail = r.prev
	}
	r.prev, r.next = 0, 0
}

package flows

import (
	"math/bits"
	"unsafe"
)

// flowSlab hands out the table's whole flows from chunks of memory outside
// Go's heap, slabSlots flows a chunk, and unmaps a chunk as soon as its
// last flow is freed. The Go heap keeps the pages of objects it freed for
// later allocations: on busy.pcap, whose whole flows peak at about 56,000
// before its compacted flows do, the heap held 45 MiB of freed Flows at
// the process's peak. The slab gives them back instead, and allocates
// from the fullest chunk first, so that chunks empty.
//
// The collector does not see what the chunks hold, so whatever a Flow
// points to must be kept alive elsewhere: its sequence analysis is in
// the same slot, and its endpoints' rare state, its own rare state and
// Zeek's blocks come from keepPools, which free none of what they handed
// out (TestFlowPointers).
type flowSlab struct {
	// seq is set when each slot also holds the flow's SeqAnalysis.
	seq bool
	// slot is the size of a slot in bytes, a multiple of 64.
	slot uintptr
	// chunk are the chunks by index; an unmapped chunk's mem is nil and
	// its index is in unused.
	chunk  []slabChunk
	unused []int32
	// partial heads, for each count of flows in use (1 to slabSlots-1),
	// the list of chunks with that many (index+1, 0 none); partialSet
	// has bit n set when list n is not empty.
	partial    [slabSlots]int32
	partialSet uint64
	// empty are chunks with no flow in use kept mapped, at most maxEmpty
	// of them and, after each sweep (trimEmpty), one, so that a table
	// whose flows come and go around a chunk's boundary does not map and
	// unmap it over and over.
	empty []int32
	// inUse counts the flows handed out and not freed, and chunks the
	// chunks mapped.
	inUse, chunks int
}

// slabSlots is the number of flows in a chunk: a free slot is a bit of
// a uint64.
const slabSlots = 64

// slotFlowOffset is where a slot's Flow starts: 8 bytes into a cache line,
// as a Flow on the heap starts after Go's header (TestFlowLayout), with
// the slot's number before it.
const slotFlowOffset = 8

// slabChunk is a chunk's bookkeeping, on the heap.
type slabChunk struct {
	mem []byte
	// heap is set when mem is heap memory (the system refused a
	// mapping), left to the collector.
	heap bool
	// free has bit i set when slot i is free.
	free uint64
	// prev and next link the chunk in its partial list (index+1).
	prev, next int32
}

// newFlowSlab returns a slab whose slots hold a SeqAnalysis after the
// Flow when seq is set.
func newFlowSlab(seq bool) *flowSlab {
	n := slotFlowOffset + unsafe.Sizeof(Flow{})
	if seq {
		n = (n+63)&^63 + unsafe.Sizeof(SeqAnalysis{})
	}
	return &flowSlab{seq: seq, slot: (n + 63) &^ 63}
}

// slotSeqOffset is where a slot's SeqAnalysis starts.
const slotSeqOffset = (slotFlowOffset + unsafe.Sizeof(Flow{}) + 63) &^ 63

// used returns how many slots of chunk k are in use.
func (s *flowSlab) used(k int32) int { return slabSlots - bits.OnesCount64(s.chunk[k].free) }

// alloc returns a zeroed Flow, with its SeqAnalysis (zeroed) when the
// slab has them.
func (s *flowSlab) alloc() *Flow {
	var k int32
	if s.partialSet != 0 {
		// The fullest chunk with a free slot.
		n := bits.Len64(s.partialSet) - 1
		k = s.partial[n] - 1
		s.unlist(k, n)
	} else if n := len(s.empty); n > 0 {
		k, s.empty = s.empty[n-1], s.empty[:n-1]
	} else {
		k = s.mapChunk()
	}
	c := &s.chunk[k]
	i := bits.TrailingZeros64(c.free)
	c.free &^= 1 << i
	if n := s.used(k); n < slabSlots {
		s.list(k, n)
	}
	s.inUse++
	base := unsafe.Pointer(&c.mem[uintptr(i)*s.slot])
	*(*uint32)(base) = uint32(k)
	*(*uint32)(unsafe.Add(base, 4)) = uint32(i)
	f := (*Flow)(unsafe.Add(base, slotFlowOffset))
	*f = Flow{}
	if s.seq {
		sa := (*SeqAnalysis)(unsafe.Add(base, slotSeqOffset))
		*sa = SeqAnalysis{}
		f.Seq = sa
	}
	return f
}

// slotOf returns the chunk and slot numbers stored before f, which
// alloc returned.
func slotOf(f *Flow) (k int32, i uint32) {
	base := unsafe.Add(unsafe.Pointer(f), -slotFlowOffset)
	return int32(*(*uint32)(base)), *(*uint32)(unsafe.Add(base, 4))
}

// seqOf returns the SeqAnalysis of f's slot; f must come from s and s
// have them.
func (s *flowSlab) seqOf(f *Flow) *SeqAnalysis {
	return (*SeqAnalysis)(unsafe.Add(unsafe.Pointer(f), slotSeqOffset-slotFlowOffset))
}

// free gives back f, which alloc returned and nothing may use after. A
// chunk left empty stays mapped while fewer than maxEmpty empty ones do,
// and is unmapped otherwise.
func (s *flowSlab) free(f *Flow) {
	k, i := slotOf(f)
	c := &s.chunk[k]
	if c.free&(1<<i) != 0 {
		panic("flows: a flow freed twice")
	}
	n := s.used(k)
	if n < slabSlots {
		s.unlist(k, n)
	}
	c.free |= 1 << i
	s.inUse--
	if n > 1 {
		s.list(k, n-1)
		return
	}
	if len(s.empty) < maxEmpty {
		s.empty = append(s.empty, k)
		return
	}
	s.unmap(k)
}

// maxEmpty bounds the empty chunks a slab keeps mapped between sweeps
// (1 MiB of flows). In a SYN flood every attempt is a whole flow until
// the next segment, and the flows decided on their way to the classifier
// and back are a thousand or so more or fewer from one moment to the
// next: with one empty chunk kept, the 2 M flood (gencap -synflood
// 2000000, -q, two cores) mapped and unmapped 21,400 chunks, 0.5 s of
// munmap(2) and as much again in the page faults of their first flows;
// with 16, 4,800 (with 64, 2,100), 5.48 -> 4.99 s (CPU 8.58 -> 7.47 s,
// medians of four rotated rounds). busy.pcap's peak moved within its
// noise (148,940-149,248 against 149,308-149,500 KiB, two runs each).
const maxEmpty = 16

// trimEmpty unmaps the empty chunks kept beyond keep.
func (s *flowSlab) trimEmpty(keep int) {
	for len(s.empty) > keep {
		n := len(s.empty) - 1
		s.unmap(s.empty[n])
		s.empty = s.empty[:n]
	}
}

// unmap gives back chunk k's memory.
func (s *flowSlab) unmap(k int32) {
	c := &s.chunk[k]
	if !c.heap {
		unmapChunk(c.mem)
	}
	*c = slabChunk{}
	s.unused = append(s.unused, k)
	s.chunks--
}

// mapChunk maps a new chunk, all free, and returns its index.
func (s *flowSlab) mapChunk() int32 {
	n := int(s.slot) * slabSlots
	mem, heap := mapChunk(n), false
	if mem == nil {
		heap = true
		// Heap memory: the collector scans none of it, which is safe
		// for the same reason as outside the heap.
		mem = make([]byte, n+64)
		off := (64 - uintptr(unsafe.Pointer(&mem[0]))%64) % 64
		mem = mem[off : off+uintptr(n)]
	}
	s.chunks++
	c := slabChunk{mem: mem, free: ^uint64(0), heap: heap}
	if m := len(s.unused); m > 0 {
		k := s.unused[m-1]
		s.unused = s.unused[:m-1]
		s.chunk[k] = c
		return k
	}
	s.chunk = append(s.chunk, c)
	return int32(len(s.chunk) - 1)
}

// list puts chunk k at the head of partial list n.
func (s *flowSlab) list(k int32, n int) {
	c := &s.chunk[k]
	c.prev, c.next = 0, s.partial[n]
	if h := s.partial[n]; h != 0 {
		s.chunk[h-1].prev = k + 1
	}
	s.partial[n] = k + 1
	s.partialSet |= 1 << n
}

// unlist takes chunk k out of partial list n.
func (s *flowSlab) unlist(k int32, n int) {
	c := &s.chunk[k]
	if c.prev != 0 {
		s.chunk[c.prev-1].next = c.next
	} else {
		s.partial[n] = c.next
	}
	if c.next != 0 {
		s.chunk[c.next-1].prev = c.prev
	}
	c.prev, c.next = 0, 0
	if s.partial[n] == 0 {
		s.partialSet &^= 1 << n
	}
}

// freeEmpty unmaps the chunks with no flow in use. Chunks that still hold
// flows (handed out and never freed) stay mapped, so that a caller that
// kept one can still read it.
func (s *flowSlab) freeEmpty() {
	s.empty = s.empty[:0]
	for k := range s.chunk {
		c := &s.chunk[k]
		if c.mem != nil && c.free == ^uint64(0) {
			s.unmap(int32(k))
		}
	}
}

// mapped returns the bytes of the chunks mapped.
func (s *flowSlab) mapped() int { return s.chunks * slabSlots * int(s.slot) }

// sparse reports whether fewer than eight slots in nine of the chunks
// mapped are in use (beyond 64 chunks' worth, 4 MiB).
func (s *flowSlab) sparse() bool {
	return 8*s.chunks*slabSlots > 9*s.inUse+64*slabSlots
}

// sparsest returns the chunk with the fewest flows in use that is not
// full or empty, or -1.
func (s *flowSlab) sparsest() int32 {
	if s.partialSet == 0 {
		return -1
	}
	return s.partial[bits.TrailingZeros64(s.partialSet)] - 1
}

// flowAt returns the flow in slot i of chunk k.
func (s *flowSlab) flowAt(k int32, i int) *Flow {
	return (*Flow)(unsafe.Pointer(&s.chunk[k].mem[uintptr(i)*s.slot+slotFlowOffset]))
}

// move moves f, which alloc returned, to a slot of a fuller chunk if
// there is one, and returns where it is (f when it stays). The caller
// renames it wherever it is named; nothing may use f after.
func (s *flowSlab) move(f *Flow) *Flow {
	k, _ := slotOf(f)
	n := s.used(k)
	if n == slabSlots {
		return f
	}
	// The fullest chunk with room, other than f's.
	s.unlist(k, n)
	if s.partialSet == 0 || bits.Len64(s.partialSet)-1 <= n {
		s.list(k, n)
		return f
	}
	to := s.alloc()
	s.list(k, n)
	*to = *f
	if s.seq {
		sa := s.seqOf(to)
		*sa = *f.Seq
		to.Seq = sa
	}
	s.free(f)
	return to
}

package flows

import "unsafe"

// offHeap hands out the chunks of a closedStore from memory outside Go's
// heap (anonymous mappings, where the system has them), and gives them
// back one by one (free) or at once (freeAll). The garbage collector
// sizes its heap goal at 1+GOGC/100 times the live heap; the store's
// chunks hold no pointers, so that headroom was paid for nothing: on
// busy.pcap the store held 80 MB at the heap's peak, and the goal was 24
// MB higher for it. What the chunks hold must have no pointers, which
// the collector would not see (TestSizes). A nil offHeap hands out heap
// memory.
type offHeap struct {
	// mapped are the chunks mapped, to unmap in freeAll.
	mapped [][]byte
}

// alloc returns n zeroed bytes.
func (o *offHeap) alloc(n int) []byte {
	if o != nil {
		if b := mapChunk(n); b != nil {
			o.mapped = append(o.mapped, b)
			return b
		}
	}
	return make([]byte, n)
}

// freeAll unmaps every chunk alloc mapped. Nothing may use them after.
func (o *offHeap) freeAll() {
	if o == nil {
		return
	}
	for _, b := range o.mapped {
		unmapChunk(b)
	}
	o.mapped = nil
}

// free gives back one chunk alloc returned: unmapped if it was mapped,
// else left to the collector.
func (o *offHeap) free(b []byte) {
	if o == nil {
		return
	}
	for i, m := range o.mapped {
		if unsafe.SliceData(m) == unsafe.SliceData(b) {
			unmapChunk(m)
			o.mapped[i] = o.mapped[len(o.mapped)-1]
			o.mapped[len(o.mapped)-1] = nil
			o.mapped = o.mapped[:len(o.mapped)-1]
			return
		}
	}
}

// recChunkBytes is the size of a chunk of closedFlow records.
const recChunkBytes = 1 << recChunkBits * int(unsafe.Sizeof(closedFlow{}))

// recChunk returns a zeroed chunk of records.
func (o *offHeap) recChunk() []closedFlow {
	b := o.alloc(recChunkBytes)
	return unsafe.Slice((*closedFlow)(unsafe.Pointer(unsafe.SliceData(b))), 1<<recChunkBits)
}

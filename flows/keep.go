package flows

import (
	"cmp"
	"slices"
	"sync"
	"unsafe"
)

// keepPool hands out objects of type T that the collector never frees
// while the pool holds them: each is part of a block the pool keeps, so
// that a flow outside the heap (flowSlab), which the collector does not
// scan, may point to it. put gives one back, emptied, for reuse, and trim
// lets the collector have the blocks whose objects are all back, so that
// the pool's memory follows the objects in use, not their past peak.
// Safe for concurrent use.
type keepPool[T any] struct {
	mu sync.Mutex
	// blocks are ordered by address, so that an object's block is found
	// by a binary search (the collector does not move heap objects).
	blocks []*[keepBlock]T
	free   []*T
	// retryAt is the number of free objects at which trim looks again
	// after a look that could give back no block (0: at once).
	retryAt int
}

// keepBlock is the number of objects a keepPool allocates at a time.
const keepBlock = 64

// keepTrimBlocks is the fewest blocks' worth of free objects at which
// trim looks for blocks to give back.
const keepTrimBlocks = 4

// get returns an empty object.
func (p *keepPool[T]) get() *T {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.free) == 0 {
		b := new([keepBlock]T)
		i, _ := slices.BinarySearchFunc(p.blocks, b, func(x, y *[keepBlock]T) int {
			return cmp.Compare(uintptr(unsafe.Pointer(x)), uintptr(unsafe.Pointer(y)))
		})
		p.blocks = slices.Insert(p.blocks, i, b)
		for i := len(b) - 1; i >= 0; i-- {
			p.free = append(p.free, &b[i])
		}
	}
	n := len(p.free) - 1
	x := p.free[n]
	p.free = p.free[:n]
	return x
}

// put empties x, which get returned and nothing may use after, and keeps
// it for reuse.
func (p *keepPool[T]) put(x *T) {
	var zero T
	*x = zero
	p.mu.Lock()
	p.free = append(p.free, x)
	p.mu.Unlock()
}

// blockOf returns the index of the block that holds x.
func (p *keepPool[T]) blockOf(x *T) int {
	a := uintptr(unsafe.Pointer(x))
	i, _ := slices.BinarySearchFunc(p.blocks, a, func(b *[keepBlock]T, a uintptr) int {
		return cmp.Compare(uintptr(unsafe.Pointer(b)), a)
	})
	// i is the first block at or above x's address: x is in it when it
	// is its first object, else in the block before.
	if i == len(p.blocks) || uintptr(unsafe.Pointer(p.blocks[i])) != a {
		i--
	}
	return i
}

// trim gives the blocks whose objects are all free back to the collector
// once at least half of the pool's objects, and keepTrimBlocks blocks'
// worth, are free. It keeps as many free objects as a quarter of those in
// use (at least a block's worth), so that a pool whose use goes up and
// down a little does not allocate again at once. The free objects it
// keeps are reordered so that get hands out those of the fullest blocks
// first, which leaves the others to empty. A look that finds no block to
// give back (the free objects spread over blocks still in use) is tried
// again only once a quarter more objects are free, or all of them.
func (p *keepPool[T]) trim() {
	p.mu.Lock()
	defer p.mu.Unlock()
	total := len(p.blocks) * keepBlock
	if len(p.free) < keepTrimBlocks*keepBlock || 2*len(p.free) < total || len(p.free) < p.retryAt {
		return
	}
	nfree := make([]int, len(p.blocks))
	for _, x := range p.free {
		nfree[p.blockOf(x)]++
	}
	spare := max((total-len(p.free))/4, keepBlock)
	left, drop := len(p.free), make([]bool, len(p.blocks))
	dropped := 0
	for i, n := range nfree {
		if n == keepBlock && left-keepBlock >= spare {
			drop[i], left = true, left-keepBlock
			dropped++
		}
	}
	if dropped == 0 {
		p.retryAt = min(len(p.free)+len(p.free)/4, total)
		return
	}
	p.retryAt = 0
	// The free objects of the blocks kept, those of the blocks with the
	// most free first: get takes from the end.
	type kept struct {
		x     *T
		nfree int
	}
	ks := make([]kept, 0, left)
	for _, x := range p.free {
		if i := p.blockOf(x); !drop[i] {
			ks = append(ks, kept{x, nfree[i]})
		}
	}
	slices.SortStableFunc(ks, func(a, b kept) int { return cmp.Compare(b.nfree, a.nfree) })
	free := make([]*T, len(ks))
	for i, k := range ks {
		free[i] = k.x
	}
	blocks := p.blocks[:0]
	for i, b := range p.blocks {
		if !drop[i] {
			blocks = append(blocks, b)
		}
	}
	clear(p.blocks[len(blocks):])
	p.blocks, p.free = blocks, free
}

// The pools of what a whole flow points to, besides its sequence
// analysis (in its slot): its endpoints' rare state, its own, and Zeek's
// blocks of out-of-order data.
var (
	epRares    keepPool[epRare]
	flowRares  keepPool[flowRare]
	zeekBlocks keepPool[[zeekMaxBlocks]zeekBlock]
)

// trimKeepPools gives back the blocks of the pools that a past peak left
// free (keepPool.trim).
func trimKeepPools() {
	epRares.trim()
	flowRares.trim()
	zeekBlocks.trim()
}

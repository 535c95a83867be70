package flows

import "sync"

// keepPool hands out objects of type T that the collector never frees:
// each is part of a block the pool keeps for good, so that a flow outside
// the heap (flowSlab), which the collector does not scan, may point to
// it. put gives one back, emptied, for reuse; the pool's memory is the
// most objects in use at once. Safe for concurrent use.
type keepPool[T any] struct {
	mu     sync.Mutex
	blocks [][]T
	free   []*T
}

// keepBlock is the number of objects a keepPool allocates at a time.
const keepBlock = 64

// get returns an empty object.
func (p *keepPool[T]) get() *T {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.free) == 0 {
		b := make([]T, keepBlock)
		p.blocks = append(p.blocks, b)
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

// The pools of what a whole flow points to, besides its sequence
// analysis (in its slot): its endpoints' rare state, its own, and Zeek's
// blocks of out-of-order data.
var (
	epRares    keepPool[epRare]
	flowRares  keepPool[flowRare]
	zeekBlocks keepPool[[zeekMaxBlocks]zeekBlock]
)

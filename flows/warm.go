package flows

import (
	"unsafe"

	"github.com/tcpwhy/tcpwhy/capture"
	"github.com/tcpwhy/tcpwhy/internal/prefetch"
)

// warmAbove is the number of flows tracked from which Warming reports
// true: fewer flows stay in the processor's caches (big.pcap tracks up
// to 15,000), and asking for them only costs the hashing and the
// instructions (warming every segment of big.pcap measured 5-10% slower
// on two cores in one hour).
const warmAbove = 1 << 15

// Warming reports whether the table tracks so many flows that asking
// for their slots and flows ahead (WarmSlot, WarmFlow) pays.
func (t *Table) Warming() bool { return t.count >= warmAbove }

// WarmSlot asks the processor for the cache line of the hash-table slot
// where the flow of seg, a segment some eight ahead of the next Add, is
// looked for first. With many flows tracked, the slots and the flows are
// not in the cache, and each Add waited for both in turn; asked ahead,
// they arrive while the table works on the segments before. It changes
// no result.
func (t *Table) WarmSlot(seg *capture.Segment) {
	h := slotHash(symHash(epAddrFrom(seg.Src, seg.SrcPort), epAddrFrom(seg.Dst, seg.DstPort)))
	prefetch.Read(unsafe.Pointer(&t.slots[t.home(h)]), unsafe.Sizeof(slot{}))
}

// WarmFlow asks for the cache lines of the flow (or the compacted
// record) of seg, a segment some four ahead of the next Add, found from
// its slot, which WarmSlot asked for earlier (it looks at four slots at
// most: a hint need not find every flow). It changes no result.
func (t *Table) WarmFlow(seg *capture.Segment) {
	h := slotHash(symHash(epAddrFrom(seg.Src, seg.SrcPort), epAddrFrom(seg.Dst, seg.DstPort)))
	mask := len(t.slots) - 1
	for i, n := t.home(h), 0; n < 4; i, n = (i+1)&mask, n+1 {
		s := &t.slots[i]
		switch {
		case s.empty():
			return
		case s.h != h:
		case s.ref&slotClosed == 0:
			prefetch.Read(unsafe.Pointer(t.linked[s.ref]), unsafe.Sizeof(Flow{}))
			return
		default:
			prefetch.Read(unsafe.Pointer(t.store.rec(s.closed())), unsafe.Sizeof(closedFlow{}))
			return
		}
	}
}

// Warm asks the processor for the cache lines of f (not of what it points
// to), a decided flow some flows ahead of the one being classified. A
// closed flow waits some seconds before it is decided, so its lines have
// left the caches by then; asked ahead, they arrive while the flows
// before it are classified. It changes nothing.
func (f *Flow) Warm() { prefetch.Read(unsafe.Pointer(f), unsafe.Sizeof(*f)) }

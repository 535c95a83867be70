package flows

import (
	"math"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"github.com/tcpwhy/tcpwhy/capture"
)

// BenchmarkFlowHeap measures the memory a tracked flow costs (the heap and
// the compacted flows' store outside it): 100k closed
// connections (handshake, request, response, FIN close) held in a table,
// as the bench capture's closed flows are kept for late packets.
func BenchmarkFlowHeap(b *testing.B) {
	const n = 100_000
	segs := benchSegments(n)
	for i := range segs {
		// All within the closed flows' linger time.
		segs[i].Time = time.Unix(1700000000, int64(i))
	}
	var perFlow float64
	for b.Loop() {
		perFlow = heapPerFlow(b, segs, Config{}, n)
	}
	b.ReportMetric(perFlow, "B/flow")
	b.ReportMetric(float64(unsafe.Sizeof(Flow{})), "sizeofB/flow")
}

// heapPerFlow feeds segs to a new table of configuration cfg, checks that
// it tracks n flows at the end, and returns the memory they took, per
// flow: the heap they grew and the store's chunks.
func heapPerFlow(b *testing.B, segs []capture.Segment, cfg Config, n int) float64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	tab := NewTable(cfg)
	for i := range segs {
		s := segs[i]
		tab.Add(&s)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if tab.Len() != n {
		b.Fatalf("%d flows tracked, want %d", tab.Len(), n)
	}
	// The compacted flows' store and the whole flows' slab live outside
	// the heap (offHeap, flowSlab): their chunks count too.
	store := tab.slab.mapped()
	for _, c := range tab.store.mem.mapped {
		store += len(c)
	}
	runtime.KeepAlive(tab)
	return float64(after.HeapAlloc-before.HeapAlloc+uint64(store)) / float64(n)
}

// BenchmarkTableChurn measures the whole life of flows as a long capture
// has them: connections open, talk, close and expire while new ones
// arrive (about 1000 open at a time). One op is one segment; allocs/op
// times 10 is the allocations per flow. Each decided flow goes back to
// the table (Table.Release), as the analysis does: the flows are outside
// the heap (flowSlab), so one never released would keep its memory (the
// "alloc" case, which did not release, went with that, on 2026-12-07).
func BenchmarkTableChurn(b *testing.B) {
	const conns = 4000
	base := benchSegments(conns)
	// Spread the connections over 20 s: 200 new per second, each lasting
	// 90 ms, so that closed flows expire 5 s later.
	for i := range base {
		c, k := i/10, i%10
		base[i].Time = time.Unix(1700000000, 0).Add(time.Duration(c)*5*time.Millisecond + time.Duration(k)*10*time.Millisecond)
	}
	span := 30 * time.Second
	var tab *Table
	tab = NewTable(Config{OnDone: func(f *Flow) { tab.Release(f) }})
	segs := make([]capture.Segment, len(base))
	copy(segs, base)
	pass := 0
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		j := i % len(segs)
		if j == 0 && i > 0 {
			pass++
			off := time.Duration(pass) * span
			for k := range segs {
				segs[k].Time = base[k].Time.Add(off)
				segs[k].Packet = base[k].Packet + int64(pass*len(base))
			}
		}
		tab.Add(&segs[j])
	}
	b.StopTimer()
	runtime.ReadMemStats(&m1)
	b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/(float64(b.N)/10), "allocs/flow")
	b.ReportMetric(float64(m1.TotalAlloc-m0.TotalAlloc)/(float64(b.N)/10), "B/flow")
	b.ReportMetric(float64(tab.Peak), "peak-flows")
}

// BenchmarkOpenFlowHeap measures the memory an open connection costs (the
// heap and the compacted flows' store outside it):
// 200k kept-alive connections opened 100 us apart over 20 s (a
// handshake and one exchange each, then quiet), all still open at the
// end. "whole" never compacts; "default" compacts, above
// Config.CompactAbove flows, those quiet for compactIdleAfter: nine in
// ten of them at the end.
func BenchmarkOpenFlowHeap(b *testing.B) {
	const n = 200_000
	segs := KeptAliveSegments(n, 100*time.Microsecond, 0)
	for _, bc := range []struct {
		name  string
		above int
	}{{"whole", math.MaxInt}, {"default", 0}} {
		b.Run(bc.name, func(b *testing.B) {
			var perFlow float64
			for b.Loop() {
				perFlow = heapPerFlow(b, segs, Config{CompactAbove: bc.above}, n)
			}
			b.ReportMetric(perFlow, "B/flow")
		})
	}
}

package flows

import (
	"path/filepath"
	"testing"

	"github.com/tcpwhy/tcpwhy/capture"
	"github.com/tcpwhy/tcpwhy/internal/gen"
)

// BenchmarkTableReplay measures the flow table on the bench capture's
// mix (gen's default: connections interleaved in time, about 3,000 open
// at once, most of them request/response with a FIN close): 20,000
// connections decoded once into memory, then fed to a fresh table per
// iteration as --json does (no sequence analysis; decided flows given
// back). Unlike BenchmarkTableAdd, whose 1,000 flows fit in the core's
// cache, the open flows here take megabytes, so the figure shows the
// cache lines a segment touches. One op is one segment.
func BenchmarkTableReplay(b *testing.B) {
	path := filepath.Join(b.TempDir(), "replay.pcap")
	if _, err := gen.WriteFile(path, gen.Config{Connections: 20000, Seed: 11}); err != nil {
		b.Fatal(err)
	}
	src, err := capture.Open([]string{path}, capture.OpenOptions{NoChecksums: true})
	if err != nil {
		b.Fatal(err)
	}
	var segs []capture.Segment
	var seg capture.Segment
	for src.Next(&seg) == nil {
		seg.Data = nil
		segs = append(segs, seg)
	}
	src.Close()
	b.ReportAllocs()
	b.ResetTimer()
	var tab *Table
	var pending []*Flow
	i := len(segs)
	for b.Loop() {
		if i == len(segs) {
			b.StopTimer()
			if tab != nil {
				tab.Flush()
			}
			tab = NewTable(Config{NoSeqAnalysis: true, OnDone: func(f *Flow) { pending = append(pending, f) }})
			pending, i = pending[:0], 0
			b.StartTimer()
		}
		tab.Add(&segs[i])
		for _, f := range pending {
			tab.Release(f)
		}
		pending = pending[:0]
		i++
	}
}

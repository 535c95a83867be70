package classify

import (
	"bufio"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tcpwhy/tcpwhy/capture"
	"github.com/tcpwhy/tcpwhy/flows"
	"github.com/tcpwhy/tcpwhy/internal/gen"
)

// benchCapture writes a generated capture of n connections of every kind.
func benchCapture(b *testing.B, n int) string {
	b.Helper()
	path := filepath.Join(b.TempDir(), "bench.pcap")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	if _, err := gen.Write(bw, gen.Config{Connections: n, Seed: 11}); err != nil {
		b.Fatal(err)
	}
	if err := bw.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return path
}

// BenchmarkClassifyFlow measures the classification of one decided flow
// (verdict, explanation, counters, Zeek state): ns and allocs per flow.
func BenchmarkClassifyFlow(b *testing.B) {
	path := benchCapture(b, 5000)
	src, err := capture.Open([]string{path}, capture.OpenOptions{})
	if err != nil {
		b.Fatal(err)
	}
	var decided []*flows.Flow
	table := flows.NewTable(flows.Config{NoSeqAnalysis: true, OnDone: func(f *flows.Flow) { decided = append(decided, f) }})
	var seg capture.Segment
	var end time.Time
	for src.Next(&seg) == nil {
		table.Add(&seg)
		end = seg.Time
	}
	table.Flush()
	src.Close()
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		Flow(decided[i%len(decided)], end)
		i++
	}
}

// BenchmarkAnalyze measures the whole analysis of a generated capture
// (read, decode, flow table, classification, listener and host views) as
// --json runs it, without rendering: packets/s.
func BenchmarkAnalyze(b *testing.B) {
	path := benchCapture(b, 20000)
	var packets int64
	b.ReportAllocs()
	for b.Loop() {
		src, err := capture.Open([]string{path}, capture.OpenOptions{})
		if err != nil {
			b.Fatal(err)
		}
		a := Analyze(src, Options{Bounded: true, OnFlow: func(*FlowResult) {}})
		src.Close()
		packets += a.Capture.Packets
	}
	b.ReportMetric(float64(packets)/b.Elapsed().Seconds(), "packets/s")
}

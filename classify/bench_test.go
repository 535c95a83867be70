package classify

import (
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
	if _, err := gen.WriteFile(path, gen.Config{Connections: n, Seed: 11}); err != nil {
		b.Fatal(err)
	}
	return path
}

// decidedFlows returns the flows of a generated capture, decided, and
// the capture's end.
func decidedFlows(b *testing.B, cfg gen.Config) ([]*flows.Flow, time.Time) {
	b.Helper()
	path := filepath.Join(b.TempDir(), "bench.pcap")
	if _, err := gen.WriteFile(path, cfg); err != nil {
		b.Fatal(err)
	}
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
	return decided, end
}

// BenchmarkClassifyFlow measures the classification of one decided flow
// (verdict, explanation, counters, Zeek state): ns and allocs per flow.
func BenchmarkClassifyFlow(b *testing.B) {
	decided, end := decidedFlows(b, gen.Config{Connections: 5000, Seed: 11})
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		Flow(decided[i%len(decided)], end)
		i++
	}
}

// BenchmarkClassifySynTimeout measures the classification of the
// unanswered SYNs of a SYN flood, and holding them (their encoding and
// decoding through the held flows' file format).
func BenchmarkClassifySynTimeout(b *testing.B) {
	all, end := decidedFlows(b, gen.Config{Connections: 10, SYNFlood: 5000, Seed: 12})
	var decided []*flows.Flow
	for _, f := range all {
		if Flow(f, end).Verdict == SynTimeout {
			decided = append(decided, f)
		}
	}
	if len(decided) < 4000 {
		b.Fatalf("%d syn-timeout flows", len(decided))
	}
	b.Run("classify", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			Flow(decided[i%len(decided)], end)
			i++
		}
	})
	b.Run("held", func(b *testing.B) {
		// The flood's path: held past the memory budget, in the
		// compressed temporary file, and decoded into one reused result
		// (add and each, per flow).
		r := Flow(decided[0], end)
		defer func(n int) { heldInMemory = n }(heldInMemory)
		heldInMemory = 0
		var h heldFlows
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			h.add(r)
		}
		got := 0
		if err := h.each(new(FlowResult), nil, func(*FlowResult) { got++ }); err != nil || got != b.N {
			b.Fatalf("%d of %d flows back, err %v", got, b.N, err)
		}
	})
	b.Run("hold", func(b *testing.B) {
		r := Flow(decided[0], end)
		var buf []byte
		intern := map[string]string{}
		b.ReportAllocs()
		for b.Loop() {
			buf = appendFlowResult(buf[:0], r)
			if _, err := decodeFlowResult(buf, intern); err != nil {
				b.Fatal(err)
			}
		}
	})
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

// BenchmarkClassifyFlowReused is BenchmarkClassifyFlow the way --json
// classifies (Options.ReuseResults): into one FlowResult reused for
// every flow, so that allocs/op counts what each flow allocates itself.
func BenchmarkClassifyFlowReused(b *testing.B) {
	decided, end := decidedFlows(b, gen.Config{Connections: 5000, Seed: 11})
	r := newReusedResult()
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		classifyInto(r, decided[i%len(decided)], end)
		i++
	}
}

package report

import (
	"path/filepath"
	"testing"

	"github.com/tcpwhy/tcpwhy/capture"
	"github.com/tcpwhy/tcpwhy/classify"
	"github.com/tcpwhy/tcpwhy/flows"
	"github.com/tcpwhy/tcpwhy/internal/gen"
)

// TestCollectPacketsLabels checks that the packets CollectPackets keeps
// carry the sequence labels of the first pass (SeqLabels, spilled to its
// temporary file in many runs), the labels a flow table gives the same
// packets, on a generated capture with retransmissions.
func TestCollectPacketsLabels(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gen.pcap")
	if _, err := gen.WriteFile(path, gen.Config{Connections: 2000, Seed: 9}); err != nil {
		t.Fatal(err)
	}
	open := func() capture.Source {
		src, err := capture.Open([]string{path}, capture.OpenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return src
	}
	old := notesInMemory
	notesInMemory = 256
	defer func() { notesInMemory = old }()
	// The first pass: every flow, the labels kept; the oracle: the
	// labels the table gives each segment.
	labels := NewSeqLabels()
	want := map[int64]string{}
	src := open()
	a := classify.Analyze(src, classify.Options{OnSeq: labels.Add, OnSegment: func(seg *capture.Segment, u flows.Update) {
		if u.Seq.Labels != 0 {
			want[seg.Packet] = u.Seq.String()
		}
	}})
	src.Close()
	if len(labels.idx.runs) < 3 || len(want) < 50 {
		t.Fatalf("%d labelled segments in %d runs: want more", len(want), len(labels.idx.runs))
	}
	src = open()
	defer src.Close()
	px, err := CollectPackets(src, a.Capture.Packets, a.Flows, CollectOptions{AllFlows: true, Labels: labels})
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, r := range a.Flows {
		for _, p := range px.Flow(r.ID).Packets {
			if p.Labels != want[p.Packet] {
				t.Fatalf("packet %d: labels %q, the table gave %q", p.Packet, p.Labels, want[p.Packet])
			}
			if p.Labels != "" {
				seen++
			}
		}
	}
	if seen != len(want) {
		t.Errorf("%d labelled packets kept, the table labelled %d", seen, len(want))
	}
}

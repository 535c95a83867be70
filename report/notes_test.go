package report

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/tcpwhy/tcpwhy/capture"
	"github.com/tcpwhy/tcpwhy/classify"
	"github.com/tcpwhy/tcpwhy/flows"
)

// printAnnotated prints the packets of file with the annotations of
// flows, added in the given order.
func printAnnotated(t *testing.T, file string, rs []*classify.FlowResult) (string, *PacketPrinter) {
	t.Helper()
	var out bytes.Buffer
	pp := NewPacketPrinter(&out, nil, TcpdumpOptions{}, true)
	for _, r := range rs {
		pp.AddFlow(r)
	}
	src, err := capture.Open([]string{file}, capture.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	classify.Analyze(src, classify.Options{SegmentsOnly: true,
		OnSegment: func(seg *capture.Segment, u flows.Update) { pp.Segment(seg, u) }})
	if err := pp.Close(); err != nil {
		t.Fatal(err)
	}
	return out.String(), pp
}

// TestPacketPrinterSpilledNotes checks that annotations moved to the
// temporary file in many small sorted runs (and added in any order, as a
// bounded analysis decides flows) print exactly as when all of them stay
// in memory.
func TestPacketPrinterSpilledNotes(t *testing.T) {
	for _, f := range []string{"../testdata/pcaps/demo.pcap", "../testdata/pcaps/lab/mixed/server.pcap"} {
		a := analyzeFile(t, f)
		want, _ := printAnnotated(t, f, a.Flows)
		if strings.Count(want, "    ^ ") < 5 {
			t.Fatalf("%s: %d annotation lines, want several", f, strings.Count(want, "    ^ "))
		}

		old := notesInMemory
		notesInMemory = 200
		rev := slices.Clone(a.Flows)
		slices.Reverse(rev)
		got, pp := printAnnotated(t, f, rev)
		notesInMemory = old
		if len(pp.notes.runs) < 2 {
			t.Errorf("%s: %d runs in the temporary file, want several", f, len(pp.notes.runs))
		}
		if got != want {
			t.Errorf("%s: with spilled annotations:\n%s\n--- want:\n%s", f, got, want)
		}
	}
}

package report

import (
	"bytes"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tcpwhy/tcpwhy/capture"
	"github.com/tcpwhy/tcpwhy/classify"
	"github.com/tcpwhy/tcpwhy/flows"
	"github.com/tcpwhy/tcpwhy/internal/gen"
	"github.com/tcpwhy/tcpwhy/internal/tmpdir/tmpdirtest"
)

// seqLabel is one segment's sequence-analysis labels, as a first pass
// hands them over (classify.Options.OnSeq).
type seqLabel struct {
	packet int64
	r      flows.SeqResult
}

// analyzeWithLabels is analyzeFile, also collecting the labels.
func analyzeWithLabels(t *testing.T, file string) (*classify.Analysis, []seqLabel) {
	t.Helper()
	src, err := capture.Open([]string{file}, capture.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var labels []seqLabel
	a := classify.Analyze(src, classify.Options{OnSeq: func(p int64, r flows.SeqResult) { labels = append(labels, seqLabel{p, r}) }})
	return a, labels
}

// printAnnotated prints the packets of file with the annotations of
// flows, added in the given order, and the labels, as the annotated
// text's second pass does.
func printAnnotated(t *testing.T, file string, rs []*classify.FlowResult, labels []seqLabel, writer bool) (string, *PacketPrinter) {
	t.Helper()
	var out bytes.Buffer
	pp := NewPacketPrinter(&out, nil, TcpdumpOptions{}, true)
	for _, l := range labels {
		pp.AddSeq(l.packet, l.r)
	}
	for _, r := range rs {
		pp.AddFlow(r)
	}
	printSegments(t, file, pp, writer)
	return out.String(), pp
}

// printSegments prints the packets of file with pp as the annotated
// text's second pass does (with its writing goroutine when writer), and
// closes pp.
func printSegments(t *testing.T, file string, pp *PacketPrinter, writer bool) {
	t.Helper()
	if writer {
		pp.StartWriter()
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
}

// TestSeqLabelsFromFirstPass checks that the labels a first pass hands
// over (AddSeq) print exactly as the ones of a flow table running with
// the printing (Update.Seq), on every lab capture (real kernel), the demo
// capture and a generated one with losses.
func TestSeqLabelsFromFirstPass(t *testing.T) {
	files, _ := filepath.Glob("../testdata/pcaps/lab/*/*.pcap*")
	files = append(files, "../testdata/pcaps/demo.pcap", generated(t, 2000))
	labelled := 0
	for _, f := range files {
		_, labels := analyzeWithLabels(t, f)
		labelled += len(labels)
		twoPass, _ := printAnnotated(t, f, nil, labels, false)
		if withWriter, _ := printAnnotated(t, f, nil, labels, true); withWriter != twoPass {
			t.Errorf("%s: the writing goroutine (StartWriter) prints differently:\n%s\n--- without:\n%s", f, withWriter, twoPass)
		}

		var out bytes.Buffer
		pp := NewPacketPrinter(&out, nil, TcpdumpOptions{}, true)
		src, err := capture.Open([]string{f}, capture.OpenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		classify.Analyze(src, classify.Options{OnSegment: func(seg *capture.Segment, u flows.Update) { pp.Segment(seg, u) }})
		src.Close()
		if err := pp.Close(); err != nil {
			t.Fatal(err)
		}
		if onePass := out.String(); twoPass != onePass {
			t.Errorf("%s: labels from the first pass print differently:\n%s\n--- from the table while printing:\n%s", f, twoPass, onePass)
		}
	}
	t.Logf("%d captures, %d labelled segments", len(files), labelled)
	if labelled < 20 {
		t.Errorf("only %d labelled segments in all captures: the test proves little", labelled)
	}
}

// TestPacketPrinterSpilledNotes checks that annotations moved to the
// temporary file in many small sorted runs (and added in any order, as a
// bounded analysis decides flows) print exactly as when all of them stay
// in memory.
func TestPacketPrinterSpilledNotes(t *testing.T) { testSpilledNotes(t, false) }

// TestPacketPrinterSpilledNotesInMemoryFS is TestPacketPrinterSpilledNotes
// with the temporary file on tmpfs (/dev/shm), where the runs are
// compressed.
func TestPacketPrinterSpilledNotesInMemoryFS(t *testing.T) {
	t.Setenv("TMPDIR", tmpdirtest.MemoryDir(t))
	testSpilledNotes(t, true)
}

// testSpilledNotes checks that annotations spilled to the temporary file
// in many runs print as those kept in memory, compressed or not.
func testSpilledNotes(t *testing.T, compressed bool) {
	for _, f := range []string{"../testdata/pcaps/demo.pcap", "../testdata/pcaps/lab/mixed/server.pcap"} {
		a, labels := analyzeWithLabels(t, f)
		want, _ := printAnnotated(t, f, a.Flows, labels, false)
		if strings.Count(want, "    ^ ") < 5 {
			t.Fatalf("%s: %d annotation lines, want several", f, strings.Count(want, "    ^ "))
		}

		old := notesInMemory
		notesInMemory = 200
		rev := slices.Clone(a.Flows)
		slices.Reverse(rev)
		got, pp := printAnnotated(t, f, rev, labels, false)
		withWriter, _ := printAnnotated(t, f, rev, labels, true)
		notesInMemory = old
		if withWriter != want {
			t.Errorf("%s: with spilled annotations and the writing goroutine:\n%s\n--- want:\n%s", f, withWriter, want)
		}
		if len(pp.notes.runs) < 2 || pp.notes.compress != compressed {
			t.Errorf("%s: %d runs in the temporary file, compressed %v; want several, compressed %v", f, len(pp.notes.runs), pp.notes.compress, compressed)
		}
		if got != want {
			t.Errorf("%s: with spilled annotations:\n%s\n--- want:\n%s", f, got, want)
		}
	}
}

// generated writes a generated capture of n connections of every kind
// (internal/gen) and returns its path.
func generated(t *testing.T, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gen.pcap")
	if _, err := gen.WriteFile(path, gen.Config{Connections: n, Seed: 7}); err != nil {
		t.Fatal(err)
	}
	return path
}

// failingWriter fails every write after the first n bytes.
type failingWriter struct{ n int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		k := w.n
		w.n = 0
		return k, errors.New("disk full")
	}
	w.n -= len(p)
	return len(p), nil
}

// TestPacketPrinterWriterError checks that a write error of the writing
// goroutine (StartWriter) comes back from Close.
func TestPacketPrinterWriterError(t *testing.T) {
	pp := NewPacketPrinter(&failingWriter{n: 1000}, nil, TcpdumpOptions{}, true)
	pp.StartWriter()
	src, err := capture.Open([]string{generated(t, 2000)}, capture.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	classify.Analyze(src, classify.Options{SegmentsOnly: true,
		OnSegment: func(seg *capture.Segment, u flows.Update) { pp.Segment(seg, u) }})
	if err := pp.Close(); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Close = %v, want the write error", err)
	}
}

// TestStartWriterSharesFormatting checks that the writing goroutine,
// which formats every deferred batch from the state the main goroutine
// resolved (TcpdumpPrinter.Resolve), prints exactly what one goroutine
// prints, with each option that makes a line depend on the segments
// before it (relative numbers, -ttt and -ttttt deltas) or reads the
// whole frame (-v checksums).
func TestStartWriterSharesFormatting(t *testing.T) {
	file := generated(t, 2000)
	print := func(o TcpdumpOptions, writer bool) (string, int) {
		var out bytes.Buffer
		pp := NewPacketPrinter(&out, nil, o, false)
		printSegments(t, file, pp, writer)
		return out.String(), pp.batches
	}
	for _, o := range []TcpdumpOptions{
		{},
		{Timestamps: TimestampDelta},
		{Timestamps: TimestampSinceFirst, Nano: true},
		{Timestamps: TimestampDate, Verbose: 2},
		{Absolute: true, Number: true, Timestamps: TimestampEpoch},
	} {
		one, _ := print(o, false)
		shared, batches := print(o, true)
		if batches < 3 {
			t.Fatalf("%+v: %d batches: no deferred batch was formatted by the writer", o, batches)
		}
		if shared != one {
			a, b := strings.Split(shared, "\n"), strings.Split(one, "\n")
			for i := range min(len(a), len(b)) {
				if a[i] != b[i] {
					t.Errorf("%+v: line %d differs with the writer formatting deferred batches:\n%s\n--- one goroutine:\n%s", o, i+1, a[i], b[i])
					break
				}
			}
			t.Errorf("%+v: %d lines shared, %d from one goroutine", o, len(a), len(b))
		}
	}
}

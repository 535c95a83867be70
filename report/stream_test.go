package report

import (
	"bytes"
	"testing"

	"github.com/tcpwhy/tcpwhy/capture"
	"github.com/tcpwhy/tcpwhy/classify"
)

// TestStreamsEqualWhole checks that JSONStream and SummaryStream, fed the
// flows of a bounded analysis one by one (their spools forced into a
// temporary file, compressed past its first 1000 bytes), write what JSON and Summary write for the analysis
// that kept every flow, when the flows are handed over in ID order.
func TestStreamsEqualWhole(t *testing.T) {
	old, oldPlain := spoolInMemory, spoolPlainOnDisk
	spoolInMemory, spoolPlainOnDisk = 64, 1000
	defer func() { spoolInMemory, spoolPlainOnDisk = old, oldPlain }()
	for _, f := range []string{"../testdata/pcaps/demo.pcap", "../testdata/pcaps/lab/mixed/server.pcap"} {
		a := analyzeFile(t, f)
		if len(a.Flows) < 3 {
			t.Fatalf("%s: %d flows", f, len(a.Flows))
		}
		var whole, streamed bytes.Buffer
		if err := JSON(&whole, a, false); err != nil {
			t.Fatal(err)
		}
		js := NewJSONStream(&streamed)
		for _, r := range a.Flows {
			js.Flow(r)
		}
		if err := js.Close(a); err != nil {
			t.Fatal(err)
		}
		if whole.String() != streamed.String() {
			t.Errorf("%s: JSONStream differs from JSON:\n%s\n---\n%s", f, streamed.String(), whole.String())
		}
		whole.Reset()
		streamed.Reset()
		if err := Summary(&whole, a); err != nil {
			t.Fatal(err)
		}
		ss := NewSummaryStream(&streamed)
		for _, r := range a.Flows {
			ss.Flow(r)
		}
		if err := ss.Close(a); err != nil {
			t.Fatal(err)
		}
		if whole.String() != streamed.String() {
			t.Errorf("%s: SummaryStream differs from Summary:\n%s\n---\n%s", f, streamed.String(), whole.String())
		}
	}
}

// analyzeFile opens and analyses one capture with the default options.
func analyzeFile(t *testing.T, file string) *classify.Analysis {
	t.Helper()
	src, err := capture.Open([]string{file}, capture.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	return classify.Analyze(src, classify.Options{})
}

package report

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tcpwhy/tcpwhy/capture"
	"github.com/tcpwhy/tcpwhy/classify"
)

// TestZeekStreamEqualsBatch checks that ZeekStream, run in the analysis
// itself (bounded, IP bytes counted from the same pass, spool forced
// into a temporary file), writes the rows ZeekTSV and ZeekJSON write
// from an analysis that kept every flow and a second pass for the IP
// bytes: the same header and #close lines and the same rows, in the
// order the flows ended instead of by ID. Every bundled capture is
// compared, and the real-world ones when ../shared exists.
func TestZeekStreamEqualsBatch(t *testing.T) {
	old := spoolInMemory
	spoolInMemory = 256
	defer func() { spoolInMemory = old }()
	files, _ := filepath.Glob("../testdata/pcaps/lab/*/*.pcap")
	files = append(files, "../testdata/pcaps/demo.pcap")
	if rw, _ := filepath.Glob("../../shared/pcaps/realworld/*.pcap*"); len(rw) > 0 {
		files = append(files, rw...)
	} else if os.Getenv("CI") == "true" {
		t.Fatal("CI: ../../shared/pcaps/realworld has no captures")
	} else {
		t.Log("no ../../shared/pcaps/realworld: real-world captures not compared")
	}
	if len(files) < 20 {
		t.Fatalf("only %d captures", len(files))
	}
	rows := 0
	for _, f := range files {
		for _, jsonFormat := range []bool{false, true} {
			batch := zeekBatch(t, f, jsonFormat)
			src, err := capture.Open([]string{f}, capture.OpenOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			zs := NewZeekStream(&out, jsonFormat)
			a := classify.Analyze(src, classify.Options{Bounded: true, OnFlow: zs.Flow, OnSegment: zs.Segment})
			src.Close()
			if err := zs.Close(a); err != nil {
				t.Fatal(err)
			}
			if len(zs.ip) != 0 {
				t.Errorf("%s: %d flows' counts left behind", f, len(zs.ip))
			}
			got, want := zeekLines(out.String()), zeekLines(batch)
			if !slices.Equal(got, want) {
				t.Errorf("%s (json %v): stream\n%s\nbatch\n%s", f, jsonFormat, out.String(), batch)
			}
			rows += len(want)
		}
	}
	if rows < 100 {
		t.Errorf("only %d rows compared", rows)
	}
}

// zeekBatch renders f's conn.log the way --format zeek does with -w:
// every flow kept, IP bytes from a second pass.
func zeekBatch(t *testing.T, f string, jsonFormat bool) string {
	t.Helper()
	a := analyzeFile(t, f)
	src, err := capture.Open([]string{f}, capture.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	px, err := CollectPackets(src, a.Capture.Packets, a.Flows, CollectOptions{CountsOnly: true})
	if err != nil && a.Err == nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if jsonFormat {
		err = ZeekJSON(&b, a, px)
	} else {
		err = ZeekTSV(&b, a, px)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// zeekLines returns the lines of a log, the rows sorted.
func zeekLines(s string) []string {
	var head, rows []string
	for _, l := range strings.SplitAfter(s, "\n") {
		if strings.HasPrefix(l, "#") {
			head = append(head, l)
		} else if l != "" {
			rows = append(rows, l)
		}
	}
	slices.Sort(rows)
	return append(head, rows...)
}

package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tcpwhy/tcpwhy/capture"
	"github.com/tcpwhy/tcpwhy/classify"
	"github.com/tcpwhy/tcpwhy/report"
)

func labServer(name string) string {
	return filepath.Join("..", "..", "testdata", "pcaps", "lab", name, "server.pcap")
}

func analyseFile(t *testing.T, path string) (*classify.Analysis, func() (capture.Source, error)) {
	t.Helper()
	a, _, reopen := analyseLabels(t, path)
	return a, reopen
}

// analyseLabels analyses path keeping every flow, and its sequence labels.
func analyseLabels(t *testing.T, path string) (*classify.Analysis, *report.SeqLabels, func() (capture.Source, error)) {
	t.Helper()
	reopen := func() (capture.Source, error) { return capture.Open([]string{path}, capture.OpenOptions{}) }
	src, err := reopen()
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	labels := report.NewSeqLabels()
	return classify.Analyze(src, classify.Options{OnSeq: labels.Add}), labels, reopen
}

// TestReportFormats checks each report format of issue 6 on a lab
// capture: markdown and html from renderReport, the Zeek logs from the
// command line.
func TestReportFormats(t *testing.T) {
	path := labServer("overflow-abort1")
	a, labels, reopen := analyseLabels(t, path)
	var failing *classify.FlowResult
	for _, r := range a.Flows {
		if r.Verdict.Failing() && len(r.Annotations) > 0 {
			failing = r
		}
	}
	if failing == nil {
		t.Fatal("no annotated failing flow in the capture")
	}
	for _, format := range reportFormats {
		var out string
		if format == "markdown" || format == "html" {
			var buf bytes.Buffer
			if err := renderReport(format, a, report.DigestOf(a), labels, reopen, &buf); err != nil {
				t.Fatalf("%s: %v", format, err)
			}
			out = buf.String()
		} else {
			code, stdout, stderr := rbMain(t, "--format", format, "-r", path)
			if code != 0 {
				t.Fatalf("%s: exit %d: %s", format, code, stderr)
			}
			out = stdout
		}
		switch format {
		case "markdown":
			if !strings.HasPrefix(out, "# tcpwhy report") || !strings.Contains(out, "    ^ "+failing.Annotations[0].Text) {
				t.Errorf("markdown lacks the title or the annotation of flow %d", failing.ID)
			}
		case "html":
			if !strings.HasPrefix(out, "<!DOCTYPE html>") || !strings.Contains(out, `aria-label="ladder diagram"`) {
				t.Errorf("html lacks the doctype or a ladder")
			}
		case "zeek":
			if !strings.HasPrefix(out, "#separator \\x09\n") || strings.Count(out, "\n") != len(a.Flows)+9 {
				t.Errorf("zeek log has %d lines for %d flows", strings.Count(out, "\n"), len(a.Flows))
			}
		case "zeek-json":
			lines := strings.Split(strings.TrimSpace(out), "\n")
			var m map[string]any
			if len(lines) != len(a.Flows) || json.Unmarshal([]byte(lines[0]), &m) != nil || m["orig_ip_bytes"] == nil {
				t.Errorf("zeek json: %d lines for %d flows, first %v", len(lines), len(a.Flows), m)
			}
		}
	}
	var buf bytes.Buffer
	err := renderReport("zeek", a, report.DigestOf(a), nil, reopen, &buf)
	if _, ok := err.(usageError); !ok {
		t.Errorf("a report in zeek format gave %v, want a usage error", err)
	}
}

func TestWriteAnnotatedPcapng(t *testing.T) {
	a, reopen := analyseFile(t, labServer("no-listener-v4"))
	out := filepath.Join(t.TempDir(), "x.pcapng")
	if err := writeAnnotatedPcapng(out, a.Capture.Packets, report.PcapngCommentsOf(a), reopen); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) < 4 || !bytes.Equal(data[:4], []byte{0x0a, 0x0d, 0x0d, 0x0a}) {
		t.Fatalf("not a pcapng file")
	}
	for _, r := range a.Flows {
		for _, an := range r.Annotations {
			if !bytes.Contains(data, []byte(an.Text)) {
				t.Errorf("annotation %q not in the file", an.Text)
			}
		}
	}
	if err := writeAnnotatedPcapng(filepath.Join(t.TempDir(), "no", "such", "dir.pcapng"), a.Capture.Packets, report.PcapngCommentsOf(a), reopen); err == nil {
		t.Errorf("writing into a missing directory succeeded")
	}
}

func TestProgress(t *testing.T) {
	var buf bytes.Buffer
	if progressWanted([]string{labServer("mixed")}, "text", &buf, &buf) {
		t.Errorf("progress wanted on a buffer")
	}
	if progressWanted([]string{"-"}, "text", os.Stdout, os.Stderr) {
		t.Errorf("progress wanted on standard input")
	}
	path := labServer("mixed")
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := inputSize([]string{path}); got != st.Size() {
		t.Errorf("inputSize = %d, want %d", got, st.Size())
	}
	src, err := capture.Open([]string{path}, capture.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p := newProgressSource(src, st.Size(), &buf)
	var seg capture.Segment
	n := 0
	for p.Next(&seg) == nil {
		n++
		if n == 10 {
			p.draw(seg.Packet)
		}
	}
	p.Close()
	out := buf.String()
	if !strings.Contains(out, "reading [") || !strings.HasSuffix(out, "\r\x1b[K") {
		t.Errorf("progress output %q: no bar, or not erased at the end", out)
	}
	// The estimate at the end of the file is close to its size.
	est := p.bytes * seg.Packet / p.segments
	if est < st.Size()*8/10 || est > st.Size()*12/10 {
		t.Errorf("estimated %d bytes read, the file has %d", est, st.Size())
	}
}

// TestZeekStreamedCLI checks that --format zeek and zeek-json, which
// stream rows as flows are decided, write the rows of the batch renderer
// (every flow kept, a second pass for the IP bytes): same header and
// rows, rows in the order the flows ended.
func TestZeekStreamedCLI(t *testing.T) {
	for _, f := range []string{labServer("overflow-abort1"), labServer("mixed"), filepath.Join("..", "..", "testdata", "pcaps", "demo.pcap")} {
		for _, format := range []string{"zeek", "zeek-json"} {
			code, streamed, stderr := rbMain(t, "--format", format, "-r", f)
			if code != 0 {
				t.Fatalf("%s %s: exit %d: %s", format, f, code, stderr)
			}
			batch := zeekBatch(t, f, format == "zeek-json")
			s, b := strings.Split(streamed, "\n"), strings.Split(batch, "\n")
			slices.Sort(s)
			slices.Sort(b)
			if len(b) < 3 || !slices.Equal(s, b) {
				t.Errorf("%s %s: streamed\n%s\nbatch\n%s", format, f, streamed, batch)
			}
		}
	}
}

// zeekBatch renders the Zeek log of path from an analysis that kept every
// flow, with a second pass for the IP byte counts.
func zeekBatch(t *testing.T, path string, jsonFormat bool) string {
	t.Helper()
	a, reopen := analyseFile(t, path)
	src, err := reopen()
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	px, err := report.CollectPackets(src, a.Capture.Packets, a.Flows, report.CollectOptions{CountsOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if jsonFormat {
		err = report.ZeekJSON(&b, a, px)
	} else {
		err = report.ZeekTSV(&b, a, px)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestIsTerminal checks the terminal test on a pseudo-terminal, a pipe
// and a value that is no file.
func TestIsTerminal(t *testing.T) {
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	defer ptmx.Close()
	if !isTerminal(ptmx) {
		t.Error("a pseudo-terminal is not a terminal")
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if isTerminal(w) {
		t.Error("a pipe is a terminal")
	}
	if isTerminal(new(bytes.Buffer)) {
		t.Error("a buffer is a terminal")
	}
}

package report

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tcpwhy/tcpwhy/capture"
	"github.com/tcpwhy/tcpwhy/classify"
)

// goldenCaptures are the lab captures the renderers' golden files cover:
// an accept-queue overflow with a listener diagnosis and a SYN timeout,
// a refused connection, an early close with data and an ICMP error.
var goldenCaptures = []string{"overflow-abort1", "no-listener-v6", "early-close-server", "icmp-unreachable"}

func labCapture(name string) string {
	return filepath.Join("..", "testdata", "pcaps", "lab", name, "server.pcap")
}

// analyse runs the pipeline on a capture, and a second pass for the
// packet index, as the CLI does.
func analyse(t testing.TB, path string) (*classify.Analysis, *PacketIndex) {
	t.Helper()
	open := func() capture.Source {
		src, err := capture.Open([]string{path}, capture.OpenOptions{})
		if err != nil {
			t.Fatalf("open %s: %v", path, err)
		}
		return src
	}
	src := open()
	labels := NewSeqLabels()
	a := classify.Analyze(src, classify.Options{OnSeq: labels.Add})
	src.Close()
	if a.Err != nil {
		t.Fatalf("analyse %s: %v", path, a.Err)
	}
	src = open()
	defer src.Close()
	px, err := CollectPackets(src, a.Capture.Packets, a.Flows, CollectOptions{Labels: labels})
	if err != nil {
		t.Fatalf("collect %s: %v", path, err)
	}
	return a, px
}

// checkGolden compares got with testdata/golden/name, or rewrites the
// file with -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (regenerate with go test ./report/ -update): %v", err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := 0; i < max(len(gl), len(wl)); i++ {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("%s differs from the golden file at line %d:\n got: %q\nwant: %q\n(regenerate with go test ./report/ -update)", name, i+1, g, w)
			}
		}
	}
}

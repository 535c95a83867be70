package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// goldenCases are captures whose text and JSON reports are kept as golden
// files: the demo, and real-kernel captures from the scenario lab.
var goldenCases = []struct{ name, file string }{
	{"demo", "demo.pcap"},
	{"overflow-abort0", "lab/overflow-abort0/server.pcap"},
	{"overflow-abort1", "lab/overflow-abort1/client.pcap"},
	{"data-after-close", "lab/data-after-close-fin-wait2/server.pcap"},
	{"mixed", "lab/mixed/server.pcap"},
}

func TestGolden(t *testing.T) {
	for _, c := range goldenCases {
		in := filepath.Join("..", "..", "testdata", "pcaps", c.file)
		for _, mode := range []struct {
			ext  string
			args []string
		}{
			{"txt", []string{"-#", "-tt"}},
			{"json", []string{"--json"}},
		} {
			t.Run(c.name+"."+mode.ext, func(t *testing.T) {
				var out, errb bytes.Buffer
				args := append([]string{"-r", in}, mode.args...)
				if code := Main(args, nil, &out, &errb); code != 0 {
					t.Fatalf("exit %d: %s", code, errb.String())
				}
				// The input path is part of the output; make it stable.
				got := strings.ReplaceAll(out.String(), in, c.file)
				golden := filepath.Join("testdata", "golden", c.name+"."+mode.ext)
				if *update {
					if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run go test ./cmd/tcpwhy -update)", err)
				}
				if got != string(want) {
					t.Errorf("output differs from %s (run go test ./cmd/tcpwhy -update and review the diff)\n%s", golden, firstDiff(string(want), got))
				}
			})
		}
	}
}

// firstDiff shows the first differing line.
func firstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			return fmt.Sprintf("line %d:\n-%s\n+%s", i+1, a, b)
		}
	}
	return ""
}

//go:build linux

package lab

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestMain(m *testing.M) {
	RunAgentIfRequested()
	os.Exit(m.Run())
}

// TestLab runs every scenario against the live kernel into a temporary
// directory and checks that each passed its own checks and produced
// non-empty captures and a readable truth file. It needs root; under
// CI=true it fails instead of skipping.
func TestLab(t *testing.T) {
	ci := os.Getenv("CI") == "true"
	if testing.Short() && !ci {
		t.Skip("lab runs the live kernel; skipped with -short")
	}
	if os.Geteuid() != 0 {
		if ci {
			t.Fatal("CI=true: the lab must run, but the test is not running as root")
		}
		t.Skip("the lab needs root (network namespaces); skipping")
	}
	for _, tool := range []string{"ip", "nft", "tcpdump", "dumpcap"} {
		if _, err := exec.LookPath(tool); err != nil {
			if ci {
				t.Fatalf("CI=true: %s is missing: %v", tool, err)
			}
			t.Skipf("%s is missing; skipping", tool)
		}
	}
	out := t.TempDir()
	res, err := Run(Options{Out: out, Log: testLog{t}})
	if err != nil {
		t.Fatalf("lab: %v", err)
	}
	if len(res) != len(Scenarios()) {
		t.Fatalf("%d results for %d scenarios", len(res), len(Scenarios()))
	}
	for _, r := range res {
		t.Run(r.Name, func(t *testing.T) {
			for _, f := range r.Failures {
				t.Error(f)
			}
			if len(r.Failures) > 0 {
				return
			}
			b, err := os.ReadFile(filepath.Join(r.Dir, "truth.json"))
			if err != nil {
				t.Fatalf("read truth: %v", err)
			}
			var tr Truth
			if err := json.Unmarshal(b, &tr); err != nil {
				t.Fatalf("decode truth: %v", err)
			}
			if tr.Scenario != r.Name || len(tr.Flows) == 0 || len(tr.Captures) == 0 {
				t.Fatalf("truth incomplete: scenario %q, %d flows, %d captures", tr.Scenario, len(tr.Flows), len(tr.Captures))
			}
			for _, c := range tr.Captures {
				st, err := os.Stat(filepath.Join(r.Dir, c.File))
				if err != nil {
					t.Errorf("capture %s: %v", c.File, err)
					continue
				}
				if st.Size() == 0 || c.Packets == 0 {
					t.Errorf("capture %s is empty (%d bytes, %d packets)", c.File, st.Size(), c.Packets)
				}
			}
		})
	}
	// Nothing may be left behind.
	outp, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatalf("ip netns list: %v", err)
	}
	mine := fmt.Sprintf("%s%d-", NSPrefix, os.Getpid())
	for _, line := range splitLines(string(outp)) {
		if strings.HasPrefix(line, mine) {
			t.Errorf("namespace left behind: %s", line)
		}
	}
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(string(p))
	return len(p), nil
}

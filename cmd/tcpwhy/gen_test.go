package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/tcpwhy/tcpwhy/internal/gen"
)

// TestGeneratedVerdicts checks the verdict counts on a generated capture
// against the connection kinds the generator wrote (each kind has the
// wire signature of one verdict).
func TestGeneratedVerdicts(t *testing.T) {
	cfg := gen.DefaultConfig()
	cfg.Connections = 5000
	cfg.Seed = 7
	path := filepath.Join(t.TempDir(), "gen.pcap")
	st, err := gen.WriteFile(path, cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{}
	for k := gen.Kind(0); k < gen.NumKinds; k++ {
		want[k.Verdict()] += int(st.Kinds[k])
	}
	var out, errb bytes.Buffer
	if code := Main([]string{"-r", path, "--json"}, nil, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var got map[string]int
	sc := bufio.NewScanner(&out)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var rec struct {
			Type     string         `json:"type"`
			Verdicts map[string]int `json:"verdicts"`
			Server   string         `json:"server"`
			Estimate *int           `json:"accept_queue_estimate"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		// A full accept queue holds at least one connection.
		if rec.Type == "listener" && rec.Estimate != nil && *rec.Estimate < 1 {
			t.Errorf("listener %s: accept queue estimate %d", rec.Server, *rec.Estimate)
		}
		if rec.Type == "summary" {
			got = rec.Verdicts
		}
	}
	for v, n := range want {
		if got[v] != n {
			t.Errorf("verdict %s: got %d flows, generator wrote %d", v, got[v], n)
		}
	}
	for v, n := range got {
		if n != 0 && want[v] == 0 {
			t.Errorf("verdict %s: got %d flows, generator wrote none", v, n)
		}
	}
	t.Logf("%d connections, %d packets: verdicts %v", st.Connections(), st.Packets, got)
}

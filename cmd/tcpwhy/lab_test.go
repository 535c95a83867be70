package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// truth is the scenario lab's record of what the kernel did.
type truth struct {
	Scenario string `json:"scenario"`
	Captures []struct {
		File  string `json:"file"`
		Point string `json:"point"`
	} `json:"captures"`
	Flows []struct {
		Client            string  `json:"client"`
		Server            string  `json:"server"`
		Verdict           string  `json:"verdict"`
		SYNRetransmits    *int    `json:"syn_retransmits"`
		SYNACKRetransmits *int    `json:"synack_retransmits"`
		FirstFINBy        *string `json:"first_fin_by"`
		ResetBy           *string `json:"reset_by"`
	} `json:"flows"`
	Counters  map[string]map[string]int `json:"counters"`
	Listeners []struct {
		Server   string `json:"server"`
		Overflow bool   `json:"overflow"`
		Backlog  int    `json:"backlog"`
		Somaxcon int    `json:"somaxconn"`
	} `json:"listeners"`
}

// record is the part of tcpwhy's NDJSON records the acceptance reads.
type record struct {
	Type              string               `json:"type"`
	Client            string               `json:"client"`
	Server            string               `json:"server"`
	Verdict           string               `json:"verdict"`
	SYNRetransmits    int                  `json:"syn_retransmits"`
	SYNACKRetransmits int                  `json:"synack_retransmits"`
	FirstFINBy        *string              `json:"first_fin_by"`
	Reset             *struct{ By string } `json:"reset"`
	Explanation       string               `json:"explanation"`
	Zeek              struct {
		ConnState string `json:"conn_state"`
		History   string `json:"history"`
	} `json:"zeek"`
	IP          string                    `json:"ip"`
	Counters    json.RawMessage           `json:"counters"`
	Diagnosis   []struct{ Kind string }   `json:"diagnosis"`
	AcceptQueue *int                      `json:"accept_queue_estimate"`
	Verdicts    map[string]int            `json:"verdicts"`
	Extra       map[string]map[string]int `json:"-"`
}

// exactCounters must equal the kernel's deltas; approxCounters within ±50%.
var exactCounters = []string{"TcpOutRsts", "TcpAttemptFails", "TcpExtTCPAbortOnClose", "TcpExtTCPAbortOnData",
	"TcpExtTCPAbortOnLinger", "TcpExtEmbryonicRsts", "TcpExtTCPSynRetrans"}

// ListenOverflows/ListenDrops cannot be exact from packets: every segment
// that reaches a full accept queue bumps them (the handshake ACK, each data
// segment, each answer to a retransmitted SYN-ACK, each dropped SYN), and
// the client's retransmission timing decides how many arrive while the
// queue is still full.
var approxCounters = []string{"TcpExtListenOverflows", "TcpExtListenDrops"}

// namespaceIPs are the addresses of the lab's client and server namespaces.
var namespaceIPs = map[string][]string{"client": {"10.77.0.1", "fd77::1"}, "server": {"10.77.0.2", "fd77::2"}}

func runJSON(t *testing.T, file string) []record {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main([]string{"-r", file, "--json"}, nil, &out, &errb)
	if code != 0 {
		t.Fatalf("tcpwhy -r %s --json: exit %d: %s", file, code, errb.String())
	}
	var recs []record
	sc := bufio.NewScanner(&out)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var r record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%s: bad JSON line %q: %v", file, sc.Text(), err)
		}
		recs = append(recs, r)
	}
	return recs
}

func TestLabCommitted(t *testing.T) {
	dir := filepath.Join("..", "..", "testdata", "pcaps", "lab")
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("the lab's captures are missing: %v (run make lab)", err)
	}
	checkLab(t, dir)
	if d := os.Getenv("TCPWHY_LAB_DIR"); d != "" {
		checkLab(t, d)
	}
}

// TestLabFresh runs the scenario lab against the live kernel (root only;
// under CI=true it must run) and checks the new captures.
func TestLabFresh(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true but not root: the lab needs root for network namespaces")
		}
		t.Skip("not root: the fresh lab run needs network namespaces")
	}
	if testing.Short() {
		t.Skip("-short")
	}
	out := t.TempDir()
	cmd := exec.Command("go", "run", "./internal/lab/cmd/lab", "-out", out)
	cmd.Dir = filepath.Join("..", "..")
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("lab run failed: %v\n%s", err, b)
	}
	checkLab(t, out)
}

func checkLab(t *testing.T, dir string) {
	truths, _ := filepath.Glob(filepath.Join(dir, "*", "truth.json"))
	if len(truths) == 0 {
		t.Fatalf("no truth.json under %s", dir)
	}
	sort.Strings(truths)
	var table strings.Builder
	fmt.Fprintf(&table, "\n%-28s %-8s %-18s %-18s %s\n", "scenario", "point", "want", "got", "counters")
	flowsOK, flowsAll := 0, 0
	for _, tf := range truths {
		b, err := os.ReadFile(tf)
		if err != nil {
			t.Fatal(err)
		}
		var tr truth
		if err := json.Unmarshal(b, &tr); err != nil {
			t.Fatalf("%s: %v", tf, err)
		}
		for _, c := range tr.Captures {
			file := filepath.Join(filepath.Dir(tf), c.File)
			recs := runJSON(t, file)
			name := tr.Scenario + "/" + c.File
			got := map[string]record{}
			hosts := map[string]map[string]int{}
			listeners := map[string]record{}
			for _, r := range recs {
				switch r.Type {
				case "flow":
					got[r.Client+" "+r.Server] = r
				case "host":
					m := map[string]int{}
					_ = json.Unmarshal(r.Counters, &m)
					hosts[r.IP] = m
				case "listener":
					listeners[r.Server] = r
				}
			}
			for _, want := range tr.Flows {
				flowsAll++
				r, ok := got[want.Client+" "+want.Server]
				gotV := "(missing)"
				if ok {
					gotV = r.Verdict
				}
				status := "ok"
				switch {
				case !ok:
					t.Errorf("%s: flow %s > %s not found", name, want.Client, want.Server)
					status = "MISSING"
				case r.Verdict != want.Verdict:
					t.Errorf("%s: flow %s > %s: verdict %q, want %q (%s)", name, want.Client, want.Server, r.Verdict, want.Verdict, r.Explanation)
					status = "WRONG"
				default:
					if want.SYNRetransmits != nil && r.SYNRetransmits != *want.SYNRetransmits {
						t.Errorf("%s: flow %s > %s: syn_retransmits %d, want %d", name, want.Client, want.Server, r.SYNRetransmits, *want.SYNRetransmits)
						status = "WRONG"
					} else if want.SYNACKRetransmits != nil && r.SYNACKRetransmits != *want.SYNACKRetransmits {
						t.Errorf("%s: flow %s > %s: synack_retransmits %d, want %d", name, want.Client, want.Server, r.SYNACKRetransmits, *want.SYNACKRetransmits)
						status = "WRONG"
					} else {
						flowsOK++
					}
				}
				if len(tr.Flows) <= 3 {
					fmt.Fprintf(&table, "%-28s %-8s %-18s %-18s %s\n", tr.Scenario, c.Point, want.Verdict, gotV, status)
				}
			}
			if len(tr.Flows) > 3 {
				fmt.Fprintf(&table, "%-28s %-8s %d flows checked\n", tr.Scenario, c.Point, len(tr.Flows))
			}
			checkCounters(t, name, tr, hosts)
			for _, l := range tr.Listeners {
				lr, ok := listeners[l.Server]
				has := false
				for _, d := range lr.Diagnosis {
					has = has || d.Kind == "overflow"
				}
				if l.Overflow && (!ok || !has) {
					t.Errorf("%s: listener %s overflowed but has no overflow diagnosis", name, l.Server)
				}
				if l.Overflow && l.Backlog > 0 {
					want := min(l.Backlog, l.Somaxcon) + 1
					if lr.AcceptQueue == nil || *lr.AcceptQueue < want-1 || *lr.AcceptQueue > want+1 {
						t.Errorf("%s: listener %s accept_queue_estimate %v, want %d±1", name, l.Server, lr.AcceptQueue, want)
					}
				}
				if !l.Overflow && has {
					t.Errorf("%s: listener %s did not overflow but got an overflow diagnosis", name, l.Server)
				}
			}
			for srv, lr := range listeners {
				overflowed := false
				for _, l := range tr.Listeners {
					overflowed = overflowed || (l.Server == srv && l.Overflow)
				}
				for _, d := range lr.Diagnosis {
					if d.Kind == "overflow" && !overflowed {
						t.Errorf("%s: listener %s got an overflow diagnosis it should not have", name, srv)
					}
				}
			}
		}
	}
	t.Logf("lab %s: %d/%d flow checks right%s", dir, flowsOK, flowsAll, table.String())
}

func checkCounters(t *testing.T, name string, tr truth, hosts map[string]map[string]int) {
	for side, ips := range namespaceIPs {
		kernel := tr.Counters[side]
		pred := map[string]int{}
		for _, ip := range ips {
			a, err := netip.ParseAddr(ip)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range hosts[a.String()] {
				pred[k] += v
			}
		}
		for _, k := range exactCounters {
			if pred[k] != kernel[k] {
				t.Errorf("%s: %s %s predicted %d, kernel %d", name, side, k, pred[k], kernel[k])
			}
		}
		for _, k := range approxCounters {
			want, got := float64(kernel[k]), float64(pred[k])
			if (want == 0) != (got == 0) || math.Abs(got-want) > 0.5*want {
				t.Errorf("%s: %s %s predicted %d, kernel %d (must be within ±50%%)", name, side, k, pred[k], kernel[k])
			}
		}
	}
}

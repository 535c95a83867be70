package main

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const realworld = "../../../shared/pcaps/realworld"

// zeekRow is one TCP row of a Zeek conn.log baseline.
type zeekRow struct {
	key              string
	state, history   string
	hasState, hasHis bool
}

func tupleKey(a, b string) string {
	if a > b {
		a, b = b, a
	}
	return a + " " + b
}

func hostPort(h, p string) string {
	ip, err := netip.ParseAddr(h)
	if err != nil {
		return h + ":" + p
	}
	return netip.AddrPortFrom(ip, uint16(atoiOr0(p))).String()
}

func atoiOr0(s string) int {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// readZeek reads the TCP rows of a conn.log or zeek-cut baseline.
func readZeek(t *testing.T, path string) []zeekRow {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var fields []string
	var rows []zeekRow
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "#fields\t"):
			fields = strings.Split(line, "\t")[1:]
			continue
		case strings.HasPrefix(line, "#"):
			continue
		case fields == nil && strings.HasPrefix(line, "ts\t"):
			fields = strings.Split(line, "\t")
			continue
		}
		if fields == nil {
			continue
		}
		vals := strings.Split(line, "\t")
		m := map[string]string{}
		for i, f := range fields {
			if i < len(vals) {
				m[f] = vals[i]
			}
		}
		if p, ok := m["proto"]; ok && p != "tcp" {
			continue
		}
		r := zeekRow{key: tupleKey(hostPort(m["id.orig_h"], m["id.orig_p"]), hostPort(m["id.resp_h"], m["id.resp_p"]))}
		r.state, r.hasState = m["conn_state"]
		r.history, r.hasHis = m["history"]
		rows = append(rows, r)
	}
	return rows
}

// TestZeekAgreement compares the conn_state and history tcpwhy reports
// for each flow with Zeek's own conn.log baselines on real captures.
func TestZeekAgreement(t *testing.T) {
	logs, _ := filepath.Glob(filepath.Join(realworld, "*.zeek-conn.log"))
	cuts, _ := filepath.Glob(filepath.Join(realworld, "*.zeek-conn.cut"))
	logs = append(logs, cuts...)
	if len(logs) == 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true but the real-world corpus (../shared/pcaps/realworld) is missing")
		}
		t.Skip("../shared/pcaps/realworld is absent (it is only beside the project in CI and on developer machines)")
	}
	stateOK, stateAll, hisOK, hisAll := 0, 0, 0, 0
	var log strings.Builder
	for _, lf := range logs {
		base := strings.TrimSuffix(strings.TrimSuffix(lf, ".zeek-conn.log"), ".zeek-conn.cut")
		if strings.Contains(base, "vlan_fivetuple") {
			continue
		}
		var pcap string
		for _, ext := range []string{".pcap", ".pcapng", ".pcap.gz"} {
			if _, err := os.Stat(base + ext); err == nil {
				pcap = base + ext
			}
		}
		if pcap == "" {
			continue
		}
		rows := readZeek(t, lf)
		ours := map[string][]record{}
		for _, r := range runJSON(t, pcap) {
			if r.Type == "flow" {
				k := tupleKey(r.Client, r.Server)
				ours[k] = append(ours[k], r)
			}
		}
		used := map[string]int{}
		for _, row := range rows {
			i := used[row.key]
			used[row.key]++
			var got *record
			if i < len(ours[row.key]) {
				got = &ours[row.key][i]
			}
			if row.hasState {
				stateAll++
				switch {
				case got == nil:
					fmt.Fprintf(&log, "%s: %s: Zeek %s, tcpwhy has no flow (split differently)\n", filepath.Base(pcap), row.key, row.state)
				case got.Zeek.ConnState == row.state:
					stateOK++
				default:
					fmt.Fprintf(&log, "%s: %s: conn_state Zeek %s, tcpwhy %s\n", filepath.Base(pcap), row.key, row.state, got.Zeek.ConnState)
				}
			}
			if row.hasHis {
				hisAll++
				if got != nil && got.Zeek.History == row.history {
					hisOK++
				} else if got != nil {
					fmt.Fprintf(&log, "%s: %s: history Zeek %s, tcpwhy %s\n", filepath.Base(pcap), row.key, row.history, got.Zeek.History)
				}
			}
		}
	}
	ps := 100 * float64(stateOK) / float64(max(stateAll, 1))
	ph := 100 * float64(hisOK) / float64(max(hisAll, 1))
	t.Logf("Zeek agreement through the whole pipeline: conn_state %d/%d (%.1f%%), history %d/%d (%.1f%%)\n%s", stateOK, stateAll, ps, hisOK, hisAll, ph, log.String())
	if ps < 95 {
		t.Errorf("conn_state agreement %.1f%% < 95%%", ps)
	}
}

package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestZeekGolden(t *testing.T) {
	for _, name := range goldenCaptures {
		t.Run(name, func(t *testing.T) {
			a, px := analyse(t, labCapture(name))
			var tsv, js bytes.Buffer
			if err := ZeekTSV(&tsv, a, px); err != nil {
				t.Fatal(err)
			}
			if err := ZeekJSON(&js, a, px); err != nil {
				t.Fatal(err)
			}
			checkGolden(t, name+".conn.log", tsv.Bytes())
			checkGolden(t, name+".conn.json", js.Bytes())
		})
	}
}

// TestZeekTSVReadable reads the TSV back the way Zeek log readers do
// (by the #fields header) and checks each row against the analysis.
func TestZeekTSVReadable(t *testing.T) {
	a, px := analyse(t, labCapture("overflow-abort1"))
	var buf bytes.Buffer
	if err := ZeekTSV(&buf, a, px); err != nil {
		t.Fatal(err)
	}
	var fields, types []string
	var rows []map[string]string
	headers := map[string]string{}
	sc := bufio.NewScanner(&buf)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			k, v, _ := strings.Cut(line, "\t")
			if strings.HasPrefix(line, "#separator ") {
				k, v = "#separator", strings.TrimPrefix(line, "#separator ")
			}
			headers[k] = v
			switch k {
			case "#fields":
				fields = strings.Split(v, "\t")
			case "#types":
				types = strings.Split(v, "\t")
			}
			continue
		}
		cols := strings.Split(line, "\t")
		if len(cols) != len(fields) {
			t.Fatalf("row has %d columns, #fields %d: %q", len(cols), len(fields), line)
		}
		m := map[string]string{}
		for i, f := range fields {
			m[f] = cols[i]
		}
		rows = append(rows, m)
	}
	if headers["#separator"] != `\x09` || headers["#unset_field"] != "-" || headers["#empty_field"] != "(empty)" || headers["#path"] != "conn" {
		t.Errorf("Zeek header lines wrong: %v", headers)
	}
	if _, err := time.Parse(zeekStamp, headers["#open"]); err != nil {
		t.Errorf("#open %q: %v", headers["#open"], err)
	}
	if _, ok := headers["#close"]; !ok {
		t.Errorf("no #close line")
	}
	if len(types) != len(fields) {
		t.Fatalf("#types has %d entries, #fields %d", len(types), len(fields))
	}
	std := "ts uid id.orig_h id.orig_p id.resp_h id.resp_p proto service duration orig_bytes resp_bytes conn_state local_orig local_resp missed_bytes history orig_pkts orig_ip_bytes resp_pkts resp_ip_bytes tunnel_parents"
	if got := strings.Join(fields[:21], " "); got != std {
		t.Errorf("standard fields out of Zeek's order:\n got %s\nwant %s", got, std)
	}
	if got := strings.Join(fields[len(fields)-2:], " "); got != "verdict rst_reason" {
		t.Errorf("last columns %q, want verdict rst_reason", got)
	}
	if len(rows) != len(a.Flows) {
		t.Fatalf("%d rows for %d flows", len(rows), len(a.Flows))
	}
	uids := map[string]bool{}
	for i, r := range a.Flows {
		row := rows[i]
		if row["id.orig_h"] != r.Client.Addr().String() || row["id.resp_p"] != strconv.Itoa(int(r.Server.Port())) {
			t.Errorf("row %d: endpoints %s:%s, want %s", i, row["id.orig_h"], row["id.resp_p"], r.Server)
		}
		if row["verdict"] != string(r.Verdict) || row["conn_state"] != r.ZeekState || row["community_id"] != CommunityID(r) {
			t.Errorf("row %d: verdict %s conn_state %s community_id %s, want %s %s %s", i, row["verdict"], row["conn_state"], row["community_id"], r.Verdict, r.ZeekState, CommunityID(r))
		}
		wantReason := "-"
		if r.Reset != nil && r.Reset.Reason != "" {
			wantReason = r.Reset.Reason
		}
		if row["rst_reason"] != wantReason {
			t.Errorf("row %d: rst_reason %s, want %s", i, row["rst_reason"], wantReason)
		}
		ts, err := strconv.ParseFloat(row["ts"], 64)
		if err != nil || int64(ts) != r.Start.Unix() {
			t.Errorf("row %d: ts %s, want %d.x", i, row["ts"], r.Start.Unix())
		}
		ipb, err := strconv.Atoi(row["orig_ip_bytes"])
		if err != nil || ipb < r.ClientPackets*20 {
			t.Errorf("row %d: orig_ip_bytes %s for %d packets", i, row["orig_ip_bytes"], r.ClientPackets)
		}
		if len(row["uid"]) != 18 || row["uid"][0] != 'C' || uids[row["uid"]] {
			t.Errorf("row %d: bad or repeated uid %q", i, row["uid"])
		}
		uids[row["uid"]] = true
		if ZeekUID(r) != row["uid"] {
			t.Errorf("uid not deterministic")
		}
	}
}

func TestZeekJSONKeys(t *testing.T) {
	a, px := analyse(t, labCapture("no-listener-v6"))
	var buf bytes.Buffer
	if err := ZeekJSON(&buf, a, px); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != len(a.Flows) {
		t.Fatalf("%d lines for %d flows", len(lines), len(a.Flows))
	}
	for i, line := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		r := a.Flows[i]
		if ts, ok := m["ts"].(float64); !ok || int64(ts) != r.Start.Unix() {
			t.Errorf("ts %v is not the epoch of %v", m["ts"], r.Start)
		}
		if m["id.orig_h"] != r.Client.Addr().String() || m["id.resp_p"] != float64(r.Server.Port()) {
			t.Errorf("dotted id keys wrong: %v", m)
		}
		if m["verdict"] != string(r.Verdict) || m["missed_bytes"] != float64(0) || m["proto"] != "tcp" {
			t.Errorf("fields wrong: %v", m)
		}
		for _, unset := range []string{"service", "local_orig", "tunnel_parents"} {
			if _, ok := m[unset]; ok {
				t.Errorf("unset field %s present", unset)
			}
		}
	}
}

func TestZeekEscape(t *testing.T) {
	for in, want := range map[string]string{"": "(empty)", "-": `\x2d`, "a\tb": `a\x09b`, `x\y`: `x\x5cy`, "é": `\xc3\xa9`, "ShAdDaFf": "ShAdDaFf"} {
		if got := zeekEscape(in); got != want {
			t.Errorf("zeekEscape(%q) = %q, want %q", in, got, want)
		}
	}
}

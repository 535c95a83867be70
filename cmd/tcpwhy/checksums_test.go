package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestDontVerifyChecksums runs -K on a lab capture taken on veth, whose
// TCP checksums the kernel left to an offload that never happened: the
// wrong checksums are counted and noted without it, not with it, and
// the verdicts are the same. With -v, the packet lines lose their
// checksums as tcpdump -vK's do, and nothing else.
func TestDontVerifyChecksums(t *testing.T) {
	f := labServer("graceful-client-first")
	type record struct {
		Type         string   `json:"type"`
		BadChecksums int      `json:"bad_checksums"`
		ID           int      `json:"id"`
		Verdict      string   `json:"verdict"`
		Explanation  string   `json:"explanation"`
		Notes        []string `json:"notes"`
	}
	records := func(args ...string) []record {
		t.Helper()
		code, out, stderr := rbMain(t, append(args, "--json", "-r", f)...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
		var rs []record
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			var r record
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				t.Fatalf("%v: %v: %s", args, err, line)
			}
			rs = append(rs, r)
		}
		return rs
	}
	checksumNotes := func(rs []record) (n int) {
		for _, r := range rs {
			for _, note := range r.Notes {
				if strings.Contains(note, "checksum") {
					n++
				}
			}
		}
		return n
	}
	verified, unverified := records(), records("-K")
	if verified[0].Type != "capture" || verified[0].BadChecksums == 0 || checksumNotes(verified) == 0 {
		t.Fatalf("without -K: %d wrong checksums counted, %d notes; want some of each", verified[0].BadChecksums, checksumNotes(verified))
	}
	if unverified[0].BadChecksums != 0 || checksumNotes(unverified) != 0 {
		t.Errorf("with -K: %d wrong checksums counted, %d notes; want none", unverified[0].BadChecksums, checksumNotes(unverified))
	}
	if len(verified) != len(unverified) {
		t.Fatalf("%d records without -K, %d with", len(verified), len(unverified))
	}
	flows := 0
	for i, v := range verified {
		u := unverified[i]
		if v.Type != u.Type || v.ID != u.ID || v.Verdict != u.Verdict || v.Explanation != u.Explanation {
			t.Errorf("record %d: %+v without -K, %+v with", i, v, u)
		}
		if v.Type == "flow" {
			flows++
		}
	}
	if flows == 0 {
		t.Fatal("no flow records")
	}

	_, withSums, _ := rbMain(t, "-v", "--no-annotations", "-r", f)
	_, without, _ := rbMain(t, "-vK", "--no-annotations", "-r", f)
	if !strings.Contains(withSums, ", cksum 0x") || strings.Contains(without, "cksum") {
		t.Fatalf("-v lines with cksum: %v; -vK lines with cksum: %v", strings.Contains(withSums, ", cksum 0x"), strings.Contains(without, "cksum"))
	}
	a, b := strings.Split(withSums, "\n"), strings.Split(without, "\n")
	if len(a) != len(b) {
		t.Fatalf("%d lines with -v, %d with -vK", len(a), len(b))
	}
	for i := range a {
		line := a[i]
		if j := strings.Index(line, ", cksum 0x"); j >= 0 {
			k := strings.Index(line[j+2:], ", ")
			line = line[:j] + line[j+2+k:]
		}
		if line != b[i] {
			t.Errorf("line %d: -v %q, -vK %q", i, a[i], b[i])
		}
	}
}

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tcpwhy/tcpwhy/internal/gen"
	"github.com/tcpwhy/tcpwhy/report"
)

// TestReportsBounded checks the Markdown and HTML reports of a capture
// with many failing flows: made from flows handed over one by one
// (bounded memory), they equal the reports made from an analysis that kept
// every flow, and they list the first 100 failing flows
// and one example of each failing verdict, not every flow. The HTML
// timelines of listeners with more than 500 connections draw the
// stretches of time each verdict's connections cover.
func TestReportsBounded(t *testing.T) {
	cfg := gen.DefaultConfig()
	cfg.Connections = 10000
	cfg.Seed = 11
	path := filepath.Join(t.TempDir(), "gen.pcap")
	if _, err := gen.WriteFile(path, cfg); err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"markdown", "html"} {
		var bounded, kept, errb bytes.Buffer
		if code := Main([]string{"-r", path, "--format", format}, nil, &bounded, &errb); code != 0 {
			t.Fatalf("%s: exit %d: %s", format, code, errb.String())
		}
		a, labels, reopen := analyseLabels(t, path)
		if err := renderReport(format, a, report.DigestOf(a), labels, reopen, &kept); err != nil {
			t.Fatalf("%s of every flow: %v", format, err)
		}
		if !bytes.Equal(bounded.Bytes(), kept.Bytes()) {
			t.Errorf("%s: the report of the bounded analysis (%d bytes) differs from the one of all flows (%d bytes)",
				format, bounded.Len(), kept.Len())
		}
		out := bounded.String()
		m := regexp.MustCompile(`The first 100 of the (\d+) failing flows`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("%s: no note that only the first 100 failing flows are listed", format)
		}
		var rows, sections int
		if format == "markdown" {
			rows = len(regexp.MustCompile(`(?m)^\| \d+ \|`).FindAllString(out, -1))
			sections = strings.Count(out, "\n### Flow ")
		} else {
			rows = len(regexp.MustCompile(`<tr><td class="num">(<a href="#flow-\d+">)?\d+`).FindAllString(out, -1))
			sections = strings.Count(out, `aria-label="ladder diagram"`)
		}
		verdicts := map[string]bool{}
		for _, v := range regexp.MustCompile(`"verdict":"([a-z-]+)"`).FindAllStringSubmatch(jsonOf(t, path), -1) {
			verdicts[v[1]] = true
		}
		failingKinds := 0
		for _, v := range []string{"no-listener", "unreachable", "syn-timeout", "overflow", "abort", "early-close",
			"data-after-close", "no-socket", "timeout", "unknown-reset"} {
			if verdicts[v] {
				failingKinds++
			}
		}
		if format == "html" && !regexp.MustCompile(`<title>[^<]*: \d+ connections between `).MatchString(out) {
			t.Errorf("html: no timeline drew covered stretches")
		}
		if format == "html" {
			// Every link of the failing-flows table leads to a section.
			for _, m := range regexp.MustCompile(`href="#(flow-\d+)"`).FindAllStringSubmatch(out, -1) {
				if !strings.Contains(out, `id="`+m[1]+`"`) {
					t.Errorf("html: a link to %s, which is not on the page", m[1])
				}
			}
		}
		if rows != 100 || sections != failingKinds {
			t.Errorf("%s: %d rows and %d flows with packets of %s failing flows; want 100 rows and %d (one per failing verdict)",
				format, rows, sections, m[1], failingKinds)
		}
	}
}

// jsonOf returns tcpwhy --json of path.
func jsonOf(t *testing.T, path string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if code := Main([]string{"-r", path, "--json"}, nil, &out, &errb); code != 0 {
		t.Fatalf("--json: exit %d: %s", code, errb.String())
	}
	return out.String()
}

// TestWriteBounded checks -w with every output: the pcapng file equals
// the one written from an analysis that kept every flow, and the output
// is the same as without -w (no output keeps the flows for -w).
func TestWriteBounded(t *testing.T) {
	dir := t.TempDir()
	for _, path := range []string{labServer("overflow-abort1"), labServer("mixed")} {
		a, reopen := analyseFile(t, path)
		want := filepath.Join(dir, "want.pcapng")
		if err := writeAnnotatedPcapng(want, a.Capture.Packets, report.PcapngCommentsOf(a), reopen); err != nil {
			t.Fatal(err)
		}
		wantData, err := os.ReadFile(want)
		if err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{{"--json"}, {"-q"}, {}, {"--no-annotations"}, {"--format", "markdown"}, {"--format", "zeek"}} {
			code, plain, stderr := rbMain(t, append([]string{"-r", path}, args...)...)
			if code != 0 {
				t.Fatalf("%v: exit %d: %s", args, code, stderr)
			}
			w := filepath.Join(dir, "got.pcapng")
			code, withW, stderr := rbMain(t, append([]string{"-r", path, "-w", w}, args...)...)
			if code != 0 {
				t.Fatalf("%v -w: exit %d: %s", args, code, stderr)
			}
			got, err := os.ReadFile(w)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, wantData) {
				t.Errorf("%s %v: -w wrote %d bytes unlike the %d of every flow's comments", path, args, len(got), len(wantData))
			}
			if plain != withW {
				t.Errorf("%s %v: output differs with -w", path, args)
			}
		}
	}
}

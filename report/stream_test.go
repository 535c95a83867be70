package report

import (
	"bytes"
	"cmp"
	"fmt"
	"maps"
	"math"
	"net/netip"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tcpwhy/tcpwhy/capture"
	"github.com/tcpwhy/tcpwhy/classify"
	"github.com/tcpwhy/tcpwhy/internal/gen"
)

// TestStreamsEqualWhole checks that JSONStream and SummaryStream, fed the
// flows of a bounded analysis one by one (their spools forced into a
// temporary file, compressed past its first 1000 bytes), write what JSON and Summary write for the analysis
// that kept every flow, when the flows are handed over in ID order.
func TestStreamsEqualWhole(t *testing.T) {
	old, oldPlain := spoolInMemory, spoolPlainOnDisk
	spoolInMemory, spoolPlainOnDisk = 64, 1000
	defer func() { spoolInMemory, spoolPlainOnDisk = old, oldPlain }()
	for _, f := range []string{"../testdata/pcaps/demo.pcap", "../testdata/pcaps/lab/mixed/server.pcap"} {
		a := analyzeFile(t, f)
		if len(a.Flows) < 3 {
			t.Fatalf("%s: %d flows", f, len(a.Flows))
		}
		var whole, streamed bytes.Buffer
		if err := JSON(&whole, a, false); err != nil {
			t.Fatal(err)
		}
		js := NewJSONStream(&streamed)
		for _, r := range a.Flows {
			js.Flow(r)
		}
		if err := js.Close(a); err != nil {
			t.Fatal(err)
		}
		if whole.String() != streamed.String() {
			t.Errorf("%s: JSONStream differs from JSON:\n%s\n---\n%s", f, streamed.String(), whole.String())
		}
		if w, s := summaries(t, a); w != s {
			t.Errorf("%s: SummaryStream differs from Summary:\n%s\n---\n%s", f, s, w)
		}
	}
}

// summaries writes a's summary with Summary and with a SummaryStream fed
// a's flows in order.
func summaries(t *testing.T, a *classify.Analysis) (whole, streamed string) {
	t.Helper()
	var w, s bytes.Buffer
	if err := Summary(&w, a); err != nil {
		t.Fatal(err)
	}
	ss := NewSummaryStream(&s)
	for _, r := range a.Flows {
		ss.Flow(r)
	}
	if err := ss.Close(a); err != nil {
		t.Fatal(err)
	}
	return w.String(), s.String()
}

// analyzeFile opens and analyses one capture with the default options.
func analyzeFile(t *testing.T, file string) *classify.Analysis {
	t.Helper()
	src, err := capture.Open([]string{file}, capture.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	return classify.Analyze(src, classify.Options{})
}

// TestSummaryBounded checks the summary of a capture with many failing
// flows and many hosts: it lists the first maxFailingLines failing flows
// and the first of each failing verdict after them, counts the others by
// verdict, lists the maxHostLines hosts with the largest counter deltas
// and sums the others' on one entry; the streamed summary says the same.
func TestSummaryBounded(t *testing.T) {
	a := analyzeFile(t, generated(t, 3000))
	// The flows of one failing verdict go last, so that its first comes
	// after the first maxFailingLines failing flows.
	var last classify.Verdict
	for _, r := range a.Flows {
		if r.Verdict.Failing() {
			last = r.Verdict
		}
	}
	slices.SortStableFunc(a.Flows, func(p, q *classify.FlowResult) int {
		return cmp.Compare(b2i(p.Verdict == last), b2i(q.Verdict == last))
	})
	out, streamed := summaries(t, a)
	if out != streamed {
		t.Fatalf("SummaryStream differs from Summary:\n%s\n---\n%s", streamed, out)
	}

	// The failing flows: which should be listed, which counted.
	var failing []*classify.FlowResult
	for _, r := range a.Flows {
		if r.Verdict.Failing() {
			failing = append(failing, r)
		}
	}
	seen := map[classify.Verdict]bool{}
	var wantListed []string
	unlisted := map[classify.Verdict]int{}
	for i, r := range failing {
		if i < maxFailingLines || !seen[r.Verdict] {
			wantListed = append(wantListed, fmt.Sprintf("  %s > %s  %s: ", r.Client, r.Server, r.Verdict))
		} else {
			unlisted[r.Verdict]++
		}
		seen[r.Verdict] = true
	}
	if len(wantListed) <= maxFailingLines || len(unlisted) < 3 {
		t.Fatalf("%d failing flows of %d verdicts, %d to list: too few to test the bound", len(failing), len(seen), len(wantListed))
	}
	section := out[strings.Index(out, "\nfailing flows:\n"):]
	section = section[:strings.Index(section, "\n\n")+1]
	lines := strings.Split(strings.TrimSuffix(section, "\n"), "\n")[2:]
	if len(lines) != len(wantListed)+1 {
		t.Fatalf("%d lines under failing flows, want %d listed and one count:\n%s", len(lines), len(wantListed), section)
	}
	for i, w := range wantListed {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("failing line %d: %q, want it to start %q", i, lines[i], w)
		}
	}
	wantMore := fmt.Sprintf("  ... and %d more failing flows, not listed: %s (--json has every flow)",
		len(failing)-len(wantListed), verdictCounts(unlisted))
	if got := lines[len(lines)-1]; got != wantMore {
		t.Errorf("count line %q, want %q", got, wantMore)
	}

	// The hosts: the busiest listed, every counter's total kept.
	var hosts []*classify.Host
	want := classify.Counters{}
	for _, h := range a.Hosts {
		if len(h.Counters) > 0 {
			hosts = append(hosts, h)
			for n, v := range h.Counters {
				want[n] += v
			}
		}
	}
	if len(hosts) <= maxHostLines {
		t.Fatalf("%d hosts with counters: too few to test the bound", len(hosts))
	}
	hs := out[strings.Index(out, "\npredicted nstat deltas per host"):]
	got := classify.Counters{}
	listedIPs := map[string]bool{}
	counter := regexp.MustCompile(`^    (\w+) +([+-]\d+)  \(`)
	for _, l := range strings.Split(hs, "\n")[2:] {
		if m := counter.FindStringSubmatch(l); m != nil {
			v, _ := strconv.Atoi(m[2])
			got[m[1]] += v
		} else if strings.HasPrefix(l, "  ") && !strings.HasPrefix(l, "  ...") {
			listedIPs[strings.TrimSpace(l)] = true
		}
	}
	if !maps.Equal(got, want) {
		t.Errorf("the listed and summed counters add up to %v, the hosts' to %v", got, want)
	}
	if len(listedIPs) != maxHostLines {
		t.Errorf("%d hosts listed, want %d", len(listedIPs), maxHostLines)
	}
	if !strings.Contains(hs, fmt.Sprintf("  ... and %d more hosts, not listed", len(hosts)-maxHostLines)) {
		t.Errorf("no count of the %d hosts not listed", len(hosts)-maxHostLines)
	}
	total := func(h *classify.Host) (t int) {
		for _, v := range h.Counters {
			t += max(v, -v)
		}
		return t
	}
	minListed, maxRest := math.MaxInt, 0
	for _, h := range hosts {
		if listedIPs[h.IP.String()] {
			minListed = min(minListed, total(h))
		} else {
			maxRest = max(maxRest, total(h))
		}
	}
	if maxRest > minListed {
		t.Errorf("a host with deltas of %d is not listed, one with %d is", maxRest, minListed)
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestSummaryListenersBounded checks the summary's listeners: the
// maxListenerLines with the most failing connections are described, in
// their order, the others counted by diagnosis, and each check is
// written once, later diagnoses referring to it.
func TestSummaryListenersBounded(t *testing.T) {
	a := &classify.Analysis{Verdicts: map[classify.Verdict]int{}}
	kinds := []string{"syn-drops", "reject-or-no-listener", "overflow"}
	const n = maxListenerLines + 12
	for i := range n {
		kind := kinds[i%len(kinds)]
		failing := (i * 37) % n // distinct weights
		a.Listeners = append(a.Listeners, &classify.Listener{
			Server:      netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i / 200), byte(i)}), 80),
			Connections: failing + 5,
			Verdicts:    map[classify.Verdict]int{classify.NoListener: failing, classify.GracefulClose: 5},
			Diagnosis: []classify.Diagnosis{{Kind: kind, Explanation: "why " + kind,
				Checks: []string{"check one of " + kind, fmt.Sprintf("check of listener %d", i)}}},
		})
	}
	out, streamed := summaries(t, a)
	if out != streamed {
		t.Fatalf("SummaryStream differs from Summary:\n%s\n---\n%s", streamed, out)
	}
	section := out[strings.Index(out, "\nlisteners:\n")+len("\nlisteners:\n"):]
	var described []string
	unlisted := map[string]int{}
	for i, l := range a.Listeners {
		failing := l.Verdicts[classify.NoListener]
		if failing >= n-maxListenerLines {
			described = append(described, fmt.Sprintf("  %s: ", l.Server))
		} else {
			unlisted[kinds[i%len(kinds)]]++
		}
	}
	var got []string
	for _, line := range strings.Split(section, "\n") {
		if strings.HasPrefix(line, "  ") && !strings.HasPrefix(line, "   ") && !strings.HasPrefix(line, "  ...") {
			got = append(got, line[:strings.Index(line, ": ")+2])
		}
	}
	if !slices.Equal(got, described) {
		t.Errorf("listeners described:\n%q\nwant:\n%q", got, described)
	}
	wantMore := fmt.Sprintf("  ... and %d more listeners with a diagnosis, not listed (--json has every listener): ", n-maxListenerLines)
	if !strings.Contains(section, wantMore) {
		t.Errorf("no line %q in:\n%s", wantMore, section)
	}
	for _, k := range kinds {
		if c := fmt.Sprintf("%d %s", unlisted[k], k); !strings.Contains(section, c) {
			t.Errorf("the count of listeners not listed lacks %q", c)
		}
		if c := strings.Count(section, "check: check one of "+k+"\n"); c != 1 {
			t.Errorf("the check shared by every %s written %d times, want once", k, c)
		}
	}
	if c := strings.Count(section, "check: and as for "); c != maxListenerLines-len(kinds) {
		t.Errorf("%d diagnoses refer to the checks above, want %d", c, maxListenerLines-len(kinds))
	}

	// The Markdown report describes the same listeners, the same way.
	var md bytes.Buffer
	if err := Markdown(&md, a, NewDigest(), nil); err != nil {
		t.Fatal(err)
	}
	var mdListed []string
	for _, m := range regexp.MustCompile("(?m)^### `([^`]+)`").FindAllStringSubmatch(md.String(), -1) {
		mdListed = append(mdListed, "  "+m[1]+": ")
	}
	if !slices.Equal(mdListed, described) {
		t.Errorf("markdown describes:\n%q\nwant:\n%q", mdListed, described)
	}
	for _, k := range kinds {
		if c := strings.Count(md.String(), "    - check one of "+k+"\n"); c != 1 {
			t.Errorf("markdown: the check shared by every %s written %d times, want once", k, c)
		}
	}
	if want := fmt.Sprintf("%d more are not described", n-maxListenerLines); !strings.Contains(md.String(), want) {
		t.Errorf("markdown: no %q", want)
	}
}

// TestSummaryWantHeld checks that a summary whose analysis skips the
// held syn-timeout flows it would only count (classify.Options.WantHeld)
// says the same as one handed every flow, with fewer flows handed over,
// on captures whose held flows pass the listing's bound: a generated SYN
// flood, then (merged after it, months later) the lab's overflow-abort0,
// whose last attempt the listener diagnosis turns from syn-timeout into
// overflow, a verdict listed already by then.
func TestSummaryWantHeld(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flood.pcap")
	if _, err := gen.WriteFile(path, gen.Config{Connections: 3000, SYNFlood: 3000, Seed: 7}); err != nil {
		t.Fatal(err)
	}
	files := []string{path, "../testdata/pcaps/lab/overflow-abort0/server.pcap"}
	summary := func(wantHeld bool) (string, int, *classify.Analysis) {
		src, err := capture.Open(files, capture.OpenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		var out bytes.Buffer
		ss := NewSummaryStream(&out)
		handed := 0
		opts := classify.Options{Bounded: true, ReuseResults: true, NoAnnotations: true,
			OnFlow: func(r *classify.FlowResult) { handed++; ss.Flow(r) }}
		if wantHeld {
			opts.WantHeld = ss.WantHeld
		}
		a := classify.Analyze(src, opts)
		if err := ss.Close(a); err != nil {
			t.Fatal(err)
		}
		return out.String(), handed, a
	}
	all, handedAll, a := summary(false)
	skipped, handedSkipped, _ := summary(true)
	if skipped != all {
		t.Fatalf("with WantHeld the summary differs:\n%s\n---\n%s", skipped, all)
	}
	held := a.Verdicts[classify.SynTimeout]
	t.Logf("%d flows, %d syn-timeout and %d overflow; %d handed over, %d with WantHeld", a.FlowCount, held, a.Verdicts[classify.Overflow], handedAll, handedSkipped)
	if held <= maxFailingLines || a.Verdicts[classify.Overflow] == 0 || handedSkipped >= handedAll-held/2 {
		t.Errorf("%d syn-timeout and %d overflow flows, %d of %d flows handed over with WantHeld: the capture does not test the skipping",
			held, a.Verdicts[classify.Overflow], handedSkipped, handedAll)
	}
}

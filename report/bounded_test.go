package report

import (
	"bytes"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/tcpwhy/tcpwhy/classify"
)

// manyListenersAndHosts returns an analysis with more listeners and more
// hosts with counters than a report lists, each with a distinct weight
// (failing connections, sum of deltas); every third listener has no
// diagnosis.
func manyListenersAndHosts() *classify.Analysis {
	a := &classify.Analysis{Verdicts: map[classify.Verdict]int{}}
	const nl, nh = maxListenerLines + 12, maxHostLines + 7
	for i := range nl {
		failing := (i * 37) % nl // distinct weights
		l := &classify.Listener{
			Server:      netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), 80),
			Connections: failing + 5,
			Verdicts:    map[classify.Verdict]int{classify.NoListener: failing, classify.GracefulClose: 5},
		}
		if i%3 != 0 {
			l.Diagnosis = []classify.Diagnosis{{Kind: "reject-or-no-listener", Explanation: "nothing listens"}}
		}
		a.Listeners = append(a.Listeners, l)
	}
	for i := range nh {
		a.Hosts = append(a.Hosts, &classify.Host{IP: netip.AddrFrom4([4]byte{10, 1, 0, byte(i)}),
			Counters: classify.Counters{"TcpOutRsts": (i * 41) % nh, "TcpAttemptFails": -1}})
	}
	return a
}

// wantBusiest returns the names of items whose weight is among the n
// largest (weights are distinct), in their order, and the count of the
// others.
func wantBusiest[T any](items []T, n int, weight func(T) int, name func(T) string) (listed []string, rest int) {
	ws := make([]int, len(items))
	for i, it := range items {
		ws[i] = weight(it)
	}
	slices.Sort(ws)
	cut := ws[len(ws)-n]
	for _, it := range items {
		if weight(it) >= cut {
			listed = append(listed, name(it))
		} else {
			rest++
		}
	}
	return listed, rest
}

// TestReportsBoundListenersAndHosts checks that the HTML report shows the
// maxListenerLines listeners with the most failing connections, diagnosed
// or not, and that it and the Markdown report list the maxHostLines hosts
// with the largest deltas, each saying how many it left out.
func TestReportsBoundListenersAndHosts(t *testing.T) {
	a := manyListenersAndHosts()
	wantListeners, restListeners := wantBusiest(a.Listeners, maxListenerLines,
		func(l *classify.Listener) int { return l.Verdicts[classify.NoListener] },
		func(l *classify.Listener) string { return l.Server.String() })
	wantHosts, restHosts := wantBusiest(a.Hosts, maxHostLines,
		func(h *classify.Host) int { return h.Counters["TcpOutRsts"] + 1 },
		func(h *classify.Host) string { return h.IP.String() })
	restDiagnosed := 0
	for _, l := range a.Listeners {
		if !slices.Contains(wantListeners, l.Server.String()) && len(l.Diagnosis) > 0 {
			restDiagnosed++
		}
	}
	if restListeners == 0 || restDiagnosed == 0 || restDiagnosed == restListeners || restHosts == 0 {
		t.Fatalf("%d listeners left out (%d diagnosed), %d hosts: not enough to test the bounds", restListeners, restDiagnosed, restHosts)
	}

	var h bytes.Buffer
	if err := HTML(&h, a, DigestOf(a), nil); err != nil {
		t.Fatal(err)
	}
	html := h.String()
	var gotListeners []string
	for _, m := range regexp.MustCompile(`<h3><code>([^<]+)</code>: `).FindAllStringSubmatch(html, -1) {
		gotListeners = append(gotListeners, m[1])
	}
	if !slices.Equal(gotListeners, wantListeners) {
		t.Errorf("HTML listeners:\n%q\nwant:\n%q", gotListeners, wantListeners)
	}
	note := fmt.Sprintf("<p>The %d listeners with the most failing connections; %d more are not shown (%d reject-or-no-listener); --json has every listener.</p>",
		maxListenerLines, restListeners, restDiagnosed)
	if !strings.Contains(html, note) {
		t.Errorf("HTML lacks %q", note)
	}
	if got := hostRows(html, regexp.MustCompile(`<tr><td class="mono">([^<]+)</td><td class="mono">TcpOutRsts</td>`)); !slices.Equal(got, wantHosts) {
		t.Errorf("HTML hosts:\n%q\nwant:\n%q", got, wantHosts)
	}
	note = fmt.Sprintf("<p>The %d hosts with the largest deltas; %d more are not listed; --json has every host.</p>", maxHostLines, restHosts)
	if !strings.Contains(html, note) {
		t.Errorf("HTML lacks %q", note)
	}

	var m bytes.Buffer
	if err := Markdown(&m, a, DigestOf(a), nil); err != nil {
		t.Fatal(err)
	}
	md := m.String()
	if got := hostRows(md, regexp.MustCompile("(?m)^\\| `([^`]+)` \\| `TcpOutRsts` \\|")); !slices.Equal(got, wantHosts) {
		t.Errorf("Markdown hosts:\n%q\nwant:\n%q", got, wantHosts)
	}
	note = fmt.Sprintf("The %d hosts with the largest deltas; %d more are not listed; `--json` has every host.", maxHostLines, restHosts)
	if !strings.Contains(md, note) {
		t.Errorf("Markdown lacks %q", note)
	}
}

// hostRows returns the first submatch of every match of re in s.
func hostRows(s string, re *regexp.Regexp) []string {
	var ips []string
	for _, m := range re.FindAllStringSubmatch(s, -1) {
		ips = append(ips, m[1])
	}
	return ips
}

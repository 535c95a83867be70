package report

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/tcpwhy/tcpwhy/classify"
)

// digestFlows makes n flows to a few servers with every verdict, some
// reset by the client and some by the server.
func digestFlows(n int, rng *rand.Rand) []*classify.FlowResult {
	servers := []netip.AddrPort{netip.MustParseAddrPort("10.0.0.1:80"), netip.MustParseAddrPort("10.0.0.2:443"),
		netip.MustParseAddrPort("[2001:db8::1]:8080")}
	t0 := time.Unix(1700000000, 0)
	rs := make([]*classify.FlowResult, n)
	for i := range rs {
		v := classify.Verdicts[rng.IntN(len(classify.Verdicts))]
		r := &classify.FlowResult{ID: int64(i + 1), Verdict: v, Server: servers[rng.IntN(len(servers))],
			Client: netip.AddrPortFrom(netip.MustParseAddr("192.0.2.7"), uint16(1024+i))}
		r.Start = t0.Add(time.Duration(rng.IntN(60_000)) * time.Millisecond)
		r.End = r.Start.Add(time.Duration(rng.IntN(2_000)) * time.Millisecond)
		if v.Failing() && rng.IntN(3) > 0 {
			r.Reset = &classify.Reset{By: classify.SideServer}
			if rng.IntN(8) == 0 {
				r.Reset.By = classify.SideClient
			}
		}
		rs[i] = r
	}
	return rs
}

// TestDigest checks that a Digest fed flows in any order keeps what the
// reports would compute from all of them: the counts, the headlines, the
// first failing flows by ID and the first flow of each failing verdict.
func TestDigest(t *testing.T) {
	for _, n := range []int{0, 1, 20, 99, 100, 101, 3000} {
		rng := rand.New(rand.NewPCG(uint64(n), 1))
		rs := digestFlows(n, rng)
		shuffled := slices.Clone(rs)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		// Flows handed over as a bounded analysis with reused results
		// does: the same FlowResult each time, its maps cleared.
		d := NewDigest()
		var spare classify.FlowResult
		for _, r := range shuffled {
			spare = *r
			spare.ClientCounters, spare.ServerCounters = scratch(0), scratch(1)
			d.Flow(&spare)
		}
		scratchMaps[0]["x"], scratchMaps[1]["x"] = 1, 1
		for _, r := range d.Kept() {
			if r == &spare || r.ClientCounters["x"] != 0 || r.ServerCounters["x"] != 0 {
				t.Fatalf("n=%d: the digest kept the reused result of flow %d", n, r.ID)
			}
		}

		var failing []*classify.FlowResult
		first := map[classify.Verdict]*classify.FlowResult{}
		total := map[netip.AddrPort]int{}
		type key struct {
			s netip.AddrPort
			v classify.Verdict
		}
		count := map[key]int{}
		by := map[key]classify.Side{}
		for _, r := range rs { // ID order
			total[r.Server]++
			if !r.Verdict.Failing() {
				continue
			}
			failing = append(failing, r)
			if first[r.Verdict] == nil {
				first[r.Verdict] = r
			}
			k := key{r.Server, r.Verdict}
			side := classify.Side("")
			if r.Reset != nil {
				side = r.Reset.By
			}
			if count[k] == 0 {
				by[k] = side
			} else if by[k] != side {
				by[k] = ""
			}
			count[k]++
		}
		if d.Flows() != n || d.FailingCount() != len(failing) {
			t.Errorf("n=%d: %d flows, %d failing; want %d, %d", n, d.Flows(), d.FailingCount(), n, len(failing))
		}
		want := failing[:min(len(failing), digestMaxFailing)]
		if got := d.Failing(); !slices.Equal(ids(got), ids(want)) {
			t.Errorf("n=%d: Failing() has %d flows, not the first %d by ID", n, len(got), len(want))
		}
		sections := d.Sections()
		if len(failing) <= digestMaxSections {
			if !slices.Equal(ids(sections), ids(failing)) {
				t.Errorf("n=%d: %d sections for %d failing flows", n, len(sections), len(failing))
			}
		} else {
			var wantS []*classify.FlowResult
			for _, v := range classify.Verdicts {
				if first[v] != nil {
					wantS = append(wantS, first[v])
				}
			}
			if !slices.Equal(ids(sections), ids(wantS)) {
				t.Errorf("n=%d: sections are not the first flow of each failing verdict", n)
			}
		}
		kept := ids(d.Kept())
		if !slices.IsSorted(kept) || len(slices.Compact(slices.Clone(kept))) != len(kept) {
			t.Errorf("n=%d: Kept() %v not by ID, or twice", n, kept)
		}
		for _, r := range append(slices.Clone(want), sections...) {
			if !slices.Contains(kept, r.ID) {
				t.Errorf("n=%d: flow %d shown but not in Kept()", n, r.ID)
			}
		}
		fs, nfs := d.findingList()
		if nfs != len(count) || len(fs) != min(nfs, digestMaxFindings) {
			t.Errorf("n=%d: %d findings listed of %d, want %d", n, len(fs), nfs, len(count))
		}
		for i, f := range fs {
			k := key{f.Server, f.Verdict}
			if f.Count != count[k] || f.Total != total[f.Server] || f.By != by[k] {
				t.Errorf("n=%d: finding %v: count %d of %d by %q, want %d of %d by %q", n, k, f.Count, f.Total, f.By, count[k], total[f.Server], by[k])
			}
			if i > 0 && fs[i-1].Count < f.Count {
				t.Errorf("n=%d: findings not largest first", n)
			}
		}
	}
}

// scratch returns counter maps reused from flow to flow, as a bounded
// analysis with reused results hands them over.
var scratchMaps = [2]classify.Counters{{}, {}}

func scratch(i int) classify.Counters {
	m := scratchMaps[i]
	clear(m)
	return m
}

func ids(rs []*classify.FlowResult) []int64 {
	out := make([]int64, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

// TestLaneRuns checks the covered stretches of a busy timeline lane:
// sorted, disjoint and apart, at most digestMaxRuns, covering every
// connection and counting each once.
func TestLaneRuns(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	t0 := time.Unix(1700000000, 0)
	l := &laneRuns{shift: 20}
	type iv struct{ s, e time.Time }
	var all []iv
	for i := range 20000 {
		s := t0.Add(time.Duration(rng.Int64N(int64(3 * time.Hour))))
		e := s.Add(time.Duration(rng.Int64N(int64(10 * time.Millisecond))))
		if i%5000 == 0 {
			e = s.Add(10 * time.Minute) // a few long connections
		}
		all = append(all, iv{s, e})
		l.add(s.UnixNano(), e.UnixNano())
		if len(l.runs) > digestMaxRuns {
			t.Fatalf("%d runs after %d connections", len(l.runs), i+1)
		}
	}
	sum := 0
	for i, r := range l.runs {
		sum += r.n
		if r.hi < r.lo || (i > 0 && l.runs[i-1].hi+1 >= r.lo) {
			t.Fatalf("run %d %v after %v: not sorted, disjoint and apart", i, r, l.runs[max(i-1, 0)])
		}
	}
	if sum != len(all) {
		t.Errorf("runs count %d connections, want %d", sum, len(all))
	}
	for _, c := range all {
		covered := false
		for _, r := range l.runs {
			s, e := l.span(r)
			if !c.s.Before(s) && !c.e.After(e) {
				covered = true
				break
			}
		}
		if !covered {
			t.Fatalf("connection %v-%v not covered by one run", c.s, c.e)
		}
	}
	// The grain coarsens only when more than digestMaxRuns stretches
	// apart fill the span, so it stays within about a pixel of the
	// timeline (830 pixels wide).
	if unit := time.Duration(1) << l.shift; l.shift == 20 || unit > 3*time.Hour/digestMaxRuns {
		t.Errorf("%d runs of %v for 3 hours of short connections", len(l.runs), unit)
	}
	t.Logf("%d runs of 2^%d ns", len(l.runs), l.shift)
}

// TestDigestLeavesOutProbes feeds a Digest a port scan's probes (one
// connection to each of many ip:ports, refused, unanswered or cut short)
// around real servers, then servers with three connections each: it keeps
// at most digestMaxServers servers, drops those with the fewest
// connections first, and keeps only the kept servers' findings and
// timelines.
func TestDigestLeavesOutProbes(t *testing.T) {
	d := NewDigest()
	id := int64(0)
	t0 := time.Unix(1700000000, 0)
	add := func(s netip.AddrPort, v classify.Verdict) {
		id++
		d.Flow(&classify.FlowResult{ID: id, Client: netip.MustParseAddrPort("192.0.2.7:40000"), Server: s, Verdict: v,
			Start: t0.Add(time.Duration(id) * time.Millisecond), End: t0.Add(time.Duration(id+1) * time.Millisecond)})
	}
	web := netip.MustParseAddrPort("10.9.9.9:80")
	down := netip.MustParseAddrPort("10.9.9.8:443")
	add(web, classify.GracefulClose)
	add(web, classify.GracefulClose)
	add(web, classify.EarlyClose)
	for range 3 {
		add(down, classify.NoListener)
	}
	probes := 4 * digestMaxServers
	verdicts := []classify.Verdict{classify.NoListener, classify.SynTimeout, classify.Unreachable, classify.EarlyClose}
	for i := range probes {
		add(netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), uint16(1+i>>16)), verdicts[i%4])
	}
	if len(d.total) != digestMaxServers || len(d.timelines) != digestMaxServers {
		t.Fatalf("%d servers and %d timelines tracked, want %d", len(d.total), len(d.timelines), digestMaxServers)
	}
	for _, s := range []netip.AddrPort{web, down} {
		if d.timelines[s] == nil || d.total[s] == 0 {
			t.Errorf("%s was left out", s)
		}
	}
	// Every finding left is a kept server's: web's early-close, down's
	// refusals, and one per probe kept.
	for k := range d.findings {
		if d.total[k.s] == 0 {
			t.Errorf("finding %s %s outlived its server", k.s, k.v)
		}
	}
	if len(d.findings) != digestMaxServers {
		t.Errorf("%d findings, want %d", len(d.findings), digestMaxServers)
	}
	if d.Flows() != int(id) || d.FailingCount() != int(id)-2 {
		t.Errorf("%d flows, %d failing; want %d and %d", d.Flows(), d.FailingCount(), id, id-2)
	}
	if d.queue.Len() > digestMaxServers {
		t.Errorf("the queue holds %d servers", d.queue.Len())
	}

	// Servers with three connections each: once no server has two or
	// fewer, those with up to four go, oldest first (web and down too).
	for i := range 2 * digestMaxServers {
		s := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 2, byte(i >> 8), byte(i)}), uint16(1+i>>16))
		for range 3 {
			add(s, classify.EarlyClose)
		}
	}
	if len(d.total) != digestMaxServers || len(d.timelines) != digestMaxServers || d.leaveOutMax != 4 {
		t.Fatalf("%d servers and %d timelines tracked, at most %d connections left out; want %d, %d and 4",
			len(d.total), len(d.timelines), d.leaveOutMax, digestMaxServers, digestMaxServers)
	}
	for _, s := range []netip.AddrPort{web, down} {
		if d.total[s] != 0 {
			t.Errorf("%s was kept", s)
		}
	}
	for k := range d.findings {
		if d.total[k.s] != 3 || k.v != classify.EarlyClose {
			t.Errorf("finding %s %s kept, of a server with %d connections", k.s, k.v, d.total[k.s])
		}
	}
}

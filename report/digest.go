package report

import (
	"cmp"
	"maps"
	"net/netip"
	"slices"
	"time"

	"github.com/tcpwhy/tcpwhy/classify"
	"github.com/tcpwhy/tcpwhy/internal/fifo"
)

// Limits of what a Digest keeps, so that the Markdown and HTML reports of
// a capture of any size stay readable and their memory bounded.
const (
	// digestMaxFailing is how many failing flows (the first by ID) the
	// reports list one by one.
	digestMaxFailing = 100
	// digestMaxSections is how many failing flows get their decisive
	// packets shown when there are more than that: then one example of
	// each failing verdict is shown instead.
	digestMaxSections = 25
	// digestMaxFindings is how many headlines (server and verdict) the
	// reports list, largest first.
	digestMaxFindings = 30
	// digestMaxMarks is how many connections a listener's timeline draws
	// one by one; past it, the connections of each lane are drawn as
	// covered stretches of time (see laneRuns).
	digestMaxMarks = 500
	// digestMaxRuns bounds the stretches of one lane; when there would be
	// more, the time grain doubles.
	digestMaxRuns = 512
	// digestMaxServers is how many servers the Digest tracks; past it, it
	// drops those with the fewest connections, oldest first: at most two
	// at first, twice as many each time none has so few (a port scan's
	// probes, a gateway's one-off connections; classify's listener view
	// leaves out the same kind past as many listeners).
	digestMaxServers = 1 << 14
)

// Digest is what the Markdown and HTML reports need of an analysis's
// flows, kept as they are handed over one by one
// (classify.Options.Bounded), so that the reports' memory follows the
// servers and verdicts seen, not the number of flows: counts by server
// and verdict, the first failing flows by ID, one example flow of each
// failing verdict, and each listener's timeline. Build it with
// NewDigest and Flow, or DigestOf for an analysis that kept its flows.
type Digest struct {
	flows, failing int
	total          map[netip.AddrPort]int
	findings       map[findingKey]*finding
	// first holds the first digestMaxFailing failing flows by ID, as a
	// max-heap on ID while flows arrive (sorted by Failing).
	first []*classify.FlowResult
	// example holds the first failing flow of each verdict.
	example   map[classify.Verdict]*classify.FlowResult
	timelines map[netip.AddrPort]*serverMarks
	// queue lists the servers in the order they were first seen: the
	// ones leaveOut considers. leaveOutMax is the most connections of a
	// server it drops; seq counts the servers seen.
	queue               fifo.Queue[netip.AddrPort]
	leaveOutMax, seq    int
	leftOutSinceRequeue bool
}

type findingKey struct {
	s netip.AddrPort
	v classify.Verdict
}

// serverMarks are the timeline marks of one server's connections: each
// connection while there are at most digestMaxMarks, then covered
// stretches of time per verdict.
type serverMarks struct {
	// seq orders the servers by their first flow.
	seq   int
	n     int
	marks []markFlow
	lanes map[classify.Verdict]*laneRuns
}

// markFlow is one connection on a timeline (its server is the
// timeline's; times in Unix nanoseconds, to keep it at 80 bytes).
type markFlow struct {
	id         int64
	client     netip.AddrPort
	verdict    classify.Verdict
	start, end int64
}

// laneRuns are the stretches of time covered by connections of one
// verdict, in units of 2^shift nanoseconds since the Unix epoch, sorted
// and disjoint.
type laneRuns struct {
	shift uint
	runs  []timeRun
}

// timeRun is one covered stretch: units lo to hi (inclusive) and the
// connections that fell in it.
type timeRun struct {
	lo, hi int64
	n      int
}

// NewDigest returns an empty Digest.
func NewDigest() *Digest {
	return &Digest{total: map[netip.AddrPort]int{}, findings: map[findingKey]*finding{},
		example: map[classify.Verdict]*classify.FlowResult{}, timelines: map[netip.AddrPort]*serverMarks{}, leaveOutMax: 2}
}

// DigestOf digests every flow of an analysis that kept them.
func DigestOf(a *classify.Analysis) *Digest {
	d := NewDigest()
	for _, r := range a.Flows {
		d.Flow(r)
	}
	return d
}

// Flow adds one flow. It keeps nothing of r (classify.Options
// ReuseResults): the few flows it keeps whole are copied.
func (d *Digest) Flow(r *classify.FlowResult) {
	d.flows++
	if _, seen := d.total[r.Server]; !seen {
		if len(d.total) >= digestMaxServers {
			d.leaveOut()
		}
		d.queue.Push(r.Server)
	}
	d.total[r.Server]++
	d.mark(r)
	if !r.Verdict.Failing() {
		return
	}
	d.failing++
	k := findingKey{r.Server, r.Verdict}
	f := d.findings[k]
	if f == nil {
		f = &finding{Verdict: r.Verdict, Server: r.Server}
		if r.Reset != nil {
			f.By = r.Reset.By
		}
		d.findings[k] = f
	}
	f.Count++
	// By says who reset when every flow of the finding agrees; "" once
	// one disagrees (or was not reset), for good.
	if r.Reset == nil || r.Reset.By != f.By {
		f.By = ""
	}
	if e := d.example[r.Verdict]; e == nil || r.ID < e.ID {
		d.example[r.Verdict] = keep(r)
	}
	d.keepFirst(r)
}

// leaveOut drops the oldest server with at most leaveOutMax connections:
// its count, timeline and findings. The servers it passes over are
// considered again only when none is left to consider: then every server
// is queued again, oldest first, and leaveOutMax doubles unless a server
// was dropped since the last time.
func (d *Digest) leaveOut() {
	for {
		s, ok := d.queue.Pop()
		if !ok {
			if len(d.timelines) == 0 {
				return
			}
			d.requeue()
			continue
		}
		sm := d.timelines[s]
		if sm == nil || d.total[s] > d.leaveOutMax {
			continue
		}
		for _, m := range sm.marks {
			delete(d.findings, findingKey{s, m.verdict})
		}
		for v := range sm.lanes {
			delete(d.findings, findingKey{s, v})
		}
		delete(d.timelines, s)
		delete(d.total, s)
		d.leftOutSinceRequeue = true
		return
	}
}

// requeue queues every server, oldest first, and doubles leaveOutMax
// unless a server was dropped since it last did.
func (d *Digest) requeue() {
	ss := slices.SortedFunc(maps.Keys(d.timelines), func(x, y netip.AddrPort) int {
		return cmp.Compare(d.timelines[x].seq, d.timelines[y].seq)
	})
	for _, s := range ss {
		d.queue.Push(s)
	}
	if !d.leftOutSinceRequeue {
		d.leaveOutMax *= 2
	}
	d.leftOutSinceRequeue = false
}

// keepFirst keeps r if it is among the digestMaxFailing failing flows of
// lowest ID seen so far (d.first is a max-heap on ID).
func (d *Digest) keepFirst(r *classify.FlowResult) {
	h := d.first
	if len(h) < digestMaxFailing {
		h = append(h, keep(r))
		for i := len(h) - 1; i > 0; {
			p := (i - 1) / 2
			if h[p].ID >= h[i].ID {
				break
			}
			h[p], h[i] = h[i], h[p]
			i = p
		}
		d.first = h
		return
	}
	if r.ID >= h[0].ID {
		return
	}
	h[0] = keep(r)
	for i := 0; ; {
		c := 2*i + 1
		if c >= len(h) {
			break
		}
		if c+1 < len(h) && h[c+1].ID > h[c].ID {
			c++
		}
		if h[i].ID >= h[c].ID {
			break
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
}

// keep copies a flow handed over with classify.Options.ReuseResults,
// which reuses its counter maps and its Evidence and Annotations arrays
// (the rest is new for each flow).
func keep(r *classify.FlowResult) *classify.FlowResult {
	c := *r
	c.ClientCounters, c.ServerCounters = maps.Clone(r.ClientCounters), maps.Clone(r.ServerCounters)
	c.Evidence, c.Annotations = slices.Clone(r.Evidence), slices.Clone(r.Annotations)
	return &c
}

// mark adds r to its server's timeline.
func (d *Digest) mark(r *classify.FlowResult) {
	sm := d.timelines[r.Server]
	if sm == nil {
		d.seq++
		sm = &serverMarks{seq: d.seq}
		d.timelines[r.Server] = sm
	}
	sm.n++
	if sm.lanes == nil && len(sm.marks) < digestMaxMarks {
		sm.marks = append(sm.marks, markFlow{id: r.ID, client: r.Client, verdict: r.Verdict, start: r.Start.UnixNano(), end: r.End.UnixNano()})
		return
	}
	if sm.lanes == nil {
		sm.lanes = map[classify.Verdict]*laneRuns{}
		for _, m := range sm.marks {
			sm.lane(m.verdict).add(m.start, m.end)
		}
		sm.marks = nil
	}
	sm.lane(r.Verdict).add(r.Start.UnixNano(), r.End.UnixNano())
}

func (sm *serverMarks) lane(v classify.Verdict) *laneRuns {
	l := sm.lanes[v]
	if l == nil {
		// 2^20 ns: about a millisecond.
		l = &laneRuns{shift: 20}
		sm.lanes[v] = l
	}
	return l
}

// add covers start to end (Unix nanoseconds) with one connection.
func (l *laneRuns) add(start, end int64) {
	lo, hi := start>>l.shift, end>>l.shift
	if hi < lo {
		hi = lo
	}
	l.insert(timeRun{lo, hi, 1})
	for len(l.runs) > digestMaxRuns {
		l.coarsen()
	}
}

// insert merges r into the runs it overlaps or touches.
func (l *laneRuns) insert(r timeRun) {
	i, _ := slices.BinarySearchFunc(l.runs, r.lo, func(x timeRun, lo int64) int {
		// The first run that ends at or after lo-1 (touching counts).
		return cmp.Compare(x.hi+1, lo)
	})
	j := i
	for j < len(l.runs) && l.runs[j].lo <= r.hi+1 {
		r.lo, r.hi, r.n = min(r.lo, l.runs[j].lo), max(r.hi, l.runs[j].hi), r.n+l.runs[j].n
		j++
	}
	l.runs = slices.Replace(l.runs, i, j, r)
}

// coarsen doubles the time unit and merges the runs that come to touch.
func (l *laneRuns) coarsen() {
	l.shift++
	old := l.runs
	l.runs = make([]timeRun, 0, len(old))
	for _, r := range old {
		r.lo, r.hi = r.lo>>1, r.hi>>1
		if n := len(l.runs); n > 0 && l.runs[n-1].hi+1 >= r.lo {
			l.runs[n-1].hi = max(l.runs[n-1].hi, r.hi)
			l.runs[n-1].n += r.n
			continue
		}
		l.runs = append(l.runs, r)
	}
}

// span returns the times a run covers.
func (l *laneRuns) span(r timeRun) (time.Time, time.Time) {
	return time.Unix(0, r.lo<<l.shift), time.Unix(0, (r.hi+1)<<l.shift-1)
}

// Flows counts the flows digested.
func (d *Digest) Flows() int { return d.flows }

// FailingCount counts the failing flows digested.
func (d *Digest) FailingCount() int { return d.failing }

// Failing returns the first failing flows by ID (at most 100).
func (d *Digest) Failing() []*classify.FlowResult {
	out := slices.Clone(d.first)
	slices.SortFunc(out, func(x, y *classify.FlowResult) int { return cmp.Compare(x.ID, y.ID) })
	return out
}

// Sections returns the failing flows whose decisive packets the reports
// show: every failing flow when there are at most 25, else the first of
// each failing verdict (in the order of classify.Verdicts).
func (d *Digest) Sections() []*classify.FlowResult {
	if d.failing <= digestMaxSections {
		return d.Failing()
	}
	var out []*classify.FlowResult
	for _, v := range classify.Verdicts {
		if r := d.example[v]; r != nil {
			out = append(out, r)
		}
	}
	return out
}

// Kept returns every flow the Digest keeps whole (Failing and Sections),
// by ID: the flows whose packets the reports show.
func (d *Digest) Kept() []*classify.FlowResult {
	out := d.Failing()
	for _, r := range d.example {
		if !slices.ContainsFunc(out, func(k *classify.FlowResult) bool { return k.ID == r.ID }) {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(x, y *classify.FlowResult) int { return cmp.Compare(x.ID, y.ID) })
	return out
}

// findingList returns the headlines, largest first, and how many there are
// in all (the list stops at digestMaxFindings).
func (d *Digest) findingList() ([]finding, int) {
	out := make([]finding, 0, len(d.findings))
	for _, f := range d.findings {
		g := *f
		g.Total = d.total[f.Server]
		out = append(out, g)
	}
	rank := map[classify.Verdict]int{}
	for i, v := range classify.Verdicts {
		rank[v] = i
	}
	slices.SortFunc(out, func(x, y finding) int {
		if c := cmp.Compare(y.Count, x.Count); c != 0 {
			return c
		}
		if c := x.Server.Compare(y.Server); c != 0 {
			return c
		}
		return cmp.Compare(rank[x.Verdict], rank[y.Verdict])
	})
	n := len(out)
	if n > digestMaxFindings {
		out = out[:digestMaxFindings]
	}
	return out, n
}

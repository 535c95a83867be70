package flows_test

import (
	"cmp"
	"math"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/tcpwhy/tcpwhy/capture"
	"github.com/tcpwhy/tcpwhy/flows"
)

// compactRun feeds segs to two tables in step, one that compacts every
// closed flow (or above cfg.CompactAbove flows, when set) and one that
// never does, and fails at the first segment
// whose update (the flow, whole, and the sequence analysis) or whose
// decided flows differ. It returns how many flows were compacted. The
// compacting table is also asked for the slots and flows of the segments
// ahead (WarmSlot, WarmFlow), as the analysis does with many flows: that
// must change nothing either.
func compactRun(t *testing.T, name string, segs []capture.Segment, cfg flows.Config) int64 {
	t.Helper()
	var done [2][]flows.Flow
	var tabs [2]*flows.Table
	compactAbove := cfg.CompactAbove
	if compactAbove == 0 {
		compactAbove = -1
	}
	for i, above := range []int{math.MaxInt, compactAbove} {
		c := cfg
		c.CompactAbove = above
		c.OnDone = func(f *flows.Flow) { done[i] = append(done[i], flows.Snapshot(f)) }
		tabs[i] = flows.NewTable(c)
	}
	for k := range segs {
		a, b := segs[k], segs[k]
		if k+8 < len(segs) {
			tabs[1].WarmSlot(&segs[k+8])
		}
		if k+4 < len(segs) {
			tabs[1].WarmFlow(&segs[k+4])
		}
		ua, ub := tabs[0].Add(&a), tabs[1].Add(&b)
		if (ua.Flow == nil) != (ub.Flow == nil) || ua.Dir != ub.Dir || ua.New != ub.New || ua.Seq != ub.Seq {
			t.Fatalf("%s: segment %d: update %+v, compacting %+v", name, k+1, ua, ub)
		}
		if ua.Flow != nil && !reflect.DeepEqual(flows.Snapshot(ua.Flow), flows.Snapshot(ub.Flow)) {
			t.Fatalf("%s: segment %d: flow %d differs when compacting:\n%+v\n%+v", name, k+1, ua.Flow.ID, *ua.Flow, *ub.Flow)
		}
		if len(done[0]) != len(done[1]) {
			t.Fatalf("%s: segment %d: %d flows decided, compacting %d", name, k+1, len(done[0]), len(done[1]))
		}
	}
	tabs[0].Flush()
	tabs[1].Flush()
	if !reflect.DeepEqual(done[0], done[1]) {
		for i := range min(len(done[0]), len(done[1])) {
			if !reflect.DeepEqual(done[0][i], done[1][i]) {
				t.Fatalf("%s: decided flow %d (ID %d vs %d) differs when compacting:\n%+v\n%+v", name, i, done[0][i].ID, done[1][i].ID, done[0][i], done[1][i])
			}
		}
		t.Fatalf("%s: %d flows decided, compacting %d", name, len(done[0]), len(done[1]))
	}
	// A flushed table is empty: the first segment again starts a flow.
	for i, tab := range tabs {
		if n := tab.Len(); n != 0 {
			t.Fatalf("%s: table %d tracks %d flows after Flush", name, i, n)
		}
		if len(segs) > 0 {
			s := segs[0]
			if u := tab.Add(&s); u.Flow != nil && !u.New {
				t.Fatalf("%s: table %d: after Flush, segment 1 found flow %d, not a new one", name, i, u.Flow.ID)
			}
		}
	}
	if tabs[0].Compacted != 0 {
		t.Fatalf("%s: %d flows compacted by the table that must not", name, tabs[0].Compacted)
	}
	return tabs[1].Compacted
}

// TestCompactChangesNothing checks that keeping closed flows compacted
// changes no update and no decided flow, on the project's kernel-made
// captures, the real-world captures (when ../shared is there) and random
// segment sequences with small tables (eviction of compacted flows).
func TestCompactChangesNothing(t *testing.T) {
	files, _ := filepath.Glob("../testdata/pcaps/*.pcap")
	lab, _ := filepath.Glob("../testdata/pcaps/lab/*/*.pcap")
	files = append(files, lab...)
	if rw, _ := filepath.Glob("../../shared/pcaps/realworld/*.pcap*"); len(rw) > 0 {
		files = append(files, rw...)
	} else if os.Getenv("CI") == "true" {
		t.Fatal("../../shared/pcaps/realworld is missing under CI")
	} else {
		t.Log("../../shared/pcaps/realworld not found: real-world captures skipped")
	}
	var compacted int64
	for _, file := range files {
		segs, err := readTCP(file)
		if err != nil {
			t.Fatal(err)
		}
		compacted += compactRun(t, filepath.Base(file), segs, flows.Config{})
	}
	if compacted < 100 {
		t.Fatalf("only %d flows compacted in %d captures: the test tests little", compacted, len(files))
	}
	rng := rand.New(rand.NewPCG(7, 7))
	compacted = 0
	for i := range 300 {
		data := make([]byte, 6*(50+rng.IntN(400)))
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		cfg := flows.Config{MaxFlows: 1 + i%4, IdleClosed: time.Duration(1+i%3) * 30 * time.Second, NoSeqAnalysis: i%2 == 0}
		compacted += compactRun(t, "random", tableSegments(data), cfg)
	}
	if compacted < 100 {
		t.Fatalf("only %d flows compacted in random sequences", compacted)
	}
}

// FuzzCompact feeds arbitrary segment sequences (as FuzzTable makes
// them) to a table that compacts every flow it can and to one that never
// does: no update and no decided flow may differ (compactRun), so every
// coding decodes to the flow it was made from.
func FuzzCompact(f *testing.F) {
	f.Add(uint8(0), closedConnSeed)
	f.Add(uint8(5), []byte{0, byte(capture.SYN), 0, 0, 0, 0, 9, byte(capture.SYN), 0, 0, 0, 0, 8, byte(capture.RST | capture.ACK), 0, 1, 0, 0})
	f.Fuzz(func(t *testing.T, cfg uint8, data []byte) {
		if len(data) > 16<<10 {
			return
		}
		c := flows.Config{
			MaxFlows:      int(cfg % 4),
			IdleClosed:    time.Duration(cfg>>2&3+1) * 30 * time.Second,
			NoSeqAnalysis: cfg&16 != 0,
		}
		compactRun(t, "fuzz", tableSegments(data), c)
	})
}

// readTCP reads the TCP segments and ICMP errors of a capture.
func readTCP(file string) ([]capture.Segment, error) {
	src, err := capture.Open([]string{file}, capture.OpenOptions{})
	if err != nil {
		return nil, err
	}
	defer src.Close()
	var segs []capture.Segment
	for {
		var seg capture.Segment
		if src.Next(&seg) != nil {
			break
		}
		if seg.Kind == capture.KindTCP || seg.Kind == capture.KindICMPError {
			seg.Data = nil
			segs = append(segs, seg)
		}
	}
	return segs, nil
}

// TestCompactFlood checks compaction of unanswered attempts on a SYN
// flood: spoofed SYNs from distinct addresses (some retransmitted, as a
// real client's would be), connections whose SYN-ACK comes late enough
// to reopen the compacted attempt, and a table small enough to evict
// compacted attempts, in two waves with a lull between them in which
// the table shrinks. Updates and decided flows must not change.
func TestCompactFlood(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	srv := netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), 80)
	type pkt struct {
		at   time.Duration
		from netip.AddrPort
		to   netip.AddrPort
		fl   capture.Flags
		seq  uint32
		ack  uint32
	}
	var ps []pkt
	// Two waves: 20,000 SYNs, then, four minutes later (the first wave's
	// attempts decided and the table shrunk, see Table.shrink), 10,000.
	for i := range 30000 {
		cli := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}), uint16(1024+i%50000))
		at := time.Duration(i) * 100 * time.Microsecond // 10,000 SYNs a second
		if i >= 20000 {
			at = 4*time.Minute + time.Duration(i-20000)*100*time.Microsecond
		}
		isn := uint32(i) * 7919
		ps = append(ps, pkt{at, cli, srv, capture.SYN, isn, 0})
		if i%4 == 0 {
			// Retransmitted (a flood from real stacks): reopened after the
			// wait, whether the table is in flood mode or not.
			ps = append(ps, pkt{at + time.Second, cli, srv, capture.SYN, isn, 0}, pkt{at + 3*time.Second, cli, srv, capture.SYN, isn, 0})
		}
		if i%100 == 0 {
			// A real connection, answered after 400 ms.
			c := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), 40000)
			ps = append(ps, pkt{at, c, srv, capture.SYN, 100, 0},
				pkt{at + 400*time.Millisecond, srv, c, capture.SYN | capture.ACK, 900, 101},
				pkt{at + 401*time.Millisecond, c, srv, capture.ACK, 101, 901},
				pkt{at + 402*time.Millisecond, c, srv, capture.FIN | capture.ACK, 101, 901},
				pkt{at + 403*time.Millisecond, srv, c, capture.FIN | capture.ACK, 901, 102},
				pkt{at + 404*time.Millisecond, c, srv, capture.ACK, 102, 902})
		}
	}
	slices.SortStableFunc(ps, func(a, b pkt) int { return cmp.Compare(a.at, b.at) })
	segs := make([]capture.Segment, len(ps))
	for i, p := range ps {
		segs[i] = capture.Segment{Packet: int64(i + 1), Time: t0.Add(p.at), IPVersion: 4, Src: p.from.Addr(), Dst: p.to.Addr(),
			SrcPort: p.from.Port(), DstPort: p.to.Port(), Seq: p.seq, Ack: p.ack, Flags: p.fl, Window: 500, TTL: 64}
	}
	// Every attempt waits compacted from 250 ms after its last SYN; with
	// a cap of 5000 (half a second of the flood) it is then evicted
	// compacted.
	for _, c := range []struct{ maxFlows, want int }{{0, 30000}, {5000, 30000}} {
		n := compactRun(t, "flood", segs, flows.Config{MaxFlows: c.maxFlows, NoSeqAnalysis: true})
		if n < int64(c.want) {
			t.Errorf("MaxFlows %d: %d flows compacted, want at least %d", c.maxFlows, n, c.want)
		}
		t.Logf("MaxFlows %d: %d compacted", c.maxFlows, n)
	}
	// The comparisons above ran through flood mode: nine attempts in ten
	// wait unanswered. Once in it, the table stays: the SYNs retransmitted
	// after a second and the answers after 400 ms would have found the
	// attempts compacted anyway.
	tab := flows.NewTable(flows.Config{CompactAbove: -1, NoSeqAnalysis: true})
	inFlood := 0
	for k := range segs {
		s := segs[k]
		tab.Add(&s)
		if flows.InFloodMode(tab) {
			inFlood++
		} else if inFlood > 0 {
			t.Fatalf("flood mode left at segment %d", k+1)
		}
	}
	if inFlood < len(segs)/2 {
		t.Errorf("flood mode for %d of %d segments", inFlood, len(segs))
	}
}

// TestNoFloodModeWhenAnswered checks that busy traffic whose attempts are
// answered, some after 100 ms, keeps the wait before compacting: the
// table does not enter flood mode.
func TestNoFloodModeWhenAnswered(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	srv := netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), 443)
	var segs []capture.Segment
	add := func(at time.Duration, from, to netip.AddrPort, fl capture.Flags, seq, ack uint32) {
		segs = append(segs, capture.Segment{Time: t0.Add(at), IPVersion: 4, Src: from.Addr(), Dst: to.Addr(),
			SrcPort: from.Port(), DstPort: to.Port(), Seq: seq, Ack: ack, Flags: fl, Window: 500, TTL: 64})
	}
	for i := range 50000 {
		c := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 2, byte(i >> 8), byte(i)}), uint16(1024+i%60000))
		at := time.Duration(i) * 50 * time.Microsecond // 20,000 connections a second
		rtt := time.Duration(1+i%5*25) * time.Millisecond
		add(at, c, srv, capture.SYN, 100, 0)
		if i%10 == 0 {
			continue // unanswered: one attempt in ten, 5,000 in all
		}
		add(at+rtt, srv, c, capture.SYN|capture.ACK, 900, 101)
		add(at+rtt+time.Millisecond, c, srv, capture.ACK, 101, 901)
	}
	slices.SortStableFunc(segs, func(a, b capture.Segment) int { return a.Time.Compare(b.Time) })
	tab := flows.NewTable(flows.Config{CompactAbove: -1, NoSeqAnalysis: true})
	for k := range segs {
		segs[k].Packet = int64(k + 1)
		s := segs[k]
		tab.Add(&s)
		if flows.InFloodMode(tab) {
			t.Fatalf("flood mode at segment %d of %d", k+1, len(segs))
		}
	}
	if tab.Compacted == 0 {
		t.Fatal("nothing compacted: the test misses the compacting table")
	}
}

// TestCompactIdle checks compaction of open connections that fall
// quiet: kept-alive connections, each with a second exchange after a
// pause longer than the idle wait, which reopens it. Updates and decided
// flows must not change, and while the connections are quiet the table
// must keep only the recently active ones whole.
func TestCompactIdle(t *testing.T) {
	const n = 3000
	segs := flows.KeptAliveSegments(n, 2*time.Millisecond, 10*time.Second)
	if c := compactRun(t, "kept-alive", segs, flows.Config{}); c < n+n/2 {
		t.Fatalf("%d flows compacted, want at least %d (every connection while quiet, and half again when closed)", c, n+n/2)
	}
	// At 6.1 s every connection has had its first exchange, and only
	// those of the last half second are within the idle wait.
	tab := flows.NewTable(flows.Config{CompactAbove: -1})
	whole := flows.NewTable(flows.Config{CompactAbove: math.MaxInt})
	end := segs[0].Time.Add(6100 * time.Millisecond)
	for i := 0; segs[i].Time.Before(end); i++ {
		a, b := segs[i], segs[i]
		tab.Add(&a)
		whole.Add(&b)
	}
	if tab.Len() != n || whole.Len() != n {
		t.Fatalf("%d and %d flows tracked, want %d", tab.Len(), whole.Len(), n)
	}
	if w := flows.WholeFlows(whole); w != n {
		t.Fatalf("the table that never compacts keeps %d flows whole, want %d", w, n)
	}
	// 250 connections opened in the last half second (plus the
	// compaction's lag: two a segment).
	if w := flows.WholeFlows(tab); w < 250 || w > 280 {
		t.Fatalf("%d of %d quiet open flows kept whole, want the ~250 active in the last half second", w, n)
	}
}

// TestCompactClosedBacklog checks the flows that closed before the table
// crossed Config.CompactAbove: they must be compacted once it has, with
// no update or decided flow changed (expiry merges them in order of last
// activity with the flows compacted as they closed).
func TestCompactClosedBacklog(t *testing.T) {
	// Connections 2 ms apart, half of them closing 14 ms after their
	// SYN: 500 flows are tracked after about 1 s, 250 of them closed.
	segs := flows.KeptAliveSegments(3000, 2*time.Millisecond, time.Millisecond)
	cfg := flows.Config{CompactAbove: 500}
	if c := compactRun(t, "backlog", segs, cfg); c < 1500 {
		t.Fatalf("%d flows compacted, want at least the 1,500 that closed", c)
	}
	tab := flows.NewTable(cfg)
	end := segs[0].Time.Add(1500 * time.Millisecond)
	for i := 0; segs[i].Time.Before(end); i++ {
		s := segs[i]
		tab.Add(&s)
	}
	if tab.Len() < 700 {
		t.Fatalf("%d flows tracked at 1.5 s, want over 700", tab.Len())
	}
	if w := flows.WholeClosed(tab); w > 2 {
		t.Fatalf("%d closed flows kept whole after the table crossed %d flows", w, cfg.CompactAbove)
	}
}

package classify

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/tcpwhy/tcpwhy/capture"
	"github.com/tcpwhy/tcpwhy/internal/gen"
)

// randomTimes returns n flowTimes like a listener's (SYN-ACK times nearly
// in order, handshakes and waits shortly after) mixed with edge values.
func randomTimes(rng *rand.Rand, n int) []flowTimes {
	edges := []int64{0, 1, -1, math.MaxInt64, math.MinInt64, math.MinInt64 + 1, math.MaxInt64 - 1}
	edge := func() int64 { return edges[rng.IntN(len(edges))] }
	ts := make([]flowTimes, n)
	at, pkt := int64(1_700_000_000_000_000_000), int64(1)
	for i := range ts {
		at += rng.Int64N(2_000_000) - 200_000
		pkt += rng.Int64N(40) - 5
		t := flowTimes{waitEnd: math.MaxInt64}
		switch rng.IntN(10) {
		case 0: // only a completed handshake (no SYN-ACK seen)
			t.handshakeDone = at
		case 1: // anything
			t = flowTimes{synAck: edge(), synAckPkt: edge(), handshakeDone: edge(), waitEnd: edge(), overflow: rng.IntN(2) == 0}
		default:
			t.synAck, t.synAckPkt = at, pkt
			if rng.IntN(4) > 0 {
				t.handshakeDone = at + rng.Int64N(50_000_000)
				if rng.IntN(3) > 0 {
					t.waitEnd = t.handshakeDone + rng.Int64N(5_000_000_000)
				}
			}
			t.overflow = rng.IntN(20) == 0
		}
		ts[i] = t
	}
	return ts
}

func collect(t *testing.T, l *timesList, s *timesStore) []flowTimes {
	t.Helper()
	var got []flowTimes
	if err := l.each(s, func(ft flowTimes) { got = append(got, ft) }); err != nil {
		t.Fatal(err)
	}
	return got
}

// TestTimesRoundTrip checks that the listener times come back exactly, in
// order, from memory and from the temporary file (a budget of 0 bytes
// sends every full chunk there), with several listeners interleaved.
func TestTimesRoundTrip(t *testing.T) {
	for _, budget := range []int{1 << 30, 4096, 0} {
		old := timesInMemory
		timesInMemory = budget
		rng := rand.New(rand.NewPCG(1, uint64(budget)))
		var s timesStore
		lists := make([]timesList, 3)
		want := make([][]flowTimes, len(lists))
		for _, ft := range randomTimes(rng, 20000) {
			i := rng.IntN(len(lists))
			if i == 2 && len(want[i]) == 3 {
				i = 0 // a listener with a partial first chunk only
			}
			lists[i].add(&s, &ft)
			want[i] = append(want[i], ft)
		}
		for i := range lists {
			// Twice: the diagnoses read a listener's times several times.
			for range 2 {
				if got := collect(t, &lists[i], &s); !slices.Equal(got, want[i]) {
					t.Fatalf("budget %d, list %d: %d times back, want %d (first difference at %d)", budget, i, len(got), len(want[i]), firstDiff(got, want[i]))
				}
			}
		}
		switch {
		case budget == 0 && (s.file == nil || s.off == 0):
			t.Errorf("budget 0: nothing went to the temporary file")
		case budget > 1<<20 && s.file != nil:
			t.Errorf("budget %d: a temporary file for %d bytes", budget, s.mem)
		case budget < 1<<20 && s.mem > budget+len(lists)*timesChunkMax:
			t.Errorf("budget %d: %d bytes in memory", budget, s.mem)
		}
		var empty timesList
		if got := collect(t, &empty, &s); len(got) != 0 {
			t.Errorf("empty list gave %d times", len(got))
		}
		if err := s.close(); err != nil {
			t.Error(err)
		}
		timesInMemory = old
	}
}

func firstDiff(a, b []flowTimes) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestTimesCompact checks that a listener's ordinary times take about a
// quarter of the 40 bytes of a flowTimes.
func TestTimesCompact(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	var c timesCoder
	var b []byte
	n := 0
	for _, ft := range randomTimes(rng, 10000) {
		if ft.synAck != 0 && ft.synAck != math.MaxInt64 && ft.synAck > 0 && ft.synAck < 1<<62 {
			b = c.append(b, &ft)
			n++
		}
	}
	if per := float64(len(b)) / float64(n); per > 14 {
		t.Errorf("%.1f bytes per flowTimes", per)
	}
}

// TestTimesCorrupt checks that cut or invalid records are rejected.
func TestTimesCorrupt(t *testing.T) {
	var c timesCoder
	ft := flowTimes{synAck: 1 << 60, synAckPkt: 1 << 40, handshakeDone: 1<<60 + 5e9, waitEnd: 1<<60 + 9e9, overflow: true}
	b := c.append(nil, &ft)
	for i := range len(b) {
		var d timesCoder
		var got flowTimes
		if _, err := d.decode(b[:i], &got); err == nil {
			t.Errorf("record cut at %d of %d bytes decoded", i, len(b))
		}
	}
	var d timesCoder
	var got flowTimes
	if _, err := d.decode([]byte{0xff}, &got); err == nil {
		t.Error("invalid flags decoded")
	}
}

// TestSynAcksIn checks the one-pass count of SYN-ACKs in windows against
// the binary search of the sorted SYN-ACK times it replaces, with times
// on the windows' bounds and repeated.
func TestSynAcksIn(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	for round := range 200 {
		var s timesStore
		var l timesList
		var acks []int64
		for range rng.IntN(300) {
			ft := flowTimes{synAck: rng.Int64N(100), synAckPkt: rng.Int64N(3), waitEnd: math.MaxInt64}
			if ft.synAckPkt == 0 {
				ft.synAck = 0
				ft.handshakeDone = 1 + rng.Int64N(100)
			}
			l.add(&s, &ft)
			if ft.synAckPkt != 0 {
				acks = append(acks, ft.synAck)
			}
		}
		slices.Sort(acks)
		windows := make([][2]int64, 1+rng.IntN(20))
		for i := range windows {
			a := rng.Int64N(110) - 5
			windows[i] = [2]int64{a, a + rng.Int64N(20) - 2}
		}
		got, err := synAcksIn(&l, &s, windows)
		if err != nil {
			t.Fatal(err)
		}
		for i, w := range windows {
			lo, _ := slices.BinarySearch(acks, w[0])
			hi, found := slices.BinarySearch(acks, w[1])
			if found {
				hi++
			}
			if got[i] != hi-lo {
				t.Fatalf("round %d: window %v: %d SYN-ACKs, binary search says %d (acks %v)", round, w, got[i], hi-lo, acks)
			}
		}
	}
}

// TestTimesSpillSameViews checks that the listener views do not change
// when every full chunk of listener times goes to the temporary file, on
// a generated capture of 3000 connections of every kind (whose listeners
// see hundreds of flows each, and have diagnoses that read the times).
func TestTimesSpillSameViews(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gen.pcap")
	if _, err := gen.WriteFile(path, gen.Config{Connections: 3000, Seed: 5}); err != nil {
		t.Fatal(err)
	}
	run := func(budget int) *Analysis {
		old := timesInMemory
		timesInMemory = budget
		defer func() { timesInMemory = old }()
		src, err := capture.Open([]string{path}, capture.OpenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		a := Analyze(src, Options{Bounded: true, OnFlow: func(*FlowResult) {}})
		if a.Err != nil {
			t.Fatal(a.Err)
		}
		return a
	}
	mem, spilled := run(1<<30), run(0)
	kinds := map[string]bool{}
	for _, l := range mem.Listeners {
		for _, d := range l.Diagnosis {
			kinds[d.Kind] = true
		}
	}
	// The overflow diagnosis reads the times for its accept-queue
	// estimate (left out when it finds no connection waiting), syn-drops
	// and slow-accept for theirs.
	if !kinds[KindOverflow] || !kinds[KindSYNDrops] || !kinds[KindSlowAccept] {
		t.Errorf("diagnoses %v: want overflow, syn-drops and slow-accept, or the times are not exercised", kinds)
	}
	if !reflect.DeepEqual(mem.Listeners, spilled.Listeners) || !reflect.DeepEqual(mem.Hosts, spilled.Hosts) ||
		!reflect.DeepEqual(mem.Verdicts, spilled.Verdicts) {
		t.Error("listener, host or verdict views differ when the listener times go to the temporary file")
	}
}

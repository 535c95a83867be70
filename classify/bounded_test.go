package classify

import (
	"maps"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"testing"
	"unsafe"

	"github.com/tcpwhy/tcpwhy/capture"
	"github.com/tcpwhy/tcpwhy/flows"
	"github.com/tcpwhy/tcpwhy/internal/gen"
)

// normalized returns a copy of r without the fields a bounded analysis
// does not carry through its temporary file (the unexported hints) and
// with empty slices nil, so that the two analyses compare field by field.
func normalized(r *FlowResult) FlowResult {
	c := *r
	c.hints = flowHints{}
	c.spareEvidence, c.spareAnnotations, c.histories = nil, nil, nil
	nilEmpty := func(s []int64) []int64 {
		if len(s) == 0 {
			return nil
		}
		return s
	}
	c.Evidence = nilEmpty(c.Evidence)
	if len(c.Annotations) == 0 {
		c.Annotations = nil
	}
	if len(c.Notes) == 0 {
		c.Notes = nil
	}
	if len(c.SYNACKGaps) == 0 {
		c.SYNACKGaps = nil
	}
	if c.SYN != nil {
		s := *c.SYN
		if len(s.Gaps) == 0 {
			s.Gaps = nil
		}
		if len(s.Matches) == 0 {
			s.Matches = nil
		}
		c.SYN = &s
	}
	if c.Reset != nil && c.Reset.InjectedSuspect != nil && len(c.Reset.InjectedSuspect.Evidence) == 0 {
		rs := *c.Reset
		in := *rs.InjectedSuspect
		in.Evidence = nil
		rs.InjectedSuspect = &in
		c.Reset = &rs
	}
	c.Start, c.End = c.Start.UTC(), c.End.UTC()
	c.HandshakeDone, c.ClosedAt, c.ServerFirstResponse = c.HandshakeDone.UTC(), c.ClosedAt.UTC(), c.ServerFirstResponse.UTC()
	return c
}

// TestBoundedEqualsKept checks that an analysis that hands its flows over
// and keeps none (Bounded, with every held flow and every full chunk of
// listener times forced through the temporary files) gives the same
// flows, listeners, hosts and counts as one that keeps them all, on every
// lab capture (real kernel) and the demo capture.
func TestBoundedEqualsKept(t *testing.T) {
	files, _ := filepath.Glob("../testdata/pcaps/lab/*/*.pcap*")
	files = append(files, "../testdata/pcaps/demo.pcap")
	if len(files) < 20 {
		t.Fatalf("found only %d captures", len(files))
	}
	old := heldInMemory
	heldInMemory = 1
	defer func() { heldInMemory = old }()
	synTimeouts := 0
	for _, f := range files {
		open := func() capture.Source {
			src, err := capture.Open([]string{f}, capture.OpenOptions{})
			if err != nil {
				t.Fatal(err)
			}
			return src
		}
		src := open()
		kept := Analyze(src, Options{})
		src.Close()
		for _, reuse := range []bool{false, true} {
			boundedEqualsKept(t, f, open, kept, reuse, &synTimeouts)
		}
	}
	if synTimeouts == 0 {
		t.Error("no capture had a held (syn-timeout) flow: the temporary file was not exercised")
	}
}

// keptCopy copies r as Options.ReuseResults allows a consumer to keep
// it: its maps, Evidence and Annotations cloned (r may be the spare,
// which the next flow overwrites).
func keptCopy(r *FlowResult) FlowResult {
	c := *r
	c.ClientCounters, c.ServerCounters = maps.Clone(r.ClientCounters), maps.Clone(r.ServerCounters)
	c.Evidence, c.Annotations = slices.Clone(r.Evidence), slices.Clone(r.Annotations)
	// The arrays a reused result keeps for the next flow are not the
	// flow's.
	c.spareEvidence, c.spareAnnotations = nil, nil
	return c
}

// boundedEqualsKept runs the bounded analysis of TestBoundedEqualsKept,
// with the FlowResults reused (OnFlow copies each) or not.
func boundedEqualsKept(t *testing.T, f string, open func() capture.Source, kept *Analysis, reuse bool, synTimeouts *int) {
	t.Helper()
	var got []*FlowResult
	src := open()
	oldTimes := timesInMemory
	timesInMemory = 0
	b := Analyze(src, Options{Bounded: true, ReuseResults: reuse, OnFlow: func(r *FlowResult) {
		if reuse {
			c := keptCopy(r)
			r = &c
		}
		got = append(got, r)
	}})
	timesInMemory = oldTimes
	src.Close()
	if b.Err != nil {
		t.Errorf("%s: %v", f, b.Err)
	}
	if len(b.Flows) != 0 {
		t.Errorf("%s: bounded analysis kept %d flows", f, len(b.Flows))
	}
	slices.SortFunc(got, func(x, y *FlowResult) int { return int(x.ID - y.ID) })
	if len(got) != len(kept.Flows) {
		t.Fatalf("%s: %d flows handed over, %d kept", f, len(got), len(kept.Flows))
	}
	for i := range got {
		if kept.Flows[i].Verdict == SynTimeout || kept.Flows[i].Verdict == Overflow && got[i].SYNRetransmits > 0 {
			*synTimeouts++
		}
		if g, k := normalized(got[i]), normalized(kept.Flows[i]); !reflect.DeepEqual(g, k) {
			t.Errorf("%s (reuse %v): flow %d differs:\nbounded %+v\nkept    %+v", f, reuse, k.ID, g, k)
		}
	}
	if !reflect.DeepEqual(b.Listeners, kept.Listeners) || !reflect.DeepEqual(b.Hosts, kept.Hosts) ||
		!reflect.DeepEqual(b.Verdicts, kept.Verdicts) {
		t.Errorf("%s (reuse %v): listener, host or verdict views differ", f, reuse)
	}
	if bf, bx := b.Counts(); bf != len(kept.Flows) || bx != kept.Failing {
		t.Errorf("%s (reuse %v): counts %d/%d, want %d/%d", f, reuse, bf, bx, len(kept.Flows), kept.Failing)
	}
}

// TestParallelEqualsSerial checks that the three-goroutine analysis (two
// cores) and the one-goroutine analysis reading in batches
// (GOMAXPROCS=1) hand over the same flows in the same order, with the
// same views, as the one-goroutine analysis reading a segment at a time,
// on a generated capture of 3000 connections of every kind; and that each
// gives back every flow to the table.
func TestParallelEqualsSerial(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gen.pcap")
	if _, err := gen.WriteFile(path, gen.Config{Connections: 3000, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	run := func(procs int, batches bool) ([]*FlowResult, *Analysis) {
		old := runtime.GOMAXPROCS(procs)
		defer runtime.GOMAXPROCS(old)
		batchOneCore = batches
		defer func() { batchOneCore = true }()
		src, err := capture.Open([]string{path}, capture.OpenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		var got []*FlowResult
		a := Analyze(src, Options{Bounded: true, OnFlow: func(r *FlowResult) { got = append(got, r) }})
		return got, a
	}
	serial, sa := run(1, false)
	if sa.flowsInUse != 0 {
		t.Errorf("serial: %d flows never released", sa.flowsInUse)
	}
	for _, c := range []struct {
		name    string
		procs   int
		batches bool
	}{{"parallel", 2, true}, {"batched", 1, true}} {
		par, pa := run(c.procs, c.batches)
		if pa.flowsInUse != 0 {
			t.Errorf("%s: %d flows never released", c.name, pa.flowsInUse)
		}
		if len(serial) < 3000 || len(serial) != len(par) {
			t.Fatalf("serial %d flows, %s %d", len(serial), c.name, len(par))
		}
		for i := range serial {
			if s, p := normalized(serial[i]), normalized(par[i]); !reflect.DeepEqual(s, p) {
				t.Fatalf("flow #%d differs: serial id %d %s, %s id %d %s", i, s.ID, s.Verdict, c.name, p.ID, p.Verdict)
			}
		}
		if !reflect.DeepEqual(sa.Listeners, pa.Listeners) || !reflect.DeepEqual(sa.Hosts, pa.Hosts) ||
			!reflect.DeepEqual(sa.Verdicts, pa.Verdicts) || sa.Capture.Packets != pa.Capture.Packets {
			t.Errorf("views differ between the serial and the %s analysis", c.name)
		}
	}
}

// TestSegmentsOnlyClassifiesNothing checks that the printing pass hands
// every segment to OnSegment, in order, and classifies and keeps no flow,
// with the reading goroutine (two cores) and without (one).
func TestSegmentsOnlyClassifiesNothing(t *testing.T) {
	for _, procs := range []int{1, 2} {
		old := runtime.GOMAXPROCS(procs)
		src, err := capture.Open([]string{"../testdata/pcaps/demo.pcap"}, capture.OpenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var n, last int64
		flowsSeen := 0
		a := Analyze(src, Options{SegmentsOnly: true, OnFlow: func(*FlowResult) { flowsSeen++ },
			OnSegment: func(seg *capture.Segment, _ flows.Update) {
				if seg.Packet <= last || len(seg.Data) == 0 {
					t.Errorf("GOMAXPROCS=%d: packet %d after %d, %d bytes", procs, seg.Packet, last, len(seg.Data))
				}
				last = seg.Packet
				n++
			}})
		src.Close()
		runtime.GOMAXPROCS(old)
		if n == 0 || n != a.Capture.TCP+a.Capture.ICMPErrors {
			t.Errorf("GOMAXPROCS=%d: %d segments handed over, capture has %d TCP + %d ICMP", procs, n, a.Capture.TCP, a.Capture.ICMPErrors)
		}
		if len(a.Flows) != 0 || flowsSeen != 0 || len(a.Listeners) != 0 {
			t.Errorf("GOMAXPROCS=%d: %d flows kept, %d handed over, %d listeners", procs, len(a.Flows), flowsSeen, len(a.Listeners))
		}
	}
}

// TestNoAnnotations checks that Options.NoAnnotations leaves every flow's
// annotations out and changes nothing else, on every lab capture (real
// kernel) and the demo capture.
func TestNoAnnotations(t *testing.T) {
	files, _ := filepath.Glob("../testdata/pcaps/lab/*/*.pcap*")
	files = append(files, "../testdata/pcaps/demo.pcap")
	annotations := 0
	for _, f := range files {
		run := func(opts Options) *Analysis {
			src, err := capture.Open([]string{f}, capture.OpenOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			return Analyze(src, opts)
		}
		with, without := run(Options{}), run(Options{NoAnnotations: true})
		if len(with.Flows) != len(without.Flows) {
			t.Fatalf("%s: %d flows with annotations, %d without", f, len(with.Flows), len(without.Flows))
		}
		for i, r := range without.Flows {
			if len(r.Annotations) > 0 {
				t.Errorf("%s: flow %d has %d annotations", f, r.ID, len(r.Annotations))
			}
			annotations += len(with.Flows[i].Annotations)
			w, wo := normalized(with.Flows[i]), normalized(r)
			w.Annotations, wo.Annotations = nil, nil
			w.noAnnotations, wo.noAnnotations = false, false
			if !reflect.DeepEqual(w, wo) {
				t.Errorf("%s: flow %d differs:\nwithout %+v\nwith    %+v", f, r.ID, wo, w)
			}
		}
		if !reflect.DeepEqual(with.Listeners, without.Listeners) || !reflect.DeepEqual(with.Hosts, without.Hosts) ||
			!reflect.DeepEqual(with.Verdicts, without.Verdicts) {
			t.Errorf("%s: listener, host or verdict views differ", f)
		}
	}
	if annotations == 0 {
		t.Error("no capture had an annotation")
	}
}

// TestPrefetcherLayout checks that no cache line of a prefetcher holds
// both a field the reading goroutine reads for every segment and one the
// analysis's goroutine writes for every segment, wherever the struct
// starts in a line.
func TestPrefetcherLayout(t *testing.T) {
	var p prefetcher
	readEnd := max(unsafe.Offsetof(p.src)+unsafe.Sizeof(p.src), unsafe.Offsetof(p.count)+unsafe.Sizeof(p.count),
		unsafe.Offsetof(p.full)+unsafe.Sizeof(p.full), unsafe.Offsetof(p.free)+unsafe.Sizeof(p.free))
	writeStart := min(unsafe.Offsetof(p.cur), unsafe.Offsetof(p.pos))
	if writeStart < readEnd+64 {
		t.Errorf("the reader's fields end at byte %d and cur and pos start at %d: less than a cache line apart", readEnd, writeStart)
	}
}

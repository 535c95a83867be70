package flows_test

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/tcpwhy/tcpwhy/capture"
	"github.com/tcpwhy/tcpwhy/flows"
)

// compactRun feeds segs to two tables in step, one that compacts every
// closed flow and one that never does, and fails at the first segment
// whose update (the flow, whole, and the sequence analysis) or whose
// decided flows differ. It returns how many flows were compacted.
func compactRun(t *testing.T, name string, segs []capture.Segment, cfg flows.Config) int64 {
	t.Helper()
	var done [2][]flows.Flow
	var tabs [2]*flows.Table
	for i, above := range []int{math.MaxInt, -1} {
		c := cfg
		c.CompactAbove = above
		c.OnDone = func(f *flows.Flow) { done[i] = append(done[i], flows.Snapshot(f)) }
		tabs[i] = flows.NewTable(c)
	}
	for k := range segs {
		a, b := segs[k], segs[k]
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

package flows

import (
	"math/bits"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/tcpwhy/tcpwhy/capture"
)

// TestFlowSlab allocates and frees flows in random order and checks the
// slab's bookkeeping: every flow handed out is zeroed and distinct, the
// fullest chunk with room serves first, a chunk whose last flow is freed
// is kept mapped (up to maxEmpty, and one after a sweep's trim), and a
// flow freed twice panics.
func TestFlowSlab(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, seq := range []bool{false, true} {
		s := newFlowSlab(seq)
		var live []*Flow
		seen := map[*Flow]bool{}
		for step := range 20000 {
			if len(live) == 0 || rng.IntN(3) > 0 && step < 15000 {
				// The fullest chunk with room serves, or a new one.
				want := int32(-1)
				if s.partialSet != 0 {
					want = s.partial[bits.Len64(s.partialSet)-1] - 1
				}
				f := s.alloc()
				if k, _ := slotOf(f); want >= 0 && k != want {
					t.Fatalf("step %d: allocated from chunk %d, want the fullest, %d", step, k, want)
				}
				if seen[f] {
					t.Fatalf("step %d: flow %p handed out twice", step, f)
				}
				if f.ID != 0 || (seq && (f.Seq != s.seqOf(f) || *f.Seq != SeqAnalysis{})) || (!seq && f.Seq != nil) {
					t.Fatalf("step %d: flow not zeroed: ID %d, Seq %p", step, f.ID, f.Seq)
				}
				f.ID = int64(step + 1)
				if seq {
					f.Seq.firstRTT = int64(step + 1)
				}
				seen[f] = true
				live = append(live, f)
			} else {
				i := rng.IntN(len(live))
				f := live[i]
				live[i] = live[len(live)-1]
				live = live[:len(live)-1]
				delete(seen, f)
				s.free(f)
			}
			if s.inUse != len(live) {
				t.Fatalf("step %d: inUse %d, want %d", step, s.inUse, len(live))
			}
		}
		for _, f := range live {
			if seq && f.Seq.firstRTT != f.ID {
				t.Fatalf("flow %d: its SeqAnalysis was overwritten (%d)", f.ID, f.Seq.firstRTT)
			}
		}
		for len(live) > 0 {
			s.free(live[len(live)-1])
			live = live[:len(live)-1]
		}
		if s.chunks != len(s.empty) || len(s.empty) != maxEmpty {
			t.Fatalf("seq %v: %d chunks mapped with no flow in use, %d kept empty; want %d, all kept", seq, s.chunks, len(s.empty), maxEmpty)
		}
		s.trimEmpty(1)
		if s.chunks != 1 || len(s.empty) != 1 {
			t.Fatalf("seq %v: %d chunks mapped after a sweep's trim, want the one kept", seq, s.chunks)
		}
		f := s.alloc()
		s.free(f)
		func() {
			defer func() {
				if recover() == nil {
					t.Error("a flow freed twice did not panic")
				}
			}()
			s.free(f)
		}()
		s.freeEmpty()
		if s.chunks != 0 {
			t.Fatalf("freeEmpty left %d chunks", s.chunks)
		}
	}
}

// TestTidyGivesBack opens 6,400 connections, closes nine in ten of them
// scattered over the slab's chunks, and checks that the sweeps move the
// open ones into few chunks and give the others back, and that the moved
// flows go on: their segments find them, whole, with their sequence
// analysis in their new slot.
func TestTidyGivesBack(t *testing.T) {
	const n = 6400
	var decided []*Flow
	tab := NewTable(Config{IdleClosed: time.Second, OnDone: func(f *Flow) { decided = append(decided, f) }})
	at := time.Unix(1700000000, 0)
	num := int64(0)
	add := func(i int, fromClient bool, fl capture.Flags) Update {
		num++
		seg := tupleSeg(i, fromClient, fl, at, num)
		if !fromClient {
			seg.Ack = 1001
		} else if fl != capture.SYN {
			seg.Seq, seg.Ack = 1001, 5001
		}
		return tab.Add(&seg)
	}
	isns := map[int]uint32{}
	for i := range n {
		add(i, true, capture.SYN)
		add(i, false, capture.SYN|capture.ACK)
		u := add(i, true, capture.ACK)
		isns[i] = u.Flow.Ep[Client].ISN()
	}
	before := tab.slab.chunks
	for i := range n {
		if i%10 != 0 {
			add(i, true, capture.RST)
		}
	}
	at = at.Add(3 * time.Second)
	tab.Advance(at)
	for _, f := range decided {
		tab.Release(f)
	}
	if len(decided) != n-n/10 {
		t.Fatalf("%d flows decided, want %d", len(decided), n-n/10)
	}
	for range 3 {
		at = at.Add(sweepEvery)
		tab.Advance(at)
	}
	open := n / 10
	if max := (3*open+8*slabSlots)/(2*slabSlots) + 1; tab.slab.chunks > max || before < n/slabSlots {
		t.Fatalf("%d chunks mapped for %d open flows (%d before), want at most %d", tab.slab.chunks, open, before, max)
	}
	checkIdleLists(t, tab)
	for i := 0; i < n; i += 10 {
		u := add(i, true, capture.ACK|capture.PSH)
		if u.New || u.Flow == nil || u.Flow.Ep[Client].ISN() != isns[i] || u.Flow.Seq != tab.slab.seqOf(u.Flow) {
			t.Fatalf("open flow %d after tidying: %+v", i, u)
		}
	}
	tab.Flush()
	for _, f := range decided[n-n/10:] {
		tab.Release(f)
	}
	if tab.InUse() != 0 {
		t.Fatalf("%d flows in use after Flush and Release", tab.InUse())
	}
}

// TestFlowPointers guards what makes flows outside the heap safe: the
// collector does not see a pointer in a flowSlab, so whatever a Flow
// points to must live as long by other means. These are the pointer
// fields that do (see flowSlab); a new one needs the same.
func TestFlowPointers(t *testing.T) {
	var got []string
	var walk func(reflect.Type, string)
	walk = func(ty reflect.Type, path string) {
		switch ty.Kind() {
		case reflect.Struct:
			for i := range ty.NumField() {
				walk(ty.Field(i).Type, path+"."+ty.Field(i).Name)
			}
		case reflect.Array:
			for i := range ty.Len() {
				walk(ty.Elem(), path+"["+string(rune('0'+i))+"]")
			}
		case reflect.Pointer, reflect.Slice, reflect.Map, reflect.String, reflect.Interface, reflect.Func, reflect.Chan, reflect.UnsafePointer:
			got = append(got, path+" "+ty.String())
		}
	}
	walk(reflect.TypeFor[Flow](), "Flow")
	want := []string{
		"Flow.Ep[0].rare *flows.epRare",              // epRares
		"Flow.Ep[1].rare *flows.epRare",              // epRares
		"Flow.Seq *flows.SeqAnalysis",                // the flow's slot
		"Flow.Zeek.ep[0].blocks *[8]flows.zeekBlock", // zeekBlocks
		"Flow.Zeek.ep[1].blocks *[8]flows.zeekBlock", // zeekBlocks
		"Flow.rare *flows.flowRare",                  // flowRares
	}
	if !slices.Equal(got, want) {
		t.Errorf("Flow's pointer fields:\n%q\nwant\n%q", got, want)
	}
}

package flows

import (
	"testing"
	"time"
)

// TestIdleLinksReused checks that the idle lists' link indexes of
// decided flows are reused: over 4,000 connections of which at most a few
// hundred are tracked at once, the links grow to the peak of tracked
// flows, not to the flows seen; and every listed flow's index names it.
func TestIdleLinksReused(t *testing.T) {
	segs := benchSegments(4000)
	// 200 new connections a second, each lasting 90 ms: closed flows
	// leave 5 s later, so about 1,000 are tracked at once.
	for i := range segs {
		c, k := i/10, i%10
		segs[i].Time = time.Unix(1700000000, 0).Add(time.Duration(c)*5*time.Millisecond + time.Duration(k)*10*time.Millisecond)
	}
	decided := 0
	tab := NewTable(Config{CompactAbove: 1 << 30, OnDone: func(*Flow) { decided++ }})
	for i := range segs {
		tab.Add(&segs[i])
	}
	if decided < 2000 {
		t.Fatalf("%d flows decided before the end, want most of 4000", decided)
	}
	if n := len(tab.links) - 1; n > tab.Peak {
		t.Fatalf("%d link indexes for a peak of %d tracked flows: decided flows' indexes are not reused", n, tab.Peak)
	}
	listed := 0
	for l := range uint8(numLists) {
		for k := tab.idle[l].head; k != 0; k = tab.links[k].next {
			f := tab.linked[k]
			if f == nil || f.link != k || !f.listed || f.list != l {
				t.Fatalf("link %d of list %d names %+v", k, l, f)
			}
			listed++
		}
	}
	if listed != tab.Len() {
		t.Fatalf("%d flows in the idle lists, %d tracked", listed, tab.Len())
	}
	tab.Flush()
	if n := len(tab.links) - 1 - len(tab.freeLinks); n != 0 {
		t.Fatalf("%d link indexes in use after Flush", n)
	}
}

package fifo

import "testing"

// TestQueue pushes and pops in waves, as the listener views do (one pop
// for each push past a bound): the items come out in order, and the
// slice stays within a few times the items queued.
func TestQueue(t *testing.T) {
	var q Queue[int]
	if _, ok := q.Pop(); ok {
		t.Fatal("popped from an empty queue")
	}
	next, want := 0, 0
	for range 100 {
		for range 500 {
			q.Push(next)
			next++
		}
		for q.Len() > 300 {
			v, ok := q.Pop()
			if !ok || v != want {
				t.Fatalf("popped %d (ok %v), want %d", v, ok, want)
			}
			want++
		}
		if q.Cap() > 8*compactAfter {
			t.Fatalf("%d queued in a slice of %d", q.Len(), q.Cap())
		}
	}
	for q.Len() > 0 {
		if v, _ := q.Pop(); v != want {
			t.Fatalf("popped %d, want %d", v, want)
		}
		want++
	}
	if want != next {
		t.Fatalf("popped %d of %d", want, next)
	}
}

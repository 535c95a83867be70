// Package fifo is a first-in, first-out queue kept in a slice that gives
// back the room of the items it popped.
package fifo

// compactAfter is how many popped items the queue lets pile up at the
// front of its slice before it moves the rest down (once they are also
// more than half of it).
const compactAfter = 1024

// Queue is a first-in, first-out queue; the zero value is empty.
type Queue[T any] struct {
	items []T
	head  int
}

// Push adds v at the back.
func (q *Queue[T]) Push(v T) { q.items = append(q.items, v) }

// Pop removes and returns the front item; ok is false when q is empty.
func (q *Queue[T]) Pop() (v T, ok bool) {
	if q.head == len(q.items) {
		return v, false
	}
	v = q.items[q.head]
	var zero T
	q.items[q.head] = zero // the slice keeps nothing alive
	q.head++
	if q.head > compactAfter && q.head*2 > len(q.items) {
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
	return v, true
}

// Len returns how many items are queued.
func (q *Queue[T]) Len() int { return len(q.items) - q.head }

// Cap returns the capacity of the slice behind q.
func (q *Queue[T]) Cap() int { return cap(q.items) }

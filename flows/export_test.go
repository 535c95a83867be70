package flows

// Snapshot returns a copy of f without its place in the table's idle
// list (the link index and the listed mark), for comparing flows of two
// tables.
func Snapshot(f *Flow) Flow {
	g := *f
	g.link, g.listed = 0, false
	return g
}

// InFloodMode reports whether t compacts unanswered attempts at once
// (see attemptStats).
func InFloodMode(t *Table) bool { return t.attempts.flood }

package flows

// Snapshot returns a copy of f without its place in the table's idle
// list (the links and the listed mark), for comparing flows of two
// tables.
func Snapshot(f *Flow) Flow {
	g := *f
	g.prev, g.next, g.listed = nil, nil, false
	return g
}

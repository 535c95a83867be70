//go:build !amd64

package prefetch

// write does nothing on this architecture.
func write(p, n uintptr) {}

// read does nothing on this architecture.
func read(p, n uintptr) {}

// stream does nothing on this architecture.
func stream(p, n uintptr) {}

//go:build unix && !linux

package capture

// dontNeed does nothing where the syscall package has no madvise: the
// window's pages stay resident until it is unmapped.
func dontNeed(b []byte) {}

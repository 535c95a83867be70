//go:build unix

package flows

import "syscall"

// mapChunk maps n bytes of zeroed memory outside Go's heap; nil when the
// system refuses.
func mapChunk(n int) []byte {
	b, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return nil
	}
	return b
}

// unmapChunk gives back a chunk mapChunk mapped.
func unmapChunk(b []byte) { _ = syscall.Munmap(b) }

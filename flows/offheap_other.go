//go:build !unix

package flows

// mapChunk returns nil: without anonymous mappings, the store's chunks
// are on the heap.
func mapChunk(n int) []byte { return nil }

// unmapChunk does nothing.
func unmapChunk(b []byte) {}

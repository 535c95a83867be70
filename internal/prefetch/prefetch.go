// Package prefetch asks the processor for cache lines ahead of their use.
//
// A goroutine that fills buffers another core has just read (the batches
// of segments and lines the pipeline's stages hand each other) finds
// every line of them in the other core's cache: each first store waits
// for the line to come back. Asking for the lines a few items ahead lets
// those transfers overlap with the work. On processors without the
// instruction the functions do nothing.
package prefetch

import "unsafe"

// Write asks for the cache lines of the n bytes at p in the state that
// allows writing them (PREFETCHW on amd64). It never faults and has no
// effect on the program's results.
func Write(p unsafe.Pointer, n uintptr) {
	if n == 0 {
		return
	}
	// Round down to the first line so that the last one is included.
	start := uintptr(p) &^ (lineSize - 1)
	write(start, uintptr(p)+n-start)
}

// Read asks for the cache lines of the n bytes at p for reading
// (PREFETCHT0 on amd64): memory a few items ahead that is likely not in
// the cache, such as the flow-table entries of the segments to come. It
// never faults and has no effect on the program's results.
func Read(p unsafe.Pointer, n uintptr) {
	if n == 0 {
		return
	}
	start := uintptr(p) &^ (lineSize - 1)
	read(start, uintptr(p)+n-start)
}

// Stream asks for the cache lines of the n bytes at p for reading
// once (PREFETCHNTA on amd64): data streamed through, such as a capture
// file read in place, that should not push what is used again (the
// flows) out of the larger caches. It never faults and has no effect on
// the program's results.
func Stream(p unsafe.Pointer, n uintptr) {
	if n == 0 {
		return
	}
	start := uintptr(p) &^ (lineSize - 1)
	stream(start, uintptr(p)+n-start)
}

// Spare asks for the spare capacity of b that the next ahead bytes
// appended to it will be written to, past the asked bytes of b's array
// already asked for; it returns the new count of asked bytes. A writer
// appending to a buffer that comes back from another core calls it
// before each append, with asked reset to 0 when the buffer comes back.
func Spare(b []byte, asked, ahead int) int {
	to := min(len(b)+ahead, cap(b))
	if to <= asked {
		return asked
	}
	Write(unsafe.Pointer(unsafe.SliceData(b[asked:to])), uintptr(to-asked))
	return to
}

// lineSize is the cache line size the functions step by.
const lineSize = 64

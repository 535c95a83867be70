//go:build linux

package prefetch

import (
	"os"
	"syscall"
	"testing"
	"unsafe"
)

// TestWriteNeverFaults asks for lines (to write, to read and to read once) at every alignment, across the end
// of a readable page and into the inaccessible one after it: a hint must
// not touch the memory.
func TestWriteNeverFaults(t *testing.T) {
	page := os.Getpagesize()
	m, err := syscall.Mmap(-1, 0, 2*page, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Skipf("mmap: %v", err)
	}
	defer syscall.Munmap(m)
	// The second page is made inaccessible: asking for it must still not
	// fault.
	if err := syscall.Mprotect(m[page:], syscall.PROT_NONE); err != nil {
		t.Fatalf("mprotect: %v", err)
	}
	m = m[:page]
	for off := range 130 {
		for _, n := range []uintptr{0, 1, 63, 64, 65, 312, uintptr(page)} {
			Write(unsafe.Pointer(&m[off]), n)
			Read(unsafe.Pointer(&m[off]), n)
			Stream(unsafe.Pointer(&m[off]), n)
		}
	}
	Write(unsafe.Pointer(&m[page-1]), uintptr(2*page))
	Read(unsafe.Pointer(&m[page-1]), uintptr(2*page))
	Stream(unsafe.Pointer(&m[page-1]), uintptr(2*page))
	for i, b := range m {
		if b != 0 {
			t.Fatalf("byte %d is %d after prefetching: a hint wrote memory", i, b)
		}
	}
}

// TestSpare checks the count of asked bytes Spare returns: it follows the
// appended length plus ahead, stays within the capacity, and never goes
// back.
func TestSpare(t *testing.T) {
	b := make([]byte, 0, 1000)
	asked := 0
	for _, step := range []struct{ appendN, want int }{
		{0, 300}, {100, 400}, {50, 450}, {0, 450}, {600, 1000}, {250, 1000},
	} {
		b = append(b, make([]byte, step.appendN)...)
		if asked = Spare(b, asked, 300); asked != step.want {
			t.Fatalf("after %d bytes: asked %d, want %d", len(b), asked, step.want)
		}
	}
	if got := Spare(nil, 0, 300); got != 0 {
		t.Fatalf("Spare(nil) = %d, want 0", got)
	}
}

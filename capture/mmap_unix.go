//go:build linux || darwin || freebsd

package capture

import (
	"os"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// mapFile maps the whole of the regular file f into memory, read-only, for
// sequential reading. It returns nil when it cannot: f is not a regular
// file, is empty or too big for the address space, or mmap fails; the
// caller then reads f instead.
func mapFile(f *os.File) []byte {
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return nil
	}
	size := st.Size()
	if size <= 0 || size != int64(int(size)) {
		return nil
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return nil
	}
	var b []byte
	var mapErr error
	err = rc.Control(func(fd uintptr) {
		b, mapErr = unix.Mmap(int(fd), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	})
	if err != nil || mapErr != nil || len(b) == 0 {
		return nil
	}
	// The file is read once, front to back: aggressive read-ahead.
	_ = unix.Madvise(b, unix.MADV_SEQUENTIAL)
	return b
}

// unmapFile releases a mapping made by mapFile.
func unmapFile(b []byte) error {
	return unix.Munmap(b)
}

// populateUnsupported is set once the kernel refused madvisePopulate
// (Linux before 5.14).
var populateUnsupported atomic.Bool

// adviseAhead asks for the part b of a mapping to be mapped in before it
// is read: one madvise call instead of a page fault every few pages,
// which is several times cheaper. Failures are ignored (pages that are
// gone, in a file that shrank, are reported by the faults of reading
// them, not here).
func adviseAhead(b []byte) {
	if madvisePopulate != unix.MADV_WILLNEED && !populateUnsupported.Load() {
		err := unix.Madvise(b, madvisePopulate)
		if err != unix.EINVAL {
			return
		}
		populateUnsupported.Store(true)
	}
	_ = unix.Madvise(b, unix.MADV_WILLNEED)
}

// adviseDone says the part b of a mapping was read: its pages are
// unmapped from the process (they stay in the page cache and come back
// on the next access), so that the resident set does not grow with the
// file.
func adviseDone(b []byte) {
	_ = unix.Madvise(b, unix.MADV_DONTNEED)
}

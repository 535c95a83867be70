//go:build unix

package capture

import (
	"os"
	"syscall"
)

// mapWindow is the size of the window a mappedFile maps at a time: large
// enough that moving it (munmap, mmap, the page faults of its first
// reads) costs little against decoding its packets, small enough that
// its pages, which count in the process's resident memory while mapped,
// stay few: the peak RSS catches a window nearly whole (busy.pcap 3.3-3.5
// MiB more with 4 MiB windows). BenchmarkReadDecodeFile on the make bench
// capture, ns a packet, in a fast hour: 1 MiB 135-159, 2 MiB 129-148,
// 4 MiB 127-138, 8 MiB 121-131; in a slow one, four rounds: read(2)
// 233-241, 1 MiB 244-263, 2 MiB 205-223, 4 MiB 226-240.
//
// A window ends at a multiple of mapWindow in the file, and the next one
// starts at the page of the record that crossed that end: nearly all of
// it is then a whole 2 MiB block of the file, which the kernel places at
// an address aligned as its file offset is, and whose large folios in
// the page cache it maps with fewer faults. A program reading a byte of
// each cache line of big.pcap through 2 MiB windows took 18,400 minor
// faults with windows at multiples of 2 MiB, 19,300 with windows that
// start a page before one, and 28,800 with windows at other page
// offsets; 262 against 295 ms (medians of eight alternating runs).
// Windows that start at the multiple of 2 MiB before the record would
// map the block already read again, and the kernel maps its large folios
// whole: 3.3 MiB more peak RSS on big.pcap.
const mapWindow = 2 << 20

// mmap is syscall.Mmap; tests make it fail.
var mmap = syscall.Mmap

// mappedFile reads a regular file through a window of it mapped into
// memory, moved along the file and unmapped behind. Decoding in place
// saves the copy read(2) makes of every byte: on the 1.9 GB make bench
// capture, BenchmarkReadDecodeFile reads and decodes a packet in 117-126
// ns against 146-166 with read(2) into a 256 KiB buffer (2026-12-07,
// fourteenth session; earlier sessions measured the mapping slower, see
// docs/performance.md, on machines whose page faults cost more).
//
// A file that shrinks under its mapping faults (SIGBUS) when the lost
// pages are read; fileSource.Next turns such faults of the calling
// goroutine into panics (debug.SetPanicOnFault), which guardedNext
// recovers as a ReadError of the file.
type mappedFile struct {
	f    *os.File
	size int64  // the file's size when last looked at
	m    []byte // the mapped window, nil when none
	// shrank is set once the file was found shorter than before.
	shrank bool
}

// mapFile returns a mappedFile reading f, or nil when f is not a regular
// file.
func mapFile(f *os.File) *mappedFile {
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return nil
	}
	return &mappedFile{f: f, size: st.Size()}
}

// window unmaps the current window and maps one that holds the bytes
// from file offset off on, at least n of them when the file has them. It
// returns the window and the file offset of its first byte (off rounded
// down to a page); the window is nil at the end of the file. A file
// found shorter than before sets shrank.
func (mf *mappedFile) window(off int64, n int) ([]byte, int64, error) {
	mf.unmap()
	// The file may have grown since (a capture still being written), or
	// shrunk: a window mapped past its end could fault, or, in a race
	// with the truncation seen once, read zeros.
	if st, err := mf.f.Stat(); err == nil {
		mf.shrank = mf.shrank || st.Size() < mf.size
		mf.size = st.Size()
	}
	start := off &^ int64(os.Getpagesize()-1)
	end := (off + int64(max(n, 1)) + mapWindow - 1) &^ (mapWindow - 1)
	length := min(end, mf.size) - start
	if length <= 0 {
		return nil, start, nil
	}
	m, err := mmap(int(mf.f.Fd()), start, int(length), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, start, err
	}
	mf.m = m
	return m, start, nil
}

// unmap unmaps the current window.
func (mf *mappedFile) unmap() {
	if mf.m != nil {
		_ = syscall.Munmap(mf.m)
		mf.m = nil
	}
}

// Close unmaps the window and closes the file.
func (mf *mappedFile) Close() error {
	mf.unmap()
	return mf.f.Close()
}

//go:build !unix

package capture

import (
	"errors"
	"os"
)

// mappedFile is not used where there is no mmap(2): files are read with
// read(2).
type mappedFile struct {
	f      *os.File
	shrank bool // never set
}

// mapFile returns nil: files are read, not mapped.
func mapFile(f *os.File) *mappedFile { return nil }

// window is never called (mapFile returns nil).
func (mf *mappedFile) window(off int64, n int) ([]byte, int64, error) {
	return nil, off, errors.New("file mapping is not supported on this system")
}

// unmap does nothing.
func (mf *mappedFile) unmap() {}

// Close closes the file.
func (mf *mappedFile) Close() error { return mf.f.Close() }

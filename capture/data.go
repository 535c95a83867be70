package capture

import (
	"runtime/debug"
	"unsafe"
)

// AppendData appends seg.Data to dst, the way a caller that keeps a
// segment's bytes beyond the next call to Next must copy them. Data may
// point into a memory mapping of the capture file (see Segment.Data); if
// the file was truncated since Next returned seg, the bytes are gone and
// touching them faults. AppendData turns that fault into ok = false (and
// returns dst unchanged) instead of crashing the program; the Source then
// stops the input with a ReadError at its next call. A fault at an
// address outside seg.Data is not caught.
func AppendData(dst []byte, seg *Segment) (out []byte, ok bool) {
	n := len(dst)
	if len(seg.Data) == 0 {
		return dst, true
	}
	old := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(old)
		if r := recover(); r != nil {
			if f, isFault := r.(interface{ Addr() uintptr }); !isFault || !inSlice(seg.Data, f.Addr()) {
				panic(r)
			}
			out, ok = dst[:n], false
		}
	}()
	return append(dst, seg.Data...), true
}

// inSlice reports whether addr lies in b's bytes.
func inSlice(b []byte, addr uintptr) bool {
	if len(b) == 0 {
		return false
	}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	return addr >= start && addr-start < uintptr(len(b))
}

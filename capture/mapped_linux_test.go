package capture

import (
	"os"
	"testing"
	"unsafe"

	"github.com/gopacket/gopacket/layers"
)

// TestMappedWindowGivenBack reads a file of several mapped windows and
// checks what the reader gives back of each (dropPages): only pages it
// has read, in order, page-aligned, and, once it has read most of a
// window, all of it but about the last step (mapStep) and the record
// being read.
func TestMappedWindowGivenBack(t *testing.T) {
	pkts := randomRecords(12000, false)
	path := writeFile(t, "records.pcap", pcapBytes(layers.LinkTypeEthernet, pcapOpts{}, pkts))
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	mf := mapFile(f)
	if mf == nil {
		t.Fatal("a regular file is not mapped")
	}
	defer mf.Close()
	p, err := newPCAPReader(newMappedWindow(mf))
	if err != nil {
		t.Fatal(err)
	}
	page := uintptr(os.Getpagesize())
	window := int64(-1) // the file offset of the window given back from
	var end uintptr     // the offset in it up to which pages were given back
	calls := 0
	defer func(d func([]byte)) { dropPages = d }(dropPages)
	dropPages = func(b []byte) {
		calls++
		m := uintptr(unsafe.Pointer(unsafe.SliceData(mf.m)))
		if p.base != window {
			window, end = p.base, 0
		}
		start := uintptr(unsafe.Pointer(unsafe.SliceData(b))) - m
		switch {
		case len(b) == 0 || start%page != 0 || uintptr(len(b))%page != 0:
			t.Errorf("gave back %d bytes at %d of the window: not whole pages", len(b), start)
		case start != end:
			t.Errorf("gave back from %d of the window, after giving back up to %d", start, end)
		case int(start)+len(b) > p.pos:
			t.Errorf("gave back up to %d of the window, read up to %d", int(start)+len(b), p.pos)
		}
		end = start + uintptr(len(b))
		dontNeed(b)
	}
	var rec record
	windows, checked := 0, 0
	for {
		base := p.base
		if err := p.next(&rec); err != nil {
			if err.Error() != "EOF" {
				t.Fatalf("record at %d: %v", rec.offset, err)
			}
			break
		}
		if p.base != base {
			windows++
		}
		if p.pos >= mapWindow*7/8 && p.pos-len(rec.data)-16 < mapWindow*7/8 {
			// Most of a window read: a step and the longest record
			// (70 KiB) at most are not given back.
			checked++
			if left := p.pos - int(end); left > mapStep+72<<10 {
				t.Errorf("window %d: read up to %d, gave back up to %d", windows, p.pos, end)
			}
		}
	}
	if windows < 3 || checked < 3 || calls < 3*mapWindow/mapStep {
		t.Errorf("%d windows, %d checked, %d calls to give pages back: the file does not test the giving back", windows, checked, calls)
	}
}

//go:build unix

package capture

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// randomRecords returns n records of random lengths (1 byte to 70 KiB)
// and contents, for the reader, which does not decode them; the last
// one's length makes the file end at a page boundary when pageEnd is
// set.
func randomRecords(n int, pageEnd bool) []testPkt {
	r := rand.New(rand.NewPCG(7, 11))
	pkts := make([]testPkt, n)
	size := 24
	for i := range pkts {
		l := 1 + r.IntN(1600)
		if i%50 == 0 {
			l = 1 + r.IntN(70<<10)
		}
		if pageEnd && i == n-1 {
			// Leave at least 100 data bytes, ending at a page.
			l = 4096 - (size+16+100)%4096 + 100
		}
		data := make([]byte, l)
		for j := range data {
			data[j] = byte(r.Uint32())
		}
		pkts[i] = testPkt{ts: t0.Add(time.Duration(i) * time.Microsecond), data: data}
		size += 16 + l
	}
	return pkts
}

// openMapped opens path through a mappedFile, closed when t ends.
func openMapped(t *testing.T, path string) *mappedFile {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	mf := mapFile(f)
	if mf == nil {
		f.Close()
		t.Fatal("a regular file is not mapped")
	}
	t.Cleanup(func() { mf.Close() })
	return mf
}

// TestMappedMatchesRead reads files of several mapped windows, records
// of random lengths straddling their ends, both through a mapping and
// with read(2), and compares every record.
func TestMappedMatchesRead(t *testing.T) {
	for _, pageEnd := range []bool{false, true} {
		pkts := randomRecords(12000, pageEnd)
		b := pcapBytes(layers.LinkTypeEthernet, pcapOpts{}, pkts)
		if pageEnd != (len(b)%4096 == 0) {
			t.Fatalf("pageEnd %v: file of %d bytes", pageEnd, len(b))
		}
		if len(b) < 3*mapWindow {
			t.Fatalf("file of %d bytes: fewer than three windows", len(b))
		}
		path := writeFile(t, "records.pcap", b)
		f1, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f1.Close()
		ro := readOutcome(newPCAPReader(newWindow(f1)))
		mo := readOutcome(newPCAPReader(newMappedWindow(openMapped(t, path))))
		read, mapped := ro.recs, mo.recs
		if ro.err != "" || mo.err != "" || len(read) != len(pkts) || len(mapped) != len(pkts) {
			t.Fatalf("pageEnd %v: %d records read (%s), %d mapped (%s), want %d", pageEnd, len(read), ro.err, len(mapped), mo.err, len(pkts))
		}
		for i := range read {
			a, m := read[i], mapped[i]
			if a.offset != m.offset || !a.ts.Equal(m.ts) || a.wireLen != m.wireLen || !bytes.Equal(a.data, m.data) || !bytes.Equal(m.data, pkts[i].data) {
				t.Fatalf("pageEnd %v: record %d differs: offset %d/%d, %d/%d bytes", pageEnd, i+1, a.offset, m.offset, len(a.data), len(m.data))
			}
		}
	}
}

// TestMappedWindowsAligned: every window ends at a multiple of mapWindow
// in the file or at the file's end (so that the kernel can map the page
// cache's large folios with fewer faults), starts at a page, and holds
// no more than mapWindow past the record it was mapped for.
func TestMappedWindowsAligned(t *testing.T) {
	pkts := randomRecords(12000, false)
	b := pcapBytes(layers.LinkTypeEthernet, pcapOpts{}, pkts)
	path := writeFile(t, "records.pcap", b)
	type call struct {
		off int64
		n   int
	}
	var calls []call
	defer func(m func(int, int64, int, int, int) ([]byte, error)) { mmap = m }(mmap)
	mmap = func(fd int, off int64, n, prot, flags int) ([]byte, error) {
		calls = append(calls, call{off, n})
		return syscall.Mmap(fd, off, n, prot, flags)
	}
	o := readOutcome(newPCAPReader(newMappedWindow(openMapped(t, path))))
	if o.err != "" || len(o.recs) != len(pkts) {
		t.Fatalf("%d records (%s), want %d", len(o.recs), o.err, len(pkts))
	}
	if len(calls) < 3 {
		t.Fatalf("%d windows for %d bytes", len(calls), len(b))
	}
	page := int64(os.Getpagesize())
	for i, c := range calls {
		end := c.off + int64(c.n)
		switch {
		case c.off%page != 0:
			t.Errorf("window %d starts at %d, not at a page", i, c.off)
		case end%mapWindow != 0 && end != int64(len(b)):
			t.Errorf("window %d [%d, %d) ends neither at a multiple of %d nor at the file's end", i, c.off, end, mapWindow)
		case i == len(calls)-1 && end != int64(len(b)):
			t.Errorf("last window ends at %d, the file at %d", end, len(b))
		case c.n > mapWindow+(71<<10)+int(page):
			t.Errorf("window %d is %d bytes", i, c.n)
		}
	}
}

// TestMappedFallback: when a window cannot be mapped, the reader goes on
// with read(2) from the first unread byte.
func TestMappedFallback(t *testing.T) {
	pkts := randomRecords(12000, false)
	path := writeFile(t, "records.pcap", pcapBytes(layers.LinkTypeEthernet, pcapOpts{}, pkts))
	calls := 0
	defer func(m func(int, int64, int, int, int) ([]byte, error)) { mmap = m }(mmap)
	mmap = func(fd int, off int64, n, prot, flags int) ([]byte, error) {
		if calls++; calls == 3 {
			return nil, syscall.ENOMEM
		}
		return syscall.Mmap(fd, off, n, prot, flags)
	}
	p, err := newPCAPReader(newMappedWindow(openMapped(t, path)))
	o := readOutcome(p, err)
	recs := o.recs
	if o.err != "" {
		t.Fatal(o.err)
	}
	if calls != 3 || p.mf != nil {
		t.Fatalf("%d mappings, still mapped %v; want the third to fail and reading to go on with read(2)", calls, p.mf != nil)
	}
	if len(recs) != len(pkts) {
		t.Fatalf("%d records, want %d", len(recs), len(pkts))
	}
	for i := range recs {
		if !bytes.Equal(recs[i].data, pkts[i].data) {
			t.Fatalf("record %d differs", i+1)
		}
	}
}

// TestMappedTruncatedRecord: a file that ends inside a record gives the
// same error mapped as read.
func TestMappedTruncatedRecord(t *testing.T) {
	b := pcapBytes(layers.LinkTypeEthernet, pcapOpts{}, randomRecords(100, false))
	path := writeFile(t, "cut.pcap", b[:len(b)-5])
	errs := map[bool]string{}
	for _, mapped := range []bool{false, true} {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		var p *pcapReader
		if mapped {
			mf := mapFile(f)
			defer mf.Close()
			p, err = newPCAPReader(newMappedWindow(mf))
		} else {
			defer f.Close()
			p, err = newPCAPReader(newWindow(f))
		}
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for {
			var rec record
			if err = p.next(&rec); err != nil {
				break
			}
			n++
		}
		if n != 99 || err == io.EOF {
			t.Fatalf("mapped %v: %d records then %v, want 99 then a truncated record", mapped, n, err)
		}
		errs[mapped] = err.Error()
	}
	if errs[false] != errs[true] {
		t.Fatalf("read: %q, mapped: %q", errs[false], errs[true])
	}
}

// manyThreePackets returns count times threePackets, a second apart.
func manyThreePackets(t *testing.T, count int) []testPkt {
	var pkts []testPkt
	for i := range count {
		pkts = append(pkts, threePackets(t, t0.Add(time.Duration(i)*time.Second))...)
	}
	return pkts
}

// openAndRead opens path and reads its first n packets.
func openAndRead(t *testing.T, path string, n int) (Source, *Segment) {
	t.Helper()
	src, err := Open([]string{path}, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	var seg Segment
	for range n {
		if err := src.Next(&seg); err != nil {
			t.Fatal(err)
		}
	}
	return src, &seg
}

// TestMappedFileShrinks: a capture truncated while it is read (its
// mapped pages gone: a fault) ends in a ReadError naming the file and
// the packet, after the packets before it, and does not crash, also when
// another goroutine reads on.
func TestMappedFileShrinks(t *testing.T) {
	pkts := manyThreePackets(t, 3000)
	path := writePCAP(t, layers.LinkTypeEthernet, pcapOpts{}, pkts)
	src, seg := openAndRead(t, path, 10)
	if err := os.Truncate(path, 4096); err != nil {
		t.Fatal(err)
	}
	// Read on in another goroutine than the one that opened the file
	// and mapped its first window, as the analysis's reading goroutine
	// does.
	n := 10
	done := make(chan struct{})
	go func() {
		defer close(done)
		for src.Next(seg) == nil {
			n++
		}
	}()
	<-done
	if n >= len(pkts) || n < 10 {
		t.Fatalf("%d packets delivered of a file truncated to 4096 bytes", n)
	}
	var re *ReadError
	if !errors.As(src.Err(), &re) {
		t.Fatalf("err %v, want a ReadError", src.Err())
	}
	if re.File != path || re.Packet != int64(n+1) || !strings.Contains(re.Error(), "shrank while it was read") {
		t.Fatalf("ReadError %q (file %s, packet %d), want %s, packet %d, a file that shrank", re.Error(), re.File, re.Packet, path, n+1)
	}
}

// TestMappedFileGrows: packets appended to a capture while it is read
// (tcpdump still writing it) are read, as read(2) would.
func TestMappedFileGrows(t *testing.T) {
	pkts := manyThreePackets(t, 200)
	b := pcapBytes(layers.LinkTypeEthernet, pcapOpts{}, pkts)
	half := 24
	for _, p := range pkts[:300] {
		half += 16 + len(p.data)
	}
	path := writeFile(t, "growing.pcap", b[:half])
	src, seg := openAndRead(t, path, 100)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(b[half:]); err != nil {
		t.Fatal(err)
	}
	f.Close()
	n := 100
	for src.Next(seg) == nil {
		n++
	}
	if n != len(pkts) || src.Err() != nil {
		t.Fatalf("%d packets, err %v; want %d", n, src.Err(), len(pkts))
	}
}

// TestMappedFileShrinksBehind: a capture cut beyond the mapped window is
// read up to the cut, where it ends with the same ReadError, without a
// fault and without reading past the cut: the mapping's size is looked
// at again at each move.
func TestMappedFileShrinksBehind(t *testing.T) {
	pkts := manyThreePackets(t, 30000)
	b := pcapBytes(layers.LinkTypeEthernet, pcapOpts{}, pkts)
	if len(b) < 3*mapWindow {
		t.Fatalf("file of %d bytes: fewer than three windows", len(b))
	}
	path := writeFile(t, "cut.pcap", b)
	src, seg := openAndRead(t, path, 10)
	// The first window stays whole; the third would be mapped past the
	// cut if the file's size were not looked at again.
	cut := 2*mapWindow + mapWindow/2
	if err := os.Truncate(path, int64(cut)); err != nil {
		t.Fatal(err)
	}
	n := 10
	for src.Next(seg) == nil {
		n++
	}
	whole, end := 0, 24 // the packets wholly before the cut, and where they end
	for _, p := range pkts {
		if end+16+len(p.data) > cut {
			break
		}
		whole, end = whole+1, end+16+len(p.data)
	}
	var re *ReadError
	if !errors.As(src.Err(), &re) {
		t.Fatalf("err %v, want a ReadError", src.Err())
	}
	if !strings.Contains(re.Error(), "shrank while it was read") || strings.Contains(re.Error(), "fault") || re.Offset != int64(end) || n != whole || re.Packet != int64(n+1) {
		t.Fatalf("after %d packets: %q (offset %d, packet %d); want the %d packets before the cut, then the file shrank at offset %d", n, re.Error(), re.Offset, re.Packet, whole, end)
	}
}

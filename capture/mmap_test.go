package capture

import (
	"bytes"
	"errors"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// manyPackets returns n TCP packets of about 1 kB.
func manyPackets(t testing.TB, n int) []testPkt {
	pkts := make([]testPkt, n)
	for i := range pkts {
		tcp := dataTCP()
		tcp.Seq += uint32(i * 1000)
		pkts[i] = testPkt{ts: t0.Add(time.Duration(i) * time.Microsecond), data: eth(t, tcp4(t, ipv4(ip4A, ip4B), tcp, 1000))}
	}
	return pkts
}

// openMapped opens names, and skips the test when the first is not
// mapped into memory (a platform without mmap).
func openMapped(t *testing.T, names ...string) Source {
	t.Helper()
	src, err := Open(names, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(src.(*fileSource).inputs[0].mapping) == 0 {
		src.Close()
		t.Skip("files are not mapped on this platform")
	}
	return src
}

// TestMappedFile checks that a plain pcap file is mapped, and reads the
// same through the mapping as through a reader.
func TestMappedFile(t *testing.T) {
	file := pcapBytes(layers.LinkTypeEthernet, pcapOpts{}, manyPackets(t, 3000))
	path := writeFile(t, "mapped.pcap", file)
	src := openMapped(t, path)
	defer src.Close()
	withStdin(t, file, func() {
		segs, info, err := readAll(t, []string{"-"}, OpenOptions{})
		if err != nil || len(segs) != 3000 {
			t.Fatalf("standard input: %d segments, %v", len(segs), err)
		}
		var seg Segment
		for i := range segs {
			if err := src.Next(&seg); err != nil {
				t.Fatal(err)
			}
			if view(&seg) != view(&segs[i]) || !bytes.Equal(seg.Data, segs[i].Data) || seg.Time != segs[i].Time || seg.Packet != segs[i].Packet {
				t.Fatalf("packet %d differs: mapped %+v, read %+v", i+1, view(&seg), view(&segs[i]))
			}
		}
		if err := src.Next(&seg); err != io.EOF {
			t.Fatalf("Next at the end: %v", err)
		}
		got := src.Info()
		got.Inputs[0].Name = "-"
		if got.Packets != info.Packets || got.TCP != info.TCP || got.First != info.First || got.Last != info.Last {
			t.Fatalf("Info %+v, read %+v", got, info)
		}
	})
}

// TestMappedFileShrinks truncates a mapped file while it is read: the
// input stops with a ReadError instead of crashing the process (SIGBUS).
func TestMappedFileShrinks(t *testing.T) {
	pkts := manyPackets(t, 20000) // 20 MB: several advice chunks
	good := pcapBytes(layers.LinkTypeEthernet, pcapOpts{}, pkts[:3])
	for _, cut := range []int{100, 6 << 20} {
		for _, two := range []bool{false, true} {
			path := writeFile(t, "shrinks.pcap", pcapBytes(layers.LinkTypeEthernet, pcapOpts{}, pkts))
			names := []string{path}
			if two {
				names = append(names, writeFile(t, "other.pcap", good))
			}
			src := openMapped(t, names...)
			var seg Segment
			for range 10 {
				if err := src.Next(&seg); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Truncate(path, int64(cut)); err != nil {
				t.Fatal(err)
			}
			n := 0
			for src.Next(&seg) == nil {
				n++
			}
			err := src.Err()
			var re *ReadError
			if !errors.As(err, &re) || re.File != path || !strings.Contains(re.Err.Error(), "shrank") {
				t.Fatalf("cut at %d: Err() = %v, want a ReadError saying the file shrank", cut, err)
			}
			info := src.Info()
			if got := info.TCP + info.ICMPErrors + info.Fragments + info.Other; got != info.Packets {
				t.Fatalf("Info counts %d TCP+ICMP+fragments+other, %d packets", got, info.Packets)
			}
			if len(names) == 2 && info.Inputs[1].Packets != 3 {
				t.Fatalf("the other input delivered %d packets, want 3", info.Inputs[1].Packets)
			}
			t.Logf("cut at %d, %d inputs: %d more packets, then %v", cut, len(names), n, err)
			if err := src.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestMappedFileGrows appends packets to a mapped file after it was
// opened, as a capture still being written: they are read too, as they
// would be from a file read to its end.
func TestMappedFileGrows(t *testing.T) {
	pkts := manyPackets(t, 50)
	file := pcapBytes(layers.LinkTypeEthernet, pcapOpts{}, pkts)
	all := pcapBytes(layers.LinkTypeEthernet, pcapOpts{}, append(append([]testPkt(nil), pkts...), pkts...))
	for _, extra := range []int{len(all) - len(file), len(all) - len(file) - 10} {
		path := writeFile(t, "grows.pcap", file)
		src, err := Open([]string{path}, OpenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(all[len(file) : len(file)+extra]); err != nil {
			t.Fatal(err)
		}
		f.Close()
		var seg Segment
		n := 0
		for src.Next(&seg) == nil {
			n++
			if want := dataTCP().Seq + uint32((n-1)%50*1000); seg.Seq != want {
				t.Fatalf("packet %d: seq %d, want %d", n, seg.Seq, want)
			}
		}
		err = src.Err()
		src.Close()
		if extra == len(all)-len(file) {
			if n != 100 || err != nil {
				t.Fatalf("grown whole: %d packets, %v; want 100", n, err)
			}
			continue
		}
		if n != 99 || err == nil || !strings.Contains(err.Error(), "truncated packet data") {
			t.Fatalf("grown by a cut packet: %d packets, %v; want 99 and a truncated packet", n, err)
		}
	}
}

// TestPCAPReaderRefills reads a pcap file through readers returning a
// byte at a time, half of what is asked and data with the error, and
// one whose records are bigger than the window: the records must be
// those read from the whole file in memory.
func TestPCAPReaderRefills(t *testing.T) {
	pkts := manyPackets(t, 40)
	huge := make([]byte, 200_000)
	copy(huge, pkts[0].data)
	pkts = append(pkts, testPkt{ts: t0.Add(time.Second), data: huge, wireLen: 300_000})
	pkts = append(pkts, manyPackets(t, 5)...)
	bigSnap := pcapOpts{snaplen: 1 << 20}
	for _, o := range []pcapOpts{{}, {big: true, nano: true}, bigSnap} {
		file := pcapBytes(layers.LinkTypeEthernet, o, pkts)
		if o.snaplen == bigSnap.snaplen {
			// A record longer than the window.
			file = pcapBytes(layers.LinkTypeEthernet, o, append(pkts, testPkt{ts: t0.Add(2 * time.Second), data: make([]byte, pcapBufSize+5000)}))
		}
		m, err := newMappedPCAPReader(file)
		if err != nil {
			t.Fatal(err)
		}
		want := readRecords(t, m)
		for name, r := range map[string]io.Reader{
			"one byte": iotest.OneByteReader(bytes.NewReader(file)),
			"half":     iotest.HalfReader(bytes.NewReader(file)),
			"data+err": iotest.DataErrReader(bytes.NewReader(file)),
		} {
			p, err := newPCAPReader(r)
			if err != nil {
				t.Fatal(err)
			}
			got := readRecords(t, p)
			if len(got) != len(want) {
				t.Fatalf("%s: %d records, want %d", name, len(got), len(want))
			}
			for i := range got {
				if !bytes.Equal(got[i].data, want[i].data) || got[i].ts != want[i].ts || got[i].wireLen != want[i].wireLen || got[i].offset != want[i].offset {
					t.Fatalf("%s: record %d differs", name, i)
				}
			}
		}
	}
	// A reader failing for good after the header.
	file := pcapBytes(layers.LinkTypeEthernet, pcapOpts{}, pkts)
	boom := errors.New("boom")
	p, err := newPCAPReader(io.MultiReader(bytes.NewReader(file[:24+16+5]), iotest.ErrReader(boom)))
	if err != nil {
		t.Fatal(err)
	}
	var rec record
	if err := p.next(&rec); err != boom || rec.offset != 24 {
		t.Fatalf("next after a read error: %v at %d, want boom at 24", err, rec.offset)
	}
}

// readRecords reads every record of p, copying their data.
func readRecords(t *testing.T, p *pcapReader) []record {
	t.Helper()
	var out []record
	for {
		var rec record
		err := p.next(&rec)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		rec.data = append([]byte(nil), rec.data...)
		out = append(out, rec)
	}
}

// pcapOutcome is what a pcapReader makes of a file: the records, and the
// error that stopped it (with its offset).
type pcapOutcome struct {
	recs   []record
	err    string
	offset int64
}

// readOutcome reads file with p (nil when the file header is bad).
func readOutcome(p *pcapReader, err error) pcapOutcome {
	var o pcapOutcome
	if err != nil {
		o.err = err.Error()
		return o
	}
	for {
		var rec record
		err := p.next(&rec)
		if err != nil {
			if err != io.EOF {
				o.err, o.offset = err.Error(), rec.offset
			}
			return o
		}
		rec.data = append([]byte(nil), rec.data...)
		o.recs = append(o.recs, rec)
	}
}

// comparePCAPReaders reads file from memory as a mapping and through
// readers: the outcomes must be the same.
func comparePCAPReaders(t *testing.T, file []byte) {
	t.Helper()
	want := readOutcome(newMappedPCAPReader(file))
	for name, r := range map[string]io.Reader{
		"reader":   bytes.NewReader(file),
		"one byte": iotest.OneByteReader(bytes.NewReader(file)),
	} {
		got := readOutcome(newPCAPReader(r))
		if got.err != want.err || got.offset != want.offset || len(got.recs) != len(want.recs) {
			t.Fatalf("%s: %d records, error %q at %d; mapped: %d records, error %q at %d", name, len(got.recs), got.err, got.offset, len(want.recs), want.err, want.offset)
		}
		for i := range got.recs {
			g, w := got.recs[i], want.recs[i]
			if !bytes.Equal(g.data, w.data) || g.ts != w.ts || g.wireLen != w.wireLen || g.offset != w.offset || g.linkType != w.linkType || g.first != w.first {
				t.Fatalf("%s: record %d differs", name, i)
			}
		}
	}
}

// TestPCAPReaderCuts reads every prefix of a small file, and the file
// with a corrupt record length, as a mapping and through readers.
func TestPCAPReaderCuts(t *testing.T) {
	pkts := threePackets(t, t0)
	for _, o := range []pcapOpts{{}, {big: true, nano: true}} {
		file := pcapBytes(layers.LinkTypeEthernet, o, pkts)
		for n := 0; n <= len(file); n++ {
			comparePCAPReaders(t, file[:n])
		}
		corrupt := append([]byte(nil), file...)
		corrupt[24+8], corrupt[24+11] = 0xff, 0x7f
		comparePCAPReaders(t, corrupt)
	}
	// The messages of a few cuts, as the buffered reader had them.
	file := pcapBytes(layers.LinkTypeEthernet, pcapOpts{}, pkts)
	for n, want := range map[int]string{
		10:           "truncated pcap file header: got 10 of 24 bytes",
		24 + 7:       "truncated record header: got 7 of 16 bytes",
		24 + 16 + 20: "truncated packet data: got 20 of " + itoa(len(pkts[0].data)) + " bytes",
	} {
		o := readOutcome(newMappedPCAPReader(file[:n]))
		if o.err != want {
			t.Errorf("cut at %d: %q, want %q", n, o.err, want)
		}
	}
}

// byteSink keeps a read from being optimised away.
var byteSink byte

// TestAppendDataAfterShrink copies a segment's bytes after its file was
// truncated: AppendData reports the loss and leaves dst as it was, where
// reading Data itself faults.
func TestAppendDataAfterShrink(t *testing.T) {
	path := writeFile(t, "shrinks.pcap", pcapBytes(layers.LinkTypeEthernet, pcapOpts{}, manyPackets(t, 100)))
	src := openMapped(t, path)
	defer src.Close()
	var seg Segment
	for range 50 { // about 50 kB in: pages past the first
		if err := src.Next(&seg); err != nil {
			t.Fatal(err)
		}
	}
	prefix := []byte("kept")
	if out, ok := AppendData(prefix, &seg); !ok || !bytes.Equal(out[len(prefix):], seg.Data) {
		t.Fatalf("before the cut: ok %v, %d bytes", ok, len(out)-len(prefix))
	}
	if err := os.Truncate(path, 100); err != nil {
		t.Fatal(err)
	}
	faulted := func() (faulted bool) {
		old := debug.SetPanicOnFault(true)
		defer func() {
			debug.SetPanicOnFault(old)
			faulted = recover() != nil
		}()
		byteSink = seg.Data[len(seg.Data)-1]
		return false
	}()
	if !faulted {
		t.Fatal("reading Data after the cut did not fault: the test proves nothing")
	}
	out, ok := AppendData(prefix[:len(prefix):len(prefix)], &seg)
	if ok || string(out) != "kept" {
		t.Fatalf("after the cut: ok %v, %q", ok, out)
	}
}

package capture

import (
	"bytes"
	"errors"
	"io"
	"os"
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

// TestFileGrows appends packets to a file after it was opened, as a
// capture still being written: they are read too.
func TestFileGrows(t *testing.T) {
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
		m, err := newPCAPReader(wholeWindow(file))
		if err != nil {
			t.Fatal(err)
		}
		want := readRecords(t, m)
		for name, r := range map[string]io.Reader{
			"one byte": iotest.OneByteReader(bytes.NewReader(file)),
			"half":     iotest.HalfReader(bytes.NewReader(file)),
			"data+err": iotest.DataErrReader(bytes.NewReader(file)),
		} {
			p, err := newPCAPReader(newWindow(r))
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
	p, err := newPCAPReader(newWindow(io.MultiReader(bytes.NewReader(file[:24+16+5]), iotest.ErrReader(boom))))
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

// pcapOutcome is what a reader makes of a file: the records, and the
// error that stopped it (with its offset).
type pcapOutcome struct {
	recs   []record
	err    string
	offset int64
}

// readOutcome reads a file with p (nil when the file header is bad).
func readOutcome(p packetReader, err error) pcapOutcome {
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

// wholeWindow holds file whole, the reference the refilling reads are
// compared with.
func wholeWindow(file []byte) window {
	return window{buf: append([]byte(nil), file...), src: bytes.NewReader(nil)}
}

// openReader starts the reader of file's format (pcapng by its magic,
// else pcap) on w.
func openReader(file []byte, w window) (packetReader, error) {
	if len(file) >= 4 && [4]byte(file[:4]) == magicPCAPNG {
		return newNgReader(w)
	}
	return newPCAPReader(w)
}

// comparePCAPReaders reads a pcap or pcapng file held whole in its window
// and through readers that refill the window: the outcomes must be the
// same.
func comparePCAPReaders(t *testing.T, file []byte) {
	t.Helper()
	want := readOutcome(openReader(file, wholeWindow(file)))
	for name, r := range map[string]io.Reader{
		"reader":   bytes.NewReader(file),
		"one byte": iotest.OneByteReader(bytes.NewReader(file)),
	} {
		got := readOutcome(openReader(file, newWindow(r)))
		if got.err != want.err || got.offset != want.offset || len(got.recs) != len(want.recs) {
			t.Fatalf("%s: %d records, error %q at %d; whole: %d records, error %q at %d", name, len(got.recs), got.err, got.offset, len(want.recs), want.err, want.offset)
		}
		for i := range got.recs {
			g, w := got.recs[i], want.recs[i]
			if !bytes.Equal(g.data, w.data) || g.ts != w.ts || g.wireLen != w.wireLen || g.offset != w.offset || g.linkType != w.linkType || g.first != w.first {
				t.Fatalf("%s: record %d differs", name, i)
			}
		}
	}
}

// TestNgReaderCuts reads every prefix of the hand-built pcapng file (two
// sections, both byte orders, every block kind) whole and through
// readers.
func TestNgReaderCuts(t *testing.T) {
	file := handBuiltPcapng(t)
	for n := 0; n <= len(file); n++ {
		comparePCAPReaders(t, file[:n])
	}
	if o := readOutcome(openReader(file[:len(file)-1], newWindow(bytes.NewReader(file[:len(file)-1])))); len(o.recs) != 6 || !strings.Contains(o.err, "truncated pcapng block (type 0x3)") {
		t.Fatalf("cut by a byte: %d packets, error %q; want 6, a truncated simple packet block", len(o.recs), o.err)
	}
}

// TestPCAPReaderCuts reads every prefix of a small file, and the file
// with a corrupt record length, whole and through readers.
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
		o := readOutcome(newPCAPReader(wholeWindow(file[:n])))
		if o.err != want {
			t.Errorf("cut at %d: %q, want %q", n, o.err, want)
		}
	}
}

package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// threePackets are three Ethernet TCP packets 1 ms apart starting at ts.
func threePackets(t testing.TB, ts time.Time) []testPkt {
	var pkts []testPkt
	for i := range 3 {
		tcp := dataTCP()
		tcp.Seq += uint32(i * 10)
		pkts = append(pkts, testPkt{ts: ts.Add(time.Duration(i) * time.Millisecond), data: eth(t, tcp4(t, ipv4(ip4A, ip4B), tcp, 10))})
	}
	return pkts
}

func TestFormats(t *testing.T) {
	tsNano := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)
	pkts := threePackets(t, tsNano)
	ng := pcapngBytes(t, []ngIface{{lt: layers.LinkTypeEthernet, pkts: pkts}}, [][2]int{{0, 0}, {0, 1}, {0, 2}})
	tests := []struct {
		name       string
		file       []byte
		format     string
		compressed bool
		nano       bool
	}{
		{"pcap us little-endian", pcapBytes(layers.LinkTypeEthernet, pcapOpts{}, pkts), "pcap", false, false},
		{"pcap us big-endian", pcapBytes(layers.LinkTypeEthernet, pcapOpts{big: true}, pkts), "pcap", false, false},
		{"pcap ns little-endian", pcapBytes(layers.LinkTypeEthernet, pcapOpts{nano: true}, pkts), "pcap", false, true},
		{"pcap ns big-endian", pcapBytes(layers.LinkTypeEthernet, pcapOpts{nano: true, big: true}, pkts), "pcap", false, true},
		{"pcap gzip", pcapBytes(layers.LinkTypeEthernet, pcapOpts{gzip: true}, pkts), "pcap", true, false},
		{"pcap ns big-endian gzip", pcapBytes(layers.LinkTypeEthernet, pcapOpts{gzip: true, nano: true, big: true}, pkts), "pcap", true, true},
		{"pcapng", ng, "pcapng", false, true},
		{"pcapng gzip", gzipBytes(ng), "pcapng", true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, "in", tc.file)
			segs, info, err := readAll(t, []string{path}, OpenOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(segs) != 3 || info.Packets != 3 || info.TCP != 3 {
				t.Fatalf("%d segments, %+v", len(segs), info)
			}
			for i, s := range segs {
				want := pkts[i].ts
				if !tc.nano {
					want = want.Truncate(time.Microsecond)
				}
				if !s.Time.Equal(want) {
					t.Errorf("packet %d time %v, want %v", i+1, s.Time, want)
				}
				if s.Packet != int64(i+1) || s.Seq != 1001+uint32(10*i) || s.PayloadLen != 10 || s.Checksum != ChecksumGood {
					t.Errorf("packet %d: %+v", i+1, view(&s))
				}
			}
			in := info.Inputs[0]
			if in.Name != path || in.Format != tc.format || in.Compressed != tc.compressed || in.Nanosecond != tc.nano ||
				strings.Join(in.LinkTypes, ",") != "EN10MB" || in.Snaplen != 262144 || in.Packets != 3 {
				t.Errorf("input info %+v", in)
			}
			if info.Dropped != -1 || !info.First.Equal(segs[0].Time) || !info.Last.Equal(segs[2].Time) {
				t.Errorf("Dropped %d First %v Last %v", info.Dropped, info.First, info.Last)
			}
		})
	}
}

func gzipBytes(b []byte) []byte {
	var z bytes.Buffer
	w := newGzipWriter(&z)
	w.Write(b)
	w.Close()
	return z.Bytes()
}

func TestPcapngMixedLinkTypes(t *testing.T) {
	ethPkts := threePackets(t, t0)
	rawPkts := []testPkt{
		{ts: t0.Add(500 * time.Microsecond), data: tcp6(t, ipv6(ip6A, ip6B), dataTCP(), 5)},
		{ts: t0.Add(1500 * time.Microsecond), data: tcp6(t, ipv6(ip6A, ip6B), dataTCP(), 6)},
	}
	sllPkts := []testPkt{{ts: t0.Add(3 * time.Millisecond), data: cat(sll2Hdr(layers.EthernetTypeIPv4), tcp4(t, ipv4(ip4A, ip4B), dataTCP(), 7))}}
	file := pcapngBytes(t, []ngIface{
		{lt: layers.LinkTypeEthernet, pkts: ethPkts},
		{lt: layers.LinkTypeRaw, pkts: rawPkts},
		{lt: layers.LinkTypeLinuxSLL2, pkts: sllPkts},
	}, [][2]int{{0, 0}, {1, 0}, {0, 1}, {1, 1}, {0, 2}, {2, 0}})
	segs, info, err := readAll(t, []string{writeFile(t, "mixed.pcapng", file)}, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantLT := []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeRaw, layers.LinkTypeEthernet, layers.LinkTypeRaw, layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL2}
	wantLen := []int{10, 5, 10, 6, 10, 7}
	if len(segs) != len(wantLT) {
		t.Fatalf("%d segments, want %d", len(segs), len(wantLT))
	}
	for i, s := range segs {
		if s.LinkType != wantLT[i] || s.PayloadLen != wantLen[i] || s.Packet != int64(i+1) || s.Checksum != ChecksumGood {
			t.Errorf("segment %d: link type %v payload %d packet %d checksum %d", i, s.LinkType, s.PayloadLen, s.Packet, s.Checksum)
		}
	}
	if got := strings.Join(info.Inputs[0].LinkTypes, ","); got != "EN10MB,RAW,LINUX_SLL2" {
		t.Errorf("LinkTypes = %s", got)
	}
}

func TestMergeOrder(t *testing.T) {
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	pkt := func(seq uint32) []byte { return seqPacket(t, seq) }
	udpPkt := udpPacket(t)

	a := writeFile(t, "a.pcap", pcapBytes(layers.LinkTypeEthernet, pcapOpts{}, []testPkt{
		{ts: ms(0), data: pkt(100)}, {ts: ms(2), data: pkt(102)}, {ts: ms(4), data: pkt(104)}, {ts: ms(6), data: pkt(106)},
	}))
	// b is nanosecond big-endian and gzip: formats mix freely.
	b := writeFile(t, "b.pcap.gz", pcapBytes(layers.LinkTypeEthernet, pcapOpts{nano: true, big: true, gzip: true}, []testPkt{
		{ts: ms(1), data: pkt(201)}, {ts: ms(3), data: pkt(203)}, {ts: ms(5), data: udpPkt}, {ts: ms(6), data: pkt(206)},
	}))
	c := writeFile(t, "c.pcapng", pcapngBytes(t, []ngIface{{lt: layers.LinkTypeEthernet, pkts: []testPkt{{ts: ms(6), data: pkt(306)}, {ts: ms(7), data: pkt(307)}}}}, [][2]int{{0, 0}, {0, 1}}))

	segs, info, err := readAll(t, []string{a, b, c}, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	type got struct {
		packet int64
		input  int
		seq    uint32
	}
	want := []got{{1, 0, 100}, {2, 1, 201}, {3, 0, 102}, {4, 1, 203}, {5, 0, 104}, {7, 0, 106}, {8, 1, 206}, {9, 2, 306}, {10, 2, 307}}
	if len(segs) != len(want) {
		t.Fatalf("%d segments, want %d", len(segs), len(want))
	}
	for i, s := range segs {
		if g := (got{s.Packet, s.Input, s.Seq}); g != want[i] {
			t.Errorf("segment %d = %+v, want %+v", i, g, want[i])
		}
	}
	if info.Packets != 10 || info.TCP != 9 || info.Other != 1 {
		t.Errorf("info %+v", info)
	}
	for i, n := range []int64{4, 4, 2} {
		if info.Inputs[i].Packets != n {
			t.Errorf("input %d: %d packets, want %d", i, info.Inputs[i].Packets, n)
		}
	}
	if !info.First.Equal(ms(0)) || !info.Last.Equal(ms(7)) {
		t.Errorf("First %v Last %v", info.First, info.Last)
	}
}

func TestStdin(t *testing.T) {
	file := pcapBytes(layers.LinkTypeEthernet, pcapOpts{gzip: true}, threePackets(t, t0))
	withStdin(t, file, func() {
		segs, info, err := readAll(t, []string{"-"}, OpenOptions{})
		if err != nil || len(segs) != 3 || info.Inputs[0].Name != "-" || !info.Inputs[0].Compressed {
			t.Fatalf("err %v, %d segments, %+v", err, len(segs), info.Inputs)
		}
	})
	dir := t.TempDir()
	t.Setenv("TMPDIR", dir)
	path, cleanup, err := Spool(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	// Each open reads the whole copy (the annotated text reads it twice).
	for range 2 {
		got, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(got, file) {
			t.Fatalf("spooled file differs: %v", err)
		}
	}
	// On Linux the copy is unlinked at once: a tcpwhy killed while it
	// reads leaves nothing behind.
	if entries, _ := os.ReadDir(dir); runtime.GOOS == "linux" && (len(entries) != 0 || !strings.HasPrefix(path, "/proc/self/fd/")) {
		t.Errorf("spooled to %s, %d files left in %s; want /proc/self/fd/N and none", path, len(entries), dir)
	}
	cleanup()
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("cleanup left %s: %v", path, err)
	}
}

// TestNames opens spooled inputs under the names they came with: Info and
// the ReadError of a broken one name them, not the temporary files.
func TestNames(t *testing.T) {
	good := pcapBytes(layers.LinkTypeEthernet, pcapOpts{}, threePackets(t, t0))
	var paths []string
	for _, b := range [][]byte{good, good[:len(good)-5]} {
		path, cleanup, err := Spool(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer cleanup()
		paths = append(paths, path)
	}
	segs, info, err := readAll(t, paths, OpenOptions{Names: []string{"-", "/dev/fd/63"}})
	if len(segs) != 5 || info.Inputs[0].Name != "-" || info.Inputs[1].Name != "/dev/fd/63" {
		t.Fatalf("%d segments, inputs %+v", len(segs), info.Inputs)
	}
	var re *ReadError
	if !errors.As(err, &re) || re.File != "/dev/fd/63" || !strings.HasPrefix(err.Error(), "read /dev/fd/63: packet ") {
		t.Fatalf("Err() = %v, want a ReadError of /dev/fd/63", err)
	}
}

// withStdin runs f with os.Stdin reading content.
func withStdin(t *testing.T, content []byte, f func()) {
	t.Helper()
	path := writeFile(t, "stdin", content)
	in, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	old := os.Stdin
	os.Stdin = in
	defer func() { os.Stdin = old }()
	f()
}

func TestOpenMissingFile(t *testing.T) {
	_, err := Open([]string{"/nonexistent/x.pcap"}, OpenOptions{})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open of a missing file: %v", err)
	}
	if _, err := Open(nil, OpenOptions{}); err == nil {
		t.Fatal("Open with no files succeeded")
	}
}

func TestBrokenInput(t *testing.T) {
	pkts := threePackets(t, t0)
	good := pcapBytes(layers.LinkTypeEthernet, pcapOpts{}, pkts)
	recLen := 16 + len(pkts[0].data) // every test packet has the same size
	rec := func(i int) int { return 24 + i*recLen }

	corrupt := append([]byte(nil), good...)
	binary.LittleEndian.PutUint32(corrupt[rec(1)+8:], 0x7fffffff)
	badVersion := append([]byte(nil), good...)
	binary.LittleEndian.PutUint16(badVersion[4:], 9)
	usb := pcapBytes(layers.LinkType(189), pcapOpts{}, pkts)

	gz := pcapBytes(layers.LinkTypeEthernet, pcapOpts{gzip: true}, append(append(append([]testPkt(nil), pkts...), pkts...), pkts...))
	gzCut := gz[:len(gz)-40]

	ng1 := pcapngBytes(t, []ngIface{{lt: layers.LinkTypeEthernet, pkts: pkts}}, [][2]int{{0, 0}})
	ng := pcapngBytes(t, []ngIface{{lt: layers.LinkTypeEthernet, pkts: pkts}}, [][2]int{{0, 0}, {0, 1}, {0, 2}})
	ngBad := append([]byte(nil), ng...)
	binary.LittleEndian.PutUint32(ngBad[len(ng1)+4:], 0xfffffff0) // the 2nd packet's block length
	ngCapLen := append([]byte(nil), ng...)
	binary.LittleEndian.PutUint32(ngCapLen[len(ng1)+20:], 5000) // the 2nd packet's captured length
	ngBOM := append([]byte(nil), ng...)
	ngBOM[8] = 0x99

	tests := []struct {
		name      string
		file      []byte
		delivered int   // packets delivered before the error; -1: any
		offset    int64 // -2: consistent with delivered
		cause     string
	}{
		{"truncated last packet", good[:len(good)-10], 2, int64(rec(2)), "truncated packet data"},
		{"truncated record header", good[:rec(2)+7], 2, int64(rec(2)), "truncated record header"},
		{"corrupt record length", corrupt, 1, int64(rec(1)), "captured length 2147483647 exceeds"},
		{"empty file", nil, 0, 0, "empty file"},
		{"short file", []byte{0xd4, 0xc3}, 0, 0, "only 2 bytes"},
		{"text file", []byte("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"), 0, 0, "not a pcap or pcapng file"},
		{"truncated pcap header", good[:20], 0, 0, "truncated pcap file header"},
		{"bad pcap version", badVersion, 0, 0, "unsupported pcap version 9.4"},
		{"unsupported link type", usb, 0, 0, "unsupported link type"},
		{"truncated gzip", gzCut, -1, -2, "truncated gzip"},
		{"gzip header only", gz[:5], 0, 0, "gzip"},
		{"bad pcapng block length", ngBad, 1, int64(len(ng1)), "bad block length"},
		{"bad pcapng captured length", ngCapLen, 1, int64(len(ng1)), "captured length 5000 exceeds block length"},
		{"bad pcapng byte-order magic", ngBOM, 0, 0, "byte-order magic"},
		{"truncated pcapng", ng[:len(ng)-9], 2, int64(len(ng1) + (len(ng)-len(ng1))/2), "truncated pcapng block (type 0x6): got 87 of 96 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, "broken.pcap", tc.file)
			next := writeFile(t, "next.pcap", good)
			segs, info, err := readAll(t, []string{path, next}, OpenOptions{})
			var re *ReadError
			if !errors.As(err, &re) {
				t.Fatalf("Err() = %v, want a *ReadError", err)
			}
			delivered := 0
			for _, s := range segs {
				if s.Input == 0 {
					delivered++
				}
			}
			if tc.delivered >= 0 && delivered != tc.delivered {
				t.Errorf("%d packets delivered before the error, want %d", delivered, tc.delivered)
			}
			if got := len(segs) - delivered; got != 3 {
				t.Errorf("the next file delivered %d packets, want 3", got)
			}
			wantOff := tc.offset
			if wantOff == -2 {
				wantOff = int64(rec(delivered))
			}
			if re.File != path || (wantOff != -1 && re.Offset != wantOff) || !strings.Contains(re.Err.Error(), tc.cause) {
				t.Errorf("ReadError %+v (%v), want file %s offset %d cause %q", re, re.Err, path, wantOff, tc.cause)
			}
			// The merge reads ahead, so the broken packet's number is
			// at most one past the packets delivered so far.
			if re.Packet < int64(delivered+1) || re.Packet > info.Packets+1 {
				t.Errorf("ReadError.Packet = %d, delivered %d of %d", re.Packet, delivered, info.Packets)
			}
			t.Logf("delivered %d: %v", delivered, err)
			msg := err.Error()
			wantMsg := "read " + path + ": packet "
			if !strings.HasPrefix(msg, wantMsg) || (wantOff >= 0 && !strings.Contains(msg, " at byte offset ")) {
				t.Errorf("error text %q", msg)
			}
		})
	}
}

// TestBrokenInputAlone checks the packet number of a ReadError without
// another input reading ahead.
func TestBrokenInputAlone(t *testing.T) {
	good := pcapBytes(layers.LinkTypeEthernet, pcapOpts{}, threePackets(t, t0))
	path := writeFile(t, "cut.pcap", good[:len(good)-1])
	segs, _, err := readAll(t, []string{path}, OpenOptions{})
	recLen := 16 + len(threePackets(t, t0)[0].data)
	want := "read " + path + ": packet 3 at byte offset " + itoa(24+2*recLen) + ": truncated packet data: got "
	if len(segs) != 2 || err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("%d segments, err %v; want 2 and %q", len(segs), err, want)
	}
	src, err := Open([]string{path}, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var seg Segment
	for src.Next(&seg) == nil {
	}
	if err := src.Next(&seg); err != io.EOF {
		t.Errorf("Next after the end = %v, want io.EOF", err)
	}
}

func TestReadErrorText(t *testing.T) {
	e := &ReadError{File: "-", Packet: 7, Offset: -1, Err: errors.New("boom")}
	if got := e.Error(); got != "read standard input: packet 7: boom" {
		t.Errorf("Error() = %q", got)
	}
}

// TestLimitPackets checks that a limited source stops after exactly n
// packets, TCP or not (`tcpdump -c n`), also when the last of them is not
// TCP and when inputs are merged, and reads nothing past them: a broken
// record after the limit is no error.
func TestLimitPackets(t *testing.T) {
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	pkt := func(seq uint32) []byte { return seqPacket(t, seq) }
	udpPkt := udpPacket(t)

	// a: TCP, UDP, TCP, then half a record header (a broken input).
	aBytes := pcapBytes(layers.LinkTypeEthernet, pcapOpts{}, []testPkt{
		{ts: ms(0), data: pkt(100)}, {ts: ms(2), data: udpPkt}, {ts: ms(4), data: pkt(104)},
	})
	a := writeFile(t, "a.pcap", append(aBytes, 1, 2, 3, 4, 5, 6, 7, 8))
	b := writeFile(t, "b.pcap", pcapBytes(layers.LinkTypeEthernet, pcapOpts{}, []testPkt{
		{ts: ms(1), data: pkt(201)}, {ts: ms(3), data: pkt(203)},
	}))
	for _, tc := range []struct {
		files   []string
		limit   int64
		packets []int64 // numbers of the segments returned
		read    int64   // Info().Packets
		broken  bool    // the broken record was read
	}{
		{[]string{a}, 1, []int64{1}, 1, false},
		{[]string{a}, 2, []int64{1}, 2, false}, // packet 2 is UDP: read, not returned
		{[]string{a}, 3, []int64{1, 3}, 3, false},
		{[]string{a}, 4, []int64{1, 3}, 3, true}, // past the end: the broken record
		{[]string{a}, 0, []int64{1, 3}, 3, true}, // no limit
		{[]string{a, b}, 3, []int64{1, 2}, 3, false},
		{[]string{a, b}, 4, []int64{1, 2, 4}, 4, false},
		{[]string{a, b}, 5, []int64{1, 2, 4, 5}, 5, false},
	} {
		src, err := Open(tc.files, OpenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		src.(Limited).LimitPackets(tc.limit)
		var got []int64
		for {
			var seg Segment
			if err := src.Next(&seg); err == io.EOF {
				break
			} else if err != nil {
				t.Fatalf("Next: %v", err)
			}
			got = append(got, seg.Packet)
		}
		info, rerr := src.Info(), src.Err()
		src.Close()
		name := fmt.Sprintf("%d files, limit %d", len(tc.files), tc.limit)
		if fmt.Sprint(got) != fmt.Sprint(tc.packets) {
			t.Errorf("%s: segments %v, want %v", name, got, tc.packets)
		}
		if info.Packets != tc.read {
			t.Errorf("%s: Info().Packets = %d, want %d", name, info.Packets, tc.read)
		}
		if (rerr != nil) != tc.broken {
			t.Errorf("%s: Err() = %v, want broken %v", name, rerr, tc.broken)
		}
	}
}

// seqPacket is an Ethernet IPv4 TCP packet with one byte of data at seq.
func seqPacket(t testing.TB, seq uint32) []byte {
	tcp := dataTCP()
	tcp.Seq = seq
	return eth(t, tcp4(t, ipv4(ip4A, ip4B), tcp, 1))
}

// udpPacket is an Ethernet IPv4 UDP packet (not TCP: read, not returned).
func udpPacket(t testing.TB) []byte {
	udpIP := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: ip4A, DstIP: ip4B}
	udp := &layers.UDP{SrcPort: 5353, DstPort: 5353}
	udp.SetNetworkLayerForChecksum(udpIP)
	return eth(t, serialize(t, udpIP, udp))
}

// TestNoChecksums checks that OpenOptions.NoChecksums leaves every
// checksum unknown and changes nothing else, on the demo capture (whose
// checksums are verified otherwise).
func TestNoChecksums(t *testing.T) {
	demo := []string{"../testdata/pcaps/demo.pcap"}
	verified, _, _ := readAll(t, demo, OpenOptions{})
	unverified, _, _ := readAll(t, demo, OpenOptions{NoChecksums: true})
	if len(verified) != len(unverified) || len(verified) == 0 {
		t.Fatalf("%d segments verified, %d not", len(verified), len(unverified))
	}
	known := 0
	for i := range verified {
		v, u := verified[i], unverified[i]
		if v.Checksum != ChecksumUnknown {
			known++
		}
		if u.Checksum != ChecksumUnknown {
			t.Fatalf("packet %d: checksum %v with NoChecksums", u.Packet, u.Checksum)
		}
		if !bytes.Equal(v.Data, u.Data) {
			t.Fatalf("packet %d: other data with NoChecksums", u.Packet)
		}
		u.Checksum, u.Data, v.Data = v.Checksum, nil, nil
		if !reflect.DeepEqual(u, v) {
			t.Fatalf("packet %d decodes differently with NoChecksums:\n%+v\n%+v", v.Packet, u, v)
		}
	}
	if known == 0 {
		t.Fatal("no checksum verified without NoChecksums: the test proves nothing")
	}
}

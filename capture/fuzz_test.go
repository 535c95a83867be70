package capture

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// Fuzz targets for the readers and the decoder. `go test` runs the seeds
// (those added here and those committed under testdata/fuzz/); longer runs
// go through scripts/fuzz.sh (`make fuzz`).

// fuzzInputLimit bounds the inputs the fuzz targets look at, so that one
// input cannot take a worker minutes.
const fuzzInputLimit = 1 << 20

// labSeeds returns a few of the lab's captures (small, real kernel
// traffic) and, when present, the small real-world captures: the fuzz
// targets start from them. Nothing is copied into the repository.
func labSeeds(t testing.TB, maxSize int64) [][]byte {
	var out [][]byte
	add := func(pattern string) {
		names, _ := filepath.Glob(pattern)
		slices.Sort(names)
		for _, n := range names {
			st, err := os.Stat(n)
			if err != nil || st.Size() > maxSize {
				continue
			}
			if b, err := os.ReadFile(n); err == nil {
				out = append(out, b)
			}
		}
	}
	add(filepath.Join("..", "testdata", "pcaps", "lab", "*", "server.pcap"))
	add(filepath.Join("/work", "shared", "pcaps", "realworld", "*.pcap*"))
	return out
}

// readErrors returns the *ReadErrors joined in err, failing on any other
// kind of error.
func readErrors(t *testing.T, err error) []*ReadError {
	t.Helper()
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []*ReadError
		for _, e := range j.Unwrap() {
			out = append(out, readErrors(t, e)...)
		}
		return out
	}
	re, ok := err.(*ReadError)
	if !ok {
		t.Fatalf("Err() holds a %T (%v), want *ReadError", err, err)
	}
	return []*ReadError{re}
}

// FuzzReadCapture writes arbitrary bytes to a file and reads it to the
// end, alone and merged with a good file: no panic, every error a
// *ReadError naming the file with a sane packet number and offset, the
// good file always read whole, and the time spent bounded.
func FuzzReadCapture(f *testing.F) {
	var pkts []testPkt
	for i := range 3 {
		tcp := dataTCP()
		tcp.Seq += uint32(i * 10)
		pkts = append(pkts, testPkt{ts: t0.Add(time.Duration(i) * time.Millisecond), data: eth(f, tcp4(f, ipv4(ip4A, ip4B), tcp, 10))})
	}
	good := pcapBytes(layers.LinkTypeEthernet, pcapOpts{}, pkts)
	f.Add(good)
	f.Add(pcapBytes(layers.LinkTypeEthernet, pcapOpts{big: true, nano: true}, pkts))
	f.Add(pcapBytes(layers.LinkTypeEthernet, pcapOpts{gzip: true}, pkts))
	f.Add(pcapBytes(layers.LinkTypeLinuxSLL2, pcapOpts{snaplen: 60}, pkts))
	f.Add(good[:len(good)-7])
	f.Add(pcapngBytes(f, []ngIface{{lt: layers.LinkTypeEthernet, pkts: pkts}, {lt: layers.LinkTypeRaw}}, [][2]int{{0, 0}, {0, 1}, {0, 2}}))
	f.Add(handBuiltPcapng(f))
	f.Add([]byte{})
	f.Add([]byte("\x1f\x8b"))
	for _, b := range labSeeds(f, 64<<10) {
		f.Add(b)
	}
	goodPath := filepath.Join(f.TempDir(), "good.pcap")
	if err := os.WriteFile(goodPath, good, 0o644); err != nil {
		f.Fatal(err)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > fuzzInputLimit {
			return
		}
		comparePCAPReaders(t, data)
		path := filepath.Join(dir, "fuzz.pcap")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		stop := watchdog(10 * time.Second)
		defer stop()
		n, err := drain(t, []string{path})
		// A record takes at least 16 bytes (pcap) or 12 (pcapng), and
		// gzip expands at most about 1032 times.
		if limit := int64(len(data))*1100/12 + 1; n > limit {
			t.Fatalf("%d packets from %d bytes", n, len(data))
		}
		checkErrs(t, err, path, n)

		n2, err := drain(t, []string{path, goodPath})
		if n2 < 3 {
			t.Fatalf("merged with a good file: %d packets, want at least the good file's 3", n2)
		}
		for _, re := range readErrors(t, err) {
			if re.File != path {
				t.Fatalf("the good file failed: %v", re)
			}
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("reading %d bytes took %v", len(data), d)
		}
	})
}

// watchdog crashes the process with every goroutine's stack when it is
// not stopped within d: the fuzzing engine has no per-input timeout, and a
// crash makes it save the input that hung.
func watchdog(d time.Duration) (stop func()) {
	tm := time.AfterFunc(d, func() {
		debug.SetTraceback("all")
		panic(fmt.Sprintf("fuzz input still running after %v: hang", d))
	})
	return func() { tm.Stop() }
}

// drain reads every packet of names and returns the number of packets
// counted and Err. Segments must look sane.
func drain(t *testing.T, names []string) (int64, error) {
	t.Helper()
	src, err := Open(names, OpenOptions{})
	if err != nil {
		t.Fatalf("Open: %v (only missing files may fail Open)", err)
	}
	defer src.Close()
	var seg Segment
	var last int64
	for {
		err := src.Next(&seg)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("Next returned %v, want io.EOF or nil (errors go to Err)", err)
		}
		if seg.Packet <= last {
			t.Fatalf("packet number %d after %d", seg.Packet, last)
		}
		last = seg.Packet
		checkSegment(t, &seg)
	}
	info := src.Info()
	if got := info.TCP + info.ICMPErrors + info.Fragments + info.Other; got != info.Packets {
		t.Fatalf("Info counts %d TCP+ICMP+fragments+other, %d packets", got, info.Packets)
	}
	var perInput int64
	for _, in := range info.Inputs {
		perInput += in.Packets
	}
	if perInput != info.Packets {
		t.Fatalf("inputs count %d packets, the source %d", perInput, info.Packets)
	}
	return info.Packets, src.Err()
}

// checkErrs checks the errors of a single input that delivered n packets.
func checkErrs(t *testing.T, err error, path string, n int64) {
	t.Helper()
	res := readErrors(t, err)
	if len(res) > 1 {
		t.Fatalf("%d errors for one input: %v", len(res), err)
	}
	for _, re := range res {
		if re.File != path {
			t.Fatalf("ReadError names %q, want %q", re.File, path)
		}
		if re.Packet != n+1 {
			t.Fatalf("ReadError.Packet = %d after %d packets, want %d", re.Packet, n, n+1)
		}
		if re.Offset < -1 {
			t.Fatalf("ReadError.Offset = %d", re.Offset)
		}
		if re.Err == nil || re.Error() == "" {
			t.Fatalf("ReadError without a cause: %#v", re)
		}
	}
}

// checkSegment checks the invariants of a decoded segment.
func checkSegment(t *testing.T, s *Segment) {
	t.Helper()
	if s.IPVersion != 4 && s.IPVersion != 6 {
		t.Fatalf("IPVersion %d", s.IPVersion)
	}
	if s.IPVersion == 4 && (!s.Src.Is4() || !s.Dst.Is4()) || s.IPVersion == 6 && (!s.Src.Is6() || !s.Dst.Is6()) {
		t.Fatalf("IPv%d segment with addresses %v > %v", s.IPVersion, s.Src, s.Dst)
	}
	if s.PayloadLen < 0 || s.PayloadLen > 1<<20 {
		t.Fatalf("PayloadLen %d", s.PayloadLen)
	}
	if s.OptionsLen > 40 {
		t.Fatalf("OptionsLen %d", s.OptionsLen)
	}
	if s.Opt.WScale < -1 || s.Opt.WScale > 14 {
		t.Fatalf("WScale %d", s.Opt.WScale)
	}
	if s.CapLen != len(s.Data) || s.CapLen > s.WireLen {
		t.Fatalf("CapLen %d, len(Data) %d, WireLen %d", s.CapLen, len(s.Data), s.WireLen)
	}
	if s.Kind == KindICMPError {
		if !s.ICMPFrom.IsValid() {
			t.Fatalf("ICMP error without a sender")
		}
		if s.Checksum != ChecksumUnknown {
			t.Fatalf("ICMP quote with checksum state %d", s.Checksum)
		}
	}
	if s.Checksum == ChecksumGood && (s.HeaderTruncated || s.PayloadInferred) {
		t.Fatalf("checksum verified on a truncated segment: %+v", view(s))
	}
}

// fuzzLinkTypes are the link types FuzzDecode picks from (the first
// byte of the input selects one).
var fuzzLinkTypes = []layers.LinkType{
	layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL, layers.LinkTypeLinuxSLL2, layers.LinkTypeNull,
	layers.LinkTypeLoop, layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6, linkTypeRawBSD,
	layers.LinkType(189), // unsupported: every packet is "other"
}

// fuzzDec is the decoder FuzzDecode reuses across inputs, as a Source
// does across packets; fuzzSlowDec is one without the fast path.
var fuzzDec, fuzzSlowDec = newDecoder(), slowDecoder()

// slowDecoder returns a decoder that decodes every packet with the
// gopacket parsers.
func slowDecoder() *decoder {
	d := newDecoder()
	d.noFastPath = true
	return d
}

// FuzzDecode feeds raw packet bytes of every link type to the decoder
// directly (no recover in between): no panic, sane segments, the same
// result from a reused decoder as from a fresh one, and from the fast
// path as from the parsers.
func FuzzDecode(f *testing.F) {
	ip4 := tcp4(f, ipv4(ip4A, ip4B), synTCP(), 0)
	ip6 := tcp6(f, ipv6(ip6A, ip6B), dataTCP(), 10)
	add := func(lt layers.LinkType, pkt []byte) {
		i := slices.Index(fuzzLinkTypes, lt)
		f.Add(append([]byte{byte(i)}, pkt...))
	}
	add(layers.LinkTypeEthernet, eth(f, ip4))
	add(layers.LinkTypeEthernet, eth(f, ip6))
	add(layers.LinkTypeEthernet, cat(ethHdr(f, layers.EthernetTypeDot1Q), vlanTag(5, layers.EthernetTypeIPv4), ip4))
	add(layers.LinkTypeEthernet, cat(ethHdr(f, layers.EthernetTypeMPLSUnicast), []byte{0, 1, 1, 64}, ip6))
	add(layers.LinkTypeLinuxSLL, cat(sllHdr(layers.EthernetTypeIPv4), ip4))
	add(layers.LinkTypeLinuxSLL2, cat(sll2Hdr(layers.EthernetTypeIPv6), ip6))
	add(layers.LinkTypeNull, cat([]byte{2, 0, 0, 0}, ip4))
	add(layers.LinkTypeRaw, ip6)
	add(layers.LinkTypeIPv4, ip4[:30])
	add(layers.LinkTypeEthernet, eth(f, icmp4Unreach(f, 3, ip4, 28)))
	// The first packets of the lab captures, as Ethernet frames.
	for _, file := range labSeeds(f, 64<<10) {
		if len(file) < 24+16 || [4]byte(file[:4]) != magicPCAPMicroLE {
			continue
		}
		p, err := newPCAPReader(newWindow(bytes.NewReader(file)))
		if err != nil || firstLayer(p.linkType) == firstNone {
			continue
		}
		var rec record
		for range 3 {
			if p.next(&rec) != nil {
				break
			}
			add(p.linkType, rec.data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 || len(data) > fuzzInputLimit {
			return
		}
		lt := fuzzLinkTypes[int(data[0])%len(fuzzLinkTypes)]
		pkt := data[1:]
		var seg, fresh Segment
		seg.Opt.WScale, fresh.Opt.WScale = -1, -1
		seg.Data, seg.CapLen, seg.WireLen = pkt, len(pkt), len(pkt)
		res := fuzzDec.decode(firstLayer(lt), pkt, &seg)
		res2 := newDecoder().decode(firstLayer(lt), pkt, &fresh)
		if res != res2 || view(&seg) != view(&fresh) {
			t.Fatalf("a reused decoder gives %d %+v, a fresh one %d %+v", res, view(&seg), res2, view(&fresh))
		}
		var slow Segment
		slow.Opt.WScale = -1
		if res3 := fuzzSlowDec.decode(firstLayer(lt), pkt, &slow); res != res3 || view(&seg) != view(&slow) {
			t.Fatalf("the fast path gives %d %+v, the parsers %d %+v", res, view(&seg), res3, view(&slow))
		}
		switch res {
		case resultTCP, resultICMP:
			checkSegment(t, &seg)
			if (res == resultICMP) != (seg.Kind == KindICMPError) {
				t.Fatalf("result %d with Kind %d", res, seg.Kind)
			}
			if res == resultTCP && seg.IPLen > 0 && seg.PayloadLen > seg.IPLen {
				t.Fatalf("payload %d longer than the IP packet %d", seg.PayloadLen, seg.IPLen)
			}
		case resultOther, resultFragment:
		default:
			t.Fatalf("result %d", res)
		}
		if !Supported(lt) && res != resultOther {
			t.Fatalf("unsupported link type decoded as %d", res)
		}
	})
}

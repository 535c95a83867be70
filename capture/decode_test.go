package capture

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/layers"
)

// readPackets writes data as a pcap of link type lt and reads it back.
func readPackets(t *testing.T, lt layers.LinkType, opts OpenOptions, data ...[]byte) ([]Segment, Info) {
	t.Helper()
	var pkts []testPkt
	for i, d := range data {
		pkts = append(pkts, testPkt{ts: t0.Add(timeStep * durationN(i)), data: d})
	}
	path := writePCAP(t, lt, pcapOpts{}, pkts)
	segs, info, err := readAll(t, []string{path}, opts)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return segs, info
}

// ipv6WithExt returns IPv6+TCP bytes with the given extension headers
// (each a next-header-less body; next-header bytes are filled in).
func ipv6WithExt(t *testing.T, n int, exts []ext6) []byte {
	t.Helper()
	plain := tcp6(t, ipv6(ip6A, ip6B), dataTCP(), n)
	hdr, tcp := plain[:40], plain[40:]
	next := byte(layers.IPProtocolTCP)
	var chain []byte
	for i := len(exts) - 1; i >= 0; i-- {
		body := append([]byte{next}, exts[i].body...)
		chain = append(body, chain...)
		next = exts[i].proto
	}
	out := cat(hdr, chain, tcp)
	out[6] = next
	binary.BigEndian.PutUint16(out[4:6], uint16(len(chain)+len(tcp)))
	return out
}

type ext6 struct {
	proto byte
	body  []byte // after the next-header byte
}

var (
	extHopByHop = ext6{0, []byte{0, 5, 2, 0, 0, 1, 0}}                          // router alert, 8 bytes
	extDestOpts = ext6{60, []byte{0, 1, 4, 0, 0, 0, 0}}                         // PadN, 8 bytes
	extRouting  = ext6{43, append([]byte{2, 0, 0, 0, 0, 0, 0}, ip6B.To16()...)} // type 0, segments left 0, 24 bytes
	extFragment = ext6{44, []byte{0, 0, 1, 0, 0, 0, 42}}                        // offset 0, MF
)

// icmp4Unreach builds an ICMP destination unreachable from the router,
// quoting quoteLen bytes of the TCP header of orig.
func icmp4Unreach(t testing.TB, code uint8, orig []byte, quoteLen int) []byte {
	t.Helper()
	ihl := int(orig[0]&0xf) * 4
	quote := orig[:ihl+quoteLen]
	ip := &layers.IPv4{Version: 4, TTL: 255, Protocol: layers.IPProtocolICMPv4, SrcIP: ip4R, DstIP: ip4A}
	icmp := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, code)}
	return serialize(t, ip, icmp, gopacketPayload(quote))
}

func icmp6Unreach(t *testing.T, code uint8, orig []byte, quoteLen int) []byte {
	t.Helper()
	ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolICMPv6, SrcIP: ip6R, DstIP: ip6A}
	icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(1, code)}
	if err := icmp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	// 4 unused bytes, then the quote.
	return serialize(t, ip, icmp, gopacketPayload(cat([]byte{0, 0, 0, 0}, orig[:40+quoteLen])))
}

func TestDecode(t *testing.T) {
	syn4 := tcp4(t, ipv4(ip4A, ip4B), synTCP(), 0)
	data4 := tcp4(t, ipv4(ip4A, ip4B), dataTCP(), 100)
	data6 := tcp6(t, ipv6(ip6A, ip6B), dataTCP(), 100)

	// IPv4 with options: a 4-byte router alert.
	ipo := ipv4(ip4A, ip4B)
	ipo.Options = []layers.IPv4Option{{OptionType: 148, OptionLength: 4, OptionData: []byte{0, 0}}}
	opt4 := tcp4(t, ipo, dataTCP(), 10)
	wantOpt4 := wantData4(10)
	wantOpt4.IPLen += 4

	badSum := append([]byte(nil), data4...)
	badSum[20+16] ^= 0xff // TCP checksum
	wantBad := wantData4(100)
	wantBad.Checksum = ChecksumBad

	ecn := dataTCP()
	ecn.ECE, ecn.CWR, ecn.NS, ecn.FIN = true, true, true, true
	ecn4 := tcp4(t, ipv4(ip4A, ip4B), ecn, 0)
	wantECN := wantData4(0)
	wantECN.Flags |= ECE | CWR | AE | FIN

	mf := ipv4(ip4A, ip4B)
	mf.Flags = layers.IPv4MoreFragments
	frag0 := tcp4(t, mf, dataTCP(), 100)
	off := ipv4(ip4A, ip4B)
	off.Flags, off.FragOffset = 0, 100
	fragN := tcp4(t, off, dataTCP(), 100)

	icmpFrom4 := wantSYN4()
	icmpFrom4.Kind = KindICMPError
	icmpFrom4.ICMPFrom, icmpFrom4.ICMPType, icmpFrom4.ICMPCode = addr(ip4R), 3, 3
	icmpFrom4.Checksum, icmpFrom4.OptionsLen, icmpFrom4.Opt = ChecksumUnknown, 0, Options{WScale: -1}
	icmp8 := icmpFrom4
	icmp8.Flags, icmp8.Window, icmp8.DataOffset, icmp8.HeaderTruncated = 0, 0, 0, true
	icmp8.PayloadLen, icmp8.PayloadInferred = 20, true // 60-20-20 (data offset unknown)
	icmp20 := icmpFrom4
	icmp13 := icmp8
	icmp13.ICMPCode = 13

	syn6 := tcp6(t, ipv6(ip6A, ip6B), synTCP(), 0)
	icmp6 := segView{
		Kind: KindICMPError, IPVersion: 6, Src: addr(ip6A), Dst: addr(ip6B), SrcPort: 40000, DstPort: 80,
		TTL: 61, TOS: 0x20, FlowLabel: 0xabcde, IPLen: 80, Seq: 1000, Flags: SYN, Window: 64240,
		DataOffset: 40, Opt: Options{WScale: -1}, ICMPFrom: addr(ip6R), ICMPType: 1, ICMPCode: 1, ICMPv6: true,
	}
	icmp6short := icmp6
	icmp6short.ICMPCode, icmp6short.Flags, icmp6short.Window, icmp6short.DataOffset = 4, 0, 0, 0
	icmp6short.HeaderTruncated, icmp6short.PayloadLen, icmp6short.PayloadInferred = true, 20, true

	wantExt := wantData6(50)
	wantExt.IPLen += 8 + 8 + 24

	udpIP := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: ip4A, DstIP: ip4B}
	udpL := &layers.UDP{SrcPort: 53, DstPort: 53}
	if err := udpL.SetNetworkLayerForChecksum(udpIP); err != nil {
		t.Fatal(err)
	}
	udp := serialize(t, udpIP, udpL, gopacketPayload([]byte("hello")))
	arp := serialize(t, &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeARP},
		&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: 1, SourceHwAddress: macA, SourceProtAddress: ip4A, DstHwAddress: make(net.HardwareAddr, 6), DstProtAddress: ip4B})

	mpls := func(ip []byte, labels int) []byte {
		var st []byte
		for i := range labels {
			bos := byte(0)
			if i == labels-1 {
				bos = 1
			}
			st = append(st, 0, 0x1d, bos, 64)
		}
		return cat(ethHdr(t, layers.EthernetTypeMPLSUnicast), st, ip)
	}

	const (
		tcpRes   = resultTCP
		icmpRes  = resultICMP
		fragRes  = resultFragment
		otherRes = resultOther
	)
	tests := []struct {
		name string
		lt   layers.LinkType
		data []byte
		res  result
		want segView
	}{
		{"ethernet SYN with options", layers.LinkTypeEthernet, eth(t, syn4), tcpRes, wantSYN4()},
		{"ethernet data", layers.LinkTypeEthernet, eth(t, data4), tcpRes, wantData4(100)},
		{"ethernet bad checksum", layers.LinkTypeEthernet, eth(t, badSum), tcpRes, wantBad},
		{"ECN and AE flags", layers.LinkTypeEthernet, eth(t, ecn4), tcpRes, wantECN},
		{"IPv4 options", layers.LinkTypeEthernet, eth(t, opt4), tcpRes, wantOpt4},
		{"802.1Q", layers.LinkTypeEthernet, cat(ethHdr(t, layers.EthernetTypeDot1Q), vlanTag(42, layers.EthernetTypeIPv4), data4), tcpRes, wantData4(100)},
		{"QinQ 88a8", layers.LinkTypeEthernet, cat(ethHdr(t, layers.EthernetTypeQinQ), vlanTag(10, layers.EthernetTypeDot1Q), vlanTag(20, layers.EthernetTypeIPv4), data4), tcpRes, wantData4(100)},
		{"QinQ 8100", layers.LinkTypeEthernet, cat(ethHdr(t, layers.EthernetTypeDot1Q), vlanTag(10, layers.EthernetTypeDot1Q), vlanTag(20, layers.EthernetTypeIPv6), data6), tcpRes, wantData6(100)},
		{"MPLS", layers.LinkTypeEthernet, mpls(data4, 1), tcpRes, wantData4(100)},
		{"MPLS two labels IPv6", layers.LinkTypeEthernet, mpls(data6, 2), tcpRes, wantData6(100)},
		{"IPv4 first fragment", layers.LinkTypeEthernet, eth(t, frag0), fragRes, segView{}},
		{"IPv4 later fragment", layers.LinkTypeEthernet, eth(t, fragN), fragRes, segView{}},
		{"IPv6", layers.LinkTypeEthernet, eth(t, data6), tcpRes, wantData6(100)},
		{"IPv6 extension headers", layers.LinkTypeEthernet, eth(t, ipv6WithExt(t, 50, []ext6{extHopByHop, extDestOpts, extRouting})), tcpRes, wantExt},
		{"IPv6 fragment header", layers.LinkTypeEthernet, eth(t, ipv6WithExt(t, 50, []ext6{extFragment})), fragRes, segView{}},
		{"IPv6 hop-by-hop then fragment", layers.LinkTypeEthernet, eth(t, ipv6WithExt(t, 50, []ext6{extHopByHop, extFragment})), fragRes, segView{}},
		{"ICMP port unreachable quoting 8 bytes", layers.LinkTypeEthernet, eth(t, icmp4Unreach(t, 3, syn4, 8)), icmpRes, icmp8},
		{"ICMP port unreachable quoting 20 bytes", layers.LinkTypeEthernet, eth(t, icmp4Unreach(t, 3, syn4, 20)), icmpRes, icmp20},
		{"ICMP admin prohibited", layers.LinkTypeEthernet, eth(t, icmp4Unreach(t, 13, syn4, 8)), icmpRes, icmp13},
		{"ICMP quoting 4 bytes", layers.LinkTypeEthernet, eth(t, icmp4Unreach(t, 3, syn4, 4)), otherRes, segView{}},
		{"ICMP quoting UDP", layers.LinkTypeEthernet, eth(t, icmp4Unreach(t, 3, udp, 8)), otherRes, segView{}},
		{"ICMPv6 admin prohibited", layers.LinkTypeEthernet, eth(t, icmp6Unreach(t, 1, syn6, 40)), icmpRes, icmp6},
		{"ICMPv6 port unreachable 8 bytes", layers.LinkTypeRaw, icmp6Unreach(t, 4, syn6, 8), icmpRes, icmp6short},
		{"UDP", layers.LinkTypeEthernet, eth(t, udp), otherRes, segView{}},
		{"ARP", layers.LinkTypeEthernet, arp, otherRes, segView{}},
		{"IPv4 in IPv4", layers.LinkTypeRaw, cat(serialize(t, &layers.IPv4{Version: 4, TTL: 9, Protocol: layers.IPProtocolIPv4, SrcIP: ip4R, DstIP: ip4B}), data4), otherRes, segView{}},
		{"Linux SLL", layers.LinkTypeLinuxSLL, cat(sllHdr(layers.EthernetTypeIPv4), data4), tcpRes, wantData4(100)},
		{"Linux SLL IPv6", layers.LinkTypeLinuxSLL, cat(sllHdr(layers.EthernetTypeIPv6), data6), tcpRes, wantData6(100)},
		{"Linux SLL2", layers.LinkTypeLinuxSLL2, cat(sll2Hdr(layers.EthernetTypeIPv4), data4), tcpRes, wantData4(100)},
		{"Linux SLL2 IPv6", layers.LinkTypeLinuxSLL2, cat(sll2Hdr(layers.EthernetTypeIPv6), data6), tcpRes, wantData6(100)},
		{"RAW IPv4", layers.LinkTypeRaw, data4, tcpRes, wantData4(100)},
		{"RAW IPv6", layers.LinkTypeRaw, data6, tcpRes, wantData6(100)},
		{"RAW 12", linkTypeRawBSD, data4, tcpRes, wantData4(100)},
		{"RAW 14", linkTypeRawOpenBS, data6, tcpRes, wantData6(100)},
		{"IPV4 228", layers.LinkTypeIPv4, data4, tcpRes, wantData4(100)},
		{"IPV6 229", layers.LinkTypeIPv6, data6, tcpRes, wantData6(100)},
		{"NULL little-endian", layers.LinkTypeNull, cat([]byte{2, 0, 0, 0}, data4), tcpRes, wantData4(100)},
		{"NULL IPv6 (Darwin 30)", layers.LinkTypeNull, cat([]byte{30, 0, 0, 0}, data6), tcpRes, wantData6(100)},
		{"LOOP big-endian", layers.LinkTypeLoop, cat([]byte{0, 0, 0, 2}, data4), tcpRes, wantData4(100)},
		{"LOOP IPv6 (BSD 24)", layers.LinkTypeLoop, cat([]byte{0, 0, 0, 24}, data6), tcpRes, wantData6(100)},
		{"empty packet", layers.LinkTypeEthernet, []byte{}, otherRes, segView{}},
		{"garbage", layers.LinkTypeEthernet, []byte{1, 2, 3}, otherRes, segView{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			segs, info := readPackets(t, tc.lt, OpenOptions{}, tc.data)
			if info.Packets != 1 {
				t.Fatalf("Packets = %d, want 1", info.Packets)
			}
			counts := map[result]int64{tcpRes: info.TCP, icmpRes: info.ICMPErrors, fragRes: info.Fragments, otherRes: info.Other}
			for r, n := range counts {
				if want := int64(0); r == tc.res {
					want = 1
					if n != want {
						t.Errorf("count for result %d = %d, want 1 (%+v)", r, n, info)
					}
				} else if n != 0 {
					t.Errorf("count for result %d = %d, want 0 (%+v)", r, n, info)
				}
			}
			if tc.res != tcpRes && tc.res != icmpRes {
				if len(segs) != 0 {
					t.Fatalf("got %d segments, want none", len(segs))
				}
				return
			}
			if len(segs) != 1 {
				t.Fatalf("got %d segments, want 1", len(segs))
			}
			s := &segs[0]
			if got := view(s); got != tc.want {
				t.Errorf("segment\n got %+v\nwant %+v", got, tc.want)
			}
			if s.Packet != 1 || s.LinkType != tc.lt || s.CapLen != len(tc.data) || s.WireLen != len(tc.data) || !s.Time.Equal(t0) {
				t.Errorf("capture fields: Packet %d LinkType %v CapLen %d WireLen %d Time %v", s.Packet, s.LinkType, s.CapLen, s.WireLen, s.Time)
			}
		})
	}
}

func TestRawOptions(t *testing.T) {
	syn4 := tcp4(t, ipv4(ip4A, ip4B), synTCP(), 0)
	segs, _ := readPackets(t, layers.LinkTypeRaw, OpenOptions{}, syn4)
	if len(segs) != 1 {
		t.Fatalf("got %d segments", len(segs))
	}
	s := segs[0]
	want := syn4[40:60]
	if string(s.RawOptions[:s.OptionsLen]) != string(want) {
		t.Errorf("RawOptions = % x, want % x", s.RawOptions[:s.OptionsLen], want)
	}
	if s.SeqLen() != 1 {
		t.Errorf("SeqLen = %d, want 1", s.SeqLen())
	}
}

func TestSnaplenTruncation(t *testing.T) {
	data4 := eth(t, tcp4(t, ipv4(ip4A, ip4B), dataTCP(), 200))
	syn4 := eth(t, tcp4(t, ipv4(ip4A, ip4B), synTCP(), 0))

	cut := wantData4(200)
	cut.Checksum, cut.PayloadInferred = ChecksumUnknown, true

	synCut := wantSYN4() // options cut after 6 of 20 bytes
	synCut.Checksum, synCut.HeaderTruncated = ChecksumUnknown, true
	synCut.OptionsLen = 6
	synCut.Opt = Options{MSS: 1460, SACKPermitted: true, WScale: -1}

	hdr12 := segView{
		IPVersion: 4, Src: addr(ip4A), Dst: addr(ip4B), SrcPort: 40000, DstPort: 80,
		TTL: 63, IPID: 0x1234, DF: true, TOS: 0x10, IPLen: 240, Seq: 1001, Ack: 5001,
		HeaderTruncated: true, PayloadLen: 200, PayloadInferred: true, Opt: Options{WScale: -1},
	}
	hdr14 := hdr12
	hdr14.Flags, hdr14.DataOffset = ACK|PSH, 20

	tests := []struct {
		name    string
		pkt     []byte
		snaplen int
		tcp     bool
		want    segView
	}{
		{"payload cut", data4, 100, true, cut},
		{"header complete, no payload", data4, 54, true, cut},
		{"options cut", syn4, 14 + 20 + 26, true, synCut},
		{"cut after ack", data4, 14 + 20 + 12, true, hdr12},
		{"cut after flags", data4, 14 + 20 + 14, true, hdr14},
		{"cut inside seq", data4, 14 + 20 + 6, false, segView{}},
		{"cut inside IP header", data4, 14 + 10, false, segView{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			segs, info := readPackets(t, layers.LinkTypeEthernet, OpenOptions{Snaplen: tc.snaplen}, tc.pkt)
			if !tc.tcp {
				if len(segs) != 0 || info.Other != 1 {
					t.Fatalf("got %d segments, Other %d; want none, 1", len(segs), info.Other)
				}
				return
			}
			if len(segs) != 1 {
				t.Fatalf("got %d segments", len(segs))
			}
			if got := view(&segs[0]); got != tc.want {
				t.Errorf("segment\n got %+v\nwant %+v", got, tc.want)
			}
			if segs[0].CapLen != tc.snaplen || segs[0].WireLen != len(tc.pkt) {
				t.Errorf("CapLen %d WireLen %d, want %d %d", segs[0].CapLen, segs[0].WireLen, tc.snaplen, len(tc.pkt))
			}
			if info.Truncated != 1 {
				t.Errorf("Info.Truncated = %d, want 1", info.Truncated)
			}
		})
	}

	// A record cut by the writer's snap length (caplen < wirelen in the
	// file) decodes the same way.
	path := writePCAP(t, layers.LinkTypeEthernet, pcapOpts{snaplen: 100}, []testPkt{{ts: t0, data: data4[:100], wireLen: len(data4)}})
	segs, info, err := readAll(t, []string{path}, OpenOptions{})
	if err != nil || len(segs) != 1 {
		t.Fatalf("read: %v, %d segments", err, len(segs))
	}
	if got := view(&segs[0]); got != cut {
		t.Errorf("segment\n got %+v\nwant %+v", got, cut)
	}
	if segs[0].WireLen != len(data4) || segs[0].CapLen != 100 || info.Inputs[0].Snaplen != 100 {
		t.Errorf("WireLen %d CapLen %d Snaplen %d", segs[0].WireLen, segs[0].CapLen, info.Inputs[0].Snaplen)
	}
}

// sum16Ref is the plain definition of the ones' complement sum of b as
// big-endian 16-bit words.
func sum16Ref(b []byte, acc uint64) uint64 {
	for len(b) >= 2 {
		acc += uint64(b[0])<<8 | uint64(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		acc += uint64(b[0]) << 8
	}
	return acc
}

// TestSum16 checks the word-at-a-time checksum against the plain
// definition: every length up to 300 (all tails and offsets), random
// bytes, all 0xff (the most carries) and all zeros.
func TestSum16(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 2000)
	for _, fill := range []string{"random", "ff", "zero"} {
		for i := range buf {
			switch fill {
			case "random":
				buf[i] = byte(rng.Uint32())
			case "ff":
				buf[i] = 0xff
			default:
				buf[i] = 0
			}
		}
		lens := []int{len(buf), 1500, 1499, 65535 % len(buf)}
		for n := range 300 {
			lens = append(lens, n)
		}
		for _, n := range lens {
			for _, acc := range []uint64{0, 6 + uint64(n), 0xfffe, 1 << 40} {
				got, want := fold(sum16(buf[:n], acc)), fold(sum16Ref(buf[:n], acc))
				if got != want {
					t.Fatalf("%s, %d bytes, acc %#x: sum16 folds to %#04x, want %#04x", fill, n, acc, got, want)
				}
			}
		}
	}
	// Many maximal words, to overflow the 64-bit sum many times.
	big := bytes.Repeat([]byte{0xff}, 1<<20)
	big[12345] = 0x12
	if got, want := fold(sum16(big, 7)), fold(sum16Ref(big, 7)); got != want {
		t.Fatalf("1 MiB: %#04x, want %#04x", got, want)
	}
}

func BenchmarkSum16(b *testing.B) {
	buf := make([]byte, 1460)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	b.SetBytes(int64(len(buf)))
	var acc uint64
	for i := 0; i < b.N; i++ {
		acc += sum16(buf, 0)
	}
	sink = acc
}

var sink uint64

// TestFastPathMatchesParsers decodes the packet mix, the lab captures and
// the real-world captures with and without the fast path: the segments
// and counts must be the same.
func TestFastPathMatchesParsers(t *testing.T) {
	for _, p := range packetMix(t) {
		var fast, slow Segment
		fast.Opt.WScale, slow.Opt.WScale = -1, -1
		r1 := newDecoder().decode(firstLayer(p.lt), p.data, &fast)
		r2 := slowDecoder().decode(firstLayer(p.lt), p.data, &slow)
		if r1 != r2 || view(&fast) != view(&slow) {
			t.Fatalf("fast path %d %+v, parsers %d %+v", r1, view(&fast), r2, view(&slow))
		}
	}
	files, _ := filepath.Glob(filepath.Join("..", "testdata", "pcaps", "lab", "*", "*.pcap"))
	real, _ := filepath.Glob(filepath.Join(realworldDir, "*.pcap*"))
	files = append(files, real...)
	files = append(files, filepath.Join("..", "testdata", "pcaps", "demo.pcap"))
	if p := os.Getenv(benchPCAPEnv); p != "" {
		files = append(files, p)
	}
	n := 0
	for _, name := range files {
		if strings.HasSuffix(name, ".txt") || strings.HasSuffix(name, ".md") {
			continue
		}
		fast, err := Open([]string{name}, OpenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		slow, err := Open([]string{name}, OpenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		slow.(*fileSource).dec.noFastPath = true
		var a, b Segment
		for {
			e1, e2 := fast.Next(&a), slow.Next(&b)
			if e1 != e2 {
				t.Fatalf("%s: Next gives %v with the fast path, %v without", name, e1, e2)
			}
			if e1 != nil {
				break
			}
			n++
			if view(&a) != view(&b) || a.Packet != b.Packet {
				t.Fatalf("%s: packet %d: fast path %+v, parsers %+v", name, a.Packet, view(&a), view(&b))
			}
		}
		if i1, i2 := fast.Info(), slow.Info(); !reflect.DeepEqual(i1, i2) {
			t.Fatalf("%s: Info %+v with the fast path, %+v without", name, i1, i2)
		}
		fast.Close()
		slow.Close()
	}
	t.Logf("%d files, %d segments", len(files), n)
}

// TestFold checks fold against folding until the value fits, on the
// values around every carry.
func TestFold(t *testing.T) {
	ref := func(acc uint64) uint16 {
		for acc > 0xffff {
			acc = acc>>16 + acc&0xffff
		}
		return uint16(acc)
	}
	vals := []uint64{0, 1, 0xffff, 0x10000, 0x10001, 0x1fffe, 0xfffeffff, 1<<64 - 1, 1<<63 + 5}
	for sh := 0; sh < 64; sh++ {
		for _, d := range []uint64{0, 1, 2, 0xffff} {
			vals = append(vals, 1<<sh+d, 1<<sh-d, (1<<sh-1)*0xffff)
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 100000 {
		vals = append(vals, rng.Uint64()>>(rng.Uint32()%64))
	}
	for _, v := range vals {
		if got, want := fold(v), ref(v); got != want {
			t.Fatalf("fold(%#x) = %#x, want %#x", v, got, want)
		}
	}
}

package capture

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Test packet construction. Packets are serialized with gopacket (lengths
// and checksums computed); link headers gopacket cannot write are
// prepended by hand.

var (
	macA = net.HardwareAddr{0x02, 0, 0, 0, 0, 0xa}
	macB = net.HardwareAddr{0x02, 0, 0, 0, 0, 0xb}
	ip4A = net.IP{10, 0, 0, 1}
	ip4B = net.IP{10, 0, 0, 2}
	ip4R = net.IP{192, 0, 2, 9} // a router sending ICMP errors
	ip6A = net.ParseIP("2001:db8::1")
	ip6B = net.ParseIP("2001:db8::2")
	ip6R = net.ParseIP("2001:db8::99")
)

var t0 = time.Date(2024, 5, 6, 7, 8, 9, 123456000, time.UTC)

func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatalf("serialize: %v", err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// synTCP is a SYN with the options Linux sends.
func synTCP() *layers.TCP {
	return &layers.TCP{
		SrcPort: 40000, DstPort: 80, Seq: 1000, SYN: true, Window: 64240,
		Options: []layers.TCPOption{
			{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xb4}},
			{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2},
			{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: []byte{0, 0, 0, 7, 0, 0, 0, 0}},
			{OptionType: layers.TCPOptionKindNop, OptionLength: 1},
			{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{7}},
		},
	}
}

// dataTCP is an ACK carrying n bytes.
func dataTCP() *layers.TCP {
	return &layers.TCP{SrcPort: 40000, DstPort: 80, Seq: 1001, Ack: 5001, ACK: true, PSH: true, Window: 502}
}

func ipv4(src, dst net.IP) *layers.IPv4 {
	return &layers.IPv4{Version: 4, TTL: 63, Id: 0x1234, Flags: layers.IPv4DontFragment, TOS: 0x10, Protocol: layers.IPProtocolTCP, SrcIP: src, DstIP: dst}
}

func ipv6(src, dst net.IP) *layers.IPv6 {
	return &layers.IPv6{Version: 6, HopLimit: 61, TrafficClass: 0x20, FlowLabel: 0xabcde, NextHeader: layers.IPProtocolTCP, SrcIP: src, DstIP: dst}
}

// tcp4 returns IPv4+TCP bytes (no link header) with payload n bytes.
func tcp4(t testing.TB, ip *layers.IPv4, tcp *layers.TCP, n int) []byte {
	t.Helper()
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	return serialize(t, ip, tcp, gopacket.Payload(bytes.Repeat([]byte{'x'}, n)))
}

// tcp6 returns IPv6+TCP bytes with payload n bytes.
func tcp6(t testing.TB, ip *layers.IPv6, tcp *layers.TCP, n int) []byte {
	t.Helper()
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	return serialize(t, ip, tcp, gopacket.Payload(bytes.Repeat([]byte{'y'}, n)))
}

// ethHdr is an Ethernet header (written by hand: gopacket pads a lone
// Ethernet layer to 60 bytes).
func ethHdr(t testing.TB, typ layers.EthernetType) []byte {
	return binary.BigEndian.AppendUint16(cat(macB, macA), uint16(typ))
}

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

func ethType(ip []byte) layers.EthernetType {
	if ip[0]>>4 == 6 {
		return layers.EthernetTypeIPv6
	}
	return layers.EthernetTypeIPv4
}

// eth wraps IP bytes in Ethernet, padded to the 60-byte minimum like a NIC.
func eth(t testing.TB, ip []byte) []byte {
	b := cat(ethHdr(t, ethType(ip)), ip)
	for len(b) < 60 {
		b = append(b, 0)
	}
	return b
}

func vlanTag(id uint16, typ layers.EthernetType) []byte {
	return binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, id), uint16(typ))
}

func sllHdr(typ layers.EthernetType) []byte {
	b := []byte{0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 0xa, 0, 0}
	return binary.BigEndian.AppendUint16(b, uint16(typ))
}

func sll2Hdr(typ layers.EthernetType) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(typ))
	b = append(b, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 0xa, 0, 0)
	return b
}

// testPkt is one record of a generated capture file.
type testPkt struct {
	ts      time.Time
	data    []byte
	wireLen int // 0: len(data)
}

// pcapOpts say how writePCAP lays out a file.
type pcapOpts struct {
	big, nano, gzip bool
	snaplen         uint32
}

// pcapBytes builds a classic pcap file.
func pcapBytes(lt layers.LinkType, o pcapOpts, pkts []testPkt) []byte {
	var bo binary.AppendByteOrder = binary.LittleEndian
	if o.big {
		bo = binary.BigEndian
	}
	magic := uint32(0xa1b2c3d4)
	if o.nano {
		magic = 0xa1b23c4d
	}
	snap := o.snaplen
	if snap == 0 {
		snap = 262144
	}
	b := bo.AppendUint32(nil, magic)
	b = bo.AppendUint16(b, 2)
	b = bo.AppendUint16(b, 4)
	b = bo.AppendUint32(b, 0)
	b = bo.AppendUint32(b, 0)
	b = bo.AppendUint32(b, snap)
	b = bo.AppendUint32(b, uint32(lt))
	for _, p := range pkts {
		frac := p.ts.Nanosecond() / 1000
		if o.nano {
			frac = p.ts.Nanosecond()
		}
		wire := p.wireLen
		if wire == 0 {
			wire = len(p.data)
		}
		b = bo.AppendUint32(b, uint32(p.ts.Unix()))
		b = bo.AppendUint32(b, uint32(frac))
		b = bo.AppendUint32(b, uint32(len(p.data)))
		b = bo.AppendUint32(b, uint32(wire))
		b = append(b, p.data...)
	}
	if o.gzip {
		var z bytes.Buffer
		w := gzip.NewWriter(&z)
		w.Write(b)
		w.Close()
		b = z.Bytes()
	}
	return b
}

func writeFile(t testing.TB, name string, b []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func writePCAP(t testing.TB, lt layers.LinkType, o pcapOpts, pkts []testPkt) string {
	return writeFile(t, "test.pcap", pcapBytes(lt, o, pkts))
}

// ngIface is one interface of a generated pcapng file.
type ngIface struct {
	lt   layers.LinkType
	pkts []testPkt
}

// pcapngBytes builds a pcapng file with pcapgo's writer; packets are
// written interface by interface in timestamp order of each.
func pcapngBytes(t testing.TB, ifaces []ngIface, order [][2]int) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := pcapgo.NewNgWriterInterface(&buf, pcapgo.NgInterface{Name: "if0", LinkType: ifaces[0].lt, SnapLength: 262144, TimestampResolution: 9}, pcapgo.DefaultNgWriterOptions)
	if err != nil {
		t.Fatal(err)
	}
	for _, ifc := range ifaces[1:] {
		if _, err := w.AddInterface(pcapgo.NgInterface{Name: "ifx", LinkType: ifc.lt, SnapLength: 262144, TimestampResolution: 9}); err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range order {
		p := ifaces[o[0]].pkts[o[1]]
		ci := gopacket.CaptureInfo{Timestamp: p.ts, CaptureLength: len(p.data), Length: len(p.data), InterfaceIndex: o[0]}
		if err := w.WritePacket(ci, p.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// segView is the part of a Segment tests compare.
type segView struct {
	Kind               Kind
	IPVersion          uint8
	Src, Dst           netip.Addr
	SrcPort, DstPort   uint16
	TTL                uint8
	IPID               uint16
	DF                 bool
	TOS                uint8
	FlowLabel          uint32
	IPLen              int
	Seq, Ack           uint32
	Flags              Flags
	Window             uint16
	Checksum           Checksum
	DataOffset         uint8
	PayloadLen         int
	PayloadInferred    bool
	OptionsLen         uint8
	Opt                Options
	HeaderTruncated    bool
	ICMPFrom           netip.Addr
	ICMPType, ICMPCode uint8
	ICMPv6             bool
}

func view(s *Segment) segView {
	return segView{
		Kind: s.Kind, IPVersion: s.IPVersion, Src: s.Src, Dst: s.Dst, SrcPort: s.SrcPort, DstPort: s.DstPort,
		TTL: s.TTL, IPID: s.IPID, DF: s.DF, TOS: s.TOS, FlowLabel: s.FlowLabel, IPLen: s.IPLen,
		Seq: s.Seq, Ack: s.Ack, Flags: s.Flags, Window: s.Window, Checksum: s.Checksum, DataOffset: s.DataOffset,
		PayloadLen: s.PayloadLen, PayloadInferred: s.PayloadInferred, OptionsLen: s.OptionsLen, Opt: s.Opt,
		HeaderTruncated: s.HeaderTruncated, ICMPFrom: s.ICMPFrom, ICMPType: s.ICMPType, ICMPCode: s.ICMPCode, ICMPv6: s.ICMPv6,
	}
}

func addr(ip net.IP) netip.Addr {
	a, _ := netip.AddrFromSlice(ip)
	if a.Is4In6() {
		a = a.Unmap()
	}
	return a
}

// Expected views of the standard test segments.
var synOpts = Options{MSS: 1460, WScale: 7, SACKPermitted: true, HasTS: true, TSVal: 7}

func wantSYN4() segView {
	return segView{
		IPVersion: 4, Src: addr(ip4A), Dst: addr(ip4B), SrcPort: 40000, DstPort: 80,
		TTL: 63, IPID: 0x1234, DF: true, TOS: 0x10, IPLen: 20 + 40,
		Seq: 1000, Flags: SYN, Window: 64240, Checksum: ChecksumGood, DataOffset: 40,
		OptionsLen: 20, Opt: synOpts,
	}
}

func wantData4(n int) segView {
	return segView{
		IPVersion: 4, Src: addr(ip4A), Dst: addr(ip4B), SrcPort: 40000, DstPort: 80,
		TTL: 63, IPID: 0x1234, DF: true, TOS: 0x10, IPLen: 20 + 20 + n,
		Seq: 1001, Ack: 5001, Flags: ACK | PSH, Window: 502, Checksum: ChecksumGood, DataOffset: 20,
		PayloadLen: n, Opt: Options{WScale: -1},
	}
}

func wantData6(n int) segView {
	return segView{
		IPVersion: 6, Src: addr(ip6A), Dst: addr(ip6B), SrcPort: 40000, DstPort: 80,
		TTL: 61, TOS: 0x20, FlowLabel: 0xabcde, IPLen: 40 + 20 + n,
		Seq: 1001, Ack: 5001, Flags: ACK | PSH, Window: 502, Checksum: ChecksumGood, DataOffset: 20,
		PayloadLen: n, Opt: Options{WScale: -1},
	}
}

func gopacketPayload(b []byte) gopacket.Payload { return gopacket.Payload(b) }

const timeStep = time.Millisecond

func durationN(i int) time.Duration { return time.Duration(i) }

func newGzipWriter(w io.Writer) *gzip.Writer { return gzip.NewWriter(w) }

func itoa(n int) string { return strconv.Itoa(n) }

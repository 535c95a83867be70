package capture

import (
	"encoding/binary"
	"errors"
	"math/bits"
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// result says what decode made of a packet.
type result uint8

const (
	resultOther    result = iota // not TCP: skipped
	resultTCP                    // a TCP segment
	resultICMP                   // an ICMP error quoting a TCP header
	resultFragment               // an IP fragment: skipped
)

// IP protocol numbers and ICMP types the decoder looks at.
const (
	protoTCP         = 6
	icmpDestUnreach  = 3
	icmp6DestUnreach = 1
)

// decoder turns raw packets into Segments. It owns one preallocated set of
// layers and one gopacket.DecodingLayerParser per kind of first layer (so
// per link type), all sharing those layers; decoding allocates nothing.
// A decoder is not safe for concurrent use.
type decoder struct {
	eth   layers.Ethernet
	dot1q layers.Dot1Q
	sll   cookedLayer
	sll2  cookedLayer
	loop  layers.Loopback
	mpls  mplsLayer
	ip4   layers.IPv4
	ip6   layers.IPv6
	ext   layers.IPv6ExtensionSkipper
	frag6 tailLayer
	tcp   tailLayer
	icmp4 tailLayer
	icmp6 tailLayer

	parsers [nFirst]*gopacket.DecodingLayerParser
	decoded []gopacket.LayerType

	// noFastPath makes decode use the parsers for every packet (tests
	// compare both ways).
	noFastPath bool
	// noChecksums leaves Segment.Checksum unknown (OpenOptions.NoChecksums).
	noChecksums bool
}

func newDecoder() *decoder {
	d := &decoder{decoded: make([]gopacket.LayerType, 0, 16)}
	d.sll = cookedLayer{typ: layers.LayerTypeLinuxSLL, hdrLen: 16, protoAt: 14}
	d.sll2 = cookedLayer{typ: layers.LayerTypeLinuxSLL2, hdrLen: 20, protoAt: 0}
	d.frag6.typ = layers.LayerTypeIPv6Fragment
	d.tcp.typ = layers.LayerTypeTCP
	d.icmp4.typ = layers.LayerTypeICMPv4
	d.icmp6.typ = layers.LayerTypeICMPv6
	// Order matters: the fragment marker is added after the extension
	// skipper so that it, not the skipper, handles fragment headers.
	all := []gopacket.DecodingLayer{
		&d.eth, &d.dot1q, &d.sll, &d.sll2, &d.loop, &d.mpls,
		&d.ip4, &d.ip6, &d.ext, &d.frag6, &d.tcp, &d.icmp4, &d.icmp6,
	}
	starts := [nFirst]gopacket.LayerType{
		firstEthernet: layers.LayerTypeEthernet,
		firstSLL:      layers.LayerTypeLinuxSLL,
		firstSLL2:     layers.LayerTypeLinuxSLL2,
		firstLoopback: layers.LayerTypeLoopback,
		firstIPv4:     layers.LayerTypeIPv4,
		firstIPv6:     layers.LayerTypeIPv6,
	}
	// One container, indexed by layer type, serves every parser.
	var dlc gopacket.DecodingLayerContainer = gopacket.DecodingLayerSparse(nil)
	for _, l := range all {
		dlc = dlc.Put(l)
	}
	for f, lt := range starts {
		if lt == gopacket.LayerTypeZero {
			continue
		}
		p := gopacket.NewDecodingLayerParser(lt)
		p.SetDecodingLayerContainer(dlc)
		p.IgnoreUnsupported = true
		d.parsers[f] = p
	}
	return d
}

// decode decodes one packet whose link layer starts with f into seg. The
// caller has zeroed seg and set the capture fields (Packet, Time, ...).
func (d *decoder) decode(f first, data []byte, seg *Segment) result {
	if f == firstEthernet && !d.noFastPath {
		if res, ok := fastEthernet(data, seg, !d.noChecksums); ok {
			return res
		}
	}
	if f == firstRawIP {
		if len(data) == 0 {
			return resultOther
		}
		switch data[0] >> 4 {
		case 4:
			f = firstIPv4
		case 6:
			f = firstIPv6
		default:
			return resultOther
		}
	}
	p := d.parsers[f]
	if p == nil {
		return resultOther
	}
	// An error leaves d.decoded holding the layers decoded before it,
	// which is all that is looked at below.
	_ = p.DecodeLayers(data, &d.decoded)

	var ipType, last gopacket.LayerType
	nIP := 0
	for _, t := range d.decoded {
		if t == layers.LayerTypeIPv4 || t == layers.LayerTypeIPv6 {
			nIP++
			ipType = t
		}
		last = t
	}
	if nIP != 1 {
		// No IP, or IP in IP: tcpdump's "tcp" does not look inside
		// tunnels either.
		return resultOther
	}
	if ipType == layers.LayerTypeIPv4 {
		if d.ip4.Flags&layers.IPv4MoreFragments != 0 || d.ip4.FragOffset != 0 {
			return resultFragment
		}
	} else if last == layers.LayerTypeIPv6Fragment {
		return resultFragment
	}
	switch {
	case last == layers.LayerTypeTCP:
		return d.tcpSegment(data, ipType, seg)
	case last == layers.LayerTypeICMPv4 && ipType == layers.LayerTypeIPv4:
		if icmp4Error(d.icmp4.data, seg) {
			seg.ICMPFrom = netip.AddrFrom4([4]byte(d.ip4.SrcIP))
			return resultICMP
		}
	case last == layers.LayerTypeICMPv6 && ipType == layers.LayerTypeIPv6:
		if icmp6Error(d.icmp6.data, seg) {
			seg.ICMPFrom = netip.AddrFrom16([16]byte(d.ip6.SrcIP))
			return resultICMP
		}
	}
	return resultOther
}

// tcpSegment fills seg from the decoded IP header and the TCP bytes.
func (d *decoder) tcpSegment(data []byte, ipType gopacket.LayerType, seg *Segment) result {
	b := d.tcp.data
	// Every layer's bytes are a subslice of data, so a slice's start
	// offset in the packet is cap(data)-cap(slice).
	l4Start := cap(data) - cap(b)
	var l4Len int
	var sum uint64
	if ipType == layers.LayerTypeIPv4 {
		ip := &d.ip4
		ipStart := cap(data) - cap(ip.Contents)
		l4Len = ipStart + int(ip.Length) - l4Start
		seg.IPVersion = 4
		seg.Src = netip.AddrFrom4([4]byte(ip.SrcIP))
		seg.Dst = netip.AddrFrom4([4]byte(ip.DstIP))
		seg.TTL = ip.TTL
		seg.IPID = ip.Id
		seg.DF = ip.Flags&layers.IPv4DontFragment != 0
		seg.TOS = ip.TOS
		seg.IPLen = int(ip.Length)
		seg.IPOffset, seg.TCPOffset = ipStart, l4Start
		sum = sum16(ip.SrcIP, 0)
		sum = sum16(ip.DstIP, sum)
	} else {
		ip := &d.ip6
		ipStart := cap(data) - cap(ip.Contents)
		if ip.Length == 0 { // jumbogram
			l4Len = len(b)
		} else {
			l4Len = ipStart + 40 + int(ip.Length) - l4Start
		}
		seg.IPVersion = 6
		seg.Src = netip.AddrFrom16([16]byte(ip.SrcIP))
		seg.Dst = netip.AddrFrom16([16]byte(ip.DstIP))
		seg.TTL = ip.HopLimit
		seg.TOS = ip.TrafficClass
		seg.FlowLabel = ip.FlowLabel
		seg.IPLen = 40 + int(ip.Length)
		seg.IPOffset, seg.TCPOffset = ipStart, l4Start
		sum = sum16(ip.SrcIP, 0)
		sum = sum16(ip.DstIP, sum)
	}
	return finishTCP(b, l4Len, sum, seg, !d.noChecksums)
}

// finishTCP fills seg's TCP fields from the captured TCP bytes b of a
// segment l4Len bytes long on the wire (from the IP header) and, with
// verify, verifies its checksum when it is complete; sum is the checksum
// of the pseudo-header's addresses.
func finishTCP(b []byte, l4Len int, sum uint64, seg *Segment, verify bool) result {
	if l4Len < 0 {
		l4Len = 0
	}
	if len(b) > l4Len {
		b = b[:l4Len]
	}
	ok, complete := parseTCP(b, l4Len, seg)
	if !ok {
		return resultOther
	}
	if complete && verify {
		sum += protoTCP + uint64(l4Len)
		if fold(sum16(b, sum)) == 0xffff {
			seg.Checksum = ChecksumGood
		} else {
			seg.Checksum = ChecksumBad
		}
	}
	return resultTCP
}

// Ethernet types the fast path decodes.
const (
	etherTypeIPv4 = 0x0800
	etherTypeIPv6 = 0x86dd
)

// fastEthernet decodes the common Ethernet packets, TCP right inside IPv4
// without options or fragmentation, or right inside IPv6, reading the
// headers directly; ok is false for any other packet, which the parsers
// then decode. Its results are those of the parsers (FuzzDecode compares
// the two). verify is finishTCP's.
func fastEthernet(data []byte, seg *Segment, verify bool) (res result, ok bool) {
	if len(data) < 14+20 {
		return 0, false
	}
	switch binary.BigEndian.Uint16(data[12:14]) {
	case etherTypeIPv4:
		ip := data[14:]
		length := int(binary.BigEndian.Uint16(ip[2:4]))
		flagsFrag := binary.BigEndian.Uint16(ip[6:8])
		// Version 4, a 20-byte header, a sane length, TCP, and neither
		// more fragments nor a fragment offset.
		if ip[0] != 0x45 || length < 20 || ip[9] != protoTCP || flagsFrag&0x3fff != 0 {
			return 0, false
		}
		tcp := ip[20:min(length, len(ip))]
		if len(tcp) == 0 {
			return 0, false
		}
		seg.IPVersion = 4
		seg.Src = netip.AddrFrom4([4]byte(ip[12:16]))
		seg.Dst = netip.AddrFrom4([4]byte(ip[16:20]))
		seg.TTL = ip[8]
		seg.IPID = binary.BigEndian.Uint16(ip[4:6])
		seg.DF = flagsFrag&0x4000 != 0
		seg.TOS = ip[1]
		seg.IPLen = length
		seg.IPOffset, seg.TCPOffset = 14, 14+20
		return finishTCP(tcp, length-20, sum16(ip[12:20], 0), seg, verify), true
	case etherTypeIPv6:
		ip := data[14:]
		if len(ip) < 40 {
			return 0, false
		}
		length := int(binary.BigEndian.Uint16(ip[4:6]))
		// Version 6, TCP as the next header, not a jumbogram.
		if ip[0]>>4 != 6 || ip[6] != protoTCP || length == 0 {
			return 0, false
		}
		tcp := ip[40:min(40+length, len(ip))]
		if len(tcp) == 0 {
			return 0, false
		}
		seg.IPVersion = 6
		seg.Src = netip.AddrFrom16([16]byte(ip[8:24]))
		seg.Dst = netip.AddrFrom16([16]byte(ip[24:40]))
		seg.TTL = ip[7]
		seg.TOS = uint8(binary.BigEndian.Uint16(ip[0:2]) >> 4)
		seg.FlowLabel = binary.BigEndian.Uint32(ip[0:4]) & 0x000fffff
		seg.IPLen = 40 + length
		seg.IPOffset, seg.TCPOffset = 14, 14+40
		return finishTCP(tcp, length, sum16(ip[8:40], 0), seg, verify), true
	}
	return 0, false
}

// parseTCP fills seg's TCP fields from the captured TCP bytes b of a
// segment that is l4Len bytes long on the wire. It returns false when not
// even the ports and sequence number were captured, and complete when the
// whole segment is there, so that its checksum can be verified.
func parseTCP(b []byte, l4Len int, seg *Segment) (ok, complete bool) {
	if len(b) < 8 {
		return false, false
	}
	seg.SrcPort = binary.BigEndian.Uint16(b[0:2])
	seg.DstPort = binary.BigEndian.Uint16(b[2:4])
	seg.Seq = binary.BigEndian.Uint32(b[4:8])
	if len(b) < 20 {
		seg.HeaderTruncated = true
		if len(b) >= 12 {
			seg.Ack = binary.BigEndian.Uint32(b[8:12])
		}
		hdr := 20
		if len(b) >= 14 {
			seg.Flags = Flags(b[13]) | Flags(b[12]&1)<<8
			seg.DataOffset = b[12] >> 4 * 4
			hdr = max(int(seg.DataOffset), 20)
		}
		if len(b) >= 16 {
			seg.Window = binary.BigEndian.Uint16(b[14:16])
		}
		if len(b) >= 18 {
			seg.TCPChecksum = binary.BigEndian.Uint16(b[16:18])
		}
		seg.PayloadLen = max(l4Len-hdr, 0)
		seg.PayloadInferred = seg.PayloadLen > 0
		return true, false
	}
	seg.Ack = binary.BigEndian.Uint32(b[8:12])
	seg.DataOffset = b[12] >> 4 * 4
	seg.Flags = Flags(b[13]) | Flags(b[12]&1)<<8
	seg.Window = binary.BigEndian.Uint16(b[14:16])
	seg.TCPChecksum = binary.BigEndian.Uint16(b[16:18])
	seg.Urgent = binary.BigEndian.Uint16(b[18:20])
	// A data offset below 5 words is malformed (tcpdump: "bad hdr
	// length"); treat the header as the minimal 20 bytes and leave the
	// checksum unverified.
	hdr := max(int(seg.DataOffset), 20)
	opts := b[20:]
	if len(b) < hdr {
		seg.HeaderTruncated = true
	} else {
		opts = b[20:hdr]
	}
	seg.OptionsLen = uint8(copy(seg.RawOptions[:], opts))
	parseOptions(seg.RawOptions[:seg.OptionsLen], &seg.Opt)
	seg.PayloadLen = max(l4Len-hdr, 0)
	seg.PayloadInferred = seg.PayloadLen > 0 && len(b)-hdr < seg.PayloadLen
	// Like tcpdump, do not verify the checksum of a malformed header.
	return true, !seg.HeaderTruncated && seg.DataOffset >= 20 && len(b) == l4Len && l4Len >= hdr
}

// TCP option kinds.
const (
	optEOL      = 0
	optNOP      = 1
	optMSS      = 2
	optWScale   = 3
	optSACKPerm = 4
	optSACK     = 5
	optTS       = 8
)

// parseOptions parses the TCP options the analysis uses. It stops at the
// end-of-options marker or at the first malformed option.
func parseOptions(b []byte, o *Options) {
	*o = Options{WScale: -1}
	for len(b) > 0 {
		kind := b[0]
		if kind == optEOL {
			return
		}
		if kind == optNOP {
			b = b[1:]
			continue
		}
		if len(b) < 2 || int(b[1]) < 2 || int(b[1]) > len(b) {
			return
		}
		n := int(b[1])
		v := b[2:n]
		switch {
		case kind == optMSS && n == 4:
			o.MSS = binary.BigEndian.Uint16(v)
		case kind == optWScale && n == 3:
			o.WScale = int8(min(v[0], 14))
		case kind == optSACKPerm && n == 2:
			o.SACKPermitted = true
		case kind == optSACK && (n-2)%8 == 0:
			o.SACKBlocks = uint8((n - 2) / 8)
		case kind == optTS && n == 10:
			o.HasTS = true
			o.TSVal = binary.BigEndian.Uint32(v[0:4])
			o.TSEcr = binary.BigEndian.Uint32(v[4:8])
		}
		b = b[n:]
	}
}

// icmp4Error fills seg from an ICMP destination-unreachable message b
// that quotes an IPv4 header and at least 8 bytes of a TCP header.
func icmp4Error(b []byte, seg *Segment) bool {
	if len(b) < 8 || b[0] != icmpDestUnreach {
		return false
	}
	in := b[8:]
	if len(in) < 20 || in[0]>>4 != 4 || in[9] != protoTCP {
		return false
	}
	ihl := int(in[0]&0x0f) * 4
	flagsFrag := binary.BigEndian.Uint16(in[6:8])
	if ihl < 20 || len(in) < ihl+8 || flagsFrag&0x1fff != 0 {
		return false
	}
	seg.Kind = KindICMPError
	seg.ICMPType, seg.ICMPCode = b[0], b[1]
	seg.IPVersion = 4
	seg.Src = netip.AddrFrom4([4]byte(in[12:16]))
	seg.Dst = netip.AddrFrom4([4]byte(in[16:20]))
	seg.TOS = in[1]
	seg.IPLen = int(binary.BigEndian.Uint16(in[2:4]))
	seg.IPID = binary.BigEndian.Uint16(in[4:6])
	seg.DF = flagsFrag&0x4000 != 0
	seg.TTL = in[8]
	quoteTCP(in[ihl:], seg.IPLen-ihl, seg)
	return true
}

// icmp6Error fills seg from an ICMPv6 destination-unreachable message b
// that quotes an IPv6 header and at least 8 bytes of a TCP header.
func icmp6Error(b []byte, seg *Segment) bool {
	if len(b) < 8 || b[0] != icmp6DestUnreach {
		return false
	}
	in := b[8:]
	if len(in) < 40 || in[0]>>4 != 6 {
		return false
	}
	next, off := in[6], 40
	for {
		switch next {
		case 0, 43, 60: // hop-by-hop, routing, destination options
			if len(in) < off+2 {
				return false
			}
			next = in[off]
			off += (int(in[off+1]) + 1) * 8
			continue
		case 44: // fragment: only the first fragment holds the TCP header
			if len(in) < off+8 || binary.BigEndian.Uint16(in[off+2:off+4])>>3 != 0 {
				return false
			}
			next = in[off]
			off += 8
			continue
		}
		break
	}
	if next != protoTCP || len(in) < off+8 {
		return false
	}
	seg.Kind = KindICMPError
	seg.ICMPType, seg.ICMPCode, seg.ICMPv6 = b[0], b[1], true
	seg.IPVersion = 6
	seg.Src = netip.AddrFrom16([16]byte(in[8:24]))
	seg.Dst = netip.AddrFrom16([16]byte(in[24:40]))
	seg.TOS = uint8(binary.BigEndian.Uint16(in[0:2]) >> 4)
	seg.FlowLabel = binary.BigEndian.Uint32(in[0:4]) & 0x000fffff
	seg.TTL = in[7]
	seg.IPLen = 40 + int(binary.BigEndian.Uint16(in[4:6]))
	quoteTCP(in[off:], seg.IPLen-off, seg)
	return true
}

// quoteTCP fills seg from the (at least 8) quoted TCP header bytes b of a
// segment that was l4Len bytes long.
func quoteTCP(b []byte, l4Len int, seg *Segment) {
	if len(b) > 20 {
		b = b[:20] // the quote's options and payload are not used
	}
	parseTCP(b, max(l4Len, 0), seg)
	seg.HeaderTruncated = len(b) < 20
	seg.PayloadInferred = seg.PayloadLen > 0
	seg.OptionsLen = 0
	seg.Opt = Options{WScale: -1}
	seg.Checksum = ChecksumUnknown
}

// sum16 adds b, as big-endian 16-bit words, to the ones' complement
// accumulator acc.
//
// b is added as native little-endian 64-bit words with carries (end-around
// carries are deferred: 2^64 is 1 modulo 0xffff), its last 1-7 bytes as
// one more word padded with zeros, then folded to 16 bits and
// byte-swapped: the ones' complement sum is byte-order independent (RFC
// 1071, section 2), and every word starts at an even offset, so a lone
// last byte is the high byte of its big-endian word, as it must be.
func sum16(b []byte, acc uint64) uint64 {
	var s, carries uint64
	for len(b) >= 32 {
		var c uint64
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[0:8]), 0)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[8:16]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[16:24]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[24:32]), c)
		carries += c
		b = b[32:]
	}
	for len(b) >= 8 {
		var c uint64
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b), 0)
		carries += c
		b = b[8:]
	}
	if n := len(b); n > 0 {
		var t uint64
		off := 0
		if n&4 != 0 {
			t = uint64(binary.LittleEndian.Uint32(b))
			off = 4
		}
		if n&2 != 0 {
			t |= uint64(binary.LittleEndian.Uint16(b[off:])) << (8 * off)
			off += 2
		}
		if n&1 != 0 {
			t |= uint64(b[off]) << (8 * off)
		}
		var c uint64
		s, c = bits.Add64(s, t, 0)
		carries += c
	}
	le := fold(s>>32 + s&0xffffffff + carries)
	return acc + uint64(bits.ReverseBytes16(le))
}

// fold folds a ones' complement accumulator to 16 bits: each step adds
// the high part to the low one, which leaves a value of 16 bits unchanged,
// and four steps bring any 64-bit value down to 16 bits.
func fold(acc uint64) uint16 {
	acc = acc>>32 + acc&0xffffffff // < 2^33
	acc = acc>>16 + acc&0xffff     // < 2^17 + 2^16
	acc = acc>>16 + acc&0xffff     // <= 0x10002
	acc = acc>>16 + acc&0xffff     // <= 0xffff
	return uint16(acc)
}

// tailLayer is a DecodingLayer that ends decoding: it only records the
// bytes of its layer (TCP, ICMP, an IPv6 fragment header), which the
// decoder then reads itself, without allocating and tolerating truncation.
type tailLayer struct {
	typ  gopacket.LayerType
	data []byte
}

func (t *tailLayer) DecodeFromBytes(data []byte, _ gopacket.DecodeFeedback) error {
	t.data = data
	return nil
}
func (t *tailLayer) CanDecode() gopacket.LayerClass    { return t.typ }
func (t *tailLayer) NextLayerType() gopacket.LayerType { return gopacket.LayerTypeZero }
func (t *tailLayer) LayerPayload() []byte              { return nil }

var errMPLSShort = errors.New("MPLS label stack truncated")

// mplsLayer is a DecodingLayer that skips an MPLS label stack and guesses
// the payload (IPv4 or IPv6) from its version nibble, as tcpdump does.
type mplsLayer struct {
	payload []byte
	next    gopacket.LayerType
}

func (m *mplsLayer) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	for off := 0; ; off += 4 {
		if len(data) < off+4 {
			df.SetTruncated()
			return errMPLSShort
		}
		if data[off+2]&1 != 0 { // bottom of stack
			m.payload = data[off+4:]
			break
		}
	}
	m.next = gopacket.LayerTypePayload
	if len(m.payload) > 0 {
		switch m.payload[0] >> 4 {
		case 4:
			m.next = layers.LayerTypeIPv4
		case 6:
			m.next = layers.LayerTypeIPv6
		}
	}
	return nil
}
func (m *mplsLayer) CanDecode() gopacket.LayerClass    { return layers.LayerTypeMPLS }
func (m *mplsLayer) NextLayerType() gopacket.LayerType { return m.next }
func (m *mplsLayer) LayerPayload() []byte              { return m.payload }

var errCookedShort = errors.New("Linux cooked header truncated")

// cookedLayer is a DecodingLayer for the Linux cooked headers (SLL and
// SLL2). Unlike the layers package it ignores the link-layer address
// length, which real captures sometimes get wrong (tcpdump ignores it too).
type cookedLayer struct {
	typ     gopacket.LayerType
	hdrLen  int // 16 for SLL, 20 for SLL2
	protoAt int // offset of the protocol (EtherType) field
	payload []byte
	next    gopacket.LayerType
}

func (c *cookedLayer) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	if len(data) < c.hdrLen {
		df.SetTruncated()
		return errCookedShort
	}
	c.payload = data[c.hdrLen:]
	switch layers.EthernetType(binary.BigEndian.Uint16(data[c.protoAt:])) {
	case layers.EthernetTypeIPv4:
		c.next = layers.LayerTypeIPv4
	case layers.EthernetTypeIPv6:
		c.next = layers.LayerTypeIPv6
	case layers.EthernetTypeDot1Q, layers.EthernetTypeQinQ:
		c.next = layers.LayerTypeDot1Q
	case layers.EthernetTypeMPLSUnicast, layers.EthernetTypeMPLSMulticast:
		c.next = layers.LayerTypeMPLS
	default:
		c.next = gopacket.LayerTypePayload
	}
	return nil
}
func (c *cookedLayer) CanDecode() gopacket.LayerClass    { return c.typ }
func (c *cookedLayer) NextLayerType() gopacket.LayerType { return c.next }
func (c *cookedLayer) LayerPayload() []byte              { return c.payload }

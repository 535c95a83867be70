// Package capture reads packets from saved captures (pcap, pcapng, gzip
// compressed or not, several files merged by timestamp) and, when built with
// libpcap, from live interfaces, and decodes each TCP packet into a compact
// Segment value.
//
// Uncompressed pcap files are read straight into a window the packets are
// decoded in place from; everything else (gzip, pcapng, standard input,
// pipes) through a buffer. The common packets (TCP directly in IPv4 or
// IPv6 on Ethernet) are decoded by reading their headers directly, the
// others with one gopacket DecodingLayerParser per Source; a Source fills
// a caller-owned Segment, so the hot path allocates nothing per packet. Only
// TCP segments and ICMP/ICMPv6 errors that quote a TCP header are returned;
// every other packet is counted (and numbered, so packet numbers match
// `tcpdump -#`) and skipped.
package capture

import (
	"net/netip"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// Flags are the TCP header flag bits. The bit order follows the TCP header
// (FIN is the lowest bit) and AE is the former NS bit.
type Flags uint16

// TCP flag bits.
const (
	FIN Flags = 1 << iota
	SYN
	RST
	PSH
	ACK
	URG
	ECE
	CWR
	AE
)

// Has reports whether all bits of f2 are set in f.
func (f Flags) Has(f2 Flags) bool { return f&f2 == f2 }

// Kind says what a Segment describes.
type Kind uint8

const (
	// KindTCP is a TCP segment seen on the wire.
	KindTCP Kind = iota
	// KindICMPError is an ICMP or ICMPv6 error message that quotes the
	// header of a TCP segment. The Segment's addresses, ports, Seq and
	// Flags are those of the quoted segment (as its sender sent it);
	// ICMPFrom, ICMPType and ICMPCode describe the error itself.
	KindICMPError
)

// Checksum is what is known about a TCP segment's checksum.
type Checksum uint8

const (
	// ChecksumUnknown means the checksum could not be verified (the
	// packet was truncated by the snap length).
	ChecksumUnknown Checksum = iota
	// ChecksumGood means the checksum was verified and is correct.
	ChecksumGood
	// ChecksumBad means the checksum is wrong. Captures taken on the
	// sending host with checksum offload (and on veth) carry unfinished
	// checksums; such segments are still analysed.
	ChecksumBad
)

// Options are the TCP options of a segment that the analysis uses, parsed
// from the raw option bytes.
type Options struct {
	// MSS is the maximum segment size option, 0 when absent.
	MSS uint16
	// WScale is the window scale shift, -1 when absent.
	WScale int8
	// SACKPermitted is set when the SACK-permitted option is present.
	SACKPermitted bool
	// HasTS is set when the timestamp option is present.
	HasTS bool
	// TSVal and TSEcr are the timestamp option's values.
	TSVal, TSEcr uint32
	// SACKBlocks is the number of SACK blocks carried.
	SACKBlocks uint8
}

// Segment is one decoded TCP segment, or one ICMP error quoting a TCP
// segment (see KindICMPError). It is a plain value: a Source fills a
// caller-owned Segment, and the caller copies what it keeps. Data is the
// only field that refers to memory owned by the Source.
type Segment struct {
	// The fields the flow table reads for every segment come first: with
	// the padding at the end, they fill the first two of the Segment's
	// five cache lines (TestSegmentLayout), where they were spread over
	// four. On big.pcap, --json, one core: 2.29-2.36 s against 2.33-2.38 s
	// (five interleaved pairs); two cores, where those lines cross from
	// the reader's core: no difference (the hardware streams the batches).

	// Packet is the 1-based number of the packet in the merged input,
	// counting every packet that passed the filter, TCP or not (as
	// `tcpdump -#` numbers them).
	Packet int64
	// Time is the capture timestamp.
	Time time.Time
	// Src and Dst are the IP addresses; SrcPort and DstPort the TCP ports.
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	// Seq and Ack are the raw sequence and acknowledgment numbers.
	Seq, Ack uint32
	// Flags are the TCP flags.
	Flags Flags
	// Window is the raw (unscaled) window field.
	Window uint16
	// PayloadLen is the TCP payload length computed from the IP length
	// (so it is right also for snaplen-truncated packets).
	PayloadLen int
	// Kind says whether this is a TCP segment or an ICMP error.
	Kind Kind
	// IPVersion is 4 or 6.
	IPVersion uint8
	// TTL is the IPv4 TTL or the IPv6 hop limit.
	TTL uint8
	// Checksum says whether the TCP checksum was verified.
	Checksum Checksum
	// IPID is the IPv4 identification field (0 for IPv6).
	IPID uint16
	// HeaderTruncated is set when the capture cut the TCP header
	// (tcpdump prints `[|tcp]`); only the fields before the cut are valid.
	HeaderTruncated bool
	// PayloadInferred is set when the payload was cut by the snap length
	// and PayloadLen comes from the IP header only.
	PayloadInferred bool
	// Opt are the parsed options.
	Opt Options

	// RawOptions holds the raw TCP option bytes; OptionsLen of them are valid.
	RawOptions [40]byte
	// OptionsLen is the number of valid bytes in RawOptions.
	OptionsLen uint8
	// DataOffset is the TCP header length in bytes.
	DataOffset uint8
	// Urgent is the urgent pointer.
	Urgent uint16
	// TCPChecksum is the checksum field as written.
	TCPChecksum uint16
	// DF is the IPv4 don't-fragment bit.
	DF bool
	// TOS is the IPv4 TOS byte or the IPv6 traffic class.
	TOS uint8
	// FlowLabel is the IPv6 flow label.
	FlowLabel uint32
	// IPLen is the IP total length (IPv4) or header+payload length (IPv6)
	// as written in the header.
	IPLen int
	// IPOffset and TCPOffset are where the IP header and the TCP header
	// start in Data (TCPOffset is 0 when they are not known, as in a
	// hand-built segment or an ICMP error).
	IPOffset, TCPOffset int
	// Input is the index of the input file (or interface) the packet came from.
	Input int
	// LinkType is the link-layer type of the packet's interface.
	LinkType layers.LinkType

	// ICMPFrom is the sender of the ICMP error (KindICMPError only).
	ICMPFrom netip.Addr
	// ICMPType and ICMPCode are the ICMP error's type and code.
	ICMPType, ICMPCode uint8
	// ICMPv6 is set when the error is ICMPv6.
	ICMPv6 bool

	// WireLen is the packet's original length, CapLen the captured length.
	WireLen, CapLen int
	// Data is the raw packet as captured. It is owned by the Source,
	// valid only until the next call to Next, and must not be modified:
	// callers copy what they keep.
	Data []byte
	_    [segmentPad]byte
}

// SrcAddrPort returns the sender's address and port.
func (s *Segment) SrcAddrPort() netip.AddrPort { return netip.AddrPortFrom(s.Src, s.SrcPort) }

// DstAddrPort returns the receiver's address and port.
func (s *Segment) DstAddrPort() netip.AddrPort { return netip.AddrPortFrom(s.Dst, s.DstPort) }

// SeqLen is the sequence space the segment occupies: payload plus one for
// SYN and one for FIN.
func (s *Segment) SeqLen() uint32 {
	n := uint32(s.PayloadLen)
	if s.Flags&SYN != 0 {
		n++
	}
	if s.Flags&FIN != 0 {
		n++
	}
	return n
}

// segmentPad pads a Segment to a whole number of cache lines, so that in
// an array (the analysis's batches) each begins a line and its first
// fields share the same two.
const segmentPad = 24

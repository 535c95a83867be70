package report

import (
	"encoding/binary"
	"math/bits"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/tcpwhy/tcpwhy/capture"
)

// Timestamp formats of TcpdumpOptions.Timestamps, named after the tcpdump
// flags that select them.
const (
	// TimestampDefault prints HH:MM:SS.ffffff in the printer's location.
	TimestampDefault = 0
	// TimestampNone (-t) prints no timestamp.
	TimestampNone = 1
	// TimestampEpoch (-tt) prints seconds since the epoch: 1591780863.720289.
	TimestampEpoch = 2
	// TimestampDelta (-ttt) prints the time since the previous printed
	// packet: 00:00:00.000123.
	TimestampDelta = 3
	// TimestampDate (-tttt) prints the date and time: 2020-06-10 09:21:03.720289.
	TimestampDate = 4
	// TimestampSinceFirst (-ttttt) prints the time since the first printed
	// packet.
	TimestampSinceFirst = 5
)

// TcpdumpOptions select the tcpdump flags a TcpdumpPrinter emulates. The
// zero value is plain `tcpdump -n`.
type TcpdumpOptions struct {
	// Absolute prints absolute sequence numbers (-S).
	Absolute bool
	// Timestamps selects the timestamp format: one of the Timestamp*
	// constants (0 default, 1 -t, 2 -tt, 3 -ttt, 4 -tttt, 5 -ttttt).
	Timestamps int
	// Number prints the packet number column (-#), from Segment.Packet.
	Number bool
	// Verbose is the number of -v flags. At 1 and above the IP header is
	// described and the TCP checksum is verified; at 2 and above the
	// sequence number of pure ACKs is printed too.
	Verbose int
	// NoChecksums leaves the IPv4 header's and the TCP checksums out of
	// the -v lines, unverified (tcpdump -K).
	NoChecksums bool
	// Nano prints nanosecond timestamps (--time-stamp-precision=nano).
	Nano bool
	// Location is the time zone of the default and -tttt formats; nil
	// means time.Local.
	Location *time.Location
	// MaxConnections bounds the connections whose relative sequence base
	// the printer remembers at once (0: DefaultMaxConnections); beyond
	// it the least recently active are forgotten.
	MaxConnections int
}

// DefaultMaxConnections is TcpdumpOptions.MaxConnections when it is 0.
const DefaultMaxConnections = 1 << 20

// How long the printer remembers the relative sequence base of a
// connection without a segment: tcpdump remembers every connection for
// the whole capture, so a capture of many short connections would grow
// its table without end. A connection that carried a FIN or RST is
// forgotten after seqIdleClosed (the kernel's TIME_WAIT lasts 60 s), any
// other after seqIdleOpen (the flow table's established idle timeout).
// Only a segment that comes later still, on the same addresses and ports
// and without a SYN, prints other relative numbers than tcpdump's: it
// becomes the base of a new entry, as a connection seen mid-stream.
const (
	seqIdleClosed = 60          // seconds
	seqIdleOpen   = 2 * 60 * 60 // seconds
	// seqSweepMin is the fewest new entries between two sweeps.
	seqSweepMin = 1 << 16
)

// TcpdumpPrinter renders segments as the lines `tcpdump -n` 4.99.3 prints
// for them, up to and including `length N`; tcpdump's decoding of the
// application payload that may follow is left out.
//
// Like tcpdump it prints sequence numbers relative to the first
// ACK-bearing segment of each address/port pair (unless Absolute), so it
// keeps state: feed it the segments in capture order. Unlike tcpdump it
// forgets a connection idle for long (see seqIdleClosed) and keeps at most
// MaxConnections, so that its memory follows the connections open at
// once, not all the capture's. The -ttt and -ttttt
// deltas are measured between the segments given to the printer, so they
// differ from tcpdump's when the capture holds packets other than TCP.
//
// A TcpdumpPrinter is not safe for concurrent use.
type TcpdumpPrinter struct {
	opt  TcpdumpOptions
	loc  *time.Location
	seqs map[seqKey]seqBase
	// seqs4 is seqs for IPv4 connections, with a key a third the size.
	seqs4 map[seqKey4]seqBase
	// recent4 holds copies of seqs4's entries used last, by a hash of
	// their key (nil until the first IPv4 connection): seqs4 keeps
	// closed connections for a minute (120,000 entries on big.pcap),
	// which the processor's caches do not hold, while the few thousand
	// connections active at a time fit here. Written through; emptied
	// by sweep.
	recent4 *[recentSize]recentSeq
	// noRecent turns recent4 off (tests compare both ways).
	noRecent bool
	// epoch is the Unix second of the first segment with a relative base;
	// seqBase.seen counts from it. added counts the entries added since the
	// last sweep, which runs once there are sweepAt of them.
	epoch, added, sweepAt int64
	epochSet              bool

	ref     time.Time
	haveRef bool
	ifnames map[uint32]string
	// clock is the date and clock part of the last absolute timestamp
	// printed, for the Unix second clockSec (clockSet once there is
	// one): consecutive packets mostly share their second.
	clock    []byte
	clockSec int64
	clockSet bool
}

// seqKey is tcpdump's `struct tha`: both addresses and both ports of a
// connection in a canonical order, so that both directions share one entry.
type seqKey struct {
	src, dst [16]byte
	ports    uint32
	v6       bool
}

// seqKey4 is seqKey for IPv4 addresses.
type seqKey4 struct {
	src, dst [4]byte
	ports    uint32
}

// recentSize is the number of entries of TcpdumpPrinter.recent4.
const (
	recentBits = 13
	recentSize = 1 << recentBits
)

// recentSeq is an entry of TcpdumpPrinter.recent4.
type recentSeq struct {
	key  seqKey4
	base seqBase
	ok   bool
}

// recentIndex is the slot of k in recent4.
func recentIndex(k seqKey4) int {
	h := (uint64(binary.LittleEndian.Uint32(k.src[:]))<<32 | uint64(binary.LittleEndian.Uint32(k.dst[:]))) ^ uint64(k.ports)*0x9e3779b97f4a7c15
	h *= 0xff51afd7ed558ccd
	return int(h >> (64 - recentBits))
}

// seqBase is what tcpdump remembers per connection: the sequence numbers
// of the canonical source (seq) and destination (ack) at the base packet;
// and what the printer needs to forget it: the second of the last
// ACK-bearing segment (since TcpdumpPrinter.epoch) in the low 31 bits of
// seen, and seenClosed once a segment carried a FIN or RST.
type seqBase struct {
	seq, ack uint32
	seen     uint32
}

const seenClosed = 1 << 31

// idle returns the seconds from the entry's last segment to now (0 when
// the capture's time went back).
func (b seqBase) idle(now uint32) uint32 {
	if s := b.seen &^ seenClosed; now > s {
		return now - s
	}
	return 0
}

// expired reports whether the entry is idle beyond its limit at now.
func (b seqBase) expired(now uint32) bool {
	if b.seen&seenClosed != 0 {
		return b.idle(now) > seqIdleClosed
	}
	return b.idle(now) > seqIdleOpen
}

// NewTcpdumpPrinter returns a printer for the given options.
func NewTcpdumpPrinter(o TcpdumpOptions) *TcpdumpPrinter {
	loc := o.Location
	if loc == nil {
		loc = time.Local
	}
	if o.MaxConnections <= 0 {
		o.MaxConnections = DefaultMaxConnections
	}
	return &TcpdumpPrinter{opt: o, loc: loc, seqs: make(map[seqKey]seqBase), seqs4: make(map[seqKey4]seqBase), sweepAt: seqSweepMin}
}

// AppendLine appends the line for seg, without a trailing newline, to dst
// and returns the extended buffer. With Verbose > 0 an IPv4 line contains
// one newline followed by four spaces, as tcpdump's does. It allocates
// nothing once the printer has seen the segment's connection and dst has
// room for the line.
func (p *TcpdumpPrinter) AppendLine(dst []byte, seg *capture.Segment) []byte {
	var r raw
	if seg.Kind == capture.KindTCP {
		r = locate(seg)
	}
	var st LineState
	p.resolve(seg, &r, &st)
	return p.appendLine(dst, seg, &r, &st)
}

// LineState is what a segment's line takes from the segments printed
// before it: its relative sequence numbers (from tcpdump's table of
// connections) and the reference time of the -ttt and -ttttt deltas.
// Resolve finds it, in capture order; AppendResolved formats the line
// from it, in any order and with any printer of the same options, so
// that the formatting can be shared between goroutines.
type LineState struct {
	seq, ack, thseq, thack uint32
	rev, relative          bool
	ref                    time.Time
}

// Resolve advances the printer's state past seg, as AppendLine does, and
// returns what seg's line needs of it.
func (p *TcpdumpPrinter) Resolve(seg *capture.Segment) LineState {
	var r raw
	if seg.Kind == capture.KindTCP && !p.opt.Absolute && seg.Flags&capture.ACK != 0 {
		r = locate(seg)
	}
	var st LineState
	p.resolve(seg, &r, &st)
	return st
}

// AppendResolved appends seg's line as AppendLine does, with what
// Resolve returned for it (from this printer or another with the same
// options), and without changing the printer's sequence table or
// reference time.
func (p *TcpdumpPrinter) AppendResolved(dst []byte, seg *capture.Segment, st *LineState) []byte {
	var r raw
	if seg.Kind == capture.KindTCP {
		r = locate(seg)
	}
	return p.appendLine(dst, seg, &r, st)
}

// resolve is Resolve with seg's headers located (r; needed only for a
// TCP segment whose numbers may be relative).
func (p *TcpdumpPrinter) resolve(seg *capture.Segment, r *raw, st *LineState) {
	if t := p.opt.Timestamps; t == TimestampDelta || t == TimestampSinceFirst {
		if !p.haveRef {
			p.ref, p.haveRef = seg.Time, true
		}
		st.ref = p.ref
		if t == TimestampDelta {
			p.ref = seg.Time
		}
	}
	if seg.Kind != capture.KindTCP || p.opt.Absolute || seg.Flags&capture.ACK == 0 {
		return
	}
	// appendTCP prints the numbers only past these checks.
	if avail, _ := tcpExtent(seg, r); avail < 20 || tcpHeaderLen(seg, r) < 20 {
		return
	}
	st.seq, st.ack, st.thseq, st.thack, st.rev = p.relative(seg)
	st.relative = true
}

// tcpExtent returns how many bytes of seg's TCP header and payload were
// captured (avail) and how many the IP header says there are (tcpLen).
func tcpExtent(seg *capture.Segment, r *raw) (avail, tcpLen int) {
	avail = 1 << 30
	tcpLen = seg.PayloadLen + int(seg.DataOffset)
	if r.ok {
		avail, tcpLen = r.avail, r.tcpLen
	} else if seg.HeaderTruncated {
		avail = 20 + int(seg.OptionsLen)
	}
	return avail, tcpLen
}

// tcpHeaderLen returns seg's TCP header length, from the header in r
// when it holds one.
func tcpHeaderLen(seg *capture.Segment, r *raw) int {
	if r.ok && len(r.tcp) > 12 {
		return int(r.tcp[12]>>4) * 4
	}
	return int(seg.DataOffset)
}

// appendLine is AppendLine with seg's headers located (r) and its state
// resolved (st).
func (p *TcpdumpPrinter) appendLine(dst []byte, seg *capture.Segment, r *raw, st *LineState) []byte {
	if p.opt.Number {
		dst = appendUintPad(dst, uint64(max(seg.Packet, 0)), 5, ' ')
		dst = append(dst, "  "...)
	}
	dst = p.appendTimestamp(dst, seg.Time, st.ref)
	if seg.Kind != capture.KindTCP {
		return p.appendICMP(dst, seg)
	}
	if seg.LinkType == layers.LinkTypeLinuxSLL2 {
		dst = p.appendSLL2(dst, seg.Data)
	}
	if seg.LinkType == layers.LinkTypeEthernet {
		dst = appendMPLS(dst, seg.Data, p.opt.Verbose > 0)
	}
	if seg.IPVersion == 6 {
		dst = append(dst, "IP6 "...)
		if r.ok && r.wireLen < r.ipLen {
			dst = append(dst, "truncated-ip6 - "...)
			dst = appendUint(dst, uint64(r.ipLen-r.wireLen))
			dst = append(dst, " bytes missing!"...)
		}
		if p.opt.Verbose > 0 {
			dst = appendIP6Verbose(dst, seg, *r)
		}
	} else {
		dst = append(dst, "IP "...)
		if r.ok && r.wireLen < r.ipLen {
			dst = append(dst, "truncated-ip - "...)
			dst = appendUint(dst, uint64(r.ipLen-r.wireLen))
			dst = append(dst, " bytes missing! "...)
		}
		if p.opt.Verbose > 0 {
			dst = appendIP4Verbose(dst, seg, *r, !p.opt.NoChecksums)
		}
	}
	return p.appendTCP(dst, seg, r, st)
}

// appendSLL2 appends what tcpdump prints for a LINUX_SLL2 header even
// without -e: the interface name, resolved by index on the local host as
// tcpdump does ("?" when there is none), and the packet direction.
func (p *TcpdumpPrinter) appendSLL2(dst []byte, d []byte) []byte {
	if len(d) < 20 {
		return dst
	}
	idx := binary.BigEndian.Uint32(d[4:8])
	name, ok := p.ifnames[idx]
	if !ok {
		name = "?"
		if ifi, err := net.InterfaceByIndex(int(idx)); err == nil && ifi.Name != "" {
			name = ifi.Name
		}
		if p.ifnames == nil {
			p.ifnames = make(map[uint32]string)
		}
		p.ifnames[idx] = name
	}
	dst = append(dst, name...)
	for i := len(name); i < 5; i++ {
		dst = append(dst, ' ')
	}
	dst = append(dst, ' ')
	var dir string
	switch d[10] {
	case 0:
		dir = "In "
	case 1:
		dir = "B  "
	case 2:
		dir = "M  "
	case 3:
		dir = "P  "
	case 4:
		dir = "Out"
	default:
		dir = "?  "
	}
	dst = append(dst, dir...)
	return append(dst, ' ')
}

// appendMPLS appends tcpdump's description of an MPLS label stack between
// the Ethernet header (and its VLAN tags) and the IP header.
func appendMPLS(dst []byte, d []byte, verbose bool) []byte {
	off := 12
	for off+2 <= len(d) {
		switch binary.BigEndian.Uint16(d[off:]) {
		case 0x8100, 0x88a8, 0x9100:
			off += 4
			continue
		case 0x8847, 0x8848:
		default:
			return dst
		}
		break
	}
	off += 2
	dst = append(dst, "MPLS"...)
	for depth := 0; off+4 <= len(d); depth++ {
		e := binary.BigEndian.Uint32(d[off:])
		off += 4
		if depth > 0 && verbose {
			dst = append(dst, "\n\t"...)
		} else {
			dst = append(dst, ' ')
		}
		dst = append(dst, "(label "...)
		dst = appendUint(dst, uint64(e>>12))
		dst = append(dst, ", tc "...)
		dst = appendUint(dst, uint64(e>>9&7))
		if e&0x100 != 0 {
			dst = append(dst, ", [S]"...)
		}
		dst = append(dst, ", ttl "...)
		dst = appendUint(dst, uint64(e&0xff))
		dst = append(dst, ')')
		if e&0x100 != 0 {
			break
		}
	}
	if verbose {
		return append(dst, "\n\t"...)
	}
	return append(dst, ' ')
}

// raw locates the IP and TCP headers of a segment inside Segment.Data, for
// what the Segment fields do not carry: IP options and fragment bits, the
// checksum's correct value, and where the snap length cut the header.
type raw struct {
	ok bool
	// ip is the IP header and what follows it, cut at the end of the IP
	// packet as its length field says (tcpdump's snapend).
	ip []byte
	// ipHdrLen is the IPv4 header length or the IPv6 header length plus
	// the extension headers before TCP.
	ipHdrLen int
	// ipLen is the IP packet length from its header; wireLen the length
	// of the IP packet on the wire (frame length minus link header).
	ipLen, wireLen int
	// tcp is the captured part of the TCP segment that Data holds.
	tcp []byte
	// avail is how many bytes of the TCP segment were captured: more than
	// tcp holds when the source left the payload out of Data
	// (capture.OpenOptions.NoPayload; Segment.CapLen counts them).
	avail int
	// tcpLen is the TCP segment length from the IP header.
	tcpLen int
}

// maxLinkHeader bounds the search for the IP header in the frame: link
// headers with a few VLAN tags or MPLS labels fit in it.
const maxLinkHeader = 128

// locate finds the headers where the decoder said they are, or else (a
// hand-built segment) searches the frame for the IP header with the
// segment's addresses.
func locate(seg *capture.Segment) raw {
	d := seg.Data
	if len(d) == 0 {
		return raw{}
	}
	if ip, tcp := seg.IPOffset, seg.TCPOffset; tcp > ip && tcp <= len(d) {
		// The decoder said where the headers are.
		return mkRaw(seg, d[ip:], tcp-ip, seg.IPLen, ip)
	}
	limit := min(len(d), maxLinkHeader)
	if seg.IPVersion == 6 {
		src, dst := seg.Src.As16(), seg.Dst.As16()
		for off := 0; off+40 <= len(d) && off <= limit; off++ {
			h := d[off:]
			if h[0]>>4 != 6 || [16]byte(h[8:24]) != src || [16]byte(h[24:40]) != dst {
				continue
			}
			ipLen := 40 + int(binary.BigEndian.Uint16(h[4:6]))
			nh, cur := h[6], 40
			for nh != 6 {
				if cur+8 > len(h) {
					return raw{}
				}
				switch nh {
				case 0, 43, 60, 135, 139, 140:
					nh, cur = h[cur], cur+(int(h[cur+1])+1)*8
				case 44:
					nh, cur = h[cur], cur+8
				case 51:
					nh, cur = h[cur], cur+(int(h[cur+1])+2)*4
				default:
					return raw{}
				}
			}
			return mkRaw(seg, h, cur, ipLen, off)
		}
		return raw{}
	}
	src, dst := seg.Src.Unmap().As4(), seg.Dst.Unmap().As4()
	for off := 0; off+20 <= len(d) && off <= limit; off++ {
		h := d[off:]
		if h[0]>>4 != 4 || h[9] != 6 || [4]byte(h[12:16]) != src || [4]byte(h[16:20]) != dst {
			continue
		}
		hl := int(h[0]&0x0f) * 4
		if hl < 20 {
			continue
		}
		return mkRaw(seg, h, hl, int(binary.BigEndian.Uint16(h[2:4])), off)
	}
	return raw{}
}

func mkRaw(seg *capture.Segment, h []byte, hl, ipLen, off int) raw {
	r := raw{ok: true, ipHdrLen: hl, ipLen: ipLen, wireLen: seg.WireLen - off}
	if seg.WireLen == 0 {
		r.wireLen = len(h)
	}
	// captured counts the IP packet's bytes captured, in h or not.
	captured := max(len(h), seg.CapLen-off)
	if ipLen < len(h) && ipLen >= hl {
		h = h[:ipLen]
	}
	if ipLen < captured && ipLen >= hl {
		captured = ipLen
	}
	r.ip = h
	if hl > len(h) {
		return raw{}
	}
	r.tcp = h[hl:]
	r.avail = captured - hl
	r.tcpLen = ipLen - hl
	if len(r.tcp) >= 4 && (binary.BigEndian.Uint16(r.tcp) != seg.SrcPort ||
		binary.BigEndian.Uint16(r.tcp[2:]) != seg.DstPort) {
		return raw{}
	}
	return r
}

// appendIP4Verbose appends ip_print's -v description of the IPv4 header;
// with verify, a wrong header checksum is flagged.
func appendIP4Verbose(dst []byte, seg *capture.Segment, r raw, verify bool) []byte {
	tos, ttl, id, ipLen := seg.TOS, seg.TTL, seg.IPID, seg.IPLen
	var off uint16
	if seg.DF {
		off = 0x4000
	}
	var opts []byte
	if r.ok {
		h := r.ip
		tos, ttl, id = h[1], h[8], binary.BigEndian.Uint16(h[4:6])
		off = binary.BigEndian.Uint16(h[6:8])
		ipLen = r.ipLen
		opts = h[20:r.ipHdrLen]
	}
	dst = append(dst, "(tos 0x"...)
	dst = appendHex(dst, uint64(tos), 0)
	switch tos & 3 {
	case 1:
		dst = append(dst, ",ECT(1)"...)
	case 2:
		dst = append(dst, ",ECT(0)"...)
	case 3:
		dst = append(dst, ",CE"...)
	}
	if ttl >= 1 {
		dst = append(dst, ", ttl "...)
		dst = appendUint(dst, uint64(ttl))
	}
	dst = append(dst, ", id "...)
	dst = appendUint(dst, uint64(id))
	dst = append(dst, ", offset "...)
	dst = appendUint(dst, uint64(off&0x1fff)*8)
	dst = append(dst, ", flags ["...)
	n := len(dst)
	if off&0x2000 != 0 {
		dst = append(dst, '+')
	}
	if off&0x4000 != 0 {
		if len(dst) > n {
			dst = append(dst, ", "...)
		}
		dst = append(dst, "DF"...)
	}
	if off&0x8000 != 0 {
		if len(dst) > n {
			dst = append(dst, ", "...)
		}
		dst = append(dst, "rsvd"...)
	}
	if len(dst) == n {
		dst = append(dst, "none"...)
	}
	dst = append(dst, "], proto TCP (6), length "...)
	dst = appendUint(dst, uint64(ipLen))
	if len(opts) > 0 {
		dst = append(dst, ", options ("...)
		dst = appendIPOptions(dst, opts)
		dst = append(dst, ')')
	}
	if r.ok && verify {
		if sum := checksum(0, r.ip[:r.ipHdrLen]); sum != 0 {
			stored := binary.BigEndian.Uint16(r.ip[10:12])
			dst = append(dst, ", bad cksum "...)
			dst = appendHex(dst, uint64(stored), 0)
			dst = append(dst, " (->"...)
			dst = appendHex(dst, uint64(cksumShouldBe(stored, sum)), 0)
			dst = append(dst, ")!"...)
		}
	}
	return append(dst, ")\n    "...)
}

// appendIPOptions appends ip_optprint's rendering of IPv4 options.
func appendIPOptions(dst []byte, b []byte) []byte {
	for i := 0; len(b) > 0; i++ {
		if i > 0 {
			dst = append(dst, ',')
		}
		code := b[0]
		switch code {
		case 0:
			dst = append(dst, "EOL"...)
		case 1:
			dst = append(dst, "NOP"...)
		case 68:
			dst = append(dst, "timestamp"...)
		case 130:
			dst = append(dst, "security"...)
		case 7:
			dst = append(dst, "RR"...)
		case 137:
			dst = append(dst, "SSRR"...)
		case 131:
			dst = append(dst, "LSRR"...)
		case 148:
			dst = append(dst, "RA"...)
		case 82:
			dst = append(dst, "traceroute"...)
		default:
			dst = append(dst, "unknown "...)
			dst = appendUint(dst, uint64(code))
		}
		l := 1
		if code > 1 {
			if len(b) < 2 {
				return append(dst, " [|ip]"...)
			}
			l = int(b[1])
			if l < 2 {
				dst = append(dst, " [bad length "...)
				dst = appendUint(dst, uint64(l))
				return append(dst, ']')
			}
		}
		if l > len(b) {
			dst = append(dst, " [bad length "...)
			dst = appendUint(dst, uint64(l))
			return append(dst, ']')
		}
		o := b[:l]
		switch code {
		case 0:
			return dst
		case 7, 137, 131:
			if l < 3 {
				dst = append(dst, " [bad length "...)
				dst = appendUint(dst, uint64(l))
				dst = append(dst, ']')
				break
			}
			if (l+1)&3 != 0 {
				dst = append(dst, " [bad length "...)
				dst = appendUint(dst, uint64(l))
				dst = append(dst, ']')
			}
			ptr := int(o[2]) - 1
			if ptr < 3 || (ptr+1)&3 != 0 || ptr > l+1 {
				dst = append(dst, " [bad ptr "...)
				dst = appendUint(dst, uint64(o[2]))
				dst = append(dst, ']')
			}
			for j := 3; j < l; j += 4 {
				if j+4 > l {
					return append(dst, " [|ip]"...)
				}
				dst = append(dst, ' ')
				dst = netip.AddrFrom4([4]byte(o[j : j+4])).AppendTo(dst)
				if ptr > j {
					dst = append(dst, ',')
				}
			}
		case 148:
			if l < 4 {
				dst = append(dst, " [bad length "...)
				dst = appendUint(dst, uint64(l))
				dst = append(dst, ']')
				break
			}
			if v := binary.BigEndian.Uint16(o[2:4]); v != 0 {
				dst = append(dst, " value "...)
				dst = appendUint(dst, uint64(v))
			}
		}
		b = b[l:]
	}
	return dst
}

// appendIP6Verbose appends ip6_print's -v description of the IPv6 header.
func appendIP6Verbose(dst []byte, seg *capture.Segment, r raw) []byte {
	class, flow, hlim, nh := uint32(seg.TOS), seg.FlowLabel, seg.TTL, uint8(6)
	plen := seg.IPLen - 40
	if r.ok {
		f := binary.BigEndian.Uint32(r.ip)
		class, flow, hlim, nh = (f>>20)&0xff, f&0xfffff, r.ip[7], r.ip[6]
		plen = r.ipLen - 40
	}
	dst = append(dst, '(')
	if class != 0 {
		dst = append(dst, "class 0x"...)
		dst = appendHex(dst, uint64(class), 2)
		dst = append(dst, ", "...)
	}
	if flow != 0 {
		dst = append(dst, "flowlabel 0x"...)
		dst = appendHex(dst, uint64(flow), 5)
		dst = append(dst, ", "...)
	}
	dst = append(dst, "hlim "...)
	dst = appendUint(dst, uint64(hlim))
	dst = append(dst, ", next-header "...)
	dst = append(dst, ipProtoName(nh)...)
	dst = append(dst, " ("...)
	dst = appendUint(dst, uint64(nh))
	dst = append(dst, ") payload length: "...)
	dst = appendUint(dst, uint64(max(plen, 0)))
	return append(dst, ") "...)
}

func ipProtoName(nh uint8) string {
	switch nh {
	case 0:
		return "Options"
	case 6:
		return "TCP"
	case 43:
		return "Routing"
	case 44:
		return "frag"
	case 51:
		return "AH"
	case 60:
		return "DSTOPTS"
	}
	return "unknown"
}

// TCP header flag bits as tcpdump names them, in bittok order.
var tcpFlagNames = [8]struct {
	bit  capture.Flags
	name byte
}{
	{capture.FIN, 'F'}, {capture.SYN, 'S'}, {capture.RST, 'R'}, {capture.PSH, 'P'},
	{capture.ACK, '.'}, {capture.URG, 'U'}, {capture.ECE, 'E'}, {capture.CWR, 'W'},
}

// appendTCP appends tcp_print's output: addresses, flags, numbers, options
// and length.
func (p *TcpdumpPrinter) appendTCP(dst []byte, seg *capture.Segment, r *raw, st *LineState) []byte {
	avail, tcpLen := tcpExtent(seg, r) // captured TCP bytes, and all
	if avail < 4 {
		dst = appendAddr(dst, seg.Src)
		dst = append(dst, " > "...)
		dst = appendAddr(dst, seg.Dst)
		return append(dst, ": [|tcp]"...)
	}
	dst = appendEndpoint(dst, seg.Src, seg.SrcPort)
	dst = append(dst, " > "...)
	dst = appendEndpoint(dst, seg.Dst, seg.DstPort)
	dst = append(dst, ": "...)
	if avail < 20 {
		return append(dst, " [|tcp]"...)
	}
	hlen := tcpHeaderLen(seg, r)
	if hlen < 20 {
		dst = append(dst, " tcp "...)
		dst = appendUint(dst, uint64(uint32(tcpLen-hlen)))
		dst = append(dst, " [bad hdr length "...)
		dst = appendUint(dst, uint64(hlen))
		return append(dst, " - too short, < 20]"...)
	}

	flags := seg.Flags
	dst = append(dst, "Flags ["...)
	n := len(dst)
	for _, f := range tcpFlagNames {
		if flags&f.bit != 0 {
			dst = append(dst, f.name)
		}
	}
	if len(dst) == n {
		dst = append(dst, "none"...)
	}
	dst = append(dst, ']')

	seq, ack := seg.Seq, seg.Ack
	if st.relative {
		seq, ack = st.seq, st.ack
	}
	thseq, thack, rev := st.thseq, st.thack, st.rev
	if hlen > tcpLen {
		dst = append(dst, " [bad hdr length "...)
		dst = appendUint(dst, uint64(hlen))
		dst = append(dst, " - too long, > "...)
		dst = appendUint(dst, uint64(max(tcpLen, 0)))
		return append(dst, ']')
	}
	if p.opt.Verbose > 0 && !p.opt.NoChecksums {
		dst = appendTCPChecksum(dst, seg, *r, avail >= tcpLen)
	}
	length := uint32(tcpLen - hlen)
	if p.opt.Verbose > 1 || length > 0 || flags&(capture.SYN|capture.FIN|capture.RST) != 0 {
		dst = append(dst, ", seq "...)
		dst = appendUint(dst, uint64(seq))
		if length > 0 {
			dst = append(dst, ':')
			dst = appendUint(dst, uint64(seq+length))
		}
	}
	if flags&capture.ACK != 0 {
		dst = append(dst, ", ack "...)
		dst = appendUint(dst, uint64(ack))
	}
	dst = append(dst, ", win "...)
	dst = appendUint(dst, uint64(seg.Window))
	if flags&capture.URG != 0 {
		dst = append(dst, ", urg "...)
		dst = appendUint(dst, uint64(seg.Urgent))
	}
	if hlen > 20 {
		var opts []byte
		if r.ok {
			if n := min(hlen, avail, len(r.tcp)); n > 20 {
				opts = r.tcp[20:n]
			}
		} else {
			opts = seg.RawOptions[:min(int(seg.OptionsLen), len(seg.RawOptions))]
			if !seg.HeaderTruncated {
				avail = hlen // hand-built segment: what is there is all there is
			}
		}
		o := optPrinter{
			opts: opts, hlen: hlen - 20, flags: flags, rev: rev, thseq: thseq, thack: thack,
			tcpLen: tcpLen, avail: avail,
		}
		var ok bool
		if dst, ok = o.append(dst); !ok {
			return dst
		}
	}
	dst = append(dst, ", length "...)
	return appendUint(dst, uint64(length))
}

// relative implements tcpdump's tcp_seq_hash: it returns the sequence and
// acknowledgment numbers to print, the base of the connection and whether
// the segment goes against the canonical direction.
func (p *TcpdumpPrinter) relative(seg *capture.Segment) (seq, ack, thseq, thack uint32, rev bool) {
	var src, dst [16]byte
	v6 := seg.IPVersion == 6
	var addrLen int
	if v6 {
		src, dst = seg.Src.As16(), seg.Dst.As16()
		addrLen = 16
	} else {
		s4, d4 := seg.Src.Unmap().As4(), seg.Dst.Unmap().As4()
		copy(src[:], s4[:])
		copy(dst[:], d4[:])
		addrLen = 4
	}
	sport, dport := seg.SrcPort, seg.DstPort
	if sport > dport {
		rev = true
	} else if sport == dport {
		for i := 0; i < addrLen; i++ {
			if src[i] != dst[i] {
				rev = src[i] > dst[i]
				break
			}
		}
	}
	ports := uint32(sport)<<16 | uint32(dport)
	if rev {
		src, dst = dst, src
		ports = uint32(dport)<<16 | uint32(sport)
	}
	seq, ack = seg.Seq, seg.Ack
	var th seqBase
	var found bool
	k4 := seqKey4{src: [4]byte(src[:4]), dst: [4]byte(dst[:4]), ports: ports}
	k := seqKey{src: src, dst: dst, ports: ports, v6: true}
	var recent *recentSeq
	if v6 {
		th, found = p.seqs[k]
	} else {
		if p.recent4 == nil {
			p.recent4 = new([recentSize]recentSeq)
		}
		if recent = &p.recent4[recentIndex(k4)]; recent.ok && recent.key == k4 && !p.noRecent {
			th, found = recent.base, true
		} else if th, found = p.seqs4[k4]; found {
			*recent = recentSeq{key: k4, base: th, ok: true}
		}
	}
	seen := p.second(seg.Time)
	if seg.Flags&(capture.FIN|capture.RST) != 0 {
		seen |= seenClosed
	}
	if !found || seg.Flags&capture.SYN != 0 {
		if rev {
			th = seqBase{ack: seq, seq: ack - 1, seen: seen}
		} else {
			th = seqBase{seq: seq, ack: ack - 1, seen: seen}
		}
		if v6 {
			p.seqs[k] = th
		} else {
			p.seqs4[k4] = th
			*recent = recentSeq{key: k4, base: th, ok: true}
		}
		if !found {
			p.added++
			if p.added >= p.sweepAt || len(p.seqs4)+len(p.seqs) > p.opt.MaxConnections {
				p.sweep(seen &^ seenClosed)
			}
		}
		return seq, ack, th.seq, th.ack, rev
	}
	// The entry is written again only when its second or its closing
	// changed: most segments cost one lookup.
	if seen |= th.seen & seenClosed; seen != th.seen {
		th.seen = seen
		if v6 {
			p.seqs[k] = th
		} else {
			p.seqs4[k4] = th
			*recent = recentSeq{key: k4, base: th, ok: true}
		}
	}
	if rev {
		seq -= th.ack
		ack -= th.seq
	} else {
		seq -= th.seq
		ack -= th.ack
	}
	return seq, ack, th.seq, th.ack, rev
}

// second returns t as seconds since the printer's epoch (the first call),
// in 31 bits; times before the epoch count as 0.
func (p *TcpdumpPrinter) second(t time.Time) uint32 {
	u := t.Unix()
	if !p.epochSet {
		p.epoch, p.epochSet = u, true
	}
	return uint32(min(max(u-p.epoch, 0), seenClosed-1))
}

// sweep forgets the connections idle beyond their limit at now (see
// seqIdleClosed), then, while more than MaxConnections remain, the least
// recently active down to seven eighths of it: whole seconds of them, so
// that the output does not depend on the maps' order.
func (p *TcpdumpPrinter) sweep(now uint32) {
	if p.recent4 != nil {
		// Entries may go: forget the copies.
		clear(p.recent4[:])
	}
	expired := func(b seqBase) bool { return b.expired(now) }
	n := dropIdle(p.seqs4, expired) + dropIdle(p.seqs, expired)
	if limit := p.opt.MaxConnections; n > limit {
		var hist [seqIdleOpen + 1]int32
		countIdle(p.seqs4, now, &hist)
		countIdle(p.seqs, now, &hist)
		excess := n - (limit - limit/8)
		from := uint32(len(hist) - 1)
		for sum := 0; from > 0; from-- {
			if sum += int(hist[from]); sum >= excess {
				break
			}
		}
		older := func(b seqBase) bool { return b.idle(now) >= from }
		n = dropIdle(p.seqs4, older) + dropIdle(p.seqs, older)
	}
	p.added = 0
	p.sweepAt = max(seqSweepMin, int64(n)/2)
}

// dropIdle deletes the entries of m that drop selects and returns how
// many remain.
func dropIdle[K comparable](m map[K]seqBase, drop func(seqBase) bool) int {
	for k, b := range m {
		if drop(b) {
			delete(m, k)
		}
	}
	return len(m)
}

// countIdle adds m's entries to hist by their idle seconds at now.
func countIdle[K comparable](m map[K]seqBase, now uint32, hist *[seqIdleOpen + 1]int32) {
	for _, b := range m {
		hist[min(b.idle(now), seqIdleOpen)]++
	}
}

// appendTCPChecksum appends ", cksum 0x%04x (correct)" or the incorrect
// variant with the value the checksum should have.
func appendTCPChecksum(dst []byte, seg *capture.Segment, r raw, whole bool) []byte {
	if !whole {
		return dst
	}
	if !r.ok {
		if seg.Checksum != capture.ChecksumGood {
			return dst
		}
		dst = append(dst, ", cksum 0x"...)
		dst = appendHex(dst, uint64(seg.TCPChecksum), 4)
		return append(dst, " (correct)"...)
	}
	seglen := r.tcpLen
	var sum uint32
	if seg.IPVersion == 6 {
		s, d := seg.Src.As16(), seg.Dst.As16()
		sum = sumWords(sum, s[:])
		sum = sumWords(sum, d[:])
		sum += uint32(seglen>>16) + uint32(seglen&0xffff) + 6
	} else {
		s := r.ip[12:16]
		d := ip4FinalDst(r.ip[:r.ipHdrLen])
		sum = sumWords(sum, s)
		sum = sumWords(sum, d)
		sum += uint32(uint16(seglen)) + 6
	}
	c := checksum(sum, r.tcp[:seglen])
	stored := binary.BigEndian.Uint16(r.tcp[16:18])
	dst = append(dst, ", cksum 0x"...)
	dst = appendHex(dst, uint64(stored), 4)
	if c == 0 {
		return append(dst, " (correct)"...)
	}
	dst = append(dst, " (incorrect -> 0x"...)
	dst = appendHex(dst, uint64(cksumShouldBe(stored, c)), 4)
	return append(dst, ')')
}

// ip4FinalDst returns the destination address the TCP pseudo-header uses:
// the last hop of a source route, else the header's destination.
func ip4FinalDst(h []byte) []byte {
	o := h[20:]
	for len(o) > 0 {
		t := o[0]
		if t == 0 {
			break
		}
		l := 1
		if t != 1 {
			if len(o) < 2 || o[1] < 2 {
				break
			}
			l = int(o[1])
		}
		if l > len(o) {
			break
		}
		if (t == 131 || t == 137) && l >= 7 {
			return o[l-4 : l]
		}
		o = o[l:]
	}
	return h[16:20]
}

// sumWords adds b as big-endian 16-bit words to a one's complement sum.
func sumWords(sum uint32, b []byte) uint32 {
	for len(b) >= 2 {
		sum += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	return sum
}

// checksum returns the Internet checksum of b with the partial sum
// already folded in: 0 when the data (checksum field included) is correct.
func checksum(sum uint32, b []byte) uint16 {
	sum = sumWords(sum, b)
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// cksumShouldBe is tcpdump's in_cksum_shouldbe: the value the checksum
// field should have held, given the stored value and the computed sum.
func cksumShouldBe(stored, computed uint16) uint16 {
	s := uint32(stored) + uint32(computed)
	s = s&0xffff + s>>16
	s = s&0xffff + s>>16
	return uint16(s)
}

// TCP option kinds tcpdump 4.99.3 knows.
const (
	optEOL       = 0
	optNOP       = 1
	optMSS       = 2
	optWScale    = 3
	optSACKOK    = 4
	optSACK      = 5
	optEcho      = 6
	optEchoReply = 7
	optTS        = 8
	optCC        = 11
	optCCNew     = 12
	optCCEcho    = 13
	optMD5       = 19
	optSCPS      = 20
	optUTO       = 28
	optTCPAO     = 29
	optMPTCP     = 30
	optFastOpen  = 34
	optExp2      = 254
)

func tcpOptionName(k byte) string {
	switch k {
	case optEOL:
		return "eol"
	case optNOP:
		return "nop"
	case optMSS:
		return "mss"
	case optWScale:
		return "wscale"
	case optSACKOK:
		return "sackOK"
	case optSACK:
		return "sack"
	case optEcho:
		return "echo"
	case optEchoReply:
		return "echoreply"
	case optTS:
		return "TS"
	case optCC:
		return "cc"
	case optCCNew:
		return "ccnew"
	case optCCEcho:
		return ""
	case optMD5:
		return "md5"
	case optSCPS:
		return "scps"
	case optUTO:
		return "uto"
	case optTCPAO:
		return "tcp-ao"
	case optMPTCP:
		return "mptcp"
	case optFastOpen:
		return "tfo"
	case optExp2:
		return "exp"
	}
	return ""
}

// optPrinter walks the TCP options exactly as tcp_print does, including
// its handling of malformed and truncated options.
type optPrinter struct {
	opts         []byte // captured option bytes
	hlen         int    // option bytes according to the data offset
	flags        capture.Flags
	rev          bool
	thseq, thack uint32
	tcpLen       int // TCP segment length (for md5's snaplen check)
	avail        int // captured TCP bytes
	proto        string
}

// append appends ", options [...]". It returns false when tcpdump stops
// printing the line inside the options (bad or truncated option).
func (o *optPrinter) append(dst []byte) ([]byte, bool) {
	if b := o.opts; o.hlen == 12 && len(b) == 12 && b[0] == optNOP && b[1] == optNOP && b[2] == optTS && b[3] == 10 {
		// Linux's options on every segment after the handshake, as
		// walk prints them (TestOptionsFastPath).
		dst = append(dst, ", options [nop,nop,TS val "...)
		dst = appendUint(dst, uint64(binary.BigEndian.Uint32(b[4:])))
		dst = append(dst, " ecr "...)
		dst = appendUint(dst, uint64(binary.BigEndian.Uint32(b[8:])))
		return append(dst, ']'), true
	}
	return o.walk(dst)
}

// walk is append without its shortcut.
func (o *optPrinter) walk(dst []byte) ([]byte, bool) {
	o.proto = "tcp"
	b := o.opts
	hlen := o.hlen
	cp := 0
	var ch byte
	dst = append(dst, ", options ["...)
	for hlen > 0 {
		if ch != 0 {
			dst = append(dst, ch)
		}
		if cp >= len(b) {
			return o.longjmp(dst), false
		}
		opt := b[cp]
		cp++
		var l int
		if opt == optEOL || opt == optNOP {
			l = 1
		} else {
			if cp >= len(b) {
				return o.longjmp(dst), false
			}
			l = int(b[cp])
			cp++
			if l < 2 || l > hlen {
				return o.bad(dst, ch), false
			}
			hlen--
		}
		hlen--
		datalen := 0
		// lencheck mirrors LENCHECK: bad when past the header, truncated
		// when past the capture.
		lencheck := func(n int) int {
			if n > hlen {
				return 1
			}
			if cp+n > len(b) {
				return 2
			}
			return 0
		}
		fail := 0
		if name := tcpOptionName(opt); name != "" || opt == optCCEcho {
			dst = append(dst, name...)
		} else {
			dst = append(dst, "unknown-"...)
			dst = appendUint(dst, uint64(opt))
		}
		switch opt {
		case optMSS:
			datalen = 2
			if fail = lencheck(datalen); fail == 0 {
				dst = append(dst, ' ')
				dst = appendUint(dst, uint64(binary.BigEndian.Uint16(b[cp:])))
			}
		case optWScale:
			datalen = 1
			if fail = lencheck(datalen); fail == 0 {
				dst = append(dst, ' ')
				dst = appendUint(dst, uint64(b[cp]))
			}
		case optSACK:
			datalen = l - 2
			if datalen%8 != 0 {
				dst = append(dst, " invalid sack"...)
				break
			}
			dst = append(dst, ' ')
			dst = appendUint(dst, uint64(datalen/8))
			dst = append(dst, ' ')
			for i := 0; i < datalen; i += 8 {
				if fail = lencheck(i + 4); fail != 0 {
					break
				}
				s := binary.BigEndian.Uint32(b[cp+i:])
				if fail = lencheck(i + 8); fail != 0 {
					break
				}
				e := binary.BigEndian.Uint32(b[cp+i+4:])
				if o.rev {
					s -= o.thseq
					e -= o.thseq
				} else {
					s -= o.thack
					e -= o.thack
				}
				dst = append(dst, '{')
				dst = appendUint(dst, uint64(s))
				dst = append(dst, ':')
				dst = appendUint(dst, uint64(e))
				dst = append(dst, '}')
			}
		case optCC, optCCNew, optCCEcho, optEcho, optEchoReply:
			datalen = 4
			if fail = lencheck(datalen); fail == 0 {
				dst = append(dst, ' ')
				dst = appendUint(dst, uint64(binary.BigEndian.Uint32(b[cp:])))
			}
		case optTS:
			datalen = 8
			if fail = lencheck(datalen); fail == 0 {
				dst = append(dst, " val "...)
				dst = appendUint(dst, uint64(binary.BigEndian.Uint32(b[cp:])))
				dst = append(dst, " ecr "...)
				dst = appendUint(dst, uint64(binary.BigEndian.Uint32(b[cp+4:])))
			}
		case optMD5:
			datalen = 16
			if fail = lencheck(datalen); fail == 0 {
				dst = append(dst, ' ')
				// Debian's tcpdump is built with libcrypto but has no
				// secret (-M): it cannot check the signature.
				if o.avail < o.tcpLen {
					dst = append(dst, "snaplen too short, "...)
				} else {
					dst = append(dst, "shared secret not supplied with -M, "...)
				}
				dst = append(dst, "can't check - "...)
				dst = appendHexBytes(dst, b[cp:cp+16])
			}
		case optSCPS:
			datalen = 2
			if fail = lencheck(datalen); fail == 0 {
				dst = append(dst, " cap "...)
				dst = appendHex(dst, uint64(b[cp]), 2)
				dst = append(dst, " id "...)
				dst = appendUint(dst, uint64(b[cp+1]))
			}
		case optTCPAO:
			datalen = l - 2
			if datalen < 2 {
				dst = append(dst, " (invalid)"...)
				break
			}
			if fail = lencheck(1); fail != 0 {
				break
			}
			dst = append(dst, " keyid "...)
			dst = appendUint(dst, uint64(b[cp]))
			if fail = lencheck(2); fail != 0 {
				break
			}
			dst = append(dst, " rnextkeyid "...)
			dst = appendUint(dst, uint64(b[cp+1]))
			if datalen > 2 {
				dst = append(dst, " mac 0x"...)
				for i := 2; i < datalen; i++ {
					if fail = lencheck(i + 1); fail != 0 {
						break
					}
					dst = appendHex(dst, uint64(b[cp+i]), 2)
				}
			}
		case optEOL, optNOP, optSACKOK:
		case optUTO:
			datalen = 2
			if fail = lencheck(datalen); fail == 0 {
				v := uint64(binary.BigEndian.Uint16(b[cp:]))
				dst = append(dst, " 0x"...)
				dst = appendHex(dst, v, 0)
				if v&1 != 0 {
					v = (v >> 1) * 60
				} else {
					v >>= 1
				}
				dst = append(dst, ' ')
				dst = appendUint(dst, v)
			}
		case optMPTCP:
			datalen = l - 2
			if fail = lencheck(datalen); fail == 0 {
				o.proto = "mptcp"
				var ok bool
				if dst, ok = appendMPTCP(dst, b[cp-2:cp+datalen], o.flags); !ok {
					return o.bad(dst, ch), false
				}
			}
		case optFastOpen:
			datalen = l - 2
			if fail = lencheck(datalen); fail == 0 {
				dst = append(dst, ' ')
				dst = appendFastOpen(dst, b[cp:cp+datalen], false)
			}
		case optExp2:
			datalen = l - 2
			if fail = lencheck(datalen); fail != 0 {
				break
			}
			if datalen < 2 {
				return o.bad(dst, ch), false
			}
			magic := binary.BigEndian.Uint16(b[cp:])
			dst = append(dst, '-')
			if magic == 0xf989 {
				dst = appendFastOpen(dst, b[cp+2:cp+datalen], true)
			} else {
				dst = appendHex(dst, uint64(magic), 4)
			}
		default:
			datalen = l - 2
			if datalen > 0 {
				dst = append(dst, " 0x"...)
			}
			for i := 0; i < datalen; i++ {
				if fail = lencheck(i + 1); fail != 0 {
					break
				}
				dst = appendHex(dst, uint64(b[cp+i]), 2)
			}
		}
		switch fail {
		case 1:
			return o.bad(dst, ch), false
		case 2:
			dst = append(dst, " [|"...)
			dst = append(dst, o.proto...)
			dst = append(dst, ']')
			if ch != 0 {
				dst = append(dst, '>')
			}
			return dst, false
		}
		cp += datalen
		hlen -= datalen
		datalen++
		if opt != optEOL && opt != optNOP {
			datalen++
		}
		if datalen != l {
			dst = append(dst, "[len "...)
			dst = appendUint(dst, uint64(l))
			dst = append(dst, ']')
		}
		ch = ','
		if opt == optEOL {
			break
		}
	}
	return append(dst, ']'), true
}

// longjmp is tcpdump's reaction to a read past the captured data.
func (o *optPrinter) longjmp(dst []byte) []byte {
	dst = append(dst, " [|"...)
	dst = append(dst, o.proto...)
	return append(dst, ']')
}

func (o *optPrinter) bad(dst []byte, ch byte) []byte {
	dst = append(dst, "[bad opt]"...)
	if ch != 0 {
		dst = append(dst, ']')
	}
	return dst
}

// appendFastOpen is print_tcp_fastopen_option.
func appendFastOpen(dst []byte, b []byte, exp bool) []byte {
	if exp {
		dst = append(dst, "tfo"...)
	}
	switch n := len(b); {
	case n == 0:
		return append(dst, " cookiereq"...)
	case n%2 != 0 || n < 4 || n > 16:
		return append(dst, " (invalid)"...)
	}
	dst = append(dst, " cookie "...)
	return appendHexBytes(dst, b)
}

// appendMPTCP is tcpdump 4.99.3's mptcp_print; opt is the whole option,
// kind and length included. It returns false for a malformed option.
func appendMPTCP(dst []byte, opt []byte, flags capture.Flags) ([]byte, bool) {
	l := len(opt)
	if l < 3 {
		return dst, false
	}
	sub := opt[2] >> 4
	dst = append(dst, ' ')
	dst = appendUint(dst, uint64(l))
	be64 := func(i int) uint64 { return binary.BigEndian.Uint64(opt[i:]) }
	be32 := func(i int) uint32 { return binary.BigEndian.Uint32(opt[i:]) }
	switch sub {
	case 0:
		dst = append(dst, " capable"...)
		if !((l == 12 || l == 4) && flags&capture.SYN != 0) &&
			!((l == 20 || l == 22) && flags&(capture.SYN|capture.ACK) == capture.ACK) {
			return dst, false
		}
		v := opt[2] & 0xf
		if v > 1 {
			dst = append(dst, " Unknown Version ("...)
			dst = appendUint(dst, uint64(v))
			return append(dst, ')'), true
		}
		dst = append(dst, " v"...)
		dst = appendUint(dst, uint64(v))
		if opt[3]&0x80 != 0 {
			dst = append(dst, " csum"...)
		}
		if l == 12 || l >= 20 {
			dst = append(dst, " {0x"...)
			dst = appendHex(dst, be64(4), 0)
			if l >= 20 {
				dst = append(dst, ",0x"...)
				dst = appendHex(dst, be64(12), 0)
			}
			dst = append(dst, '}')
		}
	case 1:
		dst = append(dst, " join"...)
		if !(l == 12 && flags&capture.SYN != 0) &&
			!(l == 16 && flags&(capture.SYN|capture.ACK) == capture.SYN|capture.ACK) &&
			!(l == 24 && flags&capture.ACK != 0) {
			return dst, false
		}
		if l != 24 {
			if opt[2]&1 != 0 {
				dst = append(dst, " backup"...)
			}
			dst = append(dst, " id "...)
			dst = appendUint(dst, uint64(opt[3]))
		}
		switch l {
		case 12:
			dst = append(dst, " token 0x"...)
			dst = appendHex(dst, uint64(be32(4)), 0)
			dst = append(dst, " nonce 0x"...)
			dst = appendHex(dst, uint64(be32(8)), 0)
		case 16:
			dst = append(dst, " hmac 0x"...)
			dst = appendHex(dst, be64(4), 0)
			dst = append(dst, " nonce 0x"...)
			dst = appendHex(dst, uint64(be32(12)), 0)
		case 24:
			dst = append(dst, " hmac 0x"...)
			dst = appendHexBytes(dst, opt[4:24])
		}
	case 2:
		dst = append(dst, " dss"...)
		if l < 4 || flags&capture.SYN != 0 {
			return dst, false
		}
		f := opt[3]
		if f&0x10 != 0 {
			dst = append(dst, " fin"...)
		}
		rest := opt[4:]
		if f&0x01 != 0 {
			dst = append(dst, " ack "...)
			if f&0x02 != 0 {
				if len(rest) < 8 {
					return dst, false
				}
				dst = appendUint(dst, binary.BigEndian.Uint64(rest))
				rest = rest[8:]
			} else {
				if len(rest) < 4 {
					return dst, false
				}
				dst = appendUint(dst, uint64(binary.BigEndian.Uint32(rest)))
				rest = rest[4:]
			}
		}
		if f&0x04 != 0 {
			dst = append(dst, " seq "...)
			if f&0x08 != 0 {
				if len(rest) < 8 {
					return dst, false
				}
				dst = appendUint(dst, binary.BigEndian.Uint64(rest))
				rest = rest[8:]
			} else {
				if len(rest) < 4 {
					return dst, false
				}
				dst = appendUint(dst, uint64(binary.BigEndian.Uint32(rest)))
				rest = rest[4:]
			}
			if len(rest) < 4 {
				return dst, false
			}
			dst = append(dst, " subseq "...)
			dst = appendUint(dst, uint64(binary.BigEndian.Uint32(rest)))
			rest = rest[4:]
			if len(rest) < 2 {
				return dst, false
			}
			dst = append(dst, " len "...)
			dst = appendUint(dst, uint64(binary.BigEndian.Uint16(rest)))
			rest = rest[2:]
			if len(rest) >= 2 {
				dst = append(dst, " csum 0x"...)
				dst = appendHex(dst, uint64(binary.BigEndian.Uint16(rest)), 0)
				rest = rest[2:]
			}
		}
		if len(rest) != 0 {
			return dst, false
		}
	case 3:
		dst = append(dst, " add-addr"...)
		switch l {
		case 8, 10, 16, 18, 20, 22, 28, 30:
		default:
			return dst, false
		}
		switch opt[2] & 0xf {
		case 6:
			dst = append(dst, " v0-ip6"...)
		case 4:
			dst = append(dst, " v0-ip4"...)
		case 1:
			dst = append(dst, " v1-echo"...)
		case 0:
			dst = append(dst, " v1"...)
		default:
			dst = append(dst, " [bad version/echo]"...)
		}
		dst = append(dst, " id "...)
		dst = appendUint(dst, uint64(opt[3]))
		if l <= 18 {
			dst = append(dst, ' ')
			dst = netip.AddrFrom4([4]byte(opt[4:8])).AppendTo(dst)
			if l == 10 || l == 18 {
				dst = append(dst, ':')
				dst = appendUint(dst, uint64(binary.BigEndian.Uint16(opt[8:])))
			}
			if l == 16 {
				dst = append(dst, " hmac 0x"...)
				dst = appendHex(dst, be64(8), 0)
			}
			if l == 18 {
				dst = append(dst, " hmac 0x"...)
				dst = appendHex(dst, be64(10), 0)
			}
		} else {
			dst = append(dst, ' ')
			dst = appendAddr(dst, netip.AddrFrom16([16]byte(opt[4:20])))
			if l == 22 || l == 30 {
				dst = append(dst, ':')
				dst = appendUint(dst, uint64(binary.BigEndian.Uint16(opt[20:])))
			}
			if l == 28 {
				dst = append(dst, " hmac 0x"...)
				dst = appendHex(dst, be64(20), 0)
			}
			if l == 30 {
				dst = append(dst, " hmac 0x"...)
				dst = appendHex(dst, be64(22), 0)
			}
		}
	case 4:
		dst = append(dst, " rem-addr"...)
		if l < 4 {
			return dst, false
		}
		dst = append(dst, " id"...)
		for _, id := range opt[3:] {
			dst = append(dst, ' ')
			dst = appendUint(dst, uint64(id))
		}
	case 5:
		dst = append(dst, " prio"...)
		if l != 3 && l != 4 {
			return dst, false
		}
		if opt[2]&1 != 0 {
			dst = append(dst, " backup"...)
		} else {
			dst = append(dst, " non-backup"...)
		}
		if l == 4 {
			dst = append(dst, " id "...)
			dst = appendUint(dst, uint64(opt[3]))
		}
	case 6:
		dst = append(dst, " fail"...)
		if l != 12 {
			return dst, false
		}
		dst = append(dst, " seq "...)
		dst = appendUint(dst, be64(4))
	case 7:
		dst = append(dst, " fast-close"...)
		if l != 12 {
			return dst, false
		}
		dst = append(dst, " key 0x"...)
		dst = appendHex(dst, be64(4), 0)
	default:
		dst = append(dst, " unknown"...)
	}
	return dst, true
}

// appendICMP renders an ICMP error quoting a TCP segment in a short form
// (tcpdump's ICMP printer is not emulated).
func (p *TcpdumpPrinter) appendICMP(dst []byte, seg *capture.Segment) []byte {
	if seg.ICMPv6 {
		dst = append(dst, "IP6 "...)
	} else {
		dst = append(dst, "IP "...)
	}
	dst = appendAddr(dst, seg.ICMPFrom)
	dst = append(dst, " > "...)
	dst = appendAddr(dst, seg.Src)
	if seg.ICMPv6 {
		dst = append(dst, ": ICMP6 type "...)
	} else {
		dst = append(dst, ": ICMP type "...)
	}
	dst = appendUint(dst, uint64(seg.ICMPType))
	dst = append(dst, " code "...)
	dst = appendUint(dst, uint64(seg.ICMPCode))
	dst = append(dst, " for "...)
	dst = appendAddr(dst, seg.Src)
	dst = append(dst, '.')
	dst = appendUint(dst, uint64(seg.SrcPort))
	dst = append(dst, " > "...)
	dst = appendAddr(dst, seg.Dst)
	dst = append(dst, '.')
	dst = appendUint(dst, uint64(seg.DstPort))
	return dst
}

// appendTimestamp is tcpdump's ts_print.
// For the -ttt and -ttttt deltas, ref is the time they count from (see
// LineState).
func (p *TcpdumpPrinter) appendTimestamp(dst []byte, t, ref time.Time) []byte {
	sec := t.Unix()
	frac := int64(t.Nanosecond())
	digits := 9
	if !p.opt.Nano {
		frac /= 1000
		digits = 6
	}
	switch p.opt.Timestamps {
	case TimestampNone:
		return dst
	case TimestampEpoch:
		if sec < 0 {
			return append(dst, "[timestamp < 1970-01-01 00:00:00 UTC] "...)
		}
		dst = appendUint(dst, uint64(sec))
		dst = append(dst, '.')
		dst = appendUintPad(dst, uint64(frac), digits, '0')
		return append(dst, ' ')
	case TimestampDelta, TimestampSinceFirst:
		unit := int64(time.Microsecond)
		if p.opt.Nano {
			unit = 1
		}
		rsec, rfrac := ref.Unix(), int64(ref.Nanosecond())/unit
		frac = int64(t.Nanosecond()) / unit
		neg := sec < rsec || (sec == rsec && frac < rfrac)
		if neg {
			sec, frac, rsec, rfrac = rsec, rfrac, sec, frac
		}
		per := int64(time.Second) / unit
		dsec, dfrac := sec-rsec, frac-rfrac
		if dfrac < 0 {
			dsec--
			dfrac += per
		}
		if neg {
			dst = append(dst, '-')
		} else {
			dst = append(dst, ' ')
		}
		dst = appendClock(dst, int(dsec/3600%24), int(dsec/60%60), int(dsec%60))
		dst = append(dst, '.')
		dst = appendUintPad(dst, uint64(dfrac), digits, '0')
		return append(dst, ' ')
	}
	if sec < 0 {
		return append(dst, "[timestamp < 1970-01-01 00:00:00 UTC] "...)
	}
	if !p.clockSet || sec != p.clockSec {
		c := p.clock[:0]
		lt := t.In(p.loc)
		if p.opt.Timestamps == TimestampDate {
			y, m, d := lt.Date()
			c = appendUintPad(c, uint64(y), 4, '0')
			c = append(c, '-')
			c = appendUintPad(c, uint64(m), 2, '0')
			c = append(c, '-')
			c = appendUintPad(c, uint64(d), 2, '0')
			c = append(c, ' ')
		}
		h, mi, s := lt.Clock()
		p.clock, p.clockSec, p.clockSet = appendClock(c, h, mi, s), sec, true
	}
	dst = append(dst, p.clock...)
	dst = append(dst, '.')
	dst = appendUintPad(dst, uint64(frac), digits, '0')
	return append(dst, ' ')
}

func appendClock(dst []byte, h, m, s int) []byte {
	dst = appendUintPad(dst, uint64(h), 2, '0')
	dst = append(dst, ':')
	dst = appendUintPad(dst, uint64(m), 2, '0')
	dst = append(dst, ':')
	return appendUintPad(dst, uint64(s), 2, '0')
}

// appendAddr formats an address as tcpdump does (inet_ntop style; an IPv6
// address with 96 leading zero bits and a non-zero seventh group prints
// its last 32 bits as dotted quad, "::1.2.3.4").
func appendAddr(dst []byte, a netip.Addr) []byte {
	if a.Is6() && !a.Is4In6() {
		b := a.As16()
		if [12]byte(b[:12]) == [12]byte{} && (b[12] != 0 || b[13] != 0) {
			dst = append(dst, "::"...)
			return netip.AddrFrom4([4]byte(b[12:])).AppendTo(dst)
		}
	}
	return a.AppendTo(dst)
}

// appendEndpoint appends a and port as tcpdump prints an endpoint:
// the address (appendAddr), a dot and the port. An IPv4 address is
// written from a table of the 256 octets, four bytes a store.
func appendEndpoint(dst []byte, a netip.Addr, port uint16) []byte {
	if !a.Is4() {
		dst = appendAddr(dst, a)
		dst = append(dst, '.')
		return appendUint(dst, uint64(port))
	}
	b := a.As4()
	l := len(dst)
	if cap(dst)-l < 16+5 {
		dst = slices.Grow(dst, 16+5)
	}
	d := dst[l : l+16]
	i := 0
	for _, o := range b {
		// Each entry holds the octet's digits and a dot.
		binary.LittleEndian.PutUint32(d[i:i+4], octetDot[o])
		i += int(octetLen[o]) + 1
	}
	return appendUint(dst[:l+i], uint64(port))
}

// octetDot holds, for every octet value, its decimal digits followed by
// a dot, little-endian in a uint32; octetLen the number of digits.
var octetDot, octetLen = func() (dot [256]uint32, n [256]uint8) {
	for v := range 256 {
		s := strconv.Itoa(v) + "."
		var b [4]byte
		copy(b[:], s)
		dot[v], n[v] = binary.LittleEndian.Uint32(b[:]), uint8(len(s)-1)
	}
	return dot, n
}()

// appendUint appends v in decimal. It writes the digits straight into
// dst, two at a time: strconv.AppendUint formats into a buffer of its own
// and copies, and that copy (a memmove call per number) was most of its
// cost in the text output's ~10 numbers per line.
func appendUint(dst []byte, v uint64) []byte {
	if v < 10 {
		return append(dst, byte('0'+v))
	}
	return appendDecimal(dst, v, decimalLen(v))
}

// appendUintPad appends v right-aligned in width columns filled with pad.
func appendUintPad(dst []byte, v uint64, width int, pad byte) []byte {
	n := decimalLen(v)
	for ; width > n; width-- {
		dst = append(dst, pad)
	}
	return appendDecimal(dst, v, n)
}

// decimalLen is the number of decimal digits of v (1 for 0).
func decimalLen(v uint64) int {
	// bits.Len64(v)*1233>>12 is floor(log10(2^bits)), one short at most.
	n := bits.Len64(v) * 1233 >> 12
	if v >= pow10[n] {
		n++
	}
	return max(n, 1)
}

// pow10[i] is 10^i.
var pow10 = [20]uint64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19}

// digitPairs holds "00" to "99".
const digitPairs = "00010203040506070809" + "10111213141516171819" + "20212223242526272829" +
	"30313233343536373839" + "40414243444546474849" + "50515253545556575859" +
	"60616263646566676869" + "70717273747576777879" + "80818283848586878889" +
	"90919293949596979899"

// appendDecimal appends v in exactly n decimal digits (v < 10^n).
//
// It writes eight digits at a time while v has more, as two independent
// groups of four, then the rest two at a time, all in 32-bit arithmetic:
// a sequence number or a timestamp value (ten digits) then waits for two
// short chains of divisions instead of one of five 64-bit ones.
func appendDecimal(dst []byte, v uint64, n int) []byte {
	l := len(dst)
	if cap(dst)-l < n {
		dst = slices.Grow(dst, n)
	}
	dst = dst[:l+n]
	b := dst[l:]
	i := n
	// v < 10^i throughout, so v fits 32 bits once this loop ends.
	for v >= 1e8 && i >= 8 {
		q := v / 1e8
		r := uint32(v - q*1e8)
		put4Digits(b[i-8:i-4], r/1e4)
		put4Digits(b[i-4:i], r%1e4)
		i -= 8
		v = q
	}
	w := uint32(v)
	for w >= 100 {
		q := w / 100
		r := (w - q*100) * 2
		i -= 2
		b[i], b[i+1] = digitPairs[r], digitPairs[r+1]
		w = q
	}
	if w >= 10 {
		i -= 2
		b[i], b[i+1] = digitPairs[w*2], digitPairs[w*2+1]
	} else if i > 0 {
		i--
		b[i] = byte('0' + w)
	}
	for i > 0 {
		i--
		b[i] = '0'
	}
	return dst
}

// put4Digits writes v (< 10,000) as four decimal digits into b[:4].
func put4Digits(b []byte, v uint32) {
	_ = b[3]
	hi, lo := (v/100)*2, (v%100)*2
	b[0], b[1], b[2], b[3] = digitPairs[hi], digitPairs[hi+1], digitPairs[lo], digitPairs[lo+1]
}

const hexDigits = "0123456789abcdef"

// appendHex appends v in lower-case hex, zero-padded to width digits.
func appendHex(dst []byte, v uint64, width int) []byte {
	var buf [16]byte
	i := len(buf)
	for {
		i--
		buf[i] = hexDigits[v&0xf]
		v >>= 4
		if v == 0 {
			break
		}
	}
	for n := len(buf) - i; n < width; n++ {
		dst = append(dst, '0')
	}
	return append(dst, buf[i:]...)
}

func appendHexBytes(dst []byte, b []byte) []byte {
	for _, c := range b {
		dst = append(dst, hexDigits[c>>4], hexDigits[c&0xf])
	}
	return dst
}

package flows

import (
	"encoding/binary"
	"math"
	"net/netip"
	"time"

	"github.com/tcpwhy/tcpwhy/capture"
)

// State is an RFC 793 TCP state, as the analysis infers it for one
// endpoint from what it sent and received.
type State uint8

// TCP states.
const (
	StateClosed State = iota
	StateListen
	StateSynSent
	StateSynReceived
	StateEstablished
	StateFinWait1
	StateFinWait2
	StateCloseWait
	StateClosing
	StateLastAck
	StateTimeWait
	StateReset
)

var stateNames = [...]string{"CLOSED", "LISTEN", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT1", "FIN_WAIT2", "CLOSE_WAIT", "CLOSING", "LAST_ACK", "TIME_WAIT", "RESET"}

// String returns the state's name as ss(8) prints it.
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "UNKNOWN"
}

// Client and Server index Flow.Ep.
const (
	Client = 0
	Server = 1
)

// MaxSYNs is how many SYN (or SYN-ACK) transmissions an Endpoint remembers.
const MaxSYNs = 16

// stamp is a capture time as a flow stores it: Unix nanoseconds plus
// 2^63, so that the stamps of real times order as unsigned integers and
// the zero stamp stands for the zero time.Time. Times before 1678 or
// after 2262 (which no capture holds) are clamped to that range.
type stamp uint64

const stampBias = 1 << 63

// maxStampSec bounds the Unix seconds whose nanoseconds fit an int64.
const maxStampSec = math.MaxInt64/1_000_000_000 - 1

// stampOf converts a capture time.
func stampOf(t time.Time) stamp {
	if t.IsZero() {
		return 0
	}
	switch s := t.Unix(); {
	case s > maxStampSec:
		return stamp(math.MaxInt64) + stampBias
	case s < -maxStampSec:
		return 1
	}
	return stamp(t.UnixNano()) + stampBias
}

// time returns the stamp as a time.Time (in UTC).
func (s stamp) time() time.Time {
	if s == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(s-stampBias)).UTC()
}

// sub returns s-u, saturated like time.Time.Sub.
func (s stamp) sub(u stamp) time.Duration {
	if s >= u {
		if d := uint64(s - u); d <= math.MaxInt64 {
			return time.Duration(d)
		}
		return math.MaxInt64
	}
	if d := uint64(u - s); d <= math.MaxInt64 {
		return -time.Duration(d)
	}
	return math.MinInt64
}

// add returns s+d, clamped to the range of stamps of real times.
func (s stamp) add(d time.Duration) stamp {
	r := s + stamp(d)
	if d > 0 && r < s {
		return math.MaxUint64
	}
	if d < 0 && (r > s || r == 0) {
		return 1
	}
	return r
}

// Packet is the compact record of one segment that a flow keeps as
// evidence: a SYN, FIN, RST, ICMP error, or the first and last data.
// It is 40 bytes and holds no pointers.
type Packet struct {
	// Number is the packet number (1-based, as `tcpdump -#`).
	Number int64
	// t is the capture time (see Time).
	t stamp
	// Seq, Ack, Flags, Window and Len are the segment's header fields and
	// payload length.
	Seq, Ack uint32
	Len      int32
	Window   uint16
	// IPID is the IP header's identification.
	IPID  uint16
	Flags capture.Flags
	// TTL is the IP header's TTL (hop limit).
	TTL uint8
	// HasOptions is set when the segment carried TCP options; HasTS when
	// one of them was a timestamp.
	HasOptions, HasTS bool
}

// Time returns the capture timestamp (UTC; the zero time for the zero
// Packet). It keeps nanoseconds for any time between 1678 and 2262.
func (p Packet) Time() time.Time { return p.t.time() }

// Mark returns the packet's number and time.
func (p Packet) Mark() Mark { return Mark{Number: p.Number, t: p.t} }

// Mark is what a flow keeps of a segment when only its place in the
// capture matters: the packet number and the capture time.
type Mark struct {
	// Number is the packet number (1-based; 0 when there is none).
	Number int64
	t      stamp
}

// Time returns the capture timestamp (UTC; the zero time for the zero
// Mark).
func (m Mark) Time() time.Time { return m.t.time() }

// payloadLen narrows a segment's payload length (a segment carries less
// than 2 GiB).
func payloadLen(n int) int32 {
	if n > math.MaxInt32 {
		return math.MaxInt32
	}
	return int32(n)
}

func packetOf(s *capture.Segment, t stamp) Packet {
	return Packet{
		Number: s.Packet, t: t, Seq: s.Seq, Ack: s.Ack, Flags: s.Flags,
		Window: s.Window, Len: payloadLen(s.PayloadLen), HasOptions: s.OptionsLen > 0,
		HasTS: s.Opt.HasTS, TTL: s.TTL, IPID: s.IPID,
	}
}

// inc adds one to a counter, stopping at its maximum.
func inc(n *int32) {
	if *n < math.MaxInt32 {
		*n++
	}
}

// epAddr is an endpoint's address and port without pointers: the 16
// bytes of the address (IPv4 as IPv4-mapped IPv6), the port, and the
// address family. The address's IPv6 zone, which captures never carry,
// is not kept.
type epAddr struct {
	hi, lo uint64
	port   uint16
	// kind is 4 for IPv4, 6 for IPv6, 0 for the zero Addr.
	kind uint8
}

func epAddrOf(ap netip.AddrPort) epAddr { return epAddrFrom(ap.Addr(), ap.Port()) }

// epAddrFrom is epAddrOf without building the netip.AddrPort.
func epAddrFrom(a netip.Addr, port uint16) epAddr {
	if a.Is4() {
		b := a.As4()
		return epAddr{lo: 0xffff<<32 | uint64(binary.BigEndian.Uint32(b[:])), port: port, kind: 4}
	}
	b := a.As16()
	e := epAddr{hi: binary.BigEndian.Uint64(b[:8]), lo: binary.BigEndian.Uint64(b[8:]), port: port}
	if a.Is6() {
		e.kind = 6
	}
	return e
}

func (e epAddr) addrPort() netip.AddrPort {
	var a netip.Addr
	switch e.kind {
	case 4:
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], uint32(e.lo))
		a = netip.AddrFrom4(b)
	case 6:
		var b [16]byte
		binary.BigEndian.PutUint64(b[:8], e.hi)
		binary.BigEndian.PutUint64(b[8:], e.lo)
		a = netip.AddrFrom16(b)
	}
	return netip.AddrPortFrom(a, e.port)
}

// synOpt is what an endpoint keeps of its first SYN's options.
type synOpt struct {
	mss         uint16
	wscale      int8
	sack, hasTS bool
}

// Endpoint is what one side of a flow sent, as seen in the capture.
//
// Packets that few flows have (SYN retransmissions, RSTs, ICMP errors,
// tail retransmissions, a retransmitted last data segment, data after
// the peer's FIN) are kept in a separately allocated part, created on
// first use; methods return them.
type Endpoint struct {
	// The fields up to FIN.Number are the ones a segment's lookup and
	// Flow.add read or write for nearly every segment, of the side that
	// sent it and of its peer. They fill the endpoint's first 120 bytes:
	// two cache lines of a Flow for each endpoint (TestFlowLayout). The
	// rest is read for data, at the handshake, on rare events or at the
	// end.

	// lastNumber, lastT and the other last* fields are what the side
	// keeps of the previous segment it sent (lastSeen is set once there
	// is one): the fields that recognise the same packet captured twice
	// (see isDuplicate), its number and its window. They are not a Packet
	// so that they pack with the fields below.
	lastNumber int64
	lastT      stamp

	// Packets counts segments sent (see also DataPackets).
	Packets int32
	// SYNCount counts the SYN (or SYN-ACK) transmissions (see SYN).
	SYNCount int32
	// TailRetransmits counts retransmissions of the same unacknowledged
	// data at the end of the flow with no answer from the peer in
	// between (see TailFirst and TailLast).
	TailRetransmits int32
	// RSTCount counts this side's RSTs (see RST and LastRST).
	RSTCount int32

	// NextSeq is the highest sequence number sent plus its length
	// (the side's snd_nxt as far as the capture shows); valid when
	// SeqValid.
	NextSeq uint32
	// MaxAck is the highest acknowledgment sent (the side's rcv_nxt);
	// valid when AckValid.
	MaxAck uint32
	// lastSeq, lastAck, lastLen and lastTSVal are the previous segment's
	// sequence and acknowledgment numbers, payload length and timestamp
	// value.
	lastSeq, lastAck, lastTSVal uint32
	lastLen                     int32
	// LastIPID is the IP ID of the last non-RST segment.
	LastIPID uint16
	// lastWindow, lastIPID and lastFlags are the previous segment's
	// window, IP ID and flags (lastIPID, unlike LastIPID, also of a RST).
	lastWindow, lastIPID uint16
	lastFlags            capture.Flags

	// State is the TCP state this side must be in after the last segment.
	State State
	// TTLMin and TTLMax bound the TTL of the side's non-RST segments.
	TTLMin, TTLMax uint8
	// SeqValid is set once NextSeq holds a value; AckValid once MaxAck
	// does.
	SeqValid, AckValid bool
	// UsesTS is set when the side sent timestamps on non-SYN segments.
	UsesTS   bool
	ttlSeen  bool
	lastSeen bool
	// lastHasTS is set when the previous segment carried a timestamp.
	lastHasTS bool
	// lastDataNew is set when the last segment with payload carried new
	// bytes (LastData is LastNewData).
	lastDataNew bool
	synOpt      synOpt

	// Bytes counts the payload bytes sent (retransmissions included).
	Bytes int64

	addr epAddr

	// FIN is this side's first FIN (zero Number when none).
	FIN Packet

	rare *epRare

	// DataPackets counts the segments with payload.
	DataPackets int32
	// Retransmits counts segments that resent bytes already sent.
	Retransmits int32
	// KeepAlives counts keep-alive probes sent.
	KeepAlives int32
	// Duplicates counts segments captured twice (e.g. `-i any` sees a
	// forwarded packet on two interfaces); they are not counted again.
	Duplicates int32

	// FirstData is the first segment with payload; LastNewData the last
	// one that carried new bytes (see also LastData).
	LastNewData, FirstData Packet
	// FINAcked is the first segment of the peer that acknowledged the FIN.
	FINAcked Mark

	// syn is the first SYN (or SYN-ACK) transmission.
	syn Packet
}

// epRare is the part of an Endpoint that few flows need.
type epRare struct {
	// syns are the SYN transmissions after the first, up to MaxSYNs in all.
	syns []Packet
	// rst and lastRST are the first and last RST.
	rst, lastRST Packet
	// lastData is the last segment with payload when it was a
	// retransmission.
	lastData Packet
	// dataAfterPeerFIN is the first segment with new payload sent after
	// the peer's FIN was seen.
	dataAfterPeerFIN Packet
	// tailFirst and tailLast bound the last run of tail retransmissions.
	tailFirst, tailLast Packet
	icmp                *ICMPError
}

func (e *Endpoint) rareState() *epRare {
	if e.rare == nil {
		e.rare = newEpRare()
	}
	return e.rare
}

// newEpRare returns an empty rare state.
func newEpRare() *epRare { return epRares.get() }

// freeEpRare empties r, which nothing may use after, and gives it back.
func freeEpRare(r *epRare) { epRares.put(r) }

// Addr returns the side's address and port.
func (e *Endpoint) Addr() netip.AddrPort { return e.addr.addrPort() }

// ISN returns the initial sequence number (valid when SYNCount > 0).
func (e *Endpoint) ISN() uint32 { return e.syn.Seq }

// SYN returns the side's i-th SYN (or SYN-ACK) transmission, for i below
// min(SYNCount, MaxSYNs); the zero Packet otherwise.
func (e *Endpoint) SYN(i int) Packet {
	switch {
	case i < 0 || i >= int(e.SYNCount):
		return Packet{}
	case i == 0:
		return e.syn
	case e.rare != nil && i-1 < len(e.rare.syns):
		return e.rare.syns[i-1]
	}
	return Packet{}
}

// SYNs returns how many SYN transmissions SYN holds: SYNCount, at most
// MaxSYNs.
func (e *Endpoint) SYNs() int { return int(min(e.SYNCount, MaxSYNs)) }

// SYNOpt returns the options of the first SYN or SYN-ACK: MSS, WScale,
// SACKPermitted and HasTS (the timestamp values and SACK blocks are not
// kept).
func (e *Endpoint) SYNOpt() capture.Options {
	return capture.Options{MSS: e.synOpt.mss, WScale: e.synOpt.wscale, SACKPermitted: e.synOpt.sack, HasTS: e.synOpt.hasTS}
}

// LastData returns the last segment with payload (zero Number when none).
func (e *Endpoint) LastData() Packet {
	if e.lastDataNew {
		return e.LastNewData
	}
	if e.rare != nil {
		return e.rare.lastData
	}
	return Packet{}
}

// LastWindow returns the window of the last segment sent.
func (e *Endpoint) LastWindow() uint16 { return e.lastWindow }

// RST returns this side's first RST (zero Number when none).
func (e *Endpoint) RST() Packet {
	if e.rare != nil {
		return e.rare.rst
	}
	return Packet{}
}

// LastRST returns this side's last RST (zero Number when none).
func (e *Endpoint) LastRST() Packet {
	if e.RSTCount > 1 {
		return e.rare.lastRST
	}
	return e.RST()
}

// DataAfterPeerFIN returns the first segment with new payload sent after
// the peer's FIN was seen (zero Number when none).
func (e *Endpoint) DataAfterPeerFIN() Packet {
	if e.rare != nil {
		return e.rare.dataAfterPeerFIN
	}
	return Packet{}
}

// TailFirst and TailLast return the first and last of the latest run of
// tail retransmissions (see TailRetransmits; zero Number when there was
// none). They stay set after the run ends.
func (e *Endpoint) TailFirst() Packet {
	if e.rare != nil {
		return e.rare.tailFirst
	}
	return Packet{}
}

// TailLast returns the last of the latest run of tail retransmissions
// (see TailFirst).
func (e *Endpoint) TailLast() Packet {
	if e.rare != nil {
		return e.rare.tailLast
	}
	return Packet{}
}

// ICMPError is an ICMP error that quoted a segment of a side.
type ICMPError struct {
	// Packet is the ICMP error's packet (its TCP fields are those of
	// the quoted segment).
	Packet Packet
	// Type and Code are the ICMP type and code; V6 is set for ICMPv6.
	Type, Code uint8
	V6         bool
	// From is the sender of the error.
	From netip.Addr
	// Count counts the ICMP errors that quoted this side's segments.
	Count int
}

// ICMP returns the first ICMP error that quoted a segment of this side
// (with the count of all of them), or nil when there was none.
func (e *Endpoint) ICMP() *ICMPError {
	if e.rare != nil {
		return e.rare.icmp
	}
	return nil
}

// LastPacketNumber is the number of the last segment this side sent.
func (e *Endpoint) LastPacketNumber() int64 { return e.lastNumber }

// Flow is one TCP connection.
//
// State that few connections need (see Endpoint) is allocated on first
// use, so that a Flow stays in Go's 1024-byte size class: at most 1016
// bytes, with the 8-byte header Go puts before it (TestSizes).
type Flow struct {
	// Ep are the endpoints, Ep[Client] and Ep[Server]. They come first:
	// Go puts an 8-byte header before a Flow (an object of more than 512
	// bytes that holds pointers), so a Flow starts 8 bytes into a cache
	// line, and each endpoint's first 120 bytes then fill two lines
	// (TestFlowLayout).
	Ep [2]Endpoint
	// ID orders flows by their first packet (1-based).
	ID int64
	// First and Last are the first and last segments of the flow.
	First, Last Mark
	// HandshakeAck is the client's first ACK of the server's SYN-ACK.
	HandshakeAck Mark
	// Seq is Wireshark's per-segment analysis of the flow; nil when the
	// table runs with Config.NoSeqAnalysis. It is allocated for the
	// flow's first segment and reused with the flow (see Table.Release).
	Seq *SeqAnalysis
	// Zeek is Zeek's connection state machine for the flow.
	Zeek ZeekConn

	rare *flowRare

	// BadChecksums counts segments with a wrong TCP checksum.
	BadChecksums int32
	// SynAckAfterAck counts SYN-ACK retransmissions sent after the
	// client had acknowledged the SYN-ACK (the server ignored the ACK);
	// FirstSynAckAfterAck returns the first of them.
	SynAckAfterAck int32
	// ClientSegsIgnored counts the client's segments after its handshake
	// ACK while the server had sent nothing but SYN-ACKs since (a server
	// whose accept queue is full drops each of them).
	ClientSegsIgnored int32

	// RolesGuessed is set when no SYN told which side is the client.
	RolesGuessed bool
	// Reused is set when the flow began by reusing the 4-tuple of an
	// earlier flow (a new SYN with a new ISN).
	Reused bool
	// IPv6 is set for an IPv6 flow.
	IPv6 bool
	// ClientDataIgnored is set when the client sent data after the
	// handshake that the server neither acknowledged nor answered before
	// retransmitting its SYN-ACK.
	ClientDataIgnored bool
	// ServerSpoke is set once the server sent a segment other than a
	// SYN-ACK after the client's handshake ACK.
	ServerSpoke bool
	// Evicted is set when the flow was decided early because the table
	// was full.
	Evicted bool
	// aIsClient records whether endpoint A (the first sender) is the client.
	aIsClient bool
	done      bool
	list      uint8  // which idle list holds the flow
	listed    bool   // whether it is in one
	link      uint32 // its index in Table.links and Table.linked while in the table
	// decided is set once the flow went to OnDone; released once the
	// caller gave it back (Table.Release).
	decided, released bool
}

// flowRare is the part of a Flow that few flows need.
type flowRare struct {
	firstSynAckAfterAck Packet
	challengeACK        Packet
}

func (f *Flow) rareState() *flowRare {
	if f.rare == nil {
		f.rare = flowRares.get()
	}
	return f.rare
}

// Client returns the client endpoint.
func (f *Flow) Client() *Endpoint { return &f.Ep[Client] }

// Server returns the server endpoint.
func (f *Flow) Server() *Endpoint { return &f.Ep[Server] }

// Packets counts the flow's segments (both sides' Packets).
func (f *Flow) Packets() int { return int(f.Ep[Client].Packets) + int(f.Ep[Server].Packets) }

// HandshakeSeen reports whether the client's SYN was seen.
func (f *Flow) HandshakeSeen() bool { return f.Ep[Client].SYNCount > 0 && !f.RolesGuessed }

// SynAckSeen reports whether the server answered with a SYN-ACK.
func (f *Flow) SynAckSeen() bool { return f.Ep[Server].SYNCount > 0 }

// FirstSynAckAfterAck returns the first SYN-ACK retransmission sent after
// the client's handshake ACK (zero Number when none; see SynAckAfterAck).
func (f *Flow) FirstSynAckAfterAck() Packet {
	if f.rare != nil {
		return f.rare.firstSynAckAfterAck
	}
	return Packet{}
}

// ChallengeACK returns the pure ACK sent right after a RST that was not
// exact (RFC 5961): the RST did not take effect (zero Number when none).
func (f *Flow) ChallengeACK() Packet {
	if f.rare != nil {
		return f.rare.challengeACK
	}
	return Packet{}
}

// DirOf returns the index (Client or Server) of the endpoint with address a.
func (f *Flow) DirOf(a netip.AddrPort) int { return f.dirOf(epAddrOf(a)) }

func (f *Flow) dirOf(a epAddr) int {
	if f.Ep[Client].addr == a {
		return Client
	}
	return Server
}

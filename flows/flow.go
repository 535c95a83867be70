package flows

import (
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

// Packet is the compact record of one segment that a flow keeps as
// evidence: a SYN, FIN, RST, ICMP error, or the first and last data.
type Packet struct {
	// Number is the packet number (1-based, as `tcpdump -#`).
	Number int64
	// Time is the capture timestamp.
	Time time.Time
	// Seq, Ack, Flags, Window and Len are the segment's header fields and
	// payload length.
	Seq, Ack uint32
	Flags    capture.Flags
	Window   uint16
	Len      int
	// HasOptions is set when the segment carried TCP options; HasTS when
	// one of them was a timestamp.
	HasOptions, HasTS bool
	// TSVal is the timestamp option's value (when HasTS).
	TSVal uint32
	// TTL and IPID are the IP header's TTL (hop limit) and identification.
	TTL  uint8
	IPID uint16
}

func packetOf(s *capture.Segment) Packet {
	return Packet{
		Number: s.Packet, Time: s.Time, Seq: s.Seq, Ack: s.Ack, Flags: s.Flags,
		Window: s.Window, Len: s.PayloadLen, HasOptions: s.OptionsLen > 0,
		HasTS: s.Opt.HasTS, TSVal: s.Opt.TSVal, TTL: s.TTL, IPID: s.IPID,
	}
}

// Endpoint is what one side of a flow sent, as seen in the capture.
type Endpoint struct {
	// Addr is the side's address and port.
	Addr netip.AddrPort
	// State is the TCP state this side must be in after the last segment.
	State State

	// Packets counts segments sent; DataPackets those with payload;
	// Bytes the payload bytes (retransmissions included).
	Packets, DataPackets int
	Bytes                int64

	// SYNs are this side's SYN (or SYN-ACK) transmissions, the first
	// MaxSYNs of them; SYNCount counts all.
	SYNs     [MaxSYNs]Packet
	SYNCount int
	// ISN is the initial sequence number (valid when SYNCount > 0).
	ISN uint32
	// SYNOpt are the options of the first SYN or SYN-ACK.
	SYNOpt capture.Options

	// SeqValid is set once NextSeq holds a value.
	SeqValid bool
	// NextSeq is the highest sequence number sent plus its length
	// (the side's snd_nxt as far as the capture shows).
	NextSeq uint32
	// AckValid is set once MaxAck holds a value.
	AckValid bool
	// MaxAck is the highest acknowledgment sent (the side's rcv_nxt).
	MaxAck uint32
	// LastWindow is the window of the last segment sent.
	LastWindow uint16
	// UsesTS is set when the side sent timestamps on non-SYN segments.
	UsesTS bool

	// FirstData and LastData are the first and last segments with
	// payload; LastNewData the last one that carried new bytes.
	FirstData, LastData, LastNewData Packet
	// DataAfterPeerFIN is the first segment with new payload sent after
	// the peer's FIN was seen (zero Number when none).
	DataAfterPeerFIN Packet
	// FIN is this side's first FIN (zero Number when none).
	FIN Packet
	// FINAcked is the first segment of the peer that acknowledged the FIN.
	FINAcked Packet
	// RST is this side's first RST (zero Number when none); RSTCount counts all.
	RST      Packet
	RSTCount int
	// LastRST is this side's last RST.
	LastRST Packet

	// Retransmits counts segments that resent bytes already sent.
	Retransmits int
	// TailRetransmits counts retransmissions of the same unacknowledged
	// data at the end of the flow with no answer from the peer in
	// between; TailFirst and TailLast are the first and last of them.
	TailRetransmits     int
	TailFirst, TailLast Packet
	// KeepAlives counts keep-alive probes sent.
	KeepAlives int

	// TTLMin and TTLMax bound the TTL of the side's non-RST segments;
	// LastIPID is the IP ID of the last of them.
	TTLMin, TTLMax uint8
	LastIPID       uint16
	ttlSeen        bool

	// ICMP is the first ICMP error that quoted a segment of this side.
	ICMP       Packet
	ICMPType   uint8
	ICMPCode   uint8
	ICMPv6     bool
	ICMPFrom   netip.Addr
	ICMPCount  int
	lastNumber int64
	// last is the previous segment this side sent, to recognise the
	// same packet captured twice.
	last     Packet
	lastSeen bool
	// Duplicates counts segments captured twice (e.g. `-i any` sees a
	// forwarded packet on two interfaces); they are not counted again.
	Duplicates int
}

// Flow is one TCP connection.
type Flow struct {
	// ID orders flows by their first packet (1-based).
	ID int64
	// Ep are the endpoints, Ep[Client] and Ep[Server].
	Ep [2]Endpoint
	// RolesGuessed is set when no SYN told which side is the client.
	RolesGuessed bool
	// First and Last are the first and last segments of the flow.
	First, Last Packet
	// Packets counts the segments.
	Packets int
	// BadChecksums counts segments with a wrong TCP checksum.
	BadChecksums int
	// Reused is set when the flow began by reusing the 4-tuple of an
	// earlier flow (a new SYN with a new ISN).
	Reused bool
	// IPv6 is set for an IPv6 flow.
	IPv6 bool
	// Evidence keeps notable packets beyond the per-endpoint ones (SYN-ACK
	// retransmissions after the client's ACK, challenge ACKs, ...).
	Notes []Note
	// Seq is Wireshark's per-segment analysis of the flow.
	Seq SeqAnalysis
	// Zeek is Zeek's connection state machine for the flow.
	Zeek ZeekConn

	// HandshakeAck is the client's first ACK of the server's SYN-ACK.
	HandshakeAck Packet
	// SynAckAfterAck counts SYN-ACK retransmissions sent after the
	// client had acknowledged the SYN-ACK (the server ignored the ACK).
	SynAckAfterAck int
	// FirstSynAckAfterAck is the first of those.
	FirstSynAckAfterAck Packet
	// ClientDataIgnored is set when the client sent data after the
	// handshake that the server neither acknowledged nor answered before
	// retransmitting its SYN-ACK.
	ClientDataIgnored bool
	// ClientSegsIgnored counts the client's segments after its handshake
	// ACK while the server had sent nothing but SYN-ACKs since (a server
	// whose accept queue is full drops each of them).
	ClientSegsIgnored int
	// ServerSpoke is set once the server sent a segment other than a
	// SYN-ACK after the client's handshake ACK.
	ServerSpoke bool
	// ChallengeACK is a pure ACK sent right after a RST that was not
	// exact (RFC 5961): the RST did not take effect.
	ChallengeACK Packet

	// Evicted is set when the flow was decided early because the table
	// was full.
	Evicted bool
	// aIsClient records whether endpoint A (the first sender) is the client.
	aIsClient bool
	done      bool
	key       flowKey
	prev      *Flow // idle order: least recently active first
	next      *Flow
	list      int  // which idle list holds the flow
	listed    bool // whether it is in one
}

// Note is a packet of interest with a short tag.
type Note struct {
	Tag    string
	Dir    int
	Packet Packet
}

// MaxNotes bounds Flow.Notes.
const MaxNotes = 16

func (f *Flow) note(tag string, dir int, p Packet) {
	if len(f.Notes) < MaxNotes {
		f.Notes = append(f.Notes, Note{Tag: tag, Dir: dir, Packet: p})
	}
}

// Client returns the client endpoint.
func (f *Flow) Client() *Endpoint { return &f.Ep[Client] }

// Server returns the server endpoint.
func (f *Flow) Server() *Endpoint { return &f.Ep[Server] }

// HandshakeSeen reports whether the client's SYN was seen.
func (f *Flow) HandshakeSeen() bool { return f.Ep[Client].SYNCount > 0 && !f.RolesGuessed }

// SynAckSeen reports whether the server answered with a SYN-ACK.
func (f *Flow) SynAckSeen() bool { return f.Ep[Server].SYNCount > 0 }

// DirOf returns the index (Client or Server) of the endpoint with address a.
func (f *Flow) DirOf(a netip.AddrPort) int {
	if f.Ep[Client].Addr == a {
		return Client
	}
	return Server
}

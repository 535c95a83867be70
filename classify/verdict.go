// Package classify turns a flow's history into one headline verdict with
// its evidence, the kernel's reason for any RST, Zeek's conn_state and
// history, and the counter deltas each host's nstat should show; and it
// aggregates flows per listener (server ip:port) and per host.
//
// Verdict names are a contract (DOMAIN.md's vocabulary): the JSON output
// and the tests use these exact strings.
package classify

import (
	"net/netip"
	"time"
)

// Verdict is a flow's headline outcome.
type Verdict string

// The verdict vocabulary.
const (
	GracefulClose  Verdict = "graceful-close"
	HalfClose      Verdict = "half-close"
	Open           Verdict = "open"
	NoListener     Verdict = "no-listener"
	Unreachable    Verdict = "unreachable"
	SynTimeout     Verdict = "syn-timeout"
	Overflow       Verdict = "overflow"
	Abort          Verdict = "abort"
	EarlyClose     Verdict = "early-close"
	DataAfterClose Verdict = "data-after-close"
	NoSocket       Verdict = "no-socket"
	Timeout        Verdict = "timeout"
	UnknownReset   Verdict = "unknown-reset"
	Midstream      Verdict = "midstream"
)

// Verdicts lists every verdict in the order reports print them.
var Verdicts = []Verdict{GracefulClose, HalfClose, Open, NoListener, Unreachable, SynTimeout, Overflow,
	Abort, EarlyClose, DataAfterClose, NoSocket, Timeout, UnknownReset, Midstream}

// Failing reports whether the verdict is a failure worth a line in the
// summary (everything but a clean close, a half-close, an open flow and
// midstream traffic).
func (v Verdict) Failing() bool {
	switch v {
	case GracefulClose, HalfClose, Open, Midstream:
		return false
	}
	return true
}

// Side names a flow's side in reports.
type Side string

// Sides.
const (
	SideClient Side = "client"
	SideServer Side = "server"
	SideBoth   Side = "both"
)

// Reset describes the RST that decided a flow.
type Reset struct {
	// By is the side that sent it.
	By Side
	// Generator is "passive" (the kernel answered a segment it had no
	// place for: window 0, no options) or "active" (a socket aborted:
	// seq=snd_nxt, a normal window, timestamps).
	Generator string
	// Reason is the kernel's sk_rst_reason name (NO_SOCKET,
	// TCP_ABORT_ON_CLOSE, ...), empty when it cannot be told.
	Reason string
	// Accepted is set when the receiver took the RST (exact sequence
	// number, or an acceptable ACK in SYN_SENT); false when it was
	// challenged or out of window.
	Accepted bool
	// Packet is the RST's packet number.
	Packet int64
	// InjectedSuspect is set when the RST's TTL (hop limit) or IP ID does
	// not fit the claimed sender's other packets: a middlebox or an
	// injector sent it (nil when it fits, or nothing to compare with).
	InjectedSuspect *Injected
}

// Counters maps nstat counter names to deltas (only non-zero ones).
type Counters map[string]int

// Add adds n to counter name.
func (c Counters) Add(name string, n int) {
	if n != 0 {
		c[name] += n
	}
}

// Annotation is a line printed under a packet.
type Annotation struct {
	// Packet is the packet number the annotation belongs to.
	Packet int64
	// Text is the annotation, without the leading "^ ".
	Text string
}

// SYNSchedule describes a sequence of SYN (re)transmissions.
type SYNSchedule struct {
	// Gaps are the seconds between successive transmissions.
	Gaps []float64
	// Matches names the kernel retransmit schedules the gaps fit:
	// "linux>=6.5", "linux-3.1..6.4", "linux<3.1", or empty.
	Matches []string
	// GiveUp is the seconds after the first SYN at which connect() fails
	// with default settings for the first matching schedule (0: unknown).
	GiveUp float64
}

// FlowResult is one classified flow: the contract the renderers read.
type FlowResult struct {
	// ID orders flows by their first packet.
	ID int64
	// Client and Server are the endpoints (client = SYN sender).
	Client, Server netip.AddrPort
	// RolesGuessed is set when no SYN showed who the client is.
	RolesGuessed bool
	// IPv6 is set for IPv6 flows.
	IPv6 bool
	// Verdict is the headline.
	Verdict Verdict
	// SYNRetransmits and SYNACKRetransmits count retransmitted SYNs and SYN-ACKs.
	SYNRetransmits, SYNACKRetransmits int
	// SYN describes the client's SYN schedule (nil without retransmits).
	SYN *SYNSchedule
	// SYNACKGaps are the seconds between the server's SYN-ACKs.
	SYNACKGaps []float64
	// HandshakeRTT is the time from the answered SYN to the client's
	// handshake ACK, seconds (negative: unknown).
	HandshakeRTT float64
	// FirstFINBy is who sent the first FIN ("" when none).
	FirstFINBy Side
	// Reset is the deciding RST (nil when none).
	Reset *Reset
	// ZeekState and ZeekHistory are Zeek's conn_state and history.
	ZeekState, ZeekHistory string
	// ClientCounters and ServerCounters are the predicted nstat deltas.
	ClientCounters, ServerCounters Counters
	// FirstPacket and LastPacket bound the flow's packets.
	FirstPacket, LastPacket int64
	// Start and End are the times of the first and last packet.
	Start, End time.Time
	// ClientPackets, ServerPackets, ClientBytes, ServerBytes count what
	// each side sent.
	ClientPackets, ServerPackets int
	ClientBytes, ServerBytes     int64
	// Evidence lists the decisive packet numbers.
	Evidence []int64
	// Explanation is one sentence a person can paste into a ticket.
	Explanation string
	// Annotations are printed under the packets they name.
	Annotations []Annotation
	// Notes are extra remarks (ambiguities, bad checksums, guesses).
	Notes []string
	// Evicted is set when the flow was decided early because the flow
	// table was full.
	Evicted bool
	// SynDropsSeen counts the client's SYNs that went unanswered
	// (used by the listener diagnosis).
	SynDropsSeen int
	// OverflowDrops estimates the client segments the server dropped
	// because its accept queue was full.
	OverflowDrops int
	// HandshakeDone is the time the client completed the handshake (zero if never).
	HandshakeDone time.Time
	// ClosedAt is the time of the flow's first FIN or RST (zero if none).
	ClosedAt time.Time
	// ServerFirstResponse is the time the server first sent data or
	// acknowledged client data after the handshake (zero if never).
	ServerFirstResponse time.Time

	// hints are the wire details the listener diagnosis needs beyond the
	// fields above (SYN cookie signs, SYN-ACK time, TTLs).
	hints flowHints
	// spareEvidence and spareAnnotations are the arrays Evidence and
	// Annotations were last appended to, which the next flow classified
	// into the same FlowResult reuses (Options.ReuseResults).
	spareEvidence    []int64
	spareAnnotations []Annotation
	// histories holds the Zeek histories of the flows classified into a
	// reused FlowResult (nil otherwise), each string once.
	histories map[string]string
	// noAnnotations skips the annotations (Options.NoAnnotations).
	noAnnotations bool
}

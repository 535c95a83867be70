package flows

import (
	"time"

	"github.com/tcpwhy/tcpwhy/capture"
)

// This file emulates Zeek's TCP analyzer (zeek/zeek
// src/packet_analysis/protocol/tcp/TCPSessionAdapter.cc and
// src/analyzer/protocol/tcp/TCP_Endpoint.cc, TCP_Reassembler.cc) closely
// enough to reproduce the conn_state and history columns of conn.log, and
// the session manager's decisions to start a new connection on the same
// 5-tuple (IsReuse and the connection timers).
//
// The emulation follows the C++ in order: per segment it updates the
// endpoint sequence bookkeeping, the history, the endpoint state machine
// and a minimal reassembler that only tracks which sequence ranges were
// seen, which is what Zeek's content-gap ('g') letter depends on.

// zeekState is a TCP endpoint state of Zeek's analyzer (TCP_ENDPOINT_*).
type zeekState uint8

const (
	zeekInactive zeekState = iota
	zeekSynSent
	zeekSynAckSent
	zeekPartial
	zeekEstablished
	zeekClosed
	zeekReset
)

// Zeek's tunables (init-bare.zeek defaults), in seconds.
const (
	zeekAttemptDelay      = 5 * time.Second // tcp_attempt_delay
	zeekSYNTimeout        = 5 * time.Second // tcp_SYN_timeout
	zeekSessionTimer      = 6 * time.Second // tcp_session_timer
	zeekConnectionLinger  = 5 * time.Second // tcp_connection_linger
	zeekCloseDelay        = 5 * time.Second // tcp_close_delay
	zeekHandshakeInactive = 1 * time.Minute // udp_inactivity_timeout, set by MakeSessionAdapter
	zeekTCPInactive       = 5 * time.Minute // tcp_inactivity_timeout
	zeekTooLargeSeqDelta  = 1048576         // TOO_LARGE_SEQ_DELTA
	zeekHistMax           = 32              // history bytes kept
	zeekMaxBlocks         = 8               // out-of-order ranges kept per endpoint
	zeekRespShift         = 16              // hist_seen shift for the responder
	zeekHistSYN           = 0x1             // HIST_SYN_PKT
	zeekHistFIN           = 0x2             // HIST_FIN_PKT
	zeekHistRST           = 0x4             // HIST_RST_PKT
	zeekHistFINRST        = 0x8             // HIST_FIN_RST_PKT
	zeekHistData          = 0x10            // HIST_DATA_PKT
	zeekHistACK           = 0x20            // HIST_ACK_PKT
	zeekHistMulti         = 0x40            // HIST_MULTI_FLAG_PKT
	zeekMaxInitialWindow  = 16384           // tcp_max_initial_window
	zeekLowerCase         = 'a' - 'A'       // ASCII case offset
	zeekNoTime            = int64(-1 << 62) // unset timer
)

// zeekBlock is a received, not yet contiguous, range of relative sequence
// numbers [lo, hi).
type zeekBlock struct{ lo, hi uint64 }

// Zeek's logarithmic history counters (Connection::ScaledHistoryEntry),
// indexing zeekEndpoint.scaledCnt.
const (
	zeekChk  = iota // 'C': bad checksums
	zeekGap         // 'G': content gaps
	zeekRxmt        // 'T': retransmissions
	zeekWin0        // 'W': zero windows
	zeekNumScaled
)

// zeekThresholds are the successive thresholds of a scaled counter:
// powers of ten as Zeek's uint32 arithmetic computes them (1e10 wraps to
// 1410065408, and the next step wraps below it, which stops the growth).
var zeekThresholds = [...]uint32{1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 10_000_000_000 % (1 << 32)}

// zeekEndpoint is the per-direction state (TCP_Endpoint plus its
// TCP_Reassembler), indexed by side (A or B), not by role.
type zeekEndpoint struct {
	histLastSYN uint64
	histLastFIN uint64
	histLastRST uint64
	finSeq      uint64

	// Reassembler: last_reassem_seq, trim_seq and out-of-order blocks
	// (allocated when the first one arrives).
	reassem, trim uint64
	blocks        *[zeekMaxBlocks]zeekBlock

	startSeq        uint32
	lastSeq, ackSeq uint32
	seqWraps        uint32
	ackWraps        uint32

	// scaledCnt counts the events of each scaled counter (see scaled:
	// zeekScaledWrapped marks a count restarted after the last
	// threshold).
	scaledCnt [zeekNumScaled]uint32

	state, prevState zeekState
	// bits holds zeekFINSeen, zeekDidClose and zeekFirstSeen (bits, not
	// bools, keep the endpoint at 96 bytes).
	bits    uint8
	nblocks uint8
}

// zeekEndpoint.bits.
const (
	zeekFINSeen   = 1 << iota // a FIN was seen (finSeq is valid)
	zeekDidClose              // did_close
	zeekFirstSeen             // first_packet_seen bit of this side
)

// finSeen reports whether the endpoint sent a FIN (finSeq is valid).
func (ep *zeekEndpoint) finSeen() bool { return ep.bits&zeekFINSeen != 0 }

// didClose is TCP_Endpoint::did_close.
func (ep *zeekEndpoint) didClose() bool { return ep.bits&zeekDidClose != 0 }

// firstSeen reports whether the endpoint's first packet was seen.
func (ep *zeekEndpoint) firstSeen() bool { return ep.bits&zeekFirstSeen != 0 }

// ZeekConn follows one TCP connection the way Zeek's TCP analyzer does and
// derives Zeek's conn.log conn_state and history.
//
// The zero value is ready to use. Observe allocates only for a side that
// sends data beyond a hole (the out-of-order ranges). A ZeekConn
// describes one Zeek connection: when Reuse or Expired report that Zeek
// would start a new connection, start a new ZeekConn. It must not be
// copied after the first Observe.
type ZeekConn struct {
	ep [2]zeekEndpoint // [0] is A, [1] is B

	// Timers, as Unix nanoseconds (zeekNoTime when unset).
	startTime   int64
	lastTime    int64 // Connection::last_time
	lastPkt     int64 // time of the last segment observed
	attemptAt   int64 // AttemptTimer
	deleteAt    int64 // DeleteTimer / ConnDeleteTimer after a complete close
	expireBase2 int64 // extra ExpireTimer chain started by a half close

	histSeen uint32
	hist     [zeekHistMax]byte
	nhist    uint8

	flipped   bool // true when B is the originator
	started   bool
	partial   bool // is_partial
	checksums bool // emulate Zeek without -C (drop bad checksums, 'C')
	canceled  bool // CancelTimers was called
	// tcpInactive is set once the handshake ended: the inactivity
	// timeout is tcp_inactivity_timeout instead of the handshake's.
	tcpInactive bool
}

// inactivity returns the inactivity timeout in ns.
func (z *ZeekConn) inactivity() int64 {
	if z.tcpInactive {
		return int64(zeekTCPInactive)
	}
	return int64(zeekHandshakeInactive)
}

// Observe feeds one segment. fromA is true when the segment was sent by
// endpoint A, the sender of the first segment the connection saw.
func (z *ZeekConn) Observe(fromA bool, seg *capture.Segment) {
	if seg == nil || seg.Kind != capture.KindTCP || seg.HeaderTruncated {
		return
	}
	z.observe(fromA, seg, seg.Time.UnixNano())
}

// observe is Observe with the segment's time t in Unix nanoseconds.
func (z *ZeekConn) observe(fromA bool, seg *capture.Segment, t int64) {
	if seg.Kind != capture.KindTCP || seg.HeaderTruncated {
		return
	}
	if !z.started {
		z.start(fromA, seg, t)
	}
	if z.attemptAt != zeekNoTime && t >= z.attemptAt {
		// The attempt timer fired before this segment; the caller's
		// Expired check saw whether it removed the connection.
		z.attemptAt = zeekNoTime
	}
	z.lastPkt = t
	side := 1
	if fromA {
		side = 0
	}
	isOrig := z.isOrig(side)
	ep := &z.ep[side]
	peer := &z.ep[1-side]

	if z.checksums && seg.Checksum == capture.ChecksumBad {
		// TCPAnalyzer::ValidateChecksum: the packet is dropped after
		// recording a (scaled) 'C'.
		z.scaled(isOrig, 'C', ep, zeekChk)
		return
	}

	flags := seg.Flags
	syn, fin, rst, ack := flags&capture.SYN != 0, flags&capture.FIN != 0, flags&capture.RST != 0, flags&capture.ACK != 0
	length := seg.PayloadLen
	if length < 0 {
		length = 0
	}

	// A connection that began with an unflipped SYN-ACK is flipped on the
	// first ACK or data segment that follows (zeek/zeek#2191).
	if !syn && !rst && (ack || length > 0) && z.flipAfterSynAck() {
		isOrig = z.isOrig(side)
	}

	z.setPartialStatus(flags, isOrig)

	segLen := uint32(length)
	if syn {
		segLen++
	}
	if fin {
		segLen++
	}
	if rst {
		segLen -= uint32(length)
	}
	baseSeq := seg.Seq
	onePast := baseSeq + segLen

	zeekInitEndpoint(ep, syn, baseSeq, onePast)

	relSeq, underflow := zeekRelSeq(ep, baseSeq, ep.lastSeq, ep.seqWraps)

	z.updateHistory(isOrig, ep, syn, fin, rst, ack, relSeq, uint64(length))

	// update_window: only the zero-window letter matters here.
	if seg.Window == 0 && !rst && peer.state != zeekClosed && ep.state != zeekReset {
		z.scaled(isOrig, 'W', ep, zeekWin0)
	}

	if !ep.didClose() || !peer.didClose() {
		z.lastTime = t
	}

	if fin {
		ep.bits |= zeekFINSeen
		ep.finSeq = relSeq + uint64(segLen)
	}

	var relAck uint64
	if ack {
		if peer.state == zeekInactive {
			relAck = 1
			peer.startSeq = seg.Ack - 1
			peer.ackSeq = seg.Ack - 1
			peer.lastSeq = seg.Ack - 1
		} else {
			var under bool
			relAck, under = zeekRelSeq(peer, seg.Ack, peer.ackSeq, peer.ackWraps)
			if under {
				relAck = 0
			} else if !rst {
				d := int32(seg.Ack - peer.ackSeq)
				if !(seg.Ack == 0 && d > zeekTooLargeSeqDelta) && d > 0 {
					if seg.Ack < peer.ackSeq {
						peer.ackWraps++
					}
					peer.ackSeq = seg.Ack
				}
			}
		}
	}

	z.updateLastSeq(isOrig, ep, onePast, syn, fin, rst, length)

	doClose, _ := z.updateStateMachine(t, side, baseSeq, length, syn, fin, rst, ack)

	if ack {
		z.ackReceived(peer, relAck)
	}

	// CheckPIA_FirstPacket.
	ep.bits |= zeekFirstSeen

	if length > 0 && !seg.PayloadInferred && !rst && !underflow {
		dataSeq := relSeq
		if syn {
			dataSeq++
		}
		z.dataSent(ep, peer, dataSeq, uint64(length))
	}

	if doClose {
		z.connectionClosed(side, t)
	}
}

// start sets up the connection for its first segment: NewConn with
// WantConnection's flip decision.
func (z *ZeekConn) start(fromA bool, seg *capture.Segment, t int64) {
	z.started = true
	z.startTime = t
	z.lastTime = t
	z.attemptAt = zeekNoTime
	z.deleteAt = zeekNoTime
	z.expireBase2 = zeekNoTime
	syn := seg.Flags&capture.SYN != 0
	ack := seg.Flags&capture.ACK != 0
	flip := false
	if !syn || ack {
		src, dst := seg.SrcPort, seg.DstPort
		if zeekLikelyServerPort(src) {
			if zeekLikelyServerPort(dst) {
				flip = !syn && src < dst
			} else {
				flip = true
			}
		}
	}
	if flip && !zeekBroadcast(seg) {
		// The first segment's sender (side A when fromA) becomes the
		// responder.
		z.flipped = fromA
		z.addHistory('^')
	} else {
		z.flipped = !fromA
	}
}

// zeekBroadcast reports whether the segment is sent to the limited
// broadcast address (NewConn does not flip those).
func zeekBroadcast(seg *capture.Segment) bool {
	return seg.Dst.Is4() && seg.Dst.As4() == [4]byte{255, 255, 255, 255}
}

// isOrig reports whether the endpoint on side (0 = A) is the originator.
func (z *ZeekConn) isOrig(side int) bool { return (side == 0) != z.flipped }

// origSide returns the side index of the originator.
func (z *ZeekConn) origSide() int {
	if z.flipped {
		return 1
	}
	return 0
}

// OrigIsA reports whether Zeek considers A the originator (false when Zeek
// flipped the connection, e.g. first packet was a SYN-ACK).
func (z *ZeekConn) OrigIsA() bool { return !z.flipped }

// History returns Zeek's history string (with '^' when flipped).
func (z *ZeekConn) History() string { return string(z.hist[:z.nhist]) }

// AppendHistory appends Zeek's history string to b and returns it.
func (z *ZeekConn) AppendHistory(b []byte) []byte { return append(b, z.hist[:z.nhist]...) }

// ConnState returns Zeek's conn_state (S0, S1, SF, REJ, S2, S3, RSTO, RSTR,
// RSTOS0, RSTRH, SH, SHR, OTH), as base/protocols/conn/main.zeek derives it
// from the two endpoint states.
func (z *ZeekConn) ConnState() string {
	o := &z.ep[z.origSide()]
	r := &z.ep[1-z.origSide()]
	os, rs := o.state, r.state
	oInactive := os == zeekInactive || os == zeekPartial
	rInactive := rs == zeekInactive || rs == zeekPartial
	switch {
	case rs == zeekReset:
		if os == zeekSynSent || os == zeekSynAckSent ||
			(os == zeekReset && z.size(o, r) == 0 && z.size(r, o) == 0) {
			return "REJ"
		}
		if oInactive {
			return "RSTRH"
		}
		return "RSTR"
	case os == zeekReset:
		if rInactive {
			if zeekRSTOS0History(z.hist[:z.nhist]) {
				return "RSTOS0"
			}
			return "OTH"
		}
		return "RSTO"
	case rs == zeekClosed && os == zeekClosed:
		return "SF"
	case os == zeekClosed:
		if rInactive {
			return "SH"
		}
		return "S2"
	case rs == zeekClosed:
		if oInactive {
			return "SHR"
		}
		return "S3"
	case os == zeekSynSent && rs == zeekInactive:
		return "S0"
	case os == zeekEstablished && rs == zeekEstablished:
		return "S1"
	}
	return "OTH"
}

// zeekRSTOS0History reports whether h matches /^\^?S[^HAFGIQ]*R.*$/.
func zeekRSTOS0History(h []byte) bool {
	if len(h) > 0 && h[0] == '^' {
		h = h[1:]
	}
	if len(h) == 0 || h[0] != 'S' {
		return false
	}
	for _, c := range h[1:] {
		switch c {
		case 'R':
			return true
		case 'H', 'A', 'F', 'G', 'I', 'Q':
			return false
		}
	}
	return false
}

// Reuse reports whether Zeek would end this connection and start a new one
// for seg (TCPSessionAdapter::IsReuse): a SYN, or a SYN-ACK on a
// connection whose originator never spoke, that either arrives after one
// side closed or carries an initial sequence number other than the one the
// connection started with.
func (z *ZeekConn) Reuse(fromA bool, seg *capture.Segment) bool {
	if !z.started || seg == nil || seg.Kind != capture.KindTCP || seg.HeaderTruncated {
		return false
	}
	if seg.Flags&capture.SYN == 0 {
		return false
	}
	orig := &z.ep[z.origSide()]
	resp := &z.ep[1-z.origSide()]
	connOrig := orig
	if seg.Flags&capture.ACK != 0 {
		if orig.state != zeekInactive {
			return false
		}
		connOrig = resp
	}
	if orig.didClose() || resp.didClose() {
		return true
	}
	if seg.Seq == connOrig.startSeq {
		return false
	}
	if seg.Flags&capture.ACK == 0 && connOrig.state == zeekSynAckSent &&
		resp.state == zeekInactive && seg.Seq == resp.startSeq {
		return false
	}
	return true
}

// Expired reports whether Zeek's timers would have removed the connection
// by network time now (attempt timer, close delay, inactivity timeout and
// the linger check of ExpireTimer). Zeek runs the timers that are due
// before it processes a packet, so to decide whether a segment starts a new
// connection pass the segment's own timestamp.
func (z *ZeekConn) Expired(now time.Time) bool {
	if !z.started {
		return false
	}
	return z.expired(now.UnixNano())
}

// expired is Expired with the time in Unix nanoseconds.
func (z *ZeekConn) expired(n int64) bool {
	if !z.started {
		return false
	}
	if n < z.lastPkt {
		return false
	}
	if z.deleteAt != zeekNoTime && n >= z.deleteAt {
		return true
	}
	if z.canceled {
		return false
	}
	orig := &z.ep[z.origSide()]
	resp := &z.ep[1-z.origSide()]
	if z.attemptAt != zeekNoTime && n >= z.attemptAt &&
		(orig.state == zeekSynSent || orig.state == zeekSynAckSent) && resp.state == zeekInactive {
		return true
	}
	// The inactivity timer re-arms itself at last_time+timeout and the
	// re-armed timer runs only after the packet that made it due, so a
	// packet exactly timeout after the last one still belongs to the
	// connection (zeek core.tcp.rxmit-history retransmit-timeout).
	if n > z.lastTime+z.inactivity() {
		return true
	}
	// ExpireTimer fires at start+tcp_SYN_timeout and then every
	// tcp_session_timer; a half close adds a second chain.
	if z.expireFires(z.startTime+int64(zeekSYNTimeout), n) || z.expireFires(z.expireBase2, n) {
		return true
	}
	return false
}

// expireFires reports whether an ExpireTimer chain starting at base fires
// in [lastPkt, now] at a time when its removal condition holds.
func (z *ZeekConn) expireFires(base, now int64) bool {
	if base == zeekNoTime {
		return false
	}
	orig := &z.ep[z.origSide()]
	resp := &z.ep[1-z.origSide()]
	remove := false
	if orig.didClose() || resp.didClose() {
		remove = (orig.didClose() && resp.didClose()) ||
			orig.state == zeekReset || resp.state == zeekReset ||
			orig.state == zeekInactive || resp.state == zeekInactive
	}
	if !remove && resp.state == zeekInactive && orig.state == zeekInactive {
		remove = true
	}
	if !remove {
		return false
	}
	// First firing time T >= max(lastPkt, lastTime+linger+1ns) on the chain.
	from := z.lastPkt
	if m := z.lastTime + int64(zeekConnectionLinger) + 1; m > from {
		from = m
	}
	step := int64(zeekSessionTimer)
	T := base
	if T < from {
		k := (from - base + step - 1) / step
		T = base + k*step
	}
	return T <= now
}

// validateChecksums makes the connection emulate Zeek run without -C:
// segments with a bad TCP checksum are dropped and counted as 'C'/'c'.
func (z *ZeekConn) validateChecksums(on bool) { z.checksums = on }

// flipAfterSynAck flips a connection whose originator only sent a SYN-ACK
// so far, rewriting the history as if the roles had been right from the
// start. It reports whether it flipped.
func (z *ZeekConn) flipAfterSynAck() bool {
	orig := &z.ep[z.origSide()]
	resp := &z.ep[1-z.origSide()]
	if orig.state != zeekSynAckSent || resp.state != zeekInactive {
		return false
	}
	z.flipped = !z.flipped
	// Swap the case of the letters recorded so far and mark the flip.
	n := int(z.nhist)
	if n >= zeekHistMax {
		n = zeekHistMax - 1
	}
	copy(z.hist[1:n+1], z.hist[:n])
	z.hist[0] = '^'
	z.nhist = uint8(n + 1)
	for i := 1; i <= n; i++ {
		c := z.hist[i]
		switch {
		case c >= 'a' && c <= 'z':
			z.hist[i] = c - zeekLowerCase
		case c >= 'A' && c <= 'Z':
			z.hist[i] = c + zeekLowerCase
		}
	}
	z.histSeen = z.histSeen>>zeekRespShift | z.histSeen<<zeekRespShift
	// The SYN-ACK's sender is now the responder of an established
	// connection, and the connection is no longer partial.
	z.setState(orig, resp, zeekEstablished)
	z.partial = false
	return true
}

// setPartialStatus is TCPSessionAdapter::SetPartialStatus.
func (z *ZeekConn) setPartialStatus(flags capture.Flags, isOrig bool) {
	syn, ack := flags&capture.SYN != 0, flags&capture.ACK != 0
	if isOrig {
		if !z.ep[z.origSide()].firstSeen() {
			z.partial = !syn || ack
		}
	} else if !z.ep[1-z.origSide()].firstSeen() && !z.partial {
		z.partial = !syn
	}
}

// zeekInitEndpoint is init_endpoint.
func zeekInitEndpoint(ep *zeekEndpoint, syn bool, first, last uint32) {
	switch ep.state {
	case zeekInactive:
		if syn {
			ep.ackSeq = first
			ep.startSeq = first
		} else {
			ep.ackSeq = first - 1
			ep.startSeq = first - 1
			last = first
		}
		ep.lastSeq = last
	case zeekSynSent, zeekSynAckSent:
		if syn && first != ep.startSeq {
			ep.startSeq, ep.ackSeq, ep.lastSeq = first, first, last
		}
	case zeekEstablished, zeekPartial:
		if syn {
			ep.startSeq, ep.ackSeq, ep.lastSeq = first, first, last
		}
	case zeekReset:
		if syn && ep.prevState == zeekInactive {
			ep.startSeq, ep.ackSeq, ep.lastSeq = first, first, last
		}
	}
}

// zeekRelSeq is get_relative_seq: cur relative to the endpoint's start,
// using last and wraps to place it in 64-bit sequence space.
func zeekRelSeq(ep *zeekEndpoint, cur, last, wraps uint32) (rel uint64, underflow bool) {
	delta := int32(cur - last)
	if delta < 0 {
		if wraps > 0 && cur > last {
			wraps--
		}
	} else if delta > 0 {
		if cur < last {
			wraps++
		}
	}
	if wraps == 0 {
		d := int32(cur - ep.startSeq)
		return uint64(int64(d)), d < 0
	}
	return (uint64(wraps)<<32 | uint64(cur)) - uint64(ep.startSeq), false
}

// updateHistory is update_history.
func (z *ZeekConn) updateHistory(isOrig bool, ep *zeekEndpoint, syn, fin, rst, ack bool, relSeq, length uint64) {
	bits := 0
	for _, b := range [3]bool{syn, fin, rst} {
		if b {
			bits++
		}
	}
	switch {
	case bits > 1:
		if fin && rst {
			z.checkHistory(isOrig, zeekHistFINRST, 'I')
		} else {
			z.checkHistory(isOrig, zeekHistMulti, 'Q')
		}
	case bits == 1:
		if syn {
			code := byte('S')
			if ack {
				code = 'H'
			}
			if z.checkHistory(isOrig, zeekHistSYN, code) && relSeq != ep.histLastSYN {
				z.addEndpointHistory(isOrig, code)
			}
			ep.histLastSYN = relSeq
		}
		if fin {
			if z.checkHistory(isOrig, zeekHistFIN, 'F') && relSeq+length != ep.histLastFIN {
				z.addEndpointHistory(isOrig, 'F')
			}
			ep.histLastFIN = relSeq + length
		}
		if rst {
			if z.checkHistory(isOrig, zeekHistRST, 'R') && relSeq != ep.histLastRST {
				z.addEndpointHistory(isOrig, 'R')
			}
			ep.histLastRST = relSeq
		}
	default:
		if length > 0 {
			z.checkHistory(isOrig, zeekHistData, 'D')
		} else if ack {
			z.checkHistory(isOrig, zeekHistACK, 'A')
		}
	}
}

// checkHistory adds code (lower case for the responder) unless the mask
// was already seen; it reports whether it was already seen.
func (z *ZeekConn) checkHistory(isOrig bool, mask uint32, code byte) bool {
	if !isOrig {
		mask <<= zeekRespShift
	}
	if z.histSeen&mask != 0 {
		return true
	}
	z.histSeen |= mask
	z.addEndpointHistory(isOrig, code)
	return false
}

// addEndpointHistory appends code, lower-cased for the responder.
func (z *ZeekConn) addEndpointHistory(isOrig bool, code byte) {
	if !isOrig && code >= 'A' && code <= 'Z' {
		code += zeekLowerCase
	}
	z.addHistory(code)
}

// addHistory appends one history byte, dropping it when the history is
// full.
func (z *ZeekConn) addHistory(c byte) {
	if int(z.nhist) < zeekHistMax {
		z.hist[z.nhist] = c
		z.nhist++
	}
}

// scaled is Connection::ScaledHistoryEntry: the letter is recorded on the
// 1st, 10th, 100th... occurrence.
//
// Counter i of ep counts; the thresholds grow tenfold in uint32
// arithmetic, and once the next one would wrap below the current one the
// count restarts instead, and from then on records a letter only at the
// last threshold. As the count passes each threshold in turn, one that
// never restarted records a letter whenever it equals any of them. A
// restarted count is stored plus zeekScaledWrapped (every count stays
// below the last threshold, which is below zeekScaledWrapped).
func (z *ZeekConn) scaled(isOrig bool, code byte, ep *zeekEndpoint, i int) {
	ep.scaledCnt[i]++
	n, wrapped := ep.scaledCnt[i], false
	if n >= zeekScaledWrapped {
		n, wrapped = n-zeekScaledWrapped, true
	}
	last := n == zeekThresholds[len(zeekThresholds)-1]
	if !last && (wrapped || !zeekThreshold(n)) {
		return
	}
	z.addEndpointHistory(isOrig, code)
	if last {
		ep.scaledCnt[i] = zeekScaledWrapped
	}
}

// zeekScaledWrapped marks a scaled count restarted after the last
// threshold.
const zeekScaledWrapped = 1 << 31

// zeekThreshold reports whether n is one of zeekThresholds.
func zeekThreshold(n uint32) bool {
	for _, t := range zeekThresholds {
		if n == t {
			return true
		}
	}
	return false
}

// updateLastSeq is update_last_seq; it may record a retransmission.
func (z *ZeekConn) updateLastSeq(isOrig bool, ep *zeekEndpoint, last uint32, syn, fin, rst bool, length int) {
	delta := int32(last - ep.lastSeq)
	switch {
	case (syn || rst) && (delta > zeekTooLargeSeqDelta || delta < -zeekTooLargeSeqDelta):
	case fin && ep.lastSeq == ep.startSeq+1:
		zeekUpdateLast(ep, last)
	case ep.state == zeekReset:
	case delta > 0:
		zeekUpdateLast(ep, last)
	case length > 0:
		z.scaled(isOrig, 'T', ep, zeekRxmt)
	}
}

// zeekUpdateLast is TCP_Endpoint::UpdateLastSeq.
func zeekUpdateLast(ep *zeekEndpoint, last uint32) {
	if last < ep.lastSeq {
		ep.seqWraps++
	}
	ep.lastSeq = last
}

// setState is TCP_Endpoint::SetState, including the switch to the TCP
// inactivity timeout when the handshake ends.
func (z *ZeekConn) setState(ep, peer *zeekEndpoint, s zeekState) {
	if s == ep.state {
		return
	}
	if !zeekHandshake(s) && zeekHandshake(ep.state) && zeekHandshake(peer.state) {
		z.tcpInactive = true
	}
	ep.prevState = ep.state
	ep.state = s
}

// zeekHandshake is is_handshake.
func zeekHandshake(s zeekState) bool {
	return s == zeekInactive || s == zeekSynSent || s == zeekSynAckSent
}

// updateStateMachine is TCPSessionAdapter::UpdateStateMachine.
func (z *ZeekConn) updateStateMachine(t int64, side int, baseSeq uint32, length int, syn, fin, rst, ack bool) (doClose, genEvent bool) {
	ep := &z.ep[side]
	peer := &z.ep[1-side]
	switch ep.state {
	case zeekInactive:
		return z.updateInactive(t, side, baseSeq, length, syn, fin, rst, ack)
	case zeekSynSent, zeekSynAckSent:
		if fin {
			z.setState(ep, peer, zeekClosed)
			doClose, genEvent = true, true
		}
		if rst {
			z.setState(ep, peer, zeekReset)
			doClose = true
		}
	case zeekEstablished, zeekPartial:
		if syn && ep.state == zeekPartial && peer.state == zeekInactive && !ack {
			z.setState(ep, peer, zeekSynSent)
		}
		if fin && !rst {
			z.setState(ep, peer, zeekClosed)
			if peer.state == zeekReset && peer.prevState == zeekClosed {
				z.setState(peer, ep, zeekClosed)
			}
			doClose, genEvent = true, true
		}
		if rst {
			z.setState(ep, peer, zeekReset)
			doClose = true
		}
	case zeekClosed:
		if rst && peer.state != zeekClosed {
			z.setState(ep, peer, zeekReset)
			if !ep.didClose() {
				doClose = true
			}
		}
	case zeekReset:
	}
	return doClose, genEvent
}

// updateInactive is TCPSessionAdapter::UpdateInactiveState.
func (z *ZeekConn) updateInactive(t int64, side int, baseSeq uint32, length int, syn, fin, rst, ack bool) (doClose, genEvent bool) {
	ep := &z.ep[side]
	peer := &z.ep[1-side]
	isOrig := z.isOrig(side)
	if syn {
		if isOrig {
			if ack {
				z.setState(ep, peer, zeekSynAckSent)
			} else {
				z.setState(ep, peer, zeekSynSent)
			}
			z.attemptAt = t + int64(zeekAttemptDelay)
		} else {
			if !ack && peer.state == zeekSynAckSent && baseSeq == ep.startSeq {
				// SYN/SYN-ACK reversal: flip and establish.
				z.partial = false
				z.flipped = !z.flipped
				z.addHistory('^')
				z.setState(peer, ep, zeekEstablished)
			}
			if peer.state == zeekSynSent {
				z.setState(peer, ep, zeekEstablished)
			}
			z.setState(ep, peer, zeekEstablished)
		}
	}
	if fin {
		z.setState(ep, peer, zeekClosed)
		doClose, genEvent = true, true
	}
	if rst {
		z.setState(ep, peer, zeekReset)
		isReject := false
		if isOrig {
			isReject = peer.state == zeekEstablished
		} else {
			isReject = peer.state == zeekSynSent || peer.state == zeekSynAckSent
		}
		doClose = true
		genEvent = !isReject
	}
	if ep.state == zeekInactive {
		origState := z.ep[z.origSide()].state
		switch {
		case !isOrig && length == 0 && origState == zeekSynSent:
			// An ACK of the SYN before the SYN-ACK: not partial.
		case ack && peer.state == zeekEstablished:
			z.setState(ep, peer, zeekEstablished)
			z.partial = false
			ep.bits |= zeekFirstSeen
		default:
			z.setState(ep, peer, zeekPartial)
		}
	}
	return doClose, genEvent
}

// connectionClosed is TCPSessionAdapter::ConnectionClosed (without the
// deferral for pending reassembled data), scheduling the removal timers.
func (z *ZeekConn) connectionClosed(side int, t int64) {
	ep := &z.ep[side]
	peer := &z.ep[1-side]
	if ep.didClose() {
		return
	}
	ep.bits |= zeekDidClose
	complete := ep.state == zeekReset || peer.didClose() || peer.state == zeekInactive
	if complete {
		z.canceled = true
		z.deleteAt = z.lastTime + int64(zeekCloseDelay)
		return
	}
	if ep.prevState != zeekInactive {
		z.expireBase2 = z.lastTime + int64(zeekSessionTimer)
	}
}

// size is TCP_Endpoint::Size (the byte count conn_state uses for REJ).
func (z *ZeekConn) size(ep, peer *zeekEndpoint) uint64 {
	if ep.prevState == zeekSynSent && ep.state == zeekReset && peer.state == zeekInactive && !zeekNoDataAcked(ep) {
		return 0
	}
	last := uint64(ep.seqWraps)<<32 | uint64(ep.lastSeq)
	ack := uint64(ep.ackWraps)<<32 | uint64(ep.ackSeq)
	var s uint64
	if last > ack {
		s = last - uint64(ep.startSeq)
	} else {
		s = ack - uint64(ep.startSeq)
	}
	if s != 0 {
		s--
	}
	if ep.finSeen() && s != 0 {
		s--
	}
	return s
}

// zeekNoDataAcked is TCP_Endpoint::NoDataAcked.
func zeekNoDataAcked(ep *zeekEndpoint) bool {
	ack := uint64(ep.ackWraps)<<32 | uint64(ep.ackSeq)
	start := uint64(ep.startSeq)
	return ack == start || ack == start+1
}

// reassemblerInit gives the reassembler its initial sequence (1). The
// reassembler is set up once reassem is not 0: it only grows from 1.
func (ep *zeekEndpoint) reassemblerInit() {
	if ep.reassem == 0 {
		ep.reassem, ep.trim = 1, 1
	}
}

// dataSent is TCP_Reassembler::DataSent followed by NewBlock and
// BlockInserted, keeping only sequence ranges.
func (z *ZeekConn) dataSent(ep, peer *zeekEndpoint, seq, length uint64) {
	ep.reassemblerInit()
	ack := uint64(ep.ackWraps)<<32 | uint64(ep.ackSeq)
	ack -= uint64(ep.startSeq)
	upper := seq + length
	if seq < ack {
		if upper <= ack {
			return
		}
		seq = ack
	}
	if upper <= ep.trim {
		return
	}
	if seq < ep.trim {
		seq = ep.trim
	}
	if seq <= ep.reassem {
		if upper > ep.reassem {
			ep.reassem = upper
			ep.deliverBlocks()
		}
	} else {
		ep.insertBlock(seq, upper)
	}
	if zeekNoDataAcked(ep) && z.size(ep, peer) > zeekMaxInitialWindow {
		// BlockInserted: nothing acked yet and much data sent; Zeek
		// stops holding it (TrimToSeq(last_reassem_seq)).
		ep.trimTo(ep.reassem)
	}
}

// insertBlock records an out-of-order range, merging overlaps.
func (ep *zeekEndpoint) insertBlock(lo, hi uint64) {
	for i := 0; i < int(ep.nblocks); i++ {
		b := &ep.blocks[i]
		if lo <= b.hi && hi >= b.lo {
			b.lo = min(b.lo, lo)
			b.hi = max(b.hi, hi)
			return
		}
	}
	if ep.blocks == nil {
		ep.blocks = zeekBlocks.get()
	}
	if int(ep.nblocks) < zeekMaxBlocks {
		ep.blocks[ep.nblocks] = zeekBlock{lo, hi}
		ep.nblocks++
		return
	}
	// Out of room: widen the last block (approximation).
	b := &ep.blocks[zeekMaxBlocks-1]
	b.lo = min(b.lo, lo)
	b.hi = max(b.hi, hi)
}

// deliverBlocks advances reassem over blocks that became contiguous.
func (ep *zeekEndpoint) deliverBlocks() {
	for moved := true; moved; {
		moved = false
		for i := 0; i < int(ep.nblocks); i++ {
			b := ep.blocks[i]
			if b.lo <= ep.reassem {
				if b.hi > ep.reassem {
					ep.reassem = b.hi
				}
				ep.removeBlock(i)
				moved = true
				break
			}
		}
	}
}

// removeBlock deletes block i.
func (ep *zeekEndpoint) removeBlock(i int) {
	ep.nblocks--
	ep.blocks[i] = ep.blocks[ep.nblocks]
}

// trimTo drops everything below seq (Reassembler::TrimToSeq without the
// undelivered handling).
func (ep *zeekEndpoint) trimTo(seq uint64) {
	for i := 0; i < int(ep.nblocks); {
		if ep.blocks[i].hi <= seq {
			ep.removeBlock(i)
			continue
		}
		if ep.blocks[i].lo < seq {
			ep.blocks[i].lo = seq
		}
		i++
	}
	if seq > ep.trim {
		ep.trim = seq
	}
}

// ackReceived is TCP_Reassembler::AckReceived on ep (its peer acked up to
// relative sequence seq): data acked but never seen is a content gap.
func (z *ZeekConn) ackReceived(ep *zeekEndpoint, seq uint64) {
	ep.reassemblerInit()
	if ep.finSeen() && seq >= ep.finSeq {
		seq = ep.finSeq - 1
	}
	if seq <= ep.trim {
		return
	}
	if seq > ep.reassem {
		z.undelivered(ep, seq)
	}
	ep.trimTo(seq)
}

// undelivered is TCP_Reassembler::Undelivered: every hole below upTo is a
// gap.
func (z *ZeekConn) undelivered(ep *zeekEndpoint, upTo uint64) {
	if upTo <= 2 && z.partial {
		return
	}
	for {
		// Lowest block starting below upTo.
		bi := -1
		for i := 0; i < int(ep.nblocks); i++ {
			b := ep.blocks[i]
			if b.lo < upTo && (bi < 0 || b.lo < ep.blocks[bi].lo) {
				bi = i
			}
		}
		if bi < 0 {
			break
		}
		b := ep.blocks[bi]
		if b.lo > ep.reassem {
			z.gap(ep)
		}
		if b.hi > ep.reassem {
			ep.reassem = b.hi
		}
		ep.removeBlock(bi)
	}
	if upTo > ep.reassem {
		z.gap(ep)
		ep.reassem = upTo
	}
}

// gap is TCP_Reassembler::Gap: recorded only when both endpoints are
// established or closing cleanly.
func (z *ZeekConn) gap(ep *zeekEndpoint) {
	side := 0
	if ep == &z.ep[1] {
		side = 1
	}
	peer := &z.ep[1-side]
	if zeekClean(ep) && zeekClean(peer) {
		z.scaled(z.isOrig(side), 'G', ep, zeekGap)
	}
}

// zeekClean is is_clean.
func zeekClean(ep *zeekEndpoint) bool {
	return ep.state == zeekEstablished || (ep.state == zeekClosed && ep.prevState == zeekEstablished)
}

// zeekLikelyServerPort reports whether port is in Zeek's
// likely_server_ports as the default scripts populate it (the ports the
// base protocol analyzers register).
func zeekLikelyServerPort(port uint16) bool {
	switch port {
	case 21, 2811, // ftp
		22,      // ssh
		25, 587, // smtp
		53,                                        // dns
		80, 81, 631, 1080, 3128, 8000, 8080, 8888, // http
		88,       // krb
		110,      // pop3
		135,      // dce-rpc
		139, 445, // smb
		143,       // imap
		389, 3268, // ldap
		443, 563, 585, 614, 636, 989, 990, 992, 993, 995, 5223, // ssl
		502,        // modbus
		623,        // ipmi
		1433,       // tds
		1883,       // mqtt
		3306,       // mysql
		3389,       // rdp
		5222, 5269, // xmpp
		5432,                   // postgresql
		6379,                   // redis
		6666, 6667, 6668, 6669, // irc
		20000: // dnp3
		return true
	}
	return false
}

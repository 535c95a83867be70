package flows

import (
	"time"

	"github.com/tcpwhy/tcpwhy/capture"
)

// seqAfter reports whether a comes after b in sequence space.
func seqAfter(a, b uint32) bool { return int32(a-b) > 0 }

// start sets up a zeroed f for its first segment, sent from src to dst,
// and decides the roles.
func (f *Flow) start(id int64, seg *capture.Segment, src, dst epAddr, t stamp) {
	f.ID, f.IPv6 = id, seg.IPVersion == 6
	client, server := src, dst
	switch {
	case seg.Flags&(capture.SYN|capture.ACK) == capture.SYN:
		// The SYN sender is the client.
	case seg.Flags&(capture.SYN|capture.ACK) == capture.SYN|capture.ACK:
		client, server = dst, src
		f.RolesGuessed = true
	default:
		f.RolesGuessed = true
		if guessServer(dst.port, src.port) {
			client, server = dst, src
		}
	}
	f.Ep[Client].addr = client
	f.Ep[Server].addr = server
	f.aIsClient = client == src
	f.First = Mark{Number: seg.Packet, t: t}
}

// guessServer reports whether port a (the first packet's source) looks
// more like a server port than port b.
func guessServer(b, a uint16) bool {
	// a is the sender's port; the side with the well-known or lower,
	// non-ephemeral port is taken as the server.
	aEph, bEph := a >= 32768, b >= 32768
	switch {
	case a < 1024 && b >= 1024:
		return true
	case b < 1024 && a >= 1024:
		return false
	case !aEph && bEph:
		return true
	case aEph && !bEph:
		return false
	}
	return a < b
}

// startsNewFlow reports whether seg, a segment on f's 4-tuple sent from
// src, opens a new connection: a SYN (without ACK) with a new ISN after
// the old connection ended or from the side that was not its client.
func (f *Flow) startsNewFlow(seg *capture.Segment, src epAddr) bool {
	if seg.Flags&(capture.SYN|capture.ACK) != capture.SYN {
		return false
	}
	c := &f.Ep[Client]
	if c.addr != src {
		return f.done || f.Ep[Server].SYNCount == 0 || f.RolesGuessed
	}
	if c.SYNCount == 0 {
		// A SYN after midstream traffic starts a new connection.
		return f.Packets() > 0
	}
	return seg.Seq != c.ISN() || f.done
}

// icmp records an ICMP error quoting a segment sent by side d.
func (f *Flow) icmp(d int, seg *capture.Segment, t stamp) {
	r := f.Ep[d].rareState()
	if r.icmp == nil {
		r.icmp = new(ICMPError)
	}
	in := r.icmp
	in.Count++
	if in.Packet.Number == 0 {
		in.Packet = packetOf(seg, t)
		in.Type, in.Code, in.V6, in.From = seg.ICMPType, seg.ICMPCode, seg.ICMPv6, seg.ICMPFrom
	}
	f.Last = Mark{Number: seg.Packet, t: t}
}

// maxDuplicateGap is how close in time two identical segments must be to
// be one packet captured twice: no TCP retransmission is that quick.
const maxDuplicateGap = time.Millisecond

// isDuplicate reports whether pkt (with timestamp value tsval) repeats
// side d's previous segment field for field (the same packet captured
// twice). Only segments that carry something unique to one transmission
// are judged: a non-zero IPv4 IP ID, or a timestamp value. Kernel RSTs
// (IP ID 0, no options) and SYN-ACKs (IP ID 0) repeat legitimately
// within microseconds, so they never are.
func (e *Endpoint) isDuplicate(pkt Packet, tsval uint32) bool {
	if !e.lastSeen || pkt.Flags&capture.RST != 0 || e.lastSeq != pkt.Seq || e.lastAck != pkt.Ack || e.lastFlags != pkt.Flags ||
		e.lastWindow != pkt.Window || e.lastLen != pkt.Len || e.lastIPID != pkt.IPID || e.lastHasTS != pkt.HasTS || e.lastTSVal != tsval {
		return false
	}
	if pkt.IPID == 0 && (!pkt.HasTS || pkt.Flags&(capture.SYN|capture.ACK) == capture.SYN|capture.ACK) {
		return false
	}
	dt := pkt.t.sub(e.lastT)
	return dt >= -maxDuplicateGap && dt <= maxDuplicateGap
}

// setLast records pkt (with timestamp value tsval) as the side's
// previous segment.
func (e *Endpoint) setLast(pkt Packet, tsval uint32) {
	e.lastNumber, e.lastT = pkt.Number, pkt.t
	e.lastSeq, e.lastAck, e.lastTSVal, e.lastLen = pkt.Seq, pkt.Ack, tsval, pkt.Len
	e.lastWindow, e.lastIPID, e.lastFlags, e.lastHasTS = pkt.Window, pkt.IPID, pkt.Flags, pkt.HasTS
	e.lastSeen = true
}

// add updates the flow with a TCP segment sent by side d at time t.
func (f *Flow) add(d int, seg *capture.Segment, t stamp) {
	e, p := &f.Ep[d], &f.Ep[1-d]
	pkt := packetOf(seg, t)
	if e.isDuplicate(pkt, seg.Opt.TSVal) {
		inc(&e.Duplicates)
		f.Last = pkt.Mark()
		return
	}
	// prevNumber is the number of the side's previous segment.
	prevNumber := e.lastNumber
	e.setLast(pkt, seg.Opt.TSVal)
	f.Last = pkt.Mark()
	if seg.Checksum == capture.ChecksumBad {
		inc(&f.BadChecksums)
	}
	inc(&e.Packets)
	fl := seg.Flags
	if fl&capture.RST == 0 {
		if !e.ttlSeen || seg.TTL < e.TTLMin {
			e.TTLMin = seg.TTL
		}
		if !e.ttlSeen || seg.TTL > e.TTLMax {
			e.TTLMax = seg.TTL
		}
		e.ttlSeen = true
		e.LastIPID = seg.IPID
	}
	if fl&capture.SYN == 0 && seg.Opt.HasTS {
		e.UsesTS = true
	}
	// A segment that acknowledges new data of the peer ends the peer's
	// run of unanswered retransmissions.
	if fl&capture.ACK != 0 && fl&capture.RST == 0 && (!e.AckValid || seqAfter(seg.Ack, e.MaxAck)) {
		p.TailRetransmits = 0
	}

	// SYN and SYN-ACK.
	if fl&capture.SYN != 0 {
		if e.SYNCount == 0 {
			e.syn = pkt
			o := &seg.Opt
			e.synOpt = synOpt{mss: o.MSS, wscale: o.WScale, sack: o.SACKPermitted, hasTS: o.HasTS}
		} else if e.SYNCount < MaxSYNs {
			r := e.rareState()
			r.syns = append(r.syns, pkt)
		}
		inc(&e.SYNCount)
		if fl&capture.ACK != 0 && d == Server && f.HandshakeAck.Number != 0 && e.SYNCount > 1 {
			inc(&f.SynAckAfterAck)
			if r := f.rareState(); r.firstSynAckAfterAck.Number == 0 {
				r.firstSynAckAfterAck = pkt
			}
			// Client data sent before this retransmission and never
			// acknowledged was ignored by the server.
			if c := &f.Ep[Client]; c.FirstData.Number != 0 && (!e.AckValid || seqAfter(c.NextSeq, e.MaxAck)) {
				f.ClientDataIgnored = true
			}
		}
	}

	// The client's acknowledgment of the SYN-ACK.
	// (HandshakeAck first: the peer's syn is in a line few segments need.)
	if d == Client && fl&(capture.ACK|capture.SYN|capture.RST) == capture.ACK && f.HandshakeAck.Number == 0 &&
		p.SYNCount > 0 && seg.Ack == p.syn.Seq+1 {
		f.HandshakeAck = pkt.Mark()
	}

	if f.HandshakeAck.Number != 0 && fl&capture.SYN == 0 {
		if d == Server {
			f.ServerSpoke = true
		} else if !f.ServerSpoke {
			inc(&f.ClientSegsIgnored)
		}
	}

	// Sequence space: new data, retransmissions, keep-alives.
	end := seg.Seq + seg.SeqLen()
	isRetrans := false
	if seg.PayloadLen > 0 || fl&capture.FIN != 0 {
		if e.SeqValid && !seqAfter(end, e.NextSeq) && fl&capture.SYN == 0 && fl&capture.RST == 0 {
			isRetrans = true
			inc(&e.Retransmits)
		}
	}
	if seg.PayloadLen > 0 {
		inc(&e.DataPackets)
		e.Bytes += int64(seg.PayloadLen)
		if e.FirstData.Number == 0 {
			e.FirstData = pkt
		}
		if isRetrans {
			e.rareState().lastData = pkt
			e.lastDataNew = false
		} else {
			e.LastNewData = pkt
			e.lastDataNew = true
			if p.FIN.Number != 0 && e.DataAfterPeerFIN().Number == 0 {
				e.rareState().dataAfterPeerFIN = pkt
			}
		}
	}
	keepAlive := fl&(capture.SYN|capture.FIN|capture.RST) == 0 && fl&capture.ACK != 0 &&
		seg.PayloadLen <= 1 && e.SeqValid && seg.Seq == e.NextSeq-1
	if keepAlive {
		inc(&e.KeepAlives)
	}
	// Only resent data the peer has not acknowledged makes the run.
	unacked := !p.AckValid || seqAfter(end, p.MaxAck)
	if (isRetrans && unacked) || keepAlive {
		r := e.rareState()
		if e.TailRetransmits == 0 {
			r.tailFirst = pkt
		}
		inc(&e.TailRetransmits)
		r.tailLast = pkt
	} else if seg.PayloadLen > 0 || fl&(capture.SYN|capture.FIN) != 0 {
		e.TailRetransmits = 0
	}
	if fl&capture.RST == 0 || !e.SeqValid {
		if !e.SeqValid || seqAfter(end, e.NextSeq) {
			if fl&capture.RST == 0 || seg.Seq != 0 {
				e.NextSeq = end
				e.SeqValid = true
			}
		}
	}

	// Acknowledgments.
	if fl&capture.ACK != 0 && fl&capture.RST == 0 {
		if !e.AckValid || seqAfter(seg.Ack, e.MaxAck) {
			e.MaxAck = seg.Ack
			e.AckValid = true
		}
		if p.FIN.Number != 0 && p.FINAcked.Number == 0 && !seqAfter(p.FIN.Seq+uint32(p.FIN.Len)+1, seg.Ack) {
			p.FINAcked = pkt.Mark()
		}
	}

	// FIN.
	if fl&capture.FIN != 0 && e.FIN.Number == 0 {
		e.FIN = pkt
	}

	// RST and challenge ACKs.
	if fl&capture.RST != 0 {
		r := e.rareState()
		if r.rst.Number == 0 {
			r.rst = pkt
		}
		inc(&e.RSTCount)
		r.lastRST = pkt
	} else if fl == capture.ACK && seg.PayloadLen == 0 && p.RSTCount > 0 && p.rare != nil &&
		p.rare.lastRST.Number > prevNumber && f.ChallengeACK().Number == 0 && p.rare.lastRST.Seq != e.MaxAck {
		// The peer's RST was not exact; this pure ACK is the challenge.
		// (RSTCount comes before rare, which is in a line few segments
		// need.)
		f.rareState().challengeACK = pkt
	}

	f.updateStates(d, seg)
}

// updateStates moves both endpoints' inferred TCP states.
func (f *Flow) updateStates(d int, seg *capture.Segment) {
	e, p := &f.Ep[d], &f.Ep[1-d]
	fl := seg.Flags
	if fl&capture.RST != 0 {
		if f.rstAccepted(d, seg) {
			e.State, p.State = StateReset, StateReset
			f.done = true
		}
		return
	}
	switch {
	case fl&(capture.SYN|capture.ACK) == capture.SYN:
		e.State = StateSynSent
		if p.State == StateClosed {
			p.State = StateListen
		}
	case fl&(capture.SYN|capture.ACK) == capture.SYN|capture.ACK:
		e.State = StateSynReceived
	}
	if fl&capture.ACK != 0 {
		if e.State == StateSynSent && p.SYNCount > 0 && seg.Ack == p.syn.Seq+1 {
			e.State = StateEstablished
		}
		if p.State == StateSynReceived && fl&capture.SYN == 0 && seg.Ack == p.syn.Seq+1 {
			p.State = StateEstablished
		}
		if p.FIN.Number != 0 && p.FINAcked.Number != 0 {
			switch p.State {
			case StateFinWait1:
				p.State = StateFinWait2
			case StateClosing:
				p.State = StateTimeWait
			case StateLastAck:
				p.State = StateClosed
			}
		}
	}
	if fl&(capture.SYN|capture.RST) == 0 && fl&capture.ACK != 0 && e.State == StateClosed && p.State == StateClosed {
		// Midstream: both sides must have been established.
		e.State, p.State = StateEstablished, StateEstablished
	}
	if fl&capture.FIN != 0 && e.FIN.Number == seg.Packet {
		switch e.State {
		case StateEstablished, StateSynReceived:
			e.State = StateFinWait1
		case StateCloseWait:
			e.State = StateLastAck
		}
		switch p.State {
		case StateEstablished:
			p.State = StateCloseWait
		case StateFinWait1:
			p.State = StateClosing
		case StateFinWait2:
			p.State = StateTimeWait
		}
	}
	if e.FIN.Number != 0 && p.FIN.Number != 0 && e.FINAcked.Number != 0 && p.FINAcked.Number != 0 {
		f.done = true
	}
}

// rstAccepted reports whether a RST sent by side d is one the receiver
// takes: in SYN_SENT it must acknowledge the SYN; otherwise its sequence
// number must be exactly the receiver's rcv_nxt (RFC 5961) — or, when
// the receiver's position is unknown, it is assumed to be.
func (f *Flow) rstAccepted(d int, seg *capture.Segment) bool {
	p := &f.Ep[1-d]
	if p.State == StateSynSent {
		return seg.Flags&capture.ACK != 0 && seg.Ack == p.syn.Seq+1
	}
	if !p.AckValid {
		return true
	}
	return seg.Seq == p.MaxAck
}

// RSTAccepted reports whether side d's first RST took effect.
func (f *Flow) RSTAccepted(d int) bool {
	if f.Ep[d].RST().Number == 0 {
		return false
	}
	return f.Ep[1-d].State == StateReset || f.Ep[d].State == StateReset
}

// Done reports whether the flow ended: both FINs acknowledged or a RST
// accepted.
func (f *Flow) Done() bool { return f.done }

package classify

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tcpwhy/tcpwhy/capture"
	"github.com/tcpwhy/tcpwhy/flows"
)

// minTailRetransmits is how many unanswered retransmissions at the end of
// a flow make a timeout.
const minTailRetransmits = 3

// counters returns the predicted counters of side d.
func (r *FlowResult) counters(d int) Counters {
	if d == flows.Client {
		return r.ClientCounters
	}
	return r.ServerCounters
}

// evidence adds the packet numbers, skipping zeros (packets not seen).
func (r *FlowResult) evidence(ns ...int64) {
	for _, n := range ns {
		if n != 0 {
			if r.Evidence == nil {
				// Most flows have two to four pieces of evidence.
				r.Evidence = r.spareEvidence
				if r.Evidence == nil {
					r.Evidence = make([]int64, 0, 4)
				}
			}
			r.Evidence = append(r.Evidence, n)
			r.spareEvidence = r.Evidence
		}
	}
}

// annotate adds an annotation to packet n (none when n is 0).
func (r *FlowResult) annotate(n int64, format string, args ...any) {
	if n != 0 && !r.noAnnotations {
		r.annotateText(n, fmt.Sprintf(format, args...))
	}
}

// annotateText adds the annotation text to packet n (none when n is 0).
func (r *FlowResult) annotateText(n int64, text string) {
	if n != 0 && !r.noAnnotations {
		if r.Annotations == nil {
			r.Annotations = r.spareAnnotations
			if r.Annotations == nil {
				r.Annotations = make([]Annotation, 0, 1)
			}
		}
		r.Annotations = append(r.Annotations, Annotation{Packet: n, Text: text})
		r.spareAnnotations = r.Annotations
	}
}

// estabResets adds TcpEstabResets for a side that was ESTABLISHED or
// CLOSE_WAIT when the connection was reset (tcp_set_state counts every
// such transition to CLOSE, sent or received).
func estabResets(f *flows.Flow, r *FlowResult, d int) {
	e := &f.Ep[d]
	established := f.HandshakeAck.Number != 0 || f.RolesGuessed
	if !established {
		return
	}
	// A side that sent its own FIN was in FIN_WAIT/CLOSING/LAST_ACK.
	if e.FIN.Number != 0 && e.FIN.Number < firstRST(f).Number {
		return
	}
	r.counters(d).Add("TcpEstabResets", 1)
}

// firstRST returns the earliest RST of the flow and its sender.
func firstRSTSide(f *flows.Flow) (flows.Packet, int) {
	c, s := f.Client().RST(), f.Server().RST()
	switch {
	case c.Number != 0 && (s.Number == 0 || c.Number < s.Number):
		return c, flows.Client
	case s.Number != 0:
		return s, flows.Server
	}
	return flows.Packet{}, -1
}

func firstRST(f *flows.Flow) flows.Packet {
	p, _ := firstRSTSide(f)
	return p
}

// generator tells a passive RST (the kernel answering a segment it has
// no place for: window 0, no options) from an active one (a socket
// aborting: its own window and timestamps).
func generator(p flows.Packet) string {
	if p.Flags&capture.ACK != 0 && p.Seq == 0 && p.Window == 0 && !p.HasOptions {
		return "passive"
	}
	if p.Flags&capture.ACK != 0 && (p.Window > 0 || p.HasTS) {
		return "active"
	}
	if p.Window == 0 && !p.HasOptions {
		return "passive"
	}
	return "active"
}

// decide sets the verdict, the reset, the counters, the evidence and the
// explanation.
func decide(f *flows.Flow, r *FlowResult, captureEnd time.Time) {
	c, s := f.Client(), f.Server()
	if rst, d := firstRSTSide(f); d >= 0 {
		decideReset(f, r, rst, d)
		return
	}
	// Overflow with tcp_abort_on_overflow=0: the server ignored the
	// client's handshake ACK and retransmitted its SYN-ACK.
	if overflowIgnored(f) {
		ca, sa := r.Client.String(), r.Server.String()
		r.Verdict = Overflow
		overflowIgnoredCounters(f, r)
		r.evidence(f.HandshakeAck.Number, f.FirstSynAckAfterAck().Number)
		r.Explanation = fmt.Sprintf("%s's accept queue was full: it ignored the handshake ACK from %s and retransmitted its SYN-ACK %d times (tcp_abort_on_overflow=0)", sa, ca, f.SynAckAfterAck)
		if f.SynAckAfterAck == 0 {
			r.Explanation = fmt.Sprintf("%s's accept queue was full: it dropped the handshake ACK and %d more segments from %s without a word, and never retransmitted its SYN-ACK — a SYN cookie (its SYN queue was full too)", sa, f.ClientSegsIgnored-1, ca)
			r.evidence(c.FirstData.Number)
		}
		r.annotate(f.FirstSynAckAfterAck().Number, "overflow: %s; nstat on %s: TcpExtListenOverflows and TcpExtListenDrops +%d", r.Explanation, r.Server.Addr(), r.OverflowDrops)
		return
	}
	if in := c.ICMP(); in != nil && in.Packet.Number != 0 && s.SYNCount == 0 {
		r.Verdict = Unreachable
		r.ClientCounters.Add("TcpAttemptFails", 1)
		r.evidence(c.SYN(0).Number, in.Packet.Number)
		r.Explanation = fmt.Sprintf("the SYN from %s to %s was answered by %s from %s", r.Client, r.Server, icmpName(in), in.From)
		r.annotate(in.Packet.Number, "unreachable: %s; connect() fails (ECONNREFUSED for port unreachable, EHOSTUNREACH otherwise); nstat on %s: TcpAttemptFails +1", r.Explanation, r.Client.Addr())
		return
	}
	if c.SYNCount > 0 && !f.RolesGuessed && s.SYNCount == 0 && c.Packets == c.SYNCount {
		r.Verdict = SynTimeout
		last := c.SYN(c.SYNs() - 1)
		r.evidence(c.SYN(0).Number, last.Number)
		// The explanation of every SYN of a flood, built without fmt
		// after its annotation's prefix: one string holds both.
		const prefix = "syn-timeout: "
		var buf [256]byte
		b := r.Client.AppendTo(append(buf[:0], prefix...))
		b = append(b, " sent "...)
		b = strconv.AppendInt(b, int64(c.SYNCount), 10)
		b = append(b, " SYNs to "...)
		b = r.Server.AppendTo(b)
		b = append(b, " and got no answer"...)
		// A capture holds no record of its own end, so the give-up is
		// predicted, not seen: connect() fails with ETIMEDOUT once the
		// retries run out.
		r.ClientCounters.Add("TcpAttemptFails", 1)
		r.ClientCounters.Add("TcpExtTCPAbortOnTimeout", 1)
		if r.SYN != nil && len(r.SYN.Matches) > 0 {
			b = fmt.Appendf(b, "; the retransmit gaps match %s, which gives up after about %.0f s with default tcp_syn_retries", strings.Join(r.SYN.Matches, " or "), r.SYN.GiveUp)
		}
		b = append(b, ": the port is filtered, the host is down, or its SYN queue dropped the SYN"...)
		text := string(b)
		r.Explanation = text[len(prefix):]
		r.annotateText(last.Number, text)
		return
	}
	if tailTimeout(f, r) {
		return
	}
	switch {
	case c.FIN.Number != 0 && s.FIN.Number != 0:
		r.Verdict = GracefulClose
		last := laterOf(c.FIN, s.FIN)
		r.evidence(c.FIN.Number, s.FIN.Number)
		// The explanation of most flows, built without fmt after its
		// annotation's prefix: one string holds both.
		const prefix = "graceful-close: "
		var buf [256]byte
		b := append(buf[:0], prefix+"the connection closed normally with a FIN from each side; "...)
		switch r.FirstFINBy {
		case SideClient:
			b = append(r.Client.AppendTo(b), " closed first"...)
		case SideServer:
			b = append(r.Server.AppendTo(b), " closed first"...)
		case SideBoth:
			b = append(b, "both sides closed at once (simultaneous close)"...)
		}
		if (r.FirstFINBy == SideClient && !c.FINAcked.Time().IsZero() && s.FINAcked.Number == 0) || (r.FirstFINBy == SideServer && s.FINAcked.Number != 0 && c.FINAcked.Number == 0) {
			b = append(b, " (the last ACK was not captured)"...)
		}
		text := string(b)
		r.Explanation = text[len(prefix):]
		r.annotateText(last.Number, text)
	case c.FIN.Number != 0 || s.FIN.Number != 0:
		r.Verdict = HalfClose
		fin, who, other := c.FIN, r.Client, r.Server
		if c.FIN.Number == 0 {
			fin, who, other = s.FIN, r.Server, r.Client
		}
		r.evidence(fin.Number)
		r.Explanation = fmt.Sprintf("%s sent a FIN; %s never closed its side before the capture ended", who, other)
		r.annotateText(fin.Number, "half-close: "+r.Explanation)
	case !f.HandshakeSeen() && s.SYNCount == 0:
		r.Verdict = Midstream
		r.Explanation = "the capture began after the handshake and saw nothing decisive"
	default:
		r.Verdict = Open
		r.Explanation = "the connection was established and still open when the capture ended"
		if s.SYNCount > 0 && f.HandshakeAck.Number == 0 && !f.RolesGuessed {
			r.Explanation = fmt.Sprintf("%s answered the SYN but the handshake never completed before the capture ended", r.Server)
		}
	}
}

func laterOf(a, b flows.Packet) flows.Packet {
	if a.Number > b.Number {
		return a
	}
	return b
}

func icmpName(e *flows.ICMPError) string {
	if e.V6 {
		switch e.Code {
		case 1:
			return "ICMPv6 administratively prohibited"
		case 3:
			return "ICMPv6 address unreachable"
		case 4:
			return "ICMPv6 port unreachable"
		}
		return fmt.Sprintf("ICMPv6 destination unreachable (code %d)", e.Code)
	}
	switch e.Code {
	case 0:
		return "ICMP net unreachable"
	case 1:
		return "ICMP host unreachable"
	case 3:
		return "ICMP port unreachable"
	case 9, 10, 13:
		return "ICMP administratively prohibited"
	}
	return fmt.Sprintf("ICMP destination unreachable (code %d)", e.Code)
}

// overflowIgnored reports the tcp_abort_on_overflow=0 signature: SYN-ACK
// retransmissions after the client's ACK, with the client's data ignored
// or the SYN-ACK resent more than once. A single retransmission with no
// data sent is what a lost handshake ACK looks like.
func overflowIgnored(f *flows.Flow) bool {
	if f.SynAckAfterAck > 0 && (f.ClientDataIgnored || f.SynAckAfterAck >= 2) {
		return true
	}
	return cookieIgnored(f)
}

// cookieIgnored is the SYN-cookie variant: the handshake completed, the
// server never sent anything but its (single, never retransmitted)
// SYN-ACK, and the client's data went unanswered through retransmissions.
// A live socket would have acknowledged the data whatever its
// application did; only a handshake dropped at a full accept queue (with
// no request left to retransmit the SYN-ACK) stays this silent.
func cookieIgnored(f *flows.Flow) bool {
	c, s := f.Client(), f.Server()
	return f.HandshakeAck.Number != 0 && !f.ServerSpoke && s.Packets == s.SYNCount && s.SYNCount == 1 &&
		c.FirstData.Number != 0 && c.Retransmits >= 2
}

// overflowIgnoredCounters estimates ListenOverflows/ListenDrops: each
// client segment that reached the full queue (the ACK, data, and the
// answers to retransmitted SYN-ACKs) was dropped and counted.
func overflowIgnoredCounters(f *flows.Flow, r *FlowResult) {
	n := max(int(f.ClientSegsIgnored), 1)
	r.OverflowDrops = n
	if c := f.Client(); c.TailRetransmits >= minTailRetransmits && c.TailLast().Number >= c.LastData().Number {
		// The client gave up on its unanswered data.
		r.ClientCounters.Add("TcpExtTCPAbortOnTimeout", 1)
		r.ClientCounters.Add("TcpEstabResets", 1)
	}
	r.ServerCounters.Add("TcpExtListenOverflows", n)
	r.ServerCounters.Add("TcpExtListenDrops", n)
}

// tailTimeout decides a timeout: a side retransmitted the same data (or
// sent keep-alives) at least minTailRetransmits times with no answer, and
// the flow ended there.
func tailTimeout(f *flows.Flow, r *FlowResult) bool {
	// A side whose last segments were unanswered retransmissions gave
	// up; when both sides did, the one that fell silent first.
	d := -1
	for i := 0; i < 2; i++ {
		e := &f.Ep[i]
		if e.TailRetransmits < minTailRetransmits || e.TailLast().Number < e.LastData().Number || f.Ep[1-i].Packets == 0 {
			continue
		}
		if d < 0 || e.TailLast().Number < f.Ep[d].TailLast().Number {
			d = i
		}
	}
	if d >= 0 {
		e := &f.Ep[d]
		r.Verdict = Timeout
		who, other := r.Client.String(), r.Server.String()
		if d == flows.Server {
			who, other = other, who
		}
		what := "retransmitted its data"
		if e.KeepAlives >= minTailRetransmits {
			what = "sent keep-alive probes"
		}
		r.evidence(e.TailFirst().Number, e.TailLast().Number)
		r.Explanation = fmt.Sprintf("%s %s %d times over %.1f s without an answer from %s; it gives up with ETIMEDOUT", who, what, e.TailRetransmits, secs(e.TailLast().Time().Sub(e.TailFirst().Time())), other)
		r.counters(d).Add("TcpExtTCPAbortOnTimeout", 1)
		r.counters(d).Add("TcpEstabResets", 1)
		r.annotate(e.TailLast().Number, "timeout: %s; nstat on %s: TcpExtTCPAbortOnTimeout +1", r.Explanation, e.Addr().Addr())
		return true
	}
	return false
}

// decideReset classifies a flow that saw a RST, sent by side d.
func decideReset(f *flows.Flow, r *FlowResult, rst flows.Packet, d int) {
	c, s := f.Client(), f.Server()
	x, y := &f.Ep[d], &f.Ep[1-d]
	xa, ya := x.Addr().String(), y.Addr().String()
	gen := generator(rst)
	reset := &Reset{By: sideOf(d), Generator: gen, Packet: rst.Number}
	reset.Accepted = f.RSTAccepted(d) || acceptedLater(f, d)
	r.Reset = reset
	r.evidence(rst.Number)
	xc, yc := r.counters(d), r.counters(1-d)
	xc.Add("TcpOutRsts", int(x.RSTCount))
	set := func(v Verdict, reason, expl string) {
		r.Verdict, reset.Reason, r.Explanation = v, reason, expl
	}
	defer func() {
		if !reset.Accepted {
			r.Notes = append(r.Notes, "the RST's sequence number was not exact: the receiver challenged or ignored it (RFC 5961)")
			if f.ChallengeACK().Number != 0 {
				r.annotate(f.ChallengeACK().Number, "challenge ACK: %s did not accept the RST (its sequence number was not exact, RFC 5961)", ya)
			}
		}
		if r.noAnnotations {
			return
		}
		text := fmt.Sprintf("%s: %s", r.Verdict, r.Explanation)
		if reset.Reason != "" {
			text += fmt.Sprintf(" (%s RST, kernel reason %s", reset.Generator, reset.Reason)
		} else {
			text += fmt.Sprintf(" (%s RST", reset.Generator)
		}
		if cs := counterText(xc); cs != "" {
			text += "; nstat on " + x.Addr().Addr().String() + ": " + cs
		}
		r.annotate(rst.Number, "%s)", text)
	}()

	synSent := c.SYNCount > 0 && !f.RolesGuessed
	handshake := f.HandshakeAck.Number != 0

	// Midstream: a RST with nothing before it from the other side says
	// nothing about why.
	if !synSent && s.SYNCount == 0 && (y.Packets == 0 || x.Packets == x.RSTCount) {
		set(UnknownReset, "", fmt.Sprintf("%s sent a RST, but the capture holds too little of the connection before it to tell why", xa))
		return
	}

	// Answers to a SYN.
	if d == flows.Server && synSent && s.SYNCount == 0 {
		if rst.Flags&capture.ACK != 0 && rst.Ack == c.ISN()+1 {
			set(NoListener, "NO_SOCKET", fmt.Sprintf("%s refused the connection from %s: nothing listens on the port, or a firewall rejects it with a RST", xa, ya))
			r.ClientCounters.Add("TcpAttemptFails", 1)
			r.evidence(c.SYN(0).Number)
			return
		}
		set(UnknownReset, "", fmt.Sprintf("%s sent a RST that does not acknowledge the SYN from %s; the client ignores it", xa, ya))
		return
	}
	if d == flows.Client && synSent && s.SYNCount == 0 {
		reason := ""
		if s.Packets > 0 && s.AckValid {
			reason = "TCP_INVALID_ACK_SEQUENCE"
		}
		set(UnknownReset, reason, fmt.Sprintf("%s reset its own connection attempt to %s before any SYN-ACK", xa, ya))
		if reason != "" {
			r.Explanation = fmt.Sprintf("%s answered its SYN's stray ACK from %s with a RST: the server still held an old connection on this 4-tuple", xa, ya)
		}
		return
	}

	// The server resets a valid handshake ACK: accept queue overflow
	// with tcp_abort_on_overflow=1.
	// The RST follows the ACK at once (within a round trip, seen from
	// the client side).
	// When the first handshake ACK was lost, the server retransmitted its
	// SYN-ACK and the RST answers the client's second ACK.
	window := max(200*time.Millisecond, 2*time.Duration(r.HandshakeRTT*float64(time.Second))+10*time.Millisecond)
	prompt := rst.Time().Sub(f.HandshakeAck.Time()) <= window ||
		(f.SynAckAfterAck == 1 && !f.ClientDataIgnored && rst.Time().Sub(f.FirstSynAckAfterAck().Time()) <= window)
	if d == flows.Server && handshake && gen == "passive" && rst.Seq == s.ISN()+1 && s.FirstData.Number == 0 &&
		!serverAckedClientData(f) && prompt {
		set(Overflow, "INVALID_SYN", fmt.Sprintf("%s's accept queue was full and tcp_abort_on_overflow=1: it answered the handshake ACK from %s with a RST; connect() had succeeded, so the first read or write fails with ECONNRESET", xa, ya))
		r.evidence(f.HandshakeAck.Number)
		xc.Add("TcpExtListenOverflows", 1)
		xc.Add("TcpExtListenDrops", 1)
		xc.Add("TcpExtEmbryonicRsts", 1)
		r.OverflowDrops = 1
		yc.Add("TcpEstabResets", 1)
		return
	}
	// The request expired after SYN-ACK retransmissions: the listener
	// resets the client's next segment.
	if d == flows.Server && handshake && overflowIgnored(f) && gen == "passive" {
		set(Overflow, "TCP_FLAGS", fmt.Sprintf("%s's accept queue was full: it ignored the handshake from %s, retransmitted its SYN-ACK %d times, then dropped the request and reset the client's next segment", xa, ya, f.SynAckAfterAck))
		overflowIgnoredCounters(f, r)
		r.evidence(f.HandshakeAck.Number, f.FirstSynAckAfterAck().Number)
		yc.Add("TcpEstabResets", 1)
		return
	}

	// Data after close: x sent its FIN, y sent more data, x reset it.
	// The data may also have crossed the FIN on the wire (seen before the
	// FIN at this capture point): it lies beyond what the FIN acknowledged.
	late := y.DataAfterPeerFIN()
	if late.Number == 0 && x.FIN.Number != 0 && x.FIN.Flags&capture.ACK != 0 && y.LastNewData.Number != 0 &&
		seqAfter(y.LastNewData.Seq+uint32(y.LastNewData.Len), x.FIN.Ack) {
		late = y.LastNewData
	}
	if x.FIN.Number != 0 && x.FIN.Number < rst.Number && late.Number != 0 && late.Number < rst.Number && gen == "passive" {
		if x.FINAcked.Number != 0 && x.FINAcked.Number < late.Number {
			set(DataAfterClose, "TCP_TIMEWAIT_SOCKET", fmt.Sprintf("%s had closed (its FIN was acknowledged, so only a FIN_WAIT2 mini-socket was left) when %s sent more data; the mini-socket answered with a RST", xa, ya))
		} else {
			set(DataAfterClose, "TCP_ABORT_ON_DATA", fmt.Sprintf("%s had closed (FIN sent) when %s sent more data; the closed socket cannot deliver it and reset the connection", xa, ya))
			xc.Add("TcpExtTCPAbortOnData", 1)
		}
		r.evidence(x.FIN.Number, late.Number)
		estabResets(f, r, 1-d)
		return
	}

	if gen == "active" {
		// Abort after a FIN that was acknowledged: TCP_LINGER2 < 0.
		if x.FIN.Number != 0 && x.FIN.Number < rst.Number && x.FINAcked.Number != 0 && x.FINAcked.Number < rst.Number {
			set(Abort, "TCP_ABORT_ON_LINGER", fmt.Sprintf("%s closed its side with a FIN, and once it was acknowledged, close() with TCP_LINGER2=-1 reset the connection instead of waiting in FIN_WAIT2", xa))
			xc.Add("TcpExtTCPAbortOnLinger", 1)
			r.evidence(x.FIN.Number)
			estabResets(f, r, 1-d)
			return
		}
		// Keep-alive or user timeout.
		if x.TailRetransmits >= minTailRetransmits && y.Packets > 0 {
			set(Timeout, "TCP_KEEPALIVE_TIMEOUT", fmt.Sprintf("%s got no answer to %d retransmissions or keep-alive probes from %s and gave up with a RST", xa, x.TailRetransmits, ya))
			xc.Add("TcpExtTCPAbortOnTimeout", 1)
			r.evidence(x.TailFirst().Number)
			estabResets(f, r, d)
			return
		}
		if n, unread := unreadBytes(f, d); unread {
			set(EarlyClose, "TCP_ABORT_ON_CLOSE", fmt.Sprintf("%s closed with %d unread bytes from %s and sent an active RST instead of a FIN", xa, n, ya))
			xc.Add("TcpExtTCPAbortOnClose", 1)
			r.evidence(y.LastNewData.Number)
			estabResets(f, r, d)
			estabResets(f, r, 1-d)
			return
		}
		set(Abort, "TCP_STATE", fmt.Sprintf("%s aborted the connection with an active RST and no FIN (SO_LINGER {1,0} close, a killed listener's pending connection, or ss -K)", xa))
		if handshake || f.RolesGuessed {
			xc.Add("TcpExtTCPAbortOnData", 1)
		}
		estabResets(f, r, d)
		estabResets(f, r, 1-d)
		if d == flows.Client && x.FirstData.Number != 0 && y.FirstData.Number > x.FirstData.Number {
			r.Notes = append(r.Notes, "the client had read the server's response; had it not, the kernel reason would be TCP_ABORT_ON_CLOSE — the wire cannot tell")
		}
		return
	}

	// A passive RST mid-stream: the sender has no socket for it.
	set(NoSocket, "NO_SOCKET", fmt.Sprintf("%s answered a segment from %s with a passive RST: it has no socket for this connection (restarted, expired, or a NAT mix-up)", xa, ya))
	if d == flows.Server && synSent && !handshake {
		reset.Reason = "TCP_FLAGS"
	}
	estabResets(f, r, 1-d)
}

func seqAfter(a, b uint32) bool { return int32(a-b) > 0 }

// acceptedLater reports whether a later RST from side d was accepted.
func acceptedLater(f *flows.Flow, d int) bool {
	x := &f.Ep[d]
	return x.RSTCount > 1 && (f.Ep[1-d].State == flows.StateReset)
}

// serverAckedClientData reports whether the server acknowledged any
// client payload.
func serverAckedClientData(f *flows.Flow) bool {
	c, s := f.Client(), f.Server()
	return c.FirstData.Number != 0 && s.AckValid && s.MaxAck != c.ISN()+1
}

// unreadBytes tells whether side d reset with unread data from its peer:
// the peer's last new data came after d's own last data (d never
// answered it). A client that sent a request and got a response is
// taken to have read it.
func unreadBytes(f *flows.Flow, d int) (int, bool) {
	x, y := &f.Ep[d], &f.Ep[1-d]
	if y.LastNewData.Number == 0 {
		return 0, false
	}
	if x.LastNewData.Number != 0 && x.LastNewData.Number > y.LastNewData.Number {
		return 0, false
	}
	if d == flows.Client && x.FirstData.Number != 0 && x.FirstData.Number < y.FirstData.Number {
		return 0, false
	}
	n := int(y.NextSeq - y.LastNewData.Seq)
	if x.LastNewData.Number == 0 && y.SYNCount > 0 {
		n = int(y.NextSeq - y.ISN() - 1)
		if y.FIN.Number != 0 {
			n--
		}
	} else if y.FIN.Number != 0 && y.FIN.Number >= y.LastNewData.Number {
		n--
	}
	if n <= 0 {
		n = int(y.LastNewData.Len)
	}
	return n, true
}

// counterText renders a side's counters for an annotation.
func counterText(c Counters) string {
	var parts []string
	for _, name := range CounterOrder {
		if n := c[name]; n != 0 {
			parts = append(parts, fmt.Sprintf("%s %+d", name, n))
		}
	}
	return strings.Join(parts, ", ")
}

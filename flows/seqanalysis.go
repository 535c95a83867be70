package flows

import (
	"strconv"

	"github.com/tcpwhy/tcpwhy/capture"
)

// Label is a set of Wireshark TCP analysis flags for one segment.
type Label uint32

// Wireshark TCP analysis flags (the tcp.analysis.* expert fields).
const (
	// LabelRetransmission is "TCP Retransmission": the segment does not
	// advance the sequence number and is neither out of order nor a fast
	// or spurious retransmission.
	LabelRetransmission Label = 1 << iota
	// LabelFastRetransmission is "TCP Fast Retransmission": a
	// retransmission of the segment at least two duplicate ACKs asked
	// for, within 20 ms of the last of them.
	LabelFastRetransmission
	// LabelSpuriousRetransmission is "TCP Spurious Retransmission": data
	// the peer had already acknowledged.
	LabelSpuriousRetransmission
	// LabelOutOfOrder is "TCP Out-Of-Order": it fills a hole less than
	// one handshake RTT (3 ms when unknown) after the highest segment.
	LabelOutOfOrder
	// LabelLostSegment is "TCP Previous segment not captured": the
	// segment starts beyond the next expected sequence number.
	LabelLostSegment
	// LabelACKedUnseen is "TCP ACKed unseen segment": the segment
	// acknowledges data that was not seen.
	LabelACKedUnseen
	// LabelDupACK is "TCP Dup ACK": a pure ACK repeating the previous
	// ACK and window.
	LabelDupACK
	// LabelZeroWindow is "TCP ZeroWindow": the sender advertises a zero
	// window (SYN, FIN and RST segments excepted).
	LabelZeroWindow
	// LabelZeroWindowProbe is "TCP ZeroWindowProbe": one byte at the next
	// sequence number while the peer's window is zero.
	LabelZeroWindowProbe
	// LabelZeroWindowProbeACK is "TCP ZeroWindowProbeAck": the zero
	// window answer to a zero window probe.
	LabelZeroWindowProbeACK
	// LabelWindowFull is "TCP Window Full": the segment fills the peer's
	// advertised window.
	LabelWindowFull
	// LabelWindowUpdate is "TCP Window Update": a pure ACK that only
	// changes the window.
	LabelWindowUpdate
	// LabelKeepAlive is "TCP Keep-Alive": zero or one byte starting one
	// byte before the next expected sequence number.
	LabelKeepAlive
	// LabelKeepAliveACK is "TCP Keep-Alive ACK": the answer to a
	// keep-alive.
	LabelKeepAliveACK
	// LabelPortReused is "TCP Port numbers reused". The flow table sets
	// it, not SeqAnalysis.
	LabelPortReused
)

// saLabelOrder lists the labels in the order Wireshark's Info column shows
// them (its print functions prepend, so this is their call order reversed).
var saLabelOrder = [...]struct {
	l    Label
	name string
}{
	{LabelZeroWindowProbeACK, "TCP ZeroWindowProbeAck"},
	{LabelZeroWindow, "TCP ZeroWindow"},
	{LabelZeroWindowProbe, "TCP ZeroWindowProbe"},
	{LabelDupACK, "TCP Dup ACK"},
	{LabelKeepAliveACK, "TCP Keep-Alive ACK"},
	{LabelKeepAlive, "TCP Keep-Alive"},
	{LabelWindowFull, "TCP Window Full"},
	{LabelWindowUpdate, "TCP Window Update"},
	{LabelACKedUnseen, "TCP ACKed unseen segment"},
	{LabelLostSegment, "TCP Previous segment not captured"},
	{LabelOutOfOrder, "TCP Out-Of-Order"},
	{LabelSpuriousRetransmission, "TCP Spurious Retransmission"},
	{LabelFastRetransmission, "TCP Fast Retransmission"},
	{LabelRetransmission, "TCP Retransmission"},
	{LabelPortReused, "TCP Port numbers reused"},
}

// AppendStrings appends the Wireshark Info-column label strings of l (for
// example "TCP Retransmission"), separated by ", ", in the order Wireshark
// shows them. LabelDupACK is written as plain "TCP Dup ACK"; see
// SeqResult.AppendStrings for the numbered form.
func (l Label) AppendStrings(dst []byte) []byte {
	return saAppend(dst, l, 0, 0)
}

// String returns the label strings of l separated by ", ", or "" for an
// empty set.
func (l Label) String() string { return string(l.AppendStrings(nil)) }

// Has reports whether every label of l2 is set in l.
func (l Label) Has(l2 Label) bool { return l&l2 == l2 }

func saAppend(dst []byte, l Label, dupOf int64, dupNum uint32) []byte {
	first := true
	for _, e := range saLabelOrder {
		if l&e.l == 0 {
			continue
		}
		if !first {
			dst = append(dst, ", "...)
		}
		first = false
		dst = append(dst, e.name...)
		if e.l == LabelDupACK && dupNum != 0 {
			dst = append(dst, ' ')
			dst = strconv.AppendInt(dst, dupOf, 10)
			dst = append(dst, '#')
			dst = strconv.AppendUint(dst, uint64(dupNum), 10)
		}
	}
	return dst
}

// SeqResult is what SeqAnalysis says about one segment.
type SeqResult struct {
	// Labels are the analysis flags of the segment.
	Labels Label
	// DupACKOf is the packet number of the original ACK when Labels has
	// LabelDupACK (Wireshark's tcp.analysis.duplicate_ack_frame).
	DupACKOf int64
	// DupACKNum is the n in "TCP Dup ACK f#n"
	// (tcp.analysis.duplicate_ack_num).
	DupACKNum uint32
}

// AppendStrings appends the label strings like Label.AppendStrings, but
// writes a duplicate ACK the way Wireshark's Info column does:
// "TCP Dup ACK 12#1".
func (r SeqResult) AppendStrings(dst []byte) []byte {
	return saAppend(dst, r.Labels, r.DupACKOf, r.DupACKNum)
}

// String returns the label strings with a numbered duplicate ACK.
func (r SeqResult) String() string { return string(r.AppendStrings(nil)) }

// Window scale states besides a known shift (0..14), as Wireshark encodes
// them in tcp_flow_t.win_scale.
const (
	saScaleUnknown int8 = -1 // no SYN seen: scaling unknown
	saScaleNone    int8 = -2 // the handshake shows no scaling is used
)

// saThresholdOOO is Wireshark's out-of-order threshold when the handshake
// RTT is unknown; saFastRetransWindow is how soon after the last duplicate
// ACK a retransmission counts as fast.
const (
	saThresholdOOO      = 3_000_000  // ns
	saFastRetransWindow = 20_000_000 // ns
)

// saFlow is the per-direction state: Wireshark's tcp_flow_t plus its
// tcp_analyze_seq_flow_info_t, without the lists that only serve RTT and
// bytes-in-flight.
type saFlow struct {
	// nextSeqTime is when nextSeq last advanced (UnixNano); lastAckTime
	// when lastAck was sent.
	nextSeqTime int64
	lastAckTime int64
	// lastNonDupACK is the packet number of the last ACK that changed
	// the ack number (see dupACKNum).
	lastNonDupACK int64

	baseSeq uint32
	// nextSeq is the highest sequence number seen plus one (0: none yet,
	// as in Wireshark).
	nextSeq uint32
	// maxSeqToBeAcked is the end of the contiguous data seen.
	maxSeqToBeAcked uint32
	// lastAck is the last acknowledgment number sent.
	lastAck uint32
	// window is the last raw window sent (MaxUint32 before any).
	window uint32
	// dupACKNum counts the duplicate ACKs sent since lastNonDupACK; -1
	// after the peer acknowledged unseen data beyond everything this side
	// sent.
	dupACKNum int32
	// lastSegFlags are the labels of the last segment sent (keep-alive
	// and zero window probe ACKs refer to them).
	lastSegFlags Label

	// winScale is the shift, or saScaleUnknown / saScaleNone.
	winScale int8
	baseSet  bool
	// firstACK is set from a SYN until the first ACK without SYN: the
	// window is not scaled yet.
	firstACK bool
	// mpOps is SeqAnalysis.mpOps as of this side's last segment.
	mpOps uint8
}

// SeqAnalysis follows both directions of one connection like Wireshark's
// TCP sequence analysis (tcp_analyze_sequence_number in
// epan/dissectors/packet-tcp.c) and labels each segment with the flags
// Wireshark would show. The rules are those of Wireshark 4.0 with its
// default preferences, checked against tshark 4.0.17. The zero value is
// ready to use; it is a plain value (no pointers) and Observe allocates
// nothing.
//
// As tshark does, an ACK for a hole in what the peer sent is reported as an
// ACKed unseen segment once per hole, and an ACK beyond anything the peer
// sent once until the peer sends again.
//
// A SYN (without ACK) whose sequence number differs from the one that
// started the connection resets the analysis, as Wireshark starts a new
// conversation then.
type SeqAnalysis struct {
	flow [2]saFlow

	// mruSYN is the time of the latest SYN (without ACK); firstRTT the
	// time from it to the first ACK (0 while unknown).
	mruSYN   int64
	firstRTT int64

	init      bool
	hasMRUSYN bool
	// mptcp is set once an MPTCP option was seen; mpOps are the MPTCP
	// option subtypes seen so far (Wireshark's mp_operations).
	mptcp bool
	mpOps uint8
}

func (a *SeqAnalysis) saInit() {
	*a = SeqAnalysis{init: true}
	for i := range a.flow {
		a.flow[i].window = ^uint32(0)
		a.flow[i].winScale = saScaleUnknown
	}
}

// Sequence-space comparisons (Wireshark's GT_SEQ, LT_SEQ, LE_SEQ).
func saGT(x, y uint32) bool { return int32(y-x) < 0 }
func saLT(x, y uint32) bool { return int32(x-y) < 0 }
func saLE(x, y uint32) bool { return int32(x-y) <= 0 }

// Observe analyses one segment sent by side dir (0 or 1) and returns its
// labels. Only KindTCP segments are passed; others return no labels and do
// not change the state. Segments must come in capture order.
func (a *SeqAnalysis) Observe(dir int, seg *capture.Segment) SeqResult {
	if seg.Kind != capture.KindTCP {
		return SeqResult{}
	}
	return a.observe(dir, seg, seg.Time.UnixNano())
}

// observe is Observe with the segment's time in Unix nanoseconds.
func (a *SeqAnalysis) observe(dir int, seg *capture.Segment, now int64) SeqResult {
	if seg.Kind != capture.KindTCP {
		return SeqResult{}
	}
	if !a.init {
		a.saInit()
	}
	dir &= 1
	fwd, rev := &a.flow[dir], &a.flow[dir^1]
	flags := seg.Flags

	// dissect_tcp: a SYN on a known conversation.
	if flags&(capture.SYN|capture.ACK) == capture.SYN && fwd.baseSet {
		if seg.Seq != fwd.baseSeq {
			a.saInit() // new ISN: a new conversation
		} else {
			// Retransmitted SYN: undo a nextseq an RST may have moved.
			fwd.nextSeq = fwd.maxSeqToBeAcked
		}
	}
	if flags&(capture.SYN|capture.ACK) == capture.SYN|capture.ACK && fwd.baseSet && seg.Seq != fwd.baseSeq {
		fwd.baseSeq = seg.Seq
	}

	var res SeqResult
	if seg.HeaderTruncated {
		// Wireshark cannot analyse a segment whose header it cannot read.
		return res
	}
	res = a.saAnalyze(fwd, rev, seg, now)

	// What dissect_tcp does after the analysis: handshake RTT, first ACK,
	// then options (window scale, MPTCP).
	if flags&capture.SYN != 0 {
		if flags&capture.ACK == 0 {
			a.mruSYN, a.hasMRUSYN = now, true
		}
		fwd.firstACK = true
	}
	if flags&(capture.SYN|capture.ACK) == capture.ACK {
		if a.hasMRUSYN && a.firstRTT == 0 {
			a.firstRTT = now - a.mruSYN
		}
		fwd.firstACK = false
	}
	a.saOptions(fwd, rev, seg)
	return res
}

// saAnalyze is tcp_analyze_sequence_number.
func (a *SeqAnalysis) saAnalyze(fwd, rev *saFlow, seg *capture.Segment, now int64) SeqResult {
	const sfr = capture.SYN | capture.FIN | capture.RST
	var res SeqResult
	var l Label
	seq, ack, flags := seg.Seq, seg.Ack, seg.Flags
	window := uint32(seg.Window)
	var seglen uint32
	if seg.PayloadLen > 0 {
		seglen = uint32(seg.PayloadLen)
	}

	if !fwd.baseSet {
		fwd.baseSeq = seq
		if flags&capture.SYN == 0 {
			fwd.baseSeq = seq - 1
		}
		fwd.baseSet = true
	}
	if !rev.baseSet && flags&capture.ACK != 0 {
		rev.baseSeq = ack - 1
		rev.baseSet = true
	}

	switch {
	case seglen == 1 && seq == fwd.nextSeq && rev.window == 0:
		l |= LabelZeroWindowProbe
	default:
		if window == 0 && flags&sfr == 0 {
			l |= LabelZeroWindow
		}
		if fwd.nextSeq != 0 && saGT(seq, fwd.nextSeq) && flags&capture.RST == 0 {
			l |= LabelLostSegment
		}
		if seglen <= 1 && seq == fwd.nextSeq-1 && flags&sfr == 0 {
			l |= LabelKeepAlive
		}
		pureSame := seglen == 0 && seq == fwd.nextSeq && ack == fwd.lastAck && flags&sfr == 0
		if pureSame && window != 0 && window != fwd.window {
			l |= LabelWindowUpdate
		}
		if seglen > 0 && rev.winScale != saScaleUnknown && flags&sfr == 0 {
			shift := uint(0)
			if !rev.firstACK && rev.winScale >= 0 {
				shift = uint(rev.winScale)
			}
			if seq+seglen == rev.lastAck+rev.window<<shift {
				l |= LabelWindowFull
			}
		}
		switch {
		case pureSame && window != 0 && window == fwd.window && rev.lastSegFlags&LabelKeepAlive != 0:
			l |= LabelKeepAliveACK
		case pureSame && window == 0 && fwd.window == 0 && rev.lastSegFlags&LabelZeroWindowProbe != 0:
			l |= LabelZeroWindowProbeACK
		case pureSame && window != 0 && window == fwd.window:
			// MPTCP tolerates duplicate ACKs that carry new options.
			if !a.mptcp || a.mpOps == fwd.mpOps {
				if fwd.dupACKNum < 0 {
					fwd.dupACKNum = 0 // an ACKed unseen segment counted -1
				}
				fwd.dupACKNum++
				l |= LabelDupACK
				res.DupACKNum = uint32(fwd.dupACKNum)
				res.DupACKOf = fwd.lastNonDupACK
			}
		}
	}

	// finished_fwd:
	if ack != fwd.lastAck {
		fwd.lastNonDupACK = seg.Packet
		fwd.dupACKNum = 0
	}
	if rev.maxSeqToBeAcked != 0 && saGT(ack, rev.maxSeqToBeAcked) && flags&capture.ACK != 0 {
		if saGT(ack, rev.nextSeq) {
			// Beyond anything the peer was seen sending: say it once
			// until the peer sends again.
			if rev.dupACKNum == 0 {
				l |= LabelACKedUnseen
			}
			rev.dupACKNum = -1
		} else {
			// A hole in what the peer sent: say it once per hole.
			l |= LabelACKedUnseen
			rev.maxSeqToBeAcked = rev.nextSeq
		}
	}

	if (seglen > 0 || flags&(capture.SYN|capture.FIN) != 0) && l&LabelKeepAlive == 0 {
		l |= a.saRetransmission(fwd, rev, seq, seglen, flags, now)
	}

	// finished_checking_retransmission_type:
	nextSeq := seq + seglen
	if flags&(capture.SYN|capture.FIN) != 0 {
		nextSeq++
	}
	if (saGT(nextSeq, fwd.nextSeq) || fwd.nextSeq == 0) && l&LabelZeroWindowProbe == 0 {
		fwd.nextSeq = nextSeq
		fwd.nextSeqTime = now
	}
	if (seq == fwd.maxSeqToBeAcked || fwd.maxSeqToBeAcked == 0) && l&LabelZeroWindowProbe == 0 {
		fwd.maxSeqToBeAcked = fwd.nextSeq
	}
	fwd.window = window
	fwd.lastAck = ack
	fwd.lastAckTime = now
	if a.mptcp {
		fwd.mpOps = a.mpOps
	}
	fwd.lastSegFlags = l
	res.Labels = l
	return res
}

// saRetransmission tells a segment that does not advance the sequence
// number apart: spurious, fast, out-of-order or plain retransmission.
func (a *SeqAnalysis) saRetransmission(fwd, rev *saFlow, seq, seglen uint32, flags capture.Flags, now int64) Label {
	notAdvanced := fwd.nextSeq != 0 && saLT(seq, fwd.nextSeq)
	// More than one byte right after a possible zero window probe is new
	// data.
	if seglen > 1 && fwd.nextSeq-1 == seq {
		notAdvanced = false
	}
	if seglen > 0 && rev.lastAck != 0 && saLE(seq+seglen, rev.lastAck) {
		return LabelSpuriousRetransmission
	}
	if notAdvanced && rev.dupACKNum >= 2 && rev.lastAck == seq &&
		uint64(now-rev.lastAckTime) < saFastRetransWindow {
		return LabelFastRetransmission
	}
	thres := uint64(saThresholdOOO)
	if a.firstRTT != 0 {
		thres = uint64(a.firstRTT)
	}
	end := seq + seglen
	if flags&(capture.SYN|capture.FIN) != 0 {
		end++
	}
	if notAdvanced && uint64(now-fwd.nextSeqTime) < thres && fwd.nextSeq != end {
		return LabelOutOfOrder
	}
	if notAdvanced {
		return LabelRetransmission
	}
	return 0
}

// saOptions applies the segment's window scale and MPTCP options, which
// Wireshark dissects after the sequence analysis.
func (a *SeqAnalysis) saOptions(fwd, rev *saFlow, seg *capture.Segment) {
	opts := seg.RawOptions[:min(int(seg.OptionsLen), len(seg.RawOptions))]
	var ops uint8
	mptcp := false
	for i := 0; i < len(opts); {
		kind := opts[i]
		if kind == 0 {
			break
		}
		if kind == 1 {
			i++
			continue
		}
		if i+1 >= len(opts) {
			break
		}
		n := int(opts[i+1])
		if n < 2 || i+n > len(opts) {
			break
		}
		switch {
		case kind == 3 && n == 3:
			fwd.winScale = int8(min(opts[i+2], 14))
		case kind == 30 && n >= 3:
			mptcp = true
			if sub := opts[i+2] >> 4; sub < 8 {
				ops |= 1 << sub
			}
		}
		i += n
	}
	if seg.OptionsLen == 0 && seg.Flags&capture.SYN != 0 && seg.Opt.WScale != -1 {
		// A SYN built without raw options: trust the parsed shift.
		fwd.winScale = seg.Opt.WScale
		if fwd.winScale > 14 || fwd.winScale < -1 {
			fwd.winScale = 14
		}
	}
	if seg.Flags&capture.SYN != 0 {
		// verify_tcp_window_scaling
		if fwd.winScale == saScaleUnknown {
			fwd.winScale = saScaleNone
			rev.winScale = saScaleNone
		} else if seg.Flags&capture.ACK != 0 && rev.winScale == saScaleNone {
			fwd.winScale = saScaleNone
		}
	}
	if mptcp {
		a.mptcp = true
		a.mpOps |= ops
	}
}

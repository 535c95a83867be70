package classify

import (
	"errors"
	"math"
	"net/netip"
	"slices"
	"time"
)

// noTime is the Unix-ns form of the zero time.Time in briefs (no capture
// time is that early: flows clamp times to 1678).
const noTime = math.MinInt64

// unixNs returns t as Unix ns, noTime for the zero time.
func unixNs(t time.Time) int64 {
	if t.IsZero() {
		return noTime
	}
	return t.UnixNano()
}

// nsTime is the inverse of unixNs (times are in UTC, as flows makes them).
func nsTime(ns int64) time.Time {
	if ns == noTime {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

// brief is the part of a FlowResult the listener diagnosis reads, with
// times as Unix ns (noTime: none) and the reset and hints reduced to what
// the diagnoses compare.
type brief struct {
	id          int64
	firstPacket int64
	client      netip.Addr
	verdict     Verdict
	// evidence is the flow's evidence, at most maxEvidence packets.
	evidence []int64
	// start, end, handshakeDone and firstResponse are the FlowResult's
	// Start, End, HandshakeDone and ServerFirstResponse.
	start, end, handshakeDone, firstResponse int64
	// synAck, synAckPkt, dropped, dropStart, dropEnd and cookie are the
	// hints of the same names (cookie as a set of cookieSigns bits).
	synAck, synAckPkt  int64
	dropStart, dropEnd int64
	dropped            int32
	cookie             uint8
	// rstPkt, rstTime and rstTTL are the server's first RST's number,
	// time and TTL.
	rstPkt, rstTime int64
	rstTTL          uint8
	flags           briefFlags
}

type briefFlags uint8

const (
	// bfSynAckRetrans: the server retransmitted its SYN-ACK.
	bfSynAckRetrans briefFlags = 1 << iota
	// bfReset: the flow has a Reset; bfResetByServer, bfResetActive and
	// bfResetInvalidSYN describe it (By server, Generator "active",
	// Reason "INVALID_SYN").
	bfReset
	bfResetByServer
	bfResetActive
	bfResetInvalidSYN
	// bfRSTIPID: the server's first RST has a non-zero IP ID.
	bfRSTIPID
)

func (b *brief) Start() time.Time               { return nsTime(b.start) }
func (b *brief) End() time.Time                 { return nsTime(b.end) }
func (b *brief) HandshakeDone() time.Time       { return nsTime(b.handshakeDone) }
func (b *brief) ServerFirstResponse() time.Time { return nsTime(b.firstResponse) }
func (b *brief) has(f briefFlags) bool          { return b.flags&f != 0 }

// briefOf returns the brief of r.
func briefOf(r *FlowResult) brief {
	h := &r.hints
	b := brief{id: r.ID, firstPacket: r.FirstPacket, client: r.Client.Addr(), verdict: r.Verdict,
		evidence: r.Evidence[:min(len(r.Evidence), maxEvidence)],
		start:    unixNs(r.Start), end: unixNs(r.End), handshakeDone: unixNs(r.HandshakeDone),
		firstResponse: unixNs(r.ServerFirstResponse), synAck: unixNs(h.synAck), synAckPkt: h.synAckPkt,
		dropStart: unixNs(h.dropStart), dropEnd: unixNs(h.dropEnd), dropped: int32(min(h.dropped, math.MaxInt32)),
		rstPkt: h.srvRST.Number, rstTime: unixNs(h.srvRST.Time()), rstTTL: h.srvRST.TTL}
	for i, s := range cookieSigns {
		if slices.Contains(h.cookie, s) {
			b.cookie |= 1 << i
		}
	}
	if r.SYNACKRetransmits > 0 {
		b.flags |= bfSynAckRetrans
	}
	if rs := r.Reset; rs != nil {
		b.flags |= bfReset
		if rs.By == SideServer {
			b.flags |= bfResetByServer
		}
		if rs.Generator == "active" {
			b.flags |= bfResetActive
		}
		if rs.Reason == "INVALID_SYN" {
			b.flags |= bfResetInvalidSYN
		}
	}
	if h.srvRST.IPID != 0 {
		b.flags |= bfRSTIPID
	}
	return b
}

// A listener keeps its briefs encoded until the diagnosis (40 to 60
// bytes each instead of 176): varints, the times but the start as deltas
// from it, the packet numbers from the first packet's, the evidence from
// the previous packet's, the verdict as its index in Verdicts.

// briefTimes lists the times of a brief in their encoding's order.
func briefTimes(b *brief) [8]*int64 {
	return [8]*int64{&b.start, &b.end, &b.handshakeDone, &b.firstResponse, &b.synAck, &b.dropStart, &b.dropEnd, &b.rstTime}
}

// appendBrief appends the encoding of b to buf.
func appendBrief(buf []byte, b *brief) []byte {
	e := encoder{buf}
	e.int(b.id)
	e.int(b.firstPacket)
	switch ip := b.client; {
	case ip.Is4():
		a := ip.As4()
		e.b = append(append(e.b, 4), a[:]...)
	case ip.Is6():
		a := ip.As16()
		e.b = append(append(e.b, 6), a[:]...)
		e.str(ip.Zone())
	default:
		e.b = append(e.b, 0)
	}
	if i := slices.Index(Verdicts, b.verdict); i >= 0 {
		e.uint(uint64(i))
	} else {
		e.uint(uint64(len(Verdicts)))
		e.str(string(b.verdict))
	}
	e.b = append(e.b, byte(b.flags), b.cookie, b.rstTTL)
	e.uint(uint64(b.dropped))
	ts := briefTimes(b)
	var present byte
	for i, t := range ts {
		if *t != noTime {
			present |= 1 << i
		}
	}
	e.b = append(e.b, present)
	for i, t := range ts {
		switch {
		case *t == noTime:
		case i == 0:
			e.int(*t)
		default:
			e.int(*t - b.start)
		}
	}
	e.int(b.synAckPkt - b.firstPacket)
	e.int(b.rstPkt - b.firstPacket)
	e.uint(uint64(len(b.evidence)))
	prev := b.firstPacket
	for _, p := range b.evidence {
		e.int(p - prev)
		prev = p
	}
	return e.b
}

var errCorruptBrief = errors.New("corrupt listener brief")

// decodeBrief decodes the brief at the start of buf into b, its evidence
// appended to ev; it returns the rest of buf and ev.
func decodeBrief(buf []byte, b *brief, ev []int64) ([]byte, []int64, error) {
	d := decoder{b: buf}
	*b = brief{id: d.int(), firstPacket: d.int()}
	take := func(n int) []byte {
		if len(d.b) < n {
			d.fail()
			return make([]byte, n)
		}
		s := d.b[:n]
		d.b = d.b[n:]
		return s
	}
	switch take(1)[0] {
	case 4:
		b.client = netip.AddrFrom4([4]byte(take(4)))
	case 6:
		b.client = netip.AddrFrom16([16]byte(take(16))).WithZone(d.str())
	case 0:
	default:
		d.fail()
	}
	if v := d.uint(); v < uint64(len(Verdicts)) {
		b.verdict = Verdicts[v]
	} else {
		b.verdict = Verdict(d.str())
	}
	f := take(3)
	b.flags, b.cookie, b.rstTTL = briefFlags(f[0]), f[1], f[2]
	b.dropped = int32(d.uint())
	present := take(1)[0]
	for i, t := range briefTimes(b) {
		switch {
		case present&(1<<i) == 0:
			*t = noTime
		case i == 0:
			*t = d.int()
		default:
			*t = b.start + d.int()
		}
	}
	b.synAckPkt = b.firstPacket + d.int()
	b.rstPkt = b.firstPacket + d.int()
	n := d.length()
	prev := b.firstPacket
	for range n {
		prev += d.int()
		ev = append(ev, prev)
	}
	if d.err != nil {
		return nil, ev, errCorruptBrief
	}
	return d.b, ev, nil
}

// briefList holds one listener's briefs encoded, in chunks that start
// small and double up to briefChunkMax bytes (growing never copies).
type briefList struct {
	chunks [][]byte
	n      int
}

const (
	briefChunkMin = 256
	briefChunkMax = 16 << 10
)

func (l *briefList) add(b *brief) {
	var rec [256]byte
	r := appendBrief(rec[:0], b)
	last := len(l.chunks) - 1
	if last < 0 || len(l.chunks[last])+len(r) > cap(l.chunks[last]) {
		size := briefChunkMin
		if last >= 0 {
			size = min(2*cap(l.chunks[last]), briefChunkMax)
		}
		l.chunks = append(l.chunks, make([]byte, 0, max(size, len(r))))
		last++
	}
	l.chunks[last] = append(l.chunks[last], r...)
	l.n++
}

// decode returns the briefs in the order they were added.
func (l *briefList) decode() ([]*brief, error) {
	if l.n == 0 {
		return nil, nil
	}
	bs := make([]brief, l.n)
	ps := make([]*brief, l.n)
	var ev []int64
	evAt := make([]int32, l.n+1)
	i := 0
	for _, c := range l.chunks {
		for len(c) > 0 {
			if i == l.n {
				return nil, errCorruptBrief
			}
			var err error
			if c, ev, err = decodeBrief(c, &bs[i], ev); err != nil {
				return nil, err
			}
			i++
			evAt[i] = int32(len(ev))
		}
	}
	if i != l.n {
		return nil, errCorruptBrief
	}
	for i := range bs {
		if evAt[i] < evAt[i+1] {
			bs[i].evidence = ev[evAt[i]:evAt[i+1]:evAt[i+1]]
		}
		ps[i] = &bs[i]
	}
	return ps, nil
}

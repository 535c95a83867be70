package gen

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
)

// TCP flag bits of a scripted packet.
const (
	fFIN = 1 << iota
	fSYN
	fRST
	fPSH
	fACK
)

// Option layouts of a scripted packet.
const (
	optNone = iota // no options (passive RSTs)
	optSYN         // mss,sackOK,TS,nop,wscale 7
	optTS          // nop,nop,TS
	optSACK        // nop,nop,TS,nop,nop,sack 1
)

// Payload sources of a scripted packet.
const (
	payBody     = iota // body bytes (pseudo-random)
	payRequest         // start of a request
	payResponse        // start of a response
)

// pkt is one scripted packet of a connection.
type pkt struct {
	at           int64 // µs after Config.Start
	seq, ack     uint32
	tsval, tsecr uint32
	sackL, sackR uint32
	win          uint16
	ipid         uint16
	plen         uint16
	flags        uint8
	opts         uint8
	pay          uint8
	fromServer   bool
}

// endpoint is the sending state of one side of a connection.
type endpoint struct {
	isn, nxt uint32
	tsOff    uint32
	recent   uint32 // last TS val received from the peer
	ipid     uint16
	baseWin  uint16
	win      uint16
	synWin   uint16
	mss      uint16
	rcvd     int
}

// conn is one generated connection: its addresses and its packet script.
type conn struct {
	id             int64
	kind           Kind
	v6             bool
	http           bool
	cAddr, sAddr   [16]byte
	cPort, sPort   uint16
	cTTL           uint8
	cLabel, sLabel uint32
	pkts           []pkt
	next           int
}

// at is the capture time of the connection's next packet.
func (c *conn) at() int64 { return c.pkts[c.next].at }

// builder writes the packet script of one connection.
type builder struct {
	rng    *rand.Rand
	c      *conn
	cl, sv endpoint
	rtt    int64 // µs
	gap    int64 // µs between back-to-back server segments
	cwnd   int
	seg    int // payload bytes of a full segment

	lastSeg, lastAck int // indexes in c.pkts of the last response segment and its final client ACK
}

// logU draws log-uniformly from [lo, hi].
func logU(r *rand.Rand, lo, hi float64) float64 {
	return math.Exp(math.Log(lo) + r.Float64()*(math.Log(hi)-math.Log(lo)))
}

func (b *builder) us(lo, hi float64) int64 { return int64(logU(b.rng, lo, hi)) }

// sproc is the server kernel/application turnaround.
func (b *builder) sproc() int64 { return 5 + b.rng.Int64N(35) }

// back is when the client's answer to a server packet sent at t is captured.
func (b *builder) back(t int64) int64 { return t + b.rtt + 10 + b.rng.Int64N(60) }

func (b *builder) sides(fromServer bool) (src, dst *endpoint) {
	if fromServer {
		return &b.sv, &b.cl
	}
	return &b.cl, &b.sv
}

func (b *builder) tsval(e *endpoint, at int64) uint32 { return e.tsOff + uint32(at/1000) }

// send appends a segment that advances the sender's sequence number.
func (b *builder) send(at int64, fromServer bool, flags uint8, plen int, pay uint8) int {
	src, dst := b.sides(fromServer)
	p := pkt{at: at, fromServer: fromServer, flags: flags, plen: uint16(plen), pay: pay, opts: optTS, win: src.win}
	if flags&fSYN != 0 {
		src.nxt = src.isn
		p.opts = optSYN
		p.win = src.synWin
	}
	p.seq = src.nxt
	if flags&fACK != 0 {
		p.ack = dst.nxt
	}
	p.tsval = b.tsval(src, at)
	p.tsecr = src.recent
	dst.recent = p.tsval
	p.ipid = src.ipid
	src.ipid++
	src.nxt += uint32(plen)
	if flags&(fSYN|fFIN) != 0 {
		src.nxt++
	}
	if plen > 0 {
		dst.rcvd += plen
		dst.win = dst.baseWin + uint16(min(dst.rcvd/1024, 4000))
	}
	b.c.pkts = append(b.c.pkts, p)
	return len(b.c.pkts) - 1
}

// ackTo appends a pure ACK with an explicit acknowledgment number and,
// when sackR > sackL, one SACK block.
func (b *builder) ackTo(at int64, fromServer bool, ack, sackL, sackR uint32) int {
	src, dst := b.sides(fromServer)
	p := pkt{at: at, fromServer: fromServer, flags: fACK, opts: optTS, win: src.win,
		seq: src.nxt, ack: ack, tsval: b.tsval(src, at), tsecr: src.recent, ipid: src.ipid}
	if sackR != sackL {
		p.opts, p.sackL, p.sackR = optSACK, sackL, sackR
	}
	src.ipid++
	dst.recent = p.tsval
	b.c.pkts = append(b.c.pkts, p)
	return len(b.c.pkts) - 1
}

// resend appends a retransmission of packet i at a later time.
func (b *builder) resend(at int64, i int) int {
	p := b.c.pkts[i]
	src, dst := b.sides(p.fromServer)
	p.at = at
	p.tsval = b.tsval(src, at)
	p.tsecr = src.recent
	dst.recent = p.tsval
	if p.ipid != 0 || !p.fromServer || p.flags&fSYN == 0 {
		p.ipid = src.ipid
		src.ipid++
	}
	b.c.pkts = append(b.c.pkts, p)
	return len(b.c.pkts) - 1
}

// passiveRST appends a RST the server's kernel sends without a socket:
// window 0, no options, IP ID 0.
func (b *builder) passiveRST(at int64, seq, ack uint32, withAck bool) {
	p := pkt{at: at, fromServer: true, flags: fRST, seq: seq, opts: optNone}
	if withAck {
		p.flags |= fACK
		p.ack = ack
	}
	b.c.pkts = append(b.c.pkts, p)
}

// syn appends the client's SYN.
func (b *builder) syn(at int64) int { return b.send(at, false, fSYN, 0, payBody) }

// synAck appends the server's SYN-ACK, sent by a request socket (IP ID 0).
func (b *builder) synAck(at int64) int {
	i := b.send(at, true, fSYN|fACK, 0, payBody)
	b.c.pkts[i].ipid = 0
	b.sv.ipid--
	return i
}

// handshake scripts SYN, SYN-ACK, ACK from t and returns the ACK's time.
func (b *builder) handshake(t int64) int64 {
	b.syn(t)
	sa := t + b.sproc()
	b.synAck(sa)
	ta := b.back(sa)
	b.send(ta, false, fACK, 0, payBody)
	return ta
}

// request scripts a client request at t and returns its index.
func (b *builder) request(t int64) int {
	return b.send(t, false, fPSH|fACK, int(logU(b.rng, 60, 1200)), payRequest)
}

// exchange scripts a request at t and the server's response; lose drops
// one response segment after the capture point. It returns the time of
// the last response segment and of the client's last ACK.
func (b *builder) exchange(t int64, lose bool) (lastSeg, lastAck int64) {
	b.request(t)
	app := b.us(30, 5000)
	if b.rng.IntN(10) == 0 {
		app = b.us(5000, 300_000)
	}
	if app > 200 {
		b.send(t+b.sproc(), true, fACK, 0, payBody)
	}
	return b.response(t+app, int(logU(b.rng, 80, 6000)), lose)
}

// response scripts size bytes from the server starting at t, paced by slow
// start and the client's ACKs (every second segment and the last).
func (b *builder) response(t int64, size int, lose bool) (lastSeg, lastAck int64) {
	nseg := (size + b.seg - 1) / b.seg
	lossIdx := -1
	if lose {
		// Lose a segment of the last flight.
		sent, cw := 0, b.cwnd
		for sent+cw < nseg {
			sent += cw
			cw = min(2*cw, 200)
		}
		lossIdx = sent + b.rng.IntN(nseg-sent)
	}
	sent := 0
	for sent < nseg {
		n := min(b.cwnd, nseg-sent)
		first := len(b.c.pkts)
		for j := range n {
			i := sent + j
			plen, flags, pay := b.seg, uint8(fACK), uint8(payBody)
			if i == nseg-1 {
				plen = size - (nseg-1)*b.seg
				flags |= fPSH
			}
			if i == 0 {
				pay = payResponse
			}
			b.send(t+int64(j)*b.gap, true, flags, plen, pay)
		}
		end := func(j int) uint32 { p := &b.c.pkts[first+j]; return p.seq + uint32(p.plen) }
		segAt := func(j int) int64 { return b.c.pkts[first+j].at }
		lastSeg = segAt(n - 1)
		L := lossIdx - sent
		if L < 0 || L >= n {
			for j := 1; j < n; j += 2 {
				lastAck = b.back(segAt(j))
				b.lastAck = b.ackTo(lastAck, false, end(j), 0, 0)
			}
			if n%2 == 1 {
				lastAck = b.back(segAt(n - 1))
				b.lastAck = b.ackTo(lastAck, false, end(n-1), 0, 0)
			}
		} else {
			for j := 1; j < L; j += 2 {
				b.ackTo(b.back(segAt(j)), false, end(j), 0, 0)
			}
			hole := b.c.pkts[first+L].seq
			var retx int64
			for j := L + 1; j < n; j++ {
				at := b.back(segAt(j))
				if retx == 0 {
					retx = at + b.rtt/4 + b.sproc()
				}
				b.ackTo(at, false, hole, end(L), end(j))
			}
			if retx == 0 { // tail loss probe
				retx = segAt(L) + max(2*b.rtt, 10_000)
			}
			b.resend(retx, first+L)
			lastAck = b.back(retx)
			b.lastAck = b.ackTo(lastAck, false, end(n-1), 0, 0)
			lastSeg = max(lastSeg, retx)
		}
		b.lastSeg = first + n - 1
		sent += n
		b.cwnd = min(2*b.cwnd, 200)
		t = lastAck + b.sproc()
	}
	return lastSeg, lastAck
}

// think is the client's pause between requests on a kept-alive connection.
func (b *builder) think() int64 {
	if b.rng.IntN(5) == 0 {
		return b.us(200_000, 5_000_000)
	}
	return b.us(200, 200_000)
}

// exchanges scripts n request/response exchanges starting at t, losing a
// segment in the last one when lose is set.
func (b *builder) exchanges(t int64, n int, lose bool) (lastSeg, lastAck int64) {
	for i := range n {
		if i > 0 {
			t = lastAck + b.think()
		}
		lastSeg, lastAck = b.exchange(t, lose && i == n-1)
	}
	return lastSeg, lastAck
}

// clientClose scripts C FIN, S FIN (with or without a separate ACK), C ACK.
func (b *builder) clientClose(t int64) {
	t += b.us(100, 50_000)
	b.send(t, false, fFIN|fACK, 0, payBody)
	ts := t + b.sproc()
	if b.rng.IntN(2) == 0 {
		b.send(ts, true, fACK, 0, payBody)
		ts += b.us(20, 2000)
	}
	b.send(ts, true, fFIN|fACK, 0, payBody)
	b.send(b.back(ts), false, fACK, 0, payBody)
}

// serverClose scripts the server closing right after its last response
// segment (at lastSeg, acknowledged by the client at lastAck).
func (b *builder) serverClose(lastSeg, lastAck int64) {
	var fin int64
	if b.rng.IntN(10) < 3 {
		// FIN on the last data segment: [FP.].
		b.c.pkts[b.lastSeg].flags |= fFIN
		b.sv.nxt++
		b.c.pkts[b.lastAck].ack++
		fin = lastSeg
	} else {
		fin = lastSeg + b.us(10, 1000)
		b.send(fin, true, fFIN|fACK, 0, payBody)
		if b.rng.IntN(2) == 0 {
			b.send(max(b.back(fin), lastAck+1), false, fACK, 0, payBody)
		}
	}
	cf := max(b.back(fin), lastAck) + b.us(10, 500)
	b.send(cf, false, fFIN|fACK, 0, payBody)
	b.send(cf+b.sproc(), true, fACK, 0, payBody)
}

// nExchanges draws the number of request/response exchanges of a normal
// connection.
func (b *builder) nExchanges() int {
	n := 1
	for n < 30 && b.rng.Float64() < 0.78 {
		n++
	}
	return n
}

// script writes the packets of connection c, whose first packet is at t.
func (b *builder) script(t int64) {
	c := b.c
	switch c.kind {
	case KindClientClose, KindRetransmit:
		ta := b.handshake(t)
		_, last := b.exchanges(ta+b.us(10, 200), b.nExchanges(), c.kind == KindRetransmit)
		b.clientClose(last)
	case KindServerClose:
		ta := b.handshake(t)
		seg, ack := b.exchanges(ta+b.us(10, 200), b.nExchanges(), false)
		b.serverClose(seg, ack)
	case KindRefused:
		b.syn(t)
		b.passiveRST(t+b.sproc(), 0, b.cl.isn+1, true)
	case KindSYNRetransmit:
		s := b.syn(t)
		for range 1 + b.rng.IntN(3) {
			t += 1_000_000 + b.rng.Int64N(3000)
			b.resend(t, s)
		}
		sa := t + b.sproc()
		b.synAck(sa)
		ta := b.back(sa)
		b.send(ta, false, fACK, 0, payBody)
		_, last := b.exchanges(ta+b.us(10, 200), 1+b.rng.IntN(3), false)
		b.clientClose(last)
	case KindSYNTimeout:
		s := b.syn(t)
		for _, sec := range [...]int64{1, 2, 3, 4, 5, 7} {
			b.resend(t+sec*1_000_000+b.rng.Int64N(3000), s)
		}
	case KindMidstreamRST:
		ta := b.handshake(t)
		_, last := b.exchanges(ta+b.us(10, 200), 1+b.rng.IntN(3), false)
		r := b.request(last + b.us(2_000_000, 20_000_000))
		p := b.c.pkts[r]
		b.passiveRST(p.at+b.sproc(), p.ack, 0, false)
	case KindOverflowDrop:
		b.syn(t)
		sa := t + b.sproc()
		synAck := b.synAck(sa)
		ta := b.back(sa)
		b.send(ta, false, fACK, 0, payBody)
		req := b.request(ta + b.us(10, 200))
		treq := b.c.pkts[req].at
		// SYN-ACK retransmits 1 s and 3 s after the first, each answered
		// by a duplicate ACK, and the client's request retransmissions
		// (its RTO, doubling) until one comes after the accepted ACK.
		// Emitted in time order so TS echoes stay causal.
		type event struct {
			at   int64
			what int // 0 SYN-ACK, 1 dup ACK, 2 request
		}
		var buf [24]event
		evs := buf[:0]
		var accepted int64
		for _, sec := range [...]int64{1, 3} {
			at := sa + sec*1_000_000 + b.rng.Int64N(3000)
			accepted = b.back(at)
			evs = append(evs, event{at, 0}, event{accepted, 1})
		}
		rto := b.rtt + 200_000
		at := treq + rto
		for ; at <= accepted; at += rto {
			evs = append(evs, event{at, 2})
			rto *= 2
		}
		evs = append(evs, event{at, 2})
		slices.SortStableFunc(evs, func(x, y event) int { return cmp.Compare(x.at, y.at) })
		for _, ev := range evs {
			switch ev.what {
			case 0:
				b.resend(ev.at, synAck)
			case 1:
				b.send(ev.at, false, fACK, 0, payBody)
			default:
				b.resend(ev.at, req)
			}
		}
		app := b.us(30, 5000)
		seg, ack := b.response(at+app, int(logU(b.rng, 80, 6000)), false)
		if b.rng.IntN(2) == 0 {
			b.serverClose(seg, ack)
		} else {
			b.clientClose(ack)
		}
	case KindOverflowReset:
		ta := b.handshake(t)
		b.passiveRST(ta+b.sproc(), b.sv.isn+1, 0, false)
		if b.rng.IntN(4) != 0 {
			r := b.request(ta + b.us(5, 30))
			b.passiveRST(b.c.pkts[r].at+b.sproc(), b.sv.isn+1, 0, false)
		}
	case KindEarlyClose:
		ta := b.handshake(t)
		last := ta
		if n := b.rng.IntN(4); n > 0 {
			_, last = b.exchanges(ta+b.us(10, 200), n, false)
		}
		r := b.request(last + b.us(10, 300))
		tr := b.c.pkts[r].at
		if b.rng.IntN(2) == 0 {
			b.send(tr+b.sproc(), true, fACK, 0, payBody)
		}
		b.send(tr+b.us(100, 5000), true, fRST|fACK, 0, payBody)
	}
	slices.SortStableFunc(c.pkts, func(x, y pkt) int { return cmp.Compare(x.at, y.at) })
}

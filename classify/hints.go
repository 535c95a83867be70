package classify

import (
	"strings"
	"time"

	"github.com/tcpwhy/tcpwhy/capture"
	"github.com/tcpwhy/tcpwhy/flows"
)

// flowHints are wire details of one flow that the listener diagnosis and
// the injected-RST check need beyond the FlowResult's public fields.
type flowHints struct {
	// synAck and synAckPkt are the time and number of the first SYN-ACK.
	synAck    time.Time
	synAckPkt int64
	// dropped counts the client's SYNs that went unanswered (sent before
	// the one the first SYN-ACK answered, or all of them); dropStart and
	// dropEnd are the first of them and the SYN that ended the wait.
	dropped            int
	dropStart, dropEnd time.Time
	// cookie lists the signs that the SYN-ACK was a SYN cookie.
	cookie []string
	// fullOpts is set when the client's SYN had no timestamps but offered
	// SACK or window scaling, and the SYN-ACK kept them (no cookie).
	fullOpts bool
	// srvTTL and cliTTL bound the TTLs of each side's non-RST segments
	// (srvTTLN, cliTTLN: how many).
	srvTTL, cliTTL   [2]uint8
	srvTTLN, cliTTLN int
	// srvRST is the server's first RST.
	srvRST flows.Packet
}

// The signs of a SYN cookie, in print order.
const (
	cookieSilent  = "SYN-ACK never retransmitted while the client's handshake ACK and data were ignored"
	cookieTrimmed = "SYN-ACK options trimmed to MSS because the SYN had no timestamps"
	cookieMSSSign = "server segments cut to the cookie table's MSS"
	cookieECN     = "ECN refused without timestamps"
)

var cookieSigns = []string{cookieSilent, cookieTrimmed, cookieMSSSign, cookieECN}

// The MSS values a SYN cookie can encode (net/ipv4/syncookies.c,
// net/ipv6/syncookies.c).
var (
	cookieMSS4 = []uint16{536, 1300, 1440, 1460}
	cookieMSS6 = []uint16{1220, 1420, 1440, 8940}
)

// cookieMSS is the MSS a cookie remembers for a client MSS: the largest
// table entry not above it.
func cookieMSS(mss uint16, v6 bool) uint16 {
	tab := cookieMSS4
	if v6 {
		tab = cookieMSS6
	}
	i := len(tab) - 1
	for ; i > 0; i-- {
		if mss >= tab[i] {
			break
		}
	}
	return tab[i]
}

// collectHints records the flow's hints, flags an injected RST, and adds
// the SYN cookie counters.
func collectHints(f *flows.Flow, r *FlowResult) {
	c, s := f.Client(), f.Server()
	h := &r.hints
	if n := int(s.Packets - s.RSTCount); n > 0 {
		h.srvTTL, h.srvTTLN = [2]uint8{s.TTLMin, s.TTLMax}, n
	}
	if n := int(c.Packets - c.RSTCount); n > 0 {
		h.cliTTL, h.cliTTLN = [2]uint8{c.TTLMin, c.TTLMax}, n
	}
	h.srvRST = s.RST()
	if r.Reset != nil {
		d := flows.Client
		if r.Reset.By == SideServer {
			d = flows.Server
		}
		if in := injectedSuspect(f, d, f.Ep[d].RST()); in != nil {
			r.Reset.InjectedSuspect = in
			r.Notes = append(r.Notes, "the RST looks injected by a middlebox: "+strings.Join(in.Evidence, "; "))
			r.annotate(f.Ep[d].RST().Number, "injected RST suspect: %s", strings.Join(in.Evidence, "; "))
		}
	}
	if f.RolesGuessed || c.SYNCount == 0 {
		return
	}
	if s.SYNCount > 0 {
		h.synAck, h.synAckPkt = s.SYN(0).Time(), s.SYN(0).Number
	}
	// The client's SYNs before the one the first SYN-ACK answered.
	n := c.SYNs()
	last := c.SYN(n - 1)
	if s.SYNCount > 0 {
		last = flows.Packet{}
		first := s.SYN(0).Number
		for i := 0; i < n && c.SYN(i).Number < first; i++ {
			last = c.SYN(i)
			h.dropped = i
		}
	} else {
		h.dropped = int(c.SYNCount)
	}
	if h.dropped > 0 {
		h.dropStart, h.dropEnd = c.SYN(0).Time(), last.Time()
	}
	if s.SYNCount == 0 {
		return
	}
	cookieHints(f, r)
}

// cookieHints looks for the signs of a SYN cookie SYN-ACK (reference
// 1.6e) and adds the cookie counters.
func cookieHints(f *flows.Flow, r *FlowResult) {
	c, s := f.Client(), f.Server()
	h := &r.hints
	co, so := c.SYNOpt(), s.SYNOpt()
	offered := !co.HasTS && (co.SACKPermitted || co.WScale >= 0)
	if offered && so.MSS != 0 && !so.HasTS {
		if !so.SACKPermitted && so.WScale < 0 {
			h.cookie = append(h.cookie, cookieTrimmed)
		} else {
			h.fullOpts = true
		}
	}
	if r.Verdict == Overflow && f.SynAckAfterAck == 0 && s.SYNCount == 1 && f.HandshakeAck.Number != 0 &&
		f.Last.Time().Sub(s.SYN(0).Time()) >= 1500*time.Millisecond {
		h.cookie = append(h.cookie, cookieSilent)
	}
	if co.MSS != 0 {
		q := cookieMSS(co.MSS, f.IPv6)
		seg := max(s.FirstData.Len, s.LastData().Len, s.LastNewData.Len)
		if q < co.MSS && seg > 0 && (seg == int32(q) || (s.UsesTS && seg == int32(q)-12)) {
			h.cookie = append(h.cookie, cookieMSSSign)
		}
	}
	if len(h.cookie) == 0 {
		return
	}
	if syn := c.SYN(0); syn.Flags&(capture.ECE|capture.CWR) == capture.ECE|capture.CWR && !co.HasTS && s.SYN(0).Flags&capture.ECE == 0 {
		h.cookie = append(h.cookie, cookieECN)
	}
	r.ServerCounters.Add("TcpExtSyncookiesSent", int(s.SYNCount))
	r.ServerCounters.Add("TcpExtTCPReqQFullDoCookies", int(s.SYNCount))
	switch {
	case r.Verdict == Overflow:
		// Each segment that arrived with the cookie was validated, then
		// dropped at the full accept queue.
		r.ServerCounters.Add("TcpExtSyncookiesRecv", max(r.OverflowDrops, 1))
	case f.HandshakeAck.Number != 0:
		r.ServerCounters.Add("TcpExtSyncookiesRecv", 1)
	}
}

package classify

import (
	"fmt"
	"math"
	"time"

	"github.com/tcpwhy/tcpwhy/capture"
	"github.com/tcpwhy/tcpwhy/flows"
)

// secs converts a duration to seconds.
func secs(d time.Duration) float64 { return d.Seconds() }

func sideOf(d int) Side {
	if d == flows.Client {
		return SideClient
	}
	return SideServer
}

// Flow classifies one decided flow. captureEnd is the time of the last
// packet of the whole capture: it tells whether a silence after the
// flow's last packet was long enough to mean a give-up.
func Flow(f *flows.Flow, captureEnd time.Time) *FlowResult {
	r := new(FlowResult)
	classifyInto(r, f, captureEnd)
	return r
}

// classifyInto is Flow into r, whose earlier content it replaces; r's
// counter maps are cleared and reused, and so are the arrays of its
// Evidence and Annotations.
func classifyInto(r *FlowResult, f *flows.Flow, captureEnd time.Time) {
	cc, sc := r.ClientCounters, r.ServerCounters
	if cc == nil {
		cc, sc = Counters{}, Counters{}
	}
	clear(cc)
	clear(sc)
	c, s := f.Client(), f.Server()
	*r = FlowResult{
		ID: f.ID, Client: c.Addr(), Server: s.Addr(), RolesGuessed: f.RolesGuessed, IPv6: f.IPv6,
		FirstPacket: f.First.Number, LastPacket: f.Last.Number, Start: f.First.Time(), End: f.Last.Time(),
		ClientPackets: int(c.Packets), ServerPackets: int(s.Packets), ClientBytes: c.Bytes, ServerBytes: s.Bytes,
		ClientCounters: cc, ServerCounters: sc, HandshakeRTT: -1, Evicted: f.Evicted,
		spareEvidence: r.spareEvidence[:0], spareAnnotations: r.spareAnnotations[:0], histories: r.histories,
		noAnnotations: r.noAnnotations,
	}
	if c.SYNCount > 1 {
		r.SYNRetransmits = int(c.SYNCount) - 1
	}
	if s.SYNCount > 1 {
		r.SYNACKRetransmits = int(s.SYNCount) - 1
		r.SYNACKGaps = gaps(s)
	}
	if c.SYNCount > 1 {
		r.SYN = matchSchedule(gaps(c))
	}
	if f.HandshakeAck.Number != 0 {
		r.HandshakeDone = f.HandshakeAck.Time()
		if syn := answeredSYN(f); syn.Number != 0 {
			r.HandshakeRTT = secs(r.HandshakeDone.Sub(syn.Time()))
		}
	}
	r.ServerFirstResponse = firstResponse(f)
	for _, p := range [...]flows.Packet{c.FIN, s.FIN, c.RST(), s.RST()} {
		if t := p.Time(); p.Number != 0 && (r.ClosedAt.IsZero() || t.Before(r.ClosedAt)) {
			r.ClosedAt = t
		}
	}
	switch {
	case c.FIN.Number != 0 && s.FIN.Number != 0 && isSimultaneous(f):
		r.FirstFINBy = SideBoth
	case c.FIN.Number != 0 && (s.FIN.Number == 0 || c.FIN.Number < s.FIN.Number):
		r.FirstFINBy = SideClient
	case s.FIN.Number != 0:
		r.FirstFINBy = SideServer
	}
	if f.RolesGuessed {
		r.Notes = append(r.Notes, "no SYN seen: client and server roles are guessed from the ports")
	}
	if f.BadChecksums > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("%d segments carry a wrong TCP checksum (checksum offload on the capturing host?); analysed anyway", f.BadChecksums))
	}
	decide(f, r, captureEnd)
	zeek(f, r)
	retransmitCounters(f, r)
	collectHints(f, r)
}

// release hands classified flows back to the table, which reuses their
// memory for new flows (nothing of a flow is kept once Flow returned), and
// returns fs emptied.
func release(t *flows.Table, fs []*flows.Flow) []*flows.Flow {
	for i, f := range fs {
		t.Release(f)
		fs[i] = nil
	}
	return fs[:0]
}

// isSimultaneous reports whether each side sent its FIN before it saw the
// other's (both FINs cross on the wire).
func isSimultaneous(f *flows.Flow) bool {
	c, s := f.Client(), f.Server()
	// A side that had received the other's FIN acknowledges it in its own
	// FIN; a simultaneous close has both FINs acknowledging no FIN.
	cAcksS := c.FIN.Flags&capture.ACK != 0 && c.FIN.Ack == s.FIN.Seq+uint32(s.FIN.Len)+1
	sAcksC := s.FIN.Flags&capture.ACK != 0 && s.FIN.Ack == c.FIN.Seq+uint32(c.FIN.Len)+1
	return !cAcksS && !sAcksC
}

func gaps(e *flows.Endpoint) []float64 {
	n := e.SYNs()
	var g []float64
	for i := 1; i < n; i++ {
		g = append(g, math.Round(secs(e.SYN(i).Time().Sub(e.SYN(i-1).Time()))*1000)/1000)
	}
	return g
}

// answeredSYN is the last client SYN sent before the first SYN-ACK.
func answeredSYN(f *flows.Flow) flows.Packet {
	c, s := f.Client(), f.Server()
	if s.SYNCount == 0 || c.SYNCount == 0 {
		return flows.Packet{}
	}
	first := s.SYN(0).Number
	var last flows.Packet
	for i := 0; i < c.SYNs(); i++ {
		if p := c.SYN(i); p.Number < first {
			last = p
		}
	}
	return last
}

// firstResponse is when the server first sent data or acknowledged
// client data after the handshake; zero when it never did (as far as
// the per-endpoint summary tells).
func firstResponse(f *flows.Flow) time.Time {
	s := f.Server()
	if s.FirstData.Number != 0 {
		return s.FirstData.Time()
	}
	return time.Time{}
}

type schedule struct {
	name   string
	gaps   []float64
	giveUp float64
}

// The SYN retransmit schedules of Linux (see the reference, 1.7).
var schedules = []schedule{
	{"linux>=6.5", []float64{1, 1, 1, 1, 1, 2, 4, 8, 16, 32}, 131},
	{"linux-3.1..6.4", []float64{1, 2, 4, 8, 16, 32}, 127},
	{"linux<3.1", []float64{3, 6, 12, 24, 48}, 189},
}

// matchSchedule names the schedules whose first gaps fit g within 25%.
func matchSchedule(g []float64) *SYNSchedule {
	sc := &SYNSchedule{Gaps: g}
	for _, s := range schedules {
		if len(g) > len(s.gaps) {
			continue
		}
		ok := true
		for i, x := range g {
			if math.Abs(x-s.gaps[i]) > 0.25*s.gaps[i]+0.05 {
				ok = false
				break
			}
		}
		if ok {
			sc.Matches = append(sc.Matches, s.name)
			if sc.GiveUp == 0 {
				sc.GiveUp = s.giveUp
			}
		}
	}
	return sc
}

// nextGap is the retransmission gap expected after the last SYN.
func nextGap(sc *SYNSchedule) float64 {
	if sc == nil || len(sc.Matches) == 0 {
		return 0
	}
	for _, s := range schedules {
		if s.name == sc.Matches[0] && len(sc.Gaps) < len(s.gaps) {
			return s.gaps[len(sc.Gaps)]
		}
	}
	return 0
}

// retransmitCounters adds TCPSynRetrans for SYN and SYN-ACK retransmissions.
func retransmitCounters(f *flows.Flow, r *FlowResult) {
	r.ClientCounters.Add("TcpExtTCPSynRetrans", r.SYNRetransmits)
	r.ServerCounters.Add("TcpExtTCPSynRetrans", r.SYNACKRetransmits)
	r.SynDropsSeen = r.SYNRetransmits
	if f.Server().SYNCount == 0 && f.Client().SYNCount > 0 && r.Verdict == SynTimeout {
		r.SynDropsSeen = int(f.Client().SYNCount)
	}
}

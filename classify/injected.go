package classify

import (
	"fmt"
	"slices"

	"github.com/tcpwhy/tcpwhy/flows"
)

// Injected is the evidence that a RST did not come from the endpoint it
// claims to come from: its TTL (hop limit) or IP ID does not fit that
// endpoint's other packets, so a middlebox (firewall, IPS, load balancer,
// censor) forged it.
type Injected struct {
	// Packet is the RST's packet number.
	Packet int64
	// TTL is the RST's TTL (IPv6: hop limit).
	TTL uint8
	// SenderTTLMin and SenderTTLMax bound the TTL of the claimed
	// sender's other (non-RST) segments of the flow.
	SenderTTLMin, SenderTTLMax uint8
	// IPID is the RST's IPv4 identification (0 for IPv6).
	IPID uint16
	// Evidence says what does not fit, one sentence each.
	Evidence []string
}

// maxIPIDSamples bounds the packets an IP ID sequence check looks at.
const maxIPIDSamples = flows.MaxSYNs + 8

// injectedSuspect checks side d's deciding RST against the side's other
// packets: a different TTL, or an IP ID outside the side's own
// per-connection sequence. The kernel's passive RSTs (IP ID 0, the
// host's default TTL) and its active ones (the socket's next IP ID)
// fit; a forged RST usually does not. Nil when it fits or when the side
// sent nothing else to compare with.
func injectedSuspect(f *flows.Flow, d int, rst flows.Packet) *Injected {
	x, y := &f.Ep[d], &f.Ep[1-d]
	if rst.Number == 0 || x.Packets <= x.RSTCount {
		return nil
	}
	in := &Injected{Packet: rst.Number, TTL: rst.TTL, SenderTTLMin: x.TTLMin, SenderTTLMax: x.TTLMax, IPID: rst.IPID}
	what := "TTL"
	if f.IPv6 {
		what = "hop limit"
	}
	ttlOff := rst.TTL < x.TTLMin || rst.TTL > x.TTLMax
	if ttlOff {
		rng := fmt.Sprint(x.TTLMin)
		if x.TTLMax != x.TTLMin {
			rng = fmt.Sprintf("%d-%d", x.TTLMin, x.TTLMax)
		}
		in.Evidence = append(in.Evidence, fmt.Sprintf("the RST's %s is %d, while %s's other %d segments arrived with %s %s", what, rst.TTL, x.Addr(), x.Packets-x.RSTCount, what, rng))
	}
	idOff := false
	if !f.IPv6 && rst.IPID != 0 {
		var own, peer [maxIPIDSamples]flows.Packet
		xs, ps := samples(x, own[:0]), samples(y, peer[:0])
		if msg := ipidOutOfSequence(xs, rst); msg != "" {
			idOff = true
			in.Evidence = append(in.Evidence, fmt.Sprintf("its IP ID %d %s", rst.IPID, msg))
		}
		// An injector often copies the IP ID of the packet it answers.
		if p := lastBefore(ps, rst.Number); p.Number != 0 && p.IPID == rst.IPID {
			idOff = true
			in.Evidence = append(in.Evidence, fmt.Sprintf("its IP ID %d equals that of %s's packet %d, the one it answers: copied by an injector", rst.IPID, y.Addr(), p.Number))
		}
	}
	if !ttlOff && !idOff {
		return nil
	}
	if rst.Len > 0 {
		in.Evidence = append(in.Evidence, fmt.Sprintf("it carries %d bytes of payload, which Linux never puts in a RST", rst.Len))
	}
	if x.RSTCount > 1 && x.LastRST().Seq != rst.Seq {
		in.Evidence = append(in.Evidence, fmt.Sprintf("%d RSTs with different sequence numbers were sent (an injector sweeping the window)", x.RSTCount))
	}
	return in
}

// samples collects the packets an endpoint keeps (SYNs, first and last
// data, FIN, tail retransmissions) in packet order, RSTs excluded.
func samples(e *flows.Endpoint, out []flows.Packet) []flows.Packet {
	for i := 0; i < e.SYNs(); i++ {
		out = append(out, e.SYN(i))
	}
	for _, p := range [...]flows.Packet{e.FirstData, e.LastData(), e.LastNewData, e.DataAfterPeerFIN(), e.FIN, e.TailFirst(), e.TailLast()} {
		if p.Number != 0 && len(out) < cap(out) {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b flows.Packet) int { return int(a.Number - b.Number) })
	return slices.CompactFunc(out, func(a, b flows.Packet) bool { return a.Number == b.Number })
}

func lastBefore(ps []flows.Packet, n int64) flows.Packet {
	var last flows.Packet
	for _, p := range ps {
		if p.Number < n {
			last = p
		}
	}
	return last
}

// idStep reports whether IP ID b can follow a within the packets between
// them: a per-connection counter advances by at least 1 and at most by
// the number of packets in between, plus slack packets the capture lost.
func idStep(a, b flows.Packet, slack int64) bool {
	step := int64(b.IPID - a.IPID) // uint16 wrap-around
	return step >= 1 && step <= b.Number-a.Number+slack
}

// ipidOutOfSequence says how the RST's IP ID breaks the sender's own
// sequence, or "" when it fits or the sender shows no sequence (random
// or global IDs, too few packets, IDs of 0).
func ipidOutOfSequence(own []flows.Packet, rst flows.Packet) string {
	var seq []flows.Packet
	for _, p := range own {
		if p.IPID != 0 {
			seq = append(seq, p)
		}
	}
	if len(seq) < 2 {
		return ""
	}
	// A per-connection counter: each sample follows the previous one
	// strictly (a host-wide counter, as Windows uses, jumps with the
	// host's other traffic and cannot be judged).
	for i := 1; i < len(seq); i++ {
		if !idStep(seq[i-1], seq[i], 0) {
			return ""
		}
	}
	prev := lastBefore(seq, rst.Number)
	if prev.Number != 0 && !idStep(prev, rst, rst.Number-prev.Number+16) {
		return fmt.Sprintf("does not follow the sender's own sequence (%d at packet %d, which counts up by one per packet)", prev.IPID, prev.Number)
	}
	for _, p := range seq {
		if p.Number > rst.Number {
			if !idStep(rst, p, p.Number-rst.Number+16) {
				return fmt.Sprintf("does not fit the sender's own sequence (%d at the later packet %d)", p.IPID, p.Number)
			}
			break
		}
	}
	return ""
}

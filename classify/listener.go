package classify

import (
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// Diagnosis is one finding about a listener, backed by packets.
type Diagnosis struct {
	// Kind names the finding: overflow, syn-drops, reject-or-no-listener, ...
	Kind string
	// Explanation says what happened, in one or two sentences.
	Explanation string
	// Checks are what to look at on the host.
	Checks []string
	// Evidence lists packet numbers.
	Evidence []int64
}

// Listener is one server ip:port and what happened to its connections.
type Listener struct {
	// Server is the address and port.
	Server netip.AddrPort
	// Connections counts the flows to it.
	Connections int
	// Verdicts counts its flows by verdict (non-zero entries).
	Verdicts map[Verdict]int
	// Diagnosis lists the findings.
	Diagnosis []Diagnosis
	// AcceptQueueEstimate estimates the accept queue's size when an
	// overflow was seen (nil otherwise).
	AcceptQueueEstimate *int
	// SynDrops counts client SYNs taken as dropped by the full queue.
	SynDrops int
}

const maxEvidence = 10

func addEvidence(ev []int64, ps ...int64) []int64 {
	for _, p := range ps {
		if len(ev) < maxEvidence {
			ev = append(ev, p)
		}
	}
	return ev
}

// overflowChecks are the remedies the source articles name, phrased as
// checks on the host.
var overflowChecks = []string{
	"ss -lnt: on the LISTEN socket, Recv-Q is the accept queue's current depth and Send-Q its size; Recv-Q near Send-Q means the application does not accept() fast enough",
	"the listen() backlog vs net.core.somaxconn (the queue holds min(backlog, somaxconn)+1; nginx: listen ... backlog=N; Java's default backlog is 50)",
	"nstat -az TcpExtListenOverflows TcpExtListenDrops: both rise with every dropped handshake or SYN",
	"net.ipv4.tcp_abort_on_overflow: 0 drops the handshake ACK (clients stall and retry), 1 resets the client at once",
	"net.ipv4.tcp_max_syn_backlog and net.ipv4.tcp_syncookies for the SYN queue",
}

func listeners(rs []*FlowResult) []*Listener {
	m := map[netip.AddrPort]*Listener{}
	byL := map[netip.AddrPort][]*FlowResult{}
	for _, r := range rs {
		if r.RolesGuessed && r.Verdict == Midstream {
			continue
		}
		l := m[r.Server]
		if l == nil {
			l = &Listener{Server: r.Server, Verdicts: map[Verdict]int{}}
			m[r.Server] = l
		}
		l.Connections++
		l.Verdicts[r.Verdict]++
		byL[r.Server] = append(byL[r.Server], r)
	}
	out := make([]*Listener, 0, len(m))
	for k, l := range m {
		diagnose(l, byL[k])
		// The diagnosis may reclassify flows (dropped SYNs of an
		// overflowing listener): count the verdicts afterwards.
		clear(l.Verdicts)
		for _, r := range byL[k] {
			l.Verdicts[r.Verdict]++
		}
		out = append(out, l)
	}
	slices.SortFunc(out, func(x, y *Listener) int { return x.Server.Compare(y.Server) })
	return out
}

func diagnose(l *Listener, rs []*FlowResult) {
	var over []*FlowResult
	var ev []int64
	var t0, t1 time.Time
	abort1 := 0
	for _, r := range rs {
		if r.Verdict != Overflow {
			continue
		}
		over = append(over, r)
		ev = addEvidence(ev, r.Evidence...)
		t := r.HandshakeDone
		if t0.IsZero() || t.Before(t0) {
			t0 = t
		}
		if r.End.After(t1) {
			t1 = r.End
		}
		if r.Reset != nil && r.Reset.Reason == "INVALID_SYN" {
			abort1++
		}
	}
	if len(over) > 0 {
		how := "the server ignored their handshake ACKs and retransmitted SYN-ACKs (tcp_abort_on_overflow=0)"
		if abort1 == len(over) {
			how = "the server reset them right after the handshake (tcp_abort_on_overflow=1)"
		} else if abort1 > 0 {
			how = "the server ignored or reset their handshakes"
		}
		// Unanswered SYNs to a listener whose accept queue was full were
		// dropped by it (Linux ≥ 4.10 drops SYNs while the queue is full):
		// on their own they look like syn-timeout.
		for _, r := range rs {
			if r.Verdict == SynTimeout && !r.Start.Before(t0.Add(-time.Second)) {
				r.Verdict = Overflow
				r.Explanation = fmt.Sprintf("%s's SYNs arrived while the accept queue of %s was full and were dropped without an answer (%d SYNs)", r.Client, r.Server, r.SYNRetransmits+1)
				for i := range r.Annotations {
					r.Annotations[i].Text = "overflow: " + r.Explanation
				}
				over = append(over, r)
				ev = addEvidence(ev, r.Evidence...)
				if r.End.After(t1) {
					t1 = r.End
				}
			}
		}
		synDrops := 0
		for _, r := range rs {
			synDrops += r.SynDropsSeen
		}
		l.SynDrops = synDrops
		l.Diagnosis = append(l.Diagnosis, Diagnosis{
			Kind: "overflow",
			Explanation: fmt.Sprintf("%d of %d connections to %s hit a full accept queue over %.1f s: %s; %d client SYNs went unanswered meanwhile",
				len(over), len(rs), l.Server, t1.Sub(t0).Seconds(), how, synDrops),
			Checks: overflowChecks, Evidence: ev,
		})
		n := acceptQueueEstimate(rs, t0)
		l.AcceptQueueEstimate = &n
	}
	var rej []int64
	nrej := 0
	for _, r := range rs {
		if r.Verdict == NoListener {
			nrej++
			rej = addEvidence(rej, r.Evidence...)
		}
	}
	if nrej > 0 {
		l.Diagnosis = append(l.Diagnosis, Diagnosis{
			Kind:        "reject-or-no-listener",
			Explanation: fmt.Sprintf("%d of %d connection attempts to %s were refused with a RST: nothing listened on the port, or a firewall rejected them", nrej, len(rs), l.Server),
			Checks:      []string{"ss -lnt sport = :" + fmt.Sprint(l.Server.Port()) + ": is anything listening?", "nft list ruleset / iptables -S: a REJECT rule with tcp-reset?"},
			Evidence:    rej,
		})
	}
	if len(over) == 0 {
		var drops []int64
		nd, answered := 0, 0
		for _, r := range rs {
			if r.SYNACKRetransmits >= 0 && r.Verdict != SynTimeout && r.Verdict != NoListener && r.Verdict != Unreachable {
				answered++
			}
			if r.SYNRetransmits > 0 || r.Verdict == SynTimeout {
				nd++
				drops = addEvidence(drops, r.Evidence...)
			}
		}
		if nd > 0 && answered > 0 {
			l.Diagnosis = append(l.Diagnosis, Diagnosis{
				Kind:        "syn-drops",
				Explanation: fmt.Sprintf("%d connection attempts to %s had SYNs go unanswered and retransmitted while the port answered %d others: SYNs were lost or dropped by a full SYN or accept queue", nd, l.Server, answered),
				Checks:      overflowChecks,
				Evidence:    drops,
			})
		}
	}
}

// acceptQueueEstimate counts the connections that had completed their
// handshake and were still waiting, unserved, when the first overflow
// happened at t0: they filled the queue.
func acceptQueueEstimate(rs []*FlowResult, t0 time.Time) int {
	n := 0
	for _, r := range rs {
		if r.Verdict == Overflow || r.HandshakeDone.IsZero() || !r.HandshakeDone.Before(t0) {
			continue
		}
		if !r.ServerFirstResponse.IsZero() && r.ServerFirstResponse.Before(t0) {
			continue
		}
		if !r.ClosedAt.IsZero() && r.ClosedAt.Before(t0) {
			continue
		}
		n++
	}
	return n
}

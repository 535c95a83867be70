package classify

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Listener diagnosis kinds.
const (
	KindOverflow    = "overflow"
	KindSYNCookies  = "syncookies"
	KindSYNDrops    = "syn-drops"
	KindSlowAccept  = "slow-accept"
	KindRestart     = "restart"
	KindRejectOrNot = "reject-or-no-listener"
)

// Diagnosis is one finding about a listener, backed by packets.
type Diagnosis struct {
	// Kind names the finding: overflow, syncookies, syn-drops,
	// slow-accept, restart, reject-or-no-listener.
	Kind string
	// Explanation says what happened, in one or two sentences.
	Explanation string
	// Checks are what to look at on the host.
	Checks []string
	// Evidence lists packet numbers.
	Evidence []int64
	// Connections counts the connections the finding covers; Clients the
	// distinct client addresses among them.
	Connections, Clients int
	// Start and End bound the time the finding covers.
	Start, End time.Time
	// AbortOnOverflow is the tcp_abort_on_overflow setting the wire shows
	// ("0", "1", or "0 and 1"; overflow only).
	AbortOnOverflow string
	// RejectedBy says who sent the refusals (reject-or-no-listener only):
	// "host" when their TTL matches the host's own packets, "middlebox"
	// when it does not (a firewall's REJECT), "unknown" without packets
	// of the host to compare with.
	RejectedBy string
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
	// SYNCookies counts the connections answered with a SYN cookie.
	SYNCookies int
}

const maxEvidence = 10

func addEvidence(ev []int64, ps ...int64) []int64 {
	for _, p := range ps {
		if p != 0 && len(ev) < maxEvidence && !slices.Contains(ev, p) {
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

var cookieChecks = []string{
	"nstat -az TcpExtSyncookiesSent TcpExtSyncookiesRecv TcpExtSyncookiesFailed TcpExtTCPReqQFullDoCookies: cookies are sent only while the SYN queue is full (tcp_syncookies=1)",
	"dmesg | grep 'Possible SYN flooding on port': logged once per listener when it starts sending cookies",
	"the SYN queue holds min(listen() backlog, net.core.somaxconn) requests: raise the backlog (nginx: listen ... backlog=N; Java's default is 50) and net.core.somaxconn",
	"ss -n state syn-recv sport = :PORT | wc -l: many half-open requests from few addresses is a SYN flood, not load",
	"net.ipv4.tcp_syncookies: 1 sends cookies only when the SYN queue is full (cookie connections lose window scaling and SACK when the client sends no timestamps), 2 always, 0 drops the SYNs instead; netfilter SYNPROXY and XDP syncookies send the same SYN-ACKs",
}

var synDropChecks = []string{
	"nstat -az TcpExtListenDrops TcpExtListenOverflows TcpExtTCPReqQFullDrop: ListenOverflows means the accept queue was full, ReqQFullDrop the SYN queue",
	"ss -lnt: Recv-Q near Send-Q on the LISTEN socket means the accept queue is full and new SYNs are dropped",
	"the listen() backlog vs net.core.somaxconn (the queues hold min(backlog, somaxconn)); net.ipv4.tcp_max_syn_backlog (its last quarter is kept for proven peers when tcp_syncookies=0)",
	"dmesg | grep 'Possible SYN flooding on port': the SYN queue overflowed (\"Dropping request\" with tcp_syncookies=0)",
	"a firewall drops every SYN to the port, not some: nft list ruleset / iptables -S for rate limits (limit, hashlimit, connlimit)",
}

var slowAcceptChecks = []string{
	"ss -lnt: Recv-Q on the LISTEN socket counts connections waiting for accept(); non-zero most of the time means the application accepts too slowly",
	"the accept loop: one thread that accepts and then serves each connection, a full worker pool, or a blocked event loop delays every newer connection",
	"ss -tn state established sport = :PORT: connections with data in Recv-Q were accepted by the kernel but not read by the application",
	"the listen() backlog vs net.core.somaxconn: a larger queue hides slow accepts for longer, then overflows (TcpExtListenOverflows)",
}

var restartChecks = []string{
	"the service's restart or crash time: journalctl -u SERVICE, systemctl status SERVICE, dmesg for OOM kills",
	"connections still in the accept queue are reset when the listener closes: drain before stopping (graceful shutdown, stop accepting, then close)",
	"keep a listener open across restarts: SO_REUSEPORT hand-over, systemd socket activation, or a graceful reload (nginx -s reload)",
	"nstat -az TcpOutRsts TcpExtTCPAbortOnClose TcpExtTCPAbortOnData around the restart",
}

// ttlRange bounds the TTLs of a host's non-RST packets (n: how many; the
// diagnosis only tells none from some).
type ttlRange struct {
	min, max uint8
	n        int
}

func clientsOf(rs []*brief) int {
	seen := map[netip.Addr]bool{}
	for _, r := range rs {
		seen[r.client] = true
	}
	return len(seen)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

func clock(t time.Time) string { return t.UTC().Format("15:04:05.000") }

// diagnose adds the listener's diagnoses; the error is one of reading its
// times back from the temporary file (the diagnoses that need them are
// then left out).
func diagnose(la *listenerAgg, ts *timesStore, ttl *ttlRange) error {
	err := diagnoseOverflow(la, ts)
	diagnoseCookies(la)
	if e := diagnoseSYNDrops(la, ts); err == nil {
		err = e
	}
	diagnoseSlowAccept(la)
	refused, e := diagnoseRestart(la, ts)
	if err == nil {
		err = e
	}
	diagnoseRefusals(la, refused, ttl)
	return err
}

// diagnoseOverflow reports an accept queue that overflowed: handshake
// ACKs ignored (SYN-ACKs retransmitted after them) or reset, and the SYNs
// it dropped meanwhile.
func diagnoseOverflow(la *listenerAgg, ts *timesStore) error {
	l, rs := la.l, la.briefs
	var over []*brief
	var ev []int64
	var t0, t1 time.Time
	abort1, abort0 := 0, 0
	for _, r := range rs {
		if r.verdict != Overflow {
			continue
		}
		over = append(over, r)
		ev = addEvidence(ev, r.evidence...)
		t := r.HandshakeDone()
		if t.IsZero() {
			t = r.Start()
		}
		if t0.IsZero() || t.Before(t0) {
			t0 = t
		}
		if r.End().After(t1) {
			t1 = r.End()
		}
		if r.has(bfResetInvalidSYN) {
			abort1++
		} else if r.handshakeDone != noTime {
			abort0++
		}
	}
	if len(over) == 0 {
		return nil
	}
	retrans := 0
	for _, r := range over {
		if r.has(bfSynAckRetrans) {
			retrans++
		}
	}
	ignored := fmt.Sprintf("the server ignored %s (tcp_abort_on_overflow=0)", plural(abort0, "handshake ACK", "handshake ACKs"))
	switch {
	case retrans == abort0:
		ignored = fmt.Sprintf("the server ignored %s and retransmitted its SYN-ACKs (tcp_abort_on_overflow=0)", plural(abort0, "handshake ACK", "handshake ACKs"))
	case retrans == 0:
		ignored = fmt.Sprintf("the server ignored %s and the data after them without retransmitting its SYN-ACKs, which were SYN cookies (tcp_abort_on_overflow=0)", plural(abort0, "handshake ACK", "handshake ACKs"))
	}
	reset := fmt.Sprintf("the server reset %s right after the client's ACK (tcp_abort_on_overflow=1)", plural(abort1, "handshake", "handshakes"))
	how, setting := ignored, "0"
	switch {
	case abort1 > 0 && abort0 == 0:
		how, setting = reset, "1"
	case abort1 > 0:
		how, setting = ignored+" and "+strings.TrimPrefix(reset, "the server ")+": the setting changed during the capture", "0 and 1"
	case abort0 == 0:
		how, setting = "the server dropped their SYNs", ""
	}
	// Unanswered SYNs to a listener whose accept queue was full were
	// dropped by it (Linux ≥ 4.10 drops SYNs while the queue is full):
	// on their own they look like syn-timeout.
	for _, r := range rs {
		if r.verdict == SynTimeout && !r.Start().Before(t0.Add(-time.Second)) {
			r.verdict = Overflow
			la.overflowed = append(la.overflowed, r.id)
			over = append(over, r)
			ev = addEvidence(ev, r.evidence...)
			if r.End().After(t1) {
				t1 = r.End()
			}
		}
	}
	synDrops := la.synDrops
	l.SynDrops = synDrops
	clients := clientsOf(over)
	l.Diagnosis = append(l.Diagnosis, Diagnosis{
		Kind: KindOverflow,
		Explanation: fmt.Sprintf("%s of %d to %s (from %s) hit a full accept queue between %s and %s (%.1f s): %s; %s went unanswered meanwhile",
			plural(len(over), "connection", "connections"), l.Connections, l.Server, plural(clients, "client host", "client hosts"),
			clock(t0), clock(t1), t1.Sub(t0).Seconds(), how, plural(synDrops, "client SYN", "client SYNs")),
		Checks: overflowChecks, Evidence: ev,
		Connections: len(over), Clients: clients, Start: t0, End: t1, AbortOnOverflow: setting,
	})
	n, err := acceptQueueEstimate(&la.times, ts, t0)
	if err != nil {
		return err
	}
	// A full queue holds at least one connection: when the capture shows
	// none waiting at the first overflow (their handshakes came before
	// it), there is no estimate.
	if n > 0 {
		l.AcceptQueueEstimate = &n
	}
	return nil
}

// diagnoseCookies reports SYN-ACKs that were SYN cookies.
func diagnoseCookies(la *listenerAgg) {
	l, rs := la.l, la.briefs
	var cs []*brief
	var ev []int64
	signs := map[string]int{}
	onlyTrimmed, fullSeen := true, la.fullOpts
	var t0, t1 time.Time
	for _, r := range rs {
		if r.cookie == 0 {
			continue
		}
		cs = append(cs, r)
		ev = addEvidence(ev, r.synAckPkt)
		for i, s := range cookieSigns {
			if r.cookie&(1<<i) != 0 {
				signs[s]++
				onlyTrimmed = onlyTrimmed && s == cookieTrimmed
			}
		}
		synAck := nsTime(r.synAck)
		if t0.IsZero() || synAck.Before(t0) {
			t0 = synAck
		}
		if synAck.After(t1) {
			t1 = synAck
		}
	}
	if len(cs) == 0 {
		return
	}
	l.SYNCookies = len(cs)
	var parts []string
	for _, s := range cookieSigns {
		if n := signs[s]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s (%d)", s, n))
		}
	}
	expl := fmt.Sprintf("%s from %s were SYN cookies: the SYN queue (min(backlog, somaxconn) requests) was full, so the kernel answered without keeping state; signs: %s",
		plural(len(cs), "SYN-ACK", "SYN-ACKs"), l.Server, strings.Join(parts, "; "))
	if onlyTrimmed && !fullSeen {
		expl += "; no SYN-ACK of this port kept the options, so SACK and window scaling may simply be disabled on the server"
	}
	l.Diagnosis = append(l.Diagnosis, Diagnosis{Kind: KindSYNCookies, Explanation: expl, Checks: cookieChecks, Evidence: ev,
		Connections: len(cs), Clients: clientsOf(cs), Start: t0, End: t1})
}

// diagnoseSYNDrops reports SYNs that went unanswered while the port
// answered other SYNs at the same time: a full queue drops some SYNs, a
// firewall drops all of them, and one lost SYN is ordinary packet loss.
func diagnoseSYNDrops(la *listenerAgg, ts *timesStore) error {
	l, rs := la.l, la.briefs
	var cand []*brief
	for _, r := range rs {
		if r.dropped == 0 || r.verdict == Overflow || r.verdict == NoListener || r.verdict == Unreachable {
			continue
		}
		cand = append(cand, r)
	}
	if len(cand) == 0 {
		return nil
	}
	from := func(r *brief) int64 { return nsTime(r.dropStart).Add(-500 * time.Millisecond).UnixNano() }
	to := func(r *brief) int64 { return nsTime(r.dropEnd).UnixNano() }
	windows := make([][2]int64, len(cand))
	for i, r := range cand {
		windows[i] = [2]int64{from(r), to(r)}
	}
	acks, err := synAcksIn(&la.times, ts, windows)
	if err != nil {
		return err
	}
	var hit []*brief
	var ev []int64
	dropped, answered := 0, 0
	var t0, t1 time.Time
	for i, r := range cand {
		same := acks[i]
		dropStart, dropEnd, synAck := nsTime(r.dropStart), nsTime(r.dropEnd), nsTime(r.synAck)
		if !synAck.IsZero() && !synAck.Before(dropStart.Add(-500*time.Millisecond)) && !synAck.After(dropEnd) {
			same-- // its own SYN-ACK
		}
		if same <= 0 {
			continue
		}
		hit = append(hit, r)
		dropped += int(r.dropped)
		answered = max(answered, same)
		ev = addEvidence(ev, r.evidence...)
		if t0.IsZero() || dropStart.Before(t0) {
			t0 = dropStart
		}
		if dropEnd.After(t1) {
			t1 = dropEnd
		}
	}
	if dropped < 2 {
		return nil
	}
	l.Diagnosis = append(l.Diagnosis, Diagnosis{
		Kind: KindSYNDrops,
		Explanation: fmt.Sprintf("%s from %s to %s went unanswered and were retransmitted between %s and %s while the port answered %s at the same time: its SYN queue or accept queue was full (a firewall drops every SYN to a port, not some)",
			plural(dropped, "SYN", "SYNs"), plural(len(hit), "connection attempt", "connection attempts"), l.Server, clock(t0), clock(t1), plural(answered, "other SYN", "other SYNs")),
		Checks: synDropChecks, Evidence: ev, Connections: len(hit), Clients: clientsOf(hit), Start: t0, End: t1,
	})
	return nil
}

// synAcksIn counts the SYN-ACKs of a listener's times within each window
// [from, to], as a binary search of their sorted times would: those from
// the window's start up to its end, and one more if any was sent at its
// end. It reads the times once: the windows' bounds, sorted, split the
// time line, and each SYN-ACK counts in the bounds above it.
func synAcksIn(l *timesList, s *timesStore, windows [][2]int64) ([]int, error) {
	bounds := make([]int64, 0, 2*len(windows))
	for _, w := range windows {
		bounds = append(bounds, w[0], w[1])
	}
	slices.Sort(bounds)
	bounds = slices.Compact(bounds)
	// below[i] counts the SYN-ACKs before bounds[i] (once summed), at[i]
	// whether one was sent at bounds[i].
	below := make([]int, len(bounds)+1)
	at := make([]bool, len(bounds))
	err := l.each(s, func(t flowTimes) {
		if t.synAckPkt == 0 {
			return
		}
		i, found := slices.BinarySearch(bounds, t.synAck)
		if found {
			at[i] = true
			i++
		}
		below[i]++
	})
	if err != nil {
		return nil, err
	}
	for i := 1; i < len(below); i++ {
		below[i] += below[i-1]
	}
	n := make([]int, len(windows))
	for i, w := range windows {
		lo, _ := slices.BinarySearch(bounds, w[0])
		hi, _ := slices.BinarySearch(bounds, w[1])
		n[i] = below[hi] - below[lo]
		if at[hi] {
			n[i]++
		}
	}
	return n, nil
}

// slowAcceptDelay is the wait between the handshake and the server's
// first data that counts as slow.
const slowAcceptDelay = time.Second

// diagnoseSlowAccept reports connections that waited seconds after their
// handshake for the server's first data while newer ones completed their
// handshakes behind them: the accept queue was draining slowly.
func diagnoseSlowAccept(la *listenerAgg) {
	l, rs := la.l, la.briefs
	var slow []*brief
	for _, r := range rs {
		if !r.HandshakeDone().IsZero() && !r.ServerFirstResponse().IsZero() && r.ServerFirstResponse().Sub(r.HandshakeDone()) >= slowAcceptDelay {
			slow = append(slow, r)
		}
	}
	if len(slow) < 2 {
		return
	}
	slices.SortFunc(slow, func(a, b *brief) int { return a.HandshakeDone().Compare(b.HandshakeDone()) })
	// A connection waited behind another when its handshake completed
	// before the other's first response (slow is in handshake order).
	waiting := map[*brief]bool{}
	var latest *brief // the earlier connection answered last
	for _, b := range slow {
		if latest != nil && b.HandshakeDone().After(latest.HandshakeDone()) && b.HandshakeDone().Before(latest.ServerFirstResponse()) {
			waiting[latest], waiting[b] = true, true
		}
		if latest == nil || b.ServerFirstResponse().After(latest.ServerFirstResponse()) {
			latest = b
		}
	}
	if len(waiting) < 2 {
		return
	}
	var ev []int64
	var lo, hi time.Duration
	var t0, t1 time.Time
	var hit []*brief
	for _, r := range slow {
		if !waiting[r] {
			continue
		}
		hit = append(hit, r)
		d := r.ServerFirstResponse().Sub(r.HandshakeDone())
		if lo == 0 || d < lo {
			lo = d
		}
		hi = max(hi, d)
		if t0.IsZero() || r.HandshakeDone().Before(t0) {
			t0 = r.HandshakeDone()
		}
		if r.ServerFirstResponse().After(t1) {
			t1 = r.ServerFirstResponse()
		}
		ev = addEvidence(ev, r.firstPacket)
	}
	l.Diagnosis = append(l.Diagnosis, Diagnosis{
		Kind: KindSlowAccept,
		Explanation: fmt.Sprintf("%d connections to %s completed their handshake but got the server's first data %.1f to %.1f s later, while newer connections completed their handshakes and waited behind them: the application accepts (or takes up) connections too slowly",
			len(hit), l.Server, lo.Seconds(), hi.Seconds()),
		Checks: slowAcceptChecks, Evidence: ev, Connections: len(hit), Clients: clientsOf(hit), Start: t0, End: t1,
	})
}

// restartBurst is the window in which the listener's active RSTs to
// several clients count as one burst.
const restartBurst = time.Second

// diagnoseRestart reports a listener that closed: a burst of active RSTs
// from the port to several connections at once (the kernel resets the
// children left in the accept queue, a dying process its open
// connections), then refused connections, then maybe service again. It
// returns the refused flows it explains.
func diagnoseRestart(la *listenerAgg, ts *timesStore) (map[*brief]bool, error) {
	l, rs := la.l, la.briefs
	var aborts []*brief
	for _, r := range rs {
		if r.has(bfReset) && r.has(bfResetByServer) && r.has(bfResetActive) && r.rstPkt != 0 {
			aborts = append(aborts, r)
		}
	}
	if len(aborts) < 2 {
		return nil, nil
	}
	at := func(r *brief) time.Time { return nsTime(r.rstTime) }
	slices.SortFunc(aborts, func(a, b *brief) int { return at(a).Compare(at(b)) })
	var refusals []time.Time
	for _, r := range rs {
		if r.verdict == NoListener {
			refusals = append(refusals, r.Start())
		}
	}
	if len(refusals) == 0 {
		return nil, nil
	}
	slices.SortFunc(refusals, time.Time.Compare)
	j := 0
	for i := range aborts {
		j = max(j, i)
		for j+1 < len(aborts) && at(aborts[j+1]).Sub(at(aborts[i])) <= restartBurst {
			j++
		}
		if j == i {
			continue
		}
		burst := aborts[i : j+1]
		end := at(burst[len(burst)-1])
		start := at(burst[0])
		k, _ := slices.BinarySearchFunc(refusals, start, time.Time.Compare)
		if k == len(refusals) {
			// No refusal after this burst, nor after any later one.
			return nil, nil
		}
		first := refusals[k]
		// Service again: the first SYN answered after the first refusal.
		var back flowTimes
		found := false
		err := la.times.each(ts, func(t flowTimes) {
			if t.synAckPkt != 0 && t.synAck > first.UnixNano() && (!found || t.synAck < back.synAck) {
				back, found = t, true
			}
		})
		if err != nil {
			return nil, err
		}
		var backAt time.Time
		if found {
			backAt = time.Unix(0, back.synAck)
		}
		var refused []*brief
		lastRefused := first
		for _, r := range rs {
			if r.verdict == NoListener && !r.Start().Before(start) && (!found || r.Start().Before(backAt)) {
				refused = append(refused, r)
				if r.Start().After(lastRefused) {
					lastRefused = r.Start()
				}
			}
		}
		var ev []int64
		for _, r := range burst {
			ev = addEvidence(ev, r.rstPkt)
		}
		for _, r := range refused {
			ev = addEvidence(ev, r.evidence...)
		}
		expl := fmt.Sprintf("%s reset %d connections with active RSTs within %.1f s at %s, then refused %s with RSTs: the listening socket was closed (the service stopped or restarted)",
			l.Server, len(burst), end.Sub(at(burst[0])).Seconds(), clock(at(burst[0])), plural(len(refused), "connection attempt", "connection attempts"))
		t1 := lastRefused
		if found {
			t1 = backAt
			expl += fmt.Sprintf("; it answered SYNs again at %s, %.1f s after the resets", clock(t1), t1.Sub(at(burst[0])).Seconds())
			ev = addEvidence(ev, back.synAckPkt)
		} else {
			expl += "; it did not answer again before the capture ended"
		}
		all := append(append([]*brief{}, burst...), refused...)
		l.Diagnosis = append(l.Diagnosis, Diagnosis{Kind: KindRestart, Explanation: expl, Checks: restartChecks, Evidence: ev,
			Connections: len(all), Clients: clientsOf(all), Start: at(burst[0]), End: t1})
		m := map[*brief]bool{}
		for _, r := range refused {
			m[r] = true
		}
		return m, nil
	}
	return nil, nil
}

// diagnoseRefusals reports SYNs answered by a RST, and whether the TTL of
// those RSTs says the host or a box in the path sent them.
func diagnoseRefusals(la *listenerAgg, explained map[*brief]bool, host *ttlRange) {
	l, rs := la.l, la.briefs
	var rej []int64
	var hit []*brief
	var t0, t1 time.Time
	var lo, hi uint8
	nonzeroID := 0
	for _, r := range rs {
		if r.verdict != NoListener || explained[r] {
			continue
		}
		hit = append(hit, r)
		rej = addEvidence(rej, r.evidence...)
		if t0.IsZero() || r.Start().Before(t0) {
			t0 = r.Start()
		}
		if r.End().After(t1) {
			t1 = r.End()
		}
		if len(hit) == 1 || r.rstTTL < lo {
			lo = r.rstTTL
		}
		if len(hit) == 1 || r.rstTTL > hi {
			hi = r.rstTTL
		}
		if r.has(bfRSTIPID) {
			nonzeroID++
		}
	}
	if len(hit) == 0 {
		return
	}
	port := fmt.Sprint(l.Server.Port())
	what := "TTL"
	if l.Server.Addr().Is6() && !l.Server.Addr().Is4In6() {
		what = "hop limit"
	}
	ttls := fmt.Sprint(lo)
	if hi != lo {
		ttls = fmt.Sprintf("%d-%d", lo, hi)
	}
	by, hint := "unknown", fmt.Sprintf("the capture holds no other packets from %s to compare the RSTs' %s with, so a firewall's REJECT cannot be told apart from the host", l.Server.Addr(), what)
	switch {
	case host != nil && host.n > 0 && lo >= host.min && hi <= host.max:
		by = "host"
		hint = fmt.Sprintf("the RSTs' %s (%s) matches %s's own packets: the host itself answered (nothing listening on the port, or a REJECT rule on the host itself)", what, ttls, l.Server.Addr())
	case host != nil && host.n > 0:
		by = "middlebox"
		own := fmt.Sprint(host.min)
		if host.max != host.min {
			own = fmt.Sprintf("%d-%d", host.min, host.max)
		}
		hint = fmt.Sprintf("the RSTs arrive with %s %s while %s's own packets arrive with %s: a firewall or middlebox in the path rejected them (REJECT --reject-with tcp-reset), not the host", what, ttls, l.Server.Addr(), own)
		if nonzeroID > 0 {
			hint += fmt.Sprintf("; %d of them carry a non-zero IP ID, which Linux's own refusals never do", nonzeroID)
		}
	}
	checks := []string{"ss -lnt sport = :" + port + ": is anything listening?", "nft list ruleset / iptables -S: a REJECT rule with tcp-reset?"}
	if by == "middlebox" {
		checks = append(checks, "the firewalls and load balancers between the client and "+l.Server.Addr().String()+": which one rejects port "+port+"?")
	}
	l.Diagnosis = append(l.Diagnosis, Diagnosis{
		Kind:        KindRejectOrNot,
		Explanation: fmt.Sprintf("%d of %d connection attempts to %s were refused with a RST: nothing listened on the port, or a firewall rejected them; %s", len(hit), l.Connections, l.Server, hint),
		Checks:      checks,
		Evidence:    rej, Connections: len(hit), Clients: clientsOf(hit), Start: t0, End: t1, RejectedBy: by,
	})
}

// acceptQueueEstimate counts the connections that had completed their
// handshake and were still waiting, unserved, when the first overflow
// happened at t0: they filled the queue.
func acceptQueueEstimate(l *timesList, s *timesStore, t0 time.Time) (int, error) {
	n, at := 0, t0.UnixNano()
	err := l.each(s, func(t flowTimes) {
		if !t.overflow && t.handshakeDone != 0 && t.handshakeDone < at && t.waitEnd >= at {
			n++
		}
	})
	return n, err
}

// overflowExplanation is the explanation of a syn-timeout flow that the
// diagnosis of its overflowing listener turned into overflow.
func overflowExplanation(r *FlowResult) string {
	return fmt.Sprintf("%s's SYNs arrived while the accept queue of %s was full and were dropped without an answer (%d SYNs)", r.Client, r.Server, r.SYNRetransmits+1)
}

// reclassifyOverflow turns a syn-timeout flow into overflow.
func reclassifyOverflow(r *FlowResult) {
	r.Verdict = Overflow
	r.Explanation = overflowExplanation(r)
	for i := range r.Annotations {
		r.Annotations[i].Text = "overflow: " + r.Explanation
	}
}

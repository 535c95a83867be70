package classify

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// extraNetstatText names, in `netstat -s` words, the counters tcpwhy
// reconciles beyond NetstatText.
var extraNetstatText = map[string]string{
	"TcpExtSyncookiesRecv":       "SYN cookies received",
	"TcpExtSyncookiesFailed":     "invalid SYN cookies received",
	"TcpExtTCPReqQFullDoCookies": "TCPReqQFullDoCookies",
	"TcpExtTCPReqQFullDrop":      "TCPReqQFullDrop",
}

// NetstatPhrase returns the words `netstat -s` prints for an nstat
// counter: its sentence for the counters net-tools describes, otherwise
// the bare name it prints as "Name: N" (TCPSynRetrans).
func NetstatPhrase(name string) string {
	if t, ok := NetstatText[name]; ok {
		return t
	}
	if t, ok := extraNetstatText[name]; ok {
		return t
	}
	return strings.TrimPrefix(strings.TrimPrefix(name, "TcpExt"), "Tcp")
}

// netstatAliases are older net-tools wordings of the same counters.
var netstatAliases = map[string]string{
	"active connections openings":                       "TcpActiveOpens",
	"passive connection openings":                       "TcpPassiveOpens",
	"SYNs to LISTEN sockets ignored":                    "TcpExtListenDrops",
	"connections reset due to unexpected SYN":           "TcpExtTCPAbortOnSyn",
	"times unable to send RST due to no memory":         "TcpExtTCPAbortFailed",
	"connections aborted due to memory pressure":        "TcpExtTCPAbortOnMemory",
	"active connections rejected because of time stamp": "TcpExtPAWSActive",
}

// netstatSections maps the section headers of `netstat -s` to the nstat
// prefix of the counters printed as "Name: N" under them.
var netstatSections = map[string]string{"Tcp": "Tcp", "TcpExt": "TcpExt", "Ip": "Ip", "IpExt": "IpExt",
	"Icmp": "Icmp", "IcmpMsg": "IcmpMsg", "Udp": "Udp", "UdpLite": "UdpLite", "MPTcpExt": "MPTcpExt"}

// NstatSnapshot is one parsed `nstat -az` (or `nstat`) or `netstat -s`
// output.
type NstatSnapshot struct {
	// Format is "nstat" or "netstat-s".
	Format string
	// Counters maps nstat names to values.
	Counters map[string]int64
	// Skipped counts the lines that named no counter tcpwhy knows.
	Skipped int
}

var (
	nstatLine   = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9_]*)\s+(\d+)(\s+[\d.]+)?\s*$`)
	netstatNum  = regexp.MustCompile(`^\s*(\d+)\s+(.*?)\s*$`)
	netstatName = regexp.MustCompile(`^\s*([A-Za-z][A-Za-z0-9_]*):\s*(\d+)\s*$`)
	netstatHead = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9]*):\s*$`)
)

// ParseNstat reads `nstat -az` output (lines "Name value rate", a
// "#kernel" header) or `netstat -s` output (section headers such as
// "TcpExt:" and indented "N phrase" or "Name: N" lines), as a user
// pasted it. It fails when the text holds no counter at all.
func ParseNstat(r io.Reader) (*NstatSnapshot, error) {
	sn := &NstatSnapshot{Counters: map[string]int64{}}
	byPhrase := map[string]string{}
	for name := range NetstatText {
		byPhrase[NetstatText[name]] = name
	}
	for name, t := range extraNetstatText {
		byPhrase[t] = name
	}
	for t, name := range netstatAliases {
		byPhrase[t] = name
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	section := ""
	nstatN, netstatN := 0, 0
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		if m := nstatLine.FindStringSubmatch(trimmed); m != nil && line == strings.TrimLeft(line, " \t") {
			if v, err := strconv.ParseInt(m[2], 10, 64); err == nil {
				sn.Counters[m[1]] = v
				nstatN++
				continue
			}
		}
		if m := netstatHead.FindStringSubmatch(line); m != nil {
			section = netstatSections[m[1]]
			continue
		}
		if m := netstatName.FindStringSubmatch(line); m != nil && section != "" {
			if v, err := strconv.ParseInt(m[2], 10, 64); err == nil {
				sn.Counters[section+m[1]] = v
				netstatN++
				continue
			}
		}
		if m := netstatNum.FindStringSubmatch(line); m != nil && (section == "Tcp" || section == "TcpExt") {
			if name, ok := byPhrase[m[2]]; ok && strings.HasPrefix(name, section) && (section == "TcpExt") == strings.HasPrefix(name, "TcpExt") {
				if v, err := strconv.ParseInt(m[1], 10, 64); err == nil {
					sn.Counters[name] = v
					netstatN++
					continue
				}
			}
		}
		sn.Skipped++
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read counters: %w", err)
	}
	switch {
	case nstatN == 0 && netstatN == 0:
		return nil, errors.New("no counters found: expected the output of nstat -az or netstat -s")
	case nstatN >= netstatN:
		sn.Format = "nstat"
	default:
		sn.Format = "netstat-s"
	}
	return sn, nil
}

// Delta returns the counters' movement from an earlier snapshot to sn
// (counters missing from either count as 0; a counter that went down,
// after a reboot or a namespace change, keeps sn's value).
func (sn *NstatSnapshot) Delta(earlier *NstatSnapshot) map[string]int64 {
	d := map[string]int64{}
	for k, v := range sn.Counters {
		if w := earlier.Counters[k]; v >= w {
			d[k] = v - w
		} else {
			d[k] = v
		}
	}
	return d
}

// Reconciliation statuses.
const (
	// Explained: the capture accounts for the counter's whole movement
	// (exactly; within ±50% for the counters packets can only estimate).
	Explained = "explained"
	// PartlyExplained: the counter moved more than the capture shows.
	PartlyExplained = "partly-explained"
	// NotInCapture: the counter moved, the capture shows none of it.
	NotInCapture = "not-in-capture"
	// NotInCounters: the capture shows it, the counter did not move.
	NotInCounters = "not-in-counters"
	// OverPredicted: the counter moved, but less than the capture shows.
	OverPredicted = "over-predicted"
)

// ReconciledCounter is one counter compared.
type ReconciledCounter struct {
	// Name is the nstat name; Netstat the `netstat -s` words.
	Name, Netstat string
	// Observed is the counter's movement from the user's output;
	// Predicted what the capture explains.
	Observed, Predicted int64
	// Status is one of the reconciliation statuses.
	Status string
	// Explanation says it in a sentence.
	Explanation string
}

// Reconciliation compares the counters a user pasted with what the
// capture predicts for the same host.
type Reconciliation struct {
	// Hosts are the addresses the counters belong to (a host's or a
	// network namespace's addresses: nstat counts IPv4 and IPv6 together).
	Hosts []netip.Addr
	// HostGuessed is set when tcpwhy chose Hosts itself.
	HostGuessed bool
	// Sources name the files read.
	Sources []string
	// Mode is "delta" (one output, taken as the change over the capture)
	// or "snapshots" (the last output minus the first).
	Mode string
	// Counters are the counters compared, in print order.
	Counters []ReconciledCounter
	// Ignored counts the counters in the output that packets cannot
	// predict (IP, UDP, ICMP, segment counts, ...).
	Ignored int
}

// approxNames are counters packets can only estimate: every segment that
// reaches a full accept queue bumps them, and the client's
// retransmission timing decides how many arrive while it is still full.
var approxNames = map[string]bool{"TcpExtListenOverflows": true, "TcpExtListenDrops": true, "TcpExtSyncookiesRecv": true}

// ReconcileNames lists the counters a reconciliation compares, in print
// order.
var ReconcileNames = append(slices.Clone(CounterOrder),
	"TcpExtSyncookiesRecv", "TcpExtSyncookiesFailed", "TcpExtTCPReqQFullDoCookies", "TcpExtTCPReqQFullDrop")

// Predicted returns the counter deltas the capture predicts for a set of
// addresses: the host view's counters, plus connection openings
// (TcpActiveOpens per connection attempt sent, TcpPassiveOpens per
// handshake the listener completed without dropping it).
func (a *Analysis) Predicted(hosts []netip.Addr) Counters {
	in := func(ip netip.Addr) bool { return slices.Contains(hosts, ip.Unmap()) }
	c := Counters{}
	for _, h := range a.Hosts {
		if in(h.IP) {
			for k, v := range h.Counters {
				c.Add(k, v)
			}
		}
	}
	for _, r := range a.Flows {
		if r.RolesGuessed {
			continue
		}
		if in(r.Client.Addr()) && r.ClientPackets > 0 {
			c.Add("TcpActiveOpens", 1)
		}
		if in(r.Server.Addr()) && !r.HandshakeDone.IsZero() && r.Verdict != Overflow {
			c.Add("TcpPassiveOpens", 1)
		}
	}
	return c
}

// Reconcile compares observed counter movements (from ParseNstat, or a
// Delta of two snapshots) with what the capture predicts for hosts.
func Reconcile(a *Analysis, hosts []netip.Addr, observed map[string]int64) *Reconciliation {
	norm := make([]netip.Addr, 0, len(hosts))
	for _, h := range hosts {
		norm = append(norm, h.Unmap())
	}
	rec := &Reconciliation{Hosts: norm, Mode: "delta"}
	pred := a.Predicted(norm)
	known := map[string]bool{}
	for _, n := range ReconcileNames {
		known[n] = true
	}
	for k := range observed {
		if !known[k] {
			rec.Ignored++
		}
	}
	names := slices.Clone(ReconcileNames)
	var extra []string
	for k := range pred {
		if !known[k] {
			extra = append(extra, k)
		}
	}
	slices.Sort(extra)
	names = append(names, extra...)
	who := joinAddrs(norm)
	for _, n := range names {
		obs, p := observed[n], int64(pred[n])
		if obs == 0 && p == 0 {
			continue
		}
		rc := ReconciledCounter{Name: n, Netstat: NetstatPhrase(n), Observed: obs, Predicted: p}
		switch {
		case obs == p || (approxNames[n] && obs > 0 && p > 0 && math.Abs(float64(p-obs)) <= 0.5*float64(obs)):
			rc.Status = Explained
			rc.Explanation = fmt.Sprintf("%s went up %d and the capture shows %d: the capture explains it", n, obs, p)
			if obs != p {
				rc.Explanation += " (packets only estimate this counter: each segment that reached the full queue counts)"
			}
		case p == 0:
			rc.Status = NotInCapture
			rc.Explanation = fmt.Sprintf("%s went up %d but the capture shows none of it: it happened outside the capture window, on traffic the capture did not see, or on other addresses of the host", n, obs)
		case obs == 0:
			rc.Status = NotInCounters
			rc.Explanation = fmt.Sprintf("the capture shows %d for %s but the counter did not move: the counters are from another host or network namespace than %s, or were not taken around the capture", p, n, who)
		case obs > p:
			rc.Status = PartlyExplained
			rc.Explanation = fmt.Sprintf("%s went up %d, this capture shows %d: the rest happened outside the capture window or on other listeners and connections", n, obs, p)
		default:
			rc.Status = OverPredicted
			rc.Explanation = fmt.Sprintf("%s went up %d, less than the %d the capture shows: the counters cover only part of the capture, or belong to another host", n, obs, p)
		}
		rec.Counters = append(rec.Counters, rc)
	}
	return rec
}

// Status returns the names of the counters with a given status.
func (rec *Reconciliation) Status(status string) []string {
	out := []string{}
	for _, c := range rec.Counters {
		if c.Status == status {
			out = append(out, c.Name)
		}
	}
	return out
}

// GuessHosts picks the address whose predicted counters best match the
// observed ones: the most counters both moved, then the smallest
// difference. It returns nil when no address has predicted counters.
func GuessHosts(a *Analysis, observed map[string]int64) []netip.Addr {
	var best netip.Addr
	bestShared, bestDiff := -1, int64(math.MaxInt64)
	for _, h := range a.Hosts {
		hosts := []netip.Addr{h.IP.Unmap()}
		pred := a.Predicted(hosts)
		shared := 0
		var diff int64
		for _, n := range ReconcileNames {
			o, p := observed[n], int64(pred[n])
			if o > 0 && p > 0 {
				shared++
			}
			if o > p {
				diff += o - p
			} else {
				diff += p - o
			}
		}
		if shared > bestShared || (shared == bestShared && diff < bestDiff) {
			best, bestShared, bestDiff = h.IP.Unmap(), shared, diff
		}
	}
	if !best.IsValid() {
		return nil
	}
	return []netip.Addr{best}
}

func joinAddrs(as []netip.Addr) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}

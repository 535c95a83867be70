package classify

import (
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tcpwhy/tcpwhy/capture"
)

// labDir holds the scenario lab's real-kernel captures and truth files.
var labDir = filepath.Join("..", "testdata", "pcaps", "lab")

// labTruth is the part of a lab truth.json these tests read.
type labTruth struct {
	Scenario string `json:"scenario"`
	Captures []struct {
		File string `json:"file"`
	} `json:"captures"`
	Counters  map[string]map[string]int `json:"counters"`
	Listeners []struct {
		Server    string `json:"server"`
		Overflow  bool   `json:"overflow"`
		Backlog   int    `json:"backlog"`
		Somaxconn int    `json:"somaxconn"`
	} `json:"listeners"`
}

// labNamespaceIPs are the addresses of the lab's client and server
// network namespaces (nstat counts per namespace, IPv4 and IPv6 together).
var labNamespaceIPs = map[string][]netip.Addr{
	"client": {netip.MustParseAddr("10.77.0.1"), netip.MustParseAddr("fd77::1")},
	"server": {netip.MustParseAddr("10.77.0.2"), netip.MustParseAddr("fd77::2")},
}

type labCapture struct {
	scenario, file string
	truth          labTruth
	a              *Analysis
}

func labCaptures(t *testing.T) []labCapture {
	t.Helper()
	truths, _ := filepath.Glob(filepath.Join(labDir, "*", "truth.json"))
	if len(truths) == 0 {
		t.Fatalf("no lab truth files under %s", labDir)
	}
	sort.Strings(truths)
	var out []labCapture
	for _, tf := range truths {
		b, err := os.ReadFile(tf)
		if err != nil {
			t.Fatal(err)
		}
		var tr labTruth
		if err := json.Unmarshal(b, &tr); err != nil {
			t.Fatalf("%s: %v", tf, err)
		}
		for _, c := range tr.Captures {
			path := filepath.Join(filepath.Dir(tf), c.File)
			src, err := capture.Open([]string{path}, capture.OpenOptions{})
			if err != nil {
				t.Fatalf("open %s: %v", path, err)
			}
			a := Analyze(src, Options{})
			src.Close()
			if a.Err != nil {
				t.Fatalf("%s: %v", path, a.Err)
			}
			out = append(out, labCapture{scenario: tr.Scenario, file: c.File, truth: tr, a: a})
		}
	}
	return out
}

func kinds(l *Listener) []string {
	var k []string
	for _, d := range l.Diagnosis {
		k = append(k, d.Kind)
	}
	return k
}

// wantKinds are the listener diagnoses each overflowing lab listener
// must get, and nothing else.
var wantKinds = map[string][]string{
	"overflow-abort0":     {KindOverflow},
	"overflow-abort1":     {KindOverflow},
	"overflow-syncookies": {KindOverflow, KindSYNCookies},
	"mixed":               {KindOverflow},
}

// TestLabListenerDiagnosis checks the listener diagnosis on every lab
// capture: the overflowing listener gets exactly the expected kinds and
// an accept-queue estimate within ±1 of min(backlog, somaxconn)+1; no
// other listener gets a queue kind; refusals are put on the host itself.
func TestLabListenerDiagnosis(t *testing.T) {
	queueKinds := []string{KindOverflow, KindSYNCookies, KindSYNDrops, KindSlowAccept, KindRestart}
	checked := 0
	for _, lc := range labCaptures(t) {
		name := lc.scenario + "/" + lc.file
		over := map[string]labTruth{}
		for _, l := range lc.truth.Listeners {
			if l.Overflow {
				over[l.Server] = lc.truth
			}
		}
		for _, l := range lc.a.Listeners {
			got := kinds(l)
			if _, ok := over[l.Server.String()]; ok {
				checked++
				if want := wantKinds[lc.scenario]; !slices.Equal(got, want) {
					t.Errorf("%s: listener %s: kinds %v, want %v", name, l.Server, got, want)
				}
				for _, tl := range lc.truth.Listeners {
					if tl.Server != l.Server.String() {
						continue
					}
					want := min(tl.Backlog, tl.Somaxconn) + 1
					if l.AcceptQueueEstimate == nil || *l.AcceptQueueEstimate < want-1 || *l.AcceptQueueEstimate > want+1 {
						t.Errorf("%s: listener %s: accept queue estimate %v, want %d±1", name, l.Server, l.AcceptQueueEstimate, want)
					} else {
						t.Logf("%s: %s: kinds %v, accept queue estimate %d (want %d±1)", name, l.Server, got, *l.AcceptQueueEstimate, want)
					}
				}
				for _, d := range l.Diagnosis {
					if d.Kind == KindOverflow && (d.Connections == 0 || d.Clients == 0 || d.End.Before(d.Start) || d.AbortOnOverflow == "") {
						t.Errorf("%s: listener %s: overflow diagnosis lacks its span, clients or setting: %+v", name, l.Server, d)
					}
				}
				continue
			}
			for _, k := range got {
				if slices.Contains(queueKinds, k) {
					t.Errorf("%s: listener %s did not overflow but got %q: %+v", name, l.Server, k, l.Diagnosis)
				}
			}
			for _, d := range l.Diagnosis {
				if d.Kind == KindRejectOrNot && d.RejectedBy != "host" && d.RejectedBy != "unknown" {
					t.Errorf("%s: listener %s: the lab's refusals come from the host, got %q (%s)", name, l.Server, d.RejectedBy, d.Explanation)
				}
			}
		}
	}
	if checked < 7 {
		t.Errorf("only %d overflowing lab listeners checked, want at least 7 (abort0, abort1, syncookies, mixed; two capture points each)", checked)
	}
	// The abort setting is the one the scenario used.
	for _, lc := range labCaptures(t) {
		for _, l := range lc.a.Listeners {
			for _, d := range l.Diagnosis {
				if d.Kind != KindOverflow {
					continue
				}
				want := map[string]string{"overflow-abort0": "0", "overflow-abort1": "1", "overflow-syncookies": "0", "mixed": "1"}[lc.scenario]
				if d.AbortOnOverflow != want {
					t.Errorf("%s/%s: abort_on_overflow %q, want %q", lc.scenario, lc.file, d.AbortOnOverflow, want)
				}
			}
		}
	}
}

// TestLabNoInjectedRST checks that no RST of the lab (the kernel's own
// passive and active RSTs) is flagged as injected.
func TestLabNoInjectedRST(t *testing.T) {
	resets := 0
	for _, lc := range labCaptures(t) {
		for _, r := range lc.a.Flows {
			if r.Reset == nil {
				continue
			}
			resets++
			if r.Reset.InjectedSuspect != nil {
				t.Errorf("%s/%s: flow %s > %s: kernel RST flagged as injected: %v", lc.scenario, lc.file, r.Client, r.Server, r.Reset.InjectedSuspect.Evidence)
			}
		}
	}
	if resets < 20 {
		t.Errorf("only %d RSTs in the lab captures; the test checks nothing", resets)
	}
	t.Logf("%d lab RSTs checked, none flagged", resets)
}

// nstatText renders counters as `nstat -az` prints them.
func nstatText(c map[string]int) string {
	var b strings.Builder
	b.WriteString("#kernel\n")
	names := make([]string, 0, len(c))
	for k := range c {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		fmt.Fprintf(&b, "%-32s%-19d0.0\n", k, c[k])
	}
	return b.String()
}

// labExact are the counters the lab acceptance requires to be exact.
var labExact = []string{"TcpOutRsts", "TcpAttemptFails", "TcpExtTCPAbortOnClose", "TcpExtTCPAbortOnData",
	"TcpExtTCPAbortOnLinger", "TcpExtEmbryonicRsts", "TcpExtTCPSynRetrans"}

// TestLabReconcile writes each lab scenario's recorded kernel counters
// as `nstat -az` text, parses it back, reconciles it with the capture,
// and requires the exact-list counters (and the overflow counters,
// approximately) to be reported as explained.
func TestLabReconcile(t *testing.T) {
	n := 0
	for _, lc := range labCaptures(t) {
		for side, ips := range labNamespaceIPs {
			name := fmt.Sprintf("%s/%s (%s counters)", lc.scenario, lc.file, side)
			sn, err := ParseNstat(strings.NewReader(nstatText(lc.truth.Counters[side])))
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if sn.Format != "nstat" || len(sn.Counters) != len(lc.truth.Counters[side]) {
				t.Fatalf("%s: parsed %d counters as %q, want %d as nstat", name, len(sn.Counters), sn.Format, len(lc.truth.Counters[side]))
			}
			rec := Reconcile(lc.a, ips, sn.Counters)
			status := map[string]ReconciledCounter{}
			for _, c := range rec.Counters {
				status[c.Name] = c
			}
			for _, k := range append(slices.Clone(labExact), "TcpExtListenOverflows", "TcpExtListenDrops") {
				c, ok := status[k]
				if lc.truth.Counters[side][k] == 0 && !ok {
					continue // neither moved
				}
				n++
				if c.Status != Explained {
					t.Errorf("%s: %s: %s (observed %d, predicted %d), want explained: %s", name, k, c.Status, c.Observed, c.Predicted, c.Explanation)
				}
			}
			if lc.scenario == "overflow-syncookies" && side == "server" {
				for _, k := range []string{"TcpExtSyncookiesSent", "TcpExtSyncookiesRecv", "TcpExtTCPReqQFullDoCookies", "TcpPassiveOpens"} {
					if c := status[k]; c.Status != Explained {
						t.Errorf("%s: %s: %s (observed %d, predicted %d), want explained", name, k, c.Status, c.Observed, c.Predicted)
					}
				}
			}
			if rec.Ignored == 0 {
				t.Errorf("%s: the IP and segment counters should be counted as ignored", name)
			}
		}
	}
	t.Logf("%d counter movements reconciled as explained", n)
}

func TestParseNetstat(t *testing.T) {
	const text = `Ip:
    Forwarding: 1
    61 total packets received
Tcp:
    24 active connection openings
    18 passive connection openings
    5 failed connection attempts
    8 connection resets received
    79 segments received
    9 resets sent
TcpExt:
    5332 times the listen queue of a socket overflowed
    7503 SYNs to LISTEN sockets dropped
    1 resets received for embryonic SYN_RECV sockets
    2 connections reset due to unexpected data
    TCPSynRetrans: 3
    TCPReqQFullDoCookies: 2
IpExt:
    InOctets: 9700
`
	sn, err := ParseNstat(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"TcpActiveOpens": 24, "TcpPassiveOpens": 18, "TcpAttemptFails": 5, "TcpEstabResets": 8,
		"TcpOutRsts": 9, "TcpExtListenOverflows": 5332, "TcpExtListenDrops": 7503, "TcpExtEmbryonicRsts": 1,
		"TcpExtTCPAbortOnData": 2, "TcpExtTCPSynRetrans": 3, "TcpExtTCPReqQFullDoCookies": 2, "IpForwarding": 1, "IpExtInOctets": 9700}
	if sn.Format != "netstat-s" {
		t.Errorf("format %q, want netstat-s", sn.Format)
	}
	for k, v := range want {
		if sn.Counters[k] != v {
			t.Errorf("%s = %d, want %d", k, sn.Counters[k], v)
		}
	}
	if sn.Skipped != 2 { // "total packets received", "segments received"
		t.Errorf("skipped %d lines, want 2", sn.Skipped)
	}
	if _, err := ParseNstat(strings.NewReader("hello\nworld\n")); err == nil {
		t.Error("text without counters parsed without error")
	}
	// Two snapshots: the movement is the difference.
	before, _ := ParseNstat(strings.NewReader("#kernel\nTcpExtListenDrops 100 0.0\nTcpOutRsts 7 0.0\n"))
	after, _ := ParseNstat(strings.NewReader("#kernel\nTcpExtListenDrops 5100 0.0\nTcpOutRsts 7 0.0\nTcpExtListenOverflows 33 0.0\n"))
	d := after.Delta(before)
	if d["TcpExtListenDrops"] != 5000 || d["TcpOutRsts"] != 0 || d["TcpExtListenOverflows"] != 33 {
		t.Errorf("delta %v", d)
	}
}

// TestReconcileStatuses checks every status on a synthetic overflow.
func TestReconcileStatuses(t *testing.T) {
	a := &Analysis{Hosts: []*Host{{IP: netip.MustParseAddr("10.0.0.2"), Counters: Counters{
		"TcpExtListenDrops": 33, "TcpExtListenOverflows": 33, "TcpOutRsts": 4, "TcpExtEmbryonicRsts": 2, "TcpExtTCPSynRetrans": 5}}}}
	obs := map[string]int64{"TcpExtListenDrops": 5000, "TcpExtListenOverflows": 40, "TcpOutRsts": 4, "TcpExtTCPAbortOnClose": 7, "TcpExtTCPSynRetrans": 1, "IpInReceives": 99}
	rec := Reconcile(a, []netip.Addr{netip.MustParseAddr("10.0.0.2")}, obs)
	got := map[string]string{}
	for _, c := range rec.Counters {
		got[c.Name] = c.Status
	}
	want := map[string]string{"TcpExtListenDrops": PartlyExplained, "TcpExtListenOverflows": Explained, "TcpOutRsts": Explained,
		"TcpExtEmbryonicRsts": NotInCounters, "TcpExtTCPAbortOnClose": NotInCapture, "TcpExtTCPSynRetrans": OverPredicted}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q", k, got[k], v)
		}
	}
	if len(got) != len(want) || rec.Ignored != 1 {
		t.Errorf("got %v, ignored %d", got, rec.Ignored)
	}
	if g := GuessHosts(&Analysis{Hosts: append(a.Hosts, &Host{IP: netip.MustParseAddr("10.0.0.1"), Counters: Counters{"TcpAttemptFails": 3}})}, obs); len(g) != 1 || g[0] != netip.MustParseAddr("10.0.0.2") {
		t.Errorf("guessed %v, want 10.0.0.2", g)
	}
}

// segSource replays built segments as a capture.
type segSource struct {
	segs []capture.Segment
	i    int
}

func (s *segSource) Next(seg *capture.Segment) error {
	if s.i >= len(s.segs) {
		return io.EOF
	}
	*seg = s.segs[s.i]
	s.i++
	return nil
}
func (s *segSource) Info() capture.Info { return capture.Info{Packets: int64(s.i)} }
func (s *segSource) Err() error         { return nil }
func (s *segSource) Close() error       { return nil }

// wire builds a capture of several connections.
type wire struct {
	t0   time.Time
	segs []capture.Segment
}

// seg is one segment at time at (seconds), src > dst.
type seg struct {
	at       float64
	src, dst string
	fl       capture.Flags
	seq, ack uint32
	win      uint16
	n        int
	ttl      uint8
	id       uint16
	opt      capture.Options
}

func (w *wire) add(ss ...seg) {
	for _, s := range ss {
		src, dst := netip.MustParseAddrPort(s.src), netip.MustParseAddrPort(s.dst)
		ttl := s.ttl
		if ttl == 0 {
			ttl = 64
		}
		o := s.opt
		if o.MSS == 0 && o.WScale == 0 && !o.HasTS {
			o.WScale = -1
		}
		w.segs = append(w.segs, capture.Segment{Time: w.t0.Add(time.Duration(s.at * float64(time.Second))), IPVersion: 4,
			Src: src.Addr(), Dst: dst.Addr(), SrcPort: src.Port(), DstPort: dst.Port(), Seq: s.seq, Ack: s.ack, Flags: s.fl,
			Window: s.win, PayloadLen: s.n, TTL: ttl, IPID: s.id, DF: true, Opt: o})
	}
}

func (w *wire) analyze() *Analysis {
	slices.SortStableFunc(w.segs, func(a, b capture.Segment) int { return a.Time.Compare(b.Time) })
	for i := range w.segs {
		w.segs[i].Packet = int64(i + 1)
	}
	return Analyze(&segSource{segs: w.segs}, Options{})
}

const (
	tS  = capture.SYN
	tSA = capture.SYN | capture.ACK
	tA  = capture.ACK
	tPA = capture.PSH | capture.ACK
	tR  = capture.RST
	tRA = capture.RST | capture.ACK
)

// conn adds a connection from client port p that completes its handshake
// at t, sends a request, and gets its response (two segments) after wait
// seconds (the server's IP IDs count up from sid).
func (w *wire) conn(p int, t, wait float64, sid uint16) {
	c, s := fmt.Sprintf("10.0.0.1:%d", p), "10.0.0.2:80"
	cid := uint16(p * 10)
	w.add(seg{at: t, src: c, dst: s, fl: tS, seq: 100, win: 64240, id: cid},
		seg{at: t + 0.001, src: s, dst: c, fl: tSA, seq: 900, ack: 101, win: 65160},
		seg{at: t + 0.002, src: c, dst: s, fl: tA, seq: 101, ack: 901, win: 502, id: cid + 1},
		seg{at: t + 0.003, src: c, dst: s, fl: tPA, seq: 101, ack: 901, win: 502, n: 100, id: cid + 2},
		seg{at: t + 0.004, src: s, dst: c, fl: tA, seq: 901, ack: 201, win: 509, id: sid},
		seg{at: t + wait, src: s, dst: c, fl: tA, seq: 901, ack: 201, win: 509, n: 250, id: sid + 1},
		seg{at: t + wait + 0.0001, src: s, dst: c, fl: tPA, seq: 1151, ack: 201, win: 509, n: 250, id: sid + 2},
		seg{at: t + wait + 0.001, src: c, dst: s, fl: tA, seq: 201, ack: 1401, win: 502, id: cid + 3})
}

func listenerOf(a *Analysis, server string) *Listener {
	for _, l := range a.Listeners {
		if l.Server.String() == server {
			return l
		}
	}
	return nil
}

func TestInjectedRST(t *testing.T) {
	w := &wire{t0: time.Unix(1700000000, 0)}
	// Connection 1: a forged RST "from the server" with another TTL and an
	// IP ID out of the server's sequence.
	w.conn(40001, 0, 0.01, 5000)
	w.add(seg{at: 0.5, src: "10.0.0.2:80", dst: "10.0.0.1:40001", fl: tRA, seq: 1401, ack: 201, win: 509, ttl: 120, id: 31337})
	// Connection 2: the server's own active RST (next IP ID, same TTL).
	w.conn(40002, 1, 0.01, 7000)
	w.add(seg{at: 1.5, src: "10.0.0.2:80", dst: "10.0.0.1:40002", fl: tRA, seq: 1401, ack: 201, win: 509, id: 7003})
	// Connection 3: a passive RST (IP ID 0, window 0) to a late segment.
	w.conn(40003, 2, 0.01, 9000)
	w.add(seg{at: 2.5, src: "10.0.0.1:40003", dst: "10.0.0.2:80", fl: tPA, seq: 201, ack: 1401, win: 502, n: 10, id: 4003},
		seg{at: 2.501, src: "10.0.0.2:80", dst: "10.0.0.1:40003", fl: tR, seq: 1401, win: 0})
	// Connection 4: same TTL, but the IP ID copies the client's packet it answers.
	w.conn(40004, 3, 0.01, 11000)
	w.add(seg{at: 3.5, src: "10.0.0.1:40004", dst: "10.0.0.2:80", fl: tPA, seq: 201, ack: 1401, win: 502, n: 10, id: 4242},
		seg{at: 3.501, src: "10.0.0.2:80", dst: "10.0.0.1:40004", fl: tRA, seq: 1401, ack: 211, win: 509, id: 4242})
	a := w.analyze()
	want := map[uint16]int{40001: 2, 40002: 0, 40003: 0, 40004: 2} // evidence lines expected
	seen := 0
	for _, r := range a.Flows {
		p := r.Client.Port()
		if r.Reset == nil {
			t.Errorf("flow %d: no reset decided (%s: %s)", p, r.Verdict, r.Explanation)
			continue
		}
		seen++
		in := r.Reset.InjectedSuspect
		switch {
		case want[p] == 0 && in != nil:
			t.Errorf("flow %d: the server's own RST flagged: %v", p, in.Evidence)
		case want[p] > 0 && in == nil:
			t.Errorf("flow %d: forged RST not flagged", p)
		case want[p] > 0 && len(in.Evidence) < want[p]:
			t.Errorf("flow %d: evidence %v, want %d items", p, in.Evidence, want[p])
		case in != nil:
			t.Logf("flow %d flagged: %s", p, strings.Join(in.Evidence, "; "))
		}
	}
	if seen != 4 {
		t.Errorf("%d flows with a reset, want 4", seen)
	}
}

func TestSlowAccept(t *testing.T) {
	w := &wire{t0: time.Unix(1700000000, 0)}
	// An application that serves one connection every 1.5 s: each waits
	// behind the previous.
	for i := 0; i < 4; i++ {
		w.conn(41000+i, 0.1*float64(i), 1.5*float64(i+1), uint16(1000*(i+1)))
	}
	// A listener that answers at once gets nothing.
	for i := 0; i < 4; i++ {
		c, s := fmt.Sprintf("10.0.0.3:%d", 42000+i), "10.0.0.2:81"
		at := 0.1 * float64(i)
		w.add(seg{at: at, src: c, dst: s, fl: tS, seq: 1, win: 64240},
			seg{at: at + 0.001, src: s, dst: c, fl: tSA, seq: 9, ack: 2, win: 65160},
			seg{at: at + 0.002, src: c, dst: s, fl: tA, seq: 2, ack: 10, win: 502},
			seg{at: at + 0.01, src: s, dst: c, fl: tPA, seq: 10, ack: 2, win: 509, n: 20})
	}
	a := w.analyze()
	if l := listenerOf(a, "10.0.0.2:80"); l == nil || !slices.Equal(kinds(l), []string{KindSlowAccept}) {
		t.Fatalf("slow listener: %v", l)
	} else {
		t.Log(l.Diagnosis[0].Explanation)
		if d := l.Diagnosis[0]; d.Connections != 4 {
			t.Errorf("slow-accept covers %d connections, want 4", d.Connections)
		}
	}
	if l := listenerOf(a, "10.0.0.2:81"); l == nil || len(l.Diagnosis) != 0 {
		t.Errorf("prompt listener: %v", l)
	}
}

func TestRestartAndSYNDrops(t *testing.T) {
	w := &wire{t0: time.Unix(1700000000, 0)}
	// Three established connections reset by the listener within 0.2 s.
	for i := 0; i < 3; i++ {
		w.conn(43000+i, 0.01*float64(i), 0.05, uint16(2000*(i+1)))
		w.add(seg{at: 5 + 0.1*float64(i), src: "10.0.0.2:80", dst: fmt.Sprintf("10.0.0.1:%d", 43000+i), fl: tRA, seq: 1401, ack: 201, win: 509, id: uint16(2000*(i+1) + 3)})
	}
	// Refused while down.
	for i := 0; i < 2; i++ {
		c := fmt.Sprintf("10.0.0.1:%d", 44000+i)
		at := 6 + float64(i)
		w.add(seg{at: at, src: c, dst: "10.0.0.2:80", fl: tS, seq: 50, win: 64240, id: 1},
			seg{at: at + 0.001, src: "10.0.0.2:80", dst: c, fl: tRA, ack: 51})
	}
	// Back at t=9.
	w.conn(45000, 9, 0.01, 100)

	// Port 82 drops some SYNs while answering others at the same time.
	for i := 0; i < 3; i++ {
		c := fmt.Sprintf("10.0.0.4:%d", 46000+i)
		at := 0.2 * float64(i)
		w.add(seg{at: at, src: c, dst: "10.0.0.2:82", fl: tS, seq: 7, win: 64240},
			seg{at: at + 1, src: c, dst: "10.0.0.2:82", fl: tS, seq: 7, win: 64240},
			seg{at: at + 1.001, src: "10.0.0.2:82", dst: c, fl: tSA, seq: 70, ack: 8, win: 65160},
			seg{at: at + 1.002, src: c, dst: "10.0.0.2:82", fl: tA, seq: 8, ack: 71, win: 502})
	}
	for i := 0; i < 3; i++ {
		c := fmt.Sprintf("10.0.0.5:%d", 47000+i)
		at := 0.1 + 0.2*float64(i)
		w.add(seg{at: at, src: c, dst: "10.0.0.2:82", fl: tS, seq: 7, win: 64240},
			seg{at: at + 0.001, src: "10.0.0.2:82", dst: c, fl: tSA, seq: 70, ack: 8, win: 65160},
			seg{at: at + 0.002, src: c, dst: "10.0.0.2:82", fl: tA, seq: 8, ack: 71, win: 502})
	}
	// Port 83: a middlebox refuses with another TTL than the host's.
	w.add(seg{at: 3, src: "10.0.0.6:48000", dst: "10.0.0.2:83", fl: tS, seq: 7, win: 64240},
		seg{at: 3.001, src: "10.0.0.2:83", dst: "10.0.0.6:48000", fl: tRA, ack: 8, ttl: 250})
	a := w.analyze()
	l := listenerOf(a, "10.0.0.2:80")
	if l == nil || !slices.Equal(kinds(l), []string{KindRestart}) {
		t.Fatalf("restarted listener: %+v", l)
	}
	t.Log(l.Diagnosis[0].Explanation)
	if !strings.Contains(l.Diagnosis[0].Explanation, "answered SYNs again") {
		t.Errorf("restart does not say when service came back: %s", l.Diagnosis[0].Explanation)
	}
	if l := listenerOf(a, "10.0.0.2:82"); l == nil || !slices.Equal(kinds(l), []string{KindSYNDrops}) {
		t.Errorf("dropping listener: %+v", l)
	} else {
		t.Log(l.Diagnosis[0].Explanation)
	}
	if l := listenerOf(a, "10.0.0.2:83"); l == nil || len(l.Diagnosis) != 1 || l.Diagnosis[0].RejectedBy != "middlebox" {
		t.Errorf("middlebox refusal: %+v", l)
	} else {
		t.Log(l.Diagnosis[0].Explanation)
	}
}

func TestSYNCookieOptionsTrimmed(t *testing.T) {
	w := &wire{t0: time.Unix(1700000000, 0)}
	noTS := capture.Options{MSS: 1460, WScale: 8, SACKPermitted: true}
	for i := 0; i < 3; i++ {
		c := fmt.Sprintf("10.0.0.7:%d", 49000+i)
		at := float64(i)
		synack := capture.Options{MSS: 1460, WScale: 7, SACKPermitted: true}
		if i > 0 { // the SYN queue filled up: cookies from the second on
			synack = capture.Options{MSS: 1460, WScale: -1}
		}
		w.add(seg{at: at, src: c, dst: "10.0.0.2:84", fl: tS, seq: 7, win: 64240, opt: noTS},
			seg{at: at + 0.001, src: "10.0.0.2:84", dst: c, fl: tSA, seq: 70, ack: 8, win: 65160, opt: synack},
			seg{at: at + 0.002, src: c, dst: "10.0.0.2:84", fl: tA, seq: 8, ack: 71, win: 502})
	}
	a := w.analyze()
	l := listenerOf(a, "10.0.0.2:84")
	if l == nil || !slices.Equal(kinds(l), []string{KindSYNCookies}) || l.SYNCookies != 2 {
		t.Fatalf("cookie listener: %+v", l)
	}
	t.Log(l.Diagnosis[0].Explanation)
	if strings.Contains(l.Diagnosis[0].Explanation, "disabled") {
		t.Errorf("a SYN-ACK kept its options, so the server has them enabled: %s", l.Diagnosis[0].Explanation)
	}
	if got := cookieMSS(1400, false); got != 1300 {
		t.Errorf("cookieMSS(1400) = %d, want 1300", got)
	}
	if got := cookieMSS(9000, true); got != 8940 {
		t.Errorf("cookieMSS6(9000) = %d, want 8940", got)
	}
	if got := cookieMSS(100, false); got != 536 {
		t.Errorf("cookieMSS(100) = %d, want 536", got)
	}
}

//go:build linux

// Package lab makes the real Linux TCP stack produce each connection fate
// tcpwhy names, captures it, and records what really happened.
//
// Every scenario runs in a fresh pair of network namespaces (client
// 10.77.0.1 / fd77::1, server 10.77.0.2 / fd77::2) joined by a veth pair or
// by two TAP devices with a delaying userspace forwarder. The sockets live
// in agents: the lab re-executes its own binary inside each namespace with
// `ip netns exec` (see RunAgentIfRequested) and drives it over a pipe, one
// JSON request per line. Loss is made with nftables rules in the
// namespaces. Captures are taken with tcpdump or dumpcap inside the
// namespaces. After the run the lab reads the captures itself, checks the
// scenario's expectations against the socket results, the wire and the
// counter deltas, and writes truth.json only when they agree.
package lab

import (
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Scenario describes one lab scenario.
type Scenario struct {
	Name        string
	Description string
	// Link and Delay choose how the namespaces are joined.
	Link  LinkKind
	Delay time.Duration
	// ClientSysctls and ServerSysctls are set in the namespaces before
	// anything else happens.
	ClientSysctls map[string]string
	ServerSysctls map[string]string
	// ClientNft and ServerNft are nftables rulesets loaded before the run.
	ClientNft, ServerNft string
	// Captures lists the captures; nil means server.pcap and client.pcap
	// on the link devices.
	Captures []CaptureSpec
	// Notes go to truth.json as they are.
	Notes []string
	// Checks are counter expectations checked against the deltas.
	Checks []Check
	// Run drives the agents.
	Run func(e *Env)
	// Verify, if set, checks scenario-specific facts of the finished truth
	// and returns what disagrees.
	Verify func(t *Truth) []string
}

// Check is one expectation on a counter delta: Min <= delta <= Max.
type Check struct {
	Point, Counter string
	Min, Max       int64
}

// Eq expects a counter delta of exactly v.
func Eq(point, counter string, v int64) Check { return Check{point, counter, v, v} }

// AtLeast expects a counter delta of at least v.
func AtLeast(point, counter string, v int64) Check { return Check{point, counter, v, 1 << 62} }

// Expect is what a scenario predicts for one flow. The lab checks each
// prediction against what it observes; the truth is only written when all
// agree.
type Expect struct {
	Verdict string
	// Syn and SynAck are the expected retransmission counts on the wire;
	// -1 accepts whatever the wire shows (timing-dependent cases).
	Syn, SynAck int
	// FirstFin and ResetBy: "client", "server", "both" (FirstFin only) or
	// "" for none.
	FirstFin, ResetBy string
	// Client and Server are the expected socket results ("" = "ok").
	Client, Server string
	Note           string
}

// Options control a lab run.
type Options struct {
	// Out is the directory that receives one sub-directory per scenario.
	Out string
	// Only restricts the run to these scenario names (all when empty).
	Only []string
	// Parallel bounds how many scenarios run at once (0: all).
	Parallel int
	// Log receives progress and check failures.
	Log io.Writer
	// Attempts is how often a failing scenario is run (fresh namespaces
	// each time) before it counts as failed; 0 means 3. Timing-sensitive
	// scenarios (crossing FINs, overflow ordering) can be disturbed by a
	// busy machine; the truth always describes the attempt that passed.
	Attempts int
	// KeepFailed keeps the captures of a failed scenario in
	// <Out>/.<scenario>.failed for inspection.
	KeepFailed bool
}

// Result is the outcome of one scenario.
type Result struct {
	Name     string
	Duration time.Duration
	// Failures lists the expectations the kernel did not meet, or
	// errors of the lab itself. The truth is written only when empty.
	Failures []string
	Truth    *Truth
	Dir      string
	// Attempts is how many runs it took; EarlierFailures lists the
	// failures of the attempts before the last.
	Attempts        int
	EarlierFailures []string
}

// Run runs the selected scenarios concurrently and writes their captures
// and truth files under opts.Out. It returns one Result per scenario; an
// error only when the lab could not run at all.
func Run(opts Options) ([]Result, error) {
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("the lab needs root (network namespaces)")
	}
	if err := SweepStale(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.Out, 0o755); err != nil {
		return nil, fmt.Errorf("create output dir: %w", err)
	}
	log := opts.Log
	if log == nil {
		log = io.Discard
	}
	var scs []*Scenario
	all := Scenarios()
	for _, want := range opts.Only {
		found := false
		for _, s := range all {
			if s.Name == want {
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("unknown scenario %q", want)
		}
	}
	for _, s := range all {
		if len(opts.Only) == 0 || contains(opts.Only, s.Name) {
			scs = append(scs, s)
		}
	}
	par := opts.Parallel
	if par <= 0 {
		par = len(scs)
	}
	sem := make(chan struct{}, par)
	results := make([]Result, len(scs))
	var wg sync.WaitGroup
	var logMu sync.Mutex
	logf := func(format string, args ...any) {
		logMu.Lock()
		defer logMu.Unlock()
		fmt.Fprintf(log, format+"\n", args...)
	}
	for i, s := range scs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			attempts := opts.Attempts
			if attempts <= 0 {
				attempts = 3
			}
			var r Result
			var earlier []string
			for n := 1; n <= attempts; n++ {
				r = runScenario(s, opts.Out, opts.KeepFailed)
				r.Attempts = n
				if len(r.Failures) == 0 || n == attempts {
					break
				}
				logf("retry %-33s after attempt %d: %s", s.Name, n, strings.Join(r.Failures, "; "))
				earlier = append(earlier, r.Failures...)
			}
			r.EarlierFailures = earlier
			results[i] = r
			if len(r.Failures) == 0 {
				logf("ok   %-34s %5.1fs  (attempt %d)", s.Name, r.Duration.Seconds(), r.Attempts)
			} else {
				logf("FAIL %-34s %5.1fs", s.Name, r.Duration.Seconds())
				for _, f := range r.Failures {
					logf("       %s", f)
				}
			}
		}()
	}
	wg.Wait()
	return results, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Env is what a scenario's Run function drives: the two agents, the flows
// and the listeners.
type Env struct {
	sc        *Scenario
	p         *pair
	c, s      *agentProc
	mu        sync.Mutex
	flows     []*FlowRun
	listeners []*Listener
	failures  []string
	notes     []string
	t0        time.Time
}

// Fail records a failure of the scenario.
func (e *Env) Fail(format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.failures = append(e.failures, fmt.Sprintf(format, args...))
}

// Note adds a note to the truth.
func (e *Env) Note(format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.notes = append(e.notes, fmt.Sprintf(format, args...))
}

// Sleep pauses the script.
func (e *Env) Sleep(d time.Duration) { time.Sleep(d) }

// Par runs the functions concurrently and waits for all.
func (e *Env) Par(fs ...func()) {
	var wg sync.WaitGroup
	for _, f := range fs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f()
		}()
	}
	wg.Wait()
}

// ServerNft loads more nftables rules into the server namespace mid-run.
func (e *Env) ServerNft(ruleset string) {
	if err := nft(e.p.serverNS, ruleset); err != nil {
		e.Fail("server nft: %v", err)
	}
}

// ClientNft loads more nftables rules into the client namespace mid-run.
func (e *Env) ClientNft(ruleset string) {
	if err := nft(e.p.clientNS, ruleset); err != nil {
		e.Fail("client nft: %v", err)
	}
}

const callTimeout = 60 * time.Second

// Listener is a listening socket in the server namespace. Accepted
// connections are handed to the flow whose client address they come from.
type Listener struct {
	e       *Env
	Addr    string
	Backlog int
	sock    int
	// OverflowClients is set by the scenario: how many clients hit the
	// full accept queue.
	OverflowClients int
	Overflow        bool

	mu      sync.Mutex
	started bool
	got     map[string]int
	waiters map[string]chan int
}

// Listen opens a listener in the server namespace.
func (e *Env) Listen(addr string, backlog int) *Listener {
	l := &Listener{e: e, Addr: addr, Backlog: backlog, got: map[string]int{}, waiters: map[string]chan int{}}
	r := e.s.call(Request{Op: "listen", Local: addr, Backlog: backlog}, callTimeout)
	if r.Result != "ok" {
		e.Fail("listen %s: %s %s", addr, r.Result, r.Err)
	}
	l.sock = r.Sock
	e.mu.Lock()
	e.listeners = append(e.listeners, l)
	e.mu.Unlock()
	return l
}

// StartAccepting makes the server accept connections from now on (until
// the scenario ends) and hand them to the flows that wait for them.
func (l *Listener) StartAccepting() {
	l.mu.Lock()
	if l.started {
		l.mu.Unlock()
		return
	}
	l.started = true
	l.mu.Unlock()
	go func() {
		for {
			r := <-l.e.s.send(Request{Op: "accept", Sock: l.sock})
			if r.Result != "ok" {
				return
			}
			peer := normAddr(r.Peer)
			l.mu.Lock()
			if ch := l.waiters[peer]; ch != nil {
				ch <- r.Sock
				delete(l.waiters, peer)
			} else {
				l.got[peer] = r.Sock
			}
			l.mu.Unlock()
		}
	}()
}

// Close closes the listening socket.
func (l *Listener) Close() {
	r := l.e.s.call(Request{Op: "close", Sock: l.sock}, callTimeout)
	if r.Result != "ok" {
		l.e.Fail("close listener %s: %s %s", l.Addr, r.Result, r.Err)
	}
}

func normAddr(s string) string {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return s
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).String()
}

// FlowRun is one connection of a scenario: its addresses, its expectation
// and the socket results of each side.
type FlowRun struct {
	e              *Env
	Client, Server string
	X              Expect
	csock, ssock   int
	hasS           bool
	mu             sync.Mutex
	cres, sres     string
}

// Flow declares a connection from client to server (ip:port each).
func (e *Env) Flow(client, server string, x Expect) *FlowRun {
	f := &FlowRun{e: e, Client: normAddr(client), Server: normAddr(server), X: x}
	e.mu.Lock()
	e.flows = append(e.flows, f)
	e.mu.Unlock()
	return f
}

func (f *FlowRun) note(side string, r Response, op string) Response {
	if r.Result == "error" || r.Result == "timeout" {
		f.e.Fail("%s %s %s: %s %s", f.Client, side, op, r.Result, r.Err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	p := &f.cres
	if side == "server" {
		p = &f.sres
	}
	if *p == "" && r.Result != "ok" {
		*p = r.Result
	}
	return r
}

// Connect connects the client socket (bound to the flow's client address).
func (f *FlowRun) Connect() Response {
	r := f.e.c.call(Request{Op: "connect", Local: f.Client, Remote: f.Server}, callTimeout)
	f.csock = r.Sock
	return f.note("client", r, "connect")
}

// Accept waits until the listener accepted this flow's connection. The
// listener must be accepting (StartAccepting is called if needed).
func (f *FlowRun) Accept(l *Listener) bool {
	l.StartAccepting()
	l.mu.Lock()
	if s, ok := l.got[f.Client]; ok {
		delete(l.got, f.Client)
		l.mu.Unlock()
		f.ssock, f.hasS = s, true
		return true
	}
	ch := make(chan int, 1)
	l.waiters[f.Client] = ch
	l.mu.Unlock()
	select {
	case s := <-ch:
		f.ssock, f.hasS = s, true
		return true
	case <-time.After(callTimeout):
		f.e.Fail("%s: server never accepted the connection", f.Client)
		return false
	}
}

// C runs an operation on the flow's client socket.
func (f *FlowRun) C(req Request) Response {
	req.Sock = f.csock
	return f.note("client", f.e.c.call(req, callTimeout), req.Op)
}

// S runs an operation on the flow's server socket.
func (f *FlowRun) S(req Request) Response {
	if !f.hasS {
		f.e.Fail("%s: server %s without an accepted socket", f.Client, req.Op)
		return Response{Result: "error"}
	}
	req.Sock = f.ssock
	return f.note("server", f.e.s.call(req, callTimeout), req.Op)
}

// Request builders for C and S.

// Send sends n bytes.
func Send(n int) Request { return Request{Op: "send", N: n} }

// Recv reads exactly n bytes (less at EOF or error).
func Recv(n int) Request { return Request{Op: "recv", N: n} }

// RecvT reads n bytes (0: until EOF), giving up with EAGAIN after ms.
func RecvT(n, ms int) Request { return Request{Op: "recv", N: n, TimeoutMs: ms} }

// RecvEOF reads until the peer's FIN.
func RecvEOF() Request { return Request{Op: "recv"} }

// Close closes the socket.
func Close() Request { return Request{Op: "close"} }

// ShutWR sends a FIN (shutdown(SHUT_WR)).
func ShutWR() Request { return Request{Op: "shutdown", How: "wr"} }

// Linger0 sets SO_LINGER {1, 0}: close() then aborts with a RST.
func Linger0() Request { return Request{Op: "setlinger", On: true} }

// Linger2 sets TCP_LINGER2.
func Linger2(v int) Request { return Request{Op: "setlinger2", N: v} }

// sysctlsRecorded are read back in both namespaces for every scenario.
var sysctlsRecorded = []string{
	"net.core.somaxconn", "net.ipv4.tcp_abort_on_overflow", "net.ipv4.tcp_syncookies",
	"net.ipv4.tcp_syn_retries", "net.ipv4.tcp_synack_retries", "net.ipv4.tcp_syn_linear_timeouts",
	"net.ipv4.tcp_retries2", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_max_syn_backlog",
}

func kernelRelease() string {
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		return "unknown"
	}
	var b strings.Builder
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		b.WriteByte(byte(c))
	}
	return b.String()
}

func runScenario(sc *Scenario, out string, keepFailed bool) (res Result) {
	t0 := time.Now()
	res = Result{Name: sc.Name, Dir: filepath.Join(out, sc.Name)}
	defer func() {
		res.Duration = time.Since(t0)
		if p := recover(); p != nil {
			res.Failures = append(res.Failures, fmt.Sprintf("panic: %v", p))
		}
	}()
	fail := func(format string, args ...any) Result {
		res.Failures = append(res.Failures, fmt.Sprintf(format, args...))
		return res
	}
	tmp := filepath.Join(out, "."+sc.Name+".tmp")
	os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return fail("create %s: %v", tmp, err)
	}
	defer func() {
		if keepFailed && len(res.Failures) > 0 {
			failed := filepath.Join(out, "."+sc.Name+".failed")
			os.RemoveAll(failed)
			if res.Truth != nil {
				if b, err := json.MarshalIndent(res.Truth, "", "  "); err == nil {
					os.WriteFile(filepath.Join(tmp, "truth.json"), b, 0o644)
				}
			}
			os.Rename(tmp, failed)
		}
		os.RemoveAll(tmp)
	}()

	p, err := newPair(sc.Name, sc.Link, sc.Delay)
	if err != nil {
		return fail("namespaces: %v", err)
	}
	defer p.destroy()
	e := &Env{sc: sc, p: p, t0: t0}
	if e.c, err = startAgent(p.clientNS, sc.Name+"/client"); err != nil {
		return fail("%v", err)
	}
	defer e.c.stop()
	if e.s, err = startAgent(p.serverNS, sc.Name+"/server"); err != nil {
		return fail("%v", err)
	}
	defer e.s.stop()

	truth := &Truth{Scenario: sc.Name, Description: sc.Description, Kernel: kernelRelease(),
		Sysctls: map[string]map[string]string{}, Counters: map[string]map[string]int64{}}
	for _, x := range []struct {
		point string
		a     *agentProc
		set   map[string]string
		rules string
		ns    string
	}{{"client", e.c, sc.ClientSysctls, sc.ClientNft, p.clientNS}, {"server", e.s, sc.ServerSysctls, sc.ServerNft, p.serverNS}} {
		keys := append([]string(nil), sysctlsRecorded...)
		for k, v := range x.set {
			if r := x.a.call(Request{Op: "sysctl", Key: k, Value: v}, callTimeout); r.Result != "ok" {
				return fail("%s sysctl: %s", x.point, r.Err)
			}
			if !contains(keys, k) {
				keys = append(keys, k)
			}
		}
		got := map[string]string{}
		for _, k := range keys {
			r := x.a.call(Request{Op: "getsysctl", Key: k}, callTimeout)
			if r.Result != "ok" {
				return fail("%s getsysctl: %s", x.point, r.Err)
			}
			got[k] = r.Value
		}
		truth.Sysctls[x.point] = got
		if x.rules != "" {
			if err := nft(x.ns, x.rules); err != nil {
				return fail("%s nft: %v", x.point, err)
			}
		}
	}

	caps := sc.Captures
	if caps == nil {
		caps = []CaptureSpec{{File: "server.pcap", Point: "server"}, {File: "client.pcap", Point: "client"}}
	}
	before := map[string]map[string]int64{}
	for _, x := range []struct {
		point string
		a     *agentProc
	}{{"client", e.c}, {"server", e.s}} {
		r := x.a.call(Request{Op: "counters"}, callTimeout)
		if r.Result != "ok" {
			return fail("%s counters: %s", x.point, r.Err)
		}
		before[x.point] = r.Counters
	}
	var capturers []*capturer
	stopAll := func() {
		for _, c := range capturers {
			if err := c.stop(); err != nil {
				res.Failures = append(res.Failures, err.Error())
			}
		}
		capturers = nil
	}
	defer stopAll()
	for _, c := range caps {
		ns, dev := p.serverNS, p.serverDev
		if c.Point == "client" {
			ns, dev = p.clientNS, p.clientDev
		}
		cp, err := startCapture(ns, dev, tmp, c)
		if err != nil {
			return fail("%v", err)
		}
		capturers = append(capturers, cp)
		iface := dev
		if c.Any {
			iface = "any"
		}
		truth.Captures = append(truth.Captures, CaptureTruth{File: c.File, Point: c.Point, Format: c.format(),
			LinkType: c.linkType(), TSPrecision: c.precision(), Interface: iface})
	}
	time.Sleep(100 * time.Millisecond)

	sc.Run(e)
	time.Sleep(300 * time.Millisecond) // let the last segments cross
	for _, c := range capturers {
		c.settle(250*time.Millisecond, 3*time.Second)
	}

	for _, x := range []struct {
		point string
		a     *agentProc
	}{{"client", e.c}, {"server", e.s}} {
		r := x.a.call(Request{Op: "counters"}, callTimeout)
		if r.Result != "ok" {
			return fail("%s counters: %s", x.point, r.Err)
		}
		truth.Counters[x.point] = counterDelta(before[x.point], r.Counters)
	}
	stopAll()
	res.Failures = append(res.Failures, e.failures...)

	// Read the captures back and check every expectation.
	var keys []flowKey
	for _, f := range e.flows {
		keys = append(keys, flowKey{netip.MustParseAddrPort(f.Client), netip.MustParseAddrPort(f.Server)})
	}
	wires := map[string]map[flowKey]*wireFlow{}
	for i, c := range caps {
		path := filepath.Join(tmp, c.File)
		w, n, err := readWire(path, keys)
		if err != nil {
			res.Failures = append(res.Failures, err.Error())
			continue
		}
		if n == 0 {
			res.Failures = append(res.Failures, fmt.Sprintf("%s: no packets", c.File))
		}
		truth.Captures[i].Packets = n
		wires[c.File] = w
	}
	for _, f := range e.flows {
		ft, fails := checkFlow(f, caps, wires)
		truth.Flows = append(truth.Flows, ft)
		res.Failures = append(res.Failures, fails...)
	}
	for _, ck := range sc.Checks {
		v := truth.Counters[ck.Point][ck.Counter]
		if v < ck.Min || v > ck.Max {
			want := fmt.Sprintf("%d", ck.Min)
			if ck.Max != ck.Min {
				want = fmt.Sprintf(">= %d", ck.Min)
				if ck.Max < 1<<62 {
					want = fmt.Sprintf("in [%d, %d]", ck.Min, ck.Max)
				}
			}
			res.Failures = append(res.Failures, fmt.Sprintf("counter %s %s = %d, want %s", ck.Point, ck.Counter, v, want))
		}
	}
	if sc.Verify != nil {
		res.Failures = append(res.Failures, sc.Verify(truth)...)
	}
	somax, _ := strconv.Atoi(truth.Sysctls["server"]["net.core.somaxconn"])
	for _, l := range e.listeners {
		truth.Listeners = append(truth.Listeners, ListenerTruth{Server: normAddr(l.Addr), Overflow: l.Overflow,
			Backlog: l.Backlog, Somaxconn: somax, OverflowClients: l.OverflowClients})
	}
	truth.Notes = append(append([]string{}, sc.Notes...), e.notes...)
	if truth.Notes == nil {
		truth.Notes = []string{}
	}
	if truth.Listeners == nil {
		truth.Listeners = []ListenerTruth{}
	}
	res.Truth = truth
	if len(res.Failures) > 0 {
		return res
	}
	truth.DurationSeconds = float64(time.Since(t0).Milliseconds()) / 1000
	b, err := json.MarshalIndent(truth, "", "  ")
	if err != nil {
		return fail("encode truth: %v", err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "truth.json"), append(b, '\n'), 0o644); err != nil {
		return fail("write truth: %v", err)
	}
	if err := os.RemoveAll(res.Dir); err != nil {
		return fail("remove old %s: %v", res.Dir, err)
	}
	if err := os.Rename(tmp, res.Dir); err != nil {
		return fail("move %s into place: %v", res.Dir, err)
	}
	return res
}

func strp(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// checkFlow builds a flow's truth from the socket results and the wire and
// returns every disagreement with the scenario's expectation.
func checkFlow(f *FlowRun, caps []CaptureSpec, wires map[string]map[flowKey]*wireFlow) (FlowTruth, []string) {
	var fails []string
	failf := func(format string, args ...any) {
		fails = append(fails, fmt.Sprintf("%s→%s: ", f.Client, f.Server)+fmt.Sprintf(format, args...))
	}
	key := flowKey{netip.MustParseAddrPort(f.Client), netip.MustParseAddrPort(f.Server)}
	cres, sres := f.cres, f.sres
	if cres == "" {
		cres = "ok"
	}
	if !f.hasS {
		sres = "none"
	} else if sres == "" {
		sres = "ok"
	}
	ft := FlowTruth{Client: f.Client, Server: f.Server, Verdict: f.X.Verdict, ClientResult: cres, ServerResult: sres, Note: f.X.Note}
	wantC, wantS := f.X.Client, f.X.Server
	if wantC == "" {
		wantC = "ok"
	}
	if wantS == "" {
		wantS = "ok"
	}
	if cres != wantC {
		failf("client socket result %s, expected %s", cres, wantC)
	}
	if sres != wantS {
		failf("server socket result %s, expected %s", sres, wantS)
	}
	// The server-side capture is the reference; every capture must agree.
	var ref *wireFlow
	var refFile string
	files := make([]string, 0, len(caps))
	for _, c := range caps {
		files = append(files, c.File)
	}
	sort.SliceStable(files, func(i, j int) bool {
		return strings.HasPrefix(files[i], "server") && !strings.HasPrefix(files[j], "server")
	})
	for _, file := range files {
		wm := wires[file]
		if wm == nil {
			continue
		}
		w := wm[key]
		if w.Packets == 0 {
			failf("%s: no packets of this flow", file)
			continue
		}
		if ref == nil {
			ref, refFile = w, file
			continue
		}
		if w.SYNs != ref.SYNs || w.SYNACKs != ref.SYNACKs {
			failf("%s shows %d SYN / %d SYN-ACK, %s shows %d / %d", file, w.SYNs, w.SYNACKs, refFile, ref.SYNs, ref.SYNACKs)
		}
		if firstRST(w) != firstRST(ref) {
			failf("%s: first RST by %q, %s: by %q", file, firstRST(w), refFile, firstRST(ref))
		}
	}
	if ref == nil {
		failf("flow not in any capture")
		return ft, fails
	}
	ft.SynRetransmits = max(ref.SYNs-1, 0)
	ft.SynackRetransmits = max(ref.SYNACKs-1, 0)
	if f.X.Syn >= 0 && ft.SynRetransmits != f.X.Syn {
		failf("%d SYN retransmits on the wire, expected %d", ft.SynRetransmits, f.X.Syn)
	}
	if f.X.SynAck >= 0 && ft.SynackRetransmits != f.X.SynAck {
		failf("%d SYN-ACK retransmits on the wire, expected %d", ft.SynackRetransmits, f.X.SynAck)
	}
	first := ref.FirstFIN
	if ref.finsCrossed() {
		first = "both"
	}
	ft.FirstFinBy = strp(first)
	if first != f.X.FirstFin {
		failf("first FIN by %q on the wire, expected %q", first, f.X.FirstFin)
	}
	rst := firstRST(ref)
	ft.ResetBy = strp(rst)
	if rst != f.X.ResetBy {
		failf("RST by %q on the wire, expected %q", rst, f.X.ResetBy)
	}
	for _, msg := range verdictShape(f.X.Verdict, ref) {
		failf("verdict %s: %s", f.X.Verdict, msg)
	}
	return ft, fails
}

func firstRST(w *wireFlow) string {
	return w.FirstRST
}

// verdictShape checks the coarse wire shape each verdict requires, so a
// scenario that did not come out as designed fails instead of lying.
func verdictShape(v string, w *wireFlow) []string {
	var bad []string
	need := func(ok bool, msg string) {
		if !ok {
			bad = append(bad, msg)
		}
	}
	established := w.SYNACKs > 0
	rsts := w.RSTs["client"] + w.RSTs["server"]
	switch v {
	case "graceful-close":
		need(established, "no SYN-ACK")
		need(w.FINs["client"] && w.FINs["server"], "not both FINs")
		need(rsts == 0, "a RST was sent")
	case "half-close":
		need(established, "no SYN-ACK")
		need(w.FINs["client"] != w.FINs["server"], "not exactly one FIN")
		need(rsts == 0, "a RST was sent")
	case "open":
		need(established, "no SYN-ACK")
		need(!w.FINs["client"] && !w.FINs["server"] && rsts == 0, "FIN or RST seen")
	case "no-listener":
		need(w.SYNACKs == 0 && w.RSTs["server"] > 0, "no RST answering the SYN")
	case "unreachable":
		need(w.SYNACKs == 0 && w.ICMPErrors > 0, "no ICMP error")
	case "syn-timeout":
		need(w.SYNACKs == 0 && rsts == 0 && w.ICMPErrors == 0, "SYN was answered")
	case "abort", "early-close", "data-after-close":
		need(established, "no SYN-ACK")
		need(rsts > 0, "no RST")
	case "timeout":
		need(established, "no SYN-ACK")
	case "overflow":
		need(w.SYNs > 0, "no SYN")
	}
	return bad
}

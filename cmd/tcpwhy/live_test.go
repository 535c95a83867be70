//go:build linux

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tcpwhy/tcpwhy/capture"
	"github.com/tcpwhy/tcpwhy/classify"
	"github.com/tcpwhy/tcpwhy/internal/gen"
)

// Live-capture tests: a namespace end-to-end run of the tcpwhy binary
// (root; under CI=true it must run), the permission error, and the
// --idle-timeout flag.

const (
	liveClientIP = "10.78.0.1"
	liveServerIP = "10.78.0.2"
	liveServerNS = "srv"
	liveClientNS = "cli"
)

// needRoot skips a test that needs root, except under CI=true where it
// fails.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("CI=true but not root: live capture tests need root for network namespaces")
	}
	t.Skip("not root: live capture tests need network namespaces and CAP_NET_RAW")
}

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// tcpwhyBinary builds the command once into a world-readable temporary
// directory (the permission test runs it as nobody).
func tcpwhyBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tcpwhy-live-")
		if err != nil {
			buildErr = err
			return
		}
		if err := os.Chmod(dir, 0o755); err != nil {
			buildErr = err
			return
		}
		goBin, err := exec.LookPath("go")
		if err != nil {
			goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		builtBin = filepath.Join(dir, "tcpwhy")
		cmd := exec.Command(goBin, "build", "-o", builtBin, ".")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	if help, _ := exec.Command(builtBin, "--help").CombinedOutput(); !bytes.Contains(help, []byte("--interface")) {
		// root.go registers addLiveFlags and dispatches to runLive.
		if os.Getenv("CI") == "true" {
			t.Fatal("tcpwhy has no -i: root.go does not wire live capture (addLiveFlags, runLive)")
		}
		t.Skip("tcpwhy has no -i yet: root.go does not wire live capture (addLiveFlags, runLive)")
	}
	return builtBin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if builtBin != "" {
		os.RemoveAll(filepath.Dir(builtBin))
	}
	os.Exit(code)
}

// sh runs a command and fails the test with its output.
func sh(t *testing.T, stdin string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// liveNet is a client and a server namespace joined by a veth pair.
type liveNet struct {
	client, server string // namespace names
	serverDev      string
}

func newLiveNet(t *testing.T) *liveNet {
	t.Helper()
	base := fmt.Sprintf("twlive-%d", os.Getpid())
	n := &liveNet{client: base + "-" + liveClientNS, server: base + "-" + liveServerNS, serverDev: "veth-s"}
	for _, ns := range []string{n.client, n.server} {
		exec.Command("ip", "netns", "del", ns).Run() // a leftover of a crashed run
		sh(t, "", "ip", "netns", "add", ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
		// No IPv6 chatter: the capture holds the scenario only (and ARP).
		sh(t, "", "ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
		sh(t, "", "ip", "-n", ns, "link", "set", "lo", "up")
	}
	sh(t, "", "ip", "link", "add", "veth-c", "netns", n.client, "type", "veth", "peer", "name", n.serverDev, "netns", n.server)
	sh(t, "", "ip", "-n", n.client, "addr", "add", liveClientIP+"/24", "dev", "veth-c")
	sh(t, "", "ip", "-n", n.server, "addr", "add", liveServerIP+"/24", "dev", n.serverDev)
	sh(t, "", "ip", "-n", n.client, "link", "set", "veth-c", "up")
	sh(t, "", "ip", "-n", n.server, "link", "set", n.serverDev, "up")
	// The accept-queue overflow resets at once (tcp_abort_on_overflow=1).
	sh(t, "", "ip", "netns", "exec", n.server, "sysctl", "-qw", "net.ipv4.tcp_abort_on_overflow=1")
	return n
}

// inNS runs fn on an OS thread switched into namespace ns: sockets it
// creates belong to ns for good. The thread is thrown away if it cannot
// be switched back.
func inNS(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer orig.Close()
		target, err := os.Open("/var/run/netns/" + ns)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer target.Close()
		if err := setns(target); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		ferr := fn()
		if err := setns(orig); err != nil {
			// Stay locked: the thread ends with the goroutine.
			errc <- fmt.Errorf("setns back from %s: %w", ns, err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

func setns(f *os.File) error {
	return unix.Setns(int(f.Fd()), unix.CLONE_NEWNET)
}

// listen opens a listening socket in ns with the given backlog.
func listen(t *testing.T, ns string, port, backlog int) net.Listener {
	t.Helper()
	var l net.Listener
	err := inNS(ns, func() error {
		fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		f := os.NewFile(uintptr(fd), "listener")
		defer f.Close()
		if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
			return err
		}
		if err := syscall.Bind(fd, &syscall.SockaddrInet4{Port: port, Addr: [4]byte{10, 78, 0, 2}}); err != nil {
			return err
		}
		if err := syscall.Listen(fd, backlog); err != nil {
			return err
		}
		l, err = net.FileListener(f)
		return err
	})
	if err != nil {
		t.Fatalf("listen on :%d: %v", port, err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// dial connects from the client namespace, from a fixed port.
func dial(ns string, lport, port int) (net.Conn, error) {
	var c net.Conn
	err := inNS(ns, func() error {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(liveClientIP), Port: lport}, Timeout: 5 * time.Second}
		var err error
		c, err = d.Dial("tcp", net.JoinHostPort(liveServerIP, fmt.Sprint(port)))
		return err
	})
	return c, err
}

// line is one line tcpwhy printed and when the test read it.
type line struct {
	text string
	at   time.Time
}

func TestLiveEndToEnd(t *testing.T) {
	needRoot(t)
	start := time.Now()
	bin := tcpwhyBinary(t)
	n := newLiveNet(t)
	pcapng := filepath.Join(t.TempDir(), "live.pcapng")

	cmd := exec.Command("ip", "netns", "exec", n.server, bin, "-i", n.serverDev, "--json", "-w", pcapng,
		"--idle-timeout", "closed=1s", "tcp")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	var stderrMu sync.Mutex
	listening := make(chan struct{})
	cmd.Stderr = writerFunc(func(p []byte) (int, error) {
		stderrMu.Lock()
		defer stderrMu.Unlock()
		had := strings.Contains(stderr.String(), "listening on")
		stderr.Write(p)
		if !had && strings.Contains(stderr.String(), "listening on") {
			close(listening)
		}
		return len(p), nil
	})
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Runs after tcpwhy was stopped or killed: show what it saved.
		if t.Failed() {
			text, _ := exec.Command(bin, "-r", pcapng, "-#", "-ttttt").CombinedOutput()
			t.Logf("the -w capture, offline:\n%s", text)
		}
	})
	exited := false
	t.Cleanup(func() {
		if !exited {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	lines := make(chan line, 256)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		for sc.Scan() {
			lines <- line{sc.Text(), time.Now()}
		}
		close(lines)
	}()
	select {
	case <-listening:
	case <-time.After(10 * time.Second):
		t.Fatalf("tcpwhy did not start listening: %s", stderr.String())
	}

	// graceful-close: request, response, the server closes first.
	lg := listen(t, n.server, 8084, 16)
	go func() {
		c, err := lg.Accept()
		if err != nil {
			return
		}
		buf := make([]byte, 5)
		io.ReadFull(c, buf)
		c.Write([]byte("world"))
		c.Close()
	}()
	c, err := dial(n.client, 40001, 8084)
	if err != nil {
		t.Fatalf("graceful: %v", err)
	}
	c.Write([]byte("hello"))
	if b, err := io.ReadAll(c); err != nil || string(b) != "world" {
		t.Fatalf("graceful: read %q, %v", b, err)
	}
	c.Close()

	// no-listener: nothing listens on 8082.
	if _, err := dial(n.client, 40002, 8082); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("refused: want ECONNREFUSED, got %v", err)
	}

	// early-close: the server closes with the client's request unread.
	le := listen(t, n.server, 8083, 16)
	c, err = dial(n.client, 40003, 8083)
	if err != nil {
		t.Fatalf("early-close: %v", err)
	}
	c.Write(bytes.Repeat([]byte("x"), 100))
	sc, err := le.Accept()
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // the request is in the server's buffer
	sc.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 10)); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("early-close: want ECONNRESET, got %v", err)
	}
	c.Close()

	// overflow: backlog 2 (the queue holds 3), never accepted. Two
	// clients fill two slots. The third client's SYN is answered but
	// nftables in the client namespace drops the SYN-ACK, so its request
	// waits half-open; the fourth client takes the last slot. When the
	// rule goes, the retransmitted SYN-ACK (or SYN) completes the third
	// handshake, and its ACK finds the queue full: RST at once.
	listen(t, n.server, 8081, 2)
	var keep []net.Conn
	defer func() {
		for _, c := range keep {
			c.Close()
		}
	}()
	for _, p := range []int{40011, 40012} {
		c, err := dial(n.client, p, 8081)
		if err != nil {
			t.Fatalf("overflow fill %d: %v", p, err)
		}
		keep = append(keep, c)
	}
	sh(t, "table inet twlive {\n chain in {\n  type filter hook input priority 0;\n  tcp sport 8081 tcp dport 40013 tcp flags == (syn|ack) drop\n }\n}\n",
		"ip", "netns", "exec", n.client, "nft", "-f", "-")
	type dialed struct {
		c   net.Conn
		err error
	}
	third := make(chan dialed, 1)
	go func() {
		c, err := dial(n.client, 40013, 8081)
		third <- dialed{c, err}
	}()
	time.Sleep(100 * time.Millisecond)
	c4, err := dial(n.client, 40014, 8081)
	if err != nil {
		t.Fatalf("overflow 40014: %v", err)
	}
	keep = append(keep, c4)
	sh(t, "", "ip", "netns", "exec", n.client, "nft", "delete", "table", "inet", "twlive")
	// The RST may beat connect()'s return: then connect fails with it.
	d3 := <-third
	err = d3.err
	if err == nil {
		keep = append(keep, d3.c)
		d3.c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = d3.c.Read(make([]byte, 10))
	}
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("overflow: want ECONNRESET on the third client, got %v", err)
	}
	scenariosDone := time.Now()

	// The closed flows are streamed while tcpwhy runs.
	want := map[string]string{
		liveClientIP + ":40001": "graceful-close",
		liveClientIP + ":40002": "no-listener",
		liveClientIP + ":40003": "early-close",
		liveClientIP + ":40013": "overflow",
	}
	var got []line
	streamed := map[string]string{}
	deadline := time.After(15 * time.Second)
	for len(streamed) < len(want) {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("tcpwhy exited early: %s", stderr.String())
			}
			got = append(got, l)
			var r record
			if err := json.Unmarshal([]byte(l.text), &r); err != nil {
				t.Fatalf("bad JSON line %q: %v", l.text, err)
			}
			if r.Type != "flow" {
				t.Fatalf("record %q before the capture ended: %s", r.Type, l.text)
			}
			if _, ok := want[r.Client]; ok {
				streamed[r.Client] = r.Verdict
			}
		case <-deadline:
			t.Fatalf("streamed so far %v, want %v; stderr: %s", streamed, want, stderr.String())
		}
	}
	streamLatency := time.Since(scenariosDone)
	for client, v := range want {
		if streamed[client] != v {
			t.Errorf("streamed verdict of %s = %q, want %q", client, streamed[client], v)
		}
	}

	// SIGINT: the open flows are flushed, the summary printed, exit 0.
	sigAt := time.Now()
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	for l := range lines {
		got = append(got, l)
	}
	err = cmd.Wait()
	exited = true
	stopTook := time.Since(sigAt)
	if err != nil {
		t.Fatalf("tcpwhy after SIGINT: %v; stderr: %s", err, stderr.String())
	}
	if stopTook > 2*time.Second {
		t.Errorf("tcpwhy took %v to stop after SIGINT", stopTook)
	}

	var live []record
	types := ""
	for _, l := range got {
		var r record
		if err := json.Unmarshal([]byte(l.text), &r); err != nil {
			t.Fatalf("bad JSON line %q: %v", l.text, err)
		}
		live = append(live, r)
		if !strings.HasSuffix(types, r.Type) {
			types += " " + r.Type
		}
	}
	if types != " flow capture listener host summary" {
		t.Errorf("record order:%s; want flows, then capture, listener, host, summary", types)
	}
	liveFlows := flowVerdicts(live)
	// Three clients are in the accept queue, never accepted.
	for _, p := range []int{40011, 40012, 40014} {
		if v := liveFlows[fmt.Sprintf("%s:%d", liveClientIP, p)]; v != "open" {
			t.Errorf("flushed verdict of client :%d = %q, want open", p, v)
		}
	}
	if len(liveFlows) != 7 {
		t.Errorf("live run reported %d flows, want 7: %v", len(liveFlows), liveFlows)
	}

	// The saved capture gives the same verdicts offline.
	off := exec.Command(bin, "-r", pcapng, "--json")
	out, err := off.Output()
	if err != nil {
		t.Fatalf("tcpwhy -r %s --json: %v", pcapng, err)
	}
	var offline []record
	for _, b := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
		var r record
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatalf("bad offline JSON line %q: %v", b, err)
		}
		offline = append(offline, r)
	}
	offFlows := flowVerdicts(offline)
	if fmt.Sprint(offFlows) != fmt.Sprint(liveFlows) {
		t.Errorf("live verdicts differ from the offline verdicts of the -w file:\nlive    %v\noffline %v", liveFlows, offFlows)
	}
	if l, o := listenerVerdicts(live), listenerVerdicts(offline); l != o {
		t.Errorf("listeners differ:\nlive    %s\noffline %s", l, o)
	}
	livePackets, offPackets := capturePackets(t, got), capturePackets(t, splitLines(out))
	if livePackets == 0 || livePackets != offPackets {
		t.Errorf("live capture record counts %d packets, the -w file %d", livePackets, offPackets)
	}
	for _, l := range got {
		if strings.HasPrefix(l.text, `{"type":"capture"`) && !strings.Contains(l.text, `"dropped":0,`) {
			t.Errorf("live capture record should count 0 drops: %s", l.text)
		}
	}
	if !strings.Contains(stderr.String(), "packets dropped by kernel") {
		t.Errorf("no capture statistics on stderr: %s", stderr.String())
	}
	t.Logf("end-to-end %.1fs: %d flows streamed %.2fs after the last scenario, stop took %v, %d packets",
		time.Since(start).Seconds(), len(liveFlows), streamLatency.Seconds(), stopTook.Round(time.Millisecond), livePackets)
}

// flowVerdicts maps a JSON run's flows by client address to their
// verdicts (every client port is used once).
func flowVerdicts(recs []record) map[string]string {
	m := map[string]string{}
	for _, r := range recs {
		if r.Type == "flow" {
			if _, dup := m[r.Client]; dup {
				m[r.Client] += ",dup"
				continue
			}
			m[r.Client] = r.Verdict
		}
	}
	return m
}

// listenerVerdicts renders the listener records' verdict counts.
func listenerVerdicts(recs []record) string {
	var b strings.Builder
	for _, r := range recs {
		if r.Type == "listener" {
			fmt.Fprintf(&b, "%s %v %v; ", r.Server, r.Verdicts, r.Diagnosis)
		}
	}
	return b.String()
}

func splitLines(b []byte) []line {
	var out []line
	for _, s := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		out = append(out, line{text: s})
	}
	return out
}

// capturePackets returns the packet count of the capture record.
func capturePackets(t *testing.T, ls []line) int64 {
	t.Helper()
	for _, l := range ls {
		var c struct {
			Type    string `json:"type"`
			Packets int64  `json:"packets"`
		}
		if err := json.Unmarshal([]byte(l.text), &c); err == nil && c.Type == "capture" {
			return c.Packets
		}
	}
	t.Fatal("no capture record")
	return 0
}

type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestLivePermission runs tcpwhy -i without CAP_NET_RAW: a clear error,
// exit 1, no stack trace.
func TestLivePermission(t *testing.T) {
	bin := tcpwhyBinary(t)
	var cmd *exec.Cmd
	if os.Geteuid() == 0 {
		cmd = exec.Command("setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", bin, "-i", "lo")
	} else {
		cmd = exec.Command(bin, "-i", "lo") // unprivileged already
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("want exit 1, got %v; stderr: %s", err, stderr.String())
	}
	msg := stderr.String()
	if !strings.Contains(msg, "tcpwhy: capturing on lo needs root or CAP_NET_RAW (setcap cap_net_raw+ep $(which tcpwhy))") {
		t.Errorf("stderr lacks the permission message: %q", msg)
	}
	if strings.Contains(msg, "goroutine ") || strings.Contains(msg, "panic") || strings.Count(msg, "\n") > 1 {
		t.Errorf("stderr should be one line, got %q", msg)
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout should be empty, got %q", stdout.String())
	}
}

// TestLiveStopQuiet checks that a capture on a quiet interface ticks and
// notices Stop within 250 ms.
func TestLiveStopQuiet(t *testing.T) {
	needRoot(t)
	src, err := capture.OpenLive("lo", capture.LiveOptions{Filter: "tcp port 1 and tcp port 2"})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var seg capture.Segment
	ticks := 0
	var stopAt time.Time
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := src.Next(&seg)
		if errors.Is(err, capture.ErrTick) {
			ticks++
			if seg.Time.IsZero() || time.Since(seg.Time) > time.Second {
				t.Fatalf("tick time %v is not the current time", seg.Time)
			}
			if ticks == 3 {
				stopAt = time.Now()
				go src.Stop()
			}
			if time.Now().After(deadline) {
				t.Fatal("Stop not noticed")
			}
			continue
		}
		if err == io.EOF {
			break
		}
		t.Fatalf("Next: %v", err)
	}
	if took := time.Since(stopAt); took > 250*time.Millisecond {
		t.Errorf("Stop took %v to end Next on a quiet interface", took)
	}
	if d := src.Info().Dropped; d != 0 {
		t.Errorf("Dropped = %d on a quiet loopback", d)
	}
	if err := src.Next(&seg); err != io.EOF {
		t.Errorf("Next after the end = %v, want io.EOF", err)
	}
}

func TestIdleTimeoutFlag(t *testing.T) {
	for _, c := range []struct {
		in, want string
		bad      bool
	}{
		{"30m", "handshake=3m0s,established=30m0s,closed=5s", false},
		{"closed=1s,handshake=10s", "handshake=10s,established=2h0m0s,closed=1s", false},
		{"syn=1m, established=1h", "handshake=1m0s,established=1h0m0s,closed=5s", false},
		{"closed=0s", "", true},
		{"timewait=1s", "", true},
		{"soon", "", true},
	} {
		v := defaultIdle
		err := v.Set(c.in)
		if (err != nil) != c.bad {
			t.Errorf("Set(%q) error %v, want error %v", c.in, err, c.bad)
			continue
		}
		if !c.bad && v.String() != c.want {
			t.Errorf("Set(%q) = %s, want %s", c.in, v.String(), c.want)
		}
	}
}

// tickSource replays a capture file, then reports ticks a second apart,
// as a live source does on a quiet interface.
type tickSource struct {
	capture.Source
	last  time.Time
	ticks int
}

func (s *tickSource) Next(seg *capture.Segment) error {
	err := s.Source.Next(seg)
	if err == nil {
		s.last = seg.Time
		return nil
	}
	if err != io.EOF || s.ticks == 5 {
		return err
	}
	s.ticks++
	*seg = capture.Segment{Time: s.last.Add(time.Duration(s.ticks) * time.Second)}
	return capture.ErrTick
}

// TestStreamTicks checks the streaming analysis a live capture runs:
// ticks let capture time pass, closed flows are handed over once quiet
// for IdleClosed, nothing is kept, and Summarize of the streamed flows
// equals the offline analysis.
func TestStreamTicks(t *testing.T) {
	file := filepath.Join("..", "..", "testdata", "pcaps", "demo.pcap")
	src, err := capture.Open([]string{file}, capture.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	offline := classify.Analyze(src, classify.Options{})
	src.Close()

	src, err = capture.Open([]string{file}, capture.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	ts := &tickSource{Source: src}
	var streamed []*classify.FlowResult
	atTick := map[int64]int{}
	ticks := 0
	a := classify.Analyze(ts, classify.Options{Stream: true, IdleClosed: time.Second,
		OnFlow: func(r *classify.FlowResult) {
			streamed = append(streamed, r)
			atTick[r.ID] = ts.ticks
		},
		OnTick: func(time.Time) { ticks++ }})
	if len(a.Flows) != 0 || len(a.Listeners) != 0 {
		t.Errorf("Stream kept %d flows and %d listeners", len(a.Flows), len(a.Listeners))
	}
	if ticks != 5 {
		t.Errorf("OnTick called %d times, want 5", ticks)
	}
	if len(streamed) != len(offline.Flows) || len(streamed) == 0 {
		t.Fatalf("streamed %d flows, offline %d", len(streamed), len(offline.Flows))
	}
	byTick := 0
	for _, r := range streamed {
		// Decided while packets came (a reused 4-tuple) or by a tick 1 to
		// 2 s after the last packet: never only at the end.
		n := atTick[r.ID]
		if n > 2 {
			t.Errorf("flow %d (%s) decided at tick %d, want 2 at the latest", r.ID, r.Verdict, n)
		}
		if n > 0 {
			byTick++
		}
	}
	if byTick == 0 {
		t.Error("no flow was decided by a tick")
	}
	sum := classify.Summarize(streamed)
	if fmt.Sprint(sum.Verdicts) != fmt.Sprint(offline.Verdicts) {
		t.Errorf("streamed verdicts %v, offline %v", sum.Verdicts, offline.Verdicts)
	}
	if len(sum.Listeners) != len(offline.Listeners) {
		t.Errorf("streamed listeners %d, offline %d", len(sum.Listeners), len(offline.Listeners))
	}
}

// fileLive plays a capture file as a live source: a tick every 10 000
// packets (at the last packet's time), Stop, no drops. It samples the live
// heap at every tick.
type fileLive struct {
	capture.Source
	n        int
	last     time.Time
	stopped  bool
	peakHeap uint64
}

func (s *fileLive) Next(seg *capture.Segment) error {
	if s.stopped {
		return io.EOF
	}
	s.n++
	if s.n%10_000 == 0 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		s.peakHeap = max(s.peakHeap, ms.HeapAlloc)
		*seg = capture.Segment{Time: s.last}
		return capture.ErrTick
	}
	err := s.Source.Next(seg)
	if err == nil {
		s.last = seg.Time
	}
	return err
}

func (s *fileLive) Stop()                    { s.stopped = true }
func (s *fileLive) Stats() capture.LiveStats { return capture.LiveStats{} }

// TestLiveMemoryBounded streams a SYN flood of 300 000 spoofed sources
// through the live analysis with --max-flows 10000: the live heap stays
// far below what keeping every flow would take (about 3 KB each), and the
// output holds a summary for every maxWindow decided flows plus the final
// one.
func TestLiveMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	const flood = 300_000
	file := filepath.Join(t.TempDir(), "flood.pcap")
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gen.Write(f, gen.Config{Connections: 100, Seed: 3, SYNFlood: flood}); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	src, err := capture.Open([]string{file}, capture.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fl := &fileLive{Source: src}
	o := &options{format: "json", maxFlows: 10_000}
	lo := &liveOptions{idle: defaultIdle}
	// Count the records as they are written: keeping 500 MB of output
	// would hide the heap being measured.
	flows, summaries, evicted := 0, 0, int64(0)
	var partial []byte
	var bad error
	out := writerFunc(func(p []byte) (int, error) {
		partial = append(partial, p...)
		for {
			i := bytes.IndexByte(partial, '\n')
			if i < 0 {
				break
			}
			var r struct {
				Type    string          `json:"type"`
				Evicted json.RawMessage `json:"evicted"`
			}
			if bytes.HasPrefix(partial, []byte(`{"type":"flow",`)) {
				r.Type = "flow" // spare parsing 300 000 records
			} else if err := json.Unmarshal(partial[:i], &r); err != nil && bad == nil {
				bad = fmt.Errorf("bad JSON line %q: %v", partial[:i], err)
			}
			switch r.Type {
			case "flow":
				flows++
			case "summary":
				summaries++
				json.Unmarshal(r.Evicted, &evicted)
			}
			partial = partial[:copy(partial, partial[i+1:])]
		}
		return len(p), nil
	})
	start := time.Now()
	if err := streamLive(o, lo, fl, nil, out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if bad != nil {
		t.Fatal(bad)
	}
	if flows < flood {
		t.Errorf("%d flow records, want at least %d", flows, flood)
	}
	if want := flows/maxWindow + 1; summaries != want {
		t.Errorf("%d summaries, want %d (one per %d flows and the final one)", summaries, want, maxWindow)
	}
	if evicted < flood-10_000 {
		t.Errorf("final summary says %d evicted, want at least %d", evicted, flood-10_000)
	}
	const limit = 200 << 20
	if fl.peakHeap == 0 || fl.peakHeap > limit {
		t.Errorf("peak live heap %d MB, want under %d MB", fl.peakHeap>>20, limit>>20)
	}
	t.Logf("%d flows streamed in %v, %d summaries, peak live heap %d MB",
		flows, time.Since(start).Round(time.Millisecond), summaries, fl.peakHeap>>20)
}

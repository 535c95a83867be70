//go:build linux

package lab

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// AgentEnv is the environment variable that turns a lab binary (or the lab
// test binary) into an agent: a process started inside one network
// namespace with `ip netns exec` that runs socket operations on request.
const AgentEnv = "TWLAB_AGENT"

// tcpLinger2 is TCP_LINGER2 from <netinet/tcp.h>; package syscall lacks it.
const tcpLinger2 = 8

// Request is one operation the orchestrator asks an agent to run. Fields
// not used by an operation are left zero.
type Request struct {
	ID   int    `json:"id"`
	Op   string `json:"op"`
	Sock int    `json:"sock,omitempty"`
	// Local and Remote are ip:port strings ("10.77.0.1:40001", "[fd77::1]:40001").
	Local   string `json:"local,omitempty"`
	Remote  string `json:"remote,omitempty"`
	Backlog int    `json:"backlog,omitempty"`
	// N is a byte count (send, recv) or a value (setlinger seconds, linger2, sysctl).
	N int `json:"n,omitempty"`
	// On switches SO_LINGER on.
	On bool `json:"on,omitempty"`
	// TimeoutMs bounds a recv; 0 waits forever.
	TimeoutMs int `json:"timeout_ms,omitempty"`
	// Key and Value are a sysctl name and value.
	Key   string `json:"key,omitempty"`
	Value string `json:"value,omitempty"`
	// How is the shutdown direction: "wr", "rd" or "rdwr".
	How string `json:"how,omitempty"`
}

// Response answers one Request.
type Response struct {
	ID int `json:"id"`
	// Result is "ok" or the errno name the socket call returned
	// ("ECONNREFUSED", "ECONNRESET", "EAGAIN" for a recv timeout, ...).
	Result string `json:"result"`
	// Sock is the handle of a socket a connect, listen or accept made.
	Sock int `json:"sock,omitempty"`
	// N is the number of bytes sent or received.
	N int `json:"n,omitempty"`
	// EOF is set when a recv ended at the peer's FIN.
	EOF bool `json:"eof,omitempty"`
	// Counters holds the /proc/net counters for op "counters".
	Counters map[string]int64 `json:"counters,omitempty"`
	// Peer is the remote address of an accepted socket.
	Peer string `json:"peer,omitempty"`
	// Value is a sysctl value read by op "getsysctl".
	Value string `json:"value,omitempty"`
	// Err describes a failure of the agent itself (bad request, sysctl
	// write failure), as opposed to a socket result.
	Err string `json:"err,omitempty"`
}

// RunAgentIfRequested runs the agent loop and exits when the AgentEnv
// variable is set; it returns at once otherwise. Both the lab command and
// the lab test binary call it first thing, so the orchestrator can start
// agents by re-executing its own binary inside a namespace.
func RunAgentIfRequested() {
	if v := os.Getenv(ForwardEnv); v != "" {
		ns, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			fmt.Fprintf(os.Stderr, "lab forwarder: bad delay %q\n", v)
			os.Exit(2)
		}
		runForwarder(time.Duration(ns))
		os.Exit(0)
	}
	if os.Getenv(AgentEnv) == "" {
		return
	}
	a := &agent{socks: map[int]int{}, out: bufio.NewWriter(os.Stdout)}
	if err := a.serve(os.Stdin); err != nil {
		fmt.Fprintf(os.Stderr, "lab agent: %v\n", err)
		os.Exit(1)
	}
	os.Exit(0)
}

type agent struct {
	mu    sync.Mutex
	socks map[int]int // handle -> fd
	next  int
	out   *bufio.Writer
	wmu   sync.Mutex
}

func (a *agent) serve(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	var wg sync.WaitGroup
	for sc.Scan() {
		var req Request
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
			return fmt.Errorf("decode request: %w", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp := a.do(req)
			resp.ID = req.ID
			a.reply(resp)
		}()
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read requests: %w", err)
	}
	// stdin closed: the orchestrator is done; do not wait for blocked calls.
	return nil
}

func (a *agent) reply(resp Response) {
	b, err := json.Marshal(resp)
	if err != nil {
		b = []byte(fmt.Sprintf(`{"id":%d,"result":"error","err":%q}`, resp.ID, err.Error()))
	}
	a.wmu.Lock()
	defer a.wmu.Unlock()
	a.out.Write(b)
	a.out.WriteByte('\n')
	a.out.Flush()
}

func (a *agent) add(fd int) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.next++
	a.socks[a.next] = fd
	return a.next
}

func (a *agent) fd(h int) (int, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	fd, ok := a.socks[h]
	return fd, ok
}

// errno turns a syscall error into the name the truth files use.
func errno(err error) string {
	if err == nil {
		return "ok"
	}
	var en syscall.Errno
	if errors.As(err, &en) {
		if name, ok := errnoNames[en]; ok {
			return name
		}
		return "E" + strconv.Itoa(int(en))
	}
	return err.Error()
}

var errnoNames = map[syscall.Errno]string{
	syscall.ECONNREFUSED: "ECONNREFUSED",
	syscall.ECONNRESET:   "ECONNRESET",
	syscall.ETIMEDOUT:    "ETIMEDOUT",
	syscall.EPIPE:        "EPIPE",
	syscall.EHOSTUNREACH: "EHOSTUNREACH",
	syscall.ENETUNREACH:  "ENETUNREACH",
	syscall.EAGAIN:       "EAGAIN",
	syscall.ENOTCONN:     "ENOTCONN",
	syscall.EADDRINUSE:   "EADDRINUSE",
	syscall.EINVAL:       "EINVAL",
	syscall.EBADF:        "EBADF",
	syscall.EINTR:        "EINTR",
	syscall.ENOPROTOOPT:  "ENOPROTOOPT",
	syscall.EACCES:       "EACCES",
	syscall.EPERM:        "EPERM",
}

func sockaddr(s string) (syscall.Sockaddr, int, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return nil, 0, fmt.Errorf("parse address %q: %w", s, err)
	}
	if ap.Addr().Is4() {
		return &syscall.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}, syscall.AF_INET, nil
	}
	return &syscall.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}, syscall.AF_INET6, nil
}

func (a *agent) do(req Request) Response {
	switch req.Op {
	case "listen":
		return a.listen(req)
	case "accept":
		return a.accept(req)
	case "connect":
		return a.connect(req)
	case "send":
		return a.send(req)
	case "recv":
		return a.recv(req)
	case "shutdown":
		return a.shutdown(req)
	case "close":
		return a.close(req)
	case "setlinger":
		return a.withFD(req, func(fd int) error {
			l := syscall.Linger{Linger: int32(req.N)}
			if req.On {
				l.Onoff = 1
			}
			return syscall.SetsockoptLinger(fd, syscall.SOL_SOCKET, syscall.SO_LINGER, &l)
		})
	case "setlinger2":
		return a.withFD(req, func(fd int) error {
			return syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, tcpLinger2, req.N)
		})
	case "sysctl":
		return writeSysctl(req.Key, req.Value)
	case "getsysctl":
		b, err := os.ReadFile("/proc/sys/" + strings.ReplaceAll(req.Key, ".", "/"))
		if err != nil {
			return Response{Result: "error", Err: fmt.Sprintf("read sysctl %s: %v", req.Key, err)}
		}
		return Response{Result: "ok", Value: strings.TrimSpace(string(b))}
	case "counters":
		c, err := readCounters()
		if err != nil {
			return Response{Result: "error", Err: err.Error()}
		}
		return Response{Result: "ok", Counters: c}
	case "ping":
		return Response{Result: "ok"}
	}
	return Response{Result: "error", Err: fmt.Sprintf("unknown op %q", req.Op)}
}

func (a *agent) withFD(req Request, f func(fd int) error) Response {
	fd, ok := a.fd(req.Sock)
	if !ok {
		return Response{Result: "error", Err: fmt.Sprintf("no socket %d", req.Sock)}
	}
	return Response{Result: errno(f(fd))}
}

func writeSysctl(key, value string) Response {
	path := "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
	if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
		return Response{Result: "error", Err: fmt.Sprintf("sysctl %s=%s: %v", key, value, err)}
	}
	return Response{Result: "ok"}
}

func (a *agent) listen(req Request) Response {
	sa, fam, err := sockaddr(req.Local)
	if err != nil {
		return Response{Result: "error", Err: err.Error()}
	}
	fd, err := syscall.Socket(fam, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return Response{Result: errno(err)}
	}
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		syscall.Close(fd)
		return Response{Result: errno(err)}
	}
	if err := syscall.Bind(fd, sa); err != nil {
		syscall.Close(fd)
		return Response{Result: errno(err)}
	}
	if err := syscall.Listen(fd, req.Backlog); err != nil {
		syscall.Close(fd)
		return Response{Result: errno(err)}
	}
	return Response{Result: "ok", Sock: a.add(fd)}
}

func (a *agent) accept(req Request) Response {
	lfd, ok := a.fd(req.Sock)
	if !ok {
		return Response{Result: "error", Err: fmt.Sprintf("no socket %d", req.Sock)}
	}
	for {
		fd, sa, err := syscall.Accept4(lfd, syscall.SOCK_CLOEXEC)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return Response{Result: errno(err)}
		}
		return Response{Result: "ok", Sock: a.add(fd), Peer: sockaddrString(sa)}
	}
}

func sockaddrString(sa syscall.Sockaddr) string {
	switch sa := sa.(type) {
	case *syscall.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port)).String()
	case *syscall.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), uint16(sa.Port)).String()
	}
	return ""
}

func (a *agent) connect(req Request) Response {
	rsa, fam, err := sockaddr(req.Remote)
	if err != nil {
		return Response{Result: "error", Err: err.Error()}
	}
	lsa, _, err := sockaddr(req.Local)
	if err != nil {
		return Response{Result: "error", Err: err.Error()}
	}
	fd, err := syscall.Socket(fam, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return Response{Result: errno(err)}
	}
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		syscall.Close(fd)
		return Response{Result: errno(err)}
	}
	if err := syscall.Bind(fd, lsa); err != nil {
		syscall.Close(fd)
		return Response{Result: errno(err)}
	}
	h := a.add(fd)
	for {
		err = syscall.Connect(fd, rsa)
		if err != syscall.EINTR {
			break
		}
	}
	return Response{Result: errno(err), Sock: h}
}

func (a *agent) send(req Request) Response {
	fd, ok := a.fd(req.Sock)
	if !ok {
		return Response{Result: "error", Err: fmt.Sprintf("no socket %d", req.Sock)}
	}
	buf := make([]byte, req.N)
	for i := range buf {
		buf[i] = 'a' + byte(i%26)
	}
	sent := 0
	for sent < len(buf) {
		n, err := syscall.SendmsgN(fd, buf[sent:], nil, nil, syscall.MSG_NOSIGNAL)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return Response{Result: errno(err), N: sent}
		}
		sent += n
	}
	return Response{Result: "ok", N: sent}
}

// recv reads until N bytes arrived (N > 0) or until EOF (N == 0).
func (a *agent) recv(req Request) Response {
	fd, ok := a.fd(req.Sock)
	if !ok {
		return Response{Result: "error", Err: fmt.Sprintf("no socket %d", req.Sock)}
	}
	if req.TimeoutMs > 0 {
		tv := syscall.NsecToTimeval((time.Duration(req.TimeoutMs) * time.Millisecond).Nanoseconds())
		if err := syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv); err != nil {
			return Response{Result: errno(err)}
		}
	}
	buf := make([]byte, 64*1024)
	got := 0
	for req.N == 0 || got < req.N {
		want := len(buf)
		if req.N > 0 && req.N-got < want {
			want = req.N - got
		}
		n, err := syscall.Read(fd, buf[:want])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return Response{Result: errno(err), N: got}
		}
		if n == 0 {
			return Response{Result: "ok", N: got, EOF: true}
		}
		got += n
	}
	return Response{Result: "ok", N: got}
}

func (a *agent) shutdown(req Request) Response {
	how := syscall.SHUT_WR
	switch req.How {
	case "rd":
		how = syscall.SHUT_RD
	case "rdwr":
		how = syscall.SHUT_RDWR
	}
	return a.withFD(req, func(fd int) error { return syscall.Shutdown(fd, how) })
}

func (a *agent) close(req Request) Response {
	a.mu.Lock()
	fd, ok := a.socks[req.Sock]
	delete(a.socks, req.Sock)
	a.mu.Unlock()
	if !ok {
		return Response{Result: "error", Err: fmt.Sprintf("no socket %d", req.Sock)}
	}
	return Response{Result: errno(syscall.Close(fd))}
}

//go:build linux

package lab

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// NSPrefix starts the name of every namespace the lab creates, so a later
// run can sweep namespaces a crashed run left behind.
const NSPrefix = "twlab-"

// Addresses of the two ends of every lab link.
const (
	ClientV4 = "10.77.0.1"
	ServerV4 = "10.77.0.2"
	ClientV6 = "fd77::1"
	ServerV6 = "fd77::2"
)

// run executes a command and returns its combined output in the error.
func run(stdin string, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}

// SweepStale deletes every namespace whose name starts with NSPrefix and
// whose creating process (the pid in the name) is gone.
func SweepStale() error {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return fmt.Errorf("ip netns list: %w", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		fs := strings.Fields(line)
		if len(fs) == 0 || !strings.HasPrefix(fs[0], NSPrefix) {
			continue
		}
		var pid int
		if _, err := fmt.Sscanf(strings.TrimPrefix(fs[0], NSPrefix), "%d-", &pid); err == nil && pid > 0 {
			if syscall.Kill(pid, 0) == nil && pid != os.Getpid() {
				continue // still owned by a live lab run
			}
		}
		if err := run("", "ip", "netns", "del", fs[0]); err != nil {
			return fmt.Errorf("sweep stale namespace: %w", err)
		}
	}
	return nil
}

// LinkKind says how the two namespaces of a scenario are joined.
type LinkKind int

const (
	// LinkVeth joins the namespaces with a veth pair (no delay).
	LinkVeth LinkKind = iota
	// LinkDelay joins them with two TAP devices and a userspace forwarder
	// that delays every frame by a fixed one-way delay.
	LinkDelay
)

// pair is one client/server namespace pair with its link.
type pair struct {
	clientNS, serverNS   string
	clientDev, serverDev string
	tap                  *tapLink
}

var pairSeq atomic.Int32

// newPair creates the namespaces, the link and the addresses. On error it
// removes whatever it created.
func newPair(tag string, kind LinkKind, delay time.Duration) (p *pair, err error) {
	n := pairSeq.Add(1)
	base := fmt.Sprintf("%s%d-%s", NSPrefix, os.Getpid(), tag)
	p = &pair{clientNS: base + "-c", serverNS: base + "-s"}
	defer func() {
		if err != nil {
			p.destroy()
		}
	}()
	for _, ns := range []string{p.clientNS, p.serverNS} {
		if err := run("", "ip", "netns", "add", ns); err != nil {
			return p, err
		}
		// Quiet IPv6 autoconfiguration so captures hold little besides the
		// scenario, and make addresses usable at once.
		for _, kv := range [][2]string{
			{"net.ipv6.conf.default.accept_dad", "0"},
			{"net.ipv6.conf.default.router_solicitations", "0"},
			{"net.ipv6.conf.default.accept_ra", "0"},
			{"net.ipv6.conf.all.accept_dad", "0"},
		} {
			if err := run("", "ip", "netns", "exec", ns, "sysctl", "-qw", kv[0]+"="+kv[1]); err != nil {
				return p, err
			}
		}
		if err := run("", "ip", "-n", ns, "link", "set", "lo", "up"); err != nil {
			return p, err
		}
	}
	switch kind {
	case LinkVeth:
		p.clientDev, p.serverDev = "veth-c", "veth-s"
		if err := run("", "ip", "link", "add", p.clientDev, "netns", p.clientNS, "type", "veth",
			"peer", "name", p.serverDev, "netns", p.serverNS); err != nil {
			return p, err
		}
	case LinkDelay:
		p.clientDev, p.serverDev = "tap-c", "tap-s"
		cname, sname := fmt.Sprintf("twc%d-%d", os.Getpid()%100000, n), fmt.Sprintf("tws%d-%d", os.Getpid()%100000, n)
		t, err := newTapLink(cname, sname, delay)
		if err != nil {
			return p, err
		}
		p.tap = t
		for _, x := range [][3]string{{cname, p.clientNS, p.clientDev}, {sname, p.serverNS, p.serverDev}} {
			if err := run("", "ip", "link", "set", x[0], "netns", x[1], "name", x[2]); err != nil {
				return p, err
			}
		}
		if err := t.start(); err != nil {
			return p, err
		}
	}
	for _, x := range [][4]string{
		{p.clientNS, p.clientDev, ClientV4, ClientV6},
		{p.serverNS, p.serverDev, ServerV4, ServerV6},
	} {
		if err := run("", "ip", "-n", x[0], "addr", "add", x[2]+"/24", "dev", x[1]); err != nil {
			return p, err
		}
		if err := run("", "ip", "-n", x[0], "-6", "addr", "add", x[3]+"/64", "dev", x[1], "nodad"); err != nil {
			return p, err
		}
		if err := run("", "ip", "-n", x[0], "link", "set", x[1], "up"); err != nil {
			return p, err
		}
	}
	// Permanent neighbour entries: no ARP/ND delays the first SYN (which
	// would bunch up SYNs sent a few ms apart) and the captures stay clean.
	cmac, err := linkMAC(p.clientNS, p.clientDev)
	if err != nil {
		return p, err
	}
	smac, err := linkMAC(p.serverNS, p.serverDev)
	if err != nil {
		return p, err
	}
	for _, x := range [][4]string{
		{p.clientNS, p.clientDev, ServerV4, smac}, {p.clientNS, p.clientDev, ServerV6, smac},
		{p.serverNS, p.serverDev, ClientV4, cmac}, {p.serverNS, p.serverDev, ClientV6, cmac},
	} {
		if err := run("", "ip", "-n", x[0], "neigh", "replace", x[2], "lladdr", x[3], "dev", x[1], "nud", "permanent"); err != nil {
			return p, err
		}
	}
	return p, nil
}

// linkMAC returns the hardware address of dev in namespace ns.
func linkMAC(ns, dev string) (string, error) {
	out, err := exec.Command("ip", "-n", ns, "-o", "link", "show", "dev", dev).Output()
	if err != nil {
		return "", fmt.Errorf("ip -n %s link show %s: %w", ns, dev, err)
	}
	fs := strings.Fields(string(out))
	for i, f := range fs {
		if f == "link/ether" && i+1 < len(fs) {
			return fs[i+1], nil
		}
	}
	return "", fmt.Errorf("no MAC address for %s in %s", dev, ns)
}

// destroy deletes the namespaces (which removes their devices) and stops
// the forwarder.
func (p *pair) destroy() {
	if p.tap != nil {
		p.tap.close()
	}
	for _, ns := range []string{p.clientNS, p.serverNS} {
		exec.Command("ip", "netns", "del", ns).Run()
	}
}

// nft loads an nftables ruleset into namespace ns.
func nft(ns, ruleset string) error {
	return run(ruleset, "ip", "netns", "exec", ns, "nft", "-f", "-")
}

// TAP devices and the delaying forwarder.

const (
	tunSetIff = 0x400454ca // TUNSETIFF
	iffTap    = 0x0002
	iffNoPI   = 0x1000
)

type ifreq struct {
	name  [16]byte
	flags uint16
	_     [22]byte
}

func openTap(name string) (*os.File, error) {
	fd, err := syscall.Open("/dev/net/tun", syscall.O_RDWR|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/net/tun: %w", err)
	}
	var req ifreq
	copy(req.name[:], name)
	req.flags = iffTap | iffNoPI
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), tunSetIff, uintptr(unsafe.Pointer(&req))); e != 0 {
		syscall.Close(fd)
		return nil, fmt.Errorf("TUNSETIFF %s: %w", name, e)
	}
	// Non-blocking, so the runtime poller serves reads and Close interrupts them.
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("set %s non-blocking: %w", name, err)
	}
	return os.NewFile(uintptr(fd), "tap:"+name), nil
}

// ForwardEnv is the environment variable that turns a lab binary into a
// TAP forwarder process: it forwards frames between file descriptors 3 and
// 4, delaying each by the given number of nanoseconds.
const ForwardEnv = "TWLAB_FORWARD"

// tapLink forwards Ethernet frames between two TAP devices, delaying each
// by a fixed one-way delay and keeping their order. The forwarding runs in
// a separate process with raised priority (nice -15), so the delay stays
// close to the nominal one when the machine is busy.
type tapLink struct {
	a, b  *os.File
	delay time.Duration
	cmd   *exec.Cmd
}

func newTapLink(aName, bName string, delay time.Duration) (*tapLink, error) {
	a, err := openTap(aName)
	if err != nil {
		return nil, err
	}
	b, err := openTap(bName)
	if err != nil {
		a.Close()
		return nil, err
	}
	return &tapLink{a: a, b: b, delay: delay}, nil
}

func (t *tapLink) start() error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own binary: %w", err)
	}
	t.cmd = exec.Command("nice", "-n", "-15", self)
	t.cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d", ForwardEnv, t.delay.Nanoseconds()))
	t.cmd.ExtraFiles = []*os.File{t.a, t.b}
	t.cmd.Stderr = os.Stderr
	if err := t.cmd.Start(); err != nil {
		return fmt.Errorf("start forwarder: %w", err)
	}
	return nil
}

func (t *tapLink) close() {
	if t.cmd != nil && t.cmd.Process != nil {
		t.cmd.Process.Kill()
		t.cmd.Wait()
	}
	t.a.Close()
	t.b.Close()
}

// runForwarder is the forwarder process's main loop.
func runForwarder(delay time.Duration) {
	a, b := os.NewFile(3, "tap-a"), os.NewFile(4, "tap-b")
	done := make(chan struct{}, 2)
	go func() { forward(a, b, delay); done <- struct{}{} }()
	go func() { forward(b, a, delay); done <- struct{}{} }()
	<-done
}

type frame struct {
	due  time.Time
	data []byte
}

func forward(from, to *os.File, delay time.Duration) {
	q := make(chan frame, 4096)
	go func() {
		for f := range q {
			if d := time.Until(f.due); d > 0 {
				time.Sleep(d)
			}
			to.Write(f.data)
		}
	}()
	defer close(q)
	buf := make([]byte, 65536)
	for {
		n, err := from.Read(buf)
		if err != nil {
			return
		}
		q <- frame{due: time.Now().Add(delay), data: append([]byte(nil), buf[:n]...)}
	}
}

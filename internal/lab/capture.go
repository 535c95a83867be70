//go:build linux

package lab

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// CaptureSpec says how one capture of a scenario is taken.
type CaptureSpec struct {
	// File is the file name inside the scenario directory.
	File string
	// Point is "client" or "server": the namespace the capture runs in.
	Point string
	// Any captures on the "any" pseudo-interface (LINUX_SLL2) instead of
	// the namespace's link device.
	Any bool
	// SLL1 asks for LINUX_SLL (v1) headers; only with Any.
	SLL1 bool
	// Nano asks for nanosecond timestamps.
	Nano bool
	// PcapNG writes pcapng with dumpcap instead of pcap with tcpdump.
	PcapNG bool
}

func (c CaptureSpec) format() string {
	if c.PcapNG {
		return "pcapng"
	}
	return "pcap"
}

func (c CaptureSpec) linkType() string {
	switch {
	case c.Any && c.SLL1:
		return "LINUX_SLL"
	case c.Any:
		return "LINUX_SLL2"
	}
	return "EN10MB"
}

func (c CaptureSpec) precision() string {
	if c.Nano {
		return "nano"
	}
	return "micro"
}

// capturer is a running tcpdump or dumpcap.
type capturer struct {
	cmd    *exec.Cmd
	path   string
	stderr *syncBuffer
	waited chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startCapture starts a capture in namespace ns on device dev and waits
// until the capturer reports that it is listening.
func startCapture(ns, dev, dir string, c CaptureSpec) (*capturer, error) {
	if c.Any {
		dev = "any"
	}
	path := filepath.Join(dir, c.File)
	var args []string
	ready := "listening on"
	if c.PcapNG {
		args = []string{"netns", "exec", ns, "dumpcap", "-i", dev, "-s", "0", "-n", "-w", path}
		ready = "Capturing on"
	} else {
		args = []string{"netns", "exec", ns, "tcpdump", "-Z", "root", "-U", "--immediate-mode", "-s0", "-n", "-i", dev}
		if c.SLL1 {
			args = append(args, "-y", "LINUX_SLL")
		}
		if c.Nano {
			args = append(args, "--time-stamp-precision=nano")
		}
		args = append(args, "-w", path)
	}
	cmd := exec.Command("nice", append([]string{"-n", "-10", "ip"}, args...)...)
	cp := &capturer{cmd: cmd, path: path, stderr: &syncBuffer{}, waited: make(chan error, 1)}
	cmd.Stderr = cp.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start capture %s: %w", c.File, err)
	}
	go func() { cp.waited <- cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(cp.stderr.String(), ready) {
		select {
		case err := <-cp.waited:
			return nil, fmt.Errorf("capture %s exited early: %v: %s", c.File, err, cp.stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cp.stop()
			return nil, fmt.Errorf("capture %s not ready after 10s: %s", c.File, cp.stderr.String())
		}
	}
	return cp, nil
}

// settle waits until the capture file has not grown for quiet (at most
// limit), so packets still in the capturer's buffers are written before
// it is stopped.
func (c *capturer) settle(quiet, limit time.Duration) {
	deadline := time.Now().Add(limit)
	last, since := int64(-1), time.Now()
	for time.Now().Before(deadline) {
		var size int64
		if st, err := os.Stat(c.path); err == nil {
			size = st.Size()
		}
		if size != last {
			last, since = size, time.Now()
		} else if time.Since(since) >= quiet {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop interrupts the capturer and waits for it to write out its file.
func (c *capturer) stop() error {
	c.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-c.waited:
		return nil
	case <-time.After(5 * time.Second):
		c.cmd.Process.Kill()
		<-c.waited
		return fmt.Errorf("capturer did not stop on SIGINT: %s", c.stderr.String())
	}
}

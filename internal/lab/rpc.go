//go:build linux

package lab

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"time"
)

// agentProc is the orchestrator's handle on an agent running inside a
// namespace. Calls may be issued from several goroutines at once.
type agentProc struct {
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *bytes.Buffer

	mu      sync.Mutex
	nextID  int
	pending map[int]chan Response
	dead    error
	wmu     sync.Mutex
}

// startAgent re-executes the current binary inside namespace ns.
func startAgent(ns, name string) (*agentProc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own binary: %w", err)
	}
	// Raised priority keeps the scenario's timing when the machine is busy.
	cmd := exec.Command("nice", "-n", "-10", "ip", "netns", "exec", ns, self)
	cmd.Env = append(os.Environ(), AgentEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("agent %s stdin: %w", name, err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("agent %s stdout: %w", name, err)
	}
	a := &agentProc{name: name, cmd: cmd, stdin: stdin, stderr: &bytes.Buffer{}, pending: map[int]chan Response{}}
	cmd.Stderr = a.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start agent %s in %s: %w", name, ns, err)
	}
	go a.readLoop(stdout)
	if r := a.call(Request{Op: "ping"}, 10*time.Second); r.Result != "ok" {
		a.stop()
		return nil, fmt.Errorf("agent %s does not answer: %s %s", name, r.Err, a.stderr.String())
	}
	return a, nil
}

func (a *agentProc) readLoop(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 4<<20)
	for sc.Scan() {
		var resp Response
		if err := json.Unmarshal(sc.Bytes(), &resp); err != nil {
			continue
		}
		a.mu.Lock()
		ch := a.pending[resp.ID]
		delete(a.pending, resp.ID)
		a.mu.Unlock()
		if ch != nil {
			ch <- resp
		}
	}
	a.mu.Lock()
	a.dead = fmt.Errorf("agent %s exited", a.name)
	for id, ch := range a.pending {
		ch <- Response{ID: id, Result: "error", Err: a.dead.Error()}
		delete(a.pending, id)
	}
	a.mu.Unlock()
}

// send issues a request and returns the channel its response arrives on.
func (a *agentProc) send(req Request) <-chan Response {
	ch := make(chan Response, 1)
	a.mu.Lock()
	if a.dead != nil {
		a.mu.Unlock()
		ch <- Response{Result: "error", Err: a.dead.Error()}
		return ch
	}
	a.nextID++
	req.ID = a.nextID
	a.pending[req.ID] = ch
	a.mu.Unlock()
	b, err := json.Marshal(req)
	if err == nil {
		a.wmu.Lock()
		_, err = a.stdin.Write(append(b, '\n'))
		a.wmu.Unlock()
	}
	if err != nil {
		a.mu.Lock()
		delete(a.pending, req.ID)
		a.mu.Unlock()
		ch <- Response{Result: "error", Err: fmt.Sprintf("send to agent %s: %v", a.name, err)}
	}
	return ch
}

// call issues a request and waits for its answer at most timeout.
func (a *agentProc) call(req Request, timeout time.Duration) Response {
	select {
	case r := <-a.send(req):
		return r
	case <-time.After(timeout):
		return Response{Result: "timeout", Err: fmt.Sprintf("agent %s: %s did not return within %v", a.name, req.Op, timeout)}
	}
}

func (a *agentProc) stop() {
	a.stdin.Close()
	if a.cmd.Process != nil {
		a.cmd.Process.Kill()
	}
	a.cmd.Wait()
}

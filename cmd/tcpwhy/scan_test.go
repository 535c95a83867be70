package main

import (
	"bufio"
	"encoding/json"
	"net"
	"strings"
	"testing"
)

// TestManyOneOffServers runs the whole command on a capture that reaches
// 30,000 servers with one connection each (a gateway's traffic, or a
// scan's) after three connections to one real server: the listener view
// keeps 16,384 ip:ports, the real server among them, and the JSON
// summary accounts for every connection, in a listener record or left
// out.
func TestManyOneOffServers(t *testing.T) {
	s := rbNewSynth(t)
	for i := range 3 {
		s.c.port = uint16(45000 + i)
		s.conversation(uint32(1000*i), uint32(5000*i), 1, 10)
	}
	const oneOff = 30000
	for i := range oneOff {
		s.c.port = uint16(20000 + i)
		s.s = rbHost{net.IP{10, 2, byte(i >> 8), byte(i)}, 80}
		s.conversation(uint32(i), uint32(i)*3, 0, 0)
	}
	code, stdout, stderr := rbMain(t, "--json", "-r", rbWrite(t, "servers.pcap", s.buf.Bytes()))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var summary struct {
		Flows                int `json:"flows"`
		Listeners            int `json:"listeners"`
		ListenersLeftOut     int `json:"listeners_left_out"`
		ListenerFlowsLeftOut int `json:"listener_flows_left_out"`
	}
	records, conns := 0, 0
	real := 0
	sc := bufio.NewScanner(strings.NewReader(stdout))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var rec struct {
			Type        string `json:"type"`
			Server      string `json:"server"`
			Connections int    `json:"connections"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		switch rec.Type {
		case "listener":
			records++
			conns += rec.Connections
			if rec.Server == "10.1.0.2:443" {
				real = rec.Connections
			}
		case "summary":
			if err := json.Unmarshal(sc.Bytes(), &summary); err != nil {
				t.Fatal(err)
			}
		}
	}
	if summary.Flows != 3+oneOff {
		t.Fatalf("%d flows, want %d", summary.Flows, 3+oneOff)
	}
	if real != 3 {
		t.Errorf("the real server has %d connections in its listener record, want 3", real)
	}
	if records != summary.Listeners || records != 1<<14 {
		t.Errorf("%d listener records, summary says %d; want %d", records, summary.Listeners, 1<<14)
	}
	if summary.ListenersLeftOut != oneOff+1-1<<14 || conns+summary.ListenerFlowsLeftOut != summary.Flows {
		t.Errorf("left out %d listeners with %d flows, %d connections in records; want %d left out and %d flows in all",
			summary.ListenersLeftOut, summary.ListenerFlowsLeftOut, conns, oneOff+1-1<<14, summary.Flows)
	}
	// The text summary says so.
	_, text, _ := rbMain(t, "-q", "-r", rbWrite(t, "servers2.pcap", s.buf.Bytes()))
	if !strings.Contains(text, "the listener view left out 13617 server ip:ports") {
		t.Errorf("the summary does not say which listeners it left out:\n%.600s", text)
	}
}

package main

import (
	"encoding/json"
	"io"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/tcpwhy/tcpwhy/capture"
)

// TestCountStopsAtPacket checks -c N as `tcpdump -c N` has it: N packets
// are read, TCP or not, and no segment past packet N is analysed or
// printed, also when packet N is not TCP (demo.pcap's packets 1, 24 and
// 35 are ICMPv6). The oracle is an unlimited read of the file.
func TestCountStopsAtPacket(t *testing.T) {
	demo := filepath.Join("..", "..", "testdata", "pcaps", "demo.pcap")
	src, err := capture.Open([]string{demo}, capture.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var tcpNumbers []int64
	for {
		var seg capture.Segment
		if err := src.Next(&seg); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		tcpNumbers = append(tcpNumbers, seg.Packet)
	}
	src.Close()
	tcpUpTo := func(n int64) (k int64) {
		for _, p := range tcpNumbers {
			if p <= n {
				k++
			}
		}
		return k
	}
	lineNo := regexp.MustCompile(`(?m)^\s*(\d+)\s+\d\d:\d\d:`)
	for _, c := range []int64{1, 2, 23, 24, 25, 35} {
		n := strconv.FormatInt(c, 10)
		code, out, stderr := rbMain(t, "--json", "-c", n, "-r", demo)
		if code != 0 {
			t.Fatalf("-c %d: exit %d: %s", c, code, stderr)
		}
		var capRec struct {
			Packets     int64 `json:"packets"`
			TCPSegments int64 `json:"tcp_segments"`
		}
		if err := json.Unmarshal([]byte(strings.SplitN(out, "\n", 2)[0]), &capRec); err != nil {
			t.Fatal(err)
		}
		if capRec.Packets != c || capRec.TCPSegments != tcpUpTo(c) {
			t.Errorf("-c %d: %d packets, %d TCP segments; want %d and %d", c, capRec.Packets, capRec.TCPSegments, c, tcpUpTo(c))
		}
		// The annotated text (two passes) prints TCP packets up to c only.
		_, text, _ := rbMain(t, "-#", "-c", n, "-r", demo)
		var last, printed int64
		for _, m := range lineNo.FindAllStringSubmatch(text, -1) {
			last, _ = strconv.ParseInt(m[1], 10, 64)
			printed++
		}
		if last > c || printed != tcpUpTo(c) {
			t.Errorf("-c %d: text printed %d packets, the last numbered %d; want %d, none past %d", c, printed, last, tcpUpTo(c), c)
		}
	}
}

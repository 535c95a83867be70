package report

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/tcpwhy/tcpwhy/capture"
)

var update = flag.Bool("update", false, "regenerate the fixture captures in testdata/tcpdump")

// mkSeg builds a TCP segment the way a Source fills one.
func mkSeg(src, dst string, sport, dport uint16, flags capture.Flags, seq, ack uint32, payload int, opts ...byte) capture.Segment {
	s := capture.Segment{
		Kind: capture.KindTCP, Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst),
		SrcPort: sport, DstPort: dport, Flags: flags, Seq: seq, Ack: ack, Window: 512,
		PayloadLen: payload, DataOffset: uint8(20 + (len(opts)+3)/4*4), TTL: 64,
		Time: time.Date(2020, 6, 10, 9, 21, 3, 720289123, time.UTC),
	}
	s.IPVersion = 4
	if s.Src.Is6() {
		s.IPVersion = 6
	}
	s.OptionsLen = uint8(copy(s.RawOptions[:], opts))
	for i := len(opts); i < int(s.DataOffset)-20; i++ {
		s.RawOptions[i] = 0 // padding, as on the wire
		s.OptionsLen++
	}
	return s
}

const (
	fS = capture.SYN
	fA = capture.ACK
	fF = capture.FIN
	fR = capture.RST
	fP = capture.PSH
)

func line(p *TcpdumpPrinter, s capture.Segment) string { return string(p.AppendLine(nil, &s)) }

func TestTcpdumpSingleLines(t *testing.T) {
	ts := []byte{8, 10, 0x79, 0xe2, 0xca, 0x9a, 0, 0, 0, 0}
	tests := []struct {
		name string
		seg  capture.Segment
		want string
	}{
		{"syn with the usual options",
			mkSeg("192.168.1.11", "209.87.249.18", 33779, 53, fS, 603899916, 0, 0,
				append(append([]byte{2, 4, 0x05, 0xb4, 4, 2}, ts...), 1, 3, 3, 7)...),
			"IP 192.168.1.11.33779 > 209.87.249.18.53: Flags [S], seq 603899916, win 512, options [mss 1460,sackOK,TS val 2044906138 ecr 0,nop,wscale 7], length 0"},
		{"no flags", mkSeg("10.0.0.1", "10.0.0.2", 1, 2, 0, 5, 7, 0),
			"IP 10.0.0.1.1 > 10.0.0.2.2: Flags [none], win 512, length 0"},
		{"all flags but AE, absolute because the printer has no base yet",
			func() capture.Segment {
				s := mkSeg("10.0.0.1", "10.0.0.2", 1, 2, fF|fS|fR|fP|fA|capture.URG|capture.ECE|capture.CWR, 5, 7, 3)
				s.Urgent = 9
				return s
			}(),
			"IP 10.0.0.1.1 > 10.0.0.2.2: Flags [FSRP.UEW], seq 5:8, ack 7, win 512, urg 9, length 3"},
		{"AE alone is not a flag for tcpdump 4.99.3", mkSeg("10.0.0.1", "10.0.0.2", 1, 2, capture.AE, 5, 7, 0),
			"IP 10.0.0.1.1 > 10.0.0.2.2: Flags [none], win 512, length 0"},
		{"payload without ACK prints seq range", mkSeg("10.0.0.1", "10.0.0.2", 1, 2, fP, 4294967290, 0, 10),
			"IP 10.0.0.1.1 > 10.0.0.2.2: Flags [P], seq 4294967290:4, win 512, length 10"},
		{"ipv6", mkSeg("2001:db8::1", "2001:db8::2", 80, 1234, fR, 0, 0, 0),
			"IP6 2001:db8::1.80 > 2001:db8::2.1234: Flags [R], seq 0, win 512, length 0"},
		{"ipv4-compatible ipv6 address", mkSeg("::1.2.3.4", "::1", 80, 1234, fR, 0, 0, 0),
			"IP6 ::1.2.3.4.80 > ::1.1234: Flags [R], seq 0, win 512, length 0"},
		{"md5 cannot be checked without -M", mkSeg("10.0.0.1", "10.0.0.2", 1, 2, fS, 1, 0, 0,
			19, 18, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
			"IP 10.0.0.1.1 > 10.0.0.2.2: Flags [S], seq 1, win 512, options [md5 shared secret not supplied with -M, can't check - 000102030405060708090a0b0c0d0e0f,eol], length 0"},
		{"uto scps echo cc ccecho", mkSeg("10.0.0.1", "10.0.0.2", 1, 2, fS, 1, 0, 0,
			28, 4, 0x80, 0x03, 20, 4, 0xab, 7, 6, 6, 0, 0, 1, 0, 11, 6, 0, 0, 0, 9, 13, 6, 0, 0, 0, 10),
			"IP 10.0.0.1.1 > 10.0.0.2.2: Flags [S], seq 1, win 512, options [uto 0x8003 983100,scps cap ab id 7,echo 256,cc 9, 10,eol], length 0"},
		{"tcp-ao tfo exp unknown", mkSeg("10.0.0.1", "10.0.0.2", 1, 2, fS, 1, 0, 0,
			29, 6, 1, 2, 0xde, 0xad, 34, 2, 34, 6, 1, 2, 3, 4, 254, 4, 0x12, 0x34, 254, 8, 0xf9, 0x89, 9, 9, 9, 9, 99, 3, 0xff, 253, 2),
			"IP 10.0.0.1.1 > 10.0.0.2.2: Flags [S], seq 1, win 512, options [tcp-ao keyid 1 rnextkeyid 2 mac 0xdead,tfo  cookiereq,tfo  cookie 01020304,exp-1234,exp-tfo cookie 09090909,unknown-99 0xff,unknown-253,eol], length 0"},
		{"option shorter than its data: [len N]", mkSeg("10.0.0.1", "10.0.0.2", 1, 2, fS, 1, 0, 0, 3, 2, 1, 1),
			"IP 10.0.0.1.1 > 10.0.0.2.2: Flags [S], seq 1, win 512, options [wscale 1[len 2],nop], length 0"},
		{"bad first option ends the line", mkSeg("10.0.0.1", "10.0.0.2", 1, 2, fS, 1, 0, 0, 2, 1, 0, 0),
			"IP 10.0.0.1.1 > 10.0.0.2.2: Flags [S], seq 1, win 512, options [[bad opt]"},
		{"bad later option closes the bracket", mkSeg("10.0.0.1", "10.0.0.2", 1, 2, fS, 1, 0, 0, 1, 8, 30, 0),
			"IP 10.0.0.1.1 > 10.0.0.2.2: Flags [S], seq 1, win 512, options [nop,[bad opt]]"},
		{"eol stops the list", mkSeg("10.0.0.1", "10.0.0.2", 1, 2, fS, 1, 0, 0, 1, 0, 2, 4, 5, 0xb4, 1, 1),
			"IP 10.0.0.1.1 > 10.0.0.2.2: Flags [S], seq 1, win 512, options [nop,eol], length 0"},
		{"sack without ACK is absolute", mkSeg("10.0.0.1", "10.0.0.2", 1, 2, fP, 1, 0, 1, 1, 1, 5, 10, 0, 0, 0, 100, 0, 0, 0, 200),
			"IP 10.0.0.1.1 > 10.0.0.2.2: Flags [P], seq 1:2, win 512, options [nop,nop,sack 1 {100:200}], length 1"},
		{"invalid sack", mkSeg("10.0.0.1", "10.0.0.2", 1, 2, fS, 1, 0, 0, 5, 6, 0, 0, 0, 1),
			"IP 10.0.0.1.1 > 10.0.0.2.2: Flags [S], seq 1, win 512, options [sack invalid sack,eol], length 0"},
		{"mptcp capable", mkSeg("10.0.0.1", "10.0.0.2", 1, 2, fS, 1, 0, 0, 30, 12, 0x00, 0x81, 0x9b, 0x59, 0xbe, 0x3d, 0x69, 0x5e, 0x66, 0xa7),
			"IP 10.0.0.1.1 > 10.0.0.2.2: Flags [S], seq 1, win 512, options [mptcp 12 capable v0 csum {0x9b59be3d695e66a7}], length 0"},
		{"mptcp malformed", mkSeg("10.0.0.1", "10.0.0.2", 1, 2, fS, 1, 0, 0, 1, 30, 8, 0x00, 0x81, 1, 2, 3, 4),
			"IP 10.0.0.1.1 > 10.0.0.2.2: Flags [S], seq 1, win 512, options [nop,mptcp 8 capable[bad opt]]"},
		{"mptcp subtype unknown to 4.99.3", mkSeg("10.0.0.1", "10.0.0.2", 1, 2, fR, 1, 0, 0, 30, 4, 0x80, 0x01),
			"IP 10.0.0.1.1 > 10.0.0.2.2: Flags [R], seq 1, win 512, options [mptcp 4 unknown], length 0"},
		{"header shorter than 20 bytes", func() capture.Segment {
			s := mkSeg("10.0.0.1", "10.0.0.2", 1, 2, fS, 1, 0, 4)
			s.DataOffset = 16
			return s
		}(), "IP 10.0.0.1.1 > 10.0.0.2.2:  tcp 4 [bad hdr length 16 - too short, < 20]"},
		{"header truncated inside the options", func() capture.Segment {
			s := mkSeg("10.0.0.1", "10.0.0.2", 1, 2, fS, 1, 0, 0, append([]byte{2, 4, 0x05, 0xb4, 4, 2}, ts...)...)
			s.HeaderTruncated, s.OptionsLen = true, 9
			return s
		}(), "IP 10.0.0.1.1 > 10.0.0.2.2: Flags [S], seq 1, win 512, options [mss 1460,sackOK,TS [|tcp]>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewTcpdumpPrinter(TcpdumpOptions{Timestamps: TimestampNone})
			if got := line(p, tt.seg); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestTcpdumpRelativeSequence(t *testing.T) {
	const c, s = "192.168.1.11", "209.87.249.18"
	sack := func(seg capture.Segment, blocks ...uint32) capture.Segment {
		opts := []byte{1, 1, 5, byte(2 + 8*len(blocks)/2)}
		for _, b := range blocks {
			opts = binary.BigEndian.AppendUint32(opts, b)
		}
		n := mkSeg(seg.Src.String(), seg.Dst.String(), seg.SrcPort, seg.DstPort, seg.Flags, seg.Seq, seg.Ack, seg.PayloadLen, opts...)
		return n
	}
	steps := []struct {
		seg      capture.Segment
		relative string
		absolute string
	}{
		{mkSeg(c, s, 33779, 53, fS, 603899916, 0, 0), "Flags [S], seq 603899916, win", "Flags [S], seq 603899916, win"},
		{mkSeg(s, c, 53, 33779, fS|fA, 2043824403, 603899917, 0), "Flags [S.], seq 2043824403, ack 603899917, win", "Flags [S.], seq 2043824403, ack 603899917, win"},
		{mkSeg(c, s, 33779, 53, fA, 603899917, 2043824404, 0), "Flags [.], ack 1, win", "Flags [.], ack 2043824404, win"},
		{mkSeg(c, s, 33779, 53, fP|fA, 603899917, 2043824404, 58), "Flags [P.], seq 1:59, ack 1, win", "Flags [P.], seq 603899917:603899975, ack 2043824404, win"},
		{sack(mkSeg(s, c, 53, 33779, fA, 2043824404, 603899917, 0), 603900017, 603900117), "ack 1, win 512, options [nop,nop,sack 1 {101:201}]", "options [nop,nop,sack 1 {603900017:603900117}]"},
		{sack(mkSeg(c, s, 33779, 53, fA, 603899975, 2043824404, 0), 2043824504, 2043824604), "ack 1, win 512, options [nop,nop,sack 1 {101:201}]", "sack 1 {2043824504:2043824604}"},
		{mkSeg(c, s, 33779, 53, fF|fA, 603899975, 2043824404, 0), "Flags [F.], seq 59, ack 1, win", "seq 603899975, ack 2043824404"},
		// The 4-tuple is reused: the new SYN is absolute, the new SYN-ACK resets the base.
		{mkSeg(c, s, 33779, 53, fS, 1000, 0, 0), "Flags [S], seq 1000, win", "seq 1000, win"},
		{mkSeg(s, c, 53, 33779, fS|fA, 5000, 1001, 0), "Flags [S.], seq 5000, ack 1001, win", "seq 5000, ack 1001"},
		{mkSeg(c, s, 33779, 53, fP|fA, 1001, 5001, 10), "Flags [P.], seq 1:11, ack 1, win", "seq 1001:1011, ack 5001"},
		// Another reuse whose SYN-ACK was not captured keeps the stale base.
		{mkSeg(c, s, 33779, 53, fS, 7000, 0, 0), "Flags [S], seq 7000, win", "seq 7000, win"},
		{mkSeg(c, s, 33779, 53, fP|fA, 7001, 9001, 10), "Flags [P.], seq 6001:6011, ack 4001, win", "seq 7001:7011, ack 9001"},
		// A connection seen mid-stream: the first packet is the base.
		{mkSeg("10.1.1.1", "10.2.2.2", 443, 50000, fP|fA, 100, 200, 5), "Flags [P.], seq 100:105, ack 200, win", "seq 100:105, ack 200"},
		{mkSeg("10.2.2.2", "10.1.1.1", 50000, 443, fA, 200, 105, 0), "Flags [.], ack 5, win", "ack 105, win"},
		{mkSeg("10.1.1.1", "10.2.2.2", 443, 50000, fP|fA, 105, 200, 5), "Flags [P.], seq 5:10, ack 1, win", "seq 105:110, ack 200"},
		// Equal ports: the address order picks the canonical direction.
		{mkSeg("10.0.0.2", "10.0.0.1", 5000, 5000, fS|fA, 300, 401, 0), "seq 300, ack 401", "seq 300, ack 401"},
		{mkSeg("10.0.0.1", "10.0.0.2", 5000, 5000, fA, 401, 301, 0), "ack 1, win", "ack 301, win"},
		{mkSeg("10.0.0.2", "10.0.0.1", 5000, 5000, fP|fA, 301, 401, 2), "seq 1:3, ack 1", "seq 301:303, ack 401"},
		// IPv6 has its own table.
		{mkSeg("2001:db8::1", "2001:db8::2", 80, 1234, fS|fA, 10, 21, 0), "seq 10, ack 21", "seq 10, ack 21"},
		{mkSeg("2001:db8::2", "2001:db8::1", 1234, 80, fA, 21, 11, 0), "ack 1, win", "ack 11, win"},
	}
	rel := NewTcpdumpPrinter(TcpdumpOptions{Timestamps: TimestampNone})
	abs := NewTcpdumpPrinter(TcpdumpOptions{Timestamps: TimestampNone, Absolute: true})
	for i, st := range steps {
		if got := line(rel, st.seg); !strings.Contains(got, st.relative) {
			t.Errorf("step %d relative: %q does not contain %q", i, got, st.relative)
		}
		if got := line(abs, st.seg); !strings.Contains(got, st.absolute) {
			t.Errorf("step %d absolute (-S): %q does not contain %q", i, got, st.absolute)
		}
	}
}

func TestTcpdumpTimestamps(t *testing.T) {
	t0 := time.Date(2020, 6, 10, 9, 21, 3, 720289123, time.UTC)
	times := []time.Time{t0, t0.Add(126619 * time.Microsecond), t0.Add(126771 * time.Microsecond), t0.Add(-time.Second), t0.Add(25*time.Hour + 1500*time.Nanosecond)}
	berlin := time.FixedZone("CEST", 2*3600)
	tests := []struct {
		name string
		opt  TcpdumpOptions
		want []string
	}{
		{"default", TcpdumpOptions{Location: time.UTC}, []string{"09:21:03.720289 ", "09:21:03.846908 ", "09:21:03.847060 ", "09:21:02.720289 ", "10:21:03.720290 "}},
		{"default in another zone", TcpdumpOptions{Location: berlin}, []string{"11:21:03.720289 ", "11:21:03.846908 ", "11:21:03.847060 ", "11:21:02.720289 ", "12:21:03.720290 "}},
		{"default nano", TcpdumpOptions{Location: time.UTC, Nano: true}, []string{"09:21:03.720289123 ", "09:21:03.846908123 ", "09:21:03.847060123 ", "09:21:02.720289123 ", "10:21:03.720290623 "}},
		{"-t", TcpdumpOptions{Timestamps: TimestampNone}, []string{"", "", "", "", ""}},
		{"-tt", TcpdumpOptions{Timestamps: TimestampEpoch}, []string{"1591780863.720289 ", "1591780863.846908 ", "1591780863.847060 ", "1591780862.720289 ", "1591870863.720290 "}},
		{"-tt nano", TcpdumpOptions{Timestamps: TimestampEpoch, Nano: true}, []string{"1591780863.720289123 ", "1591780863.846908123 ", "1591780863.847060123 ", "1591780862.720289123 ", "1591870863.720290623 "}},
		{"-ttt", TcpdumpOptions{Timestamps: TimestampDelta}, []string{" 00:00:00.000000 ", " 00:00:00.126619 ", " 00:00:00.000152 ", "-00:00:01.126771 ", " 01:00:01.000001 "}},
		{"-tttt", TcpdumpOptions{Timestamps: TimestampDate, Location: time.UTC}, []string{"2020-06-10 09:21:03.720289 ", "2020-06-10 09:21:03.846908 ", "2020-06-10 09:21:03.847060 ", "2020-06-10 09:21:02.720289 ", "2020-06-11 10:21:03.720290 "}},
		{"-ttttt", TcpdumpOptions{Timestamps: TimestampSinceFirst}, []string{" 00:00:00.000000 ", " 00:00:00.126619 ", " 00:00:00.126771 ", "-00:00:01.000000 ", " 01:00:00.000001 "}},
		{"-ttttt nano", TcpdumpOptions{Timestamps: TimestampSinceFirst, Nano: true}, []string{" 00:00:00.000000000 ", " 00:00:00.126619000 ", " 00:00:00.126771000 ", "-00:00:01.000000000 ", " 01:00:00.000001500 "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewTcpdumpPrinter(tt.opt)
			for i, tm := range times {
				s := mkSeg("10.0.0.1", "10.0.0.2", 1, 2, fS, 1, 0, 0)
				s.Time = tm
				got := line(p, s)
				want := tt.want[i] + "IP 10.0.0.1.1 > 10.0.0.2.2: Flags [S], seq 1, win 512, length 0"
				if got != want {
					t.Errorf("packet %d: got %q, want %q", i, got, want)
				}
			}
		})
	}
	t.Run("number column", func(t *testing.T) {
		p := NewTcpdumpPrinter(TcpdumpOptions{Number: true, Timestamps: TimestampNone})
		for _, n := range []struct {
			packet int64
			want   string
		}{{7, "    7  IP"}, {123456, "123456  IP"}} {
			s := mkSeg("10.0.0.1", "10.0.0.2", 1, 2, fS, 1, 0, 0)
			s.Packet = n.packet
			if got := line(p, s); !strings.HasPrefix(got, n.want) {
				t.Errorf("packet %d: got %q, want prefix %q", n.packet, got, n.want)
			}
		}
	})
}

func TestTcpdumpVerbose(t *testing.T) {
	s4 := mkSeg("192.168.1.11", "209.87.249.18", 33779, 53, fS, 603899916, 0, 0)
	s4.IPID, s4.DF, s4.IPLen, s4.TCPChecksum, s4.Checksum = 39720, true, 40, 0x0c41, capture.ChecksumGood
	s6 := mkSeg("2001:470:4867:99::21", "2001:470:1f11:81f:c999:d94:aa7c:2e3e", 21, 49185, fP|fA, 1, 1, 61)
	s6.TTL, s6.FlowLabel, s6.IPLen, s6.TOS = 56, 0x1cef, 40+20+61, 0xc0
	p := NewTcpdumpPrinter(TcpdumpOptions{Timestamps: TimestampNone, Verbose: 1, Absolute: true})
	for _, tt := range []struct {
		seg  capture.Segment
		want string
	}{
		{s4, "IP (tos 0x0, ttl 64, id 39720, offset 0, flags [DF], proto TCP (6), length 40)\n    192.168.1.11.33779 > 209.87.249.18.53: Flags [S], cksum 0x0c41 (correct), seq 603899916, win 512, length 0"},
		{s6, "IP6 (class 0xc0, flowlabel 0x01cef, hlim 56, next-header TCP (6) payload length: 81) 2001:470:4867:99::21.21 > 2001:470:1f11:81f:c999:d94:aa7c:2e3e.49185: Flags [P.], seq 1:62, ack 1, win 512, length 61"},
	} {
		if got := line(p, tt.seg); got != tt.want {
			t.Errorf("got  %q\nwant %q", got, tt.want)
		}
	}
}

func TestTcpdumpICMPErrorDoesNotPanic(t *testing.T) {
	s := mkSeg("10.0.0.1", "10.0.0.2", 1, 2, fS, 1, 0, 0)
	s.Kind, s.ICMPFrom, s.ICMPType, s.ICMPCode = capture.KindICMPError, netip.MustParseAddr("10.0.0.9"), 3, 3
	got := line(NewTcpdumpPrinter(TcpdumpOptions{Timestamps: TimestampNone}), s)
	if want := "IP 10.0.0.9 > 10.0.0.1: ICMP type 3 code 3 for 10.0.0.1.1 > 10.0.0.2.2"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func BenchmarkAppendLine(b *testing.B) {
	segs := []capture.Segment{
		mkSeg("192.168.1.11", "209.87.249.18", 33779, 53, fS, 603899916, 0, 0, 2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7),
		mkSeg("209.87.249.18", "192.168.1.11", 53, 33779, fS|fA, 2043824403, 603899917, 0, 2, 4, 5, 0xb4),
		mkSeg("192.168.1.11", "209.87.249.18", 33779, 53, fA, 603899917, 2043824404, 0),
		mkSeg("192.168.1.11", "209.87.249.18", 33779, 53, fP|fA, 603899917, 2043824404, 58, 1, 1, 8, 10, 0, 0, 0, 2, 0, 0, 0, 1),
		mkSeg("2001:db8::1", "2001:db8::2", 80, 1234, fP|fA, 10, 21, 1400),
	}
	p := NewTcpdumpPrinter(TcpdumpOptions{Number: true, Timestamps: TimestampDate, Location: time.UTC})
	buf := make([]byte, 0, 512)
	for i := range segs {
		buf = p.AppendLine(buf[:0], &segs[i])
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s := &segs[i%len(segs)]
		s.Packet = int64(i)
		buf = p.AppendLine(buf[:0], s)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}

func TestAppendLineAllocatesNothing(t *testing.T) {
	s := mkSeg("192.168.1.11", "209.87.249.18", 33779, 53, fP|fA, 603899917, 2043824404, 58, 1, 1, 8, 10, 0, 0, 0, 2, 0, 0, 0, 1)
	for _, o := range []TcpdumpOptions{{Location: time.UTC}, {Timestamps: TimestampDate, Number: true}, {Timestamps: TimestampDelta, Verbose: 1}} {
		p := NewTcpdumpPrinter(o)
		buf := p.AppendLine(make([]byte, 0, 512), &s)
		if n := testing.AllocsPerRun(100, func() { buf = p.AppendLine(buf[:0], &s) }); n != 0 {
			t.Errorf("%+v: %v allocations per line, want 0", o, n)
		}
	}
}

// tcpLengthRE finds the TCP part's "length N"; everything tcpdump prints
// after it is payload decoding.
var tcpLengthRE = regexp.MustCompile(`, length \d+`)

// cutAfterLength keeps a line up to and including the TCP "length N".
func cutAfterLength(s string) string {
	i := strings.Index(s, ": Flags [")
	if i < 0 {
		return s
	}
	if loc := tcpLengthRE.FindStringIndex(s[i:]); loc != nil {
		return s[:i+loc[1]]
	}
	return s
}

var recordStartRE = regexp.MustCompile(`^ *(\d+)  `)

// parseTcpdump splits `tcpdump -#` output into one record per packet
// (continuation lines joined with "\n"), keyed by packet number.
func parseTcpdump(out []byte) map[int64]string {
	recs := make(map[int64]string)
	var cur int64
	var b strings.Builder
	flush := func() {
		if cur > 0 {
			recs[cur] = b.String()
		}
		b.Reset()
	}
	for _, l := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		if m := recordStartRE.FindStringSubmatch(l); m != nil {
			if n, err := strconv.ParseInt(m[1], 10, 64); err == nil && n == cur+1 {
				flush()
				cur = n
				b.WriteString(l)
				continue
			}
		}
		b.WriteString("\n")
		b.WriteString(l)
	}
	flush()
	return recs
}

// parityResult counts how many TCP lines of one capture agree.
type parityResult struct {
	name         string
	agree, total int
	diffs        []string
}

// compareLines prints every segment with p and compares it with tcpdump's
// record of the same packet.
func compareLines(name string, segs []capture.Segment, p *TcpdumpPrinter, want map[int64]string) parityResult {
	res := parityResult{name: name}
	var buf []byte
	for i := range segs {
		s := &segs[i]
		if s.Kind != capture.KindTCP {
			continue
		}
		buf = p.AppendLine(buf[:0], s)
		w, ok := want[s.Packet]
		if !ok {
			continue
		}
		res.total++
		got, exp := cutAfterLength(string(buf)), cutAfterLength(w)
		if got == exp {
			res.agree++
			continue
		}
		res.diffs = append(res.diffs, fmt.Sprintf("packet %d:\n  tcpdump: %q\n  ours:    %q", s.Packet, exp, got))
	}
	return res
}

func (r parityResult) log(t *testing.T, what string) {
	t.Helper()
	if r.total == 0 {
		t.Logf("%s %s: no TCP lines compared", what, r.name)
		return
	}
	t.Logf("%s %s: %d/%d TCP lines agree (%.2f%%)", what, r.name, r.agree, r.total, 100*float64(r.agree)/float64(r.total))
	for _, d := range r.diffs {
		t.Logf("  %s", d)
	}
}

const realworld = "/work/shared/pcaps/realworld"

// readSegments reads every TCP segment of a capture with capture.Open,
// copying each (Data included, so -v and truncation can be checked).
func readSegments(t *testing.T, name string) []capture.Segment {
	t.Helper()
	return readSegmentsWith(t, name, capture.OpenOptions{})
}

// readSegmentsWith is readSegments with opts.
func readSegmentsWith(t *testing.T, name string, opts capture.OpenOptions) []capture.Segment {
	t.Helper()
	src, err := capture.Open([]string{name}, opts)
	if err != nil {
		t.Errorf("open %s: %v", name, err)
		return nil
	}
	defer src.Close()
	var segs []capture.Segment
	var seg capture.Segment
	for {
		err := src.Next(&seg)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Errorf("read %s: %v", name, err)
			break
		}
		s := seg
		s.Data = append([]byte(nil), seg.Data...)
		segs = append(segs, s)
	}
	if err := src.Err(); err != nil {
		t.Logf("%s: %v (comparing what was read)", name, err)
	}
	return segs
}

// manifestOptions reads the tcpdump options of each .tcpdump.out oracle
// from the realworld MANIFEST.md table.
func manifestOptions(t *testing.T) map[string]string {
	data, err := os.ReadFile(filepath.Join(realworld, "MANIFEST.md"))
	if err != nil {
		t.Skipf("no manifest: %v", err)
	}
	opts := make(map[string]string)
	optRE := regexp.MustCompile("options `([^`]*)`")
	for _, l := range strings.Split(string(data), "\n") {
		if !strings.HasPrefix(l, "| tcpdump-") {
			continue
		}
		cols := strings.Split(l, "|")
		if len(cols) < 3 {
			continue
		}
		file := strings.TrimSpace(cols[1])
		last := cols[len(cols)-2]
		if !strings.Contains(last, ".tcpdump.out") {
			continue
		}
		o := ""
		if m := optRE.FindStringSubmatch(last); m != nil {
			o = m[1]
		}
		if strings.Contains(last, "SPECIAL_t") {
			o += " SPECIAL_t"
		}
		opts[file] = strings.TrimSpace(o)
	}
	return opts
}

// printerFor maps tcpdump flags to printer options; ok is false when a
// flag is not emulated.
func printerFor(flags string) (TcpdumpOptions, bool) {
	o := TcpdumpOptions{Number: true, Timestamps: TimestampDate, Location: time.UTC}
	for _, f := range strings.Fields(flags) {
		switch f {
		case "-v":
			o.Verbose = 1
		case "-vv":
			o.Verbose = 2
		case "-S":
			o.Absolute = true
		case "-K":
			o.NoChecksums = true
		case "--nano":
			o.Nano = true
		case "SPECIAL_t":
			o.Timestamps = TimestampDefault
		case "-t":
			o.Timestamps = TimestampNone
		case "-tt":
			o.Timestamps = TimestampEpoch
		case "-tttt":
			o.Timestamps = TimestampDate
		case "-ttt":
			o.Timestamps = TimestampDelta
		case "-ttttt":
			o.Timestamps = TimestampSinceFirst
		default:
			return o, false
		}
	}
	return o, true
}

func TestTcpdumpParityOracle(t *testing.T) {
	if _, err := os.Stat(realworld); err != nil {
		t.Skipf("realworld captures not available: %v", err)
	}
	opts := manifestOptions(t)
	files := make([]string, 0, len(opts))
	for f := range opts {
		files = append(files, f)
	}
	sort.Strings(files)
	var agree, total int
	for _, f := range files {
		o, ok := printerFor(opts[f])
		if !ok {
			t.Logf("oracle %s: options %q not emulated, skipped", f, opts[f])
			continue
		}
		out := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(f, ".gz"), ".pcap"), ".pcapng") + ".tcpdump.out"
		want, err := os.ReadFile(filepath.Join(realworld, out))
		if err != nil {
			t.Errorf("read oracle: %v", err)
			continue
		}
		r := compareLines(f, readSegments(t, filepath.Join(realworld, f)), NewTcpdumpPrinter(o), parseTcpdump(want))
		r.log(t, "oracle (upstream master output) "+opts[f])
		// MPTCP option text differs between tcpdump master and 4.99.3,
		// which this printer follows: those files are reported only.
		if !strings.Contains(f, "mptcp") {
			agree += r.agree
			total += r.total
		}
	}
	checkOverall(t, "oracle", agree, total)
}

func checkOverall(t *testing.T, what string, agree, total int) {
	t.Helper()
	if total == 0 {
		t.Logf("%s: nothing compared", what)
		return
	}
	pct := 100 * float64(agree) / float64(total)
	t.Logf("%s overall: %d/%d TCP lines agree (%.2f%%)", what, agree, total, pct)
	if pct < 99 {
		t.Errorf("%s agreement %.2f%% is below 99%%", what, pct)
	}
}

// parityCaptures lists the captures the live comparison runs on.
func parityCaptures(t *testing.T) []string {
	var files []string
	add := func(root string) {
		_ = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			n := d.Name()
			if strings.HasSuffix(n, ".pcap") || strings.HasSuffix(n, ".pcapng") || strings.HasSuffix(n, ".pcap.gz") || strings.HasSuffix(n, ".cap") {
				files = append(files, path)
			}
			return nil
		})
	}
	if _, err := os.Stat(realworld); err == nil {
		add(realworld)
	} else {
		t.Logf("realworld captures not available: %v", err)
	}
	add(filepath.Join("..", "testdata", "pcaps"))
	add(filepath.Join("testdata", "tcpdump"))
	return files
}

func runTcpdump(name string, flags ...string) ([]byte, error) {
	args := append([]string{"-n", "-#", "-r", name}, flags...)
	var cmd *exec.Cmd
	if strings.HasSuffix(name, ".gz") {
		args[3] = "-"
		cmd = exec.Command("tcpdump", args...)
		f, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", name, err)
		}
		defer f.Close()
		zr, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("gunzip %s: %w", name, err)
		}
		cmd.Stdin = zr
	} else {
		cmd = exec.Command("tcpdump", args...)
	}
	cmd.Env = append(os.Environ(), "TZ=UTC")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil && len(out) == 0 {
		return nil, fmt.Errorf("tcpdump %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}

func TestTcpdumpParityLive(t *testing.T) {
	if _, err := exec.LookPath("tcpdump"); err != nil {
		t.Skip("tcpdump is not installed: live parity comparison skipped")
	}
	variants := []string{"-tttt", "-tttt -v", "-tttt -S", "-tttt -v -K"}
	if testing.Short() {
		variants = variants[:1]
	}
	for _, variant := range variants {
		o, _ := printerFor(strings.ReplaceAll(variant, "-tttt", ""))
		var agree, total int
		for _, f := range parityCaptures(t) {
			out, err := runTcpdump(f, strings.Fields(variant)...)
			if err != nil {
				t.Errorf("%v", err)
				continue
			}
			segs := readSegments(t, f)
			r := compareLines(f, segs, NewTcpdumpPrinter(o), parseTcpdump(out))
			r.log(t, "tcpdump "+variant)
			agree += r.agree
			total += r.total
		}
		checkOverall(t, "tcpdump "+variant, agree, total)
	}
}

// TestTcpdumpParityTimestampsLive checks the timestamp formats against
// tcpdump on captures that hold only TCP packets (tcpdump's deltas count
// every packet, the printer sees only TCP ones).
func TestTcpdumpParityTimestampsLive(t *testing.T) {
	if _, err := exec.LookPath("tcpdump"); err != nil {
		t.Skip("tcpdump is not installed: live parity comparison skipped")
	}
	files := []string{filepath.Join(realworld, "tcpdump-dns_tcp.pcap"), filepath.Join(realworld, "tcpdump-tcp-handshake-nano.pcap"), filepath.Join(realworld, "tcpdump-ssh.pcap")}
	for _, variant := range []string{"", "-t", "-tt", "-ttt", "-ttttt", "--nano", "-tt --nano", "-ttt --nano", "-tttt --nano"} {
		o, _ := printerFor(variant)
		if !strings.Contains(variant, "-t") {
			o.Timestamps = TimestampDefault
		}
		var agree, total int
		for _, f := range files {
			if _, err := os.Stat(f); err != nil {
				continue
			}
			args := strings.Fields(strings.ReplaceAll(variant, "--nano", "--time-stamp-precision=nano"))
			out, err := runTcpdump(f, args...)
			if err != nil {
				t.Errorf("%v", err)
				continue
			}
			segs := readSegments(t, f)
			if len(segs) != len(parseTcpdump(out)) {
				continue // non-TCP packets: deltas are not comparable
			}
			r := compareLines(f, segs, NewTcpdumpPrinter(o), parseTcpdump(out))
			if r.agree != r.total {
				r.log(t, "tcpdump "+variant)
			}
			agree += r.agree
			total += r.total
		}
		if total == 0 {
			t.Logf("tcpdump %s: no capture compared", variant)
			continue
		}
		t.Logf("tcpdump %s: %d/%d lines agree", variant, agree, total)
		if agree != total {
			t.Errorf("tcpdump %s: %d/%d lines agree", variant, agree, total)
		}
	}
}

var fixtureEpoch = time.Date(2024, 1, 2, 3, 4, 5, 678901000, time.UTC)

func secondsF(i int) time.Duration { return time.Duration(i) * 1001 * time.Millisecond }

// pkt describes one crafted TCP/IP packet of the fixture captures.
type pkt struct {
	src, dst     string
	sport, dport uint16
	seq, ack     uint32
	flags        uint16 // TCP flag byte, plus 0x100 for AE
	win, urg     uint16
	opts         []byte // padded with zeros (EOL) to a multiple of 4
	payload      int
	dataOff      int // header length override, 0: from opts
	ipOpts       []byte
	tos          uint8
	badIPSum     bool
	badTCPSum    bool
	capTCP       int // keep only this many TCP bytes in the capture (0: all)
	ipLenDelta   int // added to the IP length field
}

func (p pkt) frame() pcapPacket {
	src, dst := netip.MustParseAddr(p.src), netip.MustParseAddr(p.dst)
	opts := append([]byte(nil), p.opts...)
	for len(opts)%4 != 0 {
		opts = append(opts, 0)
	}
	hl := 20 + len(opts)
	if p.dataOff != 0 {
		hl = p.dataOff
	}
	tcp := binary.BigEndian.AppendUint16(nil, p.sport)
	tcp = binary.BigEndian.AppendUint16(tcp, p.dport)
	tcp = binary.BigEndian.AppendUint32(tcp, p.seq)
	tcp = binary.BigEndian.AppendUint32(tcp, p.ack)
	tcp = append(tcp, byte(hl/4)<<4|byte(p.flags>>8&1), byte(p.flags))
	tcp = binary.BigEndian.AppendUint16(tcp, p.win)
	tcp = append(tcp, 0, 0)
	tcp = binary.BigEndian.AppendUint16(tcp, p.urg)
	tcp = append(tcp, opts...)
	for i := 0; i < p.payload; i++ {
		tcp = append(tcp, byte('a'+i%26))
	}
	var ip []byte
	eth := []byte{0, 1, 2, 3, 4, 5, 0, 6, 7, 8, 9, 10, 8, 0}
	if src.Is4() {
		ipo := append([]byte(nil), p.ipOpts...)
		for len(ipo)%4 != 0 {
			ipo = append(ipo, 0)
		}
		ihl := 20 + len(ipo)
		ip = []byte{0x40 | byte(ihl/4), p.tos, 0, 0, 0x12, 0x34, 0x40, 0, 64, 6, 0, 0}
		binary.BigEndian.PutUint16(ip[2:], uint16(ihl+len(tcp)+p.ipLenDelta))
		s4, d4 := src.As4(), dst.As4()
		ip = append(append(append(ip, s4[:]...), d4[:]...), ipo...)
		binary.BigEndian.PutUint16(ip[10:], checksum(0, ip)^boolMask(p.badIPSum))
		ph := sumWords(0, ip4FinalDst(ip))
		ph = sumWords(ph, s4[:]) + uint32(len(tcp)) + 6
		binary.BigEndian.PutUint16(tcp[16:], checksum(ph, tcp)^boolMask(p.badTCPSum))
	} else {
		eth[12], eth[13] = 0x86, 0xdd
		ip = []byte{0x60 | p.tos>>4, p.tos << 4, 0x12, 0x34, 0, 0, 6, 64}
		binary.BigEndian.PutUint16(ip[4:], uint16(len(tcp)+p.ipLenDelta))
		s16, d16 := src.As16(), dst.As16()
		ip = append(append(ip, s16[:]...), d16[:]...)
		ph := sumWords(sumWords(0, s16[:]), d16[:]) + uint32(len(tcp)) + 6
		binary.BigEndian.PutUint16(tcp[16:], checksum(ph, tcp)^boolMask(p.badTCPSum))
	}
	frame := append(append(eth, ip...), tcp...)
	wire := len(frame)
	if p.capTCP > 0 {
		frame = frame[:len(eth)+len(ip)+p.capTCP]
	}
	return pcapPacket{data: frame, wireLen: wire}
}

func boolMask(b bool) uint16 {
	if b {
		return 0x5555
	}
	return 0
}

// fixtures are crafted captures of the corner cases of tcpdump's TCP
// printer; the live parity test compares them with tcpdump.
func fixtures() map[string][]pkt {
	const a, b = "10.0.0.1", "10.0.0.2"
	ts := []byte{8, 10, 0, 0, 1, 0, 0, 0, 0, 0}
	mss := []byte{2, 4, 5, 0xb4}
	hs := func(sport, dport uint16, cs, ss uint32, o []byte) []pkt {
		return []pkt{
			{src: a, dst: b, sport: sport, dport: dport, seq: cs, flags: 0x02, win: 64240, opts: o},
			{src: b, dst: a, sport: dport, dport: sport, seq: ss, ack: cs + 1, flags: 0x12, win: 65160, opts: o},
			{src: a, dst: b, sport: sport, dport: dport, seq: cs + 1, ack: ss + 1, flags: 0x10, win: 502},
		}
	}
	var v4 []pkt
	v4 = append(v4, hs(40000, 80, 1000, 5000, append(append(append([]byte(nil), mss...), 4, 2), ts...))...)
	v4 = append(v4,
		pkt{src: a, dst: b, sport: 40000, dport: 80, seq: 1001, ack: 5001, flags: 0x18, win: 502, payload: 100},
		pkt{src: b, dst: a, sport: 80, dport: 40000, seq: 5001, ack: 1101, flags: 0x10, win: 509, opts: []byte{1, 1, 5, 18, 0, 0, 0x04, 0xb1, 0, 0, 0x05, 0x15, 0, 0, 0x05, 0x79, 0, 0, 0x05, 0xdd}},
		pkt{src: a, dst: b, sport: 40000, dport: 80, seq: 1101, ack: 5001, flags: 0x10, win: 502, opts: []byte{1, 1, 5, 10, 0, 0, 0x13, 0x89, 0, 0, 0x13, 0xed}},
		pkt{src: a, dst: b, sport: 40000, dport: 80, seq: 1101, ack: 5001, flags: 0x39, win: 502, urg: 3, payload: 3},
		pkt{src: b, dst: a, sport: 80, dport: 40000, seq: 5001, ack: 1105, flags: 0x14, win: 0},
		// reuse with a new handshake, then a reuse whose SYN-ACK is missing
		pkt{src: a, dst: b, sport: 40000, dport: 80, seq: 90000, flags: 0x02, win: 64240},
		pkt{src: b, dst: a, sport: 80, dport: 40000, seq: 70000, ack: 90001, flags: 0x12, win: 64240},
		pkt{src: a, dst: b, sport: 40000, dport: 80, seq: 90001, ack: 70001, flags: 0x18, win: 502, payload: 7},
		pkt{src: a, dst: b, sport: 40000, dport: 80, seq: 123456, flags: 0x02, win: 64240},
		pkt{src: a, dst: b, sport: 40000, dport: 80, seq: 123457, ack: 3333, flags: 0x10, win: 502},
		// equal ports, both address orders
		pkt{src: b, dst: a, sport: 7000, dport: 7000, seq: 10, ack: 20, flags: 0x12, win: 100},
		pkt{src: a, dst: b, sport: 7000, dport: 7000, seq: 20, ack: 11, flags: 0x10, win: 100},
		pkt{src: b, dst: a, sport: 7000, dport: 7000, seq: 11, ack: 20, flags: 0x18, win: 100, payload: 5},
		// flags
		pkt{src: a, dst: b, sport: 1, dport: 2, seq: 1, flags: 0x00, win: 1},
		pkt{src: a, dst: b, sport: 1, dport: 3, seq: 1, ack: 2, flags: 0xff, win: 1, urg: 7},
		pkt{src: a, dst: b, sport: 1, dport: 4, seq: 1, flags: 0x100, win: 1},
		pkt{src: a, dst: b, sport: 1, dport: 5, seq: 1, flags: 0x1c2, win: 1},
		// options
		pkt{src: a, dst: b, sport: 2, dport: 1, seq: 1, flags: 0x02, opts: []byte{19, 18, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}},
		pkt{src: a, dst: b, sport: 2, dport: 3, seq: 1, flags: 0x02, opts: []byte{28, 4, 0x80, 0x03, 20, 4, 0xab, 7, 6, 6, 0, 0, 1, 0, 7, 6, 0, 0, 1, 1, 11, 6, 0, 0, 0, 9, 12, 6, 0, 0, 0, 9, 13, 6, 0, 0, 0, 10}},
		pkt{src: a, dst: b, sport: 2, dport: 4, seq: 1, flags: 0x02, opts: []byte{29, 6, 1, 2, 0xde, 0xad, 29, 3, 0, 34, 2, 34, 6, 1, 2, 3, 4, 34, 5, 1, 2, 3, 254, 4, 0x12, 0x34, 254, 8, 0xf9, 0x89, 9, 9, 9, 9, 99, 3, 0xff, 253, 2}},
		pkt{src: a, dst: b, sport: 2, dport: 5, seq: 1, flags: 0x02, opts: []byte{3, 2, 1, 1, 2, 3, 5, 1}},
		pkt{src: a, dst: b, sport: 2, dport: 6, seq: 1, flags: 0x02, opts: []byte{2, 1, 0, 0}},
		pkt{src: a, dst: b, sport: 2, dport: 7, seq: 1, flags: 0x02, opts: []byte{1, 8, 30, 0}},
		pkt{src: a, dst: b, sport: 2, dport: 8, seq: 1, flags: 0x02, opts: []byte{1, 0, 2, 4, 5, 0xb4, 1, 1}},
		pkt{src: a, dst: b, sport: 2, dport: 9, seq: 1, flags: 0x02, opts: []byte{5, 6, 0, 0, 0, 1, 254, 3, 1}},
		pkt{src: a, dst: b, sport: 2, dport: 10, seq: 1, flags: 0x02, opts: []byte{2, 4, 1}},
		// md5 on a segment with payload, captured whole: tcpdump says
		// whether the capture cut it from the segment's length, which a
		// pass reading the headers only must keep (TestTcpdumpWithoutPayload)
		pkt{src: a, dst: b, sport: 2, dport: 11, seq: 1, ack: 1, flags: 0x18, opts: []byte{19, 18, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, payload: 20},
		// mptcp
		pkt{src: a, dst: b, sport: 3, dport: 1, seq: 1, flags: 0x02, opts: []byte{30, 12, 0x00, 0x81, 1, 2, 3, 4, 5, 6, 7, 8, 30, 4, 0x01, 0x01}},
		pkt{src: a, dst: b, sport: 3, dport: 2, seq: 1, ack: 1, flags: 0x10, opts: []byte{30, 20, 0x00, 0x81, 1, 2, 3, 4, 5, 6, 7, 8, 8, 7, 6, 5, 4, 3, 2, 1}},
		pkt{src: a, dst: b, sport: 3, dport: 3, seq: 1, flags: 0x02, opts: []byte{30, 12, 0x11, 5, 0, 0, 0, 9, 0, 0, 0, 8}},
		pkt{src: a, dst: b, sport: 3, dport: 4, seq: 1, ack: 1, flags: 0x12, opts: []byte{30, 16, 0x10, 5, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 8}},
		pkt{src: a, dst: b, sport: 3, dport: 5, seq: 1, ack: 1, flags: 0x10, opts: []byte{30, 24, 0x10, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}},
		pkt{src: a, dst: b, sport: 3, dport: 6, seq: 1, ack: 1, flags: 0x10, opts: []byte{30, 8, 0x20, 0x01, 0, 0, 0, 7, 30, 20, 0x20, 0x1f, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0}},
		pkt{src: a, dst: b, sport: 3, dport: 7, seq: 1, ack: 1, flags: 0x10, opts: []byte{30, 10, 0x20, 0x05, 0, 0, 0, 7, 0, 0, 30, 8, 0x30, 3, 10, 0, 0, 1, 30, 10, 0x31, 3, 10, 0, 0, 1, 0x1f, 0x90}},
		pkt{src: a, dst: b, sport: 3, dport: 8, seq: 1, ack: 1, flags: 0x10, opts: []byte{30, 5, 0x40, 1, 2, 30, 4, 0x51, 9, 30, 3, 0x50, 30, 12, 0x60, 0, 0, 0, 0, 0, 0, 0, 0, 5}},
		pkt{src: a, dst: b, sport: 3, dport: 9, seq: 1, ack: 1, flags: 0x10, opts: []byte{30, 12, 0x70, 0, 1, 2, 3, 4, 5, 6, 7, 8, 30, 4, 0x80, 1, 30, 7, 0x20, 0x01, 0, 0, 0}},
		pkt{src: a, dst: b, sport: 3, dport: 10, seq: 1, ack: 1, flags: 0x10, opts: []byte{30, 20, 0x31, 3, 0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}},
		// header length
		pkt{src: a, dst: b, sport: 4, dport: 1, seq: 1, flags: 0x02, dataOff: 16, payload: 4},
		pkt{src: a, dst: b, sport: 4, dport: 2, seq: 1, flags: 0x02, dataOff: 60, opts: mss, ipLenDelta: -0},
		// IP header details (-v)
		pkt{src: a, dst: b, sport: 5, dport: 1, seq: 1, flags: 0x02, tos: 0x03, badIPSum: true},
		pkt{src: a, dst: b, sport: 5, dport: 2, seq: 1, flags: 0x02, tos: 0xb9, badTCPSum: true},
		pkt{src: a, dst: b, sport: 5, dport: 3, seq: 1, flags: 0x02, ipOpts: []byte{7, 11, 8, 1, 1, 1, 1, 2, 2, 2, 2}},
		pkt{src: a, dst: b, sport: 5, dport: 4, seq: 1, flags: 0x02, ipOpts: []byte{131, 11, 4, 3, 3, 3, 3, 4, 4, 4, 4}},
		pkt{src: a, dst: b, sport: 5, dport: 5, seq: 1, flags: 0x02, ipOpts: []byte{148, 4, 0, 0, 1, 148, 4, 0, 5}},
		pkt{src: a, dst: b, sport: 5, dport: 6, seq: 1, flags: 0x02, payload: 10, ipLenDelta: 6},
		// truncated by the snap length
		pkt{src: a, dst: b, sport: 6, dport: 1, seq: 1, flags: 0x02, opts: append(append(append([]byte(nil), mss...), 4, 2), ts...), capTCP: 2},
		pkt{src: a, dst: b, sport: 6, dport: 2, seq: 1, flags: 0x02, opts: append(append(append([]byte(nil), mss...), 4, 2), ts...), capTCP: 12},
		pkt{src: a, dst: b, sport: 6, dport: 3, seq: 1, flags: 0x02, opts: append(append(append([]byte(nil), mss...), 4, 2), ts...), capTCP: 21},
		pkt{src: a, dst: b, sport: 6, dport: 4, seq: 1, flags: 0x02, opts: append(append(append([]byte(nil), mss...), 4, 2), ts...), capTCP: 23},
		pkt{src: a, dst: b, sport: 6, dport: 5, seq: 1, flags: 0x02, opts: append(append(append([]byte(nil), mss...), 4, 2), ts...), capTCP: 31},
		pkt{src: a, dst: b, sport: 6, dport: 6, seq: 1, flags: 0x02, opts: append(append(append([]byte(nil), mss...), 4, 2), ts...), capTCP: 38, payload: 10},
		pkt{src: a, dst: b, sport: 6, dport: 7, seq: 1, ack: 1, flags: 0x10, opts: []byte{1, 1, 5, 26, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5, 0, 0, 0, 6}, capTCP: 38},
		pkt{src: a, dst: b, sport: 6, dport: 8, seq: 1, ack: 1, flags: 0x10, opts: []byte{30, 8, 0x20, 0x01, 0, 0, 0, 7, 1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2}, capTCP: 32},
		pkt{src: a, dst: b, sport: 6, dport: 9, seq: 1, flags: 0x02, opts: []byte{19, 18, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, payload: 20, capTCP: 45},
	)
	const c, d = "2001:db8::1", "2001:db8:0:1::2"
	v6 := []pkt{
		{src: c, dst: d, sport: 50000, dport: 443, seq: 1, flags: 0x02, win: 64800, opts: mss},
		{src: d, dst: c, sport: 443, dport: 50000, seq: 2, ack: 2, flags: 0x12, win: 64800, tos: 0xb8, opts: mss},
		{src: c, dst: d, sport: 50000, dport: 443, seq: 2, ack: 3, flags: 0x18, win: 64800, payload: 20, badTCPSum: true},
		{src: d, dst: c, sport: 443, dport: 50000, seq: 3, ack: 22, flags: 0x10, win: 64800, opts: []byte{1, 1, 5, 10, 0, 0, 0, 30, 0, 0, 0, 40}},
		{src: "::1.2.3.4", dst: "::ffff:1.2.3.5", sport: 1, dport: 2, seq: 1, flags: 0x04},
		{src: "fe80::1", dst: "ff02::1:2", sport: 1, dport: 2, seq: 1, flags: 0x04},
		{src: c, dst: d, sport: 1, dport: 3, seq: 1, flags: 0x02, opts: mss, capTCP: 22},
	}
	return map[string][]pkt{"edge4.pcap": v4, "edge6.pcap": v6}
}

// TestTcpdumpFixtures checks that the crafted captures the live parity
// test feeds to tcpdump are what the generator makes (go test -update
// rewrites them).
func TestTcpdumpFixtures(t *testing.T) {
	for name, pkts := range fixtures() {
		path := filepath.Join("testdata", "tcpdump", name)
		frames := make([]pcapPacket, len(pkts))
		for i, p := range pkts {
			frames[i] = p.frame()
		}
		want, err := pcapBytes(layers.LinkTypeEthernet, frames)
		if err != nil {
			t.Fatal(err)
		}
		if *update {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("fixture: %v (run go test -update to generate it)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("fixture %s is stale: run go test -update", path)
		}
		if segs := readSegments(t, path); len(segs) < len(pkts)-2 {
			t.Errorf("fixture %s: capture decoded %d TCP segments of %d packets", path, len(segs), len(pkts))
		}
	}
}

// pcapPacket is one packet of a generated fixture capture.
type pcapPacket struct {
	data    []byte
	wireLen int // 0: len(data)
}

// pcapBytes renders packets, one second apart, as a pcap file.
func pcapBytes(lt layers.LinkType, pkts []pcapPacket) ([]byte, error) {
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	if err := w.WriteFileHeader(65535, lt); err != nil {
		return nil, fmt.Errorf("write pcap header: %w", err)
	}
	for i, p := range pkts {
		wl := p.wireLen
		if wl == 0 {
			wl = len(p.data)
		}
		ci := gopacket.CaptureInfo{Timestamp: fixtureEpoch.Add(secondsF(i)), CaptureLength: len(p.data), Length: wl}
		if err := w.WritePacket(ci, p.data); err != nil {
			return nil, fmt.Errorf("write packet %d: %w", i+1, err)
		}
	}
	return buf.Bytes(), nil
}

// TestTcpdumpWithoutPayload prints every capture the parity tests know,
// read whole and read with capture.OpenOptions.NoPayload (frames cut at
// the end of the TCP header, as the print-only passes read them), and
// checks that the lines are the same in each mode that reads no payload,
// and that the payload was left out.
func TestTcpdumpWithoutPayload(t *testing.T) {
	var lines, cut int
	var wholeBytes, cutBytes int
	for _, f := range parityCaptures(t) {
		whole := readSegmentsWith(t, f, capture.OpenOptions{NoChecksums: true})
		headers := readSegmentsWith(t, f, capture.OpenOptions{NoChecksums: true, NoPayload: true})
		if len(whole) != len(headers) {
			t.Errorf("%s: %d segments read whole, %d without payload", f, len(whole), len(headers))
			continue
		}
		for i := range whole {
			w, h := &whole[i], &headers[i]
			wholeBytes += len(w.Data)
			cutBytes += len(h.Data)
			if len(h.Data) < len(w.Data) {
				cut++
			}
			if h.CapLen != w.CapLen || !bytes.Equal(h.Data, w.Data[:len(h.Data)]) {
				t.Fatalf("%s packet %d: without payload %d of %d bytes (CapLen %d), whole %d (CapLen %d): not a prefix",
					f, w.Packet, len(h.Data), len(w.Data), h.CapLen, len(w.Data), w.CapLen)
			}
		}
		for _, o := range []TcpdumpOptions{{Number: true, Timestamps: TimestampDate, Location: time.UTC}, {Absolute: true, Location: time.UTC}} {
			pw, ph := NewTcpdumpPrinter(o), NewTcpdumpPrinter(o)
			for i := range whole {
				a, b := string(pw.AppendLine(nil, &whole[i])), string(ph.AppendLine(nil, &headers[i]))
				if a != b {
					t.Errorf("%s packet %d:\nwhole:   %s\nheaders: %s", f, whole[i].Packet, a, b)
				}
				lines++
			}
		}
	}
	t.Logf("%d lines compared; %d segments cut, %d of %d frame bytes kept", lines, cut, cutBytes, wholeBytes)
	if cut == 0 || cutBytes >= wholeBytes {
		t.Errorf("%d segments cut, %d of %d bytes kept: no payload was left out", cut, cutBytes, wholeBytes)
	}
}

func TestAppendLineAllocatesNothingOnCaptures(t *testing.T) {
	segs := readSegments(t, filepath.Join("testdata", "tcpdump", "edge4.pcap"))
	if len(segs) == 0 {
		t.Fatal("no segments in edge4.pcap")
	}
	for _, o := range []TcpdumpOptions{{Timestamps: TimestampDate, Location: time.UTC}, {Verbose: 1, Location: time.UTC}} {
		p := NewTcpdumpPrinter(o)
		buf := make([]byte, 0, 1024)
		for i := range segs {
			buf = p.AppendLine(buf[:0], &segs[i])
		}
		n := testing.AllocsPerRun(20, func() {
			for i := range segs {
				buf = p.AppendLine(buf[:0], &segs[i])
			}
		})
		if n != 0 {
			t.Errorf("%+v: %v allocations per pass over %d segments, want 0", o, n, len(segs))
		}
	}
}

// TestTcpdumpForgetsIdleConnections checks that the relative sequence
// bases follow the connections open at once: a closed connection is
// forgotten once idle beyond seqIdleClosed, an open one is not, and beyond
// MaxConnections the least recently active go first. A forgotten
// connection's next segment becomes a new base, printed absolute.
func TestTcpdumpForgetsIdleConnections(t *testing.T) {
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s capture.Segment, sec int) capture.Segment {
		s.Time = t0.Add(time.Duration(sec) * time.Second)
		return s
	}
	client := func(i int) string { return fmt.Sprintf("10.0.0.%d", i+1) }
	const srv = "10.9.9.9"
	// open starts connection i with the server's SYN-ACK at second sec.
	open := func(p *TcpdumpPrinter, i, sec int) {
		line(p, at(mkSeg(srv, client(i), 80, 40000, fS|fA, 5000, 1001, 0), sec))
	}
	// ack is connection i's client ACK at second sec; relative reports
	// whether it printed relative numbers.
	ack := func(p *TcpdumpPrinter, i, sec int) bool {
		got := line(p, at(mkSeg(client(i), srv, 40000, 80, fA, 1001, 5001, 0), sec))
		return strings.Contains(got, "ack 1, ")
	}

	t.Run("closed and open", func(t *testing.T) {
		p := NewTcpdumpPrinter(TcpdumpOptions{Timestamps: TimestampNone, MaxConnections: 4})
		open(p, 0, 0)
		line(p, at(mkSeg(client(0), srv, 40000, 80, fF|fA, 1001, 5001, 0), 0))
		open(p, 1, 0)
		if !ack(p, 0, 30) || !ack(p, 1, 30) {
			t.Fatal("a connection 30 s after its FIN lost its base")
		}
		// Three more connections at second 91 take the table past 4: the
		// sweep forgets the closed connection (61 s idle), not the open one.
		for i := 2; i < 5; i++ {
			open(p, i, 91)
		}
		if n := len(p.seqs4); n != 4 {
			t.Errorf("%d connections remembered, want 4", n)
		}
		if !ack(p, 1, 92) {
			t.Error("the open connection was forgotten after 62 s")
		}
		if ack(p, 0, 92) {
			t.Error("the closed connection was remembered 62 s after its last segment")
		}
	})

	t.Run("beyond MaxConnections", func(t *testing.T) {
		p := NewTcpdumpPrinter(TcpdumpOptions{Timestamps: TimestampNone, MaxConnections: 8})
		for i := range 9 {
			open(p, i, i)
		}
		// The ninth leaves 9 > 8: the two least recently active go, down
		// to 7 (seven eighths).
		if n := len(p.seqs4); n != 7 {
			t.Errorf("%d connections remembered, want 7", n)
		}
		// From the most recent down: the forgotten ones come back last.
		for i := 8; i >= 0; i-- {
			if got, want := ack(p, i, 10), i >= 2; got != want {
				t.Errorf("connection %d remembered %v, want %v", i, got, want)
			}
		}
	})

	t.Run("many short connections", func(t *testing.T) {
		// 200,000 connections, 1,000 a second, each closed at once: the
		// table holds about a minute of them, not all.
		p := NewTcpdumpPrinter(TcpdumpOptions{Timestamps: TimestampNone})
		peak := 0
		for i := range 200_000 {
			c := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}).String()
			line(p, at(mkSeg(srv, c, 80, 40000, fS|fA, 5000, 1001, 0), i/1000))
			line(p, at(mkSeg(c, srv, 40000, 80, fR|fA, 1001, 5001, 0), i/1000))
			peak = max(peak, len(p.seqs4))
		}
		if peak > 150_000 {
			t.Errorf("the table peaked at %d connections, want those of about a minute", peak)
		}
	})
}

// BenchmarkRelativeMany resolves the relative sequence numbers of
// segments of 16,384 IPv4 connections open at once, in a random order
// of connections, as a busy capture's second pass does: the table of
// sequence bases is larger than the processor's first caches.
func BenchmarkRelativeMany(b *testing.B) {
	const conns = 16384
	rng := rand.New(rand.NewPCG(3, 5))
	segs := make([]capture.Segment, 4*conns)
	for i := range segs {
		c := rng.IntN(conns)
		src := netip.AddrFrom4([4]byte{10, byte(c >> 8), byte(c), 1})
		s := mkSeg("10.0.0.1", "10.9.9.9", uint16(32768+c%20000), 443, fA, uint32(c)*7919, uint32(c)*104729, 100)
		s.Src = src
		s.Time = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Microsecond)
		segs[i] = s
	}
	p := NewTcpdumpPrinter(TcpdumpOptions{Location: time.UTC})
	for i := range segs {
		p.relative(&segs[i])
	}
	b.ReportAllocs()
	b.ResetTimer()
	var sum uint32
	for i := 0; i < b.N; i++ {
		seq, _, _, _, _ := p.relative(&segs[i%len(segs)])
		sum += seq
	}
	if sum == 1 {
		b.Log(sum)
	}
}

// TestRecentSeqsMatchMap resolves a long random stream of segments of
// 20,000 IPv4 connections (more than recent4's slots, so that slots are
// shared), with SYNs that reset a connection's base, FINs and RSTs that
// close it, time that moves on by up to 200 s and at most 4,000
// connections remembered (sweeps that forget idle connections), once
// with the copies in recent4 and once from the map alone: every segment
// must resolve to the same numbers.
func TestRecentSeqsMatchMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	with := NewTcpdumpPrinter(TcpdumpOptions{Location: time.UTC, MaxConnections: 4000})
	without := NewTcpdumpPrinter(TcpdumpOptions{Location: time.UTC, MaxConnections: 4000})
	without.noRecent = true
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	now := t0
	for i := range 400000 {
		c := rng.IntN(20000)
		if rng.IntN(4) > 0 {
			c %= 500 // most segments on a few hundred active connections
		}
		now = now.Add(time.Duration(rng.IntN(1000)) * time.Microsecond)
		if i%100000 == 99999 {
			now = now.Add(200 * time.Second)
		}
		fl := fA
		switch rng.IntN(50) {
		case 0:
			fl = fS
		case 1:
			fl = fS | fA
		case 2:
			fl = fF | fA
		case 3:
			fl = fR
		}
		s := mkSeg("10.0.0.1", "10.9.9.9", uint16(1024+c), 443, fl, rng.Uint32(), rng.Uint32(), 100)
		s.Src = netip.AddrFrom4([4]byte{10, byte(c >> 8), byte(c), 1})
		if rng.IntN(2) == 0 {
			s.Src, s.Dst, s.SrcPort, s.DstPort = s.Dst, s.Src, s.DstPort, s.SrcPort
		}
		s.Time = now
		var a, b [5]uint32
		var ra, rb bool
		a[0], a[1], a[2], a[3], ra = with.relative(&s)
		b[0], b[1], b[2], b[3], rb = without.relative(&s)
		if a != b || ra != rb {
			t.Fatalf("segment %d (connection %d, flags %v): with recent4 %v %v, from the map %v %v", i, c, fl, a, ra, b, rb)
		}
	}
	if len(with.seqs4) != len(without.seqs4) {
		t.Errorf("%d entries with recent4, %d without", len(with.seqs4), len(without.seqs4))
	}
}

// TestOptionsFastPath checks that optPrinter.append's shortcut for
// NOP, NOP, timestamps prints what its walk of the options prints, for
// that layout with timestamp values at the edges, and that the layouts
// next to it (another length, kind or header length) take the walk.
func TestOptionsFastPath(t *testing.T) {
	ts := []byte{1, 1, 8, 10, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}
	cases := [][]byte{ts}
	for _, v := range []uint32{0, 9, 10, 99999999, 100000000, 4294967295} {
		b := slices.Clone(ts)
		binary.BigEndian.PutUint32(b[4:], v)
		binary.BigEndian.PutUint32(b[8:], ^v)
		cases = append(cases, b)
	}
	for i, v := range []byte{0, 2, 9, 11} {
		b := slices.Clone(ts)
		b[i%4] = v
		cases = append(cases, b, b[:11])
	}
	for _, b := range cases {
		for _, hlen := range []int{len(b), 12, 16} {
			o := optPrinter{opts: b, hlen: hlen, tcpLen: 100, avail: 100}
			got, gotOK := o.append([]byte("x"))
			w := optPrinter{opts: b, hlen: hlen, tcpLen: 100, avail: 100}
			want, wantOK := w.walk([]byte("x"))
			if string(got) != string(want) || gotOK != wantOK {
				t.Errorf("options % x, hlen %d: append gives %q %v, walk %q %v", b, hlen, got, gotOK, want, wantOK)
			}
		}
	}
}

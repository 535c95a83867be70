//go:build cgo

package capture

import (
	"errors"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/layers"
)

func TestCompileFilter(t *testing.T) {
	for _, expr := range []string{"", "tcp", "tcp port 80 and host 10.0.0.1", "vlan and tcp"} {
		if err := CompileFilter(expr); err != nil {
			t.Errorf("CompileFilter(%q) = %v", expr, err)
		}
	}
	for _, expr := range []string{"tcp port", "frobnicate", "host 999.1.1.1"} {
		err := CompileFilter(expr)
		var fe *FilterError
		if !errors.As(err, &fe) || fe.Expr != expr || fe.LinkType != "EN10MB" || !strings.Contains(err.Error(), expr) {
			t.Errorf("CompileFilter(%q) = %v, want a *FilterError", expr, err)
		}
	}
	if _, err := Open([]string{"x"}, OpenOptions{Filter: "tcp port"}); !errors.As(err, new(*FilterError)) {
		t.Errorf("Open with a bad filter: %v", err)
	}
}

func TestFilter(t *testing.T) {
	pkt := func(src, dst []byte, dport uint16) []byte {
		tcp := dataTCP()
		tcp.DstPort = layers.TCPPort(dport)
		return tcp4(t, ipv4(src, dst), tcp, 3)
	}
	p1 := pkt(ip4A, ip4B, 80)
	p2 := pkt(ip4A, ip4B, 443)
	p3 := pkt(ip4B, ip4A, 80)
	p4 := pkt(ip4A, ip4B, 80)

	// Ethernet: numbering counts only matching packets, like tcpdump -#.
	segs, info := readPackets(t, layers.LinkTypeEthernet, OpenOptions{Filter: "dst port 80 and src host 10.0.0.1"}, eth(t, p1), eth(t, p2), eth(t, p3), eth(t, p4))
	if len(segs) != 2 || info.Packets != 2 || segs[0].Packet != 1 || segs[1].Packet != 2 || segs[1].Time.Sub(segs[0].Time) != 3*timeStep {
		t.Fatalf("filtered segments %+v, info %+v", segs, info)
	}
	// Raw IP (link type 101, libpcap's DLT_RAW is 12 on Linux).
	segs, _ = readPackets(t, layers.LinkTypeRaw, OpenOptions{Filter: "tcp dst port 443"}, p1, p2, p3)
	if len(segs) != 1 || segs[0].DstPort != 443 {
		t.Fatalf("raw: %d segments", len(segs))
	}
	// pcapng with two link types: the filter is compiled for each.
	file := pcapngBytes(t, []ngIface{
		{lt: layers.LinkTypeEthernet, pkts: []testPkt{{ts: t0, data: eth(t, p1)}, {ts: t0, data: eth(t, p2)}}},
		{lt: layers.LinkTypeLinuxSLL2, pkts: []testPkt{{ts: t0, data: cat(sll2Hdr(layers.EthernetTypeIPv4), p1)}, {ts: t0, data: cat(sll2Hdr(layers.EthernetTypeIPv4), p2)}}},
	}, [][2]int{{0, 0}, {1, 0}, {0, 1}, {1, 1}})
	segs, _, err := readAll(t, []string{writeFile(t, "f.pcapng", file)}, OpenOptions{Filter: "port 80"})
	if err != nil || len(segs) != 2 || segs[0].LinkType != layers.LinkTypeEthernet || segs[1].LinkType != layers.LinkTypeLinuxSLL2 {
		t.Fatalf("pcapng: err %v, %d segments", err, len(segs))
	}
	// A filter that cannot be compiled for a file's link type stops that
	// file with a ReadError.
	_, _, err = readAll(t, []string{writePCAP(t, layers.LinkTypeRaw, pcapOpts{}, []testPkt{{ts: t0, data: p1}})}, OpenOptions{Filter: "ether host 02:00:00:00:00:0a"})
	var fe *FilterError
	if !errors.As(err, &fe) || !errors.As(err, new(*ReadError)) {
		t.Fatalf("ether filter on raw IP: %v", err)
	}
}

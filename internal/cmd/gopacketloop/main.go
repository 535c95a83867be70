// Command gopacketloop is make bench's yardstick for the machine: the bare
// gopacket loop that issue 7 quotes (pcapgo's zero-copy reads and a
// DecodingLayerParser for Ethernet, 802.1Q, IPv4, IPv6 and TCP), with -flows
// a minimal flow table on top (a Go map from the 4-tuple, in either
// direction, to packet and SYN counts). It prints what it counted, so that
// the work cannot be optimised away, and nothing else: make bench times it.
//
// Usage: gopacketloop [-flows] FILE.pcap
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// tuple is a flow's key: the lower address and port first, so that both
// directions of a connection share it.
type tuple struct {
	a, b         [16]byte
	aPort, bPort uint16
}

// counts is what the minimal flow table keeps per flow.
type counts struct{ packets, syns int }

func main() {
	withFlows := flag.Bool("flows", false, "also count packets per flow in a map")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: gopacketloop [-flows] FILE.pcap")
		os.Exit(2)
	}
	if err := run(flag.Arg(0), *withFlows); err != nil {
		fmt.Fprintln(os.Stderr, "gopacketloop:", err)
		os.Exit(1)
	}
}

func run(name string, withFlows bool) error {
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	var (
		eth     layers.Ethernet
		dot1q   layers.Dot1Q
		ip4     layers.IPv4
		ip6     layers.IPv6
		tcp     layers.TCP
		payload gopacket.Payload
	)
	p := gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, &eth, &dot1q, &ip4, &ip6, &tcp, &payload)
	p.IgnoreUnsupported = true
	decoded := make([]gopacket.LayerType, 0, 8)
	table := map[tuple]*counts{}
	var packets, segments, syns int
	for {
		data, _, err := r.ZeroCopyReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read %s: packet %d: %w", name, packets+1, err)
		}
		packets++
		if err := p.DecodeLayers(data, &decoded); err != nil {
			continue
		}
		isTCP, isIPv6 := false, false
		for _, lt := range decoded {
			switch lt {
			case layers.LayerTypeIPv6:
				isIPv6 = true
			case layers.LayerTypeTCP:
				isTCP = true
			}
		}
		if !isTCP {
			continue
		}
		segments++
		if tcp.SYN {
			syns++
		}
		if !withFlows {
			continue
		}
		// The key is built only here: the bare loop does no more than
		// decode. IPv4 addresses go in the IPv4-mapped form.
		var k tuple
		if isIPv6 {
			copy(k.a[:], ip6.SrcIP)
			copy(k.b[:], ip6.DstIP)
		} else {
			k.a[10], k.a[11], k.b[10], k.b[11] = 0xff, 0xff, 0xff, 0xff
			copy(k.a[12:], ip4.SrcIP)
			copy(k.b[12:], ip4.DstIP)
		}
		k.aPort, k.bPort = uint16(tcp.SrcPort), uint16(tcp.DstPort)
		if string(k.a[:]) > string(k.b[:]) || (k.a == k.b && k.aPort > k.bPort) {
			k.a, k.b, k.aPort, k.bPort = k.b, k.a, k.bPort, k.aPort
		}
		c := table[k]
		if c == nil {
			c = new(counts)
			table[k] = c
		}
		c.packets++
		if tcp.SYN {
			c.syns++
		}
	}
	fmt.Printf("%d packets, %d TCP segments, %d SYNs", packets, segments, syns)
	if withFlows {
		fmt.Printf(", %d flows", len(table))
	}
	fmt.Println()
	return nil
}

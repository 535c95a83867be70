package capture

import (
	"io"
	"os"
	"testing"

	"github.com/gopacket/gopacket/layers"
)

// mixPacket is one packet of the benchmark mix.
type mixPacket struct {
	lt   layers.LinkType
	data []byte
}

// packetMix is a realistic mix: handshakes with options, full-size data,
// timestamped ACKs, VLAN, IPv6, Linux cooked, a UDP packet and an ICMP
// error.
func packetMix(t testing.TB) []mixPacket {
	syn := synTCP()
	ack := dataTCP()
	ack.PSH = false
	ack.Options = []layers.TCPOption{
		{OptionType: layers.TCPOptionKindNop, OptionLength: 1},
		{OptionType: layers.TCPOptionKindNop, OptionLength: 1},
		{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: []byte{0, 0, 1, 0, 0, 0, 2, 0}},
	}
	sack := dataTCP()
	sack.Options = []layers.TCPOption{
		{OptionType: layers.TCPOptionKindNop, OptionLength: 1},
		{OptionType: layers.TCPOptionKindNop, OptionLength: 1},
		{OptionType: layers.TCPOptionKindSACK, OptionLength: 18, OptionData: make([]byte, 16)},
	}
	data4 := tcp4(t, ipv4(ip4A, ip4B), dataTCP(), 1448)
	data6 := tcp6(t, ipv6(ip6A, ip6B), dataTCP(), 1428)
	syn4 := tcp4(t, ipv4(ip4A, ip4B), syn, 0)
	udpIP := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: ip4A, DstIP: ip4B}
	udp := &layers.UDP{SrcPort: 53, DstPort: 53}
	udp.SetNetworkLayerForChecksum(udpIP)
	return []mixPacket{
		{layers.LinkTypeEthernet, eth(t, syn4)},
		{layers.LinkTypeEthernet, eth(t, tcp4(t, ipv4(ip4B, ip4A), ack, 0))},
		{layers.LinkTypeEthernet, eth(t, data4)},
		{layers.LinkTypeEthernet, eth(t, data4)},
		{layers.LinkTypeEthernet, eth(t, tcp4(t, ipv4(ip4B, ip4A), ack, 0))},
		{layers.LinkTypeEthernet, eth(t, tcp4(t, ipv4(ip4B, ip4A), sack, 0))},
		{layers.LinkTypeEthernet, cat(ethHdr(t, layers.EthernetTypeDot1Q), vlanTag(7, layers.EthernetTypeIPv4), data4)},
		{layers.LinkTypeEthernet, eth(t, data6)},
		{layers.LinkTypeLinuxSLL2, cat(sll2Hdr(layers.EthernetTypeIPv4), data4)},
		{layers.LinkTypeEthernet, eth(t, serialize(t, udpIP, udp, gopacketPayload(make([]byte, 40))))},
		{layers.LinkTypeEthernet, eth(t, icmp4Unreach(t, 3, syn4, 8))},
	}
}

func BenchmarkDecode(b *testing.B) {
	mix := packetMix(b)
	d := newDecoder()
	var seg Segment
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p := &mix[i%len(mix)]
		seg = Segment{Opt: Options{WScale: -1}, Data: p.data}
		d.decode(firstLayer(p.lt), p.data, &seg)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "packets/s")
}

// mixFile writes n packets of the mix as a capture file.
func mixFile(t testing.TB, n int, ng bool) string {
	mix := packetMix(t)
	var eth, sll []testPkt
	var order [][2]int
	for i := range n {
		p := mix[i%len(mix)]
		tp := testPkt{ts: t0.Add(durationN(i) * 1000), data: p.data}
		if ng && p.lt == layers.LinkTypeLinuxSLL2 {
			order = append(order, [2]int{1, len(sll)})
			sll = append(sll, tp)
			continue
		}
		if p.lt != layers.LinkTypeEthernet {
			continue
		}
		order = append(order, [2]int{0, len(eth)})
		eth = append(eth, tp)
	}
	if ng {
		return writeFile(t, "mix.pcapng", pcapngBytes(t, []ngIface{{lt: layers.LinkTypeEthernet, pkts: eth}, {lt: layers.LinkTypeLinuxSLL2, pkts: sll}}, order))
	}
	return writePCAP(t, layers.LinkTypeEthernet, pcapOpts{}, eth)
}

func BenchmarkRead(b *testing.B) {
	for _, ng := range []bool{false, true} {
		name := "pcap"
		if ng {
			name = "pcapng"
		}
		b.Run(name, func(b *testing.B) {
			path := mixFile(b, 20000, ng)
			b.ReportAllocs()
			b.ResetTimer()
			var packets int64
			for i := 0; i < b.N; i++ {
				src, err := Open([]string{path}, OpenOptions{})
				if err != nil {
					b.Fatal(err)
				}
				var seg Segment
				for src.Next(&seg) == nil {
				}
				packets += src.Info().Packets
				if err := src.Err(); err != nil {
					b.Fatal(err)
				}
				src.Close()
			}
			b.ReportMetric(float64(packets)/b.Elapsed().Seconds(), "packets/s")
		})
	}
}

// TestZeroAllocs checks that decoding and reading allocate nothing per
// packet.
func TestZeroAllocs(t *testing.T) {
	mix := packetMix(t)
	d := newDecoder()
	var seg Segment
	allocs := testing.AllocsPerRun(100, func() {
		for i := range mix {
			seg = Segment{Opt: Options{WScale: -1}}
			d.decode(firstLayer(mix[i].lt), mix[i].data, &seg)
		}
	})
	if allocs != 0 {
		t.Errorf("decoding the mix allocates %.1f times", allocs)
	}
	// Reading: no allocation over 1000 packets, once buffers are warm.
	for _, ng := range []bool{false, true} {
		path := mixFile(t, 3000, ng)
		src, err := Open([]string{path}, OpenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for range 50 { // warm up: buffers, the first interface blocks
			if err := src.Next(&seg); err != nil {
				t.Fatal(err)
			}
		}
		allocs := testing.AllocsPerRun(1, func() {
			for range 1000 {
				if err := src.Next(&seg); err != nil {
					t.Fatal(err)
				}
			}
		})
		switch {
		case !ng && allocs != 0:
			t.Errorf("1000 calls of Next allocate %.0f times", allocs)
		case ng && allocs > 150:
			// pcapgo boxes link types >= 256 (here LINUX_SLL2, 1 packet
			// in 11) in an interface value for every packet.
			t.Errorf("1000 calls of Next (pcapng) allocate %.0f times", allocs)
		}
		t.Logf("pcapng %v: %.0f allocations in 1000 calls of Next", ng, allocs)
		src.Close()
	}
}

// benchPCAPEnv names a capture file BenchmarkReadDecodeFile also reads
// (e.g. testdata/bench/big.pcap), in a sub-benchmark named "env".
const benchPCAPEnv = "TCPWHY_BENCH_PCAP"

// BenchmarkReadDecodeFile reads and decodes a whole capture file through
// Open and Next, as the CLI does: a generated pcap of the packet mix
// (plain, gzip-compressed and pcapng), and the file named by
// $TCPWHY_BENCH_PCAP when set. One op is one packet, so ns/op and
// allocs/op are per packet.
func BenchmarkReadDecodeFile(b *testing.B) {
	files := []struct{ name, path string }{}
	gen := func(b *testing.B, kind string) string {
		const n = 200000
		switch kind {
		case "pcapng":
			return mixFile(b, n, true)
		case "gzip":
			raw, err := os.ReadFile(mixFile(b, n, false))
			if err != nil {
				b.Fatal(err)
			}
			return writeFile(b, "mix.pcap.gz", gzipBytes(raw))
		}
		return mixFile(b, n, false)
	}
	for _, kind := range []string{"pcap", "pcapng", "gzip"} {
		files = append(files, struct{ name, path string }{kind, kind})
	}
	if p := os.Getenv(benchPCAPEnv); p != "" {
		files = append(files, struct{ name, path string }{"env", p})
	}
	for _, f := range files {
		b.Run(f.name, func(b *testing.B) {
			path := f.path
			if f.name != "env" {
				path = gen(b, f.name)
			}
			var seg Segment
			var src Source
			reopen := func() {
				if src != nil {
					if err := src.Err(); err != nil {
						b.Fatal(err)
					}
					src.Close()
				}
				var err error
				if src, err = Open([]string{path}, OpenOptions{}); err != nil {
					b.Fatal(err)
				}
			}
			reopen()
			b.ReportAllocs()
			b.ResetTimer()
			var packets int64
			for i := 0; i < b.N; i++ {
				err := src.Next(&seg)
				if err == io.EOF {
					packets += src.Info().Packets
					reopen()
					err = src.Next(&seg)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			packets += src.Info().Packets
			src.Close()
			b.ReportMetric(float64(packets)/b.Elapsed().Seconds(), "packets/s")
		})
	}
}

package gen

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// snaplenMax is the snapshot length written in the file header when the
// packets are not truncated.
const snaplenMax = 262144

// Link-layer addresses: the server's NIC and the router in front of it.
var (
	serverMAC = net.HardwareAddr{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}
	routerMAC = net.HardwareAddr{0x00, 0x1c, 0x73, 0xaa, 0xbb, 0xcc}
)

// Payload sources: an HTTP request, an HTTP response and pseudo-random
// body bytes, each longer than any segment.
var payHTTPReq, payHTTPResp, payRandom = makePayloads()

func makePayloads() (req, resp, body []byte) {
	const n = 1600
	fill := func(b []byte, head string, line string) []byte {
		b = append(b, head...)
		for len(b) < n {
			b = append(b, line...)
		}
		return b[:n]
	}
	req = fill(nil, "GET /api/v1/items?page=7 HTTP/1.1\r\nHost: shop.example.com\r\nUser-Agent: bench/1.0\r\nAccept: */*\r\n",
		"X-Padding: abcdefghijklmnopqrstuvwxyz0123456789\r\n")
	resp = fill(nil, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nServer: bench\r\n\r\n",
		`{"id":12345,"name":"item","price":19.99,"tags":["a","b"]},`)
	r := rand.New(rand.NewPCG(0x9e3779b97f4a7c15, 0xbf58476d1ce4e5b9))
	body = make([]byte, n)
	for i := range body {
		body[i] = byte(r.Uint32())
	}
	return req, resp, body
}

// Write writes a pcap capture described by cfg to w and reports what it
// wrote. The output depends only on cfg.
func Write(w io.Writer, cfg Config) (Stats, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return Stats{}, fmt.Errorf("generate capture: %w", err)
	}
	g := newGenerator(w, cfg)
	if err := g.run(); err != nil {
		return g.stats, fmt.Errorf("generate capture: %w", err)
	}
	return g.stats, nil
}

// WriteFile writes the capture described by cfg to the file name
// (created or truncated) and reports what it wrote.
func WriteFile(name string, cfg Config) (Stats, error) {
	f, err := os.Create(name)
	if err != nil {
		return Stats{}, fmt.Errorf("generate capture: %w", err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	st, err := Write(bw, cfg)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return st, fmt.Errorf("generate capture %s: %w", name, err)
	}
	return st, nil
}

// generator merges the connections' packet scripts in time order and
// serializes each packet into reused buffers.
type generator struct {
	cfg   Config
	stats Stats
	rng   *rand.Rand // connections
	frng  *rand.Rand // SYN flood

	bw  *bufio.Writer
	pw  *pcapgo.Writer
	buf gopacket.SerializeBuffer
	so  gopacket.SerializeOptions

	eth     layers.Ethernet
	ip4     layers.IPv4
	ip6     layers.IPv6
	tcp     layers.TCP
	payload gopacket.Payload
	stack4  []gopacket.SerializableLayer
	stack6  []gopacket.SerializableLayer

	optSYN, optTS, optSACK []layers.TCPOption
	mss                    [2]byte
	ws                     [1]byte
	ts                     [8]byte
	sack                   [8]byte

	mixCum   [NumKinds]float64
	heap     connHeap
	free     []*conn
	ports    []uint16 // next ephemeral port per client host, 0 = unused
	nextID   int64
	floodKey uint32
	// probes and refused count the port-scan SYNs and RSTs written.
	probes, refused int64
}

func newGenerator(w io.Writer, cfg Config) *generator {
	g := &generator{
		cfg:  cfg,
		rng:  rand.New(rand.NewPCG(uint64(cfg.Seed), 0x7463707768790001)),
		frng: rand.New(rand.NewPCG(uint64(cfg.Seed), 0x7463707768790002)),
		bw:   bufio.NewWriterSize(w, 1<<20),
		buf:  gopacket.NewSerializeBufferExpectedSize(128, 64),
		so:   gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
	}
	g.pw = pcapgo.NewWriter(g.bw)
	g.ip4 = layers.IPv4{Version: 4, Flags: layers.IPv4DontFragment, Protocol: layers.IPProtocolTCP,
		SrcIP: make(net.IP, 4), DstIP: make(net.IP, 4)}
	g.ip6 = layers.IPv6{Version: 6, NextHeader: layers.IPProtocolTCP, HopLimit: 64,
		SrcIP: make(net.IP, 16), DstIP: make(net.IP, 16)}
	g.stack4 = []gopacket.SerializableLayer{&g.eth, &g.ip4, &g.tcp, &g.payload}
	g.stack6 = []gopacket.SerializableLayer{&g.eth, &g.ip6, &g.tcp, &g.payload}
	g.optSYN = []layers.TCPOption{
		{OptionType: layers.TCPOptionKindMSS, OptionData: g.mss[:]},
		{OptionType: layers.TCPOptionKindSACKPermitted},
		{OptionType: layers.TCPOptionKindTimestamps, OptionData: g.ts[:]},
		{OptionType: layers.TCPOptionKindNop},
		{OptionType: layers.TCPOptionKindWindowScale, OptionData: g.ws[:]},
	}
	g.ws[0] = 7
	nop := layers.TCPOption{OptionType: layers.TCPOptionKindNop}
	g.optTS = []layers.TCPOption{nop, nop, {OptionType: layers.TCPOptionKindTimestamps, OptionData: g.ts[:]}}
	g.optSACK = []layers.TCPOption{nop, nop, {OptionType: layers.TCPOptionKindTimestamps, OptionData: g.ts[:]},
		nop, nop, {OptionType: layers.TCPOptionKindSACK, OptionData: g.sack[:]}}
	var sum float64
	for k, w := range cfg.Mix {
		sum += w
		g.mixCum[k] = sum
	}
	for k := range g.mixCum {
		g.mixCum[k] /= sum
	}
	g.ports = make([]uint16, cfg.Clients)
	g.floodKey = g.frng.Uint32() & (1<<30 - 1)
	return g
}

func (g *generator) run() error {
	snap := snaplenMax
	if g.cfg.Snaplen > 0 {
		snap = g.cfg.Snaplen
	}
	if err := g.pw.WriteFileHeader(uint32(snap), layers.LinkTypeEthernet); err != nil {
		return fmt.Errorf("write pcap header: %w", err)
	}
	var arrival int64 // µs of the next connection's SYN
	admitted := 0
	var flood int64 // flood SYNs written
	floodAt := func() int64 { return int64(float64(flood) * 1e6 / g.cfg.SYNFloodRate) }
	for {
		for admitted < g.cfg.Connections && (len(g.heap) == 0 || arrival <= g.heap[0].at()) {
			g.heap.push(g.admit(arrival))
			g.stats.ConcurrentMax = max(g.stats.ConcurrentMax, len(g.heap))
			admitted++
			arrival += int64(g.rng.ExpFloat64() * 1e6 / g.cfg.Rate)
		}
		if t, answer, ok := g.nextProbe(); ok && (len(g.heap) == 0 || t < g.heap[0].at()) &&
			(flood >= int64(g.cfg.SYNFlood) || t < floodAt()) {
			if err := g.writeProbe(t, answer); err != nil {
				return err
			}
			continue
		}
		if flood < int64(g.cfg.SYNFlood) && (len(g.heap) == 0 || floodAt() < g.heap[0].at()) {
			if err := g.writeFlood(floodAt(), flood); err != nil {
				return err
			}
			flood++
			g.stats.SYNFlood++
			continue
		}
		if len(g.heap) == 0 {
			break
		}
		c := g.heap[0]
		if err := g.writeConnPacket(c, &c.pkts[c.next]); err != nil {
			return err
		}
		c.next++
		if c.next < len(c.pkts) {
			g.heap.fix0()
		} else {
			g.heap.pop()
			g.free = append(g.free, c)
		}
	}
	if err := g.bw.Flush(); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	return nil
}

// admit creates the next connection, its first packet at µs t.
func (g *generator) admit(t int64) *conn {
	var c *conn
	if n := len(g.free); n > 0 {
		c = g.free[n-1]
		g.free = g.free[:n-1]
		pk := c.pkts[:0]
		*c = conn{pkts: pk}
	} else {
		c = &conn{pkts: make([]pkt, 0, 64)}
	}
	r := g.rng
	c.id = g.nextID
	g.nextID++
	u := r.Float64()
	for k := range NumKinds {
		if u < g.mixCum[k] || k == NumKinds-1 {
			c.kind = k
			break
		}
	}
	g.stats.Kinds[c.kind]++
	c.v6 = r.Float64() < g.cfg.IPv6Fraction
	if c.v6 {
		g.stats.IPv6++
	}

	// Client host and ephemeral port (Linux: even ports counting up).
	ci := r.IntN(g.cfg.Clients)
	if g.ports[ci] == 0 {
		g.ports[ci] = uint16(32768 + 2*r.IntN((60999-32768)/2))
	}
	c.cPort = g.ports[ci]
	g.ports[ci] += 2
	if g.ports[ci] > 60999 {
		g.ports[ci] = 32768
	}
	c.cTTL = uint8(64 - 2 - (ci*7)%18)
	// Server host and port.
	si := r.IntN(g.cfg.Servers)
	switch p := r.IntN(20); {
	case p < 12:
		c.sPort = 443
	case p < 17:
		c.sPort = 80
	default:
		c.sPort = 8080
	}
	switch c.kind {
	case KindRefused:
		c.sPort = [...]uint16{8443, 9090, 5432}[r.IntN(3)]
	case KindSYNTimeout:
		si += 256 // hosts that are down: 198.18.1.x
	case KindOverflowDrop, KindOverflowReset:
		si, c.sPort = 0, 8080 // the overloaded listener
	}
	c.http = c.sPort != 443
	if c.v6 {
		c.cAddr = clientAddr6(ci)
		c.sAddr = [16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(si >> 8), 15: byte(si + 1)}
		c.cLabel = r.Uint32() & 0xfffff
		c.sLabel = r.Uint32() & 0xfffff
	} else {
		a := spreadAddr4(uint32(ci))
		copy(c.cAddr[:], a[:])
		copy(c.sAddr[:], []byte{198, 18, byte(si >> 8), byte(si + 1)})
	}

	b := builder{rng: r, c: c}
	b.rtt = int64(logU(r, float64(g.cfg.MinRTT.Microseconds()), float64(g.cfg.MaxRTT.Microseconds())))
	b.gap = 1 + r.Int64N(12)
	b.cwnd = 10
	mss := uint16(1460)
	if c.v6 {
		mss = 1440
	}
	b.seg = int(mss) - 12
	b.cl = endpoint{isn: r.Uint32(), tsOff: r.Uint32(), ipid: uint16(r.Uint32()), baseWin: 502, win: 502, synWin: 64240, mss: mss}
	b.sv = endpoint{isn: r.Uint32(), tsOff: r.Uint32(), ipid: uint16(r.Uint32()), baseWin: 509, win: 509, synWin: 65160, mss: mss}
	if c.v6 {
		b.cl.synWin, b.sv.synWin = 64800, 64800
	}
	b.script(t)
	return c
}

// tcpOpts fills the reused option slices for p.
func (g *generator) tcpOpts(p *pkt, mss uint16) []layers.TCPOption {
	switch p.opts {
	case optSYN:
		binary.BigEndian.PutUint16(g.mss[:], mss)
		binary.BigEndian.PutUint32(g.ts[:], p.tsval)
		binary.BigEndian.PutUint32(g.ts[4:], p.tsecr)
		return g.optSYN
	case optTS:
		binary.BigEndian.PutUint32(g.ts[:], p.tsval)
		binary.BigEndian.PutUint32(g.ts[4:], p.tsecr)
		return g.optTS
	case optSACK:
		binary.BigEndian.PutUint32(g.ts[:], p.tsval)
		binary.BigEndian.PutUint32(g.ts[4:], p.tsecr)
		binary.BigEndian.PutUint32(g.sack[:], p.sackL)
		binary.BigEndian.PutUint32(g.sack[4:], p.sackR)
		return g.optSACK
	}
	return nil
}

func (g *generator) writeConnPacket(c *conn, p *pkt) error {
	t := &g.tcp
	*t = layers.TCP{
		Seq: p.seq, Ack: p.ack, Window: p.win,
		FIN: p.flags&fFIN != 0, SYN: p.flags&fSYN != 0, RST: p.flags&fRST != 0,
		PSH: p.flags&fPSH != 0, ACK: p.flags&fACK != 0,
	}
	mss := uint16(1460)
	if c.v6 {
		mss = 1440
	}
	t.Options = g.tcpOpts(p, mss)
	src, dst := c.cAddr[:], c.sAddr[:]
	if p.fromServer {
		src, dst = dst, src
		t.SrcPort, t.DstPort = layers.TCPPort(c.sPort), layers.TCPPort(c.cPort)
		g.eth.SrcMAC, g.eth.DstMAC = serverMAC, routerMAC
	} else {
		t.SrcPort, t.DstPort = layers.TCPPort(c.cPort), layers.TCPPort(c.sPort)
		g.eth.SrcMAC, g.eth.DstMAC = routerMAC, serverMAC
	}
	src2 := payRandom
	if c.http {
		switch p.pay {
		case payRequest:
			src2 = payHTTPReq
		case payResponse:
			src2 = payHTTPResp
		}
	}
	g.payload = src2[:p.plen]
	var stack []gopacket.SerializableLayer
	if c.v6 {
		g.eth.EthernetType = layers.EthernetTypeIPv6
		ip := &g.ip6
		copy(ip.SrcIP, src)
		copy(ip.DstIP, dst)
		ip.HopLimit = 64
		ip.FlowLabel = c.sLabel
		if !p.fromServer {
			ip.HopLimit = c.cTTL
			ip.FlowLabel = c.cLabel
		} else if p.opts == optNone {
			ip.FlowLabel = (c.sLabel * 2654435761) & 0xfffff // control socket: its own label
		}
		if err := t.SetNetworkLayerForChecksum(ip); err != nil {
			return fmt.Errorf("set checksum layer: %w", err)
		}
		stack = g.stack6
	} else {
		g.eth.EthernetType = layers.EthernetTypeIPv4
		ip := &g.ip4
		copy(ip.SrcIP, src[:4])
		copy(ip.DstIP, dst[:4])
		ip.Id = p.ipid
		ip.TTL = 64
		if !p.fromServer {
			ip.TTL = c.cTTL
		}
		if err := t.SetNetworkLayerForChecksum(ip); err != nil {
			return fmt.Errorf("set checksum layer: %w", err)
		}
		stack = g.stack4
	}
	return g.emit(p.at, stack)
}

// mix24 is a bijection on 24-bit values.
func mix24(x uint32) uint32 {
	const m = 1<<24 - 1
	x &= m
	x = (x * 0x9e3779) & m
	x ^= x >> 12
	x = (x * 0x85ebcb) & m
	x ^= x >> 11
	return x
}

// spreadAddr4 maps i (below 64·2^24) to a distinct public-looking IPv4
// address: the first octet is one of 64 unicast /8s (11, 14, …, 200, none
// of them reserved), the other three a scramble of i/64. Internet clients
// are spread like this; addresses sharing their first octets would also
// defeat tcpdump's address cache, which hashes on the first 12 bits, and
// make it quadratically slow.
func spreadAddr4(i uint32) [4]byte {
	low := mix24(i / 64)
	return [4]byte{byte(11 + 3*(i%64)), byte(low >> 16), byte(low >> 8), byte(low)}
}

// clientAddr6 returns the IPv6 address of client host i: 2001:db8:c::/48
// with a pseudo-random (privacy-style) interface identifier.
func clientAddr6(i int) [16]byte {
	a := [16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0x0c}
	binary.BigEndian.PutUint64(a[8:], splitmix64(uint64(i)))
	return a
}

// splitmix64 is the SplitMix64 finalizer, a bijection on uint64.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// writeFlood writes the i-th spoofed flood SYN at µs t.
func (g *generator) writeFlood(t, i int64) error {
	r := g.frng
	a := spreadAddr4(uint32(i) ^ g.floodKey)
	ip := &g.ip4
	copy(ip.SrcIP, a[:])
	copy(ip.DstIP, []byte{198, 18, 255, 1})
	ip.Id = uint16(r.Uint32())
	ip.TTL = uint8(40 + r.IntN(200))
	g.tcp = layers.TCP{SrcPort: layers.TCPPort(1024 + r.IntN(64512)), DstPort: 443, Seq: r.Uint32(), SYN: true, Window: 1024}
	g.eth.SrcMAC, g.eth.DstMAC = routerMAC, serverMAC
	g.eth.EthernetType = layers.EthernetTypeIPv4
	g.payload = nil
	if err := g.tcp.SetNetworkLayerForChecksum(ip); err != nil {
		return fmt.Errorf("set checksum layer: %w", err)
	}
	return g.emit(t, g.stack4)
}

// Port-scan probes: the scanner, the ports it probes on each target
// address, the target's answer delay, and the most probes (the targets
// are 100.64.0.0/10, five ports each).
var (
	scannerAddr = [4]byte{203, 0, 113, 9}
	probePorts  = [...]uint16{22, 80, 443, 3306, 8080}
)

const (
	probeRTT  = 200 // µs
	maxProbes = 1 << 22 * len(probePorts)
)

// probeAt returns the µs time of the i-th probe's SYN.
func (g *generator) probeAt(i int64) int64 { return int64(float64(i) * 1e6 / g.cfg.PortScanRate) }

// nextProbe returns the time of the next port-scan packet and whether it
// is the RST that answers an earlier SYN; ok is false when all are
// written.
func (g *generator) nextProbe() (t int64, answer, ok bool) {
	syn, rst := g.probes < int64(g.cfg.PortScan), g.refused < g.probes
	switch {
	case rst && (!syn || g.probeAt(g.refused)+probeRTT <= g.probeAt(g.probes)):
		return g.probeAt(g.refused) + probeRTT, true, true
	case syn:
		return g.probeAt(g.probes), false, true
	}
	return 0, false, false
}

// writeProbe writes the next port-scan packet, at µs t (see nextProbe):
// the i-th probe is a SYN from the scanner to port probePorts[i%5] of
// 100.64.0.0+i/5, with no options, answered by [R.] seq 0 ack ISN+1.
func (g *generator) writeProbe(t int64, answer bool) error {
	i := g.probes
	if answer {
		i = g.refused
		g.refused++
	} else {
		g.probes++
		g.stats.PortScan++
	}
	var target [4]byte
	binary.BigEndian.PutUint32(target[:], 100<<24|64<<16+uint32(i)/uint32(len(probePorts)))
	sport := layers.TCPPort(1024 + i%64000)
	dport := layers.TCPPort(probePorts[i%int64(len(probePorts))])
	isn := uint32(splitmix64(uint64(i)))
	ip := &g.ip4
	ip.Id = uint16(isn >> 16)
	if answer {
		copy(ip.SrcIP, target[:])
		copy(ip.DstIP, scannerAddr[:])
		ip.TTL = 64
		g.tcp = layers.TCP{SrcPort: dport, DstPort: sport, Ack: isn + 1, RST: true, ACK: true}
		g.eth.SrcMAC, g.eth.DstMAC = serverMAC, routerMAC
	} else {
		copy(ip.SrcIP, scannerAddr[:])
		copy(ip.DstIP, target[:])
		ip.TTL = 52
		g.tcp = layers.TCP{SrcPort: sport, DstPort: dport, Seq: isn, SYN: true, Window: 1024}
		g.eth.SrcMAC, g.eth.DstMAC = routerMAC, serverMAC
	}
	g.eth.EthernetType = layers.EthernetTypeIPv4
	g.payload = nil
	if err := g.tcp.SetNetworkLayerForChecksum(ip); err != nil {
		return fmt.Errorf("set checksum layer: %w", err)
	}
	return g.emit(t, g.stack4)
}

// emit serializes the layer stack and writes it as a packet at µs t.
func (g *generator) emit(t int64, stack []gopacket.SerializableLayer) error {
	if err := gopacket.SerializeLayers(g.buf, g.so, stack...); err != nil {
		return fmt.Errorf("serialize packet %d: %w", g.stats.Packets+1, err)
	}
	data := g.buf.Bytes()
	ci := gopacket.CaptureInfo{Timestamp: g.cfg.Start.Add(time.Duration(t) * time.Microsecond), Length: len(data)}
	if g.cfg.Snaplen > 0 && len(data) > g.cfg.Snaplen {
		data = data[:g.cfg.Snaplen]
	}
	ci.CaptureLength = len(data)
	if t > math.MaxInt64/1000 {
		return fmt.Errorf("packet time %d µs out of range", t)
	}
	if err := g.pw.WritePacket(ci, data); err != nil {
		return fmt.Errorf("write packet %d: %w", g.stats.Packets+1, err)
	}
	if g.stats.Packets == 0 {
		g.stats.First = ci.Timestamp
	}
	g.stats.Last = ci.Timestamp
	g.stats.Packets++
	g.stats.Bytes += int64(len(data))
	return nil
}

// connHeap is a binary min-heap of open connections ordered by the time
// of their next packet, then by connection id (so the order is total and
// the output deterministic).
type connHeap []*conn

func (h connHeap) less(i, j int) bool {
	a, b := h[i].at(), h[j].at()
	if a != b {
		return a < b
	}
	return h[i].id < h[j].id
}

func (h *connHeap) push(c *conn) {
	*h = append(*h, c)
	s := *h
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !s.less(i, p) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

func (h *connHeap) pop() {
	s := *h
	n := len(s) - 1
	s[0] = s[n]
	s[n] = nil
	*h = s[:n]
	if n > 0 {
		h.fix0()
	}
}

// fix0 restores the heap order after the root's key grew.
func (h connHeap) fix0() {
	i, n := 0, len(h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && h.less(r, l) {
			m = r
		}
		if !h.less(m, i) {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}

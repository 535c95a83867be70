package gen

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

func generate(t testing.TB, cfg Config) ([]byte, Stats) {
	t.Helper()
	var buf bytes.Buffer
	st, err := Write(&buf, cfg)
	if err != nil {
		t.Fatalf("Write(%+v): %v", cfg, err)
	}
	return buf.Bytes(), st
}

func TestDeterministic(t *testing.T) {
	cfg := Config{Connections: 500, Seed: 42, SYNFlood: 200}
	a, sa := generate(t, cfg)
	b, sb := generate(t, cfg)
	if sha256.Sum256(a) != sha256.Sum256(b) {
		t.Fatalf("same config gave different bytes (%d and %d bytes)", len(a), len(b))
	}
	if sa != sb {
		t.Errorf("same config gave different stats:\n%+v\n%+v", sa, sb)
	}
	cfg.Seed = 43
	c, _ := generate(t, cfg)
	if sha256.Sum256(a) == sha256.Sum256(c) {
		t.Errorf("seeds 42 and 43 gave the same capture")
	}
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []Config{
		{Connections: -1},
		{Connections: 1, SYNFlood: -1},
		{Connections: 1, PortScan: -1},
		{Connections: 1, PortScan: maxProbes + 1},
		{Connections: 1, IPv6Fraction: 1.5},
		{Connections: 1, Mix: Mix{KindRefused: -1}},
		{Connections: 1, Start: time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		if _, err := Write(io.Discard, cfg); err == nil {
			t.Errorf("Write(%+v) succeeded, want an error", cfg)
		}
	}
}

var errWrite = errors.New("disk full")

type failWriter struct{ n int }

func (w *failWriter) Write(p []byte) (int, error) {
	if w.n -= len(p); w.n < 0 {
		return 0, errWrite
	}
	return len(p), nil
}

func TestWriteError(t *testing.T) {
	_, err := Write(&failWriter{n: 3 << 20}, Config{Connections: 2000})
	if !errors.Is(err, errWrite) {
		t.Fatalf("Write to a failing writer: err = %v, want %v", err, errWrite)
	}
}

// decoded is one packet of a generated capture.
type decoded struct {
	ci        gopacket.CaptureInfo
	v6        bool
	src, dst  netip.AddrPort
	ipID      uint16
	df        bool
	tcp       layers.TCP
	rawOpts   []byte
	plen      int
	fromSrver bool
}

// readBack decodes every packet, checking the IP and TCP checksums.
func readBack(t *testing.T, data []byte) []decoded {
	t.Helper()
	r, err := pcapgo.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("pcapgo.NewReader: %v", err)
	}
	if r.LinkType() != layers.LinkTypeEthernet {
		t.Fatalf("link type %v, want Ethernet", r.LinkType())
	}
	var (
		eth layers.Ethernet
		ip4 layers.IPv4
		ip6 layers.IPv6
		tcp layers.TCP
		pl  gopacket.Payload
	)
	parser := gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, &eth, &ip4, &ip6, &tcp, &pl)
	parser.IgnoreUnsupported = true
	var lts []gopacket.LayerType
	var out []decoded
	var last time.Time
	for n := 1; ; n++ {
		pkt, ci, err := r.ReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("packet %d: read: %v", n, err)
		}
		if ci.Timestamp.Before(last) {
			t.Fatalf("packet %d: time %v before the previous packet's %v", n, ci.Timestamp, last)
		}
		last = ci.Timestamp
		if err := parser.DecodeLayers(pkt, &lts); err != nil {
			t.Fatalf("packet %d: decode: %v", n, err)
		}
		d := decoded{ci: ci}
		switch lts[1] {
		case layers.LayerTypeIPv4:
			if _, res := ip4.VerifyChecksum(); !res.Valid {
				t.Fatalf("packet %d: bad IPv4 checksum %+v", n, res)
			}
			d.src = netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip4.SrcIP)), uint16(tcp.SrcPort))
			d.dst = netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip4.DstIP)), uint16(tcp.DstPort))
			d.ipID, d.df = ip4.Id, ip4.Flags&layers.IPv4DontFragment != 0
			_ = tcp.SetNetworkLayerForChecksum(&ip4)
		case layers.LayerTypeIPv6:
			d.v6 = true
			d.src = netip.AddrPortFrom(netip.AddrFrom16([16]byte(ip6.SrcIP)), uint16(tcp.SrcPort))
			d.dst = netip.AddrPortFrom(netip.AddrFrom16([16]byte(ip6.DstIP)), uint16(tcp.DstPort))
			_ = tcp.SetNetworkLayerForChecksum(&ip6)
		}
		if ci.CaptureLength == ci.Length {
			if _, res := tcp.VerifyChecksum(); !res.Valid {
				t.Fatalf("packet %d: bad TCP checksum %+v", n, res)
			}
		}
		d.tcp = tcp
		d.plen = len(tcp.Payload)
		d.tcp.Contents, d.tcp.Payload, d.tcp.Options, d.tcp.Padding = nil, nil, nil, nil
		d.rawOpts = bytes.Clone(tcp.Contents[20:])
		d.fromSrver = tcp.SrcPort < 32768 && d.dst.Addr() != floodDst
		out = append(out, d)
	}
	return out
}

var floodDst = netip.AddrFrom4([4]byte{198, 18, 255, 1})

func TestReadBackTcpdump(t *testing.T) {
	data, st := generate(t, Config{Connections: 400, Seed: 7, SYNFlood: 100})
	pkts := readBack(t, data)
	if int64(len(pkts)) != st.Packets {
		t.Fatalf("read %d packets, Stats.Packets = %d", len(pkts), st.Packets)
	}
	if got := pkts[len(pkts)-1].ci.Timestamp; !got.Equal(st.Last) {
		t.Errorf("last packet at %v, Stats.Last = %v", got, st.Last)
	}

	if _, err := exec.LookPath("tcpdump"); err != nil {
		t.Skip("tcpdump not installed; skipping the tcpdump read-back")
	}
	f := filepath.Join(t.TempDir(), "gen.pcap")
	if err := os.WriteFile(f, data, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("tcpdump", "-nn", "-vv", "-r", f)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tcpdump -r: %v\n%s", err, stderr.String())
	}
	text := string(out)
	if n := strings.Count(text, "cksum"); int64(n) < st.Packets {
		t.Errorf("tcpdump printed %d checksums for %d packets", n, st.Packets)
	}
	for _, bad := range []string{"incorrect", "[|tcp]", "bad opt", "bad hdr", "truncated"} {
		if strings.Contains(text, bad) {
			i := strings.Index(text, bad)
			t.Errorf("tcpdump output contains %q: …%s…", bad, text[max(0, i-200):i+len(bad)])
		}
	}
	if strings.Contains(stderr.String(), "tcpdump:") && !strings.Contains(stderr.String(), "reading from file") {
		t.Errorf("tcpdump complained: %s", stderr.String())
	}
}

// flowRec collects what the kind signature test needs from one connection.
type flowRec struct {
	syns, synAcks     int
	synAckSeq         uint32
	refused           bool
	rstAfterHandshake bool // [R] seq y+1
	rstMidstream      bool // [R] seq other than y+1
	activeRST         bool
	srvData           int
	srvMaxEnd         uint32
	srvRetransmit     bool
	firstFIN          byte
	v6                bool
}

func (f *flowRec) kind() Kind {
	switch {
	case f.activeRST:
		return KindEarlyClose
	case f.synAcks > 1:
		return KindOverflowDrop
	case f.rstAfterHandshake && f.srvData == 0:
		return KindOverflowReset
	case f.rstMidstream:
		return KindMidstreamRST
	case f.refused:
		return KindRefused
	case f.synAcks == 0:
		return KindSYNTimeout
	case f.syns > 1:
		return KindSYNRetransmit
	case f.srvRetransmit:
		return KindRetransmit
	case f.firstFIN == 's':
		return KindServerClose
	case f.firstFIN == 'c':
		return KindClientClose
	}
	return NumKinds
}

var (
	synOpts = []byte{2, 4, 0, 0, 4, 2, 8, 10} // mss ?,sackOK,TS …
	tsOpts  = []byte{1, 1, 8, 10}
)

// TestKinds decodes a capture with every kind and recognises each
// connection from its wire signature, checking the Linux details on the way.
func TestKinds(t *testing.T) {
	var mix Mix
	for k := range mix {
		mix[k] = 1
	}
	data, st := generate(t, Config{Connections: 3000, Seed: 3, Mix: mix, SYNFlood: 500})
	flows := map[[2]netip.AddrPort]*flowRec{}
	floodSrc := map[netip.AddrPort]bool{}
	for i, p := range readBack(t, data) {
		n := i + 1
		tcp := &p.tcp
		if p.dst.Addr() == floodDst {
			if !tcp.SYN || tcp.ACK || len(p.rawOpts) != 0 {
				t.Fatalf("packet %d: flood packet is not a bare SYN", n)
			}
			floodSrc[p.src] = true
			continue
		}
		if p.src.Addr() == floodDst {
			t.Fatalf("packet %d: a flood SYN was answered", n)
		}
		key := [2]netip.AddrPort{p.src, p.dst}
		if p.fromSrver {
			key = [2]netip.AddrPort{p.dst, p.src}
		}
		f := flows[key]
		if f == nil {
			f = &flowRec{v6: p.v6}
			flows[key] = f
		}
		opts := p.rawOpts
		switch {
		case tcp.RST:
			if !p.fromSrver {
				t.Fatalf("packet %d: RST from the client", n)
			}
			if tcp.ACK && tcp.Window > 0 { // active
				f.activeRST = true
				if !bytes.HasPrefix(opts, tsOpts) {
					t.Errorf("packet %d: active RST without TS option: % x", n, opts)
				}
				continue
			}
			if tcp.Window != 0 || len(opts) != 0 || (!p.v6 && p.ipID != 0) {
				t.Errorf("packet %d: passive RST with win %d, options % x, IP ID %d", n, tcp.Window, opts, p.ipID)
			}
			switch {
			case tcp.ACK && tcp.Seq == 0:
				f.refused = true
			case tcp.ACK:
				t.Errorf("packet %d: [R.] with seq %d", n, tcp.Seq)
			case tcp.Seq == f.synAckSeq+1:
				f.rstAfterHandshake = true
			default:
				f.rstMidstream = true
			}
		case tcp.SYN:
			mss := byte(0xb4) // 1460
			if p.v6 {
				mss = 0xa0 // 1440
			}
			want := append(append([]byte{}, synOpts...), 0, 0, 0, 0, 0, 0, 0, 0, 1, 3, 3, 7)
			want[2], want[3] = 5, mss
			got := bytes.Clone(opts)
			if len(got) == len(want) {
				copy(got[8:16], want[8:16]) // TS values vary
			}
			if !bytes.Equal(got, want) {
				t.Errorf("packet %d: SYN options % x, want % x", n, opts, want)
			}
			if tcp.ACK {
				if !p.v6 && p.ipID != 0 {
					t.Errorf("packet %d: SYN-ACK with IP ID %d, want 0", n, p.ipID)
				}
				if f.synAcks > 0 && tcp.Seq != f.synAckSeq {
					t.Errorf("packet %d: retransmitted SYN-ACK with a new seq", n)
				}
				f.synAcks++
				f.synAckSeq = tcp.Seq
			} else {
				f.syns++
			}
		default:
			if !bytes.HasPrefix(opts, tsOpts) {
				t.Errorf("packet %d: segment without TS option: % x", n, opts)
			}
			if p.fromSrver && p.plen > 0 {
				f.srvData++
				end := tcp.Seq + uint32(p.plen)
				if f.srvData > 1 && int32(tcp.Seq-f.srvMaxEnd) < 0 {
					f.srvRetransmit = true
				}
				if f.srvData == 1 || int32(end-f.srvMaxEnd) > 0 {
					f.srvMaxEnd = end
				}
			}
			if tcp.FIN && f.firstFIN == 0 {
				f.firstFIN = 'c'
				if p.fromSrver {
					f.firstFIN = 's'
				}
			}
		}
		if !p.v6 && !p.df {
			t.Errorf("packet %d: IPv4 without DF", n)
		}
	}
	if len(floodSrc) != int(st.SYNFlood) || st.SYNFlood != 500 {
		t.Errorf("%d distinct flood sources, Stats.SYNFlood = %d, want 500", len(floodSrc), st.SYNFlood)
	}
	var got [NumKinds + 1]int64
	var v6 int64
	for _, f := range flows {
		got[f.kind()]++
		if f.v6 {
			v6++
		}
	}
	if int64(len(flows)) != st.Connections() {
		t.Errorf("%d flows in the capture, Stats says %d connections", len(flows), st.Connections())
	}
	for k := range NumKinds {
		if got[k] != st.Kinds[k] || got[k] == 0 {
			t.Errorf("%s: %d flows recognised, Stats.Kinds = %d", k, got[k], st.Kinds[k])
		}
	}
	if got[NumKinds] != 0 {
		t.Errorf("%d flows not recognised", got[NumKinds])
	}
	if v6 != st.IPv6 {
		t.Errorf("%d IPv6 flows, Stats.IPv6 = %d", v6, st.IPv6)
	}
}

// TestDefaultShape checks the default mix: about 25 packets and 10% IPv6
// per connection, 90% normal connections, many open at once.
func TestDefaultShape(t *testing.T) {
	_, st := generate(t, Config{Connections: 5000})
	perConn := float64(st.Packets) / float64(st.Connections())
	if perConn < 22 || perConn > 28 {
		t.Errorf("%.1f packets per connection, want about 25", perConn)
	}
	if f := float64(st.IPv6) / 5000; f < 0.08 || f > 0.12 {
		t.Errorf("IPv6 share %.3f, want about 0.1", f)
	}
	normal := st.Kinds[KindClientClose] + st.Kinds[KindServerClose] + st.Kinds[KindRetransmit]
	if f := float64(normal) / 5000; f < 0.87 || f > 0.93 {
		t.Errorf("normal share %.3f, want about 0.9", f)
	}
	if st.ConcurrentMax < 500 {
		t.Errorf("at most %d connections open at once, want many", st.ConcurrentMax)
	}
	if !st.First.Equal(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)) {
		t.Errorf("first packet at %v, want the default start", st.First)
	}
}

func TestSnaplen(t *testing.T) {
	data, st := generate(t, Config{Connections: 200, Snaplen: 96})
	r, err := pcapgo.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if r.Snaplen() != 96 {
		t.Errorf("file snaplen %d, want 96", r.Snaplen())
	}
	cut := 0
	for {
		_, ci, err := r.ReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if ci.CaptureLength > 96 {
			t.Fatalf("captured %d bytes, over the snaplen", ci.CaptureLength)
		}
		if ci.CaptureLength < ci.Length {
			cut++
		}
	}
	if cut == 0 || int64(cut) == st.Packets {
		t.Errorf("%d of %d packets truncated, want some but not all", cut, st.Packets)
	}
}

func BenchmarkWrite(b *testing.B) {
	cfg := Config{Connections: 2000}
	var pkts int64
	b.ReportAllocs()
	for b.Loop() {
		st, err := Write(io.Discard, cfg)
		if err != nil {
			b.Fatal(err)
		}
		pkts += st.Packets
	}
	b.ReportMetric(float64(pkts)/b.Elapsed().Seconds(), "packets/s")
	b.ReportMetric(float64(pkts)/float64(b.N), "packets/op")
}

// without rewrites a generated capture without the packets drop says to
// leave out (drop sees every packet, in order), and returns it.
func without(t *testing.T, capture []byte, drop func(data []byte, ci gopacket.CaptureInfo) bool) []byte {
	t.Helper()
	var kept bytes.Buffer
	w := pcapgo.NewWriter(&kept)
	if err := w.WriteFileHeader(snaplenMax, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	r, err := pcapgo.NewReader(bytes.NewReader(capture))
	if err != nil {
		t.Fatal(err)
	}
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			return kept.Bytes()
		}
		if err != nil {
			t.Fatal(err)
		}
		if drop(data, ci) {
			continue
		}
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFloodIndependent checks that adding a SYN flood leaves the
// connections' packets unchanged.
func TestFloodIndependent(t *testing.T) {
	plain, _ := generate(t, Config{Connections: 300, Seed: 9})
	flooded, st := generate(t, Config{Connections: 300, Seed: 9, SYNFlood: 1000, SYNFloodRate: 5000})
	dropped := 0
	kept := without(t, flooded, func(data []byte, _ gopacket.CaptureInfo) bool {
		flood := len(data) >= 34 && data[12] == 0x08 && data[13] == 0x00 && bytes.Equal(data[30:34], floodDst.AsSlice())
		if flood {
			dropped++
		}
		return flood
	})
	if dropped != 1000 || st.SYNFlood != 1000 {
		t.Errorf("removed %d flood packets, Stats.SYNFlood = %d, want 1000", dropped, st.SYNFlood)
	}
	if !bytes.Equal(kept, plain) {
		t.Errorf("the connections differ once a flood is added")
	}
}

// TestPortScan adds a port scan to a capture: every probe is a SYN to its
// own ip:port, answered by a RST that acknowledges it, in time order with
// the rest, and without the probes the capture is the one without them.
func TestPortScan(t *testing.T) {
	plain, _ := generate(t, Config{Connections: 300, Seed: 9})
	scanned, st := generate(t, Config{Connections: 300, Seed: 9, PortScan: 1000, PortScanRate: 5000})
	syns := map[[6]byte]uint32{} // target ip:port -> ISN
	refused := 0
	var last time.Time
	kept := without(t, scanned, func(data []byte, ci gopacket.CaptureInfo) bool {
		if ci.Timestamp.Before(last) {
			t.Fatalf("packet at %s after one at %s", ci.Timestamp, last)
		}
		last = ci.Timestamp
		ipv4 := len(data) >= 54 && data[12] == 0x08 && data[13] == 0x00
		var k [6]byte
		switch {
		case ipv4 && bytes.Equal(data[26:30], scannerAddr[:]):
			copy(k[:], data[30:34])
			copy(k[4:], data[36:38])
			if _, dup := syns[k]; dup || data[47] != 0x02 {
				t.Fatalf("probe to %v: flags %#x, seen before: %v", k, data[47], dup)
			}
			syns[k] = binary.BigEndian.Uint32(data[38:42])
			return true
		case ipv4 && bytes.Equal(data[30:34], scannerAddr[:]):
			copy(k[:], data[26:30])
			copy(k[4:], data[34:36])
			isn, ok := syns[k]
			if !ok || data[47] != 0x14 || binary.BigEndian.Uint32(data[42:46]) != isn+1 {
				t.Fatalf("answer from %v: flags %#x, probed %v", k, data[47], ok)
			}
			refused++
			return true
		}
		return false
	})
	if len(syns) != 1000 || refused != 1000 || st.PortScan != 1000 {
		t.Errorf("%d probes and %d RSTs, Stats.PortScan = %d; want 1000 each", len(syns), refused, st.PortScan)
	}
	if !bytes.Equal(kept, plain) {
		t.Errorf("the connections differ once a port scan is added")
	}
}

package flows

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
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

// saStep is one synthetic segment of a unit test and the labels it must get.
type saStep struct {
	dir      int
	flags    capture.Flags
	seq, ack uint32
	len      int
	win      uint16
	ms       float64 // time since the start, in milliseconds
	wscale   int     // window scale option, -1 for none
	want     Label
	dupOf    int64 // DupACKOf wanted when want has LabelDupACK
	dupNum   uint32
}

const (
	saS  = capture.SYN
	saSA = capture.SYN | capture.ACK
	saA  = capture.ACK
	saPA = capture.PSH | capture.ACK
	saFA = capture.FIN | capture.ACK
	saRA = capture.RST | capture.ACK
)

var saT0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// saSeg builds the Segment of a step; the packet number is i+1.
func saSeg(i int, st saStep) capture.Segment {
	seg := capture.Segment{
		Packet:     int64(i + 1),
		Time:       saT0.Add(time.Duration(st.ms * float64(time.Millisecond))),
		Kind:       capture.KindTCP,
		Seq:        st.seq,
		Ack:        st.ack,
		Flags:      st.flags,
		Window:     st.win,
		PayloadLen: st.len,
		DataOffset: 20,
		Opt:        capture.Options{WScale: -1},
	}
	if st.wscale >= 0 {
		copy(seg.RawOptions[:], []byte{1, 3, 3, byte(st.wscale)})
		seg.OptionsLen = 4
		seg.DataOffset = 24
		seg.Opt.WScale = int8(st.wscale)
	}
	return seg
}

// saHandshake is client ISN 1000, server ISN 5000, no window scaling.
func saHandshake(win uint16) []saStep {
	return []saStep{
		{dir: 0, flags: saS, seq: 1000, win: win, wscale: -1},
		{dir: 1, flags: saSA, seq: 5000, ack: 1001, win: win, ms: 10, wscale: -1},
		{dir: 0, flags: saA, seq: 1001, ack: 5001, win: win, ms: 20, wscale: -1},
	}
}

func saJoin(parts ...[]saStep) []saStep {
	var out []saStep
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestSeqAnalysisLabels(t *testing.T) {
	tests := []struct {
		name  string
		steps []saStep
	}{
		{"clean exchange", saJoin(saHandshake(1000), []saStep{
			{dir: 0, flags: saPA, seq: 1001, ack: 5001, len: 100, win: 1000, ms: 30, wscale: -1},
			{dir: 1, flags: saPA, seq: 5001, ack: 1101, len: 50, win: 1000, ms: 40, wscale: -1},
			{dir: 0, flags: saFA, seq: 1101, ack: 5051, win: 1000, ms: 50, wscale: -1},
			{dir: 1, flags: saFA, seq: 5051, ack: 1102, win: 1000, ms: 60, wscale: -1},
			{dir: 0, flags: saA, seq: 1102, ack: 5052, win: 1000, ms: 70, wscale: -1},
		})},
		{"retransmission after RTO", saJoin(saHandshake(8000), []saStep{
			{dir: 0, flags: saPA, seq: 1001, ack: 5001, len: 100, win: 8000, ms: 30, wscale: -1},
			{dir: 0, flags: saPA, seq: 1001, ack: 5001, len: 100, win: 8000, ms: 250, wscale: -1, want: LabelRetransmission},
		})},
		{"SYN retransmission", []saStep{
			{dir: 0, flags: saS, seq: 1000, win: 8000, wscale: -1},
			{dir: 0, flags: saS, seq: 1000, win: 8000, ms: 1000, wscale: -1, want: LabelRetransmission},
			{dir: 1, flags: saSA, seq: 5000, ack: 1001, win: 8000, ms: 1010, wscale: -1},
			{dir: 1, flags: saSA, seq: 5000, ack: 1001, win: 8000, ms: 2010, wscale: -1, want: LabelRetransmission},
		}},
		{"lost then out of order", []saStep{
			{dir: 0, flags: saA, seq: 1, ack: 1, len: 100, win: 8000, wscale: -1},
			{dir: 0, flags: saA, seq: 201, ack: 1, len: 100, win: 8000, ms: 0.5, wscale: -1, want: LabelLostSegment},
			{dir: 0, flags: saA, seq: 101, ack: 1, len: 100, win: 8000, ms: 1, wscale: -1, want: LabelOutOfOrder},
		}},
		{"late fill is a retransmission", []saStep{
			{dir: 0, flags: saA, seq: 1, ack: 1, len: 100, win: 8000, wscale: -1},
			{dir: 0, flags: saA, seq: 201, ack: 1, len: 100, win: 8000, ms: 0.5, wscale: -1, want: LabelLostSegment},
			{dir: 0, flags: saA, seq: 101, ack: 1, len: 100, win: 8000, ms: 4, wscale: -1, want: LabelRetransmission},
		}},
		{"handshake RTT sets the out-of-order threshold", saJoin([]saStep{
			{dir: 0, flags: saS, seq: 1000, win: 8000, wscale: -1},
			{dir: 1, flags: saSA, seq: 5000, ack: 1001, win: 8000, ms: 50, wscale: -1},
			{dir: 0, flags: saA, seq: 1001, ack: 5001, win: 8000, ms: 100, wscale: -1}, // RTT 100 ms
		}, []saStep{
			{dir: 0, flags: saA, seq: 1001, ack: 5001, len: 100, win: 8000, ms: 110, wscale: -1},
			{dir: 0, flags: saA, seq: 1201, ack: 5001, len: 100, win: 8000, ms: 111, wscale: -1, want: LabelLostSegment},
			{dir: 0, flags: saA, seq: 1101, ack: 5001, len: 100, win: 8000, ms: 160, wscale: -1, want: LabelOutOfOrder},
		})},
		{"dup ACKs then fast retransmission", saJoin(saHandshake(8000), []saStep{
			{dir: 0, flags: saA, seq: 1001, ack: 5001, len: 100, win: 8000, ms: 30, wscale: -1},
			{dir: 0, flags: saA, seq: 1201, ack: 5001, len: 100, win: 8000, ms: 31, wscale: -1, want: LabelLostSegment},
			{dir: 1, flags: saA, seq: 5001, ack: 1101, win: 8000, ms: 40, wscale: -1}, // packet 6
			{dir: 1, flags: saA, seq: 5001, ack: 1101, win: 8000, ms: 41, wscale: -1, want: LabelDupACK, dupOf: 6, dupNum: 1},
			{dir: 1, flags: saA, seq: 5001, ack: 1101, win: 8000, ms: 42, wscale: -1, want: LabelDupACK, dupOf: 6, dupNum: 2},
			{dir: 0, flags: saA, seq: 1101, ack: 5001, len: 100, win: 8000, ms: 45, wscale: -1, want: LabelFastRetransmission},
			{dir: 1, flags: saA, seq: 5001, ack: 1301, win: 8000, ms: 55, wscale: -1},
			{dir: 1, flags: saA, seq: 5001, ack: 1301, win: 8000, ms: 56, wscale: -1, want: LabelDupACK, dupOf: 10, dupNum: 1},
		})},
		{"spurious retransmission", saJoin(saHandshake(8000), []saStep{
			{dir: 0, flags: saA, seq: 1001, ack: 5001, len: 100, win: 8000, ms: 30, wscale: -1},
			{dir: 1, flags: saA, seq: 5001, ack: 1101, win: 8000, ms: 40, wscale: -1},
			{dir: 0, flags: saA, seq: 1001, ack: 5001, len: 100, win: 8000, ms: 300, wscale: -1, want: LabelSpuriousRetransmission},
		})},
		{"spurious wins over out-of-order", saJoin(saHandshake(8000), []saStep{
			{dir: 0, flags: saA, seq: 1001, ack: 5001, len: 100, win: 8000, ms: 30, wscale: -1},
			{dir: 0, flags: saA, seq: 1101, ack: 5001, len: 100, win: 8000, ms: 31, wscale: -1},
			{dir: 1, flags: saA, seq: 5001, ack: 1201, win: 8000, ms: 31.5, wscale: -1},
			{dir: 0, flags: saA, seq: 1001, ack: 5001, len: 100, win: 8000, ms: 32, wscale: -1, want: LabelSpuriousRetransmission},
		})},
		{"quick FIN retransmission", saJoin(saHandshake(8000), []saStep{
			{dir: 0, flags: saFA, seq: 1001, ack: 5001, win: 8000, ms: 30, wscale: -1},
			{dir: 0, flags: saFA, seq: 1001, ack: 5001, win: 8000, ms: 31, wscale: -1, want: LabelRetransmission},
		})},
		{"dup ACK right after an ACKed unseen segment", saJoin(saHandshake(8000), []saStep{
			{dir: 0, flags: saA, seq: 1001, ack: 5001, len: 100, win: 8000, ms: 30, wscale: -1},
			{dir: 1, flags: saA, seq: 5001, ack: 1301, win: 8000, ms: 40, wscale: -1, want: LabelACKedUnseen},
			{dir: 0, flags: saA, seq: 1101, ack: 5001, win: 8000, ms: 50, wscale: -1, want: LabelDupACK, dupOf: 3, dupNum: 1},
			{dir: 1, flags: saA, seq: 5001, ack: 1401, win: 8000, ms: 60, wscale: -1},
			{dir: 0, flags: saA, seq: 1101, ack: 5001, win: 8000, ms: 70, wscale: -1, want: LabelDupACK, dupOf: 3, dupNum: 1},
		})},
		{"ACKed unseen segment", saJoin(saHandshake(8000), []saStep{
			{dir: 0, flags: saA, seq: 1001, ack: 5001, len: 100, win: 8000, ms: 30, wscale: -1},
			{dir: 1, flags: saA, seq: 5001, ack: 1301, win: 8000, ms: 40, wscale: -1, want: LabelACKedUnseen},
			{dir: 1, flags: saA, seq: 5001, ack: 1401, win: 8000, ms: 50, wscale: -1},
		})},
		{"zero window, probe and probe ACK", saJoin(saHandshake(8000), []saStep{
			{dir: 0, flags: saA, seq: 1001, ack: 5001, len: 100, win: 8000, ms: 30, wscale: -1},
			{dir: 1, flags: saA, seq: 5001, ack: 1101, win: 0, ms: 40, wscale: -1, want: LabelZeroWindow},
			{dir: 0, flags: saA, seq: 1101, ack: 5001, len: 1, win: 8000, ms: 300, wscale: -1, want: LabelZeroWindowProbe},
			{dir: 1, flags: saA, seq: 5001, ack: 1101, win: 0, ms: 310, wscale: -1, want: LabelZeroWindow | LabelZeroWindowProbeACK},
			{dir: 1, flags: saA, seq: 5001, ack: 1101, win: 4000, ms: 400, wscale: -1, want: LabelWindowUpdate},
			{dir: 0, flags: saA, seq: 1101, ack: 5001, len: 100, win: 8000, ms: 410, wscale: -1},
		})},
		{"RST with zero window is not a zero window", saJoin(saHandshake(8000), []saStep{
			{dir: 1, flags: saRA, seq: 5001, ack: 1001, win: 0, ms: 30, wscale: -1},
		})},
		{"keep-alive and its ACK", saJoin(saHandshake(8000), []saStep{
			{dir: 0, flags: saA, seq: 1001, ack: 5001, len: 100, win: 8000, ms: 30, wscale: -1},
			{dir: 1, flags: saA, seq: 5001, ack: 1101, win: 8000, ms: 40, wscale: -1},
			{dir: 0, flags: saA, seq: 1100, ack: 5001, win: 8000, ms: 60000, wscale: -1, want: LabelKeepAlive},
			{dir: 1, flags: saA, seq: 5001, ack: 1101, win: 8000, ms: 60001, wscale: -1, want: LabelKeepAliveACK},
			{dir: 0, flags: saA, seq: 1100, ack: 5001, len: 1, win: 8000, ms: 120000, wscale: -1, want: LabelKeepAlive},
		})},
		{"window update", saJoin(saHandshake(8000), []saStep{
			{dir: 0, flags: saA, seq: 1001, ack: 5001, len: 100, win: 8000, ms: 30, wscale: -1},
			{dir: 1, flags: saA, seq: 5001, ack: 1101, win: 2000, ms: 40, wscale: -1},
			{dir: 1, flags: saA, seq: 5001, ack: 1101, win: 6000, ms: 50, wscale: -1, want: LabelWindowUpdate},
		})},
		{"window full, unscaled then scaled", []saStep{
			{dir: 0, flags: saS, seq: 1000, win: 8000, wscale: 7},
			{dir: 1, flags: saSA, seq: 5000, ack: 1001, win: 1000, ms: 10, wscale: 7},
			{dir: 0, flags: saA, seq: 1001, ack: 5001, win: 63, ms: 20, wscale: -1},
			// The SYN-ACK window is not scaled: 1001+1000.
			{dir: 0, flags: saA, seq: 1001, ack: 5001, len: 1000, win: 63, ms: 21, wscale: -1, want: LabelWindowFull},
			{dir: 1, flags: saA, seq: 5001, ack: 2001, win: 10, ms: 30, wscale: -1},
			// 2001 + 10<<7.
			{dir: 0, flags: saA, seq: 2001, ack: 5001, len: 1280, win: 63, ms: 31, wscale: -1, want: LabelWindowFull},
			{dir: 0, flags: saA, seq: 3281, ack: 5001, len: 100, win: 63, ms: 32, wscale: -1},
		}},
		{"no window full while scaling is unknown", []saStep{
			{dir: 1, flags: saA, seq: 5001, ack: 1001, win: 10, wscale: -1},
			{dir: 0, flags: saA, seq: 1001, ack: 5001, len: 10, win: 63, ms: 1, wscale: -1},
		}},
		{"new ISN starts over", saJoin(saHandshake(8000), []saStep{
			{dir: 0, flags: saA, seq: 1001, ack: 5001, len: 100, win: 8000, ms: 30, wscale: -1},
			{dir: 0, flags: saS, seq: 90000, win: 8000, ms: 5000, wscale: -1},
			{dir: 1, flags: saSA, seq: 70000, ack: 90001, win: 8000, ms: 5010, wscale: -1},
			{dir: 0, flags: saA, seq: 90001, ack: 70001, win: 8000, ms: 5020, wscale: -1},
		})},
	}
	// Cross-check the expectations with tshark when it is installed
	// (always under CI, not with -short otherwise).
	tshark, _ := exec.LookPath("tshark")
	if testing.Short() && os.Getenv("CI") != "true" {
		tshark = ""
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tshark != "" {
				saCheckWithTshark(t, tshark, tc.steps)
			}
			var a SeqAnalysis
			for i, st := range tc.steps {
				seg := saSeg(i, st)
				got := a.Observe(st.dir, &seg)
				if got.Labels != st.want {
					t.Errorf("packet %d: labels %q, want %q", i+1, got.Labels, st.want)
				}
				if st.want&LabelDupACK != 0 && (got.DupACKOf != st.dupOf || got.DupACKNum != st.dupNum) {
					t.Errorf("packet %d: dup ACK %d#%d, want %d#%d", i+1, got.DupACKOf, got.DupACKNum, st.dupOf, st.dupNum)
				}
			}
		})
	}
}

// saCheckWithTshark writes the steps to a pcap and checks that tshark
// gives each packet the labels the step wants, so that the expectations of
// the unit tests are Wireshark's own.
func saCheckWithTshark(t *testing.T, tshark string, steps []saStep) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "steps.pcap")
	if err := saWritePcap(file, steps); err != nil {
		t.Fatal(err)
	}
	rows, err := saRunTshark(tshark, file)
	if err != nil {
		t.Fatal(err)
	}
	for i, st := range steps {
		row, ok := rows[int64(i+1)]
		if !ok {
			t.Errorf("tshark: packet %d missing", i+1)
			continue
		}
		if row.res.Labels != st.want {
			t.Errorf("tshark labels packet %d [%s], the test wants [%s]", i+1, row.res.Labels, st.want)
		}
		if st.want&LabelDupACK != 0 && (row.res.DupACKOf != st.dupOf || row.res.DupACKNum != st.dupNum) {
			t.Errorf("tshark: packet %d is dup ACK %d#%d, the test wants %d#%d",
				i+1, row.res.DupACKOf, row.res.DupACKNum, st.dupOf, st.dupNum)
		}
	}
}

// saWritePcap writes the steps as Ethernet/IPv4/TCP packets between
// 10.0.0.1:40000 (dir 0) and 10.0.0.2:5001 (dir 1).
func saWritePcap(file string, steps []saStep) error {
	f, err := os.Create(file)
	if err != nil {
		return fmt.Errorf("create pcap: %w", err)
	}
	defer f.Close()
	w := pcapgo.NewWriterNanos(f)
	if err := w.WriteFileHeader(65536, layers.LinkTypeEthernet); err != nil {
		return fmt.Errorf("write pcap header: %w", err)
	}
	ends := [2]struct {
		ip   []byte
		port layers.TCPPort
		mac  []byte
	}{
		{[]byte{10, 0, 0, 1}, 40000, []byte{2, 0, 0, 0, 0, 1}},
		{[]byte{10, 0, 0, 2}, 5001, []byte{2, 0, 0, 0, 0, 2}},
	}
	for i, st := range steps {
		src, dst := ends[st.dir], ends[st.dir^1]
		eth := &layers.Ethernet{SrcMAC: src.mac, DstMAC: dst.mac, EthernetType: layers.EthernetTypeIPv4}
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src.ip, DstIP: dst.ip}
		tcp := &layers.TCP{
			SrcPort: src.port, DstPort: dst.port, Seq: st.seq, Ack: st.ack, Window: st.win,
			FIN: st.flags&capture.FIN != 0, SYN: st.flags&capture.SYN != 0, RST: st.flags&capture.RST != 0,
			PSH: st.flags&capture.PSH != 0, ACK: st.flags&capture.ACK != 0,
		}
		if st.wscale >= 0 {
			tcp.Options = []layers.TCPOption{
				{OptionType: layers.TCPOptionKindNop},
				{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{byte(st.wscale)}},
			}
		}
		if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
			return fmt.Errorf("packet %d: %w", i+1, err)
		}
		buf := gopacket.NewSerializeBuffer()
		opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
		if err := gopacket.SerializeLayers(buf, opts, eth, ip, tcp, gopacket.Payload(make([]byte, st.len))); err != nil {
			return fmt.Errorf("serialize packet %d: %w", i+1, err)
		}
		seg := saSeg(i, st)
		ci := gopacket.CaptureInfo{Timestamp: seg.Time, CaptureLength: len(buf.Bytes()), Length: len(buf.Bytes())}
		if err := w.WritePacket(ci, buf.Bytes()); err != nil {
			return fmt.Errorf("write packet %d: %w", i+1, err)
		}
	}
	return nil
}

func TestSeqAnalysisIgnoresICMPErrors(t *testing.T) {
	var a SeqAnalysis
	steps := saHandshake(8000)
	for i, st := range steps {
		seg := saSeg(i, st)
		a.Observe(st.dir, &seg)
	}
	before := a
	icmp := saSeg(3, saStep{dir: 0, flags: saA, seq: 1, ack: 1, len: 10, win: 0, ms: 30, wscale: -1})
	icmp.Kind = capture.KindICMPError
	if got := a.Observe(0, &icmp); got != (SeqResult{}) {
		t.Errorf("ICMP error labelled %v", got)
	}
	if a != before {
		t.Errorf("ICMP error changed the analysis state")
	}
}

func TestLabelStrings(t *testing.T) {
	tests := []struct {
		r    SeqResult
		want string
		plus string // SeqResult.String
	}{
		{SeqResult{}, "", ""},
		{SeqResult{Labels: LabelRetransmission}, "TCP Retransmission", "TCP Retransmission"},
		{SeqResult{Labels: LabelLostSegment}, "TCP Previous segment not captured", "TCP Previous segment not captured"},
		{SeqResult{Labels: LabelDupACK, DupACKOf: 12, DupACKNum: 3}, "TCP Dup ACK", "TCP Dup ACK 12#3"},
		{
			SeqResult{Labels: LabelZeroWindow | LabelZeroWindowProbeACK},
			"TCP ZeroWindowProbeAck, TCP ZeroWindow", "TCP ZeroWindowProbeAck, TCP ZeroWindow",
		},
		{
			SeqResult{Labels: LabelDupACK | LabelACKedUnseen | LabelZeroWindow, DupACKOf: 7, DupACKNum: 1},
			"TCP ZeroWindow, TCP Dup ACK, TCP ACKed unseen segment",
			"TCP ZeroWindow, TCP Dup ACK 7#1, TCP ACKed unseen segment",
		},
	}
	for _, tc := range tests {
		if got := tc.r.Labels.String(); got != tc.want {
			t.Errorf("Label(%#x).String() = %q, want %q", uint32(tc.r.Labels), got, tc.want)
		}
		if got := tc.r.String(); got != tc.plus {
			t.Errorf("SeqResult%+v.String() = %q, want %q", tc.r, got, tc.plus)
		}
	}
	// Every label has a name.
	for l := Label(1); l <= LabelPortReused; l <<= 1 {
		if l.String() == "" {
			t.Errorf("label %#x has no string", uint32(l))
		}
	}
}

func BenchmarkObserve(b *testing.B) {
	steps := saJoin(saHandshake(8000), []saStep{
		{dir: 0, flags: saA, seq: 1001, ack: 5001, len: 100, win: 8000, ms: 30, wscale: -1},
		{dir: 0, flags: saA, seq: 1201, ack: 5001, len: 100, win: 8000, ms: 31, wscale: -1},
		{dir: 1, flags: saA, seq: 5001, ack: 1101, win: 8000, ms: 40, wscale: -1},
		{dir: 1, flags: saA, seq: 5001, ack: 1101, win: 8000, ms: 41, wscale: -1},
		{dir: 1, flags: saA, seq: 5001, ack: 1101, win: 8000, ms: 42, wscale: -1},
		{dir: 0, flags: saA, seq: 1101, ack: 5001, len: 100, win: 8000, ms: 45, wscale: -1},
	})
	segs := make([]capture.Segment, len(steps))
	for i, st := range steps {
		segs[i] = saSeg(i, st)
	}
	var a SeqAnalysis
	var sink Label
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k := i % len(segs)
		if k == 0 {
			a = SeqAnalysis{}
		}
		sink |= a.Observe(steps[k].dir, &segs[k]).Labels
	}
	_ = sink
}

func TestObserveAllocatesNothing(t *testing.T) {
	steps := saJoin(saHandshake(8000), []saStep{
		{dir: 0, flags: saA, seq: 1001, ack: 5001, len: 100, win: 8000, ms: 30, wscale: -1},
		{dir: 1, flags: saA, seq: 5001, ack: 1101, win: 8000, ms: 40, wscale: -1},
	})
	segs := make([]capture.Segment, len(steps))
	for i, st := range steps {
		segs[i] = saSeg(i, st)
	}
	allocs := testing.AllocsPerRun(100, func() {
		var a SeqAnalysis
		for i := range segs {
			a.Observe(steps[i].dir, &segs[i])
		}
	})
	if allocs != 0 {
		t.Errorf("Observe allocates %.1f times per connection, want 0", allocs)
	}
}

// ---------------------------------------------------------------------------
// Oracle: tshark's tcp.analysis.* flags on the real-world captures.

const saRealWorld = "../../shared/pcaps/realworld"

// saTsharkFields are the tshark columns, in order, after frame.number and
// tcp.stream; the label each sets (0: not a label).
var saTsharkFields = []struct {
	field string
	label Label
}{
	{"tcp.analysis.retransmission", LabelRetransmission},
	{"tcp.analysis.fast_retransmission", LabelFastRetransmission},
	{"tcp.analysis.spurious_retransmission", LabelSpuriousRetransmission},
	{"tcp.analysis.out_of_order", LabelOutOfOrder},
	{"tcp.analysis.lost_segment", LabelLostSegment},
	{"tcp.analysis.ack_lost_segment", LabelACKedUnseen},
	{"tcp.analysis.duplicate_ack", LabelDupACK},
	{"tcp.analysis.zero_window", LabelZeroWindow},
	{"tcp.analysis.zero_window_probe", LabelZeroWindowProbe},
	{"tcp.analysis.zero_window_probe_ack", LabelZeroWindowProbeACK},
	{"tcp.analysis.window_full", LabelWindowFull},
	{"tcp.analysis.window_update", LabelWindowUpdate},
	{"tcp.analysis.keep_alive", LabelKeepAlive},
	{"tcp.analysis.keep_alive_ack", LabelKeepAliveACK},
	{"tcp.analysis.duplicate_ack_frame", 0},
	{"tcp.analysis.duplicate_ack_num", 0},
	{"icmp.type", 0},
	{"icmpv6.type", 0},
}

type saOracleRow struct {
	stream int
	res    SeqResult
	icmp   bool
}

// saRunTshark returns tshark's analysis of every TCP frame of file.
func saRunTshark(tshark, file string) (map[int64]saOracleRow, error) {
	args := []string{"-r", file, "-n", "-Y", "tcp",
		"-o", "tcp.analyze_sequence_numbers:TRUE",
		"-o", "tcp.relative_sequence_numbers:TRUE",
		"-T", "fields", "-E", "separator=/t", "-E", "occurrence=f",
		"-e", "frame.number", "-e", "tcp.stream"}
	for _, f := range saTsharkFields {
		args = append(args, "-e", f.field)
	}
	cmd := exec.Command(tshark, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("tshark -r %s: %w: %s", file, err, stderr.String())
	}
	rows := make(map[int64]saOracleRow)
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "\t")
		if len(cols) != 2+len(saTsharkFields) {
			return nil, fmt.Errorf("tshark -r %s: %d columns in %q", file, len(cols), sc.Text())
		}
		frame, err := strconv.ParseInt(cols[0], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("tshark -r %s: frame number %q: %w", file, cols[0], err)
		}
		var row saOracleRow
		row.stream, _ = strconv.Atoi(cols[1])
		for i, f := range saTsharkFields {
			v := cols[2+i]
			if v == "" {
				continue
			}
			row.res.Labels |= f.label
			switch f.field {
			case "tcp.analysis.duplicate_ack_frame":
				row.res.DupACKOf, _ = strconv.ParseInt(v, 10, 64)
			case "tcp.analysis.duplicate_ack_num":
				n, _ := strconv.ParseUint(v, 10, 32)
				row.res.DupACKNum = uint32(n)
			case "icmp.type", "icmpv6.type":
				row.icmp = true
			}
		}
		// Wireshark adds the plain retransmission expert info to fast and
		// spurious retransmissions as well.
		if row.res.Labels&(LabelFastRetransmission|LabelSpuriousRetransmission) != 0 {
			row.res.Labels &^= LabelRetransmission
		}
		rows[frame] = row
	}
	return rows, sc.Err()
}

// saReadSegments reads the TCP segments of a capture file with
// capture.Open. A damaged file yields the segments before the damage and
// its read error as warn.
func saReadSegments(file string) (segs []capture.Segment, warn, err error) {
	src, err := capture.Open([]string{file}, capture.OpenOptions{})
	if err != nil {
		return nil, nil, fmt.Errorf("open %s: %w", file, err)
	}
	defer src.Close()
	for {
		var seg capture.Segment
		err := src.Next(&seg)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return segs, nil, fmt.Errorf("read %s: %w", file, err)
		}
		if seg.Kind != capture.KindTCP {
			continue
		}
		seg.Data = nil
		segs = append(segs, seg)
	}
	return segs, src.Err(), nil
}

// saConn is one connection of the test's flow grouping: Wireshark's TCP
// conversation (5-tuple, a new one on a SYN with a new ISN).
type saConn struct {
	id      int
	first   netip.AddrPort // sender of dir 0
	baseSet [2]bool
	base    [2]uint32
	sa      SeqAnalysis
}

type saKey struct{ a, b netip.AddrPort }

func saKeyOf(src, dst netip.AddrPort) saKey {
	if src.Compare(dst) > 0 {
		src, dst = dst, src
	}
	return saKey{src, dst}
}

type saAgreement struct {
	packets, agree         int
	labelled, labelledOK   int
	undecoded, streamSplit int
}

func TestSeqAnalysisAgreesWithTshark(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark not installed: skipping the Wireshark oracle comparison")
	}
	if testing.Short() && os.Getenv("CI") != "true" {
		t.Skip("-short: skipping the Wireshark oracle comparison")
	}
	if _, err := os.Stat(saRealWorld); err != nil {
		t.Skipf("real-world captures not found (%v): skipping the Wireshark oracle comparison", err)
	}
	var files []string
	for _, pat := range []string{"*.pcap", "*.pcapng", "*.pcap.gz"} {
		m, _ := filepath.Glob(filepath.Join(saRealWorld, pat))
		files = append(files, m...)
	}
	sort.Strings(files)
	if len(files) == 0 {
		t.Fatalf("no captures in %s", saRealWorld)
	}
	var total saAgreement
	for _, file := range files {
		name := filepath.Base(file)
		rows, err := saRunTshark(tshark, file)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		segs, warn, err := saReadSegments(file)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if warn != nil {
			t.Logf("%s: %v", name, warn)
		}
		got := saCompare(t, name, rows, segs)
		t.Logf("%-45s TCP packets %6d  agree %6d (%.2f%%)  labelled %4d  agree %4d  undecoded %d  stream splits %d",
			name, got.packets, got.agree, saPct(got.agree, got.packets), got.labelled, got.labelledOK, got.undecoded, got.streamSplit)
		total.packets += got.packets
		total.agree += got.agree
		total.labelled += got.labelled
		total.labelledOK += got.labelledOK
		total.undecoded += got.undecoded
		total.streamSplit += got.streamSplit
	}
	all, lab := saPct(total.agree, total.packets), saPct(total.labelledOK, total.labelled)
	t.Logf("TOTAL: %d TCP packets, identical label sets on %d (%.2f%%); labelled by either side %d, identical %d (%.2f%%); undecoded %d",
		total.packets, total.agree, all, total.labelled, total.labelledOK, lab, total.undecoded)
	if total.packets == 0 {
		t.Fatal("no TCP packets compared")
	}
	if all < 95 {
		t.Errorf("agreement with tshark %.2f%% < 95%%", all)
	}
	if lab < 80 {
		t.Errorf("agreement with tshark on labelled packets %.2f%% < 80%%", lab)
	}
}

func saPct(n, d int) float64 {
	if d == 0 {
		return 100
	}
	return 100 * float64(n) / float64(d)
}

// saCompare runs SeqAnalysis over segs, grouped into connections, and
// compares each packet's labels with tshark's row.
func saCompare(t *testing.T, name string, rows map[int64]saOracleRow, segs []capture.Segment) saAgreement {
	var ag saAgreement
	conns := make(map[saKey]*saConn)
	streamMap := make(map[int]int) // our connection id -> tshark stream
	nextID := 0
	decoded := make(map[int64]bool, len(segs))
	for i := range segs {
		seg := &segs[i]
		decoded[seg.Packet] = true
		src, dst := seg.SrcAddrPort(), seg.DstAddrPort()
		key := saKeyOf(src, dst)
		c := conns[key]
		dir := 0
		if c != nil && src != c.first {
			dir = 1
		}
		if c != nil && seg.Flags&(capture.SYN|capture.ACK) == capture.SYN && c.baseSet[dir] && seg.Seq != c.base[dir] {
			c = nil // port reuse: a new conversation
		}
		if c == nil {
			c = &saConn{id: nextID, first: src}
			nextID++
			conns[key] = c
			dir = 0
		}
		if !c.baseSet[dir] {
			c.base[dir] = seg.Seq
			if seg.Flags&capture.SYN == 0 {
				c.base[dir]--
			}
			c.baseSet[dir] = true
		}
		if !c.baseSet[dir^1] && seg.Flags&capture.ACK != 0 {
			c.base[dir^1], c.baseSet[dir^1] = seg.Ack-1, true
		}
		res := c.sa.Observe(dir, seg)

		row, ok := rows[seg.Packet]
		if !ok || row.icmp {
			t.Errorf("%s #%d: decoded as TCP but tshark shows no TCP segment", name, seg.Packet)
			continue
		}
		if s, seen := streamMap[c.id]; !seen {
			streamMap[c.id] = row.stream
		} else if s != row.stream {
			ag.streamSplit++
			t.Logf("%s #%d: grouped with tshark stream %d, tshark says %d", name, seg.Packet, s, row.stream)
		}
		ag.packets++
		want := row.res.Labels
		gotL := res.Labels &^ LabelPortReused
		if want != 0 || gotL != 0 {
			ag.labelled++
		}
		same := gotL == want
		if same && want&LabelDupACK != 0 && (res.DupACKOf != row.res.DupACKOf || res.DupACKNum != row.res.DupACKNum) {
			same = false
		}
		if same {
			ag.agree++
			if want != 0 || gotL != 0 {
				ag.labelledOK++
			}
			continue
		}
		t.Logf("%s #%d (stream %d, %s > %s, flags %#x seq %d ack %d len %d win %d): got [%s], tshark [%s]",
			name, seg.Packet, row.stream, src, dst, uint16(seg.Flags), seg.Seq, seg.Ack, seg.PayloadLen, seg.Window,
			SeqResult{Labels: gotL, DupACKOf: res.DupACKOf, DupACKNum: res.DupACKNum},
			row.res)
	}
	for frame, row := range rows {
		if !row.icmp && !decoded[frame] {
			ag.undecoded++
			if row.res.Labels != 0 {
				t.Logf("%s #%d: tshark labels [%s] on a packet the test decoder skipped", name, frame, row.res)
			}
		}
	}
	return ag
}

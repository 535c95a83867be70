package report

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/tcpwhy/tcpwhy/capture"
	"github.com/tcpwhy/tcpwhy/classify"
	"github.com/tcpwhy/tcpwhy/flows"
)

// FlowPacket is one packet of a flow as the Markdown and HTML reports
// show it: the tcpdump line, and what a ladder diagram needs.
type FlowPacket struct {
	// Packet is the packet number (as `tcpdump -#` numbers it).
	Packet int64
	// Time is the capture timestamp.
	Time time.Time
	// FromClient is set when the client sent it.
	FromClient bool
	// ICMP is set for an ICMP error quoting the flow's segment.
	ICMP bool
	// Flags are the TCP flags (of the quoted segment, for ICMP).
	Flags capture.Flags
	// Seq and Ack are relative to the sender's and the receiver's first
	// sequence number seen (their ISN when the SYNs were captured).
	Seq, Ack uint32
	// Len is the TCP payload length.
	Len int
	// Window is the raw window field.
	Window uint16
	// Line is the tcpdump line (`tcpdump -n -# -tttt`, UTC).
	Line string
	// Labels are Wireshark's analysis labels ("TCP Retransmission").
	Labels string
	// Notes are the verdict annotations of this packet.
	Notes []string
	// Decisive is set for the packets the verdict names as evidence.
	Decisive bool
}

// FlowPackets are the packets of one flow seen by a second pass.
type FlowPackets struct {
	// Packets are the packets kept (failing flows only, at most
	// CollectOptions.MaxPerFlow of them: the first ones and every
	// decisive one).
	Packets []FlowPacket
	// Total counts every packet of the flow.
	Total int
	// ClientIPBytes and ServerIPBytes add up the IP lengths each side
	// sent (Zeek's orig_ip_bytes and resp_ip_bytes).
	ClientIPBytes, ServerIPBytes int64
}

// PacketIndex maps flows (by FlowResult.ID) to their packets. Build it
// with CollectPackets.
type PacketIndex struct {
	byID map[int64]*FlowPackets
}

// Flow returns the packets of the flow with the given ID (nil when the
// index has none).
func (x *PacketIndex) Flow(id int64) *FlowPackets {
	if x == nil {
		return nil
	}
	return x.byID[id]
}

// CollectOptions tune CollectPackets.
type CollectOptions struct {
	// MaxPerFlow caps the packets kept per failing flow (0: 400).
	MaxPerFlow int
	// AllFlows keeps packets of every flow, not only the failing ones.
	AllFlows bool
	// CountsOnly keeps no packet, only the per-flow counts (for the Zeek
	// logs).
	CountsOnly bool
	// Labels are the sequence-analysis labels the analysis found
	// (nil: none are shown). The pass itself runs no flow table.
	Labels *SeqLabels
}

// SeqLabels keeps the sequence-analysis labels of an analysis
// (classify.Options.OnSeq) for a second pass that runs no flow table (the
// annotated text's, CollectPackets):
// 1 MiB in memory, the rest in sorted runs in a temporary file (see
// noteIndex).
type SeqLabels struct {
	idx noteIndex
	buf []byte
}

// NewSeqLabels returns an empty SeqLabels.
func NewSeqLabels() *SeqLabels { return &SeqLabels{} }

// Add keeps the labels of one segment; use it as classify.Options.OnSeq.
func (l *SeqLabels) Add(packet int64, r flows.SeqResult) {
	if r.Labels == 0 {
		return
	}
	l.buf = r.AppendStrings(l.buf[:0])
	addNote(&l.idx, packet, l.buf)
}

// appendLines appends the labels of packet as the annotated text prints
// them ("    ^ [TCP Retransmission]"); packets must come in increasing
// order.
func (l *SeqLabels) appendLines(b []byte, packet int64) []byte {
	l.idx.each(packet, func(text []byte) {
		b = append(b, "    ^ ["...)
		b = append(b, text...)
		b = append(b, "]\n"...)
	})
	return b
}

// of returns the labels of packet ("" for none); packets must come in
// increasing order.
func (l *SeqLabels) of(packet int64) string {
	var s string
	l.idx.each(packet, func(text []byte) { s = string(text) })
	return s
}

type pairKey struct{ a, b netip.AddrPort }

func pairOf(x, y netip.AddrPort) pairKey {
	if x.Compare(y) < 0 {
		return pairKey{x, y}
	}
	return pairKey{y, x}
}

// flowLocator finds the FlowResult a segment belongs to: the flow on the
// same address/port pair whose packet range holds the segment's number.
type flowLocator map[pairKey][]*classify.FlowResult

func newFlowLocator(rs []*classify.FlowResult) flowLocator {
	m := flowLocator{}
	for _, r := range rs {
		k := pairOf(r.Client, r.Server)
		m[k] = append(m[k], r)
	}
	for _, rs := range m {
		slices.SortFunc(rs, func(x, y *classify.FlowResult) int { return cmp.Compare(x.FirstPacket, y.FirstPacket) })
	}
	return m
}

func findFlow(rs []*classify.FlowResult, seg *capture.Segment) *classify.FlowResult {
	for _, r := range rs {
		if seg.Packet >= r.FirstPacket && seg.Packet <= r.LastPacket {
			return r
		}
	}
	return nil
}

type collector struct {
	opt    CollectOptions
	loc    flowLocator
	tp     *TcpdumpPrinter
	idx    *PacketIndex
	keep   map[int64]bool
	decide map[int64]map[int64]bool
	notes  map[int64][]string
	base   map[int64]*[2]uint32
	seen   map[int64]*[2]bool
	buf    []byte
}

// CollectPackets reads src (a fresh pass over the capture the flows rs
// were found in, of which the analysis read count packets) and indexes
// the packets of rs: IP byte counts for every flow and, for failing
// flows, the packets themselves with their tcpdump lines and
// annotations. Its memory follows rs: the packets of other flows are
// only counted (and their tcpdump lines not formatted).
func CollectPackets(src capture.Source, count int64, rs []*classify.FlowResult, o CollectOptions) (*PacketIndex, error) {
	if o.MaxPerFlow <= 0 {
		o.MaxPerFlow = 400
	}
	c := &collector{opt: o, loc: newFlowLocator(rs), idx: &PacketIndex{byID: map[int64]*FlowPackets{}},
		tp:   NewTcpdumpPrinter(TcpdumpOptions{Number: true, Timestamps: TimestampDate, Location: time.UTC}),
		keep: map[int64]bool{}, decide: map[int64]map[int64]bool{}, notes: map[int64][]string{},
		base: map[int64]*[2]uint32{}, seen: map[int64]*[2]bool{}}
	for _, r := range rs {
		c.idx.byID[r.ID] = &FlowPackets{}
		if o.CountsOnly || (!o.AllFlows && !r.Verdict.Failing()) {
			continue
		}
		c.keep[r.ID] = true
		d := map[int64]bool{}
		for _, p := range r.Evidence {
			d[p] = true
		}
		for _, an := range r.Annotations {
			d[an.Packet] = true
			c.notes[an.Packet] = append(c.notes[an.Packet], an.Text)
		}
		c.decide[r.ID] = d
	}
	if o.Labels != nil {
		defer o.Labels.idx.release()
	}
	classify.Analyze(src, classify.Options{Count: count, SegmentsOnly: true, OnSegment: c.segment})
	if err := src.Err(); err != nil {
		return c.idx, fmt.Errorf("second pass: %w", err)
	}
	return c.idx, nil
}

func (c *collector) segment(seg *capture.Segment, _ flows.Update) {
	rs := c.loc[pairOf(seg.SrcAddrPort(), seg.DstAddrPort())]
	if rs == nil {
		return
	}
	if !c.opt.CountsOnly {
		// The printer keeps tcpdump's relative-sequence state per
		// address/port pair: feed it every segment of the pairs kept.
		c.buf = c.tp.AppendLine(c.buf[:0], seg)
	}
	r := findFlow(rs, seg)
	if r == nil {
		return
	}
	fp := c.idx.byID[r.ID]
	fp.Total++
	fromClient := seg.SrcAddrPort() == r.Client
	if seg.Kind == capture.KindTCP {
		if fromClient {
			fp.ClientIPBytes += int64(seg.IPLen)
		} else {
			fp.ServerIPBytes += int64(seg.IPLen)
		}
	}
	if !c.keep[r.ID] {
		return
	}
	dir := 1
	if fromClient {
		dir = 0
	}
	base, seen := c.base[r.ID], c.seen[r.ID]
	if base == nil {
		base, seen = new([2]uint32), new([2]bool)
		c.base[r.ID], c.seen[r.ID] = base, seen
	}
	if seg.Kind == capture.KindTCP && !seen[dir] {
		seen[dir], base[dir] = true, seg.Seq
	}
	// An ICMP error quotes the segment that caused it and travels the
	// other way.
	arrowFromClient := fromClient != (seg.Kind == capture.KindICMPError)
	p := FlowPacket{Packet: seg.Packet, Time: seg.Time, FromClient: arrowFromClient, ICMP: seg.Kind == capture.KindICMPError,
		Flags: seg.Flags, Seq: seg.Seq - base[dir], Ack: seg.Ack, Len: seg.PayloadLen, Window: seg.Window,
		Notes: c.notes[seg.Packet], Decisive: c.decide[r.ID][seg.Packet]}
	if seen[1-dir] && seg.Flags&capture.ACK != 0 {
		p.Ack = seg.Ack - base[1-dir]
	}
	p.Line = string(c.buf)
	if c.opt.Labels != nil {
		p.Labels = c.opt.Labels.of(seg.Packet)
	}
	if len(fp.Packets) < c.opt.MaxPerFlow || p.Decisive {
		fp.Packets = append(fp.Packets, p)
	}
}

// decisive returns the flow's decisive packets, in capture order.
func (fp *FlowPackets) decisive() []FlowPacket {
	if fp == nil {
		return nil
	}
	var out []FlowPacket
	for _, p := range fp.Packets {
		if p.Decisive {
			out = append(out, p)
		}
	}
	return out
}

// ladderPackets picks at most n packets for a ladder diagram: all of
// them when they fit, else the first and last ones and every decisive
// one. gapAfter[i] is the number of packets left out after out[i].
func (fp *FlowPackets) ladderPackets(n int) (out []FlowPacket, gapAfter []int) {
	if fp == nil {
		return nil, nil
	}
	ps := fp.Packets
	pick := make([]bool, len(ps))
	if len(ps) <= n {
		for i := range pick {
			pick[i] = true
		}
	} else {
		head := n / 3
		for i := 0; i < head; i++ {
			pick[i] = true
		}
		for i := len(ps) - head; i < len(ps); i++ {
			pick[i] = true
		}
		for i, p := range ps {
			if p.Decisive {
				pick[i] = true
			}
		}
	}
	for i, p := range ps {
		if !pick[i] {
			if len(gapAfter) > 0 {
				gapAfter[len(gapAfter)-1]++
			}
			continue
		}
		out = append(out, p)
		gapAfter = append(gapAfter, 0)
	}
	// Packets the index never kept (past MaxPerFlow) are a gap too.
	if len(out) > 0 {
		gapAfter[len(gapAfter)-1] += max(fp.Total-len(ps), 0)
	}
	return out, gapAfter
}

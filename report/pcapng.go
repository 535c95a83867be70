package report

import (
	"errors"
	"fmt"
	"io"
	"runtime"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/tcpwhy/tcpwhy/capture"
	"github.com/tcpwhy/tcpwhy/classify"
)

// CommentPrefix starts every packet comment tcpwhy writes, so a display
// filter like `frame.comment contains "tcpwhy"` finds them.
const CommentPrefix = "tcpwhy: "

// PcapngComments are the packet comments AnnotatedPcapng writes, by
// packet number: on the first packet of each failing flow its verdict
// and explanation, and each annotation on its packet. It keeps only the
// comments of the flows handed to Flow, not the flows, and keeps them
// as the annotated text does (1 MiB in memory, the rest in sorted runs
// in a temporary file, merged while the packets are written).
type PcapngComments struct {
	idx noteIndex
	buf []byte
}

// NewPcapngComments returns an empty PcapngComments.
func NewPcapngComments() *PcapngComments { return &PcapngComments{} }

// PcapngCommentsOf collects the comments of every flow of a.
func PcapngCommentsOf(a *classify.Analysis) *PcapngComments {
	c := NewPcapngComments()
	for _, r := range a.Flows {
		c.Flow(r)
	}
	return c
}

// Flow adds the comments of one flow. It keeps nothing of r
// (classify.Options.ReuseResults).
func (c *PcapngComments) Flow(r *classify.FlowResult) {
	if r.Verdict.Failing() {
		c.buf = fmt.Appendf(c.buf[:0], "%sflow %d %s > %s: %s: %s", CommentPrefix, r.ID, r.Client, r.Server, r.Verdict, r.Explanation)
		addNote(&c.idx, r.FirstPacket, c.buf)
	}
	for _, an := range r.Annotations {
		c.buf = append(append(c.buf[:0], CommentPrefix...), an.Text...)
		addNote(&c.idx, an.Packet, c.buf)
	}
}

// comments returns the comments of packet; packets must come in
// increasing order.
func (c *PcapngComments) comments(packet int64) []string {
	var cs []string
	c.idx.each(packet, func(text []byte) { cs = append(cs, string(text)) })
	return cs
}

type ifaceKey struct {
	input int
	link  layers.LinkType
}

// AnnotatedPcapng writes the segments of src (a fresh pass over the
// capture the comments were made from, of which the analysis read
// packets packets) as pcapng, with the comments as packet comments
// (opt_comment), so Wireshark shows the verdicts next to the
// packets. Only the packets tcpwhy decodes are written (TCP segments and
// ICMP errors quoting TCP), so frame numbers can differ from the input's:
// a packet whose number changed says so in a comment. Each input file and
// link type becomes one interface. It reads no more packets than the
// analysis did, and uses up c (one AnnotatedPcapng per PcapngComments).
func AnnotatedPcapng(w io.Writer, src capture.Source, packets int64, c *PcapngComments) error {
	defer c.idx.release()
	var (
		seg    capture.Segment
		ng     *pcapgo.NgWriter
		ifaces = map[ifaceKey]int{}
		frame  int64
	)
	opts := pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{Hardware: runtime.GOARCH, OS: runtime.GOOS,
		Application: "tcpwhy", Comment: "packets annotated with tcpwhy's verdicts (packet comments starting with \"" + CommentPrefix + "\")"}}
	iface := func(k ifaceKey) pcapgo.NgInterface {
		name := fmt.Sprintf("input%d", k.input)
		if ins := src.Info().Inputs; k.input >= 0 && k.input < len(ins) {
			name = ins[k.input].Name
		}
		return pcapgo.NgInterface{Name: name, LinkType: k.link, OS: runtime.GOOS, TimestampResolution: 9}
	}
	for {
		if packets > 0 && src.Info().Packets >= packets {
			break
		}
		err := src.Next(&seg)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read capture: %w", err)
		}
		k := ifaceKey{seg.Input, seg.LinkType}
		id, ok := ifaces[k]
		switch {
		case ng == nil:
			if ng, err = pcapgo.NewNgWriterInterface(w, iface(k), opts); err != nil {
				return fmt.Errorf("write pcapng: %w", err)
			}
			id = 0
			ifaces[k] = id
		case !ok:
			if id, err = ng.AddInterface(iface(k)); err != nil {
				return fmt.Errorf("write pcapng: %w", err)
			}
			ifaces[k] = id
		}
		frame++
		cs := c.comments(seg.Packet)
		if len(cs) > 0 && frame != seg.Packet {
			cs = append(cs, fmt.Sprintf("%spacket %d of the input", CommentPrefix, seg.Packet))
		}
		ci := gopacket.CaptureInfo{Timestamp: seg.Time, CaptureLength: len(seg.Data), Length: max(seg.WireLen, len(seg.Data)), InterfaceIndex: id}
		if err := ng.WritePacketWithOptions(ci, seg.Data, pcapgo.NgPacketOptions{Comments: cs}); err != nil {
			return fmt.Errorf("write pcapng: %w", err)
		}
	}
	if ng == nil {
		// No packet: still a valid file, with one Ethernet interface.
		var err error
		if ng, err = pcapgo.NewNgWriterInterface(w, iface(ifaceKey{0, layers.LinkTypeEthernet}), opts); err != nil {
			return fmt.Errorf("write pcapng: %w", err)
		}
	}
	if err := ng.Flush(); err != nil {
		return fmt.Errorf("write pcapng: %w", err)
	}
	return nil
}

//go:build linux

package lab

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"os"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// wireFlow is what one capture shows of one connection: the lab's own
// independent reading, used to check a scenario's expectations and to
// count retransmissions on the wire.
type wireFlow struct {
	SYNs, SYNACKs  int    // segments with SYN from the client / SYN+ACK from the server
	FirstFIN       string // "client", "server" or "" (no FIN)
	FINs           map[string]bool
	finSeq, finAck map[string]uint32 // per side: sequence number of its FIN, ack it carried
	RSTs           map[string]int    // RSTs per sender
	FirstRST       string            // sender of the first RST
	ICMPErrors     int               // ICMP/ICMPv6 errors quoting a segment of the flow
	Data           map[string]int    // payload bytes per sender (retransmissions included)
	Packets        int
}

// finsCrossed reports whether both sides sent a FIN and neither FIN
// acknowledged the other's: a simultaneous close.
func (w *wireFlow) finsCrossed() bool {
	if !w.FINs["client"] || !w.FINs["server"] {
		return false
	}
	return w.finAck["client"] != w.finSeq["server"]+1 && w.finAck["server"] != w.finSeq["client"]+1
}

type flowKey struct{ client, server netip.AddrPort }

// readWire reads a pcap or pcapng file and collects per-flow facts for the
// given flows (keyed by client and server address).
func readWire(path string, keys []flowKey) (map[flowKey]*wireFlow, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("open capture: %w", err)
	}
	defer f.Close()
	br := bufio.NewReader(f)
	magic, err := br.Peek(4)
	if err != nil {
		return nil, 0, fmt.Errorf("read %s: %w", path, err)
	}
	var src interface {
		ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
	}
	var lt layers.LinkType
	if binary.LittleEndian.Uint32(magic) == 0x0a0d0d0a {
		r, err := pcapgo.NewNgReader(br, pcapgo.DefaultNgReaderOptions)
		if err != nil {
			return nil, 0, fmt.Errorf("read pcapng %s: %w", path, err)
		}
		src, lt = r, r.LinkType()
	} else {
		r, err := pcapgo.NewReader(br)
		if err != nil {
			return nil, 0, fmt.Errorf("read pcap %s: %w", path, err)
		}
		src, lt = r, r.LinkType()
	}
	want := map[flowKey]*wireFlow{}
	for _, k := range keys {
		want[k] = &wireFlow{FINs: map[string]bool{}, finSeq: map[string]uint32{}, finAck: map[string]uint32{},
			RSTs: map[string]int{}, Data: map[string]int{}}
	}
	total := 0
	for {
		data, _, err := src.ReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, 0, fmt.Errorf("read packet %d of %s: %w", total+1, path, err)
		}
		total++
		pkt := gopacket.NewPacket(data, lt, gopacket.Default)
		var srcIP, dstIP netip.Addr
		if ip4, ok := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ok {
			srcIP, _ = netip.AddrFromSlice(ip4.SrcIP.To4())
			dstIP, _ = netip.AddrFromSlice(ip4.DstIP.To4())
		} else if ip6, ok := pkt.Layer(layers.LayerTypeIPv6).(*layers.IPv6); ok {
			srcIP, _ = netip.AddrFromSlice(ip6.SrcIP)
			dstIP, _ = netip.AddrFromSlice(ip6.DstIP)
		} else {
			continue
		}
		if tcp, ok := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP); ok {
			s := netip.AddrPortFrom(srcIP, uint16(tcp.SrcPort))
			d := netip.AddrPortFrom(dstIP, uint16(tcp.DstPort))
			side := "client"
			w := want[flowKey{s, d}]
			if w == nil {
				side = "server"
				w = want[flowKey{d, s}]
			}
			if w == nil {
				continue
			}
			w.Packets++
			switch {
			case tcp.SYN && !tcp.ACK && side == "client":
				w.SYNs++
			case tcp.SYN && tcp.ACK && side == "server":
				w.SYNACKs++
			}
			if tcp.RST {
				w.RSTs[side]++
				if w.FirstRST == "" {
					w.FirstRST = side
				}
			}
			w.Data[side] += len(tcp.Payload)
			if tcp.FIN && !w.FINs[side] {
				w.FINs[side] = true
				w.finSeq[side] = tcp.Seq + uint32(len(tcp.Payload))
				w.finAck[side] = tcp.Ack
				if w.FirstFIN == "" {
					w.FirstFIN = side
				}
			}
			continue
		}
		// ICMP errors: the quoted packet starts with the offending IP header.
		var quoted []byte
		if ic, ok := pkt.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4); ok && ic.TypeCode.Type() == layers.ICMPv4TypeDestinationUnreachable {
			quoted = ic.Payload
		} else if ic, ok := pkt.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6); ok && ic.TypeCode.Type() == layers.ICMPv6TypeDestinationUnreachable {
			if len(ic.Payload) > 4 {
				quoted = ic.Payload[4:] // 4 unused bytes precede the quote
			}
		}
		if k, ok := quotedKey(quoted); ok {
			if w := want[k]; w != nil {
				w.ICMPErrors++
			}
		}
	}
	return want, total, nil
}

// quotedKey extracts the client/server key from the IP+TCP header quoted in
// an ICMP error (sent by the client, so source is the client).
func quotedKey(b []byte) (flowKey, bool) {
	if len(b) < 1 {
		return flowKey{}, false
	}
	switch b[0] >> 4 {
	case 4:
		ihl := int(b[0]&0x0f) * 4
		if len(b) < ihl+4 || b[9] != 6 {
			return flowKey{}, false
		}
		s, _ := netip.AddrFromSlice(b[12:16])
		d, _ := netip.AddrFromSlice(b[16:20])
		return flowKey{netip.AddrPortFrom(s, binary.BigEndian.Uint16(b[ihl:])), netip.AddrPortFrom(d, binary.BigEndian.Uint16(b[ihl+2:]))}, true
	case 6:
		if len(b) < 44 || b[6] != 6 {
			return flowKey{}, false
		}
		s, _ := netip.AddrFromSlice(b[8:24])
		d, _ := netip.AddrFromSlice(b[24:40])
		return flowKey{netip.AddrPortFrom(s, binary.BigEndian.Uint16(b[40:])), netip.AddrPortFrom(d, binary.BigEndian.Uint16(b[42:]))}, true
	}
	return flowKey{}, false
}

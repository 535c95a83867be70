//go:build cgo

package capture

import (
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcap"
)

// This file holds what needs libpcap (cgo): BPF filter compilation, and
// later live capture (OpenLive) beside it.

// dltRawLinux is DLT_RAW as libpcap on Linux numbers it; files carry
// LINKTYPE_RAW (101) instead.
const dltRawLinux = 12

// CompileFilter checks that libpcap can compile expr (for Ethernet
// packets), so that a bad expression can be reported as a usage error
// before any input is read. An empty expression is valid. The error is a
// *FilterError.
func CompileFilter(expr string) error {
	if expr == "" {
		return nil
	}
	_, err := compileBPF(layers.LinkTypeEthernet, maxSnaplen, expr)
	return err
}

// compileBPF compiles expr for link type lt, mapping link-type numbers as
// stored in files to libpcap's DLT numbers.
func compileBPF(lt layers.LinkType, snaplen int, expr string) (*pcap.BPF, error) {
	dlt := lt
	switch lt {
	case layers.LinkTypeRaw, linkTypeRawOpenBS:
		dlt = dltRawLinux
	}
	bpf, err := pcap.NewBPF(dlt, snaplen, expr)
	if err != nil {
		return nil, &FilterError{Expr: expr, LinkType: LinkTypeName(lt), Err: err}
	}
	return bpf, nil
}

// bpfFilter matches packets against a BPF expression, compiled lazily for
// each link type seen.
type bpfFilter struct {
	expr    string
	snaplen int
	progs   map[layers.LinkType]*pcap.BPF
}

func newPacketFilter(expr string, snaplen int) (packetFilter, error) {
	if err := CompileFilter(expr); err != nil {
		return nil, err
	}
	return &bpfFilter{expr: expr, snaplen: snaplen, progs: make(map[layers.LinkType]*pcap.BPF)}, nil
}

func (f *bpfFilter) match(rec *record) (bool, error) {
	prog, ok := f.progs[rec.linkType]
	if !ok {
		var err error
		if prog, err = compileBPF(rec.linkType, f.snaplen, f.expr); err != nil {
			return false, err
		}
		f.progs[rec.linkType] = prog
	}
	ci := gopacket.CaptureInfo{Timestamp: rec.ts, CaptureLength: len(rec.data), Length: rec.wireLen}
	return prog.Matches(ci, rec.data), nil
}

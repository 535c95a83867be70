package capture

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"
)

// This file holds the live-capture types shared by the libpcap
// implementation (live_cgo.go) and its stand-in without cgo
// (live_nocgo.go).

// ErrTick is returned by a live Source's Next when no packet is due: the
// read timed out on a quiet interface, or a while passed under load. Only
// seg.Time is set: the capture clock at the tick (no packet captured
// before it is still to come, as far as the source knows; under load it
// is the last packet's time). Callers let their clocks advance (idle
// flows are decided by capture time), flush their output and call Next
// again. Saved captures never return it.
var ErrTick = errors.New("tick: no packet due")

// DefaultSnaplen is the default snapshot length of a live capture: the
// link, IP (with options or IPv6 extension headers) and full TCP headers,
// and ICMP errors with the headers they quote. The analysis needs no
// payload (its length comes from the IP header). It also keeps libpcap's
// immediate-mode ring (one fixed-size frame per packet, sized by the snap
// length where the MTU is unknown, as on "any") from holding only a few
// dozen packets.
const DefaultSnaplen = 256

// MaxSnaplen is the largest snapshot length (whole packets, as
// `tcpdump -s 0` takes them).
const MaxSnaplen = maxSnaplen

// LiveOptions configure OpenLive.
type LiveOptions struct {
	// Snaplen is the snapshot length (0: DefaultSnaplen; larger than
	// MaxSnaplen: MaxSnaplen).
	Snaplen int
	// Filter is a BPF expression in tcpdump syntax, run in the kernel.
	Filter string
	// BufferSize is the kernel capture buffer in bytes (0: libpcap's
	// default, 2 MiB).
	BufferSize int
	// Promisc puts the interface in promiscuous mode (off by default:
	// tcpwhy looks at the host's own connections).
	Promisc bool
	// NoChecksums leaves every Segment's Checksum ChecksumUnknown, as
	// OpenOptions.NoChecksums does.
	NoChecksums bool
	// Save, when set, receives every packet that passed the filter as a
	// pcapng stream, written before the packet is decoded and flushed on
	// every tick and on Close. A write error stops the saving, not the
	// capture; it is reported by Err.
	Save io.Writer
}

// LiveStats are libpcap's counters (pcap_stats) for a live capture.
type LiveStats struct {
	// Received counts the packets that passed the filter.
	Received int64
	// KernelDropped counts packets that passed the filter but were
	// dropped because the capture buffer was full.
	KernelDropped int64
	// IfDropped counts packets the interface or its driver dropped.
	IfDropped int64
	// Time is when the counters were read (the capture clock; zero when
	// never).
	Time time.Time
}

// Live is a Source reading an interface. It never returns io.EOF on its
// own (only after Stop, Close or a fatal read error) and returns ErrTick
// when time passes without a packet.
type Live interface {
	Source
	// Stop makes Next return io.EOF within about 100 ms, also on a quiet
	// interface. It may be called from any goroutine, any number of times.
	Stop()
	// Stats returns the latest counters (refreshed about once a second
	// while Next runs, and when the capture stops). It may be called from
	// any goroutine.
	Stats() LiveStats
}

// Interface is a capture device, as `tcpdump -D` lists it.
type Interface struct {
	// Name is the name to pass to -i.
	Name string
	// Description is libpcap's description (often empty on Linux).
	Description string
	// Up, Running and Loopback are the interface's flags.
	Up, Running, Loopback bool
	// Wireless is set for a wireless interface.
	Wireless bool
	// Status is "connected", "disconnected", "not applicable" or "" when
	// unknown.
	Status string
	// Addresses are the interface's addresses with their prefix length
	// (0 when libpcap did not give a netmask).
	Addresses []netip.Prefix
}

// PermissionError means the process may not capture on the interface.
type PermissionError struct {
	// Interface is the interface name.
	Interface string
	// Err is libpcap's complaint.
	Err error
}

// Error says what is missing and how to grant it.
func (e *PermissionError) Error() string {
	return fmt.Sprintf("capturing on %s needs root or CAP_NET_RAW (setcap cap_net_raw+ep $(which tcpwhy)): %v", e.Interface, e.Err)
}

// Unwrap returns the cause.
func (e *PermissionError) Unwrap() error { return e.Err }

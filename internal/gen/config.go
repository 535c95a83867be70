package gen

import (
	"fmt"
	"time"
)

// Kind is the kind of a generated connection; see the package
// documentation for what each kind looks like on the wire.
type Kind uint8

// Connection kinds.
const (
	// KindClientClose is a normal connection closed by the client.
	KindClientClose Kind = iota
	// KindServerClose is a normal connection closed by the server.
	KindServerClose
	// KindRetransmit is a client-close connection with one retransmitted
	// server data segment.
	KindRetransmit
	// KindRefused is a SYN answered by a passive RST (nothing listens).
	KindRefused
	// KindSYNRetransmit is a connection whose first SYNs went unanswered.
	KindSYNRetransmit
	// KindSYNTimeout is a SYN retransmitted until the client gave up.
	KindSYNTimeout
	// KindMidstreamRST is an idle connection whose next request is
	// answered by a passive RST (the server forgot it).
	KindMidstreamRST
	// KindOverflowDrop is an accept-queue overflow with
	// tcp_abort_on_overflow=0 that recovers after SYN-ACK retransmits.
	KindOverflowDrop
	// KindOverflowReset is an accept-queue overflow with
	// tcp_abort_on_overflow=1: a RST right after the handshake ACK.
	KindOverflowReset
	// KindEarlyClose is a server closing with unread request data, which
	// makes its kernel send an active RST.
	KindEarlyClose

	// NumKinds is the number of connection kinds.
	NumKinds
)

var kindNames = [NumKinds]string{
	"client-close", "server-close", "retransmit", "refused", "syn-retransmit",
	"syn-timeout", "midstream-rst", "overflow-drop", "overflow-reset", "early-close",
}

var kindVerdicts = [NumKinds]string{
	"graceful-close", "graceful-close", "graceful-close", "no-listener", "graceful-close",
	"syn-timeout", "no-socket", "overflow", "overflow", "early-close",
}

// String returns the kind's name, e.g. "syn-timeout".
func (k Kind) String() string {
	if k < NumKinds {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Verdict returns the tcpwhy verdict (see DOMAIN.md) that a connection of
// this kind should get.
func (k Kind) Verdict() string {
	if k < NumKinds {
		return kindVerdicts[k]
	}
	return ""
}

// Mix gives the relative weight of each connection kind. Weights need not
// sum to one; an all-zero Mix means DefaultMix.
type Mix [NumKinds]float64

// DefaultMix returns the default connection mix: about 90% normal
// connections (client close, server close, some with a retransmission) and
// 10% failures of every kind.
func DefaultMix() Mix {
	var m Mix
	m[KindClientClose] = 0.55
	m[KindServerClose] = 0.30
	m[KindRetransmit] = 0.05
	m[KindRefused] = 0.02
	m[KindSYNRetransmit] = 0.02
	m[KindSYNTimeout] = 0.01
	m[KindMidstreamRST] = 0.015
	m[KindOverflowDrop] = 0.01
	m[KindOverflowReset] = 0.005
	m[KindEarlyClose] = 0.015
	return m
}

// Config describes the capture to generate. The zero value of every field
// but Connections and SYNFlood means "use the default" (see DefaultConfig).
type Config struct {
	// Connections is the number of TCP connections.
	Connections int
	// Seed selects the pseudo-random sequence; equal Configs give equal
	// bytes.
	Seed int64
	// IPv6Fraction is the share of connections over IPv6, in [0, 1].
	// Negative means none; 0 means the default (0.1).
	IPv6Fraction float64
	// Start is the timestamp of the first connection's SYN (default
	// 2026-03-02 09:00:00 UTC).
	Start time.Time
	// Rate is the mean number of new connections per second (default
	// 2000); arrivals are a Poisson process.
	Rate float64
	// Mix weighs the connection kinds (default DefaultMix).
	Mix Mix
	// MinRTT and MaxRTT bound the per-connection round-trip time, drawn
	// log-uniformly (default 100 µs and 50 ms).
	MinRTT, MaxRTT time.Duration
	// Clients is the number of client hosts (default Connections/4,
	// at least 1, at most 65000).
	Clients int
	// Servers is the number of server hosts (default 8, at most 250).
	Servers int
	// Snaplen truncates every packet to this many bytes when positive
	// (as `tcpdump -s`); 0 keeps whole packets.
	Snaplen int
	// SYNFlood is the number of distinct spoofed, unanswered SYNs added
	// to the capture.
	SYNFlood int
	// SYNFloodRate is the number of flood SYNs per second (default
	// 100000).
	SYNFloodRate float64
	// PortScan is the number of port-scan probes added: a SYN from one
	// scanner to a distinct closed ip:port, answered by a RST.
	PortScan int
	// PortScanRate is the number of probes per second (default 25000).
	PortScanRate float64
}

// DefaultConfig returns the configuration gencap uses by default: 200 000
// connections, about 5 million packets.
func DefaultConfig() Config {
	c := Config{Connections: 200_000, Seed: 1}
	return c.withDefaults()
}

func (c Config) withDefaults() Config {
	if c.IPv6Fraction == 0 {
		c.IPv6Fraction = 0.1
	}
	if c.IPv6Fraction < 0 {
		c.IPv6Fraction = 0
	}
	if c.Start.IsZero() {
		c.Start = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	}
	if c.Rate <= 0 {
		c.Rate = 2000
	}
	if c.Mix == (Mix{}) {
		c.Mix = DefaultMix()
	}
	if c.MinRTT <= 0 {
		c.MinRTT = 100 * time.Microsecond
	}
	if c.MaxRTT <= 0 {
		c.MaxRTT = 50 * time.Millisecond
	}
	if c.MaxRTT < c.MinRTT {
		c.MaxRTT = c.MinRTT
	}
	if c.Clients <= 0 {
		c.Clients = c.Connections / 4
	}
	c.Clients = max(1, min(c.Clients, 65000))
	if c.Servers <= 0 {
		c.Servers = 8
	}
	c.Servers = min(c.Servers, 250)
	if c.SYNFloodRate <= 0 {
		c.SYNFloodRate = 100_000
	}
	if c.PortScanRate <= 0 {
		c.PortScanRate = 25_000
	}
	return c
}

func (c Config) validate() error {
	if c.Connections < 0 {
		return fmt.Errorf("negative connection count %d", c.Connections)
	}
	if c.SYNFlood < 0 || c.SYNFlood > 1<<30 {
		return fmt.Errorf("SYN flood size %d out of range [0, 2^30]", c.SYNFlood)
	}
	if c.PortScan < 0 || c.PortScan > maxProbes {
		return fmt.Errorf("port scan size %d out of range [0, %d]", c.PortScan, maxProbes)
	}
	if c.IPv6Fraction > 1 {
		return fmt.Errorf("IPv6 fraction %g above 1", c.IPv6Fraction)
	}
	for k, w := range c.Mix {
		if w < 0 {
			return fmt.Errorf("negative weight %g for kind %s", w, Kind(k))
		}
	}
	if c.Snaplen < 0 {
		return fmt.Errorf("negative snaplen %d", c.Snaplen)
	}
	if c.Start.Unix() < 0 || c.Start.Unix() > 1<<32-1-1e6 {
		return fmt.Errorf("start time %s does not fit a pcap timestamp", c.Start)
	}
	return nil
}

// Stats describes a generated capture.
type Stats struct {
	// Packets is the number of packets written.
	Packets int64
	// Bytes is the number of packet bytes written (captured lengths,
	// without pcap headers).
	Bytes int64
	// Kinds counts the connections of each kind.
	Kinds [NumKinds]int64
	// IPv6 is the number of connections over IPv6.
	IPv6 int64
	// SYNFlood is the number of flood SYNs written.
	SYNFlood int64
	// PortScan is the number of port-scan probes written.
	PortScan int64
	// ConcurrentMax is the largest number of connections open at once
	// (between their first and last packet).
	ConcurrentMax int
	// First and Last are the timestamps of the first and last packet.
	First, Last time.Time
}

// Connections returns the total number of connections.
func (s Stats) Connections() int64 {
	var n int64
	for _, v := range s.Kinds {
		n += v
	}
	return n
}

package capture

import (
	"time"
)

// Source yields decoded segments. It is not safe for concurrent use.
type Source interface {
	// Next fills seg with the next TCP segment or ICMP error quoting a
	// TCP header, overwriting all of it (the caller need not zero it).
	// It returns io.EOF when every input is exhausted. A broken input
	// does not stop the others: its error is recorded (see Err) and Next
	// goes on with the remaining inputs.
	Next(seg *Segment) error
	// Info describes what was read so far.
	Info() Info
	// Err returns the errors of broken inputs (nil when all were read
	// cleanly), each a *ReadError, joined with errors.Join.
	Err() error
	// Close releases the inputs.
	Close() error
}

// Limited is a Source that can stop by itself after a number of packets,
// as both of this package's sources can. Counting in the source is exact
// and cheap: Next skips packets that are not TCP segments, so a count
// checked between calls to Next can pass the limit, and Info copies the
// per-input details at every call.
type Limited interface {
	Source
	// LimitPackets makes Next return io.EOF once n packets were read:
	// every packet that passed the filter, TCP or not, as `tcpdump -c n`
	// counts them. n <= 0 removes the limit.
	LimitPackets(n int64)
}

// InputInfo describes one input file or interface.
type InputInfo struct {
	// Name is the file name as given ("-" for standard input) or the
	// interface name.
	Name string
	// Format is "pcap", "pcapng" or "live".
	Format string
	// Compressed is set for a gzip-compressed file.
	Compressed bool
	// Nanosecond is set when timestamps have nanosecond resolution.
	Nanosecond bool
	// LinkTypes are the link types of the input's interfaces, as libpcap
	// names them (e.g. "EN10MB", "LINUX_SLL2").
	LinkTypes []string
	// Snaplen is the snapshot length.
	Snaplen int
	// Packets is the number of packets read from this input.
	Packets int64
}

// Info counts what a Source has read.
type Info struct {
	// Inputs describes each input.
	Inputs []InputInfo
	// Packets is the number of packets read (that passed the filter).
	Packets int64
	// TCP is the number of TCP segments decoded.
	TCP int64
	// ICMPErrors is the number of ICMP errors quoting a TCP header.
	ICMPErrors int64
	// Fragments is the number of IP fragments skipped.
	Fragments int64
	// Other is the number of packets that were neither (skipped).
	Other int64
	// BadChecksums is the number of TCP segments whose checksum is wrong.
	BadChecksums int64
	// Truncated is the number of TCP segments cut by the snap length.
	Truncated int64
	// First and Last are the timestamps of the first and last packet.
	First, Last time.Time
	// Dropped is the number of packets the kernel or interface dropped
	// (live capture only), -1 when unknown.
	Dropped int64
}

// count records a decoded packet in the counters and reports whether it
// is delivered to the caller (a TCP segment or an ICMP error).
func (info *Info) count(res result, seg *Segment) bool {
	switch res {
	case resultTCP:
		info.TCP++
		if seg.Checksum == ChecksumBad {
			info.BadChecksums++
		}
		if seg.HeaderTruncated || seg.PayloadInferred {
			info.Truncated++
		}
		return true
	case resultICMP:
		info.ICMPErrors++
		return true
	case resultFragment:
		info.Fragments++
	default:
		info.Other++
	}
	return false
}

package capture

import (
	"testing"
	"unsafe"
)

// TestSegmentLayout checks what Segment's field order promises: a whole
// number of cache lines, and the fields the flow table reads for every
// segment within the first two.
func TestSegmentLayout(t *testing.T) {
	var s Segment
	if n := unsafe.Sizeof(s); n%64 != 0 {
		t.Errorf("Segment is %d bytes, not a whole number of 64-byte lines", n)
	}
	hot := map[string]uintptr{
		"Packet": unsafe.Offsetof(s.Packet) + unsafe.Sizeof(s.Packet), "Time": unsafe.Offsetof(s.Time) + unsafe.Sizeof(s.Time),
		"Src": unsafe.Offsetof(s.Src) + unsafe.Sizeof(s.Src), "Dst": unsafe.Offsetof(s.Dst) + unsafe.Sizeof(s.Dst),
		"DstPort": unsafe.Offsetof(s.DstPort) + 2, "Seq": unsafe.Offsetof(s.Ack) + 4, "Flags": unsafe.Offsetof(s.Window) + 2,
		"PayloadLen": unsafe.Offsetof(s.PayloadLen) + 8, "Kind": unsafe.Offsetof(s.Kind) + 1, "TTL": unsafe.Offsetof(s.TTL) + 1,
		"Checksum": unsafe.Offsetof(s.Checksum) + 1, "IPID": unsafe.Offsetof(s.IPID) + 2,
		"PayloadInferred": unsafe.Offsetof(s.PayloadInferred) + 1, "HeaderTruncated": unsafe.Offsetof(s.HeaderTruncated) + 1,
		"Opt.TSEcr": unsafe.Offsetof(s.Opt) + unsafe.Offsetof(s.Opt.TSEcr) + 4,
	}
	for name, end := range hot {
		if end > 128 {
			t.Errorf("%s ends at byte %d, beyond the first two cache lines", name, end)
		}
	}
}

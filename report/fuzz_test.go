package report

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/tcpwhy/tcpwhy/capture"
)

// FuzzPrintWithoutPayload writes a one-packet capture of a fuzzed frame
// (an Ethernet frame cut to a fuzzed captured length), reads it whole and
// with capture.OpenOptions.NoPayload, as the print-only passes do, and
// checks that the printed lines are the same, and that printing with -v
// the frame read whole does not panic either.
func FuzzPrintWithoutPayload(f *testing.F) {
	for _, pkts := range fixtures() {
		for _, p := range pkts {
			fr := p.frame()
			f.Add(fr.data, uint16(fr.wireLen))
		}
	}
	dir := f.TempDir()
	opts := []TcpdumpOptions{{Location: time.UTC}, {Verbose: 1, Location: time.UTC}}
	f.Fuzz(func(t *testing.T, frame []byte, wire uint16) {
		if len(frame) > 4096 {
			return
		}
		b, err := pcapBytes(layers.LinkTypeEthernet, []pcapPacket{{data: frame, wireLen: max(int(wire), len(frame))}})
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "frame.pcap")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		whole := readSegmentsWith(t, path, capture.OpenOptions{NoChecksums: true})
		headers := readSegmentsWith(t, path, capture.OpenOptions{NoChecksums: true, NoPayload: true})
		if len(whole) != len(headers) {
			t.Fatalf("%d segments read whole, %d without payload", len(whole), len(headers))
		}
		for i := range whole {
			a := string(NewTcpdumpPrinter(opts[0]).AppendLine(nil, &whole[i]))
			if h := string(NewTcpdumpPrinter(opts[0]).AppendLine(nil, &headers[i])); a != h {
				t.Fatalf("whole:   %s\nheaders: %s", a, h)
			}
			NewTcpdumpPrinter(opts[1]).AppendLine(nil, &whole[i])
		}
	})
}

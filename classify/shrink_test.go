package classify

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/tcpwhy/tcpwhy/capture"
	"github.com/tcpwhy/tcpwhy/flows"
)

// truncatingSource cuts its file to cut bytes right after it delivered
// packet at: the segment's Data then points at pages of the mapping that
// are gone.
type truncatingSource struct {
	capture.Source
	path    string
	at      int64
	cut     int64
	touched bool
}

func (s *truncatingSource) Next(seg *capture.Segment) error {
	err := s.Source.Next(seg)
	if err == nil && !s.touched && seg.Packet >= s.at {
		s.touched = true
		if err := os.Truncate(s.path, s.cut); err != nil {
			panic(err)
		}
	}
	return err
}

// TestTruncatedWhilePrinting truncates a mapped capture between the
// reading of a packet and its printing (OnSegment reads every byte of
// Data), with and without the reading goroutine: the analysis must end
// with a ReadError saying the file shrank, after the packets before the
// cut, instead of crashing on the lost pages (SIGBUS).
func TestTruncatedWhilePrinting(t *testing.T) {
	orig, err := os.ReadFile("../testdata/pcaps/lab/mixed/server.pcap")
	if err != nil {
		t.Fatal(err)
	}
	// The first packet that starts past the third page.
	at, off := int64(0), 24
	for n := int64(1); off+16 <= len(orig); n++ {
		if off >= 3*4096 {
			at = n
			break
		}
		off += 16 + int(binary.LittleEndian.Uint32(orig[off+8:]))
	}
	if binary.LittleEndian.Uint32(orig) != 0xa1b2c3d4 || at == 0 {
		t.Fatal("want a little-endian microsecond pcap longer than three pages")
	}
	// The segments before the cut, read from the untouched file.
	ref, err := capture.Open([]string{"../testdata/pcaps/lab/mixed/server.pcap"}, capture.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var before int64
	for seg := (capture.Segment{}); ref.Next(&seg) == nil && seg.Packet < at; {
		before++
	}
	ref.Close()
	for _, procs := range []int{1, 2} {
		path := filepath.Join(t.TempDir(), "server.pcap")
		if err := os.WriteFile(path, orig, 0o644); err != nil {
			t.Fatal(err)
		}
		inner, err := capture.Open([]string{path}, capture.OpenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		src := &truncatingSource{Source: inner, path: path, at: at, cut: 100}
		var printed int64
		var sum byte
		old := runtime.GOMAXPROCS(procs)
		a := Analyze(src, Options{OnSegment: func(seg *capture.Segment, _ flows.Update) {
			for _, b := range seg.Data {
				sum += b
			}
			printed++
		}})
		runtime.GOMAXPROCS(old)
		inner.Close()
		var re *capture.ReadError
		if !errors.As(a.Err, &re) || !strings.Contains(a.Err.Error(), "shrank") {
			t.Fatalf("GOMAXPROCS=%d: Err = %v, want a ReadError saying the file shrank", procs, a.Err)
		}
		if printed != before {
			t.Errorf("GOMAXPROCS=%d: %d segments printed, want the %d before the cut", procs, printed, before)
		}
		t.Logf("GOMAXPROCS=%d: cut after packet %d; %d printed; %v", procs, at, printed, a.Err)
	}
}

package capture

import (
	"compress/gzip"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const realworldDir = "/work/shared/pcaps/realworld"

// tcpdumpEthernetTCP are disjoint filters that together match what the
// decoder returns as TCP on Ethernet: tcpdump's "tcp" alone does not look
// behind VLAN tags or MPLS labels, and libpcap's vlan/mpls keywords shift
// offsets for the rest of an expression, so they cannot be or-ed.
var tcpdumpEthernetTCP = []string{"tcp", "vlan and tcp", "vlan and vlan and tcp", "mpls and tcp", "mpls and mpls and tcp"}

func realworldFiles(t *testing.T) []string {
	t.Helper()
	if _, err := os.Stat(realworldDir); err != nil {
		t.Skipf("real-world captures not available: %v", err)
	}
	var files []string
	for _, pat := range []string{"*.pcap", "*.pcapng", "*.pcap.gz"} {
		m, err := filepath.Glob(filepath.Join(realworldDir, pat))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) == 0 {
		t.Skipf("no captures in %s", realworldDir)
	}
	return files
}

// readAll reads every segment of names and returns the source's Info and
// Err.
func readAll(t *testing.T, names []string, opts OpenOptions) ([]Segment, Info, error) {
	t.Helper()
	src, err := Open(names, opts)
	if err != nil {
		t.Fatalf("Open(%v): %v", names, err)
	}
	defer src.Close()
	var segs []Segment
	for {
		var seg Segment
		err := src.Next(&seg)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		seg.Data = append([]byte(nil), seg.Data...)
		segs = append(segs, seg)
	}
	return segs, src.Info(), src.Err()
}

// tcpdumpCount counts the packets tcpdump prints for file and filter.
func tcpdumpCount(t *testing.T, file, filter string) int {
	t.Helper()
	out, err := exec.Command("tcpdump", "-n", "-r", file, filter).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("tcpdump -r %s: %v: %s", file, err, ee.Stderr)
		}
		t.Fatalf("tcpdump -r %s: %v", file, err)
	}
	// Continuation lines (hex dumps, decoded payloads) are indented.
	n := 0
	for line := range strings.Lines(string(out)) {
		if line[0] != ' ' && line[0] != '\t' {
			n++
		}
	}
	return n
}

// gunzipTo writes the decompressed content of gz to a temporary file.
func gunzipTo(t *testing.T, gz string) string {
	t.Helper()
	f, err := os.Open(gz)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), strings.TrimSuffix(filepath.Base(gz), ".gz"))
	w, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(w, zr); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRealWorld(t *testing.T) {
	files := realworldFiles(t)
	_, tcpdumpErr := exec.LookPath("tcpdump")
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			segs, info, err := readAll(t, []string{file}, OpenOptions{})
			if err != nil {
				t.Fatalf("read error: %v", err)
			}
			if got := info.TCP + info.ICMPErrors; got != int64(len(segs)) {
				t.Errorf("TCP %d + ICMP errors %d != %d segments returned", info.TCP, info.ICMPErrors, len(segs))
			}
			if sum := info.TCP + info.ICMPErrors + info.Fragments + info.Other; sum != info.Packets {
				t.Errorf("counts %d+%d+%d+%d do not add up to %d packets", info.TCP, info.ICMPErrors, info.Fragments, info.Other, info.Packets)
			}
			for i, s := range segs {
				if i > 0 && s.Packet <= segs[i-1].Packet {
					t.Fatalf("packet numbers not increasing: %d after %d", s.Packet, segs[i-1].Packet)
				}
			}
			if tcpdumpErr != nil {
				t.Skipf("tcpdump not installed: %v", tcpdumpErr)
			}
			plain := file
			if strings.HasSuffix(file, ".gz") {
				plain = gunzipTo(t, file)
			}
			if want := tcpdumpCount(t, plain, ""); int64(want) != info.Packets {
				t.Errorf("read %d packets, tcpdump prints %d", info.Packets, want)
			}
			filters := []string{"tcp"}
			if info.Inputs[0].LinkTypes[0] == "EN10MB" {
				filters = tcpdumpEthernetTCP
			}
			want := 0
			for _, f := range filters {
				want += tcpdumpCount(t, plain, f)
			}
			if int64(want) != info.TCP {
				t.Errorf("decoded %d TCP segments, tcpdump matches %d (%+v)", info.TCP, want, info)
			}
			out, err := exec.Command("tcpdump", "-vv", "-n", "-r", plain).Output()
			if err != nil {
				t.Fatalf("tcpdump -vv -r %s: %v", plain, err)
			}
			if want := strings.Count(string(out), "(incorrect ->"); int64(want) != info.BadChecksums {
				t.Errorf("%d bad TCP checksums, tcpdump -vv finds %d", info.BadChecksums, want)
			}
		})
	}
}

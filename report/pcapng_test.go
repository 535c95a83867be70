package report

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tcpwhy/tcpwhy/capture"
	"github.com/tcpwhy/tcpwhy/classify"
)

func writeAnnotated(t *testing.T, path string) (*classify.Analysis, []byte) {
	t.Helper()
	a, _ := analyse(t, path)
	src, err := capture.Open([]string{path}, capture.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var buf bytes.Buffer
	if err := AnnotatedPcapng(&buf, src, a.Capture.Packets, PcapngCommentsOf(a)); err != nil {
		t.Fatal(err)
	}
	return a, buf.Bytes()
}

// TestAnnotatedPcapngReadBack reads the written file with tcpwhy's own
// reader: the same segments, in the same order, at the same times.
func TestAnnotatedPcapngReadBack(t *testing.T) {
	path := labCapture("overflow-abort1")
	_, data := writeAnnotated(t, path)
	out := filepath.Join(t.TempDir(), "annotated.pcapng")
	if err := os.WriteFile(out, data, 0o644); err != nil {
		t.Fatal(err)
	}
	orig, err := capture.Open([]string{path}, capture.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	back, err := capture.Open([]string{out}, capture.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	var s1, s2 capture.Segment
	n := 0
	for orig.Next(&s1) == nil {
		if err := back.Next(&s2); err != nil {
			t.Fatalf("written file ends after %d segments: %v", n, err)
		}
		if !s1.Time.Equal(s2.Time) || s1.Seq != s2.Seq || s1.Flags != s2.Flags || !bytes.Equal(s1.Data, s2.Data) {
			t.Fatalf("segment %d differs: packet %d vs %d", n, s1.Packet, s2.Packet)
		}
		n++
	}
	if back.Next(&s2) == nil {
		t.Errorf("written file has more segments than the input")
	}
	if info := back.Info(); len(info.Inputs) != 1 || info.Inputs[0].Format != "pcapng" {
		t.Errorf("written file read as %+v", info.Inputs)
	}
}

// TestAnnotatedPcapngTshark checks with tshark that every annotated
// packet carries its annotation as a packet comment.
func TestAnnotatedPcapngTshark(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark is not installed")
	}
	for _, name := range []string{"overflow-abort1", "icmp-unreachable", "early-close-server"} {
		t.Run(name, func(t *testing.T) {
			path := labCapture(name)
			a, data := writeAnnotated(t, path)
			out := filepath.Join(t.TempDir(), "annotated.pcapng")
			if err := os.WriteFile(out, data, 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(tshark, "-r", out, "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=|", "-e", "frame.number", "-e", "frame.comment")
			cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
			res, err := cmd.Output()
			if err != nil {
				t.Fatalf("tshark: %v", err)
			}
			// Map the input's packet numbers to the frames tshark shows.
			src, err := capture.Open([]string{path}, capture.OpenOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			frameOf := map[int64]int{}
			var seg capture.Segment
			for frame := 1; src.Next(&seg) == nil; frame++ {
				frameOf[seg.Packet] = frame
			}
			comments := map[int]string{}
			for _, line := range strings.Split(strings.TrimSpace(string(res)), "\n") {
				num, c, _ := strings.Cut(line, "\t")
				n, err := strconv.Atoi(num)
				if err != nil {
					t.Fatalf("tshark line %q", line)
				}
				comments[n] = c
			}
			if len(comments) != len(frameOf) {
				t.Errorf("tshark shows %d frames, the input has %d segments", len(comments), len(frameOf))
			}
			checked := 0
			for _, r := range a.Flows {
				for _, an := range r.Annotations {
					f, ok := frameOf[an.Packet]
					if !ok {
						t.Errorf("annotated packet %d not written", an.Packet)
						continue
					}
					if !strings.Contains(comments[f], CommentPrefix+an.Text) {
						t.Errorf("frame %d (packet %d): comment %q lacks the annotation %q", f, an.Packet, comments[f], an.Text)
					}
					checked++
				}
			}
			if checked == 0 {
				t.Fatal("the capture has no annotated packet: nothing was checked")
			}
			// Packets without an annotation or a flow headline carry no comment.
			for f, c := range comments {
				if c != "" && !strings.HasPrefix(c, CommentPrefix) {
					t.Errorf("frame %d has a foreign comment %q", f, c)
				}
			}
		})
	}
}

// TestAnnotatedPcapngSpilled checks that comments spilled to the
// temporary file in many runs, and handed over in any flow order, give
// the same file as comments kept in memory.
func TestAnnotatedPcapngSpilled(t *testing.T) {
	path := "../testdata/pcaps/lab/mixed/server.pcap"
	a, want := writeAnnotated(t, path)
	old := notesInMemory
	notesInMemory = 64
	defer func() { notesInMemory = old }()
	c := NewPcapngComments()
	for i := len(a.Flows) - 1; i >= 0; i-- { // decided in another order
		c.Flow(a.Flows[i])
	}
	if len(c.idx.runs) < 3 {
		t.Fatalf("%d runs spilled, want several", len(c.idx.runs))
	}
	src, err := capture.Open([]string{path}, capture.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var got bytes.Buffer
	if err := AnnotatedPcapng(&got, src, a.Capture.Packets, c); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want) || !bytes.Contains(want, []byte(CommentPrefix+"flow ")) {
		t.Errorf("spilled comments wrote %d bytes, in memory %d", got.Len(), len(want))
	}
}

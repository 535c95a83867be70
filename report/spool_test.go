package report

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/tcpwhy/tcpwhy/internal/tmpdir"
	"github.com/tcpwhy/tcpwhy/internal/tmpdir/tmpdirtest"
)

// TestSpool writes chunks of every size through a spool that stays in
// memory, moves to its file, and compresses the file past a threshold,
// and checks that it gives back exactly what was written.
func TestSpool(t *testing.T) {
	old, oldPlain := spoolInMemory, spoolPlainOnDisk
	defer func() { spoolInMemory, spoolPlainOnDisk = old, oldPlain }()
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range []struct {
		name       string
		mem        int
		plain      int64
		total      int
		compressed bool
	}{
		{"memory", 1 << 20, 1 << 30, 100_000, false},
		{"file", 1000, 1 << 30, 300_000, false},
		{"compressed", 1000, 50_000, 3_000_000, true},
		{"compressed at once", 0, 0, 200_000, true},
	} {
		spoolInMemory, spoolPlainOnDisk = c.mem, c.plain
		var sp spool
		var want bytes.Buffer
		for want.Len() < c.total {
			// Repetitive records with random numbers, as JSON lines are.
			p := []byte(`{"type":"flow","id":` + string(rune('0'+rng.IntN(10))) + `}` + "\n")
			if rng.IntN(50) == 0 {
				p = make([]byte, rng.IntN(70_000))
				for i := range p {
					p[i] = byte(rng.IntN(256))
				}
			}
			n, err := sp.Write(p)
			if err != nil || n != len(p) {
				t.Fatalf("%s: Write = %d, %v", c.name, n, err)
			}
			want.Write(p)
		}
		// A file in memory (TMPDIR on tmpfs) is compressed at once.
		compressed := c.compressed || (sp.file != nil && tmpdir.InMemory(sp.file))
		if (sp.zw != nil) != compressed || (sp.file != nil) != (c.total > c.mem) {
			t.Errorf("%s: file %v, compressed %v", c.name, sp.file != nil, sp.zw != nil)
		}
		var got bytes.Buffer
		if err := sp.copyTo(&got); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Errorf("%s: got %d bytes back of %d", c.name, got.Len(), want.Len())
		}
	}
}

// TestSpoolInMemoryFS checks that a spool whose temporary file is on
// tmpfs (/dev/shm here; /tmp on many distributions), where its bytes
// cost memory, compresses everything after the part it kept in memory,
// and that a file on disk is not seen as one in memory.
func TestSpoolInMemoryFS(t *testing.T) {
	t.Setenv("TMPDIR", tmpdirtest.MemoryDir(t))
	old := spoolInMemory
	defer func() { spoolInMemory = old }()
	spoolInMemory = 1000
	var sp spool
	line := `{"type":"flow","id":12345,"client":"10.0.0.1:40000","verdict":"graceful-close"}` + "\n"
	want := strings.Repeat(line, 2_000_000/len(line))
	for i := 0; i < len(want); i += len(line) {
		if _, err := sp.Write([]byte(want[i : i+len(line)])); err != nil {
			t.Fatal(err)
		}
	}
	if sp.file == nil || sp.zw == nil || sp.plain > 1000 {
		t.Fatalf("file %v, compressed %v, %d bytes plain; want a file compressed after at most the 1000 bytes kept in memory",
			sp.file != nil, sp.zw != nil, sp.plain)
	}
	if err := sp.bw.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := sp.zw.Flush(); err != nil {
		t.Fatal(err)
	}
	st, err := sp.file.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() > int64(len(want)/10) {
		t.Errorf("the file in memory holds %d bytes for %d spooled, want a tenth at most", st.Size(), len(want))
	}
	var got bytes.Buffer
	if err := sp.copyTo(&got); err != nil {
		t.Fatal(err)
	}
	if got.String() != want {
		t.Errorf("got %d bytes back of %d", got.Len(), len(want))
	}
}

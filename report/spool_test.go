package report

import (
	"bytes"
	"math/rand/v2"
	"testing"
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
		if (sp.zw != nil) != c.compressed || (sp.file != nil) != (c.total > c.mem) {
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

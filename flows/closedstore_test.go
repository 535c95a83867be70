package flows

import (
	"bytes"
	"math/rand/v2"
	"runtime"
	"testing"
)

// TestClosedStoreBlocks allocates, fills and frees arena blocks and
// records at random and checks that no live block is overwritten, that
// freed blocks and records are reused, and that the lists stay linked.
func TestClosedStoreBlocks(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var s closedStore
	var blocks []storedBlock
	var l closedList
	check := func() {
		t.Helper()
		n := 0
		for c := l.head; c != 0; c = s.rec(c).next {
			n++
		}
		if n != len(blocks) {
			t.Fatalf("list holds %d records, want %d", n, len(blocks))
		}
		checkBlocks(t, &s, blocks)
	}
	for round := range 20000 {
		if len(blocks) > 0 && rng.IntN(3) == 0 {
			i := rng.IntN(len(blocks))
			s.unlink(&l, blocks[i].c)
			s.freeRec(blocks[i].c)
			blocks = append(blocks[:i], blocks[i+1:]...)
		} else {
			blocks = append(blocks, storeBlock(t, &s, &l, randomBytes(rng, 1+rng.IntN(maxCodedUnits*arenaUnit))))
		}
		if round%1000 == 0 {
			check()
		}
	}
	check()
	t.Logf("arena %d chunks, %d records, %d live", len(s.arena), s.nrec, len(blocks))
	// About 6,700 blocks live at the end, 2 KiB on average: 13 MB. Without
	// reuse the arena would hold the 13,300 allocated, 27 MB.
	if len(s.arena) > 20 {
		t.Errorf("%d arena chunks of 1 MiB for %d live blocks: freed blocks not reused", len(s.arena), len(blocks))
	}
	if s.nrec > len(blocks)+len(blocks)/2 {
		t.Errorf("%d records made for %d live: freed records not reused", s.nrec, len(blocks))
	}
}

// TestClosedStoreCompactArena codes blocks whose sizes grow over time, as
// the codings of a long capture do, and frees most of the older ones:
// without compactArena the blocks freed at the smaller sizes would stay
// unused while the arena grew. It checks that compaction keeps every live
// block's bytes, that the arena stays within a third over the live
// blocks, and that the store still allocates and frees after it.
func TestClosedStoreCompactArena(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	s := closedStore{mem: new(offHeap)}
	defer s.mem.freeAll()
	var blocks []storedBlock
	var l closedList
	liveBytes := func() int {
		n := 0
		for _, b := range blocks {
			n += units(len(b.want)) * arenaUnit
		}
		return n
	}
	compactions := 0
	for round := range 200000 {
		if len(blocks) >= 20000 || (len(blocks) > 0 && rng.IntN(4) == 0) {
			i := rng.IntN(len(blocks))
			s.unlink(&l, blocks[i].c)
			s.freeRec(blocks[i].c)
			blocks[i] = blocks[len(blocks)-1]
			blocks = blocks[:len(blocks)-1]
		} else {
			// Sizes drift from about 100 to about 500 bytes.
			blocks = append(blocks, storeBlock(t, &s, &l, randomBytes(rng, 100+round/500+rng.IntN(16))))
		}
		if round%1000 == 999 && s.wasteful() {
			s.compactArena()
			compactions++
			checkBlocks(t, &s, blocks)
			if arena, lb := len(s.arena)*arenaChunk, liveBytes(); arena > lb*4/3+arenaChunk {
				t.Fatalf("after compaction the arena holds %d bytes for %d live", arena, lb)
			}
			if runtime.GOOS == "linux" && len(s.mem.mapped) != len(s.arena)+len(s.recs) {
				t.Fatalf("%d chunks mapped for %d arena and %d record chunks", len(s.mem.mapped), len(s.arena), len(s.recs))
			}
		}
	}
	checkBlocks(t, &s, blocks)
	t.Logf("free %d bytes, arena %d chunks, live %d bytes, %d blocks", s.freeBytes, len(s.arena), liveBytes(), len(blocks))
	if compactions == 0 {
		t.Fatal("the arena never became wasteful")
	}
	t.Logf("%d compactions; arena %d chunks for %d live bytes", compactions, len(s.arena), liveBytes())
}

// storedBlock is a record of a closedStore test and the bytes its block
// must hold.
type storedBlock struct {
	c    cref
	want []byte
}

// storeBlock stores want in a new record's block and appends the record
// to l.
func storeBlock(t *testing.T, s *closedStore, l *closedList, want []byte) storedBlock {
	t.Helper()
	c := s.newRec()
	d := s.alloc(len(want))
	if d == 0 {
		t.Fatal("arena full")
	}
	copy(s.block(d, len(want)), want)
	r := s.rec(c)
	r.data, r.dataLen = d, uint16(len(want))
	s.push(l, c)
	return storedBlock{c, want}
}

// checkBlocks checks that each block holds its bytes.
func checkBlocks(t *testing.T, s *closedStore, blocks []storedBlock) {
	t.Helper()
	for _, b := range blocks {
		r := s.rec(b.c)
		if got := s.block(r.data, int(r.dataLen)); !bytes.Equal(got, b.want) {
			t.Fatalf("record %d: block changed", b.c)
		}
	}
}

// randomBytes returns n random bytes.
func randomBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

package report

import (
	"bufio"
	"cmp"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"slices"

	"github.com/klauspost/compress/s2"
	"github.com/tcpwhy/tcpwhy/internal/tmpdir"
)

// notesInMemory is how many bytes of annotations a noteIndex holds in
// memory; beyond it, it sorts them by packet and moves them to its
// temporary file as one run. With 4 MiB, the annotated text of the bench
// capture peaked at 72 MiB, with 1 MiB at 66 MiB, for the same time (the
// text keeps two indexes, whose slices grow by doubling); on 2026-12-06,
// with 1 MiB at 63.4-65.9 MiB and with 256 KiB at 61.6-63.9 MiB (six
// runs each), for the same time: the bench's 26 MB of annotations then
// make about 130 runs, merged with a 16 KiB reader each.
var notesInMemory = 256 << 10

// note is one annotation: its packet and where its text lies in the
// noteIndex's text (no pointers, so a million of them cost the garbage
// collector nothing).
type note struct {
	packet   int64
	off, end uint32
	seq      uint32
}

// noteSize is what a note costs in memory, for the budget.
const noteSize = 24

// noteIndex holds the annotations of a capture's flows, to be printed
// under their packets in packet order. Flows are decided in any order,
// so the annotations come in any order: the index keeps the last ones in
// memory and the earlier ones in an unlinked temporary file as runs
// sorted by packet, and merges the runs while the packets are printed
// (an external merge sort), so that its memory stays within
// notesInMemory plus a small read buffer per run, whatever the capture's
// size.
type noteIndex struct {
	list []note
	text []byte
	next int

	file   *os.File
	size   int64 // bytes written to file
	runs   []*noteRun
	merged bool
	// nextRun is the smallest packet at the head of a run.
	nextRun int64
	// noSpill is set when the temporary file could not be made or
	// written: the annotations stay in memory.
	noSpill bool
	// compress is set when the file is in memory (tmpfs): each run is
	// then an S2 stream of small blocks (notesBlock).
	compress bool
	// err is the first error reading the runs back.
	err error
}

// noteRun is one sorted run in the temporary file, as records of the
// packet number's increase (uvarint), the text's length (uvarint) and
// the text.
type noteRun struct {
	off, size int64
	r         *bufio.Reader
	packet    int64 // packet of the head record; math.MaxInt64 at the end
	text      []byte
}

// addNote adds the annotation text (copied) under packet to x.
func addNote[T string | []byte](x *noteIndex, packet int64, text T) {
	if len(x.text)+len(text) > math.MaxUint32 {
		return // 4 GiB of annotations in memory: the rest are not printed
	}
	off := uint32(len(x.text))
	x.text = append(x.text, text...)
	x.list = append(x.list, note{packet: packet, off: off, end: uint32(len(x.text)), seq: uint32(len(x.list))})
	if len(x.text)+noteSize*len(x.list) >= notesInMemory && !x.noSpill {
		x.spill()
	}
}

func (x *noteIndex) sort() {
	slices.SortFunc(x.list, func(p, q note) int {
		if c := cmp.Compare(p.packet, q.packet); c != 0 {
			return c
		}
		return cmp.Compare(p.seq, q.seq)
	})
}

// spill writes the annotations in memory to the temporary file as a run.
// When the file cannot be made or written, they stay in memory (and the
// ones already written are still read back).
func (x *noteIndex) spill() {
	if x.file == nil {
		f, err := tmpdir.CreateUnlinked("tcpwhy-notes-*")
		if err != nil {
			x.noSpill = true
			return
		}
		x.file = f
		x.compress = tmpdir.InMemory(f)
	}
	x.sort()
	cw := &countingWriter{w: io.NewOffsetWriter(x.file, x.size)}
	var zw *s2.Writer
	var w io.Writer = cw
	if x.compress {
		zw = s2.NewWriter(cw, s2.WriterBlockSize(notesBlock), s2.WriterConcurrency(1))
		w = zw
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	var hdr [2 * binary.MaxVarintLen64]byte
	prev := int64(0)
	for _, e := range x.list {
		h := binary.AppendUvarint(hdr[:0], uint64(e.packet-prev))
		h = binary.AppendUvarint(h, uint64(e.end-e.off))
		bw.Write(h)
		bw.Write(x.text[e.off:e.end])
		prev = e.packet
	}
	err := bw.Flush()
	if zw != nil && err == nil {
		err = zw.Close()
	}
	if err != nil {
		x.noSpill = true
		return
	}
	x.runs = append(x.runs, &noteRun{off: x.size, size: cw.n})
	x.size += cw.n
	x.list, x.text = x.list[:0], x.text[:0]
}

// notesBlock is the block size of a compressed run. Every run is read at
// once in the merge, each with a block's buffers (a 2 M-SYN flood's
// annotated text spills about 1,500 runs), so blocks are small.
const notesBlock = 8 << 10

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// startMerge sorts what is in memory and opens the runs.
func (x *noteIndex) startMerge(packet int64) {
	x.merged = true
	x.sort()
	x.next, _ = slices.BinarySearchFunc(x.list, packet, func(n note, p int64) int { return cmp.Compare(n.packet, p) })
	x.nextRun = math.MaxInt64
	for _, r := range x.runs {
		var src io.Reader = io.NewSectionReader(x.file, r.off, r.size)
		size := 16 << 10
		if x.compress {
			src, size = s2.NewReader(src, s2.ReaderMaxBlockSize(notesBlock)), 4<<10
		}
		r.r = bufio.NewReaderSize(src, size)
		r.packet = 0
		x.advance(r)
		x.nextRun = min(x.nextRun, r.packet)
	}
}

// advance reads the next record of r.
func (x *noteIndex) advance(r *noteRun) {
	d, err := binary.ReadUvarint(r.r)
	if err == io.EOF {
		r.packet = math.MaxInt64
		return
	}
	var n uint64
	if err == nil {
		n, err = binary.ReadUvarint(r.r)
	}
	if err == nil && n > math.MaxUint32 {
		err = fmt.Errorf("annotation of %d bytes", n)
	}
	if err == nil {
		r.text = slices.Grow(r.text[:0], int(n))[:n]
		_, err = io.ReadFull(r.r, r.text)
	}
	if err != nil {
		if x.err == nil {
			x.err = fmt.Errorf("read annotations back from their temporary file: %w", err)
		}
		r.packet = math.MaxInt64
		return
	}
	r.packet += int64(d)
}

// appendFor appends the annotation lines of packet to b. Packets must
// come in increasing order (as a capture's are).
func (x *noteIndex) appendFor(b []byte, packet int64) []byte {
	x.each(packet, func(text []byte) {
		b = append(b, "    ^ "...)
		b = append(b, text...)
		b = append(b, '\n')
	})
	return b
}

// each calls fn with the text of each annotation of packet (valid only
// during the call), in the order they were added. Packets must come in
// increasing order (as a capture's are).
func (x *noteIndex) each(packet int64, fn func(text []byte)) {
	if !x.merged {
		x.startMerge(packet)
	}
	if x.nextRun <= packet {
		// Earlier runs first: among one packet's annotations, the order
		// they were added in.
		x.nextRun = math.MaxInt64
		for _, r := range x.runs {
			for r.packet < packet {
				x.advance(r)
			}
			for r.packet == packet {
				fn(r.text)
				x.advance(r)
			}
			x.nextRun = min(x.nextRun, r.packet)
		}
	}
	for x.next < len(x.list) && x.list[x.next].packet < packet {
		x.next++
	}
	for ; x.next < len(x.list) && x.list[x.next].packet == packet; x.next++ {
		n := x.list[x.next]
		fn(x.text[n.off:n.end])
	}
}

// release closes the temporary file (already unlinked).
func (x *noteIndex) release() {
	if x.file != nil {
		x.file.Close()
		x.file = nil
	}
}

package classify

import (
	"errors"
	"unsafe"

	"github.com/tcpwhy/tcpwhy/capture"
	"github.com/tcpwhy/tcpwhy/internal/prefetch"
)

// errCountReached ends a prefetched input after Options.Count packets.
var errCountReached = errors.New("packet count reached")

// batchSize is how many segments the reading goroutine hands over at once.
// With 512 segments and depth 8 the reader's writes of fresh Segments
// missed the cache, and cost a fifth of the text output's CPU; 128
// measured 8% faster for the text and 3-10% for --json on big.pcap. With
// as many bytes queued (prefetchDepth), 32 and 64 segments measured
// slower and 256 no faster.
const batchSize = 128

// prefetchDepth is how many batches the reading goroutine may queue ahead
// of the flow table. The table's goroutine needs a core of its own: with
// 4 batches queued (80 us of its work) it found the queue empty at one
// batch in ten, and each time, woken by the reader, waited for a core
// behind it (Go runs a goroutine it wakes on the waker's core next):
// 0.25 s runnable and 0.1 s blocked of big.pcap's 1.7 s (go tool trace,
// --trace). With 32 it waits 0.07 s and 0.04 s. Eight interleaved pairs,
// -q: median 1.58 s against 1.80 s; --json, six pairs: 1.73 s against
// 1.86 s; peak RSS 2 MiB more. 64 and 128 measured no faster.
const prefetchDepth = 32

// writeAhead is how many segments ahead of the one it decodes the reader
// asks for the cache lines it will write (see package prefetch): the
// batch comes back from the core that read it. dataAhead is how many bytes
// of the batch's copied packet data it asks for ahead of the copy.
const (
	writeAhead = 4
	dataAhead  = 2048
)

// warmSlotAhead and warmFlowAhead are how many segments ahead of the one
// it adds the flow table asks for a segment's hash-table slot and then
// its flow (flows.Table.WarmSlot, WarmFlow).
const (
	warmSlotAhead = 8
	warmFlowAhead = 4
)

// batchOneCore says whether the one-goroutine analysis reads a capture
// file in batches (newBatchReader); tests turn it off to compare with
// reading a segment at a time.
var batchOneCore = true

// segBatch is a run of decoded segments and, after the last one, the
// error that ended the input (nil when more batches follow).
type segBatch struct {
	segs []capture.Segment
	// data holds copies of the segments' bytes when they are kept.
	data []byte
	err  error
}

// prefetcher reads and decodes a capture in batches. Started with
// newPrefetcher, it does so in its own goroutine, one batch ahead of the
// analysis, so that reading and decoding run on one core while the flow
// table runs on another; with newBatchReader, in the caller's, a batch at
// a time, so that the flow table can look at the segments ahead of the
// one it takes (see ahead). Segments lose their Data (the reader reuses
// its buffer) unless keepData asks for a copy (printing needs them).
type prefetcher struct {
	// What the reading goroutine reads (src, count, full, free) comes
	// first; what the analysis's goroutine writes for every segment it
	// takes (cur, pos) comes after a cache line of padding, so that no
	// line holds both (TestPrefetcherLayout). They shared a line until
	// 2026-12-08, which sent it from one core to the other and back for
	// every segment: -q on two cores took 1.48 s on big.pcap against
	// 1.28 s (docs/performance.md, "The seventeenth session").
	src  capture.Source
	full chan *segBatch
	free chan *segBatch
	// count stops the reading after that many packets (0: no limit).
	count int64
	// inline is set for newBatchReader: next fills cur itself.
	inline bool
	_      [64]byte
	cur    *segBatch
	pos    int
	done   bool
	final  error
}

// release hands a batch the analysis is done with back to the reader.
func (p *prefetcher) release(b *segBatch) { p.free <- b }

func newPrefetcher(src capture.Source, count int64, keepData bool) *prefetcher {
	p := &prefetcher{src: src, count: count, full: make(chan *segBatch, prefetchDepth), free: make(chan *segBatch, prefetchDepth+2)}
	for range prefetchDepth + 2 {
		p.free <- &segBatch{segs: make([]capture.Segment, 0, batchSize)}
	}
	go p.run(keepData)
	return p
}

// newBatchReader returns a prefetcher that reads in the caller's
// goroutine, a batch of segments at a time, without their Data.
func newBatchReader(src capture.Source, count int64) *prefetcher {
	return &prefetcher{src: src, inline: true, count: count, cur: &segBatch{segs: make([]capture.Segment, 0, batchSize)}}
}

func (p *prefetcher) run(keepData bool) {
	for {
		b := <-p.free
		p.fill(b, keepData, true)
		p.full <- b
		if b.err != nil {
			return
		}
	}
}

// fill reads the next batch into b; remote says that b comes back from
// another core, whose cache lines are asked for ahead of the writes.
func (p *prefetcher) fill(b *segBatch, keepData, remote bool) {
	b.segs, b.data, b.err = b.segs[:0], b.data[:0], nil
	all := b.segs[:cap(b.segs)]
	if remote {
		prefetch.Write(unsafe.Pointer(&all[0]), writeAhead*unsafe.Sizeof(all[0]))
	}
	asked := 0 // bytes of b.data's array asked for
	// The source and the count are read from locals, so that the loop
	// reads nothing of p for each segment (see prefetcher's layout).
	src, count := p.src, p.count
	for len(b.segs) < batchSize {
		if i := len(b.segs) + writeAhead; remote && i < len(all) {
			prefetch.Write(unsafe.Pointer(&all[i]), unsafe.Sizeof(all[i]))
		}
		if keepData {
			asked = prefetch.Spare(b.data, asked, dataAhead)
		}
		if count > 0 && src.Info().Packets >= count {
			b.err = errCountReached
			return
		}
		// Next overwrites the whole segment (see capture.Source), so
		// the slot is not zeroed first: that would write its five
		// cache lines twice.
		b.segs = b.segs[:len(b.segs)+1]
		s := &b.segs[len(b.segs)-1]
		if err := src.Next(s); err != nil {
			b.segs = b.segs[:len(b.segs)-1]
			b.err = err
			return
		}
		if keepData {
			// Earlier segments keep pointing into the old array when
			// data grows: it stays valid.
			off := len(b.data)
			b.data = append(b.data, s.Data...)
			s.Data = b.data[off:len(b.data):len(b.data)]
		} else {
			s.Data = nil
		}
	}
}

// ahead returns the segment k after the one next returned last, when it
// is in the same batch; nil otherwise.
func (p *prefetcher) ahead(k int) *capture.Segment {
	if i := p.pos - 1 + k; p.cur != nil && i < len(p.cur.segs) {
		return &p.cur.segs[i]
	}
	return nil
}

// next returns the next segment, valid until the following call; it
// returns the input's final error (io.EOF at a clean end, errCountReached
// after Count packets) once every segment was handed over.
func (p *prefetcher) next() (*capture.Segment, error) {
	for p.cur == nil || p.pos == len(p.cur.segs) {
		if p.done {
			return nil, p.final
		}
		if p.inline {
			// The batch is used up (or the first one is empty): refill it
			// unless the input ended with it.
			if p.cur.err == nil {
				p.fill(p.cur, false, false)
				p.pos = 0
				if len(p.cur.segs) > 0 {
					continue
				}
			}
			p.done, p.final = true, p.cur.err
			p.cur = nil
			return nil, p.final
		}
		if p.cur != nil {
			if p.cur.err != nil {
				p.done, p.final = true, p.cur.err
				p.release(p.cur)
				p.cur = nil
				return nil, p.final
			}
			p.release(p.cur)
		}
		p.cur, p.pos = <-p.full, 0
	}
	p.pos++
	return &p.cur.segs[p.pos-1], nil
}

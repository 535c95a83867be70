package classify

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"math"
	"os"

	"github.com/tcpwhy/tcpwhy/internal/tmpdir"
)

// flowTimes is what the diagnosis needs of every answered or completed
// flow of a listener.
type flowTimes struct {
	// synAck and synAckPkt are the first SYN-ACK's time (Unix ns) and
	// packet number (0: none).
	synAck, synAckPkt int64
	// handshakeDone is when the client completed the handshake (Unix ns,
	// 0: never); waitEnd is the earliest of the server's first response
	// and the close (math.MaxInt64: neither).
	handshakeDone, waitEnd int64
	// overflow is set when the flow's verdict is overflow.
	overflow bool
}

// The flowTimes of a listener are kept as a stream of compact records
// (a listener sees one per answered flow, for the whole capture): a flag
// byte, then zigzag varints of the SYN-ACK's time and packet number as
// deltas from the previous record's (SYN-ACKs come nearly in order), the
// handshake's completion as a delta from the SYN-ACK and the end of the
// wait as a delta from the handshake: 8 to 12 bytes instead of 40. The
// stream is cut in chunks; the chunks of all listeners share an
// in-memory budget (timesInMemory) beyond which full chunks go to an
// unlinked temporary file, read back when the listener is diagnosed.
const (
	ftSynAck    = 1 << iota // synAck or synAckPkt non-zero
	ftHandshake             // handshakeDone non-zero
	ftWaitEnd               // waitEnd not math.MaxInt64
	ftOverflow
)

// maxTimesRecord bounds a record's length: the flags and four varints.
const maxTimesRecord = 1 + 4*binary.MaxVarintLen64

// timesInMemory is how many bytes of encoded flowTimes (of all listeners)
// stay in memory before full chunks go to a temporary file.
var timesInMemory = 1 << 20

// The chunks of a listener start small (most listeners see few flows)
// and double up to timesChunkMax bytes while the budget allows.
const (
	timesChunkMin = 64
	timesChunkMax = 16 << 10
)

// timesCoder is the delta state shared by the encoder and the decoder.
type timesCoder struct{ synAck, synAckPkt int64 }

func zigzag(v int64) uint64   { return uint64(v<<1) ^ uint64(v>>63) }
func unzigzag(u uint64) int64 { return int64(u>>1) ^ -int64(u&1) }

// append appends t's record to b.
func (c *timesCoder) append(b []byte, t *flowTimes) []byte {
	var flags byte
	if t.synAck != 0 || t.synAckPkt != 0 {
		flags |= ftSynAck
	}
	if t.handshakeDone != 0 {
		flags |= ftHandshake
	}
	if t.waitEnd != math.MaxInt64 {
		flags |= ftWaitEnd
	}
	if t.overflow {
		flags |= ftOverflow
	}
	b = append(b, flags)
	if flags&ftSynAck != 0 {
		b = binary.AppendUvarint(b, zigzag(t.synAck-c.synAck))
		b = binary.AppendUvarint(b, zigzag(t.synAckPkt-c.synAckPkt))
		c.synAck, c.synAckPkt = t.synAck, t.synAckPkt
	}
	base := c.synAck
	if flags&ftHandshake != 0 {
		b = binary.AppendUvarint(b, zigzag(t.handshakeDone-base))
		base = t.handshakeDone
	}
	if flags&ftWaitEnd != 0 {
		b = binary.AppendUvarint(b, zigzag(t.waitEnd-base))
	}
	return b
}

// decode decodes the record at the start of b into t and returns the
// rest of b.
func (c *timesCoder) decode(b []byte, t *flowTimes) ([]byte, error) {
	if len(b) == 0 || b[0] >= ftOverflow<<1 {
		return nil, errCorruptTimes
	}
	flags := b[0]
	b = b[1:]
	next := func() int64 {
		u, n := binary.Uvarint(b)
		if n <= 0 {
			b = nil
			return 0
		}
		b = b[n:]
		return unzigzag(u)
	}
	*t = flowTimes{waitEnd: math.MaxInt64, overflow: flags&ftOverflow != 0}
	ok := true
	if flags&ftSynAck != 0 {
		d, p := next(), next()
		ok = b != nil
		c.synAck += d
		c.synAckPkt += p
		t.synAck, t.synAckPkt = c.synAck, c.synAckPkt
	}
	base := c.synAck
	if flags&ftHandshake != 0 {
		t.handshakeDone = base + next()
		ok = ok && b != nil
		base = t.handshakeDone
	}
	if flags&ftWaitEnd != 0 {
		t.waitEnd = base + next()
		ok = ok && b != nil
	}
	if !ok {
		return nil, errCorruptTimes
	}
	return b, nil
}

var errCorruptTimes = fmt.Errorf("read listener times back: corrupt record")

// timesStore is the budget and the temporary file the timesLists of one
// aggregate share.
type timesStore struct {
	// mem counts the bytes of chunk buffers in memory.
	mem  int
	file *os.File
	bw   *bufio.Writer
	// off is the file's length (written and buffered).
	off int64
	err error
	buf []byte
}

// timesChunk is a full chunk: in memory (b) or in the file (off, n).
type timesChunk struct {
	b   []byte
	off int64
	n   int
}

// timesList holds one listener's flowTimes, in the order they were added.
type timesList struct {
	enc  timesCoder
	full []timesChunk
	cur  []byte
}

// add appends t.
func (l *timesList) add(s *timesStore, t *flowTimes) {
	var rec [maxTimesRecord]byte
	r := l.enc.append(rec[:0], t)
	if len(l.cur)+len(r) > cap(l.cur) {
		l.grow(s)
	}
	l.cur = append(l.cur, r...)
}

// grow makes room for a record: it keeps the current chunk in memory and
// starts a larger one while the budget allows, or writes it to the file
// and reuses its buffer.
func (l *timesList) grow(s *timesStore) {
	if cap(l.cur) == 0 {
		l.cur = make([]byte, 0, timesChunkMin)
		s.mem += timesChunkMin
		return
	}
	if s.mem < timesInMemory || !s.spill(l) {
		l.full = append(l.full, timesChunk{b: l.cur})
		size := min(2*cap(l.cur), timesChunkMax)
		l.cur = make([]byte, 0, size)
		s.mem += size
	}
}

// spill writes l's current chunk to the file and empties it; it reports
// false (and keeps the chunk in memory) when the file cannot be written.
func (s *timesStore) spill(l *timesList) bool {
	if s.err != nil {
		return false
	}
	if s.file == nil {
		f, err := tmpdir.CreateUnlinked("tcpwhy-times-*")
		if err != nil {
			s.err = fmt.Errorf("keep listener times in a temporary file: %w", err)
			return false
		}
		s.file, s.bw = f, bufio.NewWriterSize(f, 64<<10)
	}
	if _, err := s.bw.Write(l.cur); err != nil {
		s.err = fmt.Errorf("keep listener times in a temporary file: %w", err)
		return false
	}
	l.full = append(l.full, timesChunk{off: s.off, n: len(l.cur)})
	s.off += int64(len(l.cur))
	l.cur = l.cur[:0]
	return true
}

// each calls fn with every flowTimes of l in the order they were added.
// It stops at the first error reading the file back.
func (l *timesList) each(s *timesStore, fn func(t flowTimes)) error {
	var dec timesCoder
	var t flowTimes
	run := func(b []byte) error {
		for len(b) > 0 {
			var err error
			if b, err = dec.decode(b, &t); err != nil {
				return err
			}
			fn(t)
		}
		return nil
	}
	for _, c := range l.full {
		b := c.b
		if b == nil {
			if err := s.bw.Flush(); err != nil {
				return fmt.Errorf("read listener times back: %w", err)
			}
			if cap(s.buf) < c.n {
				s.buf = make([]byte, max(c.n, timesChunkMax))
			}
			b = s.buf[:c.n]
			if _, err := s.file.ReadAt(b, c.off); err != nil {
				return fmt.Errorf("read listener times back: %w", err)
			}
		}
		if err := run(b); err != nil {
			return err
		}
	}
	return run(l.cur)
}

// close removes the temporary file and reports an error writing it.
func (s *timesStore) close() error {
	if s.file != nil {
		s.file.Close()
		s.file, s.bw = nil, nil
	}
	return s.err
}

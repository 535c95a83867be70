package classify

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/klauspost/compress/s2"
	"github.com/tcpwhy/tcpwhy/internal/tmpdir"
)

// heldInMemory is how many bytes of encoded held flows stay in memory
// before the rest go to a temporary file.
var heldInMemory = 1 << 20

// heldSlack is the room beyond heldInMemory for the record that crosses
// it (a held flow's record is a few hundred bytes).
const heldSlack = 16 << 10

// heldFlows keeps the flows whose verdict may still change (syn-timeout
// flows that the listener diagnosis may turn into overflow) until the
// analysis ends, encoded (a few hundred bytes each instead of a
// FlowResult's few kilobytes with its maps and strings): the first
// heldInMemory bytes in memory, the rest in an unlinked temporary file,
// compressed (S2: a 2 M-SYN flood holds 617 MB of records, 40 MB
// compressed), so that a SYN flood of millions of unanswered attempts
// costs little disk, and no memory.
type heldFlows struct {
	// mem holds the first records, file (through bw) the rest. A record
	// is its length, then appendFlowResult's encoding.
	mem  []byte
	file *os.File
	bw   *s2.Writer
	buf  []byte
	ln   []byte
	n    int
	err  error
}

func (h *heldFlows) add(r *FlowResult) {
	h.n++
	h.buf = appendFlowResult(h.buf[:0], r)
	// The length goes before the record, in a buffer of its own: a local
	// array would escape to the heap through the writer's Write.
	h.ln = binary.AppendUvarint(h.ln[:0], uint64(len(h.buf)))
	ln := h.ln
	if len(h.mem) < heldInMemory || h.err != nil {
		if h.mem == nil {
			// The budget at once: grown by append, its copies would
			// take three times as much memory on the way (a peak of
			// 3.2 MB more for the 1 MiB when big.pcap's syn-timeout
			// flows all end at once). Untouched, it costs no memory.
			h.mem = make([]byte, 0, min(heldInMemory, 4<<20)+heldSlack)
		}
		h.mem = append(append(h.mem, ln...), h.buf...)
		return
	}
	if h.file == nil {
		f, err := tmpdir.CreateUnlinked("tcpwhy-held-*")
		if err != nil {
			h.err = fmt.Errorf("hold flows in a temporary file: %w", err)
			h.mem = append(append(h.mem, ln...), h.buf...)
			return
		}
		h.file, h.bw = f, s2.NewWriter(f, s2.WriterConcurrency(1))
	}
	_, err := h.bw.Write(ln)
	if err == nil {
		_, err = h.bw.Write(h.buf)
	}
	if err != nil {
		h.err = fmt.Errorf("hold flows in a temporary file: %w", err)
		h.mem = append(append(h.mem, ln...), h.buf...)
	}
}

// each hands every held flow to fn in the order they were added (those
// in memory first, then the file's) and releases them. With a spare
// FlowResult, each flow is decoded into it (fn keeps nothing of it);
// with nil, each gets its own. With want, a flow whose ID it reports
// false for is skipped without being decoded.
func (h *heldFlows) each(spare *FlowResult, want func(id int64) bool, fn func(*FlowResult)) error {
	mem := h.mem
	h.mem, h.buf = nil, nil
	intern := map[string]string{}
	for len(mem) > 0 {
		n, k := binary.Uvarint(mem)
		if k <= 0 || n > uint64(len(mem)-k) {
			return errors.Join(h.err, fmt.Errorf("read held flows back: %w", errCorrupt))
		}
		rec := mem[k : k+int(n)]
		mem = mem[k+int(n):]
		if want != nil && !want(heldID(rec)) {
			continue
		}
		r, err := h.decode(spare, rec, intern)
		if err != nil {
			return errors.Join(h.err, fmt.Errorf("read held flows back: %w", err))
		}
		fn(r)
	}
	if h.file == nil {
		return h.err
	}
	defer h.file.Close()
	if err := h.bw.Close(); err != nil {
		return fmt.Errorf("hold flows in a temporary file: %w", err)
	}
	if _, err := h.file.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("hold flows in a temporary file: %w", err)
	}
	br := bufio.NewReaderSize(s2.NewReader(h.file), 256<<10)
	var buf []byte
	for {
		n, err := binary.ReadUvarint(br)
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return errors.Join(h.err, fmt.Errorf("read held flows back: %w", err))
		}
		if n > 1<<30 {
			return errors.Join(h.err, fmt.Errorf("read held flows back: %w", errCorrupt))
		}
		if uint64(cap(buf)) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := io.ReadFull(br, buf); err != nil {
			return errors.Join(h.err, fmt.Errorf("read held flows back: %w", err))
		}
		if want != nil && !want(heldID(buf)) {
			continue
		}
		r, err := h.decode(spare, buf, intern)
		if err != nil {
			return errors.Join(h.err, fmt.Errorf("read held flows back: %w", err))
		}
		fn(r)
	}
	return h.err
}

// heldID returns the ID of the flow a held record encodes (its first
// field), without decoding the rest; 0 for a record too short.
func heldID(b []byte) int64 {
	d := decoder{b: b}
	return d.int()
}

// decode decodes one held record into spare, or into a new FlowResult
// when spare is nil.
func (h *heldFlows) decode(spare *FlowResult, b []byte, intern map[string]string) (*FlowResult, error) {
	if spare == nil {
		return decodeFlowResult(b, intern)
	}
	return spare, decodeFlowResultInto(spare, b, intern)
}

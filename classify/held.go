package classify

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// heldInMemory is how many held flows stay in memory before the rest go
// to a temporary file.
var heldInMemory = 4096

// heldFlows keeps the flows whose verdict may still change (syn-timeout
// flows that the listener diagnosis may turn into overflow) until the
// analysis ends: the first heldInMemory in memory, the rest encoded in an
// unlinked temporary file, so that a SYN flood of millions of unanswered
// attempts costs disk, not memory.
type heldFlows struct {
	mem  []*FlowResult
	file *os.File
	bw   *bufio.Writer
	buf  []byte
	n    int
	err  error
}

func (h *heldFlows) add(r *FlowResult) {
	h.n++
	if len(h.mem) < heldInMemory || h.err != nil {
		h.mem = append(h.mem, r)
		return
	}
	if h.file == nil {
		f, err := os.CreateTemp("", "tcpwhy-held-*")
		if err != nil {
			h.err = fmt.Errorf("hold flows in a temporary file: %w", err)
			h.mem = append(h.mem, r)
			return
		}
		os.Remove(f.Name())
		h.file, h.bw = f, bufio.NewWriterSize(f, 256<<10)
	}
	// A record is its length, then appendFlowResult's encoding.
	h.buf = appendFlowResult(h.buf[:0], r)
	var n [binary.MaxVarintLen64]byte
	_, err := h.bw.Write(n[:binary.PutUvarint(n[:], uint64(len(h.buf)))])
	if err == nil {
		_, err = h.bw.Write(h.buf)
	}
	if err != nil {
		h.err = fmt.Errorf("hold flows in a temporary file: %w", err)
		h.mem = append(h.mem, r)
	}
}

// each hands every held flow to fn in the order they were added (those
// in memory first, then the file's) and releases them.
func (h *heldFlows) each(fn func(*FlowResult)) error {
	for _, r := range h.mem {
		fn(r)
	}
	h.mem = nil
	if h.file == nil {
		return h.err
	}
	defer h.file.Close()
	if err := h.bw.Flush(); err != nil {
		return fmt.Errorf("hold flows in a temporary file: %w", err)
	}
	if _, err := h.file.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("hold flows in a temporary file: %w", err)
	}
	br := bufio.NewReaderSize(h.file, 256<<10)
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
		r, err := decodeFlowResult(buf)
		if err != nil {
			return errors.Join(h.err, fmt.Errorf("read held flows back: %w", err))
		}
		fn(r)
	}
	return h.err
}

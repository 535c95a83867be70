package main

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/tcpwhy/tcpwhy/capture"
)

// isTerminal reports whether w is a terminal: a *os.File whose
// descriptor answers the terminal ioctl (a console handle on Windows).
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progressWanted says whether to draw a progress bar: only when stderr
// is a terminal, every input is a regular file (not standard input, not
// an interface), and the output is not JSON going to the same terminal.
func progressWanted(files []string, format string, stdout, stderr any) bool {
	if !isTerminal(stderr) || len(files) == 0 {
		return false
	}
	if format == "json" && isTerminal(stdout) {
		return false
	}
	for _, name := range files {
		if name == "-" {
			return false
		}
		st, err := os.Stat(name)
		if err != nil || !st.Mode().IsRegular() {
			return false
		}
	}
	return true
}

// inputSize is the number of bytes a pass reads from the files: their
// sizes, and for gzip files the uncompressed size from the gzip trailer
// (ISIZE, modulo 4 GiB: a larger file falls back to its compressed size).
func inputSize(files []string) int64 {
	var total int64
	for _, name := range files {
		st, err := os.Stat(name)
		if err != nil {
			continue
		}
		size := st.Size()
		if f, err := os.Open(name); err == nil {
			var head [2]byte
			var tail [4]byte
			if _, err := f.ReadAt(head[:], 0); err == nil && head == [2]byte{0x1f, 0x8b} && size >= 18 {
				if _, err := f.ReadAt(tail[:], size-4); err == nil {
					if u := int64(binary.LittleEndian.Uint32(tail[:])); u > size {
						size = u
					}
				}
			}
			f.Close()
		}
		total += size
	}
	return total
}

// progressSource draws a progress bar on w while a Source is read. The
// position is estimated from the segments seen (their captured length
// plus a record header), scaled by the share of packets that were not
// TCP, since a Source does not expose its byte offset.
type progressSource struct {
	capture.Source
	w        io.Writer
	total    int64
	bytes    int64
	segments int64
	lastDraw time.Time
	drawn    bool
}

// newProgressSource wraps src; total is the input size in bytes.
func newProgressSource(src capture.Source, total int64, w io.Writer) *progressSource {
	return &progressSource{Source: src, w: w, total: max(total, 1)}
}

// LimitPackets passes -c on to the wrapped source (every file source is
// a capture.Limited).
func (p *progressSource) LimitPackets(n int64) {
	if l, ok := p.Source.(capture.Limited); ok {
		l.LimitPackets(n)
	}
}

// Next reads the next segment and redraws the bar at most ten times a second.
func (p *progressSource) Next(seg *capture.Segment) error {
	err := p.Source.Next(seg)
	if err != nil {
		p.clear()
		return err
	}
	p.segments++
	p.bytes += int64(seg.CapLen) + 16
	if p.segments&1023 == 0 {
		if now := time.Now(); now.Sub(p.lastDraw) >= 100*time.Millisecond {
			p.lastDraw = now
			p.draw(seg.Packet)
		}
	}
	return nil
}

func (p *progressSource) draw(packets int64) {
	done := p.bytes
	if p.segments > 0 && packets > p.segments {
		done = p.bytes * packets / p.segments
	}
	frac := min(float64(done)/float64(p.total), 0.99)
	const width = 30
	n := int(frac * width)
	fmt.Fprintf(p.w, "\r\x1b[Kreading [%s%s] %3.0f%%  %d packets", strings.Repeat("#", n), strings.Repeat(".", width-n), frac*100, packets)
	p.drawn = true
}

// clear erases the bar.
func (p *progressSource) clear() {
	if p.drawn {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.drawn = false
	}
}

// Close erases the bar and closes the source.
func (p *progressSource) Close() error {
	p.clear()
	return p.Source.Close()
}

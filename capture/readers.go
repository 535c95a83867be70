package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
	"unsafe"

	"github.com/gopacket/gopacket/layers"
	"github.com/tcpwhy/tcpwhy/internal/prefetch"
)

// maxSnaplen is libpcap's MAXIMUM_SNAPLEN: no packet record is longer,
// except in files whose header announces a larger snap length.
const maxSnaplen = 262144

// maxRecordLen bounds a record length read from any file header, so that
// a corrupt length cannot make the reader allocate gigabytes.
const maxRecordLen = 16 << 20

// record is one packet as read from a file. data is owned by the reader
// and valid until its next call to next.
type record struct {
	data     []byte
	ts       time.Time
	wireLen  int
	linkType layers.LinkType
	// first is firstLayer(linkType).
	first first
	// offset is where the packet's record or block starts in the
	// (decompressed) file.
	offset int64
}

// packetReader reads the packets of one capture file.
type packetReader interface {
	// next reads the next packet into rec. It returns io.EOF at a clean
	// end of file; any other error leaves rec.offset at the start of the
	// bad record (-1 if unknown).
	next(rec *record) error
	// describe updates the format details of info.
	describe(info *InputInfo)
}

// errShrank is the error of a file that shrank while it was read through
// a mapping.
var errShrank = errors.New("the file shrank while it was read")

// gzipError marks an error of the gzip layer, so it is not mistaken for a
// truncated capture record.
type gzipError struct{ err error }

func (e *gzipError) Error() string {
	if errors.Is(e.err, io.ErrUnexpectedEOF) {
		return "compressed data ends early (truncated gzip file)"
	}
	return "corrupt gzip data: " + e.err.Error()
}
func (e *gzipError) Unwrap() error { return e.err }

// gzipErrReader wraps the errors of a gzip reader, except io.EOF, in a
// gzipError.
type gzipErrReader struct{ r io.Reader }

func (g gzipErrReader) Read(p []byte) (int, error) {
	n, err := g.r.Read(p)
	if err != nil && err != io.EOF {
		err = &gzipError{err}
	}
	return n, err
}

// File format magic numbers as the first four bytes of a file.
var (
	magicPCAPMicroLE = [4]byte{0xd4, 0xc3, 0xb2, 0xa1}
	magicPCAPMicroBE = [4]byte{0xa1, 0xb2, 0xc3, 0xd4}
	magicPCAPNanoLE  = [4]byte{0x4d, 0x3c, 0xb2, 0xa1}
	magicPCAPNanoBE  = [4]byte{0xa1, 0xb2, 0x3c, 0x4d}
	magicPCAPNG      = [4]byte{0x0a, 0x0d, 0x0d, 0x0a}
)

// pcapBufSize is the size of a window's buffer over a file it reads with
// read(2) (compressed, standard input, a pipe, with a BPF filter, or where
// mapping fails). It stays in the CPU's cache while its packets are
// decoded; a pcapng block longer than it grows it.
const pcapBufSize = 256 << 10

// window is a reader's view of its file: the bytes from file offset
// base on, in buf, either a mapped window of the file (mf) or a buffer
// refilled from src. Records are slices of buf and never straddle a move
// of the window or a refill, so readers copy no packet out of it.
type window struct {
	buf []byte // buf[pos:] is not read yet; buf[0] is at file offset base
	pos int
	// base is the file offset of buf[0].
	base int64
	// mf, when set, maps the file's windows into buf; src is then the
	// file, read from only when a mapping fails.
	mf *mappedFile
	// src refills buf.
	src io.Reader
	// srcErr is the error src returned last (io.EOF at its end), kept
	// until the bytes before it are used up.
	srcErr error
	// asked is how far into a mapped buf the reader has asked for the
	// cache lines (askAhead).
	asked int
}

// mappedAhead is how many bytes past the record it returns a mapped
// window's reader asks the processor for (askAhead), once each.
//
// The checksums read every byte of the file; its lines come from
// memory, and the processor's own prefetching left the first loads of
// each payload waiting (capture.sum16 0.32-0.46 s of a one-core -q on
// big.pcap). Asked for 1 KiB ahead, they arrive during the records
// before: sum16 0.22-0.32 s; -q on one core 2.27 -> 2.17 s median (ten
// rounds, order rotated, eight faster); --json one core 2.56 -> 2.53
// s, two cores 1.60 s both, the annotated text 3.34 -> 3.25 s. 4 KiB
// ahead measured slower, 512 bytes and 2 KiB no better. PREFETCHNTA
// (prefetch.Stream) rather than PREFETCHT0: read once, the file should
// not push the flows out of the larger caches (T0 measured 2.19 s). It
// pays without the checksums too (OpenOptions.NoChecksums, tcpwhy -K):
// the records' headers come from memory as their payloads do; -qK on
// one core took 2.01 s asking ahead, 2.22 s not (four rounds rotated).
const mappedAhead = 1024

// askAhead asks for the cache lines of a mapped window up to mappedAhead
// bytes past pos, those not asked for yet. It changes no result.
func (w *window) askAhead() {
	if w.mf == nil {
		return
	}
	to := min(w.pos+mappedAhead, len(w.buf))
	if from := max(w.asked, w.pos); to > from {
		prefetch.Stream(unsafe.Pointer(&w.buf[from]), uintptr(to-from))
		w.asked = to
	}
}

// newWindow returns a window reading r into a buffer.
func newWindow(r io.Reader) window {
	return window{src: r, buf: make([]byte, 0, pcapBufSize)}
}

// newMappedWindow returns a window reading mf's file through mf.
func newMappedWindow(mf *mappedFile) window { return window{src: mf.f, mf: mf} }

// offset is the file offset of the first unread byte.
func (w *window) offset() int64 { return w.base + int64(w.pos) }

// pcapReader reads the classic libpcap format, both byte orders, with
// microsecond or nanosecond timestamps. It allocates nothing per packet
// and copies no packet out of its window.
type pcapReader struct {
	window
	byteOrder

	nano     bool
	snaplen  uint32
	linkType layers.LinkType
	first    first
	maxLen   int
}

// newPCAPReader reads the 24-byte file header of the file w reads.
func newPCAPReader(w window) (*pcapReader, error) {
	p := &pcapReader{window: w}
	return p, p.readHeader()
}

// readHeader reads and checks the file header.
func (p *pcapReader) readHeader() error {
	const hdrLen = 24
	if !p.fill(hdrLen) {
		return p.short("pcap file header", hdrLen)
	}
	h := p.buf[p.pos : p.pos+hdrLen]
	p.pos += hdrLen
	switch [4]byte(h[:4]) {
	case magicPCAPMicroLE:
	case magicPCAPMicroBE:
		p.big = true
	case magicPCAPNanoLE:
		p.nano = true
	case magicPCAPNanoBE:
		p.big, p.nano = true, true
	default:
		return fmt.Errorf("not a pcap file (magic % x)", h[:4])
	}
	if major := p.u16(h[4:6]); major != 2 {
		return fmt.Errorf("unsupported pcap version %d.%d", major, p.u16(h[6:8]))
	}
	p.snaplen = p.u32(h[16:20])
	// The upper bits of the link type field carry FCS information.
	p.linkType = layers.LinkType(p.u32(h[20:24]) & 0xffff)
	p.first = firstLayer(p.linkType)
	p.maxLen = min(max(int(p.snaplen), maxSnaplen), maxRecordLen)
	return nil
}

// fill makes at least n unread bytes available in buf[pos:], refilling
// from src, and reports whether it could.
func (w *window) fill(n int) bool {
	if len(w.buf)-w.pos >= n {
		return true
	}
	if w.mf != nil {
		// The window is read-only: never refilled in place.
		if w.srcErr != nil {
			return false
		}
		if w.slide(n) {
			return len(w.buf)-w.pos >= n
		}
	}
	if w.pos > 0 {
		// Move the unread bytes (part of one record) to the front.
		k := copy(w.buf[:cap(w.buf)], w.buf[w.pos:])
		w.base += int64(w.pos)
		w.buf, w.pos = w.buf[:k], 0
	}
	if cap(w.buf) < n {
		w.buf = append(make([]byte, 0, max(n, 2*cap(w.buf))), w.buf...)
	}
	for empty := 0; len(w.buf) < n && w.srcErr == nil; {
		k, err := w.src.Read(w.buf[len(w.buf):cap(w.buf)])
		w.buf = w.buf[:len(w.buf)+k]
		w.srcErr = err
		if k > 0 {
			empty = 0
		} else if empty++; empty == 100 && err == nil {
			w.srcErr = io.ErrNoProgress // as bufio gives up
		}
	}
	return len(w.buf) >= n
}

// slide moves the mapped window to the first unread byte, with n bytes
// from there when the file has them (srcErr is io.EOF when not, or
// errShrank when the file was found shorter than before on the way).
// When the file cannot be mapped it reports false, having switched w to
// reading the file with read(2) from that byte on.
func (w *window) slide(n int) bool {
	off := w.offset()
	m, start, err := w.mf.window(off, n)
	if err != nil {
		f := w.mf.f
		w.mf = nil
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			w.srcErr = err
		}
		w.buf, w.pos, w.base = make([]byte, 0, pcapBufSize), 0, off
		return false
	}
	w.buf, w.pos, w.base = m, int(off-start), start
	w.asked = 0
	if len(w.buf)-w.pos < n {
		w.srcErr = io.EOF
		if w.mf.shrank {
			// The packets up to the new end are read; its end is not
			// the capture's.
			w.srcErr = errShrank
		}
	}
	return true
}

// short describes why fill could not get n bytes of what: the file ends
// (a truncated record), or the error that stopped the reading.
func (w *window) short(what string, n int) error {
	if w.srcErr != nil && w.srcErr != io.EOF {
		return w.srcErr
	}
	return fmt.Errorf("truncated %s: got %d of %d bytes", what, len(w.buf)-w.pos, n)
}

// byteOrder reads a file's integers in its byte order, big-endian when
// big is set.
type byteOrder struct{ big bool }

func (o byteOrder) u16(b []byte) uint16 {
	if o.big {
		return binary.BigEndian.Uint16(b)
	}
	return binary.LittleEndian.Uint16(b)
}

func (o byteOrder) u32(b []byte) uint32 {
	if o.big {
		return binary.BigEndian.Uint32(b)
	}
	return binary.LittleEndian.Uint32(b)
}

func (o byteOrder) u64(b []byte) uint64 {
	if o.big {
		return binary.BigEndian.Uint64(b)
	}
	return binary.LittleEndian.Uint64(b)
}

func (p *pcapReader) next(rec *record) error {
	const hdrLen = 16
	rec.offset = p.offset()
	if len(p.buf)-p.pos < hdrLen && !p.fill(hdrLen) {
		if p.pos == len(p.buf) && (p.srcErr == nil || p.srcErr == io.EOF) {
			return io.EOF
		}
		return p.short("record header", hdrLen)
	}
	h := p.buf[p.pos : p.pos+hdrLen]
	var sec, frac, capLen, wireLen uint32
	if p.big {
		sec, frac = binary.BigEndian.Uint32(h[0:4]), binary.BigEndian.Uint32(h[4:8])
		capLen, wireLen = binary.BigEndian.Uint32(h[8:12]), binary.BigEndian.Uint32(h[12:16])
	} else {
		sec, frac = binary.LittleEndian.Uint32(h[0:4]), binary.LittleEndian.Uint32(h[4:8])
		capLen, wireLen = binary.LittleEndian.Uint32(h[8:12]), binary.LittleEndian.Uint32(h[12:16])
	}
	if capLen > uint32(p.maxLen) {
		return fmt.Errorf("corrupt record: captured length %d exceeds the maximum %d (snap length %d)", capLen, p.maxLen, p.snaplen)
	}
	end := hdrLen + int(capLen)
	if len(p.buf)-p.pos < end && !p.fill(end) {
		p.pos += hdrLen // so that short counts the data bytes
		err := p.short("packet data", int(capLen))
		p.pos -= hdrLen
		return err
	}
	start, end := p.pos+hdrLen, p.pos+end
	p.pos = end
	p.askAhead()
	ns := int64(frac)
	if !p.nano {
		ns *= 1000
	}
	rec.ts = time.Unix(int64(sec), ns).UTC()
	rec.data = p.buf[start:end:end]
	rec.wireLen = max(int(wireLen), int(capLen))
	rec.linkType = p.linkType
	rec.first = p.first
	return nil
}

func (p *pcapReader) describe(info *InputInfo) {
	info.Format = "pcap"
	info.Nanosecond = p.nano
	info.Snaplen = int(p.snaplen)
	if len(info.LinkTypes) == 0 {
		info.LinkTypes = []string{LinkTypeName(p.linkType)}
	}
}

package capture

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
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

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

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

// pcapBufSize is the size of a pcapReader's buffer over a file it reads
// with read(2) (compressed, standard input, a pipe, or where mapping
// fails). It stays in the CPU's cache while its packets are decoded.
const pcapBufSize = 256 << 10

// pcapReader reads the classic libpcap format, both byte orders, with
// microsecond or nanosecond timestamps. It allocates nothing per packet
// and copies no packet out of its window: records are slices of buf, a
// mapped window of the file (mf) or a buffer refilled from src, records
// never straddling a move of the window or a refill.
type pcapReader struct {
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

	big      bool
	nano     bool
	snaplen  uint32
	linkType layers.LinkType
	first    first
	maxLen   int
}

// newPCAPReader reads the 24-byte file header from r.
func newPCAPReader(r io.Reader) (*pcapReader, error) {
	p := &pcapReader{src: r, buf: make([]byte, 0, pcapBufSize)}
	return p, p.readHeader()
}

// newMappedPCAPReader reads the 24-byte file header from mf's file, which
// it reads through mf's windows.
func newMappedPCAPReader(mf *mappedFile) (*pcapReader, error) {
	p := &pcapReader{src: mf.f, mf: mf}
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
func (p *pcapReader) fill(n int) bool {
	if len(p.buf)-p.pos >= n {
		return true
	}
	if p.mf != nil {
		// The window is read-only: never refilled in place.
		if p.srcErr != nil {
			return false
		}
		if p.slide(n) {
			return len(p.buf)-p.pos >= n
		}
	}
	if p.pos > 0 {
		// Move the unread bytes (part of one record) to the front.
		k := copy(p.buf[:cap(p.buf)], p.buf[p.pos:])
		p.base += int64(p.pos)
		p.buf, p.pos = p.buf[:k], 0
	}
	if cap(p.buf) < n {
		p.buf = append(make([]byte, 0, max(n, 2*cap(p.buf))), p.buf...)
	}
	for empty := 0; len(p.buf) < n && p.srcErr == nil; {
		k, err := p.src.Read(p.buf[len(p.buf):cap(p.buf)])
		p.buf = p.buf[:len(p.buf)+k]
		p.srcErr = err
		if k > 0 {
			empty = 0
		} else if empty++; empty == 100 && err == nil {
			p.srcErr = io.ErrNoProgress // as bufio gives up
		}
	}
	return len(p.buf) >= n
}

// slide moves the mapped window to the first unread byte, with n bytes
// from there when the file has them (p.srcErr is io.EOF when not). When
// the file cannot be mapped it reports false, having switched p to
// reading the file with read(2) from that byte on.
func (p *pcapReader) slide(n int) bool {
	off := p.base + int64(p.pos)
	m, start, err := p.mf.window(off, n)
	if err != nil {
		f := p.mf.f
		p.mf = nil
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			p.srcErr = err
		}
		p.buf, p.pos, p.base = make([]byte, 0, pcapBufSize), 0, off
		return false
	}
	p.buf, p.pos, p.base = m, int(off-start), start
	if len(p.buf)-p.pos < n {
		p.srcErr = io.EOF
	}
	return true
}

// short describes why fill could not get n bytes of what: the file ends
// (a truncated record), or the error that stopped the reading.
func (p *pcapReader) short(what string, n int) error {
	if p.srcErr != nil && p.srcErr != io.EOF {
		return p.srcErr
	}
	return fmt.Errorf("truncated %s: got %d of %d bytes", what, len(p.buf)-p.pos, n)
}

func (p *pcapReader) u16(b []byte) uint16 {
	if p.big {
		return binary.BigEndian.Uint16(b)
	}
	return binary.LittleEndian.Uint16(b)
}

func (p *pcapReader) u32(b []byte) uint32 {
	if p.big {
		return binary.BigEndian.Uint32(b)
	}
	return binary.LittleEndian.Uint32(b)
}

func (p *pcapReader) next(rec *record) error {
	const hdrLen = 16
	rec.offset = p.base + int64(p.pos)
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

// pcapng block types the reader checks before pcapgo reads them.
const (
	ngBlockSHB = 0x0A0D0D0A
	ngBlockPB  = 2
	ngBlockSPB = 3
	ngBlockEPB = 6
)

// ngReader reads pcapng files with pcapgo, checking each block header
// first and tracking byte offsets.
type ngReader struct {
	r      *pcapgo.NgReader
	br     *bufio.Reader
	cr     *countingReader
	big    bool
	nIface int
	ifaces []pcapgo.NgInterface
}

// newNgReader reads the section header. br must read from cr and be at
// least 4096 bytes big, so that pcapgo uses it as it is and the consumed
// byte count is cr.n - br.Buffered().
func newNgReader(br *bufio.Reader, cr *countingReader) (*ngReader, error) {
	n := &ngReader{br: br, cr: cr}
	if err := n.checkBlock(); err != nil {
		return nil, err
	}
	r, err := pcapgo.NewNgReader(br, pcapgo.NgReaderOptions{WantMixedLinkType: true})
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("pcapng section header: %w", err)
	}
	n.r = r
	return n, nil
}

func (n *ngReader) offset() int64 { return n.cr.n - int64(n.br.Buffered()) }

// checkBlock validates the length fields of the next block, which pcapgo
// trusts.
func (n *ngReader) checkBlock() error {
	h, err := n.br.Peek(12)
	if len(h) < 8 {
		if len(h) == 0 && err == io.EOF {
			return nil // clean end: pcapgo reports io.EOF
		}
		if err == io.EOF {
			return fmt.Errorf("truncated block header: got %d of 8 bytes", len(h))
		}
		return err
	}
	if binary.LittleEndian.Uint32(h[0:4]) == ngBlockSHB {
		if len(h) < 12 {
			return fmt.Errorf("truncated section header block")
		}
		switch {
		case binary.BigEndian.Uint32(h[8:12]) == 0x1A2B3C4D:
			n.big = true
		case binary.LittleEndian.Uint32(h[8:12]) == 0x1A2B3C4D:
			n.big = false
		default:
			return fmt.Errorf("bad byte-order magic % x in section header block", h[8:12])
		}
	}
	u32 := binary.LittleEndian.Uint32
	if n.big {
		u32 = binary.BigEndian.Uint32
	}
	typ, length := u32(h[0:4]), u32(h[4:8])
	limit := uint32(maxRecordLen)
	if typ == ngBlockEPB || typ == ngBlockPB || typ == ngBlockSPB {
		limit = maxSnaplen + 65536
	}
	if length < 12 || length%4 != 0 || length > limit {
		return fmt.Errorf("corrupt pcapng block (type 0x%x): bad block length %d", typ, length)
	}
	if typ == ngBlockEPB || typ == ngBlockPB {
		h, _ := n.br.Peek(28)
		if len(h) == 28 {
			if capLen := u32(h[20:24]); capLen > length-32 {
				return fmt.Errorf("corrupt pcapng packet block: captured length %d exceeds block length %d", capLen, length)
			}
		}
	}
	return nil
}

func (n *ngReader) next(rec *record) error {
	rec.offset = n.offset()
	if err := n.checkBlock(); err != nil {
		return err
	}
	data, ci, err := n.r.ZeroCopyReadPacketData()
	if err != nil {
		if err == io.EOF {
			return io.EOF
		}
		if err == io.ErrUnexpectedEOF {
			return fmt.Errorf("truncated pcapng block: %w", err)
		}
		return err
	}
	rec.data = data
	rec.ts = ci.Timestamp
	rec.wireLen = max(ci.Length, len(data))
	rec.linkType = layers.LinkType(0xffff) // unknown until told
	if len(ci.AncillaryData) > 0 {
		if lt, ok := ci.AncillaryData[0].(layers.LinkType); ok {
			rec.linkType = lt
		}
	}
	rec.first = firstLayer(rec.linkType)
	if k := n.r.NInterfaces(); k != n.nIface {
		n.nIface = k
		n.ifaces = n.ifaces[:0]
		for i := range k {
			if iface, err := n.r.Interface(i); err == nil {
				n.ifaces = append(n.ifaces, iface)
			}
		}
	}
	return nil
}

func (n *ngReader) describe(info *InputInfo) {
	info.Format = "pcapng"
	info.LinkTypes = info.LinkTypes[:0]
	info.Nanosecond = false
	for i, iface := range n.ifaces {
		if i == 0 {
			info.Snaplen = int(iface.SnapLength)
		}
		res := iface.TimestampResolution
		if (!res.Binary() && res.Exponent() > 6) || (res.Binary() && res.Exponent() > 20) {
			info.Nanosecond = true
		}
		name := LinkTypeName(iface.LinkType)
		dup := false
		for _, have := range info.LinkTypes {
			dup = dup || have == name
		}
		if !dup {
			info.LinkTypes = append(info.LinkTypes, name)
		}
	}
}

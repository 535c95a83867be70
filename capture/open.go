package capture

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"

	"github.com/tcpwhy/tcpwhy/internal/tmpdir"
)

// OpenOptions configure Open. (The name Options is taken by the TCP
// options of a Segment.)
type OpenOptions struct {
	// Filter is a BPF expression in tcpdump syntax; packets that do not
	// match are skipped and not numbered. Empty passes every packet. A
	// filter needs libpcap (cgo); without it Open fails with ErrNoLibpcap.
	// It is compiled for each link type as packets of that type appear;
	// packets of link types the decoder does not support (see Supported)
	// are skipped when a filter is set.
	Filter string
	// Snaplen, when positive, cuts every packet to that many bytes before
	// filtering and decoding, as if it had been captured with that snap
	// length. It is also the snap length filters are compiled for
	// (262144 when zero).
	Snaplen int
	// Names, when set, gives input i the name Names[i] in Info and in
	// errors (ReadError.File) instead of the path it is opened from: "-"
	// for standard input copied to a temporary file by Spool.
	Names []string
	// NoChecksums leaves every Segment's Checksum ChecksumUnknown instead
	// of verifying the TCP checksum, which reads every payload byte: for
	// a pass that only prints the packets without -v.
	NoChecksums bool
	// NoPayload cuts every TCP segment's Data at the end of its TCP
	// header, CapLen still counting the bytes captured: for a pass that
	// prints the packets without their payload or checksums, whose caller
	// then copies the headers of each frame only (the annotated text's
	// second pass copies the frames it formats on another core).
	NoPayload bool
}

// packetFilter decides which packets pass a BPF filter.
type packetFilter interface {
	// match reports whether rec passes. An error means the filter cannot
	// be compiled for rec's link type.
	match(rec *record) (bool, error)
}

// readBufSize is the buffer size of the readers over each file.
const readBufSize = 64 << 10

// Open opens capture files for reading: pcap (microsecond or nanosecond,
// either byte order) and pcapng (several interfaces, mixed link types),
// each possibly gzip-compressed. The name "-" means standard input.
// Several files are merged in timestamp order (ties go to the earlier
// file) and their packets numbered consecutively.
//
// An uncompressed pcap file is read straight into the reader's window,
// and its packets are not copied out of it (see Segment.Data). A file that
// grows while it is read is read to its end.
//
// Open fails only when a file cannot be opened at all, or for a filter it
// cannot use (*FilterError, ErrNoLibpcap). A file that is not a capture,
// or is damaged, surfaces as a *ReadError from the Source's Err, after
// the packets before the damage were delivered.
func Open(names []string, opts OpenOptions) (Source, error) {
	if len(names) == 0 {
		return nil, errors.New("open: no input files")
	}
	s := &fileSource{dec: newDecoder(), snaplen: opts.Snaplen}
	s.dec.noChecksums = opts.NoChecksums
	s.noPayload = opts.NoPayload
	s.info.Dropped = -1
	if opts.Filter != "" {
		snap := opts.Snaplen
		if snap <= 0 {
			snap = maxSnaplen
		}
		f, err := newPacketFilter(opts.Filter, snap)
		if err != nil {
			return nil, err
		}
		s.filter = f
	}
	for i, name := range names {
		in := &input{idx: i, info: InputInfo{Name: name}}
		if i < len(opts.Names) {
			in.info.Name = opts.Names[i]
		}
		var f io.ReadCloser
		var file *os.File
		if name == "-" {
			f = io.NopCloser(os.Stdin)
		} else {
			var err error
			if file, err = os.Open(name); err != nil {
				s.Close()
				return nil, err
			}
			f = file
		}
		in.closer = f
		s.inputs = append(s.inputs, in)
		if err := in.start(f, file, s.filter == nil); err != nil {
			s.fail(in, 0, err)
		}
		s.mapped = s.mapped || in.mapped
	}
	return s, nil
}

// Spool copies r (standard input, a pipe, a device) to a temporary file,
// for callers that must read their input twice or whose input can be
// opened only once. cleanup removes the file. Open the file with
// OpenOptions.Names set, so that the input keeps its own name. On Linux
// the file is unlinked as soon as it is made and path names it through
// /proc/self/fd (each open of it reads from the start), so that a
// tcpwhy stopped on the way (Ctrl-C) leaves no copy behind.
func Spool(r io.Reader) (path string, cleanup func(), err error) {
	f, err := os.CreateTemp(tmpdir.Dir(), "tcpwhy-input-*.pcap")
	if err != nil {
		return "", nil, fmt.Errorf("spool input to a temporary file: %w", err)
	}
	path, cleanup = f.Name(), func() { f.Close(); os.Remove(f.Name()) }
	if p := procPath(f); p != "" {
		os.Remove(f.Name())
		path, cleanup = p, func() { f.Close() }
	}
	if _, err := io.Copy(f, r); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("spool input to a temporary file: %w", err)
	}
	return path, cleanup, nil
}

// procPath returns the name under which f can be opened again after it
// is unlinked, "" where there is none: /proc/self/fd/N on Linux (a new
// open file, with its own offset; elsewhere /dev/fd/N shares f's).
func procPath(f *os.File) string {
	if runtime.GOOS != "linux" {
		return ""
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return ""
	}
	var p string
	rc.Control(func(fd uintptr) { p = fmt.Sprintf("/proc/self/fd/%d", fd) })
	a, err1 := os.Stat(p)
	b, err2 := f.Stat()
	if err1 != nil || err2 != nil || !os.SameFile(a, b) {
		return ""
	}
	return p
}

// input is one file being read.
type input struct {
	idx    int
	info   InputInfo
	closer io.Closer
	rd     packetReader
	rec    record // the next packet, valid while queued
	done   bool
	mapped bool // read through a mappedFile
}

// start detects the format of the file read by f. file is f when it is
// a file, else nil. mapOK allows reading a plain file through a mapping
// (not with a BPF filter: libpcap's C code would read the mapping, where
// a fault cannot be recovered).
func (in *input) start(f io.Reader, file *os.File, mapOK bool) error {
	if file != nil {
		if plain, err := in.startPlain(file, mapOK); plain {
			return err
		}
	}
	raw := bufio.NewReaderSize(f, readBufSize)
	magic, err := raw.Peek(4)
	if len(magic) == 0 {
		if err == io.EOF {
			return errors.New("empty file")
		}
		return err
	}
	src := io.Reader(raw)
	if len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(raw)
		if err != nil {
			return &gzipError{err}
		}
		in.info.Compressed = true
		src = gzipErrReader{gz}
	}
	br := bufio.NewReaderSize(src, readBufSize)
	magic, err = br.Peek(4)
	if len(magic) < 4 {
		if err == nil || err == io.EOF {
			if len(magic) == 0 {
				return errors.New("empty file")
			}
			return fmt.Errorf("not a capture file: only %d bytes", len(magic))
		}
		return err
	}
	if !knownMagic([4]byte(magic)) {
		return fmt.Errorf("not a pcap or pcapng file (starts with % x)", magic)
	}
	return in.use([4]byte(magic), newWindow(br))
}

// startPlain starts reading an uncompressed pcap or pcapng file in
// place, through a mapping of it (when mapOK and the file is a regular
// one) or straight into the reader's buffer, without a bufio.Reader in
// between. It reports false, having read nothing, for other contents.
func (in *input) startPlain(file *os.File, mapOK bool) (bool, error) {
	var magic [4]byte
	if n, _ := file.ReadAt(magic[:], 0); n < len(magic) || !knownMagic(magic) {
		return false, nil
	}
	w := newWindow(file)
	if mapOK {
		if mf := mapFile(file); mf != nil {
			in.closer, in.mapped = mf, true
			w = newMappedWindow(mf)
		}
	}
	return true, in.use(magic, w)
}

// knownMagic reports whether a file starting with magic is a pcap or
// pcapng file.
func knownMagic(magic [4]byte) bool {
	switch magic {
	case magicPCAPMicroLE, magicPCAPMicroBE, magicPCAPNanoLE, magicPCAPNanoBE, magicPCAPNG:
		return true
	}
	return false
}

// use starts the reader of the format magic (a knownMagic) names on w;
// the error is a bad file header's.
func (in *input) use(magic [4]byte, w window) error {
	if magic != magicPCAPNG {
		return in.usePCAP(newPCAPReader(w))
	}
	n, err := newNgReader(w)
	if err != nil {
		return err
	}
	in.rd = n
	n.describe(&in.info)
	return nil
}

// usePCAP makes p, as newPCAPReader returned it with err, in's reader.
func (in *input) usePCAP(p *pcapReader, err error) error {
	if err != nil {
		return err
	}
	in.rd = p
	p.describe(&in.info)
	if !Supported(p.linkType) {
		return fmt.Errorf("unsupported link type %s (%d)", LinkTypeName(p.linkType), int(p.linkType))
	}
	return nil
}

// fileSource merges the packets of several inputs in timestamp order.
type fileSource struct {
	inputs  []*input
	queue   []*input // min-heap on (rec.ts, idx) of inputs with a packet
	primed  int      // inputs whose first packet was read (merge only)
	last    *input   // input of the packet returned last; advanced next
	dec     *decoder
	filter  packetFilter
	snaplen int
	// mapped is set when an input is read through a mappedFile.
	mapped bool
	// noPayload is OpenOptions.NoPayload.
	noPayload bool
	info      Info
	errs      []error
	// limit, when positive, is how many packets Next reads at most (see
	// LimitPackets).
	limit int64

	// cur is the input read or decoded last, and decoding is set while
	// its packet is decoded: they say what a panic interrupted.
	cur      *input
	decoding bool
}

// fail records a ReadError for in and stops it.
func (s *fileSource) fail(in *input, offset int64, err error) {
	in.done = true
	s.errs = append(s.errs, &ReadError{File: in.info.Name, Packet: s.info.Packets + 1, Offset: offset, Err: err})
}

// fetch reads in's next packet that passes the filter into in.rec and
// reports whether there is one.
func (s *fileSource) fetch(in *input) bool {
	s.cur = in
	for !in.done {
		err := in.rd.next(&in.rec)
		if err == io.EOF {
			in.done = true
			return false
		}
		if err != nil {
			s.fail(in, in.rec.offset, err)
			return false
		}
		if s.snaplen > 0 && len(in.rec.data) > s.snaplen {
			in.rec.data = in.rec.data[:s.snaplen:s.snaplen]
		}
		if s.filter != nil {
			if !Supported(in.rec.linkType) {
				// A pcapng interface of a link type that cannot carry
				// TCP as far as the decoder knows: skip it rather than
				// fail to compile the filter for it.
				continue
			}
			ok, err := s.filter.match(&in.rec)
			if err != nil {
				s.fail(in, in.rec.offset, err)
				return false
			}
			if !ok {
				continue
			}
		}
		return true
	}
	return false
}

// advance reads in's next packet that passes the filter and queues in.
func (s *fileSource) advance(in *input) {
	if s.fetch(in) {
		s.push(in)
	}
}

// Next implements Source.
func (s *fileSource) Next(seg *Segment) error {
	if s.mapped {
		// A fault in a mapped file (it shrank) panics in this goroutine
		// instead of crashing the program, and guardedNext recovers it.
		// Set at each call: callers may read from more than one
		// goroutine.
		debug.SetPanicOnFault(true)
	}
	for {
		err, again := s.guardedNext(seg)
		if !again {
			return err
		}
	}
}

// guardedNext is next, turning a panic into an error of the input that
// caused it (see recovered); again is set after one.
func (s *fileSource) guardedNext(seg *Segment) (err error, again bool) {
	defer func() {
		if r := recover(); r != nil {
			s.recovered(r)
			err, again = nil, true
		}
	}()
	return s.next(seg), false
}

// recovered handles a panic in next, which can only come from reading or
// decoding a packet of s.cur. A panic of a reader, or a memory fault (a
// mapped file that shrank, see mappedFile), stops the input with a
// ReadError; another panic of the decoder (which the fuzz targets find
// none of) counts the packet as not TCP, as a packet it cannot make sense
// of.
func (s *fileSource) recovered(r any) {
	in := s.cur
	if in == nil {
		panic(r)
	}
	s.cur = nil
	decoding := s.decoding
	s.decoding = false
	if _, fault := r.(interface{ Addr() uintptr }); fault {
		// A fault reading a mapped file, while its packet was read or
		// decoded: the file shrank under the mapping. A packet being
		// decoded was counted; it is the broken one.
		if decoding {
			s.info.Packets--
			in.info.Packets--
		}
		s.fail(in, in.rec.offset, fmt.Errorf("%w (a fault in its mapping)", errShrank))
		return
	}
	if decoding {
		s.info.Other++
		return
	}
	s.fail(in, in.rec.offset, fmt.Errorf("reader failed: %v", r))
}

// next returns the next segment of the merged inputs.
func (s *fileSource) next(seg *Segment) error {
	if len(s.inputs) == 1 {
		// One input: nothing to merge.
		in := s.inputs[0]
		for !s.limitReached() && s.fetch(in) {
			if s.deliver(in, seg) {
				return nil
			}
		}
		return io.EOF
	}
	for s.primed < len(s.inputs) {
		in := s.inputs[s.primed]
		s.primed++
		if !in.done {
			s.advance(in)
		}
	}
	for {
		if s.limitReached() {
			// Checked before reading ahead: nothing past the limit is
			// read, so no error past it is reported either.
			return io.EOF
		}
		if s.last != nil {
			in := s.last
			s.last = nil
			s.advance(in)
		}
		if len(s.queue) == 0 {
			return io.EOF
		}
		in := s.pop()
		s.last = in
		if s.deliver(in, seg) {
			return nil
		}
	}
}

// LimitPackets implements Limited.
func (s *fileSource) LimitPackets(n int64) { s.limit = n }

// limitReached reports whether Next read the packets LimitPackets allows.
func (s *fileSource) limitReached() bool { return s.limit > 0 && s.info.Packets >= s.limit }

// deliver counts and decodes in's packet into seg and reports whether it
// is one to return.
func (s *fileSource) deliver(in *input, seg *Segment) bool {
	rec := &in.rec
	s.info.Packets++
	in.info.Packets++
	if s.info.Packets == 1 || rec.ts.Before(s.info.First) {
		s.info.First = rec.ts
	}
	if rec.ts.After(s.info.Last) {
		s.info.Last = rec.ts
	}

	// Cleared in place, then filled: a composite literal is built on the
	// stack from a template and copied, two copies of 320 bytes.
	*seg = Segment{}
	seg.Packet = s.info.Packets
	seg.Time = rec.ts
	seg.Input = in.idx
	seg.LinkType = rec.linkType
	seg.WireLen = rec.wireLen
	seg.CapLen = len(rec.data)
	seg.Data = rec.data
	seg.Opt.WScale = -1
	s.cur, s.decoding = in, true
	res := s.dec.decode(rec.first, rec.data, seg)
	s.decoding = false
	// A header whose length field says fewer than 20 bytes keeps what
	// follows it: the printer reads the header's fields from the frame.
	if s.noPayload && res == resultTCP && !seg.HeaderTruncated && seg.TCPOffset > 0 && seg.DataOffset >= 20 {
		if end := seg.TCPOffset + int(seg.DataOffset); end < len(seg.Data) {
			seg.Data = seg.Data[:end:end]
		}
	}
	return s.info.count(res, seg)
}

// less orders queued inputs by packet time, then by input order.
func less(a, b *input) bool {
	if a.rec.ts.Equal(b.rec.ts) {
		return a.idx < b.idx
	}
	return a.rec.ts.Before(b.rec.ts)
}

func (s *fileSource) push(in *input) {
	q := append(s.queue, in)
	i := len(q) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !less(q[i], q[p]) {
			break
		}
		q[i], q[p] = q[p], q[i]
		i = p
	}
	s.queue = q
}

func (s *fileSource) pop() *input {
	q := s.queue
	top := q[0]
	n := len(q) - 1
	q[0] = q[n]
	q = q[:n]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && less(q[l], q[m]) {
			m = l
		}
		if r < n && less(q[r], q[m]) {
			m = r
		}
		if m == i {
			break
		}
		q[i], q[m] = q[m], q[i]
		i = m
	}
	s.queue = q
	return top
}

// Info implements Source.
func (s *fileSource) Info() Info {
	info := s.info
	info.Inputs = make([]InputInfo, len(s.inputs))
	for i, in := range s.inputs {
		if in.rd != nil {
			in.rd.describe(&in.info)
		}
		ii := in.info
		ii.LinkTypes = append([]string(nil), in.info.LinkTypes...)
		info.Inputs[i] = ii
	}
	return info
}

// Err implements Source.
func (s *fileSource) Err() error { return errors.Join(s.errs...) }

// Close implements Source.
func (s *fileSource) Close() error {
	var errs []error
	for _, in := range s.inputs {
		if in.closer != nil {
			if err := in.closer.Close(); err != nil {
				errs = append(errs, err)
			}
			in.closer = nil
		}
		in.done = true
	}
	s.queue = s.queue[:0]
	s.last = nil
	return errors.Join(errs...)
}

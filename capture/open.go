package capture

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
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
// Open fails only when a file cannot be opened at all, or for a filter it
// cannot use (*FilterError, ErrNoLibpcap). A file that is not a capture,
// or is damaged, surfaces as a *ReadError from the Source's Err, after
// the packets before the damage were delivered.
func Open(names []string, opts OpenOptions) (Source, error) {
	if len(names) == 0 {
		return nil, errors.New("open: no input files")
	}
	s := &fileSource{dec: newDecoder(), snaplen: opts.Snaplen}
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
		var f io.ReadCloser
		if name == "-" {
			f = io.NopCloser(os.Stdin)
		} else {
			file, err := os.Open(name)
			if err != nil {
				s.Close()
				return nil, err
			}
			f = file
		}
		in.closer = f
		s.inputs = append(s.inputs, in)
		if err := in.start(f); err != nil {
			s.fail(in, 0, err)
		}
	}
	return s, nil
}

// SpoolStdin copies standard input to a temporary file, for callers that
// must read their input twice. cleanup removes the file.
func SpoolStdin() (path string, cleanup func(), err error) {
	f, err := os.CreateTemp("", "tcpwhy-stdin-*.pcap")
	if err != nil {
		return "", nil, fmt.Errorf("spool standard input: %w", err)
	}
	cleanup = func() { os.Remove(f.Name()) }
	if _, err := io.Copy(f, os.Stdin); err != nil {
		f.Close()
		cleanup()
		return "", nil, fmt.Errorf("spool standard input: %w", err)
	}
	if err := f.Close(); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("spool standard input: %w", err)
	}
	return f.Name(), cleanup, nil
}

// input is one file being read.
type input struct {
	idx    int
	info   InputInfo
	closer io.Closer
	rd     packetReader
	rec    record // the next packet, valid while queued
	done   bool
}

// start detects the format of the file read by f.
func (in *input) start(f io.Reader) error {
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
	cr := &countingReader{r: src}
	br := bufio.NewReaderSize(cr, readBufSize)
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
	switch [4]byte(magic) {
	case magicPCAPMicroLE, magicPCAPMicroBE, magicPCAPNanoLE, magicPCAPNanoBE:
		p, err := newPCAPReader(br)
		if err != nil {
			return err
		}
		in.rd = p
		p.describe(&in.info)
		if !Supported(p.linkType) {
			return fmt.Errorf("unsupported link type %s (%d)", LinkTypeName(p.linkType), int(p.linkType))
		}
	case magicPCAPNG:
		n, err := newNgReader(br, cr)
		if err != nil {
			return err
		}
		in.rd = n
		n.describe(&in.info)
	default:
		return fmt.Errorf("not a pcap or pcapng file (starts with % x)", magic)
	}
	return nil
}

// fileSource merges the packets of several inputs in timestamp order.
type fileSource struct {
	inputs  []*input
	queue   []*input // min-heap on (rec.ts, idx) of inputs with a packet
	primed  bool
	last    *input // input of the packet returned last; advanced next
	dec     *decoder
	filter  packetFilter
	snaplen int
	info    Info
	errs    []error
}

// fail records a ReadError for in and stops it.
func (s *fileSource) fail(in *input, offset int64, err error) {
	in.done = true
	s.errs = append(s.errs, &ReadError{File: in.info.Name, Packet: s.info.Packets + 1, Offset: offset, Err: err})
}

// advance reads in's next packet that passes the filter and queues in.
func (s *fileSource) advance(in *input) {
	for !in.done {
		err := s.read(in)
		if err == io.EOF {
			in.done = true
			return
		}
		if err != nil {
			s.fail(in, in.rec.offset, err)
			return
		}
		if s.snaplen > 0 && len(in.rec.data) > s.snaplen {
			in.rec.data = in.rec.data[:s.snaplen]
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
				return
			}
			if !ok {
				continue
			}
		}
		s.push(in)
		return
	}
}

// read reads one record, turning a panic in the reader into an error.
func (s *fileSource) read(in *input) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("reader failed: %v", r)
		}
	}()
	return in.rd.next(&in.rec)
}

// Next implements Source.
func (s *fileSource) Next(seg *Segment) error {
	if !s.primed {
		s.primed = true
		for _, in := range s.inputs {
			if !in.done {
				s.advance(in)
			}
		}
	}
	for {
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
		rec := &in.rec

		s.info.Packets++
		in.info.Packets++
		if s.info.Packets == 1 || rec.ts.Before(s.info.First) {
			s.info.First = rec.ts
		}
		if rec.ts.After(s.info.Last) {
			s.info.Last = rec.ts
		}

		*seg = Segment{
			Packet:   s.info.Packets,
			Time:     rec.ts,
			Input:    in.idx,
			LinkType: rec.linkType,
			WireLen:  rec.wireLen,
			CapLen:   len(rec.data),
			Data:     rec.data,
			Opt:      Options{WScale: -1},
		}
		if s.info.count(s.decode(rec, seg), seg) {
			return nil
		}
	}
}

// decode decodes rec into seg; a panic counts the packet as not TCP.
func (s *fileSource) decode(rec *record, seg *Segment) (res result) {
	defer func() {
		if r := recover(); r != nil {
			res = resultOther
		}
	}()
	return s.dec.decode(firstLayer(rec.linkType), rec.data, seg)
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

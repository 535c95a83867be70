package report

import (
	"bufio"
	"fmt"
	"io"
	"os"

	"github.com/klauspost/compress/s2"
	"github.com/tcpwhy/tcpwhy/internal/tmpdir"
)

// spoolInMemory is how many bytes a spool keeps in memory before it moves
// to a temporary file. With 4 MiB, -q on big.pcap (whose summary spools
// ~2.6 MB) peaked 5 MiB higher: the slice grows by doubling.
var spoolInMemory = 1 << 20

// spoolPlainOnDisk is how many bytes a spool writes to its file as they
// are before it compresses the rest (S2, about 1.5 GB/s): the JSON of a
// 10 M-SYN flood spools 8.4 GB, compressed about 14 times smaller. Below
// it the output of ordinary captures pays no compression on disk (the
// 5 M-packet bench capture spools 157 MB). A file in memory (TMPDIR on
// tmpfs: internal/tmpdir) is compressed past what the spool had kept in
// memory: there the 157 MB would be memory the process's own peak does
// not show.
var spoolPlainOnDisk int64 = 256 << 20

// spool holds output that must wait for the end of the analysis (flow
// records come after the capture record, whose counts are known last):
// in memory up to spoolInMemory bytes, then in an unlinked temporary
// file, compressed past spoolPlainOnDisk bytes (at once when the file is
// in memory), so that output of any size costs disk, not memory.
type spool struct {
	mem  []byte
	file *os.File
	bw   *bufio.Writer
	// plain counts the bytes written to the file uncompressed, at most
	// plainMost; zw compresses what follows them.
	plain, plainMost int64
	zw               *s2.Writer
	err              error
}

// Write appends p.
func (s *spool) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if s.file == nil && len(s.mem)+len(p) <= spoolInMemory {
		s.mem = append(s.mem, p...)
		return len(p), nil
	}
	if s.file == nil {
		f, err := tmpdir.CreateUnlinked("tcpwhy-spool-*")
		if err != nil {
			s.err = fmt.Errorf("spool output to a temporary file: %w", err)
			return 0, s.err
		}
		s.file, s.bw = f, bufio.NewWriterSize(f, 256<<10)
		if _, err := s.bw.Write(s.mem); err != nil {
			s.err = fmt.Errorf("spool output to a temporary file: %w", err)
			return 0, s.err
		}
		s.plain = int64(len(s.mem))
		s.mem = nil
		s.plainMost = spoolPlainOnDisk
		if tmpdir.InMemory(f) {
			s.plainMost = s.plain
		}
	}
	if s.zw == nil && s.plain+int64(len(p)) > s.plainMost {
		if err := s.bw.Flush(); err != nil {
			s.err = fmt.Errorf("spool output to a temporary file: %w", err)
			return 0, s.err
		}
		s.zw = s2.NewWriter(s.file, s2.WriterConcurrency(1))
	}
	var err error
	if s.zw != nil {
		_, err = s.zw.Write(p)
	} else {
		_, err = s.bw.Write(p)
		s.plain += int64(len(p))
	}
	if err != nil {
		s.err = fmt.Errorf("spool output to a temporary file: %w", err)
		return 0, s.err
	}
	return len(p), nil
}

// copyTo writes everything spooled to w and releases the spool.
func (s *spool) copyTo(w io.Writer) error {
	if s.err != nil {
		return s.err
	}
	if s.file == nil {
		_, err := w.Write(s.mem)
		s.mem = nil
		return err
	}
	defer s.file.Close()
	if err := s.bw.Flush(); err != nil {
		return fmt.Errorf("spool output to a temporary file: %w", err)
	}
	if s.zw != nil {
		if err := s.zw.Close(); err != nil {
			return fmt.Errorf("spool output to a temporary file: %w", err)
		}
	}
	if _, err := s.file.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("spool output to a temporary file: %w", err)
	}
	if _, err := io.CopyN(w, s.file, s.plain); err != nil || s.zw == nil {
		return err
	}
	_, err := io.Copy(w, s2.NewReader(s.file))
	return err
}

// spooled is a renderer's output that waits in a spool behind what it
// writes last to w: records go to bw, drain copies them out.
type spooled struct {
	w  io.Writer
	sp spool
	bw *bufio.Writer
}

func (s *spooled) init(w io.Writer) {
	s.w = w
	s.bw = bufio.NewWriterSize(&s.sp, 64<<10)
}

// drain writes everything spooled to w.
func (s *spooled) drain() error {
	if err := s.bw.Flush(); err != nil {
		return err
	}
	return s.sp.copyTo(s.w)
}

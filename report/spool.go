package report

import (
	"bufio"
	"fmt"
	"io"
	"os"
)

// spoolInMemory is how many bytes a spool keeps in memory before it moves
// to a temporary file. With 4 MiB, -q on big.pcap (whose summary spools
// ~2.6 MB) peaked 5 MiB higher: the slice grows by doubling.
var spoolInMemory = 1 << 20

// spool holds output that must wait for the end of the analysis (flow
// records come after the capture record, whose counts are known last):
// in memory up to spoolInMemory bytes, then in an unlinked temporary
// file, so that output of any size costs disk, not memory.
type spool struct {
	mem  []byte
	file *os.File
	bw   *bufio.Writer
	err  error
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
		f, err := os.CreateTemp("", "tcpwhy-spool-*")
		if err != nil {
			s.err = fmt.Errorf("spool output to a temporary file: %w", err)
			return 0, s.err
		}
		os.Remove(f.Name())
		s.file, s.bw = f, bufio.NewWriterSize(f, 256<<10)
		if _, err := s.bw.Write(s.mem); err != nil {
			s.err = fmt.Errorf("spool output to a temporary file: %w", err)
			return 0, s.err
		}
		s.mem = nil
	}
	if _, err := s.bw.Write(p); err != nil {
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
	if _, err := s.file.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("spool output to a temporary file: %w", err)
	}
	_, err := io.Copy(w, s.file)
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

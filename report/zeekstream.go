package report

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"sync"

	"github.com/tcpwhy/tcpwhy/capture"
	"github.com/tcpwhy/tcpwhy/classify"
	"github.com/tcpwhy/tcpwhy/flows"
)

// ZeekStream writes a Zeek conn.log while the capture is read, one row per
// flow as it is decided (classify.Options.OnFlow, Bounded): rows come in
// the order the flows ended, as Zeek writes them. It keeps only the IP
// byte counts of the flows still open, which it takes from every segment
// (classify.Options.OnSegment), so memory follows the flows open at once,
// not the capture's size. The TSV rows wait in a spool behind the header,
// whose #open time is the capture's first packet. The rows are those of
// ZeekTSV and ZeekJSON.
type ZeekStream struct {
	spooled
	json bool
	enc  *json.Encoder
	err  error

	// Segment runs in the flow table's goroutine, Flow in the
	// classifier's: ip is shared.
	mu sync.Mutex
	ip map[int64]*zeekIPBytes
}

// zeekIPBytes are the IP bytes each side of a flow sent: ep[0] by a, the
// sender of the flow's first segment, ep[1] by the other side.
type zeekIPBytes struct {
	a  netip.AddrPort
	ep [2]int64
}

// NewZeekStream returns a ZeekStream writing to w: Zeek's JSON format when
// jsonFormat is set, else its TSV format.
func NewZeekStream(w io.Writer, jsonFormat bool) *ZeekStream {
	s := &ZeekStream{json: jsonFormat, ip: map[int64]*zeekIPBytes{}}
	s.init(w)
	s.enc = json.NewEncoder(s.bw)
	s.enc.SetEscapeHTML(false)
	return s
}

// Segment counts the IP bytes of a TCP segment for its flow.
func (s *ZeekStream) Segment(seg *capture.Segment, u flows.Update) {
	if u.Flow == nil || seg.Kind != capture.KindTCP {
		return
	}
	s.mu.Lock()
	c := s.ip[u.Flow.ID]
	if c == nil {
		c = &zeekIPBytes{a: seg.SrcAddrPort()}
		s.ip[u.Flow.ID] = c
	}
	if seg.SrcAddrPort() == c.a {
		c.ep[0] += int64(seg.IPLen)
	} else {
		c.ep[1] += int64(seg.IPLen)
	}
	s.mu.Unlock()
}

// Flow writes the row of a decided flow and forgets its counts. It keeps
// nothing of r (classify.Options.ReuseResults).
func (s *ZeekStream) Flow(r *classify.FlowResult) {
	s.mu.Lock()
	c := s.ip[r.ID]
	delete(s.ip, r.ID)
	s.mu.Unlock()
	ip := new([2]int64)
	if c != nil {
		ip[0], ip[1] = c.ep[0], c.ep[1]
		if c.a != r.Client {
			ip[0], ip[1] = ip[1], ip[0]
		}
	}
	if s.err != nil {
		return
	}
	z := zeekRecord(r, ip)
	if s.json {
		if err := s.enc.Encode(z); err != nil {
			s.err = fmt.Errorf("write zeek json: %w", err)
		}
		return
	}
	if _, err := s.bw.WriteString(zeekTSVRow(z)); err != nil {
		s.err = fmt.Errorf("write zeek log: %w", err)
	}
}

// Close writes the header (TSV), the spooled rows and the #close line
// (TSV) of the log of a.
func (s *ZeekStream) Close(a *classify.Analysis) error {
	if s.err != nil {
		return s.err
	}
	what := "zeek log"
	if s.json {
		what = "zeek json"
	}
	bw := bufio.NewWriterSize(s.w, 64<<10)
	if !s.json {
		zeekTSVHeader(bw, a.Capture.First)
		if err := bw.Flush(); err != nil {
			return fmt.Errorf("write %s: %w", what, err)
		}
	}
	if err := s.drain(); err != nil {
		return fmt.Errorf("write %s: %w", what, err)
	}
	if !s.json {
		fmt.Fprintf(bw, "#close\t%s\n", a.Capture.Last.UTC().Format(zeekStamp))
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", what, err)
	}
	return nil
}

//go:build cgo

package capture

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcap"
	"github.com/gopacket/gopacket/pcapgo"
)

const (
	// readTimeout bounds how long a read waits on a quiet interface, and
	// so how late Stop is noticed.
	readTimeout = 100 * time.Millisecond
	// tickEvery is how often Next returns ErrTick under load.
	tickEvery = 250 * time.Millisecond
	// statsEvery is how often pcap_stats is polled.
	statsEvery = time.Second
	// tickSlack is how far behind the wall clock a quiet tick stays, for
	// packets the kernel timestamped but has not handed over yet.
	tickSlack = 20 * time.Millisecond
)

// pcap_findalldevs flags.
const (
	ifLoopback     = 0x01
	ifUp           = 0x02
	ifRunning      = 0x04
	ifWireless     = 0x08
	ifStatusMask   = 0x30
	ifConnected    = 0x10
	ifDisconnected = 0x20
	ifStatusNA     = 0x30
)

// ListInterfaces lists the interfaces libpcap can capture on, as
// `tcpdump -D` does. It needs no privileges.
func ListInterfaces() ([]Interface, error) {
	devs, err := pcap.FindAllDevs()
	if err != nil {
		return nil, fmt.Errorf("list interfaces: %w", err)
	}
	out := make([]Interface, 0, len(devs))
	for _, d := range devs {
		ifc := Interface{Name: d.Name, Description: d.Description, Loopback: d.Flags&ifLoopback != 0,
			Up: d.Flags&ifUp != 0, Running: d.Flags&ifRunning != 0, Wireless: d.Flags&ifWireless != 0}
		switch d.Flags & ifStatusMask {
		case ifConnected:
			ifc.Status = "connected"
		case ifDisconnected:
			ifc.Status = "disconnected"
		case ifStatusNA:
			ifc.Status = "not applicable"
		}
		for _, a := range d.Addresses {
			ip, ok := netip.AddrFromSlice(a.IP)
			if !ok {
				continue
			}
			ip = ip.Unmap()
			bits := 0
			if a.Netmask != nil {
				bits, _ = a.Netmask.Size()
			}
			ifc.Addresses = append(ifc.Addresses, netip.PrefixFrom(ip, bits))
		}
		out = append(out, ifc)
	}
	return out, nil
}

// OpenLive starts capturing on an interface ("any" captures on all of
// them, with LINUX_SLL2 headers) with immediate delivery. It fails with
// a *PermissionError without root or CAP_NET_RAW, and with a
// *FilterError for a filter libpcap cannot compile.
func OpenLive(iface string, opts LiveOptions) (Live, error) {
	snap := opts.Snaplen
	if snap <= 0 {
		snap = DefaultSnaplen
	}
	snap = min(snap, MaxSnaplen)
	in, err := pcap.NewInactiveHandle(iface)
	if err != nil {
		return nil, fmt.Errorf("capture on %s: %w", iface, err)
	}
	defer in.CleanUp()
	for _, set := range []func() error{
		func() error { return in.SetSnapLen(snap) },
		func() error { return in.SetPromisc(opts.Promisc) },
		func() error { return in.SetImmediateMode(true) },
		// A positive timeout makes the handle non-blocking with a poll of
		// that length: a quiet interface still returns to Next.
		func() error { return in.SetTimeout(readTimeout) },
		func() error {
			if opts.BufferSize > 0 {
				return in.SetBufferSize(opts.BufferSize)
			}
			return nil
		},
	} {
		if err := set(); err != nil {
			return nil, fmt.Errorf("capture on %s: %w", iface, err)
		}
	}
	h, err := in.Activate()
	if err != nil {
		return nil, activateError(iface, err)
	}
	if iface == "any" {
		// LINUX_SLL2 carries the interface index; keep SLL if the
		// library cannot.
		_ = h.SetLinkType(layers.LinkTypeLinuxSLL2)
	}
	lt := h.LinkType()
	if opts.Filter != "" {
		if err := h.SetBPFFilter(opts.Filter); err != nil {
			h.Close()
			return nil, &FilterError{Expr: opts.Filter, LinkType: LinkTypeName(lt), Err: err}
		}
	}
	s := &liveSource{h: h, dec: newDecoder(), lt: lt, first: firstLayer(lt),
		in: InputInfo{Name: iface, Format: "live", Nanosecond: h.Resolution() == gopacket.TimestampResolutionNanosecond,
			LinkTypes: []string{LinkTypeName(lt)}, Snaplen: h.SnapLen()}}
	s.info.Dropped = 0
	s.dec.noChecksums = opts.NoChecksums
	if opts.Save != nil {
		intf := pcapgo.DefaultNgInterface
		intf.Name, intf.LinkType, intf.SnapLength = iface, lt, uint32(h.SnapLen())
		w, err := pcapgo.NewNgWriterInterface(opts.Save, intf, pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{
			Hardware: pcapgo.DefaultNgWriterOptions.SectionInfo.Hardware, OS: pcapgo.DefaultNgWriterOptions.SectionInfo.OS,
			Application: "tcpwhy"}})
		if err == nil {
			err = w.Flush()
		}
		if err != nil {
			h.Close()
			return nil, fmt.Errorf("write capture file: %w", err)
		}
		s.save = w
	}
	now := time.Now()
	s.lastTick, s.statsAt = now, now
	s.statsNano.Store(now.UnixNano()) // nothing dropped yet
	return s, nil
}

// activateError turns pcap_activate's failure into a useful error.
func activateError(iface string, err error) error {
	msg := err.Error()
	low := strings.ToLower(msg)
	switch {
	case strings.Contains(low, "permission denied") || strings.Contains(low, "operation not permitted") ||
		strings.Contains(low, "don't have permission"):
		return &PermissionError{Interface: iface, Err: err}
	case strings.Contains(low, "no such device"):
		return fmt.Errorf("capture on %s: no such interface (tcpwhy -D lists them): %w", iface, err)
	case strings.Contains(low, "not up"):
		return fmt.Errorf("capture on %s: the interface is down: %w", iface, err)
	}
	return fmt.Errorf("capture on %s: %w", iface, err)
}

// liveSource reads one pcap handle.
type liveSource struct {
	mu    sync.Mutex // held by Next and Close
	h     *pcap.Handle
	dec   *decoder
	lt    layers.LinkType
	first first
	in    InputInfo
	info  Info
	save  *pcapgo.NgWriter
	errs  []error

	stop     atomic.Bool
	closed   bool
	limit    int64     // see LimitPackets
	lastTick time.Time // wall clock of the last tick
	statsAt  time.Time // wall clock of the last pcap_stats
	lastPkt  time.Time // capture time of the last packet

	recv, kdrop, ifdrop atomic.Int64
	statsNano           atomic.Int64 // when they were read, Unix ns
}

// LimitPackets implements Limited.
func (s *liveSource) LimitPackets(n int64) {
	s.mu.Lock()
	s.limit = n
	s.mu.Unlock()
}

// Next implements Source.
func (s *liveSource) Next(seg *Segment) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if s.closed {
			return io.EOF
		}
		if s.stop.Load() || s.limit > 0 && s.info.Packets >= s.limit {
			s.finish()
			return io.EOF
		}
		now := time.Now()
		if now.Sub(s.lastTick) >= tickEvery {
			// Under load: a tick at the last packet's time, so callers get
			// to flush and report regularly.
			s.tick(now, seg, s.lastPkt)
			return ErrTick
		}
		data, ci, err := s.h.ZeroCopyReadPacketData()
		if err != nil {
			if errors.Is(err, pcap.NextErrorTimeoutExpired) {
				// The buffer is drained: every packet captured before
				// about now has been read, so time may advance.
				now = time.Now()
				t := now.Add(-tickSlack)
				if t.Before(s.lastPkt) {
					t = s.lastPkt
				}
				s.tick(now, seg, t)
				return ErrTick
			}
			if err == io.EOF {
				s.finish()
				return io.EOF
			}
			s.finish()
			return fmt.Errorf("capture on %s: %w", s.in.Name, err)
		}
		if s.save != nil {
			ci.InterfaceIndex = 0
			if err := s.save.WritePacket(ci, data); err != nil {
				s.errs = append(s.errs, fmt.Errorf("write capture file: %w", err))
				s.save = nil
			}
		}
		s.info.Packets++
		s.in.Packets++
		ts := ci.Timestamp
		if s.info.Packets == 1 || ts.Before(s.info.First) {
			s.info.First = ts
		}
		if ts.After(s.info.Last) {
			s.info.Last = ts
		}
		if ts.After(s.lastPkt) {
			s.lastPkt = ts
		}
		*seg = Segment{Packet: s.info.Packets, Time: ts, LinkType: s.lt, WireLen: ci.Length, CapLen: len(data),
			Data: data, Opt: Options{WScale: -1}}
		if s.info.count(s.decode(data, seg), seg) {
			return nil
		}
	}
}

// tick fills seg for an ErrTick at capture time t, flushes the saved
// capture and polls the counters when due.
func (s *liveSource) tick(now time.Time, seg *Segment, t time.Time) {
	s.lastTick = now
	*seg = Segment{Time: t, LinkType: s.lt, Opt: Options{WScale: -1}}
	if s.save != nil {
		if err := s.save.Flush(); err != nil {
			s.errs = append(s.errs, fmt.Errorf("write capture file: %w", err))
			s.save = nil
		}
	}
	if now.Sub(s.statsAt) >= statsEvery {
		s.poll(now)
	}
}

// poll reads pcap_stats.
func (s *liveSource) poll(now time.Time) {
	s.statsAt = now
	st, err := s.h.Stats()
	if err != nil {
		return
	}
	s.recv.Store(int64(st.PacketsReceived))
	s.kdrop.Store(int64(st.PacketsDropped))
	s.ifdrop.Store(int64(st.PacketsIfDropped))
	s.statsNano.Store(now.UnixNano())
}

// finish takes the last counters, flushes the saved capture and closes
// the handle. Called with mu held.
func (s *liveSource) finish() {
	if s.closed {
		return
	}
	s.closed = true
	s.poll(time.Now())
	if s.save != nil {
		if err := s.save.Flush(); err != nil {
			s.errs = append(s.errs, fmt.Errorf("write capture file: %w", err))
		}
		s.save = nil
	}
	s.h.Close()
}

// decode decodes data into seg; a panic counts the packet as not TCP.
func (s *liveSource) decode(data []byte, seg *Segment) (res result) {
	defer func() {
		if r := recover(); r != nil {
			res = resultOther
		}
	}()
	return s.dec.decode(s.first, data, seg)
}

// Info implements Source. Dropped adds the kernel's and the interface's
// drops.
func (s *liveSource) Info() Info {
	info := s.info
	info.Dropped = s.kdrop.Load() + s.ifdrop.Load()
	in := s.in
	in.LinkTypes = append([]string(nil), s.in.LinkTypes...)
	info.Inputs = []InputInfo{in}
	return info
}

// Err implements Source: errors writing the saved capture.
func (s *liveSource) Err() error { return errors.Join(s.errs...) }

// Stop implements Live.
func (s *liveSource) Stop() { s.stop.Store(true) }

// Stats implements Live.
func (s *liveSource) Stats() LiveStats {
	return LiveStats{Received: s.recv.Load(), KernelDropped: s.kdrop.Load(), IfDropped: s.ifdrop.Load(),
		Time: time.Unix(0, s.statsNano.Load())}
}

// Close implements Source: it stops the capture (waiting for a Next in
// progress, at most about 100 ms), flushes the saved capture and releases
// the handle. It may be called from any goroutine.
func (s *liveSource) Close() error {
	s.stop.Store(true)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.finish()
	return nil
}

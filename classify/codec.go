package classify

import (
	"encoding/binary"
	"errors"
	"math"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// The held flows' file format: each FlowResult's exported fields in a
// fixed order, integers as varints, strings and slices with their length
// first, times as Unix nanoseconds (with a flag for the zero time). It is
// private to one run (written and read back by the same binary), so it
// has no version. An annotation that ends with the flow's explanation
// (most do: "syn-timeout: " and the explanation) is written as its
// prefix only. TestCodecRoundTrip checks that every exported field
// survives (encoding/gob did the same at several times the cost, which
// mattered for a SYN flood's millions of held flows).

type encoder struct{ b []byte }

func (e *encoder) int(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *encoder) uint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) bool(v bool) {
	if v {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}
func (e *encoder) float(v float64) { e.b = binary.LittleEndian.AppendUint64(e.b, math.Float64bits(v)) }
func (e *encoder) str(s string) {
	e.uint(uint64(len(s)))
	e.b = append(e.b, s...)
}
func (e *encoder) time(t time.Time) {
	e.bool(t.IsZero())
	if !t.IsZero() {
		e.int(t.UnixNano())
	}
}

// addrPort writes a's MarshalBinary form as a string (its length first).
func (e *encoder) addrPort(a netip.AddrPort) {
	n := 2 // the port
	switch ip := a.Addr(); {
	case ip.Is4():
		n += 4
	case ip.Is6():
		n += 16 + len(ip.Zone())
	}
	e.uint(uint64(n))
	e.b, _ = a.AppendBinary(e.b)
}
func (e *encoder) strs(ss []string) {
	e.uint(uint64(len(ss)))
	for _, s := range ss {
		e.str(s)
	}
}
func (e *encoder) floats(fs []float64) {
	e.uint(uint64(len(fs)))
	for _, f := range fs {
		e.float(f)
	}
}
func (e *encoder) ints(vs []int64) {
	e.uint(uint64(len(vs)))
	for _, v := range vs {
		e.int(v)
	}
}
func (e *encoder) counters(c Counters) {
	e.bool(c == nil)
	e.uint(uint64(len(c)))
	for k, v := range c {
		e.str(k)
		e.int(int64(v))
	}
}

// appendFlowResult appends the encoding of r to b.
func appendFlowResult(b []byte, r *FlowResult) []byte {
	e := encoder{b}
	e.int(r.ID)
	e.addrPort(r.Client)
	e.addrPort(r.Server)
	e.bool(r.RolesGuessed)
	e.bool(r.IPv6)
	e.str(string(r.Verdict))
	e.int(int64(r.SYNRetransmits))
	e.int(int64(r.SYNACKRetransmits))
	e.bool(r.SYN != nil)
	if r.SYN != nil {
		e.floats(r.SYN.Gaps)
		e.strs(r.SYN.Matches)
		e.float(r.SYN.GiveUp)
	}
	e.floats(r.SYNACKGaps)
	e.float(r.HandshakeRTT)
	e.str(string(r.FirstFINBy))
	e.bool(r.Reset != nil)
	if rs := r.Reset; rs != nil {
		e.str(string(rs.By))
		e.str(rs.Generator)
		e.str(rs.Reason)
		e.bool(rs.Accepted)
		e.int(rs.Packet)
		e.bool(rs.InjectedSuspect != nil)
		if in := rs.InjectedSuspect; in != nil {
			e.int(in.Packet)
			e.uint(uint64(in.TTL))
			e.uint(uint64(in.SenderTTLMin))
			e.uint(uint64(in.SenderTTLMax))
			e.uint(uint64(in.IPID))
			e.strs(in.Evidence)
		}
	}
	e.str(r.ZeekState)
	e.str(r.ZeekHistory)
	e.counters(r.ClientCounters)
	e.counters(r.ServerCounters)
	e.int(r.FirstPacket)
	e.int(r.LastPacket)
	e.time(r.Start)
	e.time(r.End)
	e.int(int64(r.ClientPackets))
	e.int(int64(r.ServerPackets))
	e.int(r.ClientBytes)
	e.int(r.ServerBytes)
	e.ints(r.Evidence)
	e.str(r.Explanation)
	e.uint(uint64(len(r.Annotations)))
	for _, a := range r.Annotations {
		e.int(a.Packet)
		suffixed := r.Explanation != "" && strings.HasSuffix(a.Text, r.Explanation)
		e.bool(suffixed)
		if suffixed {
			e.str(a.Text[:len(a.Text)-len(r.Explanation)])
		} else {
			e.str(a.Text)
		}
	}
	e.strs(r.Notes)
	e.bool(r.Evicted)
	e.int(int64(r.SynDropsSeen))
	e.int(int64(r.OverflowDrops))
	e.time(r.HandshakeDone)
	e.time(r.ClosedAt)
	e.time(r.ServerFirstResponse)
	return e.b
}

var errCorrupt = errors.New("corrupt held flow record")

type decoder struct {
	b   []byte
	err error
	// intern, when set, keeps the strings istr decoded, so that the
	// strings most flows share (verdicts, Zeek states and histories,
	// counter names) are allocated once per decoding run.
	intern map[string]string
}

// maxInterned bounds a decoder's interned strings.
const maxInterned = 4096

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errCorrupt
	}
	d.b = nil
}
func (d *decoder) int() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}
func (d *decoder) uint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}
func (d *decoder) bool() bool {
	if len(d.b) == 0 {
		d.fail()
		return false
	}
	v := d.b[0] != 0
	d.b = d.b[1:]
	return v
}
func (d *decoder) float() float64 {
	if len(d.b) < 8 {
		d.fail()
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(d.b))
	d.b = d.b[8:]
	return v
}
func (d *decoder) length() int {
	n := d.uint()
	if n > uint64(len(d.b)) {
		d.fail()
		return 0
	}
	return int(n)
}
func (d *decoder) str() string {
	return string(d.bytes())
}

// bytes is str without the copy: the bytes stay in the record.
func (d *decoder) bytes() []byte {
	n := d.length()
	b := d.b[:n:n]
	d.b = d.b[n:]
	return b
}

// istr is str for the strings many records share (see intern).
func (d *decoder) istr() string {
	n := d.length()
	b := d.b[:n]
	d.b = d.b[n:]
	if s, ok := d.intern[string(b)]; ok {
		return s
	}
	s := string(b)
	if d.intern != nil && len(d.intern) < maxInterned {
		d.intern[s] = s
	}
	return s
}

func (d *decoder) time() time.Time {
	if d.bool() {
		return time.Time{}
	}
	return time.Unix(0, d.int()).UTC()
}
func (d *decoder) addrPort() netip.AddrPort {
	var a netip.AddrPort
	n := d.length()
	if err := a.UnmarshalBinary(d.b[:n]); err != nil {
		d.fail()
	}
	d.b = d.b[n:]
	return a
}
func (d *decoder) strs() []string {
	n := d.length()
	if n == 0 {
		return nil
	}
	ss := make([]string, n)
	for i := range ss {
		ss[i] = d.istr()
	}
	return ss
}
func (d *decoder) floats() []float64 {
	n := d.length()
	if n == 0 {
		return nil
	}
	fs := make([]float64, n)
	for i := range fs {
		fs[i] = d.float()
	}
	return fs
}

// counters decodes a Counters map into c, cleared first (nil: a new
// map).
func (d *decoder) counters(c Counters) Counters {
	isNil := d.bool()
	n := d.length()
	if isNil {
		return nil
	}
	if c == nil {
		c = make(Counters, n)
	}
	clear(c)
	for range n {
		k := d.istr()
		c[k] = int(d.int())
	}
	return c
}

// decodeFlowResult decodes one record made by appendFlowResult. intern
// (nil: none) keeps the shared strings across calls (see decoder).
func decodeFlowResult(b []byte, intern map[string]string) (*FlowResult, error) {
	r := new(FlowResult)
	err := decodeFlowResultInto(r, b, intern)
	// Its arrays are its own: nothing decodes into it again.
	r.spareEvidence, r.spareAnnotations = nil, nil
	return r, err
}

// decodeFlowResultInto is decodeFlowResult into r, whose counter maps and
// Evidence and Annotations arrays it reuses, as classifyInto does
// (everything else of r is overwritten, and its other slices are new: a
// consumer may keep a copy of r with them, see Options.ReuseResults).
func decodeFlowResultInto(r *FlowResult, b []byte, intern map[string]string) error {
	d := decoder{b: b, intern: intern}
	cc, sc := r.ClientCounters, r.ServerCounters
	// A result decoded into again (the held flows' spare, see
	// Options.ReuseResults) reuses its arrays, as classifyInto does.
	ev, an := r.spareEvidence[:0], r.spareAnnotations[:0]
	*r = FlowResult{spareEvidence: ev, spareAnnotations: an}
	r.ID = d.int()
	r.Client = d.addrPort()
	r.Server = d.addrPort()
	r.RolesGuessed = d.bool()
	r.IPv6 = d.bool()
	r.Verdict = Verdict(d.istr())
	r.SYNRetransmits = int(d.int())
	r.SYNACKRetransmits = int(d.int())
	if d.bool() {
		r.SYN = &SYNSchedule{Gaps: d.floats(), Matches: d.strs(), GiveUp: d.float()}
	}
	r.SYNACKGaps = d.floats()
	r.HandshakeRTT = d.float()
	r.FirstFINBy = Side(d.istr())
	if d.bool() {
		rs := &Reset{By: Side(d.istr()), Generator: d.istr(), Reason: d.istr(), Accepted: d.bool(), Packet: d.int()}
		if d.bool() {
			rs.InjectedSuspect = &Injected{Packet: d.int(), TTL: uint8(d.uint()), SenderTTLMin: uint8(d.uint()),
				SenderTTLMax: uint8(d.uint()), IPID: uint16(d.uint()), Evidence: d.strs()}
		}
		r.Reset = rs
	}
	r.ZeekState = d.istr()
	r.ZeekHistory = d.istr()
	r.ClientCounters = d.counters(cc)
	r.ServerCounters = d.counters(sc)
	r.FirstPacket = d.int()
	r.LastPacket = d.int()
	r.Start = d.time()
	r.End = d.time()
	r.ClientPackets = int(d.int())
	r.ServerPackets = int(d.int())
	r.ClientBytes = d.int()
	r.ServerBytes = d.int()
	if n := d.length(); n > 0 {
		r.Evidence = slices.Grow(ev, n)[:n]
		r.spareEvidence = r.Evidence
		for i := range r.Evidence {
			r.Evidence[i] = d.int()
		}
	}
	expl := d.bytes()
	if n := d.length(); n > 0 {
		r.Annotations = slices.Grow(an, n)[:n]
		r.spareAnnotations = r.Annotations
		for i := range r.Annotations {
			a := &r.Annotations[i]
			a.Packet = d.int()
			if !d.bool() {
				a.Text = d.str()
				continue
			}
			// One string holds the annotation and the explanation.
			prefix := d.bytes()
			var buf [256]byte
			a.Text = string(append(append(buf[:0], prefix...), expl...))
			if r.Explanation == "" {
				r.Explanation = a.Text[len(prefix):]
			}
		}
	}
	if r.Explanation == "" {
		r.Explanation = string(expl)
	}
	r.Notes = d.strs()
	r.Evicted = d.bool()
	r.SynDropsSeen = int(d.int())
	r.OverflowDrops = int(d.int())
	r.HandshakeDone = d.time()
	r.ClosedAt = d.time()
	r.ServerFirstResponse = d.time()
	if d.err == nil && len(d.b) != 0 {
		d.err = errCorrupt
	}
	return d.err
}

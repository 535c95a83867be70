package flows

import (
	"cmp"
	"net/netip"
	"slices"
	"time"

	"github.com/tcpwhy/tcpwhy/capture"
)

// Config bounds the table.
type Config struct {
	// MaxFlows caps the flows tracked at once; when it is reached the
	// least recently active flow is evicted (decided and handed to
	// OnDone). 0 means no cap.
	MaxFlows int
	// IdleHandshake is how long a flow that never completed its
	// handshake may stay silent before it is decided (0: 3 minutes).
	IdleHandshake time.Duration
	// IdleEstablished is how long an established flow may stay silent
	// (0: 2 hours).
	IdleEstablished time.Duration
	// IdleClosed is how long a closed or reset flow is kept for late
	// packets (0: 5 s, Zeek's tcp_close_delay; retransmitted FINs, late
	// ACKs and data answered from TIME_WAIT come within round trips).
	IdleClosed time.Duration
	// OnDone receives every flow once it is decided: expired, evicted,
	// replaced by a reuse of its 4-tuple, or flushed. The table forgets
	// the flow afterwards.
	OnDone func(f *Flow)
}

// Update is what the table says about one segment.
type Update struct {
	// Flow is the flow the segment belongs to (nil for an ICMP error
	// that matches no flow).
	Flow *Flow
	// Dir is the sender's side: Client or Server.
	Dir int
	// New is set when the segment started the flow.
	New bool
	// Seq is Wireshark's analysis of the segment.
	Seq SeqResult
}

type flowKey struct{ a, b netip.AddrPort }

func keyOf(src, dst netip.AddrPort) flowKey {
	if src.Compare(dst) < 0 {
		return flowKey{src, dst}
	}
	return flowKey{dst, src}
}

// Table is the flow table. Create it with NewTable.
type Table struct {
	cfg   Config
	flows map[flowKey]*Flow
	// idle holds the flows in order of last activity (least recent
	// first), in two lists: attempts one side never answered, and the rest.
	idle    [2]idleList
	nextID  int64
	now     time.Time
	sweepAt time.Time

	// Evicted counts flows decided early because MaxFlows was reached.
	Evicted int64
	// Peak is the largest number of flows tracked at once.
	Peak int
	// StrayICMP counts ICMP errors that matched no flow.
	StrayICMP int64
}

// NewTable returns an empty table.
func NewTable(cfg Config) *Table {
	if cfg.IdleHandshake == 0 {
		cfg.IdleHandshake = 3 * time.Minute
	}
	if cfg.IdleEstablished == 0 {
		cfg.IdleEstablished = 2 * time.Hour
	}
	if cfg.IdleClosed == 0 {
		cfg.IdleClosed = 5 * time.Second
	}
	return &Table{cfg: cfg, flows: make(map[flowKey]*Flow)}
}

// Len returns the number of flows tracked.
func (t *Table) Len() int { return len(t.flows) }

// Add feeds one segment (in capture order) and returns what it updated.
func (t *Table) Add(seg *capture.Segment) Update {
	t.Advance(seg.Time)
	src, dst := seg.SrcAddrPort(), seg.DstAddrPort()
	k := keyOf(src, dst)
	f := t.flows[k]
	if seg.Kind == capture.KindICMPError {
		if f == nil {
			t.StrayICMP++
			return Update{}
		}
		d := f.DirOf(src)
		f.icmp(d, seg)
		f.Zeek.Observe((d == Client) == f.aIsClient, seg)
		t.touch(f)
		return Update{Flow: f, Dir: d}
	}
	isNew, reused := false, false
	if f != nil && (f.startsNewFlow(seg, src) || f.zeekSplit(seg)) {
		t.remove(f)
		t.decide(f)
		f, reused = nil, true
	}
	if f == nil {
		if t.cfg.MaxFlows > 0 && len(t.flows) >= t.cfg.MaxFlows && len(t.flows) > 0 {
			old := t.evictionVictim()
			t.remove(old)
			t.Evicted++
			old.Evicted = true
			t.decide(old)
		}
		t.nextID++
		f = newFlow(t.nextID, k, seg)
		f.Reused = reused
		t.flows[k] = f
		if len(t.flows) > t.Peak {
			t.Peak = len(t.flows)
		}
		isNew = true
	}
	d := f.DirOf(src)
	f.add(d, seg)
	res := f.Seq.Observe(d, seg)
	f.Zeek.Observe((d == Client) == f.aIsClient, seg)
	if isNew && reused {
		res.Labels |= LabelPortReused
	}
	t.touch(f)
	return Update{Flow: f, Dir: d, New: isNew, Seq: res}
}

// Advance moves the table's clock to now without a segment (a live
// capture's tick, see capture.ErrTick) and decides the flows idle past
// their limit, so that a quiet interface still gets its flows decided.
// A time before the clock is ignored.
func (t *Table) Advance(now time.Time) {
	if now.After(t.now) {
		t.now = now
	}
	if !t.now.Before(t.sweepAt) {
		t.expire()
		t.sweepAt = t.now.Add(time.Second)
	}
}

// Flush decides every flow still tracked, in the order of their first
// packet, and empties the table.
func (t *Table) Flush() {
	var all []*Flow
	for i := range t.idle {
		for f := t.idle[i].head; f != nil; f = f.next {
			all = append(all, f)
		}
	}
	sortByID(all)
	for _, f := range all {
		t.remove(f)
		t.decide(f)
	}
}

// idleList is a doubly linked list of flows through Flow.prev/next.
type idleList struct{ head, tail *Flow }

// Idle lists: attempts that one side never answered, and answered flows.
const (
	unanswered = 0
	answered   = 1
)

func idleClass(f *Flow) int {
	if f.Ep[Client].Packets == 0 || f.Ep[Server].Packets == 0 {
		return unanswered
	}
	return answered
}

// evictionVictim picks the flow to evict when the table is full: the
// least recently active attempt that the other side never answered (a
// SYN flood's spoofed SYNs), so that a flood does not cut real
// connections in the middle; only when there is none, the least recently
// active flow.
func (t *Table) evictionVictim() *Flow {
	if f := t.idle[unanswered].head; f != nil {
		return f
	}
	return t.idle[answered].head
}

// zeekSplit reports whether Zeek's timers would have ended f before seg
// and seg starts a new connection. It is followed only for flows that
// ended (closed or reset) or that one side never answered (except SYN
// retransmissions), so that a
// long-idle established connection stays one flow (Zeek's 5-minute
// inactivity timeout would cut it; the kernel's keep-alive waits 2 hours).
func (f *Flow) zeekSplit(seg *capture.Segment) bool {
	if !(f.done || f.Ep[Client].Packets == 0 || f.Ep[Server].Packets == 0) {
		return false
	}
	// A retransmitted SYN stays with its connection attempt, however late
	// (Zeek's 5 s attempt timer would split the 3.1–6.4 schedule).
	if c := &f.Ep[Client]; seg.Flags&(capture.SYN|capture.ACK) == capture.SYN && c.SYNCount > 0 && seg.Seq == c.ISN {
		return false
	}
	return f.Zeek.Expired(seg.Time)
}

func (t *Table) decide(f *Flow) {
	if t.cfg.OnDone != nil {
		t.cfg.OnDone(f)
	}
}

func (t *Table) idleLimit(f *Flow) time.Duration {
	switch {
	case f.done:
		return t.cfg.IdleClosed
	case f.Ep[Client].State == StateSynSent || f.Ep[Server].State == StateSynReceived:
		return t.cfg.IdleHandshake
	default:
		return t.cfg.IdleEstablished
	}
}

// expire decides the flows idle past their limit. The idle list is in
// order of last activity, but limits differ by state, so it walks until
// it meets a flow active within the shortest limit.
func (t *Table) expire() {
	shortest := min(t.cfg.IdleClosed, t.cfg.IdleHandshake, t.cfg.IdleEstablished)
	for i := range t.idle {
		for f := t.idle[i].head; f != nil; {
			next := f.next
			idle := t.now.Sub(f.Last.Time)
			if idle < shortest {
				break
			}
			if idle >= t.idleLimit(f) {
				t.remove(f)
				t.decide(f)
			}
			f = next
		}
	}
}

func (t *Table) touch(f *Flow) {
	c := idleClass(f)
	l := &t.idle[c]
	if l.tail == f {
		return
	}
	if f.listed {
		t.unlink(f)
	}
	f.prev, f.next = l.tail, nil
	if l.tail != nil {
		l.tail.next = f
	} else {
		l.head = f
	}
	l.tail = f
	f.list, f.listed = c, true
}

func (t *Table) unlink(f *Flow) {
	if !f.listed {
		return
	}
	l := &t.idle[f.list]
	if f.prev != nil {
		f.prev.next = f.next
	} else {
		l.head = f.next
	}
	if f.next != nil {
		f.next.prev = f.prev
	} else {
		l.tail = f.prev
	}
	f.prev, f.next, f.listed = nil, nil, false
}

func (t *Table) remove(f *Flow) {
	t.unlink(f)
	if t.flows[f.key] == f {
		delete(t.flows, f.key)
	}
}

func sortByID(fs []*Flow) {
	slices.SortFunc(fs, func(a, b *Flow) int { return cmp.Compare(a.ID, b.ID) })
}

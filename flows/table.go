package flows

import (
	"cmp"
	"math/bits"
	"math/rand/v2"
	"net/netip"
	"runtime"
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
	// CompactAbove is the number of flows tracked above which a flow
	// that closed is kept compacted while it waits IdleClosed for late
	// packets (see closedFlow), and so are an attempt that one side has
	// left unanswered for compactUnansweredAfter (a SYN flood's spoofed
	// SYNs) and an open connection quiet for compactIdleAfter: about
	// 0.45 KiB instead of 1.2 KiB for a closed or open flow, 0.2 KiB for
	// a lone SYN, for 1-3 µs of CPU per flow (0: DefaultCompactAbove;
	// negative: always). Compacting changes nothing but memory: a late
	// packet gets the flow back whole.
	CompactAbove int
	// OnDone receives every flow once it is decided: expired, evicted,
	// replaced by a reuse of its 4-tuple, or flushed. The table forgets
	// the flow afterwards; the caller may hand it back with Release once
	// it is done with it.
	OnDone func(f *Flow)
	// NoSeqAnalysis skips Wireshark's per-segment analysis (Update.Seq
	// stays empty, except for the port-reuse label): for callers that
	// print no packets.
	NoSeqAnalysis bool
}

// DefaultCompactAbove is Config.CompactAbove's default: compacting pays
// once whole flows would take more memory than the rest of the analysis
// (64 MiB). 32,768, tried on 2026-12-07, lowered the peaks of captures
// that compact anyway (busy.pcap 205-207 -> 191-193 MiB, a 2 M-SYN flood
// 240-243 -> 216-219 MiB: the Go heap keeps the memory of the most flows
// ever whole at once), but a capture that tracks between 32,768 and 65,536
// flows then compacts every closed flow: 300,000 one-off connections,
// 41,000 tracked at once, took 1.8-2.3 s instead of 1.0-1.1 s (for 66
// MiB instead of 102).
const DefaultCompactAbove = 1 << 16

// Update is what the table says about one segment.
type Update struct {
	// Flow is the flow the segment belongs to (nil for an ICMP error
	// that matches no flow). It stays valid until the next call of Add,
	// Advance or Flush: after that, a flow may have been compacted
	// (see Config.CompactAbove) and its memory reused.
	Flow *Flow
	// Dir is the sender's side: Client or Server.
	Dir int
	// New is set when the segment started the flow.
	New bool
	// Seq is Wireshark's analysis of the segment.
	Seq SeqResult
}

// Table is the flow table. Create it with NewTable.
//
// Flows are found through an open-addressing hash table keyed by
// SymmetricHash of the 4-tuple; its slots hold no keys, only the hash
// and the flow, whose endpoints are the key.
type Table struct {
	cfg Config
	// slots has a power-of-two length; shift is 64 minus its log2.
	slots []slot
	count int
	shift uint8
	// idle holds the flows in order of last activity (least recent
	// first), in one list per idle class and idle kind (see listOf), so
	// that each list has one idle limit and a sweep stops at the first
	// flow of each that is not past it.
	idle [numLists]idleList
	// links holds the idle lists' links by index (Flow.link; 0 is
	// none), linked the flow of each index, and freeLinks the indexes
	// not in use. Every whole flow in the hash table has an index (its
	// slot names it by it). Dense and pointer-free, the links let a
	// segment move its flow to the tail of its list without writing the
	// flows before and after it (cold cache lines) or a pointer (the
	// collector's write barrier).
	links     []idleLink
	linked    []*Flow
	freeLinks []uint32
	nextID    int64
	now       stamp
	sweepAt   stamp
	// slab holds the whole flows, outside the heap (see flowSlab).
	slab *flowSlab
	// closed holds the compacted flows of each idle list (closed
	// answered flows, unanswered attempts), in order of last activity;
	// store keeps them. last is the flow of the previous segment,
	// compacted at the next call if it closed; scratch is the coding
	// buffer.
	closed  [numLists]closedList
	store   closedStore
	last    *Flow
	scratch []byte
	// attempts decides when unanswered attempts are compacted (see
	// attemptStats).
	attempts attemptStats

	// Compacted counts the flows compacted (a flow compacted, reopened
	// by a late packet and compacted again counts twice).
	Compacted int64

	// Evicted counts flows decided early because MaxFlows was reached.
	Evicted int64
	// Peak is the largest number of flows tracked at once.
	Peak int
	// StrayICMP counts ICMP errors that matched no flow.
	StrayICMP int64
}

// slot is one entry of the hash table: h, the top 32 bits of the flow's
// SymmetricHash (see slotHash), and ref, which names a whole flow by its
// link index (Flow.link: Table.linked holds the flow) or a compacted one
// by its cref with slotClosed set; 0 when the slot is empty. 8 bytes,
// eight slots a cache line, and no pointers, so that the collector does
// not scan the table (32 MB in a flood of a million tracked flows).
type slot struct {
	h   uint32
	ref uint32
}

// slotClosed marks a slot's ref as a compacted flow's cref.
const slotClosed = 1 << 31

func (s *slot) empty() bool { return s.ref == 0 }

// closed returns the cref of the compacted flow in s; 0 when s holds a
// whole flow or none.
func (s *slot) closed() cref {
	if s.ref&slotClosed == 0 {
		return 0
	}
	return cref(s.ref &^ slotClosed)
}

// closedRef is the ref of a slot that holds the compacted flow c.
func closedRef(c cref) uint32 { return uint32(c) | slotClosed }

const minSlots = 1024

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
	if cfg.CompactAbove == 0 {
		cfg.CompactAbove = DefaultCompactAbove
	}
	// Link index 0 is none.
	t := &Table{cfg: cfg, links: make([]idleLink, 1, minSlots), linked: make([]*Flow, 1, minSlots)}
	t.resize(minSlots)
	// The store's chunks are outside the heap: they are given back when
	// the store empties (shrink, Flush), or else once the table is
	// unreachable.
	t.store.mem = new(offHeap)
	runtime.AddCleanup(t, (*offHeap).freeAll, t.store.mem)
	t.slab = newFlowSlab(!cfg.NoSeqAnalysis)
	runtime.AddCleanup(t, (*flowSlab).freeEmpty, t.slab)
	return t
}

// Len returns the number of flows tracked.
func (t *Table) Len() int { return t.count }

// Add feeds one segment (in capture order) and returns what it updated.
func (t *Table) Add(seg *capture.Segment) Update {
	t.compactLast()
	ts := stampOf(seg.Time)
	t.advance(ts)
	src, dst := epAddrFrom(seg.Src, seg.SrcPort), epAddrFrom(seg.Dst, seg.DstPort)
	h := slotHash(symHash(src, dst))
	f := t.lookup(h, src, dst)
	if seg.Kind == capture.KindICMPError {
		if f == nil {
			t.StrayICMP++
			return Update{}
		}
		d := f.dirOf(src)
		f.icmp(d, seg, ts)
		f.Zeek.Observe((d == Client) == f.aIsClient, seg)
		t.touch(f)
		t.last = f
		return Update{Flow: f, Dir: d}
	}
	ns := seg.Time.UnixNano()
	isNew, reused := false, false
	if f != nil && (f.startsNewFlow(seg, src) || f.zeekSplit(seg, ns)) {
		t.remove(f)
		t.decide(f)
		f, reused = nil, true
	}
	if f == nil {
		if t.cfg.MaxFlows > 0 && t.count >= t.cfg.MaxFlows && t.count > 0 {
			old := t.evictionVictim()
			t.remove(old)
			t.Evicted++
			old.Evicted = true
			t.decide(old)
		}
		t.nextID++
		f = t.newFlow()
		f.start(t.nextID, seg, src, dst, ts)
		f.Reused = reused
		t.insert(h, f)
		if t.count > t.Peak {
			t.Peak = t.count
		}
		isNew = true
	}
	d := f.dirOf(src)
	f.add(d, seg, ts)
	var res SeqResult
	if !t.cfg.NoSeqAnalysis {
		if f.Seq == nil {
			// Not reached: a flow's slot holds its analysis from
			// its first segment (newFlow).
			f.Seq = t.slab.seqOf(f)
			*f.Seq = SeqAnalysis{}
		}
		res = f.Seq.observe(d, seg, ns)
	}
	f.Zeek.observe((d == Client) == f.aIsClient, seg, ns)
	if isNew && reused {
		res.Labels |= LabelPortReused
	}
	t.touch(f)
	t.last = f
	return Update{Flow: f, Dir: d, New: isNew, Seq: res}
}

// Release gives back a flow that OnDone handed over, once the caller is
// done with it and keeps no pointer into it: the table reuses its memory
// for a later flow. Flows live outside Go's heap (see flowSlab), so a
// flow never released keeps its memory until the table is unreachable,
// and longer if it still holds other flows; releasing a flow twice, or
// one not yet decided, does nothing.
func (t *Table) Release(f *Flow) {
	if f == nil || !f.decided || f.released {
		return
	}
	f.released = true
	t.freeFlow(f, true)
}

// InUse returns the number of flows whose memory the table has handed
// out: the whole flows it tracks, and those decided and not yet
// released. Once Flush has run and every decided flow is released, it
// is 0.
func (t *Table) InUse() int { return t.slab.inUse }

// freeFlow gives back f's slot and the rare state it points to, and
// Zeek's blocks unless the store keeps them (withBlocks unset).
func (t *Table) freeFlow(f *Flow, withBlocks bool) {
	for i := range f.Ep {
		if r := f.Ep[i].rare; r != nil {
			f.Ep[i].rare = nil
			freeEpRare(r)
		}
	}
	if f.rare != nil {
		flowRares.put(f.rare)
		f.rare = nil
	}
	if withBlocks {
		for i := range f.Zeek.ep {
			if b := f.Zeek.ep[i].blocks; b != nil {
				f.Zeek.ep[i].blocks = nil
				zeekBlocks.put(b)
			}
		}
	}
	t.slab.free(f)
}

// newFlow returns a zeroed flow, with its sequence analysis (zeroed)
// unless the table runs without them.
func (t *Table) newFlow() *Flow { return t.slab.alloc() }

// SymmetricHash hashes a TCP 4-tuple so that both directions give the
// same value: SymmetricHash(a, b) == SymmetricHash(b, a). All its bits
// are mixed, so any of them may pick a shard. The address's IPv6 zone is
// ignored. The flow table uses it to find flows.
//
// The hash is seeded at random when the process starts (as Go's maps
// are), so that traffic crafted to collide cannot slow the table down:
// values are stable within a process only.
func SymmetricHash(src, dst netip.AddrPort) uint64 {
	return symHash(epAddrOf(src), epAddrOf(dst))
}

// Hash constants (wyhash's secrets).
const (
	hashK0 = 0xa0761d6478bd642f
	hashK1 = 0xe7037ed1a0b428db
	hashK2 = 0x8ebc6af09c88c6e3
)

// hashSeed is the process's random hash seed.
var hashSeed = rand.Uint64()

// mum is wyhash's mixing step: the 128-bit product of a and b, folded.
func mum(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

// epHash hashes one endpoint.
func epHash(a epAddr) uint64 {
	return mum(a.hi^hashSeed^uint64(a.port)<<48^uint64(a.kind)<<40, a.lo^hashK1)
}

// symHash is SymmetricHash on endpoints: the endpoints' hashes are added
// (the same in either order), then mixed.
func symHash(a, b epAddr) uint64 {
	h := epHash(a) + epHash(b)
	return mum(h^hashK2, h^hashK0)
}

// slotHash is what a slot keeps of a flow's SymmetricHash: its top 32
// bits, enough to tell most flows apart before their endpoints are
// compared, and to find a flow's home again when the table grows.
func slotHash(h uint64) uint32 { return uint32(h >> 32) }

// home is the slot where a flow with slot hash h is looked for first.
// Fibonacci hashing of h keeps the slots spread also when the caller
// shards flows on some bits of the same hash.
func (t *Table) home(h uint32) int {
	return int((uint64(h) * 0x9e3779b97f4a7c15) >> t.shift)
}

// lookup finds the flow of the 4-tuple (a, b) in either direction.
func (t *Table) lookup(h uint32, a, b epAddr) *Flow {
	mask := len(t.slots) - 1
	for i := t.home(h); ; i = (i + 1) & mask {
		s := &t.slots[i]
		switch {
		case s.empty():
			return nil
		case s.ref&slotClosed == 0:
			if s.h == h {
				if f := t.linked[s.ref]; f.hasTuple(a, b) {
					return f
				}
			}
		default:
			if s.h == h && t.store.hasTuple(s.closed(), a, b) {
				if r := t.store.rec(s.closed()); listClass(r.list) == unanswered && t.now.sub(r.last) < compactUnansweredAfter {
					// Compacted early: flood mode's cost. (SYNs
					// retransmitted later reopen attempts either way.)
					t.attempts.reopened()
				}
				return t.reopen(s)
			}
		}
	}
}

// hasTuple reports whether the flow's endpoints are a and b, in either
// order.
func (f *Flow) hasTuple(a, b epAddr) bool { return sameTuple(f.Ep[0].addr, f.Ep[1].addr, a, b) }

// sameTuple reports whether the endpoints x and y are a and b, in either
// order.
func sameTuple(x, y, a, b epAddr) bool { return (x == a && y == b) || (x == b && y == a) }

// insert adds f, whose hash is h, giving it a link index (its slot's
// ref) unless it has one.
func (t *Table) insert(h uint32, f *Flow) {
	if (t.count+1)*4 > len(t.slots)*3 {
		t.resize(len(t.slots) * 2)
	}
	if f.link == 0 {
		f.link = t.newLink(f)
	}
	mask := len(t.slots) - 1
	i := t.home(h)
	for !t.slots[i].empty() {
		i = (i + 1) & mask
	}
	t.slots[i] = slot{h: h, ref: f.link}
	t.count++
}

// resize rehashes into n slots (a power of two).
func (t *Table) resize(n int) {
	old := t.slots
	t.slots = make([]slot, n)
	t.shift = uint8(64 - bits.TrailingZeros(uint(n)))
	mask := len(t.slots) - 1
	for _, s := range old {
		if !s.empty() {
			i := t.home(s.h)
			for !t.slots[i].empty() {
				i = (i + 1) & mask
			}
			t.slots[i] = s
		}
	}
}

// delete removes f from the hash table, shifting back the entries that
// follow it (linear probing needs no tombstones).
func (t *Table) delete(f *Flow) {
	i := t.slotIndex(f.Ep[0].addr, f.Ep[1].addr, f.link)
	if i < 0 {
		return
	}
	mask := len(t.slots) - 1
	for j := (i + 1) & mask; !t.slots[j].empty(); j = (j + 1) & mask {
		// The entry at j may move to the hole at i unless its home lies
		// cyclically in (i, j].
		k := t.home(t.slots[j].h)
		if (i <= j && (k <= i || k > j)) || (i > j && k <= i && k > j) {
			t.slots[i] = t.slots[j]
			i = j
		}
	}
	t.slots[i] = slot{}
	t.count--
}

// slotIndex returns the index of the slot whose ref is ref (a whole
// flow's link index or a compacted flow's closedRef), whose endpoints are
// a and b; -1 when there is none.
func (t *Table) slotIndex(a, b epAddr, ref uint32) int {
	return t.slotIndexOf(slotHash(symHash(a, b)), ref)
}

// slotIndexOf is slotIndex for the flow of slot hash h.
func (t *Table) slotIndexOf(h, ref uint32) int {
	mask := len(t.slots) - 1
	for i := t.home(h); ; i = (i + 1) & mask {
		s := &t.slots[i]
		switch {
		case s.empty() || ref == 0:
			return -1
		case s.ref == ref:
			return i
		}
	}
}

// Advance moves the table's clock to now without a segment (a live
// capture's tick, see capture.ErrTick) and decides the flows idle past
// their limit, so that a quiet interface still gets its flows decided.
// A time before the clock is ignored.
func (t *Table) Advance(now time.Time) {
	t.compactLast()
	t.advance(stampOf(now))
}

// sweepEvery is how often (in capture time) the table decides the flows
// idle past their limit. A sweep costs only the flows it decides (see
// expire), so it runs often: a closed flow waits IdleClosed and at most
// 2% more, not a second more (at 2,000 connections a second, 10% fewer
// flows tracked at once).
const sweepEvery = 100 * time.Millisecond

func (t *Table) advance(now stamp) {
	if now > t.now {
		t.now = now
	}
	if t.now >= t.sweepAt {
		t.expire()
		t.shrink()
		t.sweepAt = t.now.add(sweepEvery)
	}
	t.compactUnanswered()
	t.compactIdle()
	t.compactBacklog()
}

// Flush decides every flow still tracked, in the order of their first
// packet, and empties the table. A compacted flow is made whole only
// when its turn comes, so that a caller that is done with the flows
// decided so far (Release) keeps memory at the compacted size.
func (t *Table) Flush() {
	t.last = nil
	// The compacted flows (a million in a SYN flood) and the whole ones
	// are sorted apart, the former in a slice without pointers, which the
	// collector does not scan, then merged.
	type compacted struct {
		id int64
		c  cref
	}
	// Sized at once: grown by append, the copies of a flood's million
	// took 0.35 s and, for a moment, half as much memory again.
	closed := make([]compacted, 0, t.store.live)
	for i := range t.closed {
		for c := t.closed[i].head; c != 0; c = t.store.rec(c).next {
			closed = append(closed, compacted{id: t.store.rec(c).id, c: c})
		}
	}
	whole := make([]*Flow, 0, max(t.count-t.store.live, 0))
	for i := range t.idle {
		for k := t.idle[i].head; k != 0; k = t.links[k].next {
			whole = append(whole, t.linked[k])
		}
	}
	slices.SortFunc(closed, func(a, b compacted) int { return cmp.Compare(a.id, b.id) })
	slices.SortFunc(whole, func(a, b *Flow) int { return cmp.Compare(a.ID, b.ID) })
	// The hash table is emptied at once at the end, not slot by slot:
	// finding each flow's slot twice (to reopen it, then to delete it)
	// cost a cache miss per flow, 0.7 s of CPU at the end of a 2 M-SYN
	// flood. Nothing looks a flow up in between (decide's callback may
	// release flows, which newFlow then reuses).
	for len(closed) > 0 || len(whole) > 0 {
		var f *Flow
		if len(whole) == 0 || (len(closed) > 0 && closed[0].id < whole[0].ID) {
			f = t.takeClosed(closed[0].c)
			closed = closed[1:]
		} else {
			f = whole[0]
			whole = whole[1:]
			t.unlink(f)
		}
		t.decide(f)
	}
	clear(t.slots)
	t.count = 0
	t.store.trim()
}

// shrink gives back the memory a past peak of flows (a SYN flood in a
// live capture) left behind, so that memory follows the flows tracked
// now: the store's chunks once it holds no flow (and the chunks its
// arena's free blocks leave empty, once they are a quarter of it: see
// closedStore.wasteful), the hash table while it is less than an eighth
// full (down to a quarter full), and the idle lists' links while fewer
// than a quarter are in use; the blocks of rare state (the resets and
// retransmissions of whole flows: a port scan's) that a past peak left
// free (keepPool.trim); and the slab's empty chunks but one.
func (t *Table) shrink() {
	t.store.trim()
	trimKeepPools()
	if n := len(t.slots); n > minSlots && t.count*8 < n {
		m := minSlots
		for m < t.count*4 {
			m *= 2
		}
		t.resize(m)
	}
	if n := len(t.links); n > minSlots && len(t.freeLinks)*4 > n*3 {
		t.renumber()
	}
	t.slab.trimEmpty(1)
	t.tidy()
}

// maxTidyMoves bounds the flows a sweep moves (about 0.1 us each).
const maxTidyMoves = 4096

// tidy moves whole flows out of the slab's sparsest chunks into its
// fullest, while fewer than eight slots in nine of its chunks are in use,
// so that chunks empty and are given back. The flows that are whole at
// once peak before the compacted ones do (busy.pcap: about 56,000, then
// 14,000 when the process's memory peaks), and the freed ones are
// scattered: the slab's chunks held 55 MiB for 17 MB of flows at that
// peak (two slots in three instead of eight in nine: 169 against 166 MiB,
// 2% faster). A flow decided and not yet released stays where it is.
func (t *Table) tidy() {
	s := t.slab
	for moves := 0; moves < maxTidyMoves && s.sparse(); {
		k := s.sparsest()
		if k < 0 {
			return
		}
		moved := false
		for i := 0; i < slabSlots && s.chunk[k].mem != nil; i++ {
			if s.chunk[k].free&(1<<i) != 0 {
				continue
			}
			f := s.flowAt(k, i)
			if f.link == 0 || t.linked[f.link] != f {
				continue
			}
			to := s.move(f)
			if to == f {
				return
			}
			t.linked[to.link] = to
			if t.last == f {
				t.last = to
			}
			moved = true
			moves++
		}
		if !moved {
			// Only flows decided and not yet released: they go soon.
			return
		}
	}
}

// renumber gives the flows new link indexes, 1 to their count (the
// listed ones in the order of the idle lists), in arrays of that size,
// and renames them in their slots.
func (t *Table) renumber() {
	n := len(t.links) - len(t.freeLinks)
	links, linked := make([]idleLink, 1, n), make([]*Flow, 1, n)
	newOf := make([]uint32, len(t.links))
	for l := range t.idle {
		var prev uint32
		for k := t.idle[l].head; k != 0; k = t.links[k].next {
			f := t.linked[k]
			nk := uint32(len(links))
			links = append(links, idleLink{prev: prev})
			linked = append(linked, f)
			if prev != 0 {
				links[prev].next = nk
			} else {
				t.idle[l].head = nk
			}
			newOf[k] = nk
			f.link, prev = nk, nk
		}
		t.idle[l].tail = prev
	}
	// Flows in the table but in no list (reopened, not yet touched).
	for k, f := range t.linked {
		if f != nil && newOf[k] == 0 {
			nk := uint32(len(links))
			links = append(links, idleLink{})
			linked = append(linked, f)
			newOf[k] = nk
			f.link = nk
		}
	}
	for i := range t.slots {
		if s := &t.slots[i]; !s.empty() && s.ref&slotClosed == 0 {
			s.ref = newOf[s.ref]
		}
	}
	t.links, t.linked, t.freeLinks = links, linked, nil
}

// idleList is a doubly linked list of flows through Table.links: the
// link indexes of its first and last flows (0 when empty).
type idleList struct{ head, tail uint32 }

// idleLink is a listed flow's place in its idle list: the link indexes
// of the flows before and after it (0 for none).
type idleLink struct{ prev, next uint32 }

// first returns the least recently active flow of idle list l; nil when
// the list is empty.
func (t *Table) first(l uint8) *Flow { return t.linked[t.idle[l].head] }

// Idle classes: attempts that one side never answered (evicted first),
// and answered flows.
const (
	unanswered = 0
	answered   = 1
)

// numLists counts the idle lists: one per idle class and idle kind.
const numLists = 2 * numIdleKinds

func idleClass(f *Flow) uint8 {
	if f.Ep[Client].Packets == 0 || f.Ep[Server].Packets == 0 {
		return unanswered
	}
	return answered
}

// listOf returns the idle list that f belongs in: its idle class and
// idle kind (listClass and listKind undo it).
func listOf(f *Flow) uint8 { return idleClass(f)*numIdleKinds + uint8(idleKindOf(f)) }

func listClass(l uint8) uint8   { return l / numIdleKinds }
func listKind(l uint8) idleKind { return idleKind(l % numIdleKinds) }

// evictionVictim picks the flow to evict when the table is full: the
// least recently active attempt that the other side never answered (a
// SYN flood's spoofed SYNs), so that a flood does not cut real
// connections in the middle; only when there is none, the least recently
// active flow.
func (t *Table) evictionVictim() *Flow {
	for class := range uint8(2) {
		// Whole and compacted flows of a class take their places in the
		// order of last activity, whatever their lists.
		f := t.oldestWhole(class)
		var c *closedFlow
		var cr cref
		for l := class * numIdleKinds; l < (class+1)*numIdleKinds; l++ {
			if h := t.closed[l].head; h != 0 {
				if d := t.store.rec(h); c == nil || d.lastNumber < c.lastNumber {
					c, cr = d, h
				}
			}
		}
		if c != nil && (f == nil || c.lastNumber < f.Last.Number) {
			return t.reopenClosed(cr)
		}
		if f != nil {
			return f
		}
	}
	return nil
}

// oldestWhole returns the least recently active whole (not compacted)
// flow of an idle class, the oldest head of its lists; nil when there is
// none.
func (t *Table) oldestWhole(class uint8) *Flow {
	var f *Flow
	for l := class * numIdleKinds; l < (class+1)*numIdleKinds; l++ {
		if g := t.first(l); g != nil && (f == nil || g.Last.Number < f.Last.Number) {
			f = g
		}
	}
	return f
}

// zeekSplit reports whether Zeek's timers would have ended f before seg
// and seg starts a new connection. It is followed only for flows that
// ended (closed or reset) or that one side never answered (except SYN
// retransmissions), so that a
// long-idle established connection stays one flow (Zeek's 5-minute
// inactivity timeout would cut it; the kernel's keep-alive waits 2 hours).
func (f *Flow) zeekSplit(seg *capture.Segment, ns int64) bool {
	if !(f.done || f.Ep[Client].Packets == 0 || f.Ep[Server].Packets == 0) {
		return false
	}
	// A retransmitted SYN stays with its connection attempt, however late
	// (Zeek's 5 s attempt timer would split the 3.1–6.4 schedule).
	if c := &f.Ep[Client]; seg.Flags&(capture.SYN|capture.ACK) == capture.SYN && c.SYNCount > 0 && seg.Seq == c.ISN() {
		return false
	}
	return f.Zeek.expired(ns)
}

func (t *Table) decide(f *Flow) {
	f.decided = true
	if t.cfg.OnDone != nil {
		t.cfg.OnDone(f)
	}
}

// idleKind says which of the Config's idle limits applies to a flow.
type idleKind uint8

const (
	idleEstablished idleKind = iota
	idleHandshake
	idleClosed
)

// numIdleKinds counts the idle kinds.
const numIdleKinds = uint8(idleClosed) + 1

func idleKindOf(f *Flow) idleKind {
	switch {
	case f.done:
		return idleClosed
	case f.Ep[Client].State == StateSynSent || f.Ep[Server].State == StateSynReceived:
		return idleHandshake
	default:
		return idleEstablished
	}
}

// limit returns the idle limit of kind k.
func (t *Table) limit(k idleKind) time.Duration {
	switch k {
	case idleClosed:
		return t.cfg.IdleClosed
	case idleHandshake:
		return t.cfg.IdleHandshake
	default:
		return t.cfg.IdleEstablished
	}
}

// expire decides the flows idle past their limit. Each idle list is in
// order of last activity and has one limit, so it stops at the first
// flow of each that is not past it: a sweep costs the flows it decides.
func (t *Table) expire() {
	for l := range uint8(numLists) {
		limit := t.limit(listKind(l))
		for {
			// The compacted flows take their places in the list's order
			// of last activity.
			f, cr := t.first(l), t.closed[l].head
			if c := t.store.recOf(cr); c != nil && (f == nil || c.lastNumber < f.Last.Number) {
				if t.now.sub(c.last) < limit {
					break
				}
				f = t.reopenClosed(cr)
			} else if f == nil || t.now.sub(f.Last.t) < limit {
				break
			}
			t.remove(f)
			t.decide(f)
		}
	}
}

// touch moves f to the tail of its idle list (the one listOf says now),
// listing it if it was not.
func (t *Table) touch(f *Flow) {
	c := listOf(f)
	l := &t.idle[c]
	if f.listed {
		if l.tail == f.link {
			return
		}
		if listClass(f.list) == unanswered && listClass(c) == answered {
			// The flow's other side spoke: an attempt answered while
			// whole.
			t.attempts.answered()
		}
		t.detach(f)
	} else if f.link == 0 {
		f.link = t.newLink(f)
	}
	k := f.link
	t.links[k] = idleLink{prev: l.tail}
	if l.tail != 0 {
		t.links[l.tail].next = k
	} else {
		l.head = k
	}
	l.tail = k
	f.list, f.listed = c, true
}

// detach takes the listed flow f out of its idle list; it keeps its
// link index.
func (t *Table) detach(f *Flow) {
	l := &t.idle[f.list]
	ln := t.links[f.link]
	if ln.prev != 0 {
		t.links[ln.prev].next = ln.next
	} else {
		l.head = ln.next
	}
	if ln.next != 0 {
		t.links[ln.next].prev = ln.prev
	} else {
		l.tail = ln.prev
	}
}

// unlink takes f out of its idle list, if it is in one, and frees its
// link index: f has left the hash table.
func (t *Table) unlink(f *Flow) {
	if f.listed {
		t.detach(f)
	}
	if f.link != 0 {
		t.linked[f.link] = nil
		t.freeLinks = append(t.freeLinks, f.link)
	}
	f.link, f.listed = 0, false
}

// newLink returns a link index for f, reusing a freed one when there is
// one.
func (t *Table) newLink(f *Flow) uint32 {
	var k uint32
	if n := len(t.freeLinks); n > 0 {
		k, t.freeLinks = t.freeLinks[n-1], t.freeLinks[:n-1]
	} else {
		k = uint32(len(t.links))
		t.links = append(t.links, idleLink{})
		t.linked = append(t.linked, nil)
	}
	t.linked[k] = f
	return k
}

// compactLast compacts the flow of the previous segment if that segment
// closed it (or came late to a closed flow) and the table tracks more
// than Config.CompactAbove flows. It waits for the next call so that
// Update.Flow stays whole for the caller. Flows that one side never
// answered wait for compactUnanswered.
func (t *Table) compactLast() {
	f := t.last
	t.last = nil
	if f != nil && f.done && f.listed && listClass(f.list) == answered && t.count > t.cfg.CompactAbove {
		t.compact(f)
	}
}

// compactUnansweredAfter is how long an attempt that one side never
// answered stays whole before it is compacted (once the table tracks more
// than Config.CompactAbove flows): longer than most round trips, so that
// an answer seldom has to reopen one, and shorter than the first SYN
// retransmission (1 s), so that a SYN flood's spoofed SYNs wait their
// 3 minutes (Config.IdleHandshake) compacted.
const compactUnansweredAfter = 250 * time.Millisecond

// compactUnanswered compacts up to two of the unanswered attempts idle
// for compactUnansweredAfter (or any, in flood mode: see attemptStats),
// least recently active first. It runs at every Add and Advance (from
// advance), so that attempts are compacted at the rate they come (two
// keep up with any) and each frees a Flow for the next one, instead of
// in bursts that would leave many slots free (see flowSlab).
// It compacts from the head of the list, so the compacted ones stay in
// the order of last activity that expiry and eviction merge them in.
func (t *Table) compactUnanswered() {
	if t.count <= t.cfg.CompactAbove {
		t.attempts = attemptStats{}
		return
	}
	for range 2 {
		f := t.oldestWhole(unanswered)
		if f == nil || !t.attempts.flood && t.now.sub(f.Last.t) < compactUnansweredAfter {
			return
		}
		if !t.compact(f) {
			return
		}
		t.attempts.compacted()
	}
}

// compactIdleAfter is how long an answered flow that has not ended
// (established, or in its handshake) stays whole without a segment
// before it is compacted, once the table tracks more than
// Config.CompactAbove flows. Most pauses within a connection are shorter
// (a round trip, a server's think time), so that a segment seldom has to
// reopen a flow; a connection kept alive between requests, or
// long-lived and quiet, waits compacted. Each pause longer than the wait
// costs a coding and a decoding (about 2 us): on a capture of 300,000
// connections in 5 s whose clients pause up to 5 s between requests
// (gencap -connections 300000 -rate 60000), a 1 s wait took 8% more time
// for 8% less peak memory and 2 s 6% for 6%; 200,000 quiet open
// connections cost 531 bytes of heap each instead of 1,229
// (BenchmarkOpenFlowHeap). With whole flows in a slab that gives back
// what they leave (flowSlab), the shorter wait costs less: on that
// capture (2026-12-07, interleaved) 1 s instead of 2 s took the peak
// from 166 to 155 MiB for 4% more time, 0.5 s to 145 MiB for 2% more
// again, 0.25 s to 139 MiB for 1-3% more again. 0.5 s is still longer
// than most round trips. Captures that track fewer flows than
// CompactAbove (big.pcap) compact nothing.
const compactIdleAfter = 500 * time.Millisecond

// answeredLists are the idle lists of answered flows that have not
// ended, which compactIdle compacts. (An answered flow that ends is
// compacted at the next segment: compactLast.)
var answeredLists = [...]uint8{
	answered*numIdleKinds + uint8(idleEstablished),
	answered*numIdleKinds + uint8(idleHandshake),
}

// compactIdle compacts up to two of the answered flows that have not
// ended and have been idle for compactIdleAfter, least recently active
// first, when the table tracks more than Config.CompactAbove flows: a
// busy capture's open connections then cost their compacted size while
// they are quiet. It compacts from the head of each list, so the
// compacted flows of a list stay in the order of last activity that
// expiry and eviction merge them in. Like compactUnanswered it runs at
// every Add and Advance, and two keep up with any rate.
func (t *Table) compactIdle() {
	if t.count <= t.cfg.CompactAbove {
		return
	}
	for range 2 {
		var f *Flow
		for _, l := range answeredLists {
			if g := t.first(l); g != nil && (f == nil || g.Last.Number < f.Last.Number) {
				f = g
			}
		}
		if f == nil || t.now.sub(f.Last.t) < compactIdleAfter || !t.compact(f) {
			return
		}
	}
}

// compactBacklog compacts up to two of the answered flows that closed
// while the table tracked fewer than Config.CompactAbove flows, and so
// stayed whole (compactLast compacts only above it), once it tracks
// more: when a busy capture crosses the threshold, tens of thousands of
// them would wait IdleClosed whole. It takes them newest first, and only
// while each is older than every compacted closed flow, so that, put at
// the head of the compacted list, they keep it in order of last
// activity.
func (t *Table) compactBacklog() {
	if t.count <= t.cfg.CompactAbove {
		return
	}
	l := answered*numIdleKinds + uint8(idleClosed)
	for range 2 {
		f := t.linked[t.idle[l].tail]
		if f == nil || f == t.last {
			return
		}
		if h := t.closed[l].head; h != 0 && t.store.rec(h).lastNumber < f.Last.Number {
			return
		}
		if !t.compactTo(f, true) {
			return
		}
	}
}

// attemptStats tells a SYN flood from busy traffic, to compact a
// flood's unanswered attempts while they are still in the cache.
//
// An attempt waits compactUnansweredAfter before it is compacted, so
// that the answer to a real one seldom has to reopen it: reopening and
// compacting again cost about 1.5 us. By then a flood's attempts have
// left the cache (100,000 SYNs a second keep 25,000 flows, 25 MB, in
// that quarter second), and compacting reads each one back. When nine
// attempts in ten reach the wait unanswered, the table is in flood mode
// and compacts attempts at the next segment instead, from the oldest
// (so that the compacted ones stay in order of last activity); it leaves
// flood mode when more than one compacted attempt in five is reopened
// by a segment within compactUnansweredAfter (an answer that the wait
// would have found whole), and when it stops compacting. On a 2 M-SYN
// flood, flood mode takes 11% off the time and 14% off the peak memory;
// a busy capture without a flood (300,000 connections at 60,000 a
// second) never enters it. Only speed and memory depend on it:
// compaction changes no result.
type attemptStats struct {
	flood bool
	// Out of flood mode: attempts answered while whole, and attempts
	// that waited compactUnansweredAfter unanswered. In flood mode:
	// attempts compacted, and compacted ones reopened by a segment. Each
	// pair is halved when its sum reaches attemptWindow.
	answers, unanswered uint32
	compacts, reopens   uint32
}

// attemptWindow is how many recent attempts attemptStats weighs.
const attemptWindow = 4096

func (s *attemptStats) answered() {
	if !s.flood {
		s.answers++
		s.decay()
	}
}

func (s *attemptStats) compacted() {
	if s.flood {
		s.compacts++
	} else {
		s.unanswered++
	}
	s.decay()
}

func (s *attemptStats) reopened() {
	if s.flood {
		s.reopens++
		s.decay()
	}
}

// decay halves a pair of counts that reached attemptWindow, switching
// modes first when the window says so.
func (s *attemptStats) decay() {
	if !s.flood && s.answers+s.unanswered >= attemptWindow {
		if s.unanswered >= 9*s.answers {
			*s = attemptStats{flood: true}
			return
		}
		s.answers, s.unanswered = s.answers/2, s.unanswered/2
	}
	if s.flood && s.compacts+s.reopens >= attemptWindow {
		if 5*s.reopens > s.compacts {
			*s = attemptStats{}
			return
		}
		s.compacts, s.reopens = s.compacts/2, s.reopens/2
	}
}

// compact replaces the flow f in the table by a closedFlow at the tail of
// its list of compacted flows, and frees f for reuse; false when the
// store cannot take it (f then stays whole).
func (t *Table) compact(f *Flow) bool { return t.compactTo(f, false) }

// compactTo is compact, at the head of the list when front is set.
func (t *Table) compactTo(f *Flow, front bool) bool {
	i := t.slotIndex(f.Ep[0].addr, f.Ep[1].addr, f.link)
	if i < 0 {
		return false
	}
	c := t.store.newRec()
	var ok bool
	if t.scratch, ok = t.store.put(c, f, t.scratch); !ok {
		t.store.freeRec(c)
		return false
	}
	if t.last == f {
		t.last = nil
	}
	t.unlink(f)
	if front {
		t.store.pushFront(&t.closed[f.list], c)
	} else {
		t.store.push(&t.closed[f.list], c)
	}
	t.slots[i].ref = closedRef(c)
	t.store.rec(c).h = t.slots[i].h
	t.Compacted++
	// The store coded f's rare state and sequence analysis, and keeps
	// Zeek's blocks.
	t.freeFlow(f, false)
	return true
}

// reopen turns the closed flow in slot s back into a Flow, unlisted but
// with a link index, which s then holds.
func (t *Table) reopen(s *slot) *Flow {
	f := t.takeClosed(s.closed())
	f.link = t.newLink(f)
	s.ref = f.link
	return f
}

// takeClosed turns the closed flow c back into a Flow, unlisted, and
// frees its record; its slot still names c.
func (t *Table) takeClosed(c cref) *Flow {
	f := t.newFlow()
	t.store.get(c, f)
	t.store.unlink(&t.closed[t.store.rec(c).list], c)
	t.store.freeRec(c)
	return f
}

// reopenClosed is reopen for the closed flow c, wherever its slot is.
func (t *Table) reopenClosed(c cref) *Flow {
	return t.reopen(&t.slots[t.slotIndexOf(t.store.rec(c).h, closedRef(c))])
}

func (t *Table) remove(f *Flow) {
	t.delete(f)
	t.unlink(f)
}

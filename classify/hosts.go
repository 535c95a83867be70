package classify

import (
	"math"
	"net/netip"
	"slices"
)

// maxHosts caps the IP addresses the host view tracks (about 45 bytes
// each): a SYN flood from millions of spoofed addresses must not exhaust
// memory. Addresses first seen beyond it are counted, not tracked.
const maxHosts = 1 << 18

// hostInline is how many counters a hostRec holds itself; a host with
// more (a server, mostly) keeps them in its hostTable's extra lists.
const hostInline = 4

// hostRec is what the flows leave of one IP address: the TTL range of its
// packets and its counter deltas, most hosts of a large capture having
// none or a few. A counter is an index into the hostTable's names and a
// 32-bit sum (28 bytes in all instead of a map or a list of names).
type hostRec struct {
	ttlMin, ttlMax uint8
	ttlSeen        bool
	// nc counts the inline counters in use.
	nc   uint8
	name [hostInline]uint8
	n    [hostInline]int32
	// extra is 1 + the index of the host's counters in hostTable.extra
	// when they did not fit inline (0: inline).
	extra uint32
}

// addTTL widens the TTL range with the n packets whose TTLs lie in
// [lo, hi] (none: n == 0).
func (h *hostRec) addTTL(lo, hi uint8, n int) {
	if n == 0 {
		return
	}
	if !h.ttlSeen || lo < h.ttlMin {
		h.ttlMin = lo
	}
	if !h.ttlSeen || hi > h.ttlMax {
		h.ttlMax = hi
	}
	h.ttlSeen = true
}

// hostCounter is one counter of a host whose counters did not fit inline.
type hostCounter struct {
	name string
	n    int
}

// hostRecChunk is how many hostRecs a hostTable allocates at once.
const hostRecChunk = 4096

// hostTable maps IP addresses to their hostRec: IPv4 addresses by their
// 32 bits in v4, others by their netip.Addr in a map, both to an index
// into chunks of hostRecs.
type hostTable struct {
	// v4 is an open-addressing hash table (linear probing, at most half
	// full) of IPv4 addresses: each entry is the address in its high 32
	// bits and 1 + its record's index in its low ones, 0 when empty. A
	// lookup reads one cache line, where Go's map read two or three: a
	// flow looks up both of its addresses, and a SYN flood brings
	// hundreds of thousands of them.
	v4    []uint64
	n4    int
	other map[netip.Addr]uint32
	recs  [][]hostRec
	n     int
	// names are the counter names the hosts' counters index, index their
	// inverse.
	names []string
	index map[string]uint8
	// extra holds the counters of the hosts with more than hostInline
	// (or a sum beyond 32 bits).
	extra [][]hostCounter
	// untracked counts the flow sides (client or server) whose address
	// was beyond maxHosts; spare takes their counts.
	untracked int
	spare     hostRec
}

func (t *hostTable) rec(i uint32) *hostRec { return &t.recs[i/hostRecChunk][i%hostRecChunk] }

// lookup returns ip's record, nil when it is not tracked.
func (t *hostTable) lookup(ip netip.Addr) *hostRec {
	var i uint32
	var ok bool
	if ip.Is4() {
		i, ok = t.find4(v4key(ip))
	} else {
		i, ok = t.other[ip]
	}
	if !ok {
		return nil
	}
	return t.rec(i)
}

// home4 is the slot where the search for IPv4 address k starts.
func (t *hostTable) home4(k uint32) int {
	return int((uint64(k) * 0x9e3779b97f4a7c15) >> 32 & uint64(len(t.v4)-1))
}

// find4 returns the record index of IPv4 address k.
func (t *hostTable) find4(k uint32) (uint32, bool) {
	if len(t.v4) == 0 {
		return 0, false
	}
	mask := len(t.v4) - 1
	for i := t.home4(k); ; i = (i + 1) & mask {
		e := t.v4[i]
		if e == 0 {
			return 0, false
		}
		if uint32(e>>32) == k {
			return uint32(e) - 1, true
		}
	}
}

// insert4 adds IPv4 address k, which is not in v4, with record index i.
func (t *hostTable) insert4(k, i uint32) {
	if 2*(t.n4+1) > len(t.v4) {
		old := t.v4
		t.v4 = make([]uint64, max(2*len(old), 1024))
		for _, e := range old {
			if e != 0 {
				t.place4(e)
			}
		}
	}
	t.place4(uint64(k)<<32 | uint64(i+1))
	t.n4++
}

// place4 puts entry e in the first empty slot from its home.
func (t *hostTable) place4(e uint64) {
	mask := len(t.v4) - 1
	i := t.home4(uint32(e >> 32))
	for t.v4[i] != 0 {
		i = (i + 1) & mask
	}
	t.v4[i] = e
}

func v4key(ip netip.Addr) uint32 {
	b := ip.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// get returns ip's record, adding it when there is room; beyond maxHosts
// it counts the address as untracked and returns a spare record.
func (t *hostTable) get(ip netip.Addr) *hostRec {
	if h := t.lookup(ip); h != nil {
		return h
	}
	if t.n >= maxHosts {
		t.untracked++
		t.spare = hostRec{}
		return &t.spare
	}
	i := uint32(t.n)
	if ip.Is4() {
		t.insert4(v4key(ip), i)
	} else {
		if t.other == nil {
			t.other = map[netip.Addr]uint32{}
		}
		t.other[ip] = i
	}
	if t.n%hostRecChunk == 0 {
		t.recs = append(t.recs, make([]hostRec, hostRecChunk))
	}
	t.n++
	return t.rec(i)
}

// addCounters adds the non-zero counters of c to h.
func (t *hostTable) addCounters(h *hostRec, c Counters) {
	for k, v := range c {
		if v != 0 {
			t.addCounter(h, k, v)
		}
	}
}

func (t *hostTable) addCounter(h *hostRec, name string, v int) {
	if h.extra == 0 {
		ni, ok := t.nameIndex(name)
		if ok {
			for i := range h.nc {
				if h.name[i] == ni {
					if s := int64(h.n[i]) + int64(v); s == int64(int32(s)) {
						h.n[i] = int32(s)
						return
					}
					break
				}
			}
			if !slices.Contains(h.name[:h.nc], ni) && int(h.nc) < hostInline && v == int(int32(v)) {
				h.name[h.nc], h.n[h.nc] = ni, int32(v)
				h.nc++
				return
			}
		}
		t.spill(h)
	}
	e := &t.extra[h.extra-1]
	for i := range *e {
		if (*e)[i].name == name {
			(*e)[i].n += v
			return
		}
	}
	*e = append(*e, hostCounter{name: name, n: v})
}

// spill moves h's inline counters to an extra list.
func (t *hostTable) spill(h *hostRec) {
	e := make([]hostCounter, h.nc, hostInline+2)
	for i := range h.nc {
		e[i] = hostCounter{name: t.names[h.name[i]], n: int(h.n[i])}
	}
	t.extra = append(t.extra, e)
	h.extra = uint32(len(t.extra))
	h.nc = 0
}

// nameIndex returns the index of a counter name, adding it to the names;
// false when there are too many names to index in a byte.
func (t *hostTable) nameIndex(name string) (uint8, bool) {
	if i, ok := t.index[name]; ok {
		return i, true
	}
	if len(t.names) > math.MaxUint8 {
		return 0, false
	}
	if t.index == nil {
		t.index = map[string]uint8{}
	}
	i := uint8(len(t.names))
	t.names = append(t.names, name)
	t.index[name] = i
	return i, true
}

// counters returns h's deltas as Counters (without the zero ones).
func (t *hostTable) counters(h *hostRec) Counters {
	if h.extra != 0 {
		e := t.extra[h.extra-1]
		c := make(Counters, len(e))
		for _, hc := range e {
			c.Add(hc.name, hc.n)
		}
		return c
	}
	c := make(Counters, h.nc)
	for i := range h.nc {
		c.Add(t.names[h.name[i]], int(h.n[i]))
	}
	return c
}

// views returns the hosts with their counters, ordered by address
// (netip.Addr.Compare). The IPv4 addresses, most of them, are sorted as
// integers, not compared as Addrs.
func (t *hostTable) views() []*Host {
	v4 := make([]uint64, 0, t.n4)
	for _, e := range t.v4 {
		if e != 0 {
			v4 = append(v4, e-1)
		}
	}
	slices.Sort(v4)
	other := make([]netip.Addr, 0, len(t.other))
	for ip := range t.other {
		other = append(other, ip)
	}
	slices.SortFunc(other, netip.Addr.Compare)
	// Compare orders by bit length first: an address shorter than IPv4
	// (the zero Addr) comes before the IPv4 ones, IPv6 after them.
	before := 0
	for before < len(other) && other[before].BitLen() < 32 {
		before++
	}
	all := make([]Host, 0, len(v4)+len(other))
	for _, ip := range other[:before] {
		all = append(all, Host{IP: ip, Counters: t.counters(t.rec(t.other[ip]))})
	}
	for _, ki := range v4 {
		k := uint32(ki >> 32)
		ip := netip.AddrFrom4([4]byte{byte(k >> 24), byte(k >> 16), byte(k >> 8), byte(k)})
		all = append(all, Host{IP: ip, Counters: t.counters(t.rec(uint32(ki)))})
	}
	for _, ip := range other[before:] {
		all = append(all, Host{IP: ip, Counters: t.counters(t.rec(t.other[ip]))})
	}
	hs := make([]*Host, len(all))
	for i := range all {
		hs[i] = &all[i]
	}
	return hs
}

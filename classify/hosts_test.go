package classify

import (
	"maps"
	"math"
	"math/rand/v2"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/tcpwhy/tcpwhy/capture"
)

// TestHostCounters checks the compact host counters against plain maps:
// inline counters, hosts with more counters than fit inline, sums beyond
// 32 bits, and more counter names than an index byte holds.
func TestHostCounters(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	names := make([]string, 300)
	for i := range names {
		names[i] = "Counter" + string(rune('A'+i%26)) + string(rune('a'+i/26))
	}
	var tab hostTable
	const hosts = 2000
	recs := make([]*hostRec, hosts)
	want := make([]Counters, hosts)
	for i := range recs {
		recs[i] = &hostRec{}
		want[i] = Counters{}
	}
	for range 40000 {
		i := rng.IntN(hosts)
		c := Counters{}
		common := 3
		if i%10 == 0 {
			common = 8 // a server: many counters
		}
		for range 1 + rng.IntN(2) {
			nm := names[rng.IntN(common)]
			if rng.IntN(10) == 0 {
				nm = names[rng.IntN(len(names))]
			}
			v := rng.IntN(5) - 1
			if rng.IntN(500) == 0 {
				v = math.MaxInt32 - rng.IntN(3)
			}
			c[nm] += v
		}
		tab.addCounters(recs[i], c)
		for nm, v := range c {
			want[i][nm] += v
		}
	}
	extra := 0
	for i, h := range recs {
		w := Counters{}
		for nm, v := range want[i] {
			w.Add(nm, v)
		}
		if got := tab.counters(h); !mapsEqual(got, w) {
			t.Fatalf("host %d: counters %v, want %v", i, got, w)
		}
		if h.extra != 0 {
			extra++
		}
	}
	if extra == 0 || extra == hosts || len(tab.names) < 256 {
		t.Errorf("%d of %d hosts with extra counters, %d names: the test misses a path", extra, hosts, len(tab.names))
	}
}

func mapsEqual(a, b Counters) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestHostTable checks address lookup (IPv4, IPv6, IPv4-mapped IPv6 kept
// apart), the maxHosts cap and the sorted views.
func TestHostTable(t *testing.T) {
	var tab hostTable
	a4 := mustAddr(t, "10.1.2.3")
	a6 := mustAddr(t, "2001:db8::1")
	m6 := mustAddr(t, "::ffff:10.1.2.3")
	for i, a := range []string{"10.1.2.3", "2001:db8::1", "::ffff:10.1.2.3"} {
		h := tab.get(mustAddr(t, a))
		tab.addCounters(h, Counters{"TcpOutRsts": i + 1})
		h.addTTL(uint8(60+i), uint8(64+i), 1)
	}
	if tab.lookup(a4) == tab.lookup(m6) || tab.lookup(a4) == nil || tab.lookup(a6) == nil {
		t.Fatal("IPv4 and IPv4-mapped IPv6 addresses share a record, or one is missing")
	}
	if h := tab.lookup(a6); h.ttlMin != 61 || h.ttlMax != 65 || !h.ttlSeen {
		t.Errorf("TTL range %d-%d seen %v", h.ttlMin, h.ttlMax, h.ttlSeen)
	}
	if tab.lookup(mustAddr(t, "10.9.9.9")) != nil {
		t.Error("lookup added an address")
	}
	vs := tab.views()
	if len(vs) != 3 || vs[0].IP != a4 || vs[0].Counters["TcpOutRsts"] != 1 || vs[1].IP != m6 || vs[2].IP != a6 {
		t.Errorf("views: %+v", vs)
	}
	for i := tab.n; i < maxHosts; i++ {
		tab.get(netipFrom(uint32(0x0b000000 + i)))
	}
	if tab.untracked != 0 || tab.n != maxHosts {
		t.Fatalf("%d hosts, %d untracked", tab.n, tab.untracked)
	}
	if h := tab.get(mustAddr(t, "192.168.0.1")); h != &tab.spare || tab.untracked != 1 {
		t.Error("an address beyond maxHosts was tracked")
	}
	if h := tab.get(a6); h == &tab.spare {
		t.Error("a tracked address was lost")
	}
}

func mustAddr(t *testing.T, s string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func netipFrom(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// TestHostViewsOrder checks that views sorts a mix of addresses as
// netip.Addr.Compare does (the zero Addr, IPv4 in integer order across
// byte boundaries, IPv4-mapped IPv6, IPv6 with and without a zone) and
// that each keeps its own counters.
func TestHostViewsOrder(t *testing.T) {
	var tab hostTable
	var want []netip.Addr
	rsts, opens := map[netip.Addr]int{}, map[netip.Addr]int{}
	add := func(ip netip.Addr) {
		if tab.lookup(ip) == nil {
			want = append(want, ip)
		}
		n := len(want)*7 + 1
		rsts[ip] += n
		opens[ip]++
		tab.addCounters(tab.get(ip), Counters{"TcpOutRsts": n, "TcpActiveOpens": 1})
	}
	add(netip.Addr{})
	for i := range 300 {
		v := uint32(i*2654435761) ^ uint32(i)<<7
		add(netipFrom(v))
		add(netip.AddrFrom16(netipFrom(v).As16()))
		if i%10 == 0 {
			add(mustAddr(t, "2001:db8::"+strconv.FormatInt(int64(i), 16)))
			add(mustAddr(t, "fe80::"+strconv.FormatInt(int64(i), 16)+"%eth"+strconv.Itoa(i%3)))
		}
	}
	for _, s := range []string{"0.0.0.0", "255.255.255.255", "127.0.0.1", "128.0.0.0", "::", "::1"} {
		add(mustAddr(t, s))
	}
	slices.SortFunc(want, netip.Addr.Compare)
	vs := tab.views()
	if len(vs) != len(want) {
		t.Fatalf("%d views of %d hosts", len(vs), len(want))
	}
	for i, h := range vs {
		if h.IP != want[i] {
			t.Fatalf("view %d is %v, want %v", i, h.IP, want[i])
		}
		if h.Counters["TcpOutRsts"] != rsts[h.IP] || h.Counters["TcpActiveOpens"] != opens[h.IP] {
			t.Errorf("%v: counters %v, want TcpOutRsts %d, TcpActiveOpens %d", h.IP, h.Counters, rsts[h.IP], opens[h.IP])
		}
	}
}

// TestHostTableFindsEvery checks the IPv4 hash table across its growth:
// every address added is found with its own record, none other is, and
// the table stays at most half full.
func TestHostTableFindsEvery(t *testing.T) {
	// Two addresses that start their search in the same slot and share
	// their low 16 bits: only comparing all 32 tells them apart.
	var small hostTable
	k1 := uint32(0x0a000001)
	small.get(netipFrom(k1))
	k2 := k1 + 1<<16
	for small.home4(k2) != small.home4(k1) {
		k2 += 1 << 16
	}
	if small.lookup(netipFrom(k2)) != nil {
		t.Fatalf("%v found, never added", netipFrom(k2))
	}
	if h1, h2 := small.lookup(netipFrom(k1)), small.get(netipFrom(k2)); h1 == h2 || small.lookup(netipFrom(k2)) != h2 {
		t.Fatal("colliding addresses share a record")
	}

	var tab hostTable
	rng := rand.New(rand.NewPCG(7, 7))
	recs := map[netip.Addr]*hostRec{}
	for _, v := range []uint32{0, 0xffffffff, 1, 0x80000000} {
		ip := netipFrom(v)
		recs[ip] = tab.get(ip)
	}
	for len(recs) < 100_000 {
		ip := netipFrom(rng.Uint32() & 0x0fffffff) // absent ones below have a top nibble
		if recs[ip] == nil {
			recs[ip] = tab.get(ip)
		}
		if len(tab.v4) > 0 && 2*tab.n4 > len(tab.v4) {
			t.Fatalf("%d addresses in %d slots", tab.n4, len(tab.v4))
		}
	}
	for ip, h := range recs {
		if got := tab.lookup(ip); got != h {
			t.Fatalf("%v: record %p, want %p", ip, got, h)
		}
	}
	for range 100_000 {
		ip := netipFrom(rng.Uint32() | 0x10000000)
		if ip == netipFrom(0xffffffff) || ip == netipFrom(0x80000000) {
			continue
		}
		if tab.lookup(ip) != nil {
			t.Fatalf("%v found, never added", ip)
		}
	}
	if tab.n4 != len(recs) || tab.n != len(recs) {
		t.Errorf("%d IPv4 entries, %d records, want %d", tab.n4, tab.n, len(recs))
	}
}

// TestHostViewsAhead checks, on the lab's captures of overflowing
// listeners (the real kernel's), that the host views built while the
// listeners are diagnosed (finish) are those built after the diagnoses:
// the same hosts and counters, the server's TcpExtListenDrops and
// TcpExtListenOverflows from the listener's SYN drops included.
func TestHostViewsAhead(t *testing.T) {
	analyze := func(path string) *Analysis {
		src, err := capture.Open([]string{path}, capture.OpenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		a := Analyze(src, Options{})
		if a.Err != nil {
			t.Fatalf("%s: %v", path, a.Err)
		}
		return a
	}
	defer func() { hostViewsAhead = true }()
	drops := 0
	for _, scenario := range []string{"overflow-abort0", "overflow-abort1", "overflow-syncookies", "mixed"} {
		path := filepath.Join(labDir, scenario, "server.pcap")
		ahead := analyze(path)
		hostViewsAhead = false
		after := analyze(path)
		hostViewsAhead = true
		if len(ahead.Hosts) != len(after.Hosts) || len(ahead.Hosts) == 0 {
			t.Fatalf("%s: %d hosts built ahead, %d after", scenario, len(ahead.Hosts), len(after.Hosts))
		}
		for i, h := range ahead.Hosts {
			if h.IP != after.Hosts[i].IP || !maps.Equal(h.Counters, after.Hosts[i].Counters) {
				t.Errorf("%s: host %d: %v %v built ahead, %v %v after", scenario, i, h.IP, h.Counters, after.Hosts[i].IP, after.Hosts[i].Counters)
			}
		}
		for _, l := range ahead.Listeners {
			if l.SynDrops == 0 {
				continue
			}
			drops++
			for _, h := range ahead.Hosts {
				if h.IP == l.Server.Addr() && (h.Counters["TcpExtListenDrops"] < l.SynDrops || h.Counters["TcpExtListenOverflows"] < l.SynDrops) {
					t.Errorf("%s: %v's counters %v lack listener %v's %d SYN drops", scenario, h.IP, h.Counters, l.Server, l.SynDrops)
				}
			}
		}
	}
	if drops == 0 {
		t.Fatal("no listener with SYN drops in the lab captures: the test checks nothing")
	}
}

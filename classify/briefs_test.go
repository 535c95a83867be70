package classify

import (
	"math"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"testing"
	"time"
)

func randomBrief(rng *rand.Rand) brief {
	ns := func() int64 {
		switch rng.IntN(8) {
		case 0:
			return noTime
		case 1:
			return []int64{0, -1, math.MaxInt64, math.MinInt64 + 1}[rng.IntN(4)]
		}
		return 1_700_000_000_000_000_000 + rng.Int64N(1e12)
	}
	addrs := []netip.Addr{{}, netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("2001:db8::7"),
		netip.MustParseAddr("::ffff:10.0.0.1"), netip.MustParseAddr("fe80::1%eth0"), netip.IPv6Unspecified()}
	b := brief{id: rng.Int64N(1 << 40), firstPacket: rng.Int64N(1 << 30), client: addrs[rng.IntN(len(addrs))],
		verdict: Verdicts[rng.IntN(len(Verdicts))], start: ns(), end: ns(), handshakeDone: ns(), firstResponse: ns(),
		synAck: ns(), synAckPkt: rng.Int64N(1 << 30), dropStart: ns(), dropEnd: ns(), dropped: rng.Int32N(20),
		cookie: uint8(rng.IntN(16)), rstPkt: rng.Int64N(1 << 30), rstTime: ns(), rstTTL: uint8(rng.IntN(256)),
		flags: briefFlags(rng.IntN(64))}
	if rng.IntN(20) == 0 {
		b.verdict = "some-other-verdict"
		b.id, b.firstPacket = math.MinInt64, math.MaxInt64
	}
	for range rng.IntN(maxEvidence + 1) {
		b.evidence = append(b.evidence, rng.Int64N(1<<31))
	}
	return b
}

// TestBriefRoundTrip checks that briefs come back from their encoding
// exactly and in order, and that cut records are rejected.
func TestBriefRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	var l briefList
	var want []brief
	for range 5000 {
		b := randomBrief(rng)
		l.add(&b)
		want = append(want, b)
	}
	got, err := l.decode()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d briefs back, want %d", len(got), len(want))
	}
	for i := range got {
		if !reflect.DeepEqual(*got[i], want[i]) {
			t.Fatalf("brief %d:\n got %+v\nwant %+v", i, *got[i], want[i])
		}
	}
	if len(l.chunks) < 2 {
		t.Errorf("%d chunks", len(l.chunks))
	}
	var empty briefList
	if bs, err := empty.decode(); len(bs) != 0 || err != nil {
		t.Errorf("empty list: %d briefs, %v", len(bs), err)
	}
	rec := appendBrief(nil, &want[0])
	for i := range len(rec) {
		var b brief
		if _, _, err := decodeBrief(rec[:i], &b, nil); err == nil {
			t.Fatalf("brief cut at %d of %d bytes decoded", i, len(rec))
		}
	}
}

// TestBriefOf checks what a brief keeps of a flow.
func TestBriefOf(t *testing.T) {
	t0 := time.Unix(1700000000, 123).UTC()
	r := &FlowResult{ID: 7, FirstPacket: 100, Client: netip.MustParseAddrPort("10.0.0.1:4000"), Verdict: NoListener,
		Start: t0, End: t0.Add(time.Second), SYNACKRetransmits: 1,
		Evidence: []int64{100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111},
		Reset:    &Reset{By: SideServer, Generator: "active", Reason: "INVALID_SYN"}}
	r.hints.cookie = []string{cookieECN, cookieTrimmed}
	r.hints.dropped = 2
	b := briefOf(r)
	if b.id != 7 || b.client != netip.MustParseAddr("10.0.0.1") || b.Start() != t0 || b.End() != t0.Add(time.Second) ||
		!b.HandshakeDone().IsZero() || b.dropped != 2 || len(b.evidence) != maxEvidence {
		t.Errorf("brief %+v", b)
	}
	if b.flags != bfSynAckRetrans|bfReset|bfResetByServer|bfResetActive|bfResetInvalidSYN || b.cookie != 1<<1|1<<3 {
		t.Errorf("flags %b, cookie %b", b.flags, b.cookie)
	}
}

package classify

import (
	"net/netip"
	"reflect"
	"testing"
	"time"
)

// fill sets every exported field reachable from v to a non-zero value
// (n distinguishes the fields), so that a codec that forgets one fails.
func fill(t *testing.T, v reflect.Value, n *int) {
	*n++
	switch v.Type() {
	case reflect.TypeFor[time.Time]():
		v.Set(reflect.ValueOf(time.Unix(1700000000, int64(*n)).UTC()))
		return
	case reflect.TypeFor[netip.AddrPort]():
		v.Set(reflect.ValueOf(netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(*n)}), uint16(*n))))
		return
	}
	switch v.Kind() {
	case reflect.Int, reflect.Int64, reflect.Int32:
		v.SetInt(int64(*n))
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(*n))
	case reflect.Float64:
		v.SetFloat(float64(*n) + 0.25)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.String:
		v.SetString("s\x00é" + string(rune('a'+*n%26)))
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		fill(t, s.Index(0), n)
		fill(t, s.Index(1), n)
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(t, k, n)
		fill(t, e, n)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(t, p.Elem(), n)
		v.Set(p)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(t, v.Field(i), n)
			}
		}
	default:
		t.Fatalf("fill: unhandled %s", v.Type())
	}
}

// TestCodecRoundTrip checks that every exported field of a FlowResult
// survives the held flows' file, and that cut records are rejected.
func TestCodecRoundTrip(t *testing.T) {
	var r FlowResult
	n := 0
	fill(t, reflect.ValueOf(&r).Elem(), &n)
	b := appendFlowResult(nil, &r)
	got, err := decodeFlowResult(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	got.hints, r.hints = flowHints{}, flowHints{}
	if !reflect.DeepEqual(*got, r) {
		t.Errorf("round trip differs:\n got %+v\nwant %+v", *got, r)
	}
	empty := FlowResult{ClientCounters: Counters{}, HandshakeRTT: -1}
	got, err = decodeFlowResult(appendFlowResult(nil, &empty), map[string]string{})
	if err != nil || !reflect.DeepEqual(*got, empty) {
		t.Errorf("empty round trip: %v %+v", err, got)
	}
	// Annotations that end with the explanation are written as their
	// prefix only.
	r.Explanation = "10.0.0.1:5 sent 1 SYNs to 10.0.0.2:80 and got no answer"
	r.Annotations = []Annotation{{Packet: 3, Text: "syn-timeout: " + r.Explanation}, {Packet: 4, Text: r.Explanation},
		{Packet: 5, Text: r.Explanation + "!"}, {Packet: 6, Text: "overflow: " + r.Explanation}}
	short := appendFlowResult(nil, &r)
	got, err = decodeFlowResult(short, nil)
	if err != nil {
		t.Fatal(err)
	}
	got.hints = flowHints{}
	if !reflect.DeepEqual(*got, r) {
		t.Errorf("round trip with annotations ending with the explanation differs:\n got %+v\nwant %+v", *got, r)
	}
	if len(short) > len(b)+2*len(r.Explanation)+40 { // the explanation, and the annotation that does not end with it
		t.Errorf("annotations ending with the explanation take %d bytes", len(short)-len(b))
	}
	for i := range len(b) {
		if _, err := decodeFlowResult(b[:i], map[string]string{}); err == nil {
			t.Fatalf("record cut at %d of %d bytes decoded without error", i, len(b))
		}
	}
}

// TestHeldRoundTrip checks that held flows come back whole and in order
// from memory, from the temporary file, and from both.
func TestHeldRoundTrip(t *testing.T) {
	var want []FlowResult
	for i := range 200 {
		var r FlowResult
		n := i
		fill(t, reflect.ValueOf(&r).Elem(), &n)
		r.ID = int64(i)
		// Shapes vary, so that a record decoded into the one before it
		// must drop what that one had.
		switch i % 3 {
		case 1:
			r.Annotations = r.Annotations[:1]
			r.ServerCounters = nil
		case 2:
			r.Annotations = nil
			r.ClientCounters = Counters{}
		}
		want = append(want, r)
	}
	for _, budget := range []int{0, 5000, 1 << 30} {
		for _, spare := range []*FlowResult{nil, new(FlowResult)} {
			testHeld(t, want, budget, spare)
		}
	}
}

// testHeld holds want's flows with heldInMemory at budget and checks
// that each gives them back, decoded into spare.
func testHeld(t *testing.T, want []FlowResult, budget int, spare *FlowResult) {
	t.Helper()
	old := heldInMemory
	heldInMemory = budget
	defer func() { heldInMemory = old }()
	var h heldFlows
	for i := range want {
		r := want[i]
		h.add(&r)
	}
	if (budget == 1<<30) != (h.file == nil) {
		t.Errorf("budget %d: temporary file %v", budget, h.file != nil)
	}
	// Each flow is kept as Options.ReuseResults allows a consumer to
	// (keptCopy).
	var kept []FlowResult
	err := h.each(spare, nil, func(r *FlowResult) {
		if spare != nil && r != spare {
			t.Errorf("budget %d: flow %d not decoded into the spare", budget, len(kept))
		}
		kept = append(kept, keptCopy(r))
	})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(kept, want) {
		t.Errorf("budget %d, spare %v: %d flows back, differ", budget, spare != nil, len(kept))
	}
	// Asked for the flows of odd IDs only, each skips the others, and
	// reads each ID without decoding the rest.
	var odd heldFlows
	var wantOdd []FlowResult
	for i := range want {
		r := want[i]
		odd.add(&r)
		if r.ID%2 != 0 {
			wantOdd = append(wantOdd, want[i])
		}
	}
	asked := 0
	kept = nil
	err = odd.each(spare, func(id int64) bool { asked++; return id%2 != 0 }, func(r *FlowResult) { kept = append(kept, keptCopy(r)) })
	if err != nil {
		t.Fatal(err)
	}
	if asked != len(want) || !reflect.DeepEqual(kept, wantOdd) {
		t.Errorf("budget %d, spare %v: asked about %d of %d flows, %d of the %d odd ones back, or they differ",
			budget, spare != nil, asked, len(want), len(kept), len(wantOdd))
	}
}

// TestCodecAddrPort checks that addresses are written as MarshalBinary
// writes them (the held flows' format), and read back.
func TestCodecAddrPort(t *testing.T) {
	for _, s := range []string{"10.1.2.3:80", "[2001:db8::1]:443", "[::ffff:10.1.2.3]:8080", "[fe80::1%eth0]:22", "0.0.0.0:0"} {
		a := netip.MustParseAddrPort(s)
		testAddrPort(t, a)
	}
	testAddrPort(t, netip.AddrPort{})
	testAddrPort(t, netip.AddrPortFrom(netip.Addr{}, 9))
}

func testAddrPort(t *testing.T, a netip.AddrPort) {
	t.Helper()
	var e encoder
	e.addrPort(a)
	m, _ := a.MarshalBinary()
	var want encoder
	want.str(string(m))
	if string(e.b) != string(want.b) {
		t.Errorf("%v: encoded %x, want %x", a, e.b, want.b)
	}
	d := decoder{b: e.b}
	if got := d.addrPort(); got != a || d.err != nil || len(d.b) != 0 {
		t.Errorf("%v: decoded %v, %v", a, got, d.err)
	}
}

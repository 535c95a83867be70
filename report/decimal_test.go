package report

import (
	"math"
	"net/netip"
	"strconv"
	"testing"
)

// TestAppendUint compares the decimal formatters with strconv around every
// power of ten and on a spread of values, with and without padding.
func TestAppendUint(t *testing.T) {
	var vs []uint64
	for p := uint64(1); ; p *= 10 {
		vs = append(vs, p-1, p, p+1)
		if p > math.MaxUint64/10 {
			break
		}
	}
	vs = append(vs, 0, math.MaxUint64, math.MaxUint32, 1<<63)
	for v := uint64(1); v < math.MaxUint64/7; v = v*7 + 3 {
		vs = append(vs, v)
	}
	for _, v := range vs {
		want := strconv.FormatUint(v, 10)
		if got := string(appendUint([]byte("x"), v)); got != "x"+want {
			t.Errorf("appendUint(%d) = %q", v, got)
		}
		for _, width := range []int{0, 1, 2, 5, 12, 25} {
			pad := ""
			for n := len(want); n < width; n++ {
				pad += "0"
			}
			if got := string(appendUintPad(nil, v, width, '0')); got != pad+want {
				t.Errorf("appendUintPad(%d, %d) = %q", v, width, got)
			}
		}
	}
}

func BenchmarkAppendUint(b *testing.B) {
	buf := make([]byte, 0, 64)
	for i := 0; i < b.N; i++ {
		buf = appendUint(buf[:0], uint64(i)*2654435761)
		buf = appendUint(buf, uint64(i&0xffff))
	}
}

// TestAppendIntMatchesStrconv checks appendInt against strconv.AppendInt
// at the edges and around every power of ten.
func TestAppendIntMatchesStrconv(t *testing.T) {
	vs := []int64{0, 1, -1, 9, 10, -10, 99, 100, math.MaxInt64, math.MinInt64, math.MinInt64 + 1}
	for p := int64(1); p > 0 && p <= math.MaxInt64/10; p *= 10 {
		vs = append(vs, p-1, p, p+1, -p+1, -p, -p-1)
	}
	for _, v := range vs {
		if got, want := string(appendInt([]byte("x"), v)), "x"+strconv.FormatInt(v, 10); got != want {
			t.Errorf("%d: got %s want %s", v, got, want)
		}
	}
}

// TestAppendEndpoint compares the endpoint formatter with netip's for
// every octet value in every position, an IPv4-mapped and a plain IPv6
// address, and the ports' edges.
func TestAppendEndpoint(t *testing.T) {
	var addrs []netip.Addr
	for v := range 256 {
		o := byte(v)
		addrs = append(addrs, netip.AddrFrom4([4]byte{o, 0, 0, 0}), netip.AddrFrom4([4]byte{1, o, 22, 255}),
			netip.AddrFrom4([4]byte{100, 10, o, 9}), netip.AddrFrom4([4]byte{255, 255, 255, o}))
	}
	addrs = append(addrs, netip.MustParseAddr("::ffff:10.0.0.1"), netip.MustParseAddr("2001:db8::1"))
	for _, a := range addrs {
		for _, port := range []uint16{0, 9, 10, 80, 65535} {
			want := string(appendAddr([]byte("x"), a)) + "." + strconv.Itoa(int(port))
			if got := string(appendEndpoint([]byte("x"), a, port)); got != want {
				t.Errorf("appendEndpoint(%v, %d) = %q, want %q", a, port, got, want)
			}
		}
	}
}

package report

import (
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tcpwhy/tcpwhy/classify"
)

// appendFlowRecord appends the `flow` record of r and a newline to b:
// byte for byte what encoding/json's Encoder writes for the struct of
// jsonflow_oracle_test.go
// (TestAppendFlowRecordMatchesEncodingJSON), without reflection, since
// a capture has hundreds of thousands of flows.
func appendFlowRecord(b []byte, r *classify.FlowResult) []byte {
	b = append(b, `{"type":"flow","id":`...)
	b = appendInt(b, r.ID)
	b = append(b, `,"client":`...)
	b = appendAddrPort(b, r.Client)
	b = append(b, `,"server":`...)
	b = appendAddrPort(b, r.Server)
	b = append(b, `,"roles_guessed":`...)
	b = strconv.AppendBool(b, r.RolesGuessed)
	b = append(b, `,"verdict":`...)
	b = appendJSONString(b, string(r.Verdict))
	b = append(b, `,"syn_retransmits":`...)
	b = appendInt(b, int64(r.SYNRetransmits))
	b = append(b, `,"synack_retransmits":`...)
	b = appendInt(b, int64(r.SYNACKRetransmits))
	var gaps []float64
	var sched []string
	giveUp := 0.0
	if r.SYN != nil {
		gaps, sched, giveUp = r.SYN.Gaps, r.SYN.Matches, r.SYN.GiveUp
	}
	b = append(b, `,"syn_gaps":`...)
	b = appendFloats(b, gaps)
	b = append(b, `,"syn_schedule":`...)
	b = appendStrings(b, sched)
	b = append(b, `,"syn_give_up_s":`...)
	if giveUp > 0 {
		b = appendJSONFloat(b, giveUp)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"synack_gaps":`...)
	b = appendFloats(b, r.SYNACKGaps)
	b = append(b, `,"handshake_rtt_s":`...)
	if r.HandshakeRTT >= 0 {
		b = appendJSONFloat(b, r.HandshakeRTT)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"first_fin_by":`...)
	if r.FirstFINBy != "" {
		b = appendJSONString(b, string(r.FirstFINBy))
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"reset":`...)
	if rs := r.Reset; rs != nil {
		b = append(b, `{"by":`...)
		b = appendJSONString(b, string(rs.By))
		b = append(b, `,"generator":`...)
		b = appendJSONString(b, rs.Generator)
		b = append(b, `,"reason":`...)
		b = appendJSONString(b, rs.Reason)
		b = append(b, `,"accepted":`...)
		b = strconv.AppendBool(b, rs.Accepted)
		b = append(b, `,"packet":`...)
		b = appendInt(b, rs.Packet)
		b = append(b, `,"injected_suspect":`...)
		if in := rs.InjectedSuspect; in != nil {
			b = append(b, `{"packet":`...)
			b = appendInt(b, in.Packet)
			b = append(b, `,"ttl":`...)
			b = appendUint(b, uint64(in.TTL))
			b = append(b, `,"sender_ttl_min":`...)
			b = appendUint(b, uint64(in.SenderTTLMin))
			b = append(b, `,"sender_ttl_max":`...)
			b = appendUint(b, uint64(in.SenderTTLMax))
			b = append(b, `,"ip_id":`...)
			b = appendUint(b, uint64(in.IPID))
			b = append(b, `,"evidence":`...)
			b = appendStrings(b, in.Evidence)
			b = append(b, '}')
		} else {
			b = append(b, "null"...)
		}
		b = append(b, '}')
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"zeek":{"conn_state":`...)
	b = appendJSONString(b, r.ZeekState)
	b = append(b, `,"history":`...)
	b = appendJSONString(b, r.ZeekHistory)
	b = append(b, `},"counters":{"client":`...)
	b = appendCounters(b, r.ClientCounters)
	b = append(b, `,"server":`...)
	b = appendCounters(b, r.ServerCounters)
	b = append(b, `},"packets":[`...)
	b = appendInt(b, r.FirstPacket)
	b = append(b, ',')
	b = appendInt(b, r.LastPacket)
	b = append(b, `],"start":"`...)
	b = appendTime(b, r.Start)
	b = append(b, `","end":"`...)
	b = appendTime(b, r.End)
	b = append(b, `","client_packets":`...)
	b = appendInt(b, int64(r.ClientPackets))
	b = append(b, `,"server_packets":`...)
	b = appendInt(b, int64(r.ServerPackets))
	b = append(b, `,"client_bytes":`...)
	b = appendInt(b, r.ClientBytes)
	b = append(b, `,"server_bytes":`...)
	b = appendInt(b, r.ServerBytes)
	b = append(b, `,"evidence":[`...)
	for i, p := range r.Evidence {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendInt(b, p)
	}
	b = append(b, `],"explanation":`...)
	b = appendJSONString(b, r.Explanation)
	b = append(b, `,"notes":`...)
	b = appendStrings(b, r.Notes)
	b = append(b, `,"evicted":`...)
	b = strconv.AppendBool(b, r.Evicted)
	return append(b, "}\n"...)
}

// appendAddrPort appends the quoted ip:port (or [ip]:port) of a.
func appendAddrPort(b []byte, a netip.AddrPort) []byte {
	var tmp [64]byte
	t := a.AppendTo(tmp[:0])
	for _, c := range t {
		if c >= utf8.RuneSelf || !jsonSafe[c] {
			return appendJSONString(b, string(t)) // a zone with odd bytes
		}
	}
	b = append(b, '"')
	b = append(b, t...)
	return append(b, '"')
}

// appendTime appends timeString(t): RFC 3339 with nanoseconds (trailing
// zeros trimmed), UTC, as time.RFC3339Nano formats it, without parsing
// the layout each time.
func appendTime(b []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(b, time.RFC3339Nano)
	}
	hour, minute, sec := t.Clock()
	b = appendDigits(b, year, 4)
	b = append(b, '-')
	b = appendDigits(b, int(month), 2)
	b = append(b, '-')
	b = appendDigits(b, day, 2)
	b = append(b, 'T')
	b = appendDigits(b, hour, 2)
	b = append(b, ':')
	b = appendDigits(b, minute, 2)
	b = append(b, ':')
	b = appendDigits(b, sec, 2)
	if ns := t.Nanosecond(); ns != 0 {
		digits := 9
		for ns%10 == 0 {
			ns /= 10
			digits--
		}
		b = append(b, '.')
		b = appendDigits(b, ns, digits)
	}
	return append(b, 'Z')
}

// appendDigits appends v in exactly n decimal digits (0 <= v < 10^n).
func appendDigits(b []byte, v, n int) []byte { return appendDecimal(b, uint64(v), n) }

// appendInt appends v in decimal, as strconv.AppendInt(b, v, 10) does.
func appendInt(b []byte, v int64) []byte {
	if v < 0 {
		return appendUint(append(b, '-'), uint64(-v))
	}
	return appendUint(b, uint64(v))
}

func appendFloats(b []byte, fs []float64) []byte {
	b = append(b, '[')
	for i, f := range fs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONFloat(b, f)
	}
	return append(b, ']')
}

func appendStrings(b []byte, ss []string) []byte {
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, s)
	}
	return append(b, ']')
}

// appendCounters appends a counter map as encoding/json does: keys
// sorted, null for a nil map.
func appendCounters(b []byte, c classify.Counters) []byte {
	if c == nil {
		return append(b, "null"...)
	}
	var keyBuf [16]string
	keys := keyBuf[:0]
	for k := range c {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = appendInt(b, int64(c[k]))
	}
	return append(b, '}')
}

// appendJSONFloat formats a float64 as encoding/json does.
func appendJSONFloat(b []byte, f float64) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// jsonSafe marks the ASCII bytes encoding/json writes as they are (with
// HTML escaping).
var jsonSafe = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// appendJSONString quotes s as encoding/json's Encoder does (with HTML
// escaping: <, > and & become \u003c, \u003e, \u0026).
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if jsonSafe[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendHostRecord appends h's `host` record as encoding/json writes
// hostRecord(h), newline included.
func appendHostRecord(b []byte, h *classify.Host) []byte {
	b = append(b, `{"type":"host","ip":`...)
	if h.IP.IsValid() && h.IP.Zone() == "" {
		// AppendTo writes nothing for the zero Addr, whose String is
		// "invalid IP".
		b = append(b, '"')
		b = h.IP.AppendTo(b)
		b = append(b, '"')
	} else {
		b = appendJSONString(b, h.IP.String())
	}
	b = append(b, `,"counters":`...)
	b = appendCounters(b, h.Counters)
	b = append(b, `,"counters_netstat":{`...)
	// Two counters may share their netstat words: their sum is the value.
	type phrase struct {
		text string
		n    int
	}
	var buf [16]phrase
	ps := buf[:0]
	for k, v := range h.Counters {
		t := classify.NetstatPhrase(k)
		if i := slices.IndexFunc(ps, func(p phrase) bool { return p.text == t }); i >= 0 {
			ps[i].n += v
		} else {
			ps = append(ps, phrase{t, v})
		}
	}
	slices.SortFunc(ps, func(x, y phrase) int { return strings.Compare(x.text, y.text) })
	for i, p := range ps {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, p.text)
		b = append(b, ':')
		b = appendInt(b, int64(p.n))
	}
	return append(b, "}}\n"...)
}

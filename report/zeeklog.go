package report

import (
	"bufio"
	"crypto/sha1"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/tcpwhy/tcpwhy/classify"
)

// zeekField is one column of conn.log: Zeek's standard fields in Zeek's
// order (scripts/base/protocols/conn/main.zeek, Conn::Info), then
// community_id as Zeek's policy/protocols/conn/community-id-logging adds
// it, then tcpwhy's own verdict and rst_reason.
type zeekField struct{ name, typ string }

var zeekFields = []zeekField{
	{"ts", "time"}, {"uid", "string"}, {"id.orig_h", "addr"}, {"id.orig_p", "port"}, {"id.resp_h", "addr"},
	{"id.resp_p", "port"}, {"proto", "enum"}, {"service", "string"}, {"duration", "interval"},
	{"orig_bytes", "count"}, {"resp_bytes", "count"}, {"conn_state", "string"}, {"local_orig", "bool"},
	{"local_resp", "bool"}, {"missed_bytes", "count"}, {"history", "string"}, {"orig_pkts", "count"},
	{"orig_ip_bytes", "count"}, {"resp_pkts", "count"}, {"resp_ip_bytes", "count"},
	{"tunnel_parents", "set[string]"}, {"ip_proto", "count"}, {"community_id", "string"},
	{"verdict", "string"}, {"rst_reason", "string"},
}

// zeekConn is one conn.log record; nil pointers are unset fields (`-`
// in TSV, absent in JSON). Key order is Zeek's.
type zeekConn struct {
	TS          json.Number  `json:"ts"`
	UID         string       `json:"uid"`
	OrigH       string       `json:"id.orig_h"`
	OrigP       uint16       `json:"id.orig_p"`
	RespH       string       `json:"id.resp_h"`
	RespP       uint16       `json:"id.resp_p"`
	Proto       string       `json:"proto"`
	Duration    *json.Number `json:"duration,omitempty"`
	OrigBytes   *int64       `json:"orig_bytes,omitempty"`
	RespBytes   *int64       `json:"resp_bytes,omitempty"`
	ConnState   string       `json:"conn_state,omitempty"`
	MissedBytes int64        `json:"missed_bytes"`
	History     string       `json:"history,omitempty"`
	OrigPkts    int          `json:"orig_pkts"`
	OrigIPBytes *int64       `json:"orig_ip_bytes,omitempty"`
	RespPkts    int          `json:"resp_pkts"`
	RespIPBytes *int64       `json:"resp_ip_bytes,omitempty"`
	IPProto     int          `json:"ip_proto"`
	CommunityID string       `json:"community_id"`
	Verdict     string       `json:"verdict"`
	RSTReason   string       `json:"rst_reason,omitempty"`
}

// ZeekUID returns a deterministic Zeek-style uid for a flow: "C" and 17
// base62 digits of a hash of the first packet's time and the flow's
// 5-tuple (Zeek's own uids are random per run).
func ZeekUID(r *classify.FlowResult) string {
	var b [8 + 1 + 2*(16+2)]byte
	s := binary.BigEndian.AppendUint64(b[:0], uint64(r.Start.UnixNano()))
	s = append(s, protoTCP)
	c, sv := r.Client.Addr().As16(), r.Server.Addr().As16()
	s = append(s, c[:]...)
	s = binary.BigEndian.AppendUint16(s, r.Client.Port())
	s = append(s, sv[:]...)
	s = binary.BigEndian.AppendUint16(s, r.Server.Port())
	sum := sha1.Sum(s)
	hi, lo := binary.BigEndian.Uint64(sum[0:8]), uint64(binary.BigEndian.Uint32(sum[8:12]))
	const digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	var out [18]byte
	out[0] = 'C'
	// 96 bits as hi:lo (lo holds 32 bits), divided by 62 seventeen times.
	for i := 17; i >= 1; i-- {
		rh := hi % 62
		hi /= 62
		v := rh<<32 | lo
		out[i] = digits[v%62]
		lo = v / 62
	}
	return string(out[:])
}

// epoch formats t as Zeek does: seconds since the epoch with 6 decimals.
func epoch(t time.Time) string {
	us := t.Round(time.Microsecond).UnixMicro()
	sign := ""
	if us < 0 {
		sign, us = "-", -us
	}
	return fmt.Sprintf("%s%d.%06d", sign, us/1e6, us%1e6)
}

// zeekRecord makes the conn.log record of r; ip holds the IP bytes the
// client and the server sent (nil: unset).
func zeekRecord(r *classify.FlowResult, ip *[2]int64) zeekConn {
	z := zeekConn{TS: json.Number(epoch(r.Start)), UID: ZeekUID(r), OrigH: r.Client.Addr().String(), OrigP: r.Client.Port(),
		RespH: r.Server.Addr().String(), RespP: r.Server.Port(), Proto: "tcp", ConnState: r.ZeekState,
		History: r.ZeekHistory, OrigPkts: r.ClientPackets, RespPkts: r.ServerPackets, IPProto: protoTCP,
		CommunityID: CommunityID(r), Verdict: string(r.Verdict)}
	// Zeek logs duration and byte counts only for a duration above zero.
	if d := r.End.Sub(r.Start); d > 0 {
		n := json.Number(strconv.FormatFloat(d.Seconds(), 'f', 6, 64))
		ob, rb := r.ClientBytes, r.ServerBytes
		z.Duration, z.OrigBytes, z.RespBytes = &n, &ob, &rb
	}
	if ip != nil {
		ob, rb := ip[0], ip[1]
		z.OrigIPBytes, z.RespIPBytes = &ob, &rb
	}
	if r.Reset != nil {
		z.RSTReason = r.Reset.Reason
	}
	return z
}

// zeekEscape escapes a TSV string field as Zeek's ASCII writer does:
// the separator, control and non-ASCII bytes and the backslash as \xNN,
// an empty string as the empty-field marker, and a lone "-" so that it
// is not read as unset.
func zeekEscape(s string) string {
	switch s {
	case "":
		return "(empty)"
	case "-":
		return `\x2d`
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '\\' {
			fmt.Fprintf(&b, `\x%02x`, c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func optString(s string) string {
	if s == "" {
		return "-"
	}
	return zeekEscape(s)
}

func optInt(p *int64) string {
	if p == nil {
		return "-"
	}
	return strconv.FormatInt(*p, 10)
}

// zeekStamp is the #open/#close time format.
const zeekStamp = "2006-01-02-15-04-05"

// ZeekTSV writes the flows as a Zeek conn.log in Zeek's TSV format: the
// header lines (#separator ... #types), one row per flow, #close. The
// #open and #close times are the capture's first and last packet (UTC),
// so the same capture always gives the same bytes. px supplies the IP
// byte counts (nil: those columns are unset).
func ZeekTSV(w io.Writer, a *classify.Analysis, px *PacketIndex) error {
	bw := bufio.NewWriter(w)
	zeekTSVHeader(bw, a.Capture.First)
	for _, r := range a.Flows {
		bw.WriteString(zeekTSVRow(zeekRecord(r, indexedIPBytes(px, r.ID))))
	}
	fmt.Fprintf(bw, "#close\t%s\n", a.Capture.Last.UTC().Format(zeekStamp))
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write zeek log: %w", err)
	}
	return nil
}

// indexedIPBytes returns the IP bytes px counted for flow id (nil when px
// has no such flow).
func indexedIPBytes(px *PacketIndex, id int64) *[2]int64 {
	if fp := px.Flow(id); fp != nil {
		return &[2]int64{fp.ClientIPBytes, fp.ServerIPBytes}
	}
	return nil
}

// zeekTSVHeader writes the header lines of a TSV conn.log opened at
// first (the capture's first packet).
func zeekTSVHeader(bw *bufio.Writer, first time.Time) {
	fmt.Fprintf(bw, "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n")
	fmt.Fprintf(bw, "#open\t%s\n#fields", first.UTC().Format(zeekStamp))
	for _, f := range zeekFields {
		bw.WriteString("\t" + f.name)
	}
	bw.WriteString("\n#types")
	for _, f := range zeekFields {
		bw.WriteString("\t" + f.typ)
	}
	bw.WriteByte('\n')
}

// zeekTSVRow renders z as a TSV line.
func zeekTSVRow(z zeekConn) string {
	dur := "-"
	if z.Duration != nil {
		dur = string(*z.Duration)
	}
	cols := []string{string(z.TS), z.UID, z.OrigH, strconv.Itoa(int(z.OrigP)), z.RespH, strconv.Itoa(int(z.RespP)),
		z.Proto, "-", dur, optInt(z.OrigBytes), optInt(z.RespBytes), optString(z.ConnState), "-", "-",
		strconv.FormatInt(z.MissedBytes, 10), optString(z.History), strconv.Itoa(z.OrigPkts), optInt(z.OrigIPBytes),
		strconv.Itoa(z.RespPkts), optInt(z.RespIPBytes), "-", strconv.Itoa(z.IPProto), zeekEscape(z.CommunityID),
		zeekEscape(z.Verdict), optString(z.RSTReason)}
	return strings.Join(cols, "\t") + "\n"
}

// ZeekJSON writes the flows as a Zeek conn.log in Zeek's JSON format
// (LogAscii::use_json=T): one object per line, epoch ts, flat dotted keys,
// unset fields left out.
func ZeekJSON(w io.Writer, a *classify.Analysis, px *PacketIndex) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for _, r := range a.Flows {
		if err := enc.Encode(zeekRecord(r, indexedIPBytes(px, r.ID))); err != nil {
			return fmt.Errorf("write zeek json: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write zeek json: %w", err)
	}
	return nil
}

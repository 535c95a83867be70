package report

import (
	"bytes"
	"encoding/json"
	"math"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/tcpwhy/tcpwhy/capture"
	"github.com/tcpwhy/tcpwhy/classify"
	"github.com/tcpwhy/tcpwhy/internal/gen"
)

func encodingJSON(t *testing.T, r *classify.FlowResult) string {
	t.Helper()
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(flowRecord(r)); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// TestAppendFlowRecordMatchesEncodingJSON checks the hand-written flow
// record against encoding/json on every flow of the lab and demo captures
// and on a flow with awkward strings and numbers.
func TestAppendFlowRecordMatchesEncodingJSON(t *testing.T) {
	files, _ := filepath.Glob("../testdata/pcaps/lab/*/*.pcap*")
	files = append(files, "../testdata/pcaps/demo.pcap")
	n := 0
	for _, f := range files {
		a := analyzeFile(t, f)
		for _, r := range a.Flows {
			n++
			if got, want := string(appendFlowRecord(nil, r)), encodingJSON(t, r); got != want {
				t.Errorf("%s flow %d:\n got %s\nwant %s", f, r.ID, got, want)
			}
		}
	}
	if n < 50 {
		t.Fatalf("only %d flows checked", n)
	}
	odd := &classify.FlowResult{ID: 7, Client: netip.MustParseAddrPort("[fe80::1%eth0]:1"), Server: netip.MustParseAddrPort("10.0.0.1:2"),
		Verdict: "no-listener", SYN: &classify.SYNSchedule{Gaps: []float64{1e-7, 1, 0.5, 3e21, -2.25, 123456.789}, Matches: []string{"a<b>&c"}, GiveUp: 131.0000001},
		SYNACKGaps: []float64{0}, HandshakeRTT: 0.000123, FirstFINBy: classify.SideClient,
		Reset: &classify.Reset{By: classify.SideServer, Generator: "passive", Reason: "NO_SOCKET", Packet: 9,
			InjectedSuspect: &classify.Injected{Packet: 9, TTL: 60, SenderTTLMin: 64, SenderTTLMax: 64, IPID: 1, Evidence: []string{"ttl \"60\"\t\\"}}},
		ZeekState: "REJ", ZeekHistory: "Sr", ClientCounters: classify.Counters{"b": 1, "a": -2}, ServerCounters: nil,
		Start: time.Unix(1, 5).In(time.FixedZone("x", 3600)), End: time.Unix(0, 0),
		Evidence: []int64{1, 2}, Explanation: "ctl\x01\x1f \u2028\u2029 é 日本 bad\xff\xfe <tag> & \b\f\n\r", Notes: []string{}, Evicted: true}
	if got, want := string(appendFlowRecord(nil, odd)), encodingJSON(t, odd); got != want {
		t.Errorf("odd flow:\n got %s\nwant %s", got, want)
	}
	for _, f := range []float64{0, 1e-6, 9.99e-7, 1e20, 1e21, math.SmallestNonzeroFloat64, -0.5, 1.5e-10} {
		got := string(appendJSONFloat(nil, f))
		want, _ := json.Marshal(f)
		if got != string(want) {
			t.Errorf("float %v: got %s want %s", f, got, want)
		}
	}
}

// TestAppendTimeMatchesFormat checks the hand-written RFC 3339 times
// against time.Format.
func TestAppendTimeMatchesFormat(t *testing.T) {
	times := []time.Time{{}, time.Unix(0, 0), time.Unix(1772442000, 40040000), time.Unix(1772442000, 1),
		time.Unix(1772442000, 999999999), time.Unix(1772442000, 100), time.Date(9999, 12, 31, 23, 59, 59, 5e8, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Unix(1772442000, 123456789).In(time.FixedZone("x", -5*3600))}
	for i := range 2000 {
		times = append(times, time.Unix(int64(i)*7919*86400/3, int64(i)*1000003%1e9))
	}
	for _, tm := range times {
		if got, want := string(appendTime(nil, tm)), timeString(tm); got != want {
			t.Errorf("%v: got %s want %s", tm, got, want)
		}
	}
}

// TestAppendHostRecordMatchesEncodingJSON checks the hand-written host
// record against encoding/json on every host of the lab and demo
// captures and on hosts with awkward addresses and counter names.
func TestAppendHostRecordMatchesEncodingJSON(t *testing.T) {
	encode := func(h *classify.Host) string {
		var buf bytes.Buffer
		if err := json.NewEncoder(&buf).Encode(hostRecord(h)); err != nil {
			t.Fatal(err)
		}
		return buf.String()
	}
	files, _ := filepath.Glob("../testdata/pcaps/lab/*/*.pcap*")
	files = append(files, "../testdata/pcaps/demo.pcap")
	n := 0
	for _, f := range files {
		for _, h := range analyzeFile(t, f).Hosts {
			n++
			if got, want := string(appendHostRecord(nil, h)), encode(h); got != want {
				t.Errorf("%s host %s:\n got %s\nwant %s", f, h.IP, got, want)
			}
		}
	}
	if n < 50 {
		t.Fatalf("only %d hosts checked", n)
	}
	odd := []*classify.Host{
		{IP: netip.MustParseAddr("10.0.0.1")},
		{IP: netip.Addr{}, Counters: classify.Counters{"TcpOutRsts": 1}},
		{IP: netip.MustParseAddr("10.0.0.2"), Counters: classify.Counters{}},
		{IP: netip.MustParseAddr("fe80::1%a\"b<c>"), Counters: classify.Counters{"TcpExtListenDrops": 3}},
		// TcpFoo and TcpExtFoo share their netstat words ("Foo").
		{IP: netip.MustParseAddr("2001:db8::1"), Counters: classify.Counters{"TcpFoo": 2, "TcpExtFoo": -5, "a<b>&c": 1,
			"TcpEstabResets": 1, "TcpOutRsts": 7, "TcpAttemptFails": 1, "TcpExtTCPAbortOnData": 1}},
	}
	for _, h := range odd {
		if got, want := string(appendHostRecord(nil, h)), encode(h); got != want {
			t.Errorf("host %s:\n got %s\nwant %s", h.IP, got, want)
		}
	}
}

// BenchmarkAppendFlowRecord encodes the flow records of a generated
// capture of 2,000 connections, the mix make bench uses; one op is one
// record.
func BenchmarkAppendFlowRecord(b *testing.B) {
	path := filepath.Join(b.TempDir(), "gen.pcap")
	if _, err := gen.WriteFile(path, gen.Config{Connections: 2000, Seed: 7}); err != nil {
		b.Fatal(err)
	}
	src, err := capture.Open([]string{path}, capture.OpenOptions{})
	if err != nil {
		b.Fatal(err)
	}
	a := classify.Analyze(src, classify.Options{NoAnnotations: true})
	src.Close()
	buf := make([]byte, 0, 4096)
	n := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		buf = appendFlowRecord(buf[:0], a.Flows[i%len(a.Flows)])
		n += len(buf)
	}
	b.ReportMetric(float64(n)/float64(b.N), "B/record")
}

package report

import (
	"net/netip"
	"testing"

	"github.com/tcpwhy/tcpwhy/classify"
)

// The published Community ID v1 test vectors: corelight/community-id-spec,
// baseline/README.md (default, seed=1 and no-base64 tables) and
// baseline/baseline_deflt.json (flows of pcaps/combined.pcap.gz).
func TestCommunityIDVectors(t *testing.T) {
	const v6a, v6b = "fe80:0001:0203:0405:0607:0809:0A0B:0C0D", "fe80:1011:1213:1415:1617:1819:1A1B:1C1D"
	tests := []struct {
		proto      uint8
		src, dst   string
		sport      uint16
		dport      uint16
		noPorts    bool
		seed       uint16
		hex        bool
		want       string
		whichTable string
	}{
		{6, "1.2.3.4", "5.6.7.8", 1122, 3344, false, 0, false, "1:wCb3OG7yAFWelaUydu0D+125CLM=", "default"},
		{6, "5.6.7.8", "1.2.3.4", 3344, 1122, false, 0, false, "1:wCb3OG7yAFWelaUydu0D+125CLM=", "default"},
		{17, "1.2.3.4", "5.6.7.8", 1122, 3344, false, 0, false, "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg=", "default"},
		{17, "5.6.7.8", "1.2.3.4", 3344, 1122, false, 0, false, "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg=", "default"},
		{132, "1.2.3.4", "5.6.7.8", 1122, 3344, false, 0, false, "1:EKt4MsxuyaE6mL+hmrEkQ9csDD8=", "default"},
		{132, "5.6.7.8", "1.2.3.4", 3344, 1122, false, 0, false, "1:EKt4MsxuyaE6mL+hmrEkQ9csDD8=", "default"},
		{46, "1.2.3.4", "5.6.7.8", 0, 0, true, 0, false, "1:ikv3kmf89luf73WPz1jOs49S768=", "default"},
		{46, "5.6.7.8", "1.2.3.4", 0, 0, true, 0, false, "1:ikv3kmf89luf73WPz1jOs49S768=", "default"},
		{46, v6a, v6b, 0, 0, true, 0, false, "1:wQ/2mwrnXP4lmJcHdGL5ePjR+e0=", "default"},
		{46, v6b, v6a, 0, 0, true, 0, false, "1:wQ/2mwrnXP4lmJcHdGL5ePjR+e0=", "default"},
		{6, "1.2.3.4", "5.6.7.8", 1122, 3344, false, 1, false, "1:HhA1B+6CoLbiKPEs5nhNYN4XWfk=", "seed=1"},
		{6, "5.6.7.8", "1.2.3.4", 3344, 1122, false, 1, false, "1:HhA1B+6CoLbiKPEs5nhNYN4XWfk=", "seed=1"},
		{17, "1.2.3.4", "5.6.7.8", 1122, 3344, false, 1, false, "1:OShq+iKDAMVouh/4bMxB9Sz4amw=", "seed=1"},
		{132, "5.6.7.8", "1.2.3.4", 3344, 1122, false, 1, false, "1:uitchpn5MMGAQKBJh7bIr/bAr7s=", "seed=1"},
		{46, "1.2.3.4", "5.6.7.8", 0, 0, true, 1, false, "1:/buhqeOmaRCopOZFy9HnoJd5XW8=", "seed=1"},
		{46, v6a, v6b, 0, 0, true, 1, false, "1:j6EyyfBzL4vWKHFXgUqb5Az3OxM=", "seed=1"},
		{6, "1.2.3.4", "5.6.7.8", 1122, 3344, false, 0, true, "1:c026f7386ef200559e95a53276ed03fb5db908b3", "no base64"},
		{17, "5.6.7.8", "1.2.3.4", 3344, 1122, false, 0, true, "1:d0cbbd227431eb3e1988264cffb1d78b658c84e8", "no base64"},
		{132, "1.2.3.4", "5.6.7.8", 1122, 3344, false, 0, true, "1:10ab7832cc6ec9a13a98bfa19ab12443d72c0c3f", "no base64"},
		{46, v6b, v6a, 0, 0, true, 0, true, "1:c10ff69b0ae75cfe259897077462f978f8d1f9ed", "no base64"},
		{6, "2001:470:e5bf:dead:4957:2174:e82c:4887", "2607:f8b0:400c:c03::1a", 63943, 25, false, 0, false, "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4=", "baseline json"},
		{6, "2607:f8b0:400c:c03::1a", "2001:470:e5bf:dead:4957:2174:e82c:4887", 25, 63943, false, 0, false, "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4=", "baseline json"},
		{6, "128.232.110.120", "66.35.250.204", 34855, 80, false, 0, false, "1:LQU9qZlK+B5F3KDmev6m5PMibrg=", "baseline json"},
		{6, "66.35.250.204", "128.232.110.120", 80, 34855, false, 0, false, "1:LQU9qZlK+B5F3KDmev6m5PMibrg=", "baseline json"},
		{17, "192.168.1.52", "8.8.8.8", 54585, 53, false, 0, false, "1:d/FP5EW3wiY1vCndhwleRRKHowQ=", "baseline json"},
		{132, "192.168.170.8", "192.168.170.56", 7, 7, false, 0, false, "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs=", "baseline json"},
		{46, "10.1.12.2", "10.1.12.1", 0, 0, true, 0, false, "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw=", "baseline json"},
	}
	for _, tt := range tests {
		src := netip.AddrPortFrom(netip.MustParseAddr(tt.src), tt.sport)
		dst := netip.AddrPortFrom(netip.MustParseAddr(tt.dst), tt.dport)
		got := CommunityIDv1(tt.seed, tt.proto, src, dst, !tt.noPorts, !tt.hex)
		if got != tt.want {
			t.Errorf("%s: proto %d %s > %s: got %s, want %s", tt.whichTable, tt.proto, src, dst, got, tt.want)
		}
	}
}

func TestCommunityIDOfFlow(t *testing.T) {
	r := &classify.FlowResult{Client: netip.MustParseAddrPort("128.232.110.120:34855"), Server: netip.MustParseAddrPort("66.35.250.204:80")}
	if got, want := CommunityID(r), "1:LQU9qZlK+B5F3KDmev6m5PMibrg="; got != want {
		t.Errorf("CommunityID = %s, want %s", got, want)
	}
	// An IPv4-mapped IPv6 address hashes as the IPv4 address.
	r.Client = netip.MustParseAddrPort("[::ffff:128.232.110.120]:34855")
	if got, want := CommunityID(r), "1:LQU9qZlK+B5F3KDmev6m5PMibrg="; got != want {
		t.Errorf("CommunityID (mapped) = %s, want %s", got, want)
	}
}

package report

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"net/netip"

	"github.com/tcpwhy/tcpwhy/classify"
)

// IP protocol numbers Community ID hashes with ports.
const (
	protoTCP  = 6
	protoUDP  = 17
	protoSCTP = 132
)

// CommunityID returns the Community ID v1 (seed 0, base64) of a flow, the
// string Zeek, Suricata and Elastic log as community_id /
// network.community_id, so tcpwhy's records join with theirs.
func CommunityID(r *classify.FlowResult) string {
	return CommunityIDv1(0, protoTCP, r.Client, r.Server, true, true)
}

// CommunityIDv1 computes a Community ID v1 (corelight/community-id-spec)
// for a flow between src and dst over IP protocol proto. The ID does not
// depend on the direction: the endpoints are ordered before hashing.
// withPorts is false for protocols without ports (their ports are
// ignored); b64 selects base64 (the default) or hex encoding of the SHA-1.
// IPv4-mapped IPv6 addresses are hashed as IPv4. ICMP's type/code mapping
// is not implemented: tcpwhy hashes TCP flows only.
func CommunityIDv1(seed uint16, proto uint8, src, dst netip.AddrPort, withPorts, b64 bool) string {
	sa, da := src.Addr().Unmap(), dst.Addr().Unmap()
	sp, dp := src.Port(), dst.Port()
	if !withPorts {
		sp, dp = 0, 0
	}
	// Order: the smaller address first; on equal addresses the smaller port.
	if c := sa.Compare(da); c > 0 || (c == 0 && sp > dp) {
		sa, da, sp, dp = da, sa, dp, sp
	}
	var buf [2 + 16 + 16 + 2 + 4]byte
	b := binary.BigEndian.AppendUint16(buf[:0], seed)
	b = append(b, sa.AsSlice()...)
	b = append(b, da.AsSlice()...)
	b = append(b, proto, 0)
	if withPorts {
		b = binary.BigEndian.AppendUint16(b, sp)
		b = binary.BigEndian.AppendUint16(b, dp)
	}
	sum := sha1.Sum(b)
	if b64 {
		return "1:" + base64.StdEncoding.EncodeToString(sum[:])
	}
	return "1:" + hex.EncodeToString(sum[:])
}

//go:build !cgo

package capture

// Without cgo there is no libpcap: no BPF filters and no live capture.

// CompileFilter checks that expr can be compiled. Built without libpcap,
// every non-empty expression fails with ErrNoLibpcap.
func CompileFilter(expr string) error {
	if expr == "" {
		return nil
	}
	return ErrNoLibpcap
}

func newPacketFilter(expr string, snaplen int) (packetFilter, error) {
	return nil, ErrNoLibpcap
}

//go:build !cgo

package capture

// Without cgo there is no libpcap, so no live capture.

// ListInterfaces lists the capture interfaces. Built without libpcap it
// fails with ErrNoLibpcap.
func ListInterfaces() ([]Interface, error) { return nil, ErrNoLibpcap }

// OpenLive starts capturing on an interface. Built without libpcap it
// fails with ErrNoLibpcap.
func OpenLive(iface string, opts LiveOptions) (Live, error) { return nil, ErrNoLibpcap }

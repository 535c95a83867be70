package capture

import (
	"errors"
	"fmt"
)

// ErrNoLibpcap is returned for a filter expression (and, later, live
// capture) when the program was built without cgo and so without libpcap.
var ErrNoLibpcap = errors.New("built without libpcap: filters and live capture are unavailable")

// ReadError describes an input that could not be read to its end: a bad
// file header, a truncated or corrupt record, a damaged gzip stream. The
// packets before the broken one were delivered; the input stops there and
// the other inputs go on.
type ReadError struct {
	// File is the input's name as given ("-" for standard input).
	File string
	// Packet is the number the broken packet would have had (1 when the
	// file header itself is bad). With several inputs it is counted when
	// the damage is found, and the merge reads one packet ahead in each
	// input, so it may be a little lower than the position the packet
	// would have had in the merged stream.
	Packet int64
	// Offset is the byte offset in the (decompressed) file where the bad
	// record or block starts, -1 when unknown.
	Offset int64
	// Err is the cause.
	Err error
}

// Error reads like "read FILE: packet N at byte offset O: cause".
func (e *ReadError) Error() string {
	name := e.File
	if name == "-" {
		name = "standard input"
	}
	if e.Offset < 0 {
		return fmt.Sprintf("read %s: packet %d: %v", name, e.Packet, e.Err)
	}
	return fmt.Sprintf("read %s: packet %d at byte offset %d: %v", name, e.Packet, e.Offset, e.Err)
}

// Unwrap returns the cause.
func (e *ReadError) Unwrap() error { return e.Err }

// FilterError is a filter expression that libpcap could not compile.
type FilterError struct {
	// Expr is the expression as given.
	Expr string
	// LinkType is the libpcap name of the link type it was compiled for.
	LinkType string
	// Err is libpcap's complaint.
	Err error
}

// Error reads like `invalid filter "expr": cause`.
func (e *FilterError) Error() string {
	return fmt.Sprintf("invalid filter %q (link type %s): %v", e.Expr, e.LinkType, e.Err)
}

// Unwrap returns the cause.
func (e *FilterError) Unwrap() error { return e.Err }

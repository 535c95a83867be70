//go:build linux

package lab

import "flag"

// update is accepted so that 'go test ./... -update' (which regenerates
// the golden files of other packages) runs here too; this package keeps
// no golden files.
var _ = flag.Bool("update", false, "rewrite golden files (none in this package)")

//go:build !linux && !darwin && !freebsd

package capture

import "os"

// mapFile maps nothing on this platform: files are read.
func mapFile(*os.File) []byte { return nil }

// unmapFile is never called on this platform.
func unmapFile([]byte) error { return nil }

// adviseAhead is never called on this platform.
func adviseAhead([]byte) {}

// adviseDone is never called on this platform.
func adviseDone([]byte) {}

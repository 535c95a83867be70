//go:build !linux

package report

import "os"

// inMemory reports whether f is on a file system that keeps its files in
// memory; it is known on Linux only.
func inMemory(f *os.File) bool { return false }

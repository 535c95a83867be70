// Package tmpdirtest gives tests a directory on a file system in memory,
// to check what tcpwhy does where /tmp is tmpfs.
package tmpdirtest

import (
	"os"
	"runtime"
	"testing"

	"github.com/tcpwhy/tcpwhy/internal/tmpdir"
)

// MemoryDir returns a new directory on tmpfs (in /dev/shm), removed when
// the test ends; it skips the test where there is none (off Linux, or
// without a tmpfs /dev/shm).
func MemoryDir(t testing.TB) string {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("file systems in memory are recognized on Linux only")
	}
	dir, err := os.MkdirTemp("/dev/shm", "tcpwhy-test-*")
	if err != nil {
		t.Skipf("no /dev/shm to test with: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if !tmpdir.PathInMemory(dir) {
		t.Skip("/dev/shm is not tmpfs on this machine")
	}
	return dir
}

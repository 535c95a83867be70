package tmpdir

import (
	"os"
	"syscall"
)

// Magic numbers of the file systems whose files live in memory
// (statfs(2)).
const (
	tmpfsMagic = 0x01021994
	ramfsMagic = 0x858458f6
)

// InMemory reports whether f is on a file system that keeps its files in
// memory (tmpfs, ramfs).
func InMemory(f *os.File) bool {
	rc, err := f.SyscallConn()
	if err != nil {
		return false
	}
	var st syscall.Statfs_t
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = syscall.Fstatfs(int(fd), &st) }); err != nil || serr != nil {
		return false
	}
	return st.Type == tmpfsMagic || st.Type == ramfsMagic
}

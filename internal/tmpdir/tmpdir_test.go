package tmpdir_test

import (
	"os"
	"runtime"
	"testing"

	"github.com/tcpwhy/tcpwhy/internal/tmpdir"
	"github.com/tcpwhy/tcpwhy/internal/tmpdir/tmpdirtest"
)

// TestInMemory checks that a tmpfs directory is seen in memory and the
// package's own directory (a checkout, on disk) is not.
func TestInMemory(t *testing.T) {
	mem := tmpdirtest.MemoryDir(t)
	if !tmpdir.PathInMemory(mem) {
		t.Errorf("%s: not seen in memory", mem)
	}
	if tmpdir.PathInMemory("tmpdir.go") {
		t.Error("tmpdir.go: seen in memory")
	}
	if tmpdir.PathInMemory("no-such-file") {
		t.Error("a missing file: seen in memory")
	}
}

// TestChoose checks where temporary files go: /var/tmp only when /tmp
// is in memory, TMPDIR is not set, and /var/tmp is a writable directory
// on disk.
func TestChoose(t *testing.T) {
	mem := tmpdirtest.MemoryDir(t)
	// The package's directory is a checkout, on disk; t.TempDir is in
	// /tmp, which may be in memory.
	disk, err := os.MkdirTemp(".", "tcpwhy-test-*")
	if err != nil {
		t.Skipf("no directory on disk to test with: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(disk) })
	if tmpdir.PathInMemory(disk) {
		t.Skip("the checkout is in memory")
	}
	for _, c := range []struct {
		name        string
		set         bool
		tmp, varTmp string
		want        string
	}{
		{"tmp on disk", false, disk, mem, disk},
		{"tmp in memory", false, mem, disk, disk},
		{"TMPDIR set", true, mem, disk, mem},
		{"var/tmp in memory too", false, mem, mem, mem},
		{"no var/tmp", false, mem, disk + "/missing", mem},
	} {
		if got := tmpdir.Choose(c.set, c.tmp, c.varTmp); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
	if entries, _ := os.ReadDir(disk); len(entries) != 0 {
		t.Errorf("the probe left %d files behind", len(entries))
	}
}

// TestCreateUnlinked checks that the file is usable and has no name left.
func TestCreateUnlinked(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TMPDIR", dir)
	f, err := tmpdir.CreateUnlinked("tcpwhy-test-*")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("kept"); err != nil {
		t.Fatal(err)
	}
	// (Windows removes an open file's name only when it is closed.)
	if entries, _ := os.ReadDir(dir); len(entries) != 0 && runtime.GOOS != "windows" {
		t.Errorf("%d names left in %s, want none", len(entries), dir)
	}
}

// Package tmpdir chooses where tcpwhy's temporary files go (the JSON
// records waiting behind the capture record, the held flows, the
// annotations, standard input read twice) and says whether a file is in
// memory, where a spooled byte costs as much memory as it would in the
// process.
package tmpdir

import "os"

// VarTmp is where large temporary files go when /tmp is in memory:
// /var/tmp is on disk by convention (the FHS; systemd's
// file-hierarchy(7) names it for larger temporary files).
const VarTmp = "/var/tmp"

// Dir returns the directory for tcpwhy's temporary files: $TMPDIR when it
// is set, as os.TempDir; otherwise /tmp, unless /tmp is in memory (tmpfs,
// as on Debian 13, Fedora and Arch) and /var/tmp is a directory on disk
// that tcpwhy may write, then /var/tmp. It looks each time (a few
// microseconds), so that a change of TMPDIR counts.
func Dir() string { return choose(os.Getenv("TMPDIR") != "", os.TempDir(), VarTmp) }

// choose returns tmp, or varTmp when tmp was not set by the user (set
// unset), tmp is in memory, and varTmp is a writable directory that is
// not.
func choose(set bool, tmp, varTmp string) string {
	if set || !PathInMemory(tmp) || PathInMemory(varTmp) {
		return tmp
	}
	f, err := os.CreateTemp(varTmp, "tcpwhy-probe-*")
	if err != nil {
		return tmp
	}
	f.Close()
	os.Remove(f.Name())
	return varTmp
}

// PathInMemory reports whether the file or directory name is on a file
// system in memory (false when it cannot be opened).
func PathInMemory(name string) bool {
	f, err := os.Open(name)
	if err != nil {
		return false
	}
	defer f.Close()
	return InMemory(f)
}

// CreateUnlinked creates a temporary file in Dir (os.CreateTemp's
// pattern) and removes its name at once: the file lives until it is
// closed, and a tcpwhy that is killed leaves nothing behind.
func CreateUnlinked(pattern string) (*os.File, error) {
	f, err := os.CreateTemp(Dir(), pattern)
	if err != nil {
		return nil, err
	}
	os.Remove(f.Name())
	return f, nil
}

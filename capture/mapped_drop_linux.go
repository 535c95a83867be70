package capture

import "syscall"

// dontNeed gives back the pages of b, part of a mapped window that was
// read: they leave the process's resident memory and stay in the page
// cache (a later read of them would map them again). Where the page
// cache holds the file in large folios (a file just written in large
// writes), a later fault maps a folio whole again, pages given back
// included: the saving is then smaller.
func dontNeed(b []byte) { _ = syscall.Madvise(b, syscall.MADV_DONTNEED) }

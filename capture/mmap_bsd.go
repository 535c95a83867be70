//go:build darwin || freebsd

package capture

import "golang.org/x/sys/unix"

// madvisePopulate is the advice that maps pages in ahead of reading; BSD
// kernels only read them ahead.
const madvisePopulate = unix.MADV_WILLNEED

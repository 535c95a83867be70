package capture

import "golang.org/x/sys/unix"

// madvisePopulate is the advice that maps pages in ahead of reading.
const madvisePopulate = unix.MADV_POPULATE_READ

package prefetch

// write issues PREFETCHW for each line of [p, p+n), p a line's start.
// The address is a uintptr: the memory is only a hint's target, and the
// caller keeps it alive.
func write(p, n uintptr)

// read issues PREFETCHT0 for each line of [p, p+n), p a line's start.
func read(p, n uintptr)

// stream issues PREFETCHNTA for each line of [p, p+n), p a line's start.
func stream(p, n uintptr)

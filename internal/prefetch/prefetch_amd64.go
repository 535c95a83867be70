package prefetch

// write issues PREFETCHW for each line of [p, p+n), p a line's start.
// The address is a uintptr: the memory is only a hint's target, and the
// caller keeps it alive.
func write(p, n uintptr)

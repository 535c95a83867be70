#include "textflag.h"

// LINES issues the hint HINT (an instruction taking (AX)) for each cache
// line of [p, p+n), p a line's start: the body of write, read and stream.
#define LINES(HINT) \
	MOVQ p+0(FP), AX \
	MOVQ n+8(FP), CX \
	ADDQ AX, CX \
loop: \
	CMPQ AX, CX \
	JAE  done \
	HINT \
	ADDQ $64, AX \
	JMP  loop \
done: \
	RET

// PREFETCHW (AX), spelled in bytes: the Go assembler has no mnemonic for
// it. AMD processors have it since the K6-2 (the 3dnowprefetch flag);
// Intel processors before Broadwell execute it as a no-op.
#define PREFETCHW_AX BYTE $0x0F; BYTE $0x0D; BYTE $0x08

// func write(p, n uintptr)
TEXT ·write(SB), NOSPLIT|NOFRAME, $0-16
	LINES(PREFETCHW_AX)

// func read(p, n uintptr)
TEXT ·read(SB), NOSPLIT|NOFRAME, $0-16
	LINES(PREFETCHT0 (AX))

// func stream(p, n uintptr)
TEXT ·stream(SB), NOSPLIT|NOFRAME, $0-16
	LINES(PREFETCHNTA (AX))

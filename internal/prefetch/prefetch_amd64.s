#include "textflag.h"

// func write(p, n uintptr)
TEXT ·write(SB), NOSPLIT|NOFRAME, $0-16
	MOVQ p+0(FP), AX
	MOVQ n+8(FP), CX
	ADDQ AX, CX
loop:
	CMPQ AX, CX
	JAE  done
	// PREFETCHW (AX), spelled in bytes: the Go assembler has no mnemonic
	// for it. AMD processors have it since the K6-2 (the 3dnowprefetch
	// flag); Intel processors before Broadwell execute it as a no-op.
	BYTE $0x0F; BYTE $0x0D; BYTE $0x08
	ADDQ $64, AX
	JMP  loop
done:
	RET

// func read(p, n uintptr)
TEXT ·read(SB), NOSPLIT|NOFRAME, $0-16
	MOVQ p+0(FP), AX
	MOVQ n+8(FP), CX
	ADDQ AX, CX
rloop:
	CMPQ AX, CX
	JAE  rdone
	PREFETCHT0 (AX)
	ADDQ $64, AX
	JMP  rloop
rdone:
	RET

// func stream(p, n uintptr)
TEXT ·stream(SB), NOSPLIT|NOFRAME, $0-16
	MOVQ p+0(FP), AX
	MOVQ n+8(FP), CX
	ADDQ AX, CX
sloop:
	CMPQ AX, CX
	JAE  sdone
	PREFETCHNTA (AX)
	ADDQ $64, AX
	JMP  sloop
sdone:
	RET

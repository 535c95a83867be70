// Package flows holds the flow table: one Flow per TCP connection (a
// 4-tuple, split again when the tuple is reused with a new SYN), and per
// flow one Endpoint per side that follows what that side sent, what it
// acknowledged, its SYNs, FINs and RSTs, and the state its TCP stack must
// be in. It also runs Wireshark's per-segment analysis (SeqAnalysis) and
// Zeek's connection state machine (ZeekConn) on every segment.
//
// Everything is driven by capture timestamps, never the wall clock, so the
// same capture always gives the same flows. The table is not safe for
// concurrent use. Looking up a flow and updating it allocates nothing;
// only a new flow allocates (and none once decided flows are handed back
// with Table.Release), and so does a flow's first use of the state few
// connections need (SYN retransmissions, RSTs, retransmitted data, ICMP
// errors, out-of-order data in ZeekConn). A tracked flow costs 1 KiB of
// heap (plus its SeqAnalysis when that runs); once the table tracks many,
// a closed flow waiting for late packets, an attempt left unanswered and
// an open connection quiet for two seconds are kept compacted (about
// 0.45 KiB, 0.25 KiB for a lone SYN; see Config.CompactAbove).
package flows

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
// only a new flow allocates.
package flows

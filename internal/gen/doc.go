// Package gen writes deterministic, realistic TCP captures for benchmarks
// and end-to-end tests.
//
// Write produces a classic pcap file (Ethernet link type, microsecond
// timestamps) in which Config.Connections TCP connections arrive as a
// Poisson process (Config.Rate per second) and run interleaved in time, so
// thousands are open at once. Everything is derived from Config.Seed with
// math/rand/v2; the wall clock is never read, so the same Config always
// yields the same bytes. Packets are serialized with gopacket (checksums
// computed, lengths fixed) into reused buffers: the hot path allocates
// nothing per packet.
//
// # Vantage point and addresses
//
// The capture is taken on the server hosts' side (as with tcpdump on a
// server): server packets appear the moment they are sent, client packets a
// full round-trip time after the server packet they answer. Servers are
// 198.18.0.1… and 2001:db8::1… (ports 443, 80, 8080), clients spread over
// 64 public-looking /8 prefixes and 2001:db8:c::/48 with pseudo-random
// interface identifiers, with Linux-style ephemeral ports (even,
// 32768–60999, each client host counting up from a random start, so no
// 4-tuple repeats).
// Round-trip times are log-uniform in Config.MinRTT–Config.MaxRTT (default
// 0.1–50 ms); the server answers within microseconds.
//
// # What Linux puts on the wire, and what is reproduced
//
//   - SYN: win 64240 (IPv6 64800), options [mss 1460 (1440),sackOK,TS val
//     ecr 0,nop,wscale 7]. SYN-ACK: win 65160 (64800), same option order,
//     TS ecr echoing the SYN, IPv4 ID 0 (sent from a request socket).
//   - Every later segment of an established connection: [nop,nop,TS val ecr]
//     (TS val is a per-host random offset plus milliseconds), windows
//     scaled by 7 (client 502, server 509, growing as data is received),
//     IPv4 DF set, IP ID counting up per socket from a random start, TTL 64
//     at the server and 64 minus a per-client hop count for clients, a per
//     direction IPv6 flow label.
//   - Passive RSTs (kernel answers without a socket): win 0, no options,
//     IPv4 ID 0; `[R.] seq 0 ack x+1` in answer to a SYN, `[R] seq=<ack of
//     the offending segment>` in answer to a segment carrying ACK.
//   - Active RSTs (a socket aborts): `[R.] seq=snd_nxt ack=rcv_nxt`, a
//     normal window, TS option, the socket's IP ID sequence.
//   - Data: MSS-sized segments (1448/1428 bytes with TS), PSH on the last
//     segment of a write, initial congestion window 10 doubling each round
//     trip, the client ACKing every second segment and the last one, the
//     server ACKing a request at once when it takes longer than 200 µs to
//     answer. Port 80/8080 payloads start with an HTTP request or status
//     line; port 443 payloads are pseudo-random bytes.
//
// # Connection kinds
//
// Every connection has one Kind, chosen by Config.Mix (DefaultMix gives
// about 90% normal connections). x is the client's ISN, y the server's.
//
//   - KindClientClose: handshake, 1–30 request/response exchanges with
//     think times between them, then the client closes: C [F.], S [F.]
//     (or S [.] then S [F.]), C [.]. Expected verdict graceful-close.
//   - KindServerClose: as above but the server closes after its last
//     response (S [F.] or the FIN on the last data segment as [FP.]),
//     C [.] and C [F.] (or one C [F.]), S [.]. Verdict graceful-close.
//   - KindRetransmit: a client-close connection where one server data
//     segment of the last response is lost after the capture point: the
//     client sends duplicate ACKs with SACK blocks for the later segments,
//     the server retransmits the segment (after rtt/4 when SACKed, or as a
//     tail-loss probe after 2 rtt), then the client ACKs everything.
//     Verdict graceful-close, with a data retransmission.
//   - KindRefused: C [S], S [R.] seq 0 ack x+1 win 0. Verdict no-listener.
//   - KindSYNRetransmit: the first 1–3 SYNs go unanswered and are
//     retransmitted at 1 s intervals (Linux ≥ 6.5), the last one is
//     answered, then a normal client-close exchange. Verdict
//     graceful-close, with SYN retransmits.
//   - KindSYNTimeout: SYNs at 0, 1, 2, 3, 4, 5 and 7 s, never answered, then
//     nothing. Verdict syn-timeout.
//   - KindMidstreamRST: a normal connection goes idle for 2–20 s (the
//     server restarted), the client's next request is answered by a
//     passive S [R] seq=<the request's ack> win 0. Verdict no-socket.
//   - KindOverflowDrop: accept queue full with tcp_abort_on_overflow=0:
//     C [S], S [S.], C [.] and C's request are ignored, C retransmits the
//     request with its RTO (rtt+200 ms, doubling), S retransmits the SYN-ACK
//     1 s and 3 s after the first, C answers each with a duplicate ACK; the
//     ACK after the second retransmission is accepted and the next request
//     retransmission is served, then a client close. Verdict overflow.
//   - KindOverflowReset: accept queue full with tcp_abort_on_overflow=1:
//     C [S], S [S.], C [.], S [R] seq y+1 win 0 right after; when C had
//     already sent its request (most of the time) it gets a second
//     identical RST. Verdict overflow.
//   - KindEarlyClose: after 0–3 normal exchanges the client sends one more
//     request that the server never reads; the server application closes
//     and the kernel sends an active [R.] seq=snd_nxt ack=rcv_nxt with a
//     non-zero window and TS options (sometimes after ACKing the request).
//     Verdict early-close.
//
// Config.SYNFlood adds a flood of spoofed SYNs to 198.18.255.1:443, a host
// that never answers. Every flood SYN has a distinct source address (its
// index, below 2^30, scrambled into 64 public-looking /8 prefixes), a
// random port, sequence number, IP ID and TTL, win 1024 and no options.
// They come at Config.SYNFloodRate per second
// from Config.Start, interleaved with the connections; the flood draws from
// its own random stream, so adding it leaves the connections unchanged.
//
// Config.PortScan adds a scan of closed ports: one scanner, 203.0.113.9,
// sends a SYN (win 1024, no options) to port 22, 80, 443, 3306 or 8080 of
// each address of 100.64.0.0/10 in turn, every probe to its own ip:port,
// and each target answers 200 µs later with [R.] ack ISN+1. The probes
// come at Config.PortScanRate per second from Config.Start, interleaved
// with the rest; they use no random stream. Verdict no-listener.
package gen

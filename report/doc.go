// Package report holds the renderers of tcpwhy: each turns analysed flows
// and the packet stream into one output format (tcpdump-compatible packet
// lines, per-connection verdicts, machine-readable records), and each is a
// pure function of its inputs, so the same capture always renders the same
// bytes.
package report

package report

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/tcpwhy/tcpwhy/capture"
	"github.com/tcpwhy/tcpwhy/classify"
)

// verdictMeaning says in a few words what a failing verdict means, for
// headlines ("3 of 40 connections to ... <meaning>").
var verdictMeaning = map[classify.Verdict]string{
	classify.NoListener:     "were refused with a RST: nothing listened on the port, or a firewall rejected them",
	classify.Unreachable:    "were answered by an ICMP unreachable error",
	classify.SynTimeout:     "got no answer to any SYN",
	classify.Overflow:       "hit a full accept queue on the server",
	classify.Abort:          "were aborted on purpose with a RST (SO_LINGER 0 close, killed socket)",
	classify.EarlyClose:     "were reset because a side closed with unread data",
	classify.DataAfterClose: "were reset because data arrived after a side had closed",
	classify.NoSocket:       "were reset by a side that no longer knew the connection",
	classify.Timeout:        "timed out: retransmissions went unanswered until the sender gave up",
	classify.UnknownReset:   "were reset for a reason the capture does not show",
}

// finding is one headline: the flows of one verdict to one server.
type finding struct {
	Verdict classify.Verdict
	Server  netip.AddrPort
	Count   int
	Total   int
	// By is who sent the deciding RSTs when all agree ("" otherwise).
	By classify.Side
}

// Text is the headline sentence.
func (f finding) Text() string {
	by := ""
	if f.By != "" {
		by = " (reset by the " + string(f.By) + ")"
	}
	noun := "connections"
	if f.Total == 1 {
		noun = "connection"
	}
	meaning := verdictMeaning[f.Verdict]
	if f.Count == 1 {
		meaning = strings.Replace(meaning, "were ", "was ", 1)
	}
	return fmt.Sprintf("%d of %d %s to %s %s%s", f.Count, f.Total, noun, f.Server, meaning, by)
}

func inputNames(ci capture.Info) []string {
	names := make([]string, 0, len(ci.Inputs))
	for _, in := range ci.Inputs {
		names = append(names, in.Name)
	}
	return names
}

// mdEscaper makes text taken from the capture or from the analysis
// inert in Markdown (GitHub Flavored): HTML is entity-escaped, and every
// character that can start emphasis, a link, a table cell, a heading or a
// list is backslash-escaped (parentheses and ! need no escape once [ and
// ] are escaped; the escaped text never starts a line, so # and list
// markers are inert). Newlines become spaces.
var mdEscaper = strings.NewReplacer(
	"&", "&amp;", "<", "&lt;", ">", "&gt;",
	"\\", "\\\\", "`", "\\`", "*", "\\*", "_", "\\_", "[", "\\[", "]", "\\]",
	"|", "\\|", "~", "\\~",
	"\r\n", " ", "\n", " ", "\r", " ",
)

// md escapes s for Markdown text (see mdEscaper).
func md(s string) string { return mdEscaper.Replace(s) }

// mdCode returns s as an inline code span that s cannot break out of.
func mdCode(s string) string {
	s = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s)
	fence := strings.Repeat("`", longestRun(s, '`')+1)
	pad := ""
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		pad = " "
	}
	// A table cell ends at an unescaped |, even inside a code span.
	s = strings.ReplaceAll(s, "|", "\\|")
	return fence + pad + s + pad + fence
}

// longestRun is the length of the longest run of c in s.
func longestRun(s string, c byte) int {
	n, best := 0, 0
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			n++
			best = max(best, n)
		} else {
			n = 0
		}
	}
	return best
}

// Markdown writes a ticket-ready report that renders on GitHub: what was
// captured, the headline findings, the listener diagnoses, a table of the
// failing flows, and failing flows' decisive packets as tcpdump lines with
// their annotations. d digests a's flows (a.Flows may be empty: see
// classify.Options.Bounded); on a large capture the report lists the 30
// largest findings and the first 100 failing flows, and shows the packets
// of one example of each failing verdict when more than 25 flows fail.
// px holds the packets of a second pass over d.Kept() (nil: the packet
// sections are left out).
func Markdown(w io.Writer, a *classify.Analysis, d *Digest, px *PacketIndex) error {
	bw := bufio.NewWriter(w)
	ci := a.Capture
	failing := d.Failing()
	fmt.Fprintf(bw, "# tcpwhy report: %s\n\n", md(strings.Join(inputNames(ci), ", ")))
	fmt.Fprintf(bw, "**Captured:** %d packets, %d TCP segments", ci.Packets, ci.TCP)
	if ci.ICMPErrors > 0 {
		fmt.Fprintf(bw, ", %d ICMP errors", ci.ICMPErrors)
	}
	if !ci.First.IsZero() {
		fmt.Fprintf(bw, ", from %s to %s UTC (%.3f s)", ci.First.UTC().Format("2006-01-02 15:04:05.000000"),
			ci.Last.UTC().Format("15:04:05.000000"), ci.Last.Sub(ci.First).Seconds())
	}
	fmt.Fprintf(bw, ". **%s**, **%d failing**, %s.\n", plural(d.Flows(), "flow"), d.FailingCount(), plural(len(a.Listeners), "listener"))
	var notes []string
	if ci.BadChecksums > 0 {
		notes = append(notes, fmt.Sprintf("%d TCP segments carry a wrong checksum (checksum offload on the capturing host, or veth); they were analysed anyway.", ci.BadChecksums))
	}
	if a.Evicted > 0 {
		notes = append(notes, fmt.Sprintf("The flow table was full: %d flows were decided early (raise --max-flows).", a.Evicted))
	}
	if a.ListenersLeftOut > 0 {
		notes = append(notes, sentence(listenersLeftOutNote(a)))
	}
	for _, e := range errorList(a.Err) {
		notes = append(notes, "Read error: "+md(e))
	}
	for _, n := range notes {
		fmt.Fprintf(bw, "\n> **Note:** %s\n", n)
	}

	fmt.Fprintf(bw, "\n## Findings\n\n")
	fs, nfs := d.findingList()
	if len(fs) == 0 {
		fmt.Fprintf(bw, "No failing connections: every flow closed cleanly, was half-closed, still open, or began before the capture.\n")
	}
	for _, f := range fs {
		fmt.Fprintf(bw, "- **%s**: %s\n", md(string(f.Verdict)), md(f.Text()))
	}
	if nfs > len(fs) {
		fmt.Fprintf(bw, "- … and %d smaller findings (`--json` has every flow).\n", nfs-len(fs))
	}
	fmt.Fprintf(bw, "\n| verdict | flows |\n|---|---:|\n")
	for _, v := range classify.Verdicts {
		if n := a.Verdicts[v]; n > 0 {
			fmt.Fprintf(bw, "| %s | %d |\n", md(string(v)), n)
		}
	}

	if listed, rest := diagnosedListeners(a); len(listed) > 0 {
		fmt.Fprintf(bw, "\n## Listeners\n")
		checks := checkSet{}
		for _, l := range listed {
			fmt.Fprintf(bw, "\n### %s: %s (%s)\n\n", mdCode(l.Server.String()), plural(l.Connections, "connection"), md(verdictCounts(l.Verdicts)))
			for _, d := range l.Diagnosis {
				fmt.Fprintf(bw, "- **%s**: %s\n", md(d.Kind), md(d.Explanation))
				if d.Kind == "overflow" && l.AcceptQueueEstimate != nil {
					fmt.Fprintf(bw, "  - Accept queue estimate: %d connections (the queue holds min(backlog, somaxconn)+1).\n", *l.AcceptQueueEstimate)
				}
				if len(d.Evidence) > 0 {
					fmt.Fprintf(bw, "  - Evidence: packets %s.\n", packetList(d.Evidence))
				}
				if len(d.Checks) > 0 {
					fresh, ref := checks.take(d)
					fmt.Fprintf(bw, "  - What to check on the host:\n")
					for _, c := range fresh {
						fmt.Fprintf(bw, "    - %s\n", md(c))
					}
					if ref != "" {
						fmt.Fprintf(bw, "    - %s\n", md(ref))
					}
				}
			}
		}
		if len(rest) > 0 {
			fmt.Fprintf(bw, "\nThe %d listeners with a diagnosis that have the most failing connections; %d more are not described (%s); `--json` has every listener.\n",
				len(listed), len(rest), md(diagnosisCounts(rest)))
		}
	}

	if len(failing) > 0 {
		fmt.Fprintf(bw, "\n## Failing flows\n\n")
		fmt.Fprintf(bw, "| flow | client | server | verdict | RST | Zeek | packets | explanation |\n")
		fmt.Fprintf(bw, "|---:|---|---|---|---|---|---|---|\n")
		for _, r := range failing {
			rst := "-"
			if r.Reset != nil {
				rst = md(resetText(r.Reset))
			}
			fmt.Fprintf(bw, "| %d | %s | %s | **%s** | %s | %s | %d-%d | %s |\n", r.ID, mdCode(r.Client.String()), mdCode(r.Server.String()),
				md(string(r.Verdict)), rst, mdCode(r.ZeekState+" "+r.ZeekHistory), r.FirstPacket, r.LastPacket, md(r.Explanation))
		}
		if n := d.FailingCount(); n > len(failing) {
			fmt.Fprintf(bw, "\nThe first %d of the %d failing flows, by flow number; `--json` lists every flow.\n", len(failing), n)
		}
		if px != nil {
			fmt.Fprintf(bw, "\n## Decisive packets\n\nPacket lines as `tcpdump -n -# -tttt` prints them (UTC); lines starting with `^` are tcpwhy's annotations.\n")
			if d.FailingCount() > digestMaxSections {
				fmt.Fprintf(bw, "\nThe first flow of each failing verdict.\n")
			}
			for _, r := range d.Sections() {
				writeMarkdownFlow(bw, r, px.Flow(r.ID))
			}
		}
	}

	if hosts, rest := busiestHosts(hostsWithCounters(a)); len(hosts) > 0 {
		fmt.Fprintf(bw, "\n## Counters to confirm on the hosts\n\nPredicted `nstat -az` deltas over the capture:\n\n")
		fmt.Fprintf(bw, "| host | counter | delta | netstat -s |\n|---|---|---:|---|\n")
		for _, h := range hosts {
			for _, name := range counterNames(h.Counters) {
				fmt.Fprintf(bw, "| %s | %s | %+d | %s |\n", mdCode(h.IP.String()), mdCode(name), h.Counters[name], md(classify.NetstatText[name]))
			}
		}
		if len(rest) > 0 {
			fmt.Fprintf(bw, "\nThe %d hosts with the largest deltas; %d more are not listed; `--json` has every host.\n", len(hosts), len(rest))
		}
	}
	fmt.Fprintf(bw, "\n<sub>Generated by tcpwhy from the packets alone.</sub>\n")
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write markdown: %w", err)
	}
	return nil
}

func writeMarkdownFlow(bw *bufio.Writer, r *classify.FlowResult, fp *FlowPackets) {
	fmt.Fprintf(bw, "\n### Flow %d: %s → %s, %s\n\n", r.ID, mdCode(r.Client.String()), mdCode(r.Server.String()), md(string(r.Verdict)))
	fmt.Fprintf(bw, "**Why:** %s\n", md(r.Explanation))
	for _, n := range r.Notes {
		fmt.Fprintf(bw, "\n> **Note:** %s\n", md(n))
	}
	ps := fp.decisive()
	if len(ps) == 0 {
		fmt.Fprintf(bw, "\nNo decisive packet was captured for this flow.\n")
		return
	}
	var b strings.Builder
	for _, p := range ps {
		b.WriteString(p.Line)
		b.WriteByte('\n')
		if p.Labels != "" {
			b.WriteString("    ^ [" + p.Labels + "]\n")
		}
		for _, n := range p.Notes {
			b.WriteString("    ^ " + oneLine(n) + "\n")
		}
	}
	text := b.String()
	fence := strings.Repeat("`", max(3, longestRun(text, '`')+1))
	fmt.Fprintf(bw, "\n%s\n%s%s\n", fence, text, fence)
}

// oneLine replaces line breaks so an annotation stays one line.
func oneLine(s string) string {
	return strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s)
}

func resetText(rs *classify.Reset) string {
	s := string(rs.By) + ", " + rs.Generator
	if rs.Reason != "" {
		s += ", " + rs.Reason
	}
	if !rs.Accepted {
		s += ", not accepted"
	}
	return s
}

// packetList prints packet numbers as "3, 7, 9".
func packetList(ps []int64) string {
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%d", p)
	}
	return b.String()
}

// plural writes "1 flow", "2 flows".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

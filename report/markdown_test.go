package report

import (
	"bytes"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"testing"

	"github.com/tcpwhy/tcpwhy/classify"
)

func TestMarkdownGolden(t *testing.T) {
	for _, name := range goldenCaptures {
		t.Run(name, func(t *testing.T) {
			a, px := analyse(t, labCapture(name))
			var buf bytes.Buffer
			if err := Markdown(&buf, a, DigestOf(a), px); err != nil {
				t.Fatal(err)
			}
			checkGolden(t, name+".md", buf.Bytes())
		})
	}
}

// TestMarkdownOverflow checks the facts the overflow report must carry,
// independently of the golden file.
func TestMarkdownOverflow(t *testing.T) {
	a, px := analyse(t, labCapture("overflow-abort1"))
	var buf bytes.Buffer
	if err := Markdown(&buf, a, DigestOf(a), px); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	findings := strings.Index(out, "## Findings")
	listeners := strings.Index(out, "## Listeners")
	table := strings.Index(out, "## Failing flows")
	packets := strings.Index(out, "## Decisive packets")
	if findings < 0 || listeners < findings || table < listeners || packets < table {
		t.Fatalf("sections missing or out of order: findings %d, listeners %d, table %d, packets %d", findings, listeners, table, packets)
	}
	// The headline names the overflow at the listener.
	var rst *classify.FlowResult
	for _, r := range a.Flows {
		if r.Verdict == classify.Overflow && r.Reset != nil {
			rst = r
		}
	}
	if rst == nil {
		t.Fatal("the capture has no overflow flow decided by a RST")
	}
	head := fmt.Sprintf("- **overflow**: %d of %d connections to %s hit a full accept queue on the server", a.Listeners[0].Verdicts[classify.Overflow], a.Listeners[0].Connections, rst.Server)
	if i := strings.Index(out, head); i < findings || i > listeners {
		t.Errorf("findings lack the headline %q", head)
	}
	if !strings.Contains(out, fmt.Sprintf("| %d | `%s` | `%s` | **overflow** |", rst.ID, rst.Client, rst.Server)) {
		t.Errorf("failing-flow table lacks flow %d", rst.ID)
	}
	// The decisive RST appears as a tcpdump line followed by its annotation.
	var line string
	for _, p := range px.Flow(rst.ID).Packets {
		if p.Packet == rst.Reset.Packet {
			line = p.Line
		}
	}
	if !strings.Contains(line, "Flags [R]") {
		t.Fatalf("packet %d is not the RST: %q", rst.Reset.Packet, line)
	}
	i := strings.Index(out, line+"\n    ^ overflow: ")
	if i < packets {
		t.Errorf("decisive RST with its annotation not found in a code block after the packets heading")
	}
}

const hostile = "<script>alert(1)</script> <img src=x onerror=alert(2)> [link](javascript:alert(3)) | `code` ```\n# heading & *bold*"

func hostileAnalysis() *classify.Analysis {
	c, s := netip.MustParseAddrPort("10.0.0.1:40000"), netip.MustParseAddrPort("10.0.0.2:80")
	r := &classify.FlowResult{ID: 1, Client: c, Server: s, Verdict: classify.NoListener, Explanation: hostile,
		Notes: []string{hostile}, FirstPacket: 1, LastPacket: 2, Evidence: []int64{2},
		Annotations: []classify.Annotation{{Packet: 2, Text: hostile}}, ZeekState: "REJ", ZeekHistory: "Sr",
		Reset: &classify.Reset{By: classify.SideServer, Generator: "passive", Reason: "NO_SOCKET", Accepted: true, Packet: 2}}
	l := &classify.Listener{Server: s, Connections: 1, Verdicts: map[classify.Verdict]int{classify.NoListener: 1},
		Diagnosis: []classify.Diagnosis{{Kind: "reject-or-no-listener", Explanation: hostile, Checks: []string{hostile}, Evidence: []int64{2}}}}
	return &classify.Analysis{Flows: []*classify.FlowResult{r}, Listeners: []*classify.Listener{l},
		Verdicts: map[classify.Verdict]int{classify.NoListener: 1}}
}

func hostileIndex() *PacketIndex {
	return &PacketIndex{byID: map[int64]*FlowPackets{1: {Total: 2, Packets: []FlowPacket{
		{Packet: 1, FromClient: true, Line: "    1  SYN line"},
		{Packet: 2, Decisive: true, Line: "    2  RST line " + hostile, Notes: []string{hostile}},
	}}}}
}

func TestMarkdownEscapesHostileText(t *testing.T) {
	var buf bytes.Buffer
	if err := Markdown(&buf, hostileAnalysis(), DigestOf(hostileAnalysis()), hostileIndex()); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	// Outside code blocks, no raw HTML tag, link or heading survives.
	var prose []string
	inCode := ""
	for _, line := range strings.Split(out, "\n") {
		if inCode != "" {
			if line == inCode {
				inCode = ""
			}
			continue
		}
		if strings.HasPrefix(line, "```") {
			inCode = line
			continue
		}
		prose = append(prose, line)
	}
	if inCode != "" {
		t.Fatalf("a code block opened with %s is never closed: the hostile ``` broke out of it", inCode)
	}
	text := strings.Join(prose, "\n")
	for _, bad := range []string{"<script", "<img", "\n# heading", " *bold*"} {
		if strings.Contains(text, bad) {
			t.Errorf("hostile markup %q reached the Markdown unescaped", bad)
		}
	}
	if m := regexp.MustCompile(`(^|[^\\])\]\(javascript`).FindString(text); m != "" {
		t.Errorf("hostile link reached the Markdown unescaped: %q", m)
	}
	if !strings.Contains(text, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Errorf("escaped explanation not found")
	}
	// In the code block the annotation is verbatim (code is not rendered)
	// and the fence is longer than any backtick run inside.
	if !strings.Contains(out, "\n````\n") {
		t.Errorf("code fence not lengthened past the ``` inside the annotation")
	}
	// Table rows keep their column count: the hostile | is escaped.
	for _, line := range prose {
		if strings.HasPrefix(line, "| 1 |") && strings.Count(strings.ReplaceAll(line, "\\|", ""), "|") != 9 {
			t.Errorf("failing-flow row has a broken column count: %s", line)
		}
	}
}

package report

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
)

func TestColorEnabled(t *testing.T) {
	tests := []struct {
		mode string
		tty  bool
		env  map[string]string
		want bool
	}{
		{"auto", true, nil, true},
		{"auto", false, nil, false},
		{"", true, map[string]string{"NO_COLOR": "1"}, false},
		{"auto", true, map[string]string{"NO_COLOR": ""}, true},
		{"always", false, map[string]string{"NO_COLOR": "1"}, true},
		{"never", true, nil, false},
		{"auto", false, map[string]string{"CLICOLOR_FORCE": "1"}, true},
		{"auto", false, map[string]string{"CLICOLOR_FORCE": "0"}, false},
		{"auto", true, map[string]string{"CLICOLOR": "0"}, false},
		{"auto", true, map[string]string{"NO_COLOR": "x", "CLICOLOR_FORCE": "1"}, false},
	}
	for _, tt := range tests {
		got, err := ColorEnabled(tt.mode, tt.tty, func(k string) string { return tt.env[k] })
		if err != nil || got != tt.want {
			t.Errorf("ColorEnabled(%q, tty=%v, %v) = %v, %v; want %v", tt.mode, tt.tty, tt.env, got, err, tt.want)
		}
	}
	if _, err := ColorEnabled("sometimes", true, func(string) string { return "" }); err == nil {
		t.Errorf("ColorEnabled accepted an invalid mode")
	}
}

var ansi = regexp.MustCompile("\x1b\\[[0-9;]*m")

// TestColorWriter feeds a real text report through the colour writer in
// small chunks: without the escapes it is byte-identical, packet lines
// carry no escape, and verdicts and annotations are coloured.
func TestColorWriter(t *testing.T) {
	a, _ := analyse(t, labCapture("overflow-abort1"))
	var plain bytes.Buffer
	if err := Summary(&plain, a); err != nil {
		t.Fatal(err)
	}
	text := "12:00:00.000000 IP 10.0.0.1.1 > 10.0.0.2.2: Flags [R], seq 1, win 0, length 0\n" +
		"    ^ [TCP Retransmission]\n    ^ overflow: the queue was full\n" + plain.String() + "no newline at the end"
	var out bytes.Buffer
	cw := NewColorWriter(&out, ColorScheme{Enabled: true})
	for i := 0; i < len(text); i += 7 {
		if _, err := cw.Write([]byte(text[i:min(i+7, len(text))])); err != nil {
			t.Fatal(err)
		}
	}
	if err := cw.Close(); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	if stripped := ansi.ReplaceAllString(got, ""); stripped != text {
		t.Fatalf("colouring changed the text:\n%s\nwant\n%s", stripped, text)
	}
	lines := strings.Split(got, "\n")
	if ansi.MatchString(lines[0]) {
		t.Errorf("packet line coloured: %q", lines[0])
	}
	if !strings.Contains(got, sgrBold+sgrRed+"overflow"+sgrReset) {
		t.Errorf("failing verdict not coloured red:\n%q", got)
	}
	if !strings.Contains(got, sgrGreen+"open"+sgrReset) {
		t.Errorf("clean verdict not coloured green")
	}
	if !strings.HasPrefix(lines[1], sgrCyan) {
		t.Errorf("analysis label line not cyan: %q", lines[1])
	}
	// Disabled, it passes the bytes through.
	out.Reset()
	cw = NewColorWriter(&out, ColorScheme{})
	cw.Write([]byte(text))
	cw.Close()
	if out.String() != text {
		t.Errorf("disabled colour writer changed the text")
	}
}

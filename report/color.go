package report

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/tcpwhy/tcpwhy/classify"
)

// ColorEnabled decides whether the text report is coloured. mode is the
// --color flag: "always" and "never" win; "auto" (or "") colours when
// stdout is a terminal, unless NO_COLOR is set and non-empty or
// CLICOLOR=0, and CLICOLOR_FORCE (non-empty, not "0") forces colour on a
// pipe. getenv is os.Getenv in the CLI.
func ColorEnabled(mode string, stdoutTTY bool, getenv func(string) string) (bool, error) {
	switch mode {
	case "always":
		return true, nil
	case "never":
		return false, nil
	case "auto", "":
	default:
		return false, fmt.Errorf("invalid --color %q (want auto, always or never)", mode)
	}
	if getenv("NO_COLOR") != "" {
		return false, nil
	}
	if f := getenv("CLICOLOR_FORCE"); f != "" && f != "0" {
		return true, nil
	}
	if getenv("CLICOLOR") == "0" {
		return false, nil
	}
	return stdoutTTY, nil
}

// ANSI SGR sequences.
const (
	sgrReset  = "\x1b[0m"
	sgrBold   = "\x1b[1m"
	sgrDim    = "\x1b[2m"
	sgrRed    = "\x1b[31m"
	sgrGreen  = "\x1b[32m"
	sgrYellow = "\x1b[33m"
	sgrCyan   = "\x1b[36m"
)

// ColorScheme colours strings when Enabled and returns them unchanged
// otherwise.
type ColorScheme struct {
	// Enabled turns the ANSI escapes on.
	Enabled bool
}

func (c ColorScheme) wrap(sgr, s string) string {
	if !c.Enabled || s == "" {
		return s
	}
	return sgr + s + sgrReset
}

// Bold makes s bold.
func (c ColorScheme) Bold(s string) string { return c.wrap(sgrBold, s) }

// Dim makes s faint.
func (c ColorScheme) Dim(s string) string { return c.wrap(sgrDim, s) }

// Red colours s red.
func (c ColorScheme) Red(s string) string { return c.wrap(sgrRed, s) }

// Green colours s green.
func (c ColorScheme) Green(s string) string { return c.wrap(sgrGreen, s) }

// Yellow colours s yellow.
func (c ColorScheme) Yellow(s string) string { return c.wrap(sgrYellow, s) }

// Cyan colours s cyan.
func (c ColorScheme) Cyan(s string) string { return c.wrap(sgrCyan, s) }

// Verdict colours a verdict name: bold red when failing, green for clean
// outcomes, plain for midstream.
func (c ColorScheme) Verdict(v classify.Verdict) string {
	switch {
	case v.Failing():
		return c.wrap(sgrBold+sgrRed, string(v))
	case v == classify.Midstream:
		return string(v)
	}
	return c.wrap(sgrGreen, string(v))
}

var verdictSet = func() map[string]classify.Verdict {
	m := map[string]classify.Verdict{}
	for _, v := range classify.Verdicts {
		m[string(v)] = v
	}
	return m
}()

// ColorWriter colours the text report (PacketPrinter and Summary output)
// line by line on its way to the terminal: annotation lines, verdict
// names, section headings and errors. Packet lines pass unchanged, so
// they stay byte-identical to tcpdump's. Call Close to flush a last
// unterminated line. It is not safe for concurrent use.
type ColorWriter struct {
	w    io.Writer
	cs   ColorScheme
	line []byte
	out  []byte
}

// NewColorWriter returns a writer that colours the text report with cs
// and writes it to w. With cs disabled it passes bytes through.
func NewColorWriter(w io.Writer, cs ColorScheme) *ColorWriter {
	return &ColorWriter{w: w, cs: cs}
}

// Write colours every complete line of p and buffers the rest.
func (c *ColorWriter) Write(p []byte) (int, error) {
	if !c.cs.Enabled {
		return c.w.Write(p)
	}
	c.out = c.out[:0]
	rest := p
	for len(rest) > 0 {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			c.line = append(c.line, rest...)
			break
		}
		c.line = append(c.line, rest[:i]...)
		c.out = append(c.out, c.colourLine(string(c.line))...)
		c.out = append(c.out, '\n')
		c.line = c.line[:0]
		rest = rest[i+1:]
	}
	if len(c.out) > 0 {
		if _, err := c.w.Write(c.out); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// Close writes a buffered unterminated line.
func (c *ColorWriter) Close() error {
	if len(c.line) == 0 {
		return nil
	}
	_, err := io.WriteString(c.w, c.colourLine(string(c.line)))
	c.line = c.line[:0]
	return err
}

// colourLine colours one line of the text report.
func (c *ColorWriter) colourLine(l string) string {
	cs := c.cs
	switch {
	case strings.HasPrefix(l, "    ^ ["):
		return cs.Cyan(l)
	case strings.HasPrefix(l, "    ^ "):
		text := l[len("    ^ "):]
		if name, rest, ok := strings.Cut(text, ":"); ok {
			if v, ok := verdictSet[name]; ok {
				return cs.Dim("    ^ ") + cs.Verdict(v) + cs.Yellow(":"+rest)
			}
		}
		return cs.Dim("    ^ ") + cs.Yellow(text)
	case strings.HasPrefix(l, "== "):
		return cs.Bold(l)
	case strings.HasPrefix(l, "error: "):
		return cs.Red(l)
	case l == "flows by verdict:" || l == "failing flows:" || l == "listeners:" || strings.HasPrefix(l, "predicted nstat deltas"):
		return cs.Bold(l)
	case strings.HasPrefix(l, "  ") && !strings.HasPrefix(l, "    "):
		// "  <verdict> N" and "  client > server  <verdict>: ...".
		body := l[2:]
		name, tail, _ := strings.Cut(body, " ")
		if v, ok := verdictSet[name]; ok {
			return "  " + cs.Verdict(v) + " " + tail
		}
		if i := strings.Index(body, "  "); i >= 0 {
			if name, tail, ok := strings.Cut(body[i+2:], ":"); ok {
				if v, ok := verdictSet[name]; ok {
					return "  " + body[:i+2] + cs.Verdict(v) + ":" + tail
				}
			}
		}
	case strings.HasPrefix(l, "    overflow: ") || strings.HasPrefix(l, "    syn-drops: ") || strings.HasPrefix(l, "    reject-or-no-listener: "):
		name, tail, _ := strings.Cut(l[4:], ":")
		return "    " + cs.Red(name) + ":" + tail
	}
	return l
}

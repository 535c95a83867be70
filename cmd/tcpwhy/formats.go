package main

import (
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/tcpwhy/tcpwhy/capture"
	"github.com/tcpwhy/tcpwhy/classify"
	"github.com/tcpwhy/tcpwhy/report"
)

// reportFormats are the --format values renderFormat handles (issue 6).
var reportFormats = []string{"markdown", "html", "zeek", "zeek-json"}

// isReportFormat reports whether renderFormat handles format.
func isReportFormat(format string) bool { return slices.Contains(reportFormats, format) }

// renderFormat writes the analysis in one of the formats of issue 6 (markdown, html, zeek, zeek-json).
// d digests the flows for markdown and html (nil: digest a.Flows).
// reopen re-reads the capture (a fresh capture.Source) for formats that need packet lines.
func renderFormat(format string, a *classify.Analysis, d *report.Digest, reopen func() (capture.Source, error), w io.Writer) error {
	if !isReportFormat(format) {
		return usageError{fmt.Errorf("unknown --format %q", format)}
	}
	src, err := reopen()
	if err != nil {
		return err
	}
	// Zeek logs need only the per-flow IP byte counts of every flow; the
	// reports the packets of the flows they show.
	opts := report.CollectOptions{}
	flows := a.Flows
	if format == "zeek" || format == "zeek-json" {
		opts.CountsOnly = true
	} else {
		if d == nil {
			d = report.DigestOf(a)
		}
		flows = d.Kept()
	}
	px, err := report.CollectPackets(src, a.Capture.Packets, flows, opts)
	src.Close()
	// A broken input is already in a.Err (reported by the caller); the
	// second pass meets the same error.
	if err != nil && a.Err == nil {
		return err
	}
	switch format {
	case "markdown":
		return report.Markdown(w, a, d, px)
	case "html":
		return report.HTML(w, a, d, px)
	case "zeek":
		return report.ZeekTSV(w, a, px)
	default:
		return report.ZeekJSON(w, a, px)
	}
}

// writeAnnotatedPcapng writes the packets of a fresh pass with the annotations as pcapng packet comments.
func writeAnnotatedPcapng(path string, a *classify.Analysis, reopen func() (capture.Source, error)) (err error) {
	src, err := reopen()
	if err != nil {
		return err
	}
	defer src.Close()
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("write %s: %w", path, cerr)
		}
	}()
	if err := report.AnnotatedPcapng(f, src, a); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

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

// reportFormats are the --format values of issue 6; renderReport
// handles markdown and html, the Zeek logs stream (report.ZeekStream).
var reportFormats = []string{"markdown", "html", "zeek", "zeek-json"}

// isReportFormat reports whether format is one of reportFormats.
func isReportFormat(format string) bool { return slices.Contains(reportFormats, format) }

// renderReport writes the markdown or html report of the analysis a, whose
// flows d digests and whose sequence labels are labels. reopen re-reads
// the capture (a fresh capture.Source) for the packets of the flows the
// report shows.
func renderReport(format string, a *classify.Analysis, d *report.Digest, labels *report.SeqLabels, reopen func() (capture.Source, error), w io.Writer) error {
	if format != "markdown" && format != "html" {
		return usageError{fmt.Errorf("no report in --format %q", format)}
	}
	src, err := reopen()
	if err != nil {
		return err
	}
	px, err := report.CollectPackets(src, a.Capture.Packets, d.Kept(), report.CollectOptions{Labels: labels})
	src.Close()
	// A broken input is already in a.Err (reported by the caller); the
	// second pass meets the same error.
	if err != nil && a.Err == nil {
		return err
	}
	if format == "markdown" {
		return report.Markdown(w, a, d, px)
	}
	return report.HTML(w, a, d, px)
}

// writeAnnotatedPcapng writes the packets of a fresh pass (at most packets of them) with the comments as pcapng packet comments.
func writeAnnotatedPcapng(path string, packets int64, comments *report.PcapngComments, reopen func() (capture.Source, error)) (err error) {
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
	if err := report.AnnotatedPcapng(f, src, packets, comments); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

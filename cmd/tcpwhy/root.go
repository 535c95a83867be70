package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/metrics"
	"runtime/pprof"
	"runtime/trace"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tcpwhy/tcpwhy/capture"
	"github.com/tcpwhy/tcpwhy/classify"
	"github.com/tcpwhy/tcpwhy/flows"
	"github.com/tcpwhy/tcpwhy/report"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// usageError marks an error that is the user's (exit 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// options are the command line, parsed.
type options struct {
	files         []string
	filter        string
	resolve       int
	number        bool
	timestamps    int
	absolute      bool
	verbose       int
	noChecksums   bool
	count         int64
	quiet         bool
	noAnnotations bool
	format        string
	jsonShort     bool
	maxFlows      int
	nano          bool
	color         string
	write         string
	nstat         nstatOptions
	cpuProfile    string
	memProfile    string
	traceFile     string
}

const helpText = `tcpwhy reads TCP captures and says, connection by connection and listener by
listener, what happened and why: handshakes, SYN retransmits, FIN closes, and
the cause of every RST (no listener, accept-queue overflow, abort, early close,
data after close, timeouts), named with the kernel's own reasons.

By default it prints every TCP packet exactly as 'tcpdump -n' does, with an
indented '    ^ ' annotation line under each packet that carries a verdict or
an event, then a summary: flows by verdict, the failing flows, listeners with
a diagnosis, and the nstat counter deltas each host should show.

Exit codes:
  0  success (also when failing connections were found)
  1  runtime error: unreadable or broken capture (the report of everything
     read before the error is still printed), write error
  2  usage error: bad flag, bad filter expression`

func newRootCmd(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	o := &options{}
	lo := &liveOptions{}
	cmd := &cobra.Command{
		Use:           "tcpwhy {-r FILE [-r FILE ...] | -i IFACE} [flags] [filter expression]",
		Short:         "Explain what happened to every TCP connection in a capture",
		Long:          helpText,
		Args:          cobra.ArbitraryArgs,
		SilenceErrors: true,
		SilenceUsage:  true,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.filter = strings.Join(args, " ")
			if o.jsonShort {
				o.format = "json"
			}
			stop, err := startProfiles(o)
			if err != nil {
				return err
			}
			defer stop()
			if lo.iface != "" || lo.list {
				return runLive(o, lo, stdout, stderr)
			}
			return run(o, stdin, stdout, stderr)
		},
	}
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	f := cmd.Flags()
	f.StringArrayVarP(&o.files, "read", "r", nil, "read packets from `FILE` (pcap, pcapng, gzip; - for stdin); repeat to merge files by time")
	f.CountVarP(&o.resolve, "numeric", "n", "don't resolve names (always on; accepted for tcpdump habits: -n, -nn)")
	f.BoolVarP(&o.number, "number", "#", false, "print a packet number at the start of each line")
	f.CountVarP(&o.timestamps, "timestamp", "t", "-t no time, -tt epoch, -ttt delta, -tttt date, -ttttt since first")
	f.BoolVarP(&o.absolute, "absolute-tcp-sequence-numbers", "S", false, "print absolute sequence numbers")
	f.CountVarP(&o.verbose, "verbose", "v", "print IP header details and checksums, like tcpdump -v")
	f.BoolVarP(&o.noChecksums, "dont-verify-checksums", "K", false, "don't verify the TCP checksums (tcpdump -K, zeek -C): no notes on wrong ones, which checksum offload makes common in captures taken on a sending host; reads the headers only (faster)")
	f.Int64VarP(&o.count, "count", "c", 0, "stop after `N` packets")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "print the summary only")
	f.BoolVar(&o.noAnnotations, "no-annotations", false, "print only the packet lines, as tcpdump -n does")
	f.StringVar(&o.format, "format", "text", "output `format`: text, json (NDJSON), markdown, html, zeek or zeek-json")
	f.BoolVar(&o.jsonShort, "json", false, "short for --format json")
	f.IntVar(&o.maxFlows, "max-flows", 1_000_000, "track at most `N` flows at once; the least recently active are decided early")
	f.BoolVar(&o.nano, "nano", false, "print nanosecond timestamps (--time-stamp-precision=nano)")
	f.StringVar(&o.color, "color", "auto", "colour the text report: `auto`, always or never (NO_COLOR is respected)")
	f.StringVarP(&o.write, "write", "w", "", "also write the packets with tcpwhy's annotations as packet comments to `FILE.pcapng`")
	addNstatFlags(f, &o.nstat)
	addLiveFlags(f, lo)
	f.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile to `FILE` (go tool pprof)")
	f.StringVar(&o.memProfile, "memprofile", "", "write a heap profile to `FILE`, taken when the live heap peaked")
	f.StringVar(&o.traceFile, "trace", "", "write an execution trace to `FILE` (go tool trace): how the reading, flow and classifying goroutines share the cores")
	return cmd
}

// Main runs the command line and returns the exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := newRootCmd(stdin, stdout, stderr)
	cmd.SetArgs(args)
	err := cmd.Execute()
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "tcpwhy: %v\n", err)
	var ue usageError
	if errors.As(err, &ue) || strings.HasPrefix(err.Error(), "unknown command") {
		fmt.Fprintln(stderr, "Run 'tcpwhy --help' for usage.")
		return exitUsage
	}
	return exitError
}

// readOnce reports whether the input name ("-": standard input) can be
// read only once: standard input, a named pipe, a device or a socket. A
// name that cannot be examined is left to Open to report.
func readOnce(name string) bool {
	if name == "-" {
		return true
	}
	st, err := os.Stat(name)
	return err == nil && st.Mode()&(os.ModeNamedPipe|os.ModeDevice|os.ModeCharDevice|os.ModeSocket) != 0
}

// spool copies the input name (stdin for "-") to a temporary file.
func spool(name string, stdin io.Reader) (path string, cleanup func(), err error) {
	r, what := stdin, "standard input"
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return "", nil, err
		}
		defer f.Close()
		r, what = f, name
	}
	if r == nil {
		r = os.Stdin
	}
	path, cleanup, err = capture.Spool(r)
	if err != nil {
		return "", nil, fmt.Errorf("read %s: %w", what, err)
	}
	return path, cleanup, nil
}

// run wires the pipeline: capture → flows → classify → report.
func run(o *options, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(o.files) == 0 {
		return usageError{errors.New("no input: give a capture with -r FILE or an interface with -i IFACE")}
	}
	if o.format != "text" && o.format != "json" && !isReportFormat(o.format) {
		return usageError{fmt.Errorf("unknown --format %q (want text, json, markdown, html, zeek or zeek-json)", o.format)}
	}
	if err := checkFilter(o.filter); err != nil {
		return err
	}
	// Standard input, pipes (a shell's <(...)) and devices can be read
	// only once, and the text reads its input twice: they are copied to
	// temporary files, opened under their own names.
	files := append([]string(nil), o.files...)
	for i, name := range files {
		if !readOnce(name) {
			continue
		}
		path, cleanup, err := spool(name, stdin)
		if err != nil {
			return err
		}
		defer cleanup()
		files[i] = path
	}
	// open opens the inputs; a pass that only prints the packets
	// (printOnly) leaves their checksums unverified and their payload out
	// unless -v prints them.
	open := func(printOnly bool) (capture.Source, error) {
		lines := printOnly && o.verbose == 0
		src, err := capture.Open(files, capture.OpenOptions{Filter: o.filter, Names: o.files, NoChecksums: lines || o.noChecksums, NoPayload: lines})
		if err != nil {
			return nil, err
		}
		return src, nil
	}
	// reopen is open for the reports' second passes, which print packets;
	// reopenFrames for -w's, which writes them whole.
	reopen := func() (capture.Source, error) { return open(true) }
	reopenFrames := func() (capture.Source, error) {
		return capture.Open(files, capture.OpenOptions{Filter: o.filter, Names: o.files, NoChecksums: true})
	}
	nin, err := loadNstat(&o.nstat)
	if err != nil {
		return err
	}
	aopts := classify.Options{Count: o.count, MaxFlows: o.maxFlows}
	tdo := tcpdumpOptions(o)

	color, err := report.ColorEnabled(o.color, isTerminal(stdout), os.Getenv)
	if err != nil {
		return usageError{err}
	}
	// --no-annotations without -w only prints the packets (see below).
	src, err := open(o.format == "text" && !o.quiet && o.noAnnotations && o.write == "")
	if err != nil {
		return err
	}
	if progressWanted(o.files, o.format, stdout, stderr) {
		src = newProgressSource(src, inputSize(files), stderr)
	}
	if color && o.format == "text" {
		cw := report.NewColorWriter(stdout, report.ColorScheme{Enabled: true})
		defer cw.Close()
		stdout = cw
	}
	// Every output keeps no flow once it is decided (classify.Options
	// Bounded): memory tracks the flows open at once, not the capture's
	// size. -w keeps only the packet comments of each flow.
	var comments *report.PcapngComments
	if o.write != "" {
		comments = report.NewPcapngComments()
	}
	// onFlow hands each decided flow to the output's consumer and to -w.
	onFlow := func(consume func(*classify.FlowResult)) func(*classify.FlowResult) {
		switch {
		case comments == nil:
			return consume
		case consume == nil:
			return comments.Flow
		}
		return func(r *classify.FlowResult) { consume(r); comments.Flow(r) }
	}
	aopts.Bounded, aopts.ReuseResults = true, true
	// The JSON records, Zeek's rows and the summary print no packets: the
	// annotations are wanted only for -w's comments.
	aopts.NoAnnotations = comments == nil && (o.format == "json" || o.format == "zeek" || o.format == "zeek-json" ||
		(o.quiet && !isReportFormat(o.format)))
	var a *classify.Analysis
	switch {
	case o.format == "json":
		// Flow records are written as flows are decided (behind the
		// capture record, in a spool).
		js := report.NewJSONStream(stdout)
		aopts.OnFlow = onFlow(js.Flow)
		a = classify.Analyze(src, aopts)
		src.Close()
		if err := js.Close(a, reconcile(a, nin)...); err != nil {
			return err
		}
	case o.format == "zeek" || o.format == "zeek-json":
		// Rows are written as flows are decided, with IP byte counts
		// taken from the same pass.
		zs := report.NewZeekStream(stdout, o.format == "zeek-json")
		aopts.OnFlow, aopts.OnSegment = onFlow(zs.Flow), zs.Segment
		a = classify.Analyze(src, aopts)
		src.Close()
		if err := zs.Close(a); err != nil {
			return err
		}
	case isReportFormat(o.format):
		// The reports keep a digest of the flows (counts, the first
		// failing flows and an example of each verdict) and the
		// sequence labels, for a second pass without a flow table.
		d, labels := report.NewDigest(), report.NewSeqLabels()
		aopts.OnFlow, aopts.OnSeq = onFlow(d.Flow), labels.Add
		a = classify.Analyze(src, aopts)
		src.Close()
		if err := renderReport(o.format, a, d, labels, reopen, stdout); err != nil {
			return err
		}
	case o.quiet:
		ss := report.NewSummaryStream(stdout)
		aopts.OnFlow = onFlow(ss.Flow)
		if comments == nil {
			// The held flows the summary only counts are not read back.
			aopts.WantHeld = ss.WantHeld
		}
		a = classify.Analyze(src, aopts)
		src.Close()
		if err := ss.Close(a, reconcile(a, nin)...); err != nil {
			return err
		}
	case o.noAnnotations:
		pp := report.NewPacketPrinter(stdout, nil, tdo, false)
		pp.StartWriter()
		aopts.OnSegment = func(seg *capture.Segment, u flows.Update) { pp.Segment(seg, u) }
		// Without -w no flow is needed: no flow table either.
		aopts.SegmentsOnly = comments == nil
		aopts.OnFlow = onFlow(nil)
		a = classify.Analyze(src, aopts)
		src.Close()
		if err := pp.Close(); err != nil {
			return err
		}
	default:
		// Two passes: the first decides every flow and keeps only the
		// annotations and the summary's lines, the second prints each
		// packet with the verdicts that concern it.
		pp := report.NewPacketPrinter(stdout, nil, tdo, true)
		ss := report.NewSummaryStream(stdout)
		aopts.OnSeq = pp.AddSeq
		aopts.OnFlow = onFlow(func(r *classify.FlowResult) { pp.AddFlow(r); ss.Flow(r) })
		first := classify.Analyze(src, aopts)
		src.Close()
		src2, err := open(true)
		if err != nil {
			return err
		}
		second := aopts
		second.Bounded, second.OnFlow, second.OnSeq, second.SegmentsOnly = false, nil, nil, true
		second.OnSegment = func(seg *capture.Segment, u flows.Update) { pp.Segment(seg, u) }
		pp.StartWriter()
		classify.Analyze(src2, second)
		src2.Close()
		if err := pp.Close(); err != nil {
			return err
		}
		a = first
		if err := ss.Close(a, reconcile(a, nin)...); err != nil {
			return err
		}
	}
	if comments != nil {
		if err := writeAnnotatedPcapng(o.write, a.Capture.Packets, comments, reopenFrames); err != nil {
			return err
		}
	}
	if a.Err != nil {
		return a.Err
	}
	return nil
}

// startProfiles starts the CPU profile and the execution trace and
// returns a function that stops them and writes the heap profile.
func startProfiles(o *options) (func(), error) {
	var stops []func()
	stopAll := func() {
		for _, stop := range stops {
			stop()
		}
	}
	for _, p := range []struct {
		path, what string
		start      func(io.Writer) error
		stop       func()
	}{
		{o.cpuProfile, "cpu profile", pprof.StartCPUProfile, pprof.StopCPUProfile},
		{o.traceFile, "trace", trace.Start, trace.Stop},
	} {
		if p.path == "" {
			continue
		}
		f, err := os.Create(p.path)
		if err == nil {
			if err = p.start(f); err != nil {
				f.Close()
			}
		}
		if err != nil {
			stopAll()
			return nil, fmt.Errorf("%s: %w", p.what, err)
		}
		stops = append(stops, func() {
			p.stop()
			f.Close()
		})
	}
	var heap *peakHeap
	if o.memProfile != "" {
		heap = watchPeakHeap()
	}
	return func() {
		stopAll()
		if heap != nil {
			_ = os.WriteFile(o.memProfile, heap.stop(), 0o644)
		}
	}, nil
}

// peakHeap keeps the heap profile taken when the live heap was largest:
// at exit an analysis has freed what it held, so a profile then would
// show nothing of where the memory went.
type peakHeap struct {
	done chan struct{}
	out  chan []byte
}

// watchPeakHeap samples the live heap (after each GC) every 50 ms and
// profiles it whenever it reaches a new peak.
func watchPeakHeap() *peakHeap {
	p := &peakHeap{done: make(chan struct{}), out: make(chan []byte)}
	go func() {
		var best []byte
		var peak uint64
		sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-p.done:
				if best == nil {
					var b bytes.Buffer
					_ = pprof.WriteHeapProfile(&b)
					best = b.Bytes()
				}
				p.out <- best
				return
			case <-tick.C:
			}
			metrics.Read(sample)
			if v := sample[0].Value.Uint64(); v > peak+peak/20 {
				peak = v
				var b bytes.Buffer
				if pprof.WriteHeapProfile(&b) == nil {
					best = b.Bytes()
				}
			}
		}
	}()
	return p
}

// stop ends the watch and returns the profile at the peak.
func (p *peakHeap) stop() []byte {
	close(p.done)
	return <-p.out
}

// checkFilter compiles a filter expression once, so that a bad one is a
// usage error (exit 2) before anything is read.
func checkFilter(expr string) error {
	if expr == "" {
		return nil
	}
	if err := capture.CompileFilter(expr); err != nil {
		var fe *capture.FilterError
		if errors.As(err, &fe) {
			return usageError{err}
		}
		return err
	}
	return nil
}

// tcpdumpOptions are the tcpdump flags o asks the packet lines for.
func tcpdumpOptions(o *options) report.TcpdumpOptions {
	return report.TcpdumpOptions{Absolute: o.absolute, Timestamps: o.timestamps, Number: o.number, Verbose: o.verbose,
		NoChecksums: o.noChecksums, Nano: o.nano, MaxConnections: o.maxFlows}
}

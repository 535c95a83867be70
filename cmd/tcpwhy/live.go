package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/tcpwhy/tcpwhy/capture"
	"github.com/tcpwhy/tcpwhy/classify"
	"github.com/tcpwhy/tcpwhy/flows"
	"github.com/tcpwhy/tcpwhy/report"
)

// Live capture: `tcpwhy -i IFACE [filter]`. Packets are analysed as they
// arrive; each flow's verdict is printed as soon as the flow is decided
// (closed or reset and then quiet for the closed idle timeout, idle past
// its state's timeout, or evicted), and a summary when the capture ends
// (-c, --duration, SIGINT or SIGTERM).

// maxWindow bounds the decided flows kept for the listener and host
// views: when that many were decided since the last summary, a summary
// of them is printed (as --interval does) and they are dropped. The
// memory of a live run is bounded by it (a classified flow takes about
// 3 KB) and by --max-flows.
const maxWindow = 20_000

// exitInterrupted is the exit code after a second SIGINT.
const exitInterrupted = 130

// liveOptions are the live-capture flags.
type liveOptions struct {
	iface     string
	snaplen   int
	bufferKiB int
	list      bool
	duration  time.Duration
	interval  time.Duration
	idle      idleTimeouts
	promisc   bool
}

// idleTimeouts is the --idle-timeout value: how long a flow may stay
// silent, by state, before it is decided.
type idleTimeouts struct {
	handshake, established, closed time.Duration
}

// defaultIdle are the live defaults: a SYN_SENT client gives up within
// about two minutes, established connections may idle for hours, and a
// closed or reset flow is reported a few seconds after its last packet
// (late packets after that start a new flow).
var defaultIdle = idleTimeouts{handshake: 3 * time.Minute, established: 2 * time.Hour, closed: 5 * time.Second}

// String implements pflag.Value.
func (t *idleTimeouts) String() string {
	return fmt.Sprintf("handshake=%s,established=%s,closed=%s", t.handshake, t.established, t.closed)
}

// Type implements pflag.Value.
func (t *idleTimeouts) Type() string { return "timeouts" }

// Set implements pflag.Value: a bare duration sets the established
// timeout; `state=duration` pairs, comma-separated, set any of handshake,
// established and closed.
func (t *idleTimeouts) Set(v string) error {
	for _, part := range strings.Split(v, ",") {
		k, d, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			k, d = "established", k
		}
		dur, err := time.ParseDuration(d)
		if err != nil || dur <= 0 {
			return fmt.Errorf("bad duration %q (want e.g. 30s, 10m, 2h)", d)
		}
		switch k {
		case "handshake", "syn":
			t.handshake = dur
		case "established":
			t.established = dur
		case "closed":
			t.closed = dur
		default:
			return fmt.Errorf("unknown state %q (want handshake, established or closed)", k)
		}
	}
	return nil
}

// addLiveFlags registers the live-capture flags.
func addLiveFlags(fs *pflag.FlagSet, o *liveOptions) {
	o.idle = defaultIdle
	fs.StringVarP(&o.iface, "interface", "i", "", "capture live on `IFACE` (any: all interfaces); needs root or CAP_NET_RAW")
	fs.IntVarP(&o.snaplen, "snapshot-length", "s", capture.DefaultSnaplen, "capture at most `N` bytes of each packet: the headers are enough for the analysis; 0 takes whole packets")
	fs.IntVarP(&o.bufferKiB, "buffer-size", "B", 4096, "kernel capture buffer in `KiB`; raise it when the kernel drops packets")
	fs.BoolVarP(&o.list, "list-interfaces", "D", false, "list the interfaces -i can capture on")
	fs.DurationVar(&o.duration, "duration", 0, "stop a live capture after `D` (e.g. 30s, 5m)")
	fs.DurationVar(&o.interval, "interval", 0, "every `D`, print the summary (listeners, hosts) of the flows decided since the last one")
	fs.Var(&o.idle, "idle-timeout", "decide flows silent this long: a `DURATION` for established flows, or state=D pairs for handshake, established, closed")
	fs.BoolVar(&o.promisc, "promisc", false, "put the interface in promiscuous mode")
}

// runLive captures on an interface (or lists the interfaces for -D).
func runLive(o *options, lo *liveOptions, stdout, stderr io.Writer) error {
	if lo.list {
		return listInterfaces(stdout)
	}
	switch {
	case len(o.files) > 0:
		return usageError{errors.New("-r and -i are exclusive: read a capture or capture live")}
	case o.format != "text" && o.format != "json":
		return usageError{fmt.Errorf("--format %q needs a capture file: live capture prints text or json", o.format)}
	case lo.snaplen < 0 || lo.bufferKiB < 0:
		return usageError{errors.New("-s and -B must not be negative")}
	case lo.snaplen > 0 && lo.snaplen < 68:
		return usageError{fmt.Errorf("-s %d is too short for the IP and TCP headers (at least 68; default %d)", lo.snaplen, capture.DefaultSnaplen)}
	}
	if lo.snaplen == 0 {
		lo.snaplen = capture.MaxSnaplen // -s 0, as tcpdump
	}
	if err := checkFilter(o.filter); err != nil {
		return err
	}
	lopts := capture.LiveOptions{Snaplen: lo.snaplen, Filter: o.filter, BufferSize: lo.bufferKiB << 10, Promisc: lo.promisc, NoChecksums: o.noChecksums}
	var saveFile *os.File
	if o.write != "" {
		// -w: live, the raw packets are saved as they are captured (the
		// annotations are known only later).
		f, err := os.Create(o.write)
		if err != nil {
			return fmt.Errorf("write capture file: %w", err)
		}
		saveFile = f
		lopts.Save = f
	}
	src, err := capture.OpenLive(lo.iface, lopts)
	if err != nil {
		if saveFile != nil {
			saveFile.Close()
			os.Remove(o.write)
		}
		var fe *capture.FilterError
		if errors.As(err, &fe) {
			return usageError{err}
		}
		return err
	}
	info := src.Info().Inputs[0]
	fmt.Fprintf(stderr, "tcpwhy: listening on %s, link-type %s, snapshot length %d bytes\n",
		info.Name, strings.Join(info.LinkTypes, ","), info.Snaplen)

	// The first SIGINT or SIGTERM stops the capture: every open flow is
	// decided and the summary printed. A second one exits at once.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	defer func() {
		signal.Stop(sigs)
		close(done)
	}()
	go func() {
		select {
		case <-sigs:
		case <-done:
			return
		}
		src.Stop()
		select {
		case <-sigs:
			fmt.Fprintln(stderr, "tcpwhy: interrupted")
			os.Exit(exitInterrupted)
		case <-done:
		}
	}()
	if lo.duration > 0 {
		t := time.AfterFunc(lo.duration, src.Stop)
		defer t.Stop()
	}
	var save io.Closer
	if saveFile != nil {
		save = saveFile
	}
	return streamLive(o, lo, src, save, stdout, stderr)
}

// streamLive analyses a live source until it ends, streaming the verdicts,
// and prints the final summary. save, when set, is the file the source
// saves packets to, closed once the source is.
func streamLive(o *options, lo *liveOptions, src capture.Live, save io.Closer, stdout, stderr io.Writer) error {
	lv := &liveRun{o: o, lo: lo, src: src, stdout: stdout, lastReport: time.Now()}
	aopts := classify.Options{Count: o.count, MaxFlows: o.maxFlows, Stream: true,
		IdleHandshake: lo.idle.handshake, IdleEstablished: lo.idle.established, IdleClosed: lo.idle.closed,
		OnFlow: lv.flow, OnTick: lv.tick}
	if o.format == "text" && !o.quiet {
		tdo := tcpdumpOptions(o)
		lv.pp = report.NewPacketPrinter(stdout, nil, tdo, !o.noAnnotations)
		aopts.OnSegment = lv.segment
	}
	a := classify.Analyze(src, aopts)
	src.Close()
	if save != nil {
		if err := save.Close(); err != nil && a.Err == nil {
			a.Err = fmt.Errorf("write capture file: %w", err)
		}
	}
	lv.flush()

	final := classify.Summarize(lv.window)
	final.Capture, final.Evicted, final.PeakFlows, final.StrayICMP, final.Err = a.Capture, a.Evicted, a.PeakFlows, a.StrayICMP, a.Err
	lv.observeDrops()
	lv.suspect += lv.countSuspect()
	switch {
	case lv.err != nil:
	case o.format == "json":
		lv.setErr(report.JSON(stdout, final, true))
	case !o.noAnnotations:
		lv.setErr(report.Summary(stdout, final))
	}
	st := src.Stats()
	note := ""
	if st.KernelDropped+st.IfDropped > 0 {
		note = fmt.Sprintf("the kernel dropped %d packets (the interface %d more); verdicts of %d flows may be incomplete (raise -B, narrow the filter)",
			st.KernelDropped, st.IfDropped, lv.suspect)
		if o.format == "text" && !o.noAnnotations && lv.err == nil {
			_, err := fmt.Fprintf(stdout, "note: %s\n", note)
			lv.setErr(err)
		}
	}
	fmt.Fprintf(stderr, "%d packets captured\n%d packets received by filter\n%d packets dropped by kernel\n",
		a.Capture.Packets, st.Received, st.KernelDropped)
	if st.IfDropped > 0 {
		fmt.Fprintf(stderr, "%d packets dropped by interface\n", st.IfDropped)
	}
	if note != "" && o.format == "json" {
		fmt.Fprintf(stderr, "tcpwhy: %s\n", note)
	}
	if lv.err != nil {
		return lv.err
	}
	return a.Err
}

// liveRun is the state of one live capture's output.
type liveRun struct {
	o      *options
	lo     *liveOptions
	src    capture.Live
	stdout io.Writer
	pp     *report.PacketPrinter
	err    error // first output error; the capture stops on it

	window     []*classify.FlowResult // decided since the last summary
	lastReport time.Time              // wall clock of the last summary

	drops   int64          // drops seen so far
	statsAt time.Time      // when the counters were read last
	periods [][2]time.Time // capture times between which drops happened
	suspect int            // flows of past windows that overlap a drop period
}

// maxDropPeriods bounds the drop periods remembered; later ones merge
// into the last.
const maxDropPeriods = 1024

func (lv *liveRun) setErr(err error) {
	if err != nil && lv.err == nil {
		lv.err = fmt.Errorf("write output: %w", err)
		lv.src.Stop()
	}
}

// segment prints one packet (text mode).
func (lv *liveRun) segment(seg *capture.Segment, u flows.Update) {
	if lv.err == nil {
		lv.pp.Segment(seg, u)
	}
}

// flush writes out the buffered packet lines.
func (lv *liveRun) flush() {
	if lv.pp != nil {
		// Close only flushes the printer's buffer; it stays usable.
		lv.setErr(lv.pp.Close())
	}
}

// flow prints a decided flow at once and keeps it for the summary.
func (lv *liveRun) flow(r *classify.FlowResult) {
	if lv.err == nil {
		if lv.o.format == "json" {
			lv.setErr(report.JSONFlow(lv.stdout, r))
		} else if !lv.o.noAnnotations {
			lv.flush()
			_, err := fmt.Fprintf(lv.stdout, "==> flow %d %s > %s %s: %s [packets %d-%d]\n",
				r.ID, r.Client, r.Server, r.Verdict, r.Explanation, r.FirstPacket, r.LastPacket)
			lv.setErr(err)
		}
	}
	lv.window = append(lv.window, r)
	if len(lv.window) >= maxWindow {
		lv.summary()
	}
}

// tick flushes the output and prints the periodic summary when due.
func (lv *liveRun) tick(now time.Time) {
	lv.observeDrops()
	lv.flush()
	if lv.lo.interval > 0 && time.Since(lv.lastReport) >= lv.lo.interval {
		if len(lv.window) > 0 {
			lv.summary()
		} else {
			lv.lastReport = time.Now() // nothing decided: nothing to say
		}
	}
}

// summary prints the listener and host views of the flows decided since
// the last summary, and forgets those flows.
func (lv *liveRun) summary() {
	lv.lastReport = time.Now()
	lv.observeDrops()
	lv.suspect += lv.countSuspect()
	a := classify.Summarize(lv.window)
	a.Capture = lv.src.Info()
	lv.window = nil
	if lv.err != nil {
		return
	}
	if lv.o.format == "json" {
		lv.setErr(report.JSON(lv.stdout, a, true))
		return
	}
	lv.flush()
	lv.setErr(report.Summary(lv.stdout, a))
}

// observeDrops notes a rise of the drop counters since their previous
// reading: the drops happened between the two readings.
func (lv *liveRun) observeDrops() {
	st := lv.src.Stats()
	if st.Time.Equal(lv.statsAt) {
		return
	}
	if total := st.KernelDropped + st.IfDropped; total > lv.drops {
		lv.drops = total
		lo := lv.statsAt
		if n := len(lv.periods); n > 0 && (n >= maxDropPeriods || !lo.After(lv.periods[n-1][1])) {
			lv.periods[n-1][1] = st.Time
		} else {
			lv.periods = append(lv.periods, [2]time.Time{lo, st.Time})
		}
	}
	lv.statsAt = st.Time
}

// countSuspect counts the flows of the window that were active during a
// drop period (approximately: the counters are read about once a second).
func (lv *liveRun) countSuspect() int {
	n := 0
	for _, r := range lv.window {
		for _, p := range lv.periods {
			if !r.Start.After(p[1]) && !r.End.Before(p[0]) {
				n++
				break
			}
		}
	}
	return n
}

// listInterfaces prints the capture interfaces as `tcpdump -D` does.
func listInterfaces(w io.Writer) error {
	ifs, err := capture.ListInterfaces()
	if err != nil {
		return err
	}
	var b strings.Builder
	for i, ifc := range ifs {
		fmt.Fprintf(&b, "%d.%s", i+1, ifc.Name)
		if ifc.Description != "" {
			fmt.Fprintf(&b, " (%s)", ifc.Description)
		}
		var fl []string
		if ifc.Up {
			fl = append(fl, "Up")
		}
		if ifc.Running {
			fl = append(fl, "Running")
		}
		if ifc.Wireless {
			fl = append(fl, "Wireless")
		}
		if ifc.Loopback {
			fl = append(fl, "Loopback")
		}
		switch ifc.Status {
		case "connected":
			fl = append(fl, "Connected")
		case "disconnected":
			fl = append(fl, "Disconnected")
		}
		if len(fl) > 0 {
			fmt.Fprintf(&b, " [%s]", strings.Join(fl, ", "))
		}
		b.WriteByte('\n')
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

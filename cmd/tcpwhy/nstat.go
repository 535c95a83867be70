package main

import (
	"fmt"
	"net/netip"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/tcpwhy/tcpwhy/classify"
)

// nstatOptions are the --nstat and --nstat-host flags.
type nstatOptions struct {
	files []string
	hosts []string
}

// addNstatFlags registers --nstat and --nstat-host on fs.
func addNstatFlags(fs *pflag.FlagSet, o *nstatOptions) {
	fs.StringArrayVar(&o.files, "nstat", nil, "reconcile the capture with counters from `FILE` (nstat -az or netstat -s output); one file is taken as the change over the capture, several as snapshots (last minus first)")
	fs.StringSliceVar(&o.hosts, "nstat-host", nil, "the `IP` addresses the --nstat counters belong to (repeat or comma-separate for a host's IPv4 and IPv6 addresses; default: guessed)")
}

// nstatInput is the parsed --nstat input.
type nstatInput struct {
	files    []string
	hosts    []netip.Addr
	observed map[string]int64
	mode     string
}

// loadNstat reads and parses the --nstat files (nil when none were
// given). Call it before the analysis so a bad file fails fast.
func loadNstat(o *nstatOptions) (*nstatInput, error) {
	if len(o.files) == 0 {
		if len(o.hosts) > 0 {
			return nil, usageError{fmt.Errorf("--nstat-host needs --nstat FILE")}
		}
		return nil, nil
	}
	in := &nstatInput{files: o.files, mode: "delta"}
	for _, h := range o.hosts {
		a, err := netip.ParseAddr(strings.TrimSpace(h))
		if err != nil {
			return nil, usageError{fmt.Errorf("--nstat-host %q: not an IP address", h)}
		}
		in.hosts = append(in.hosts, a.Unmap())
	}
	var snaps []*classify.NstatSnapshot
	for _, name := range o.files {
		f, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("read --nstat file: %w", err)
		}
		sn, err := classify.ParseNstat(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("parse --nstat %s: %w", name, err)
		}
		snaps = append(snaps, sn)
	}
	in.observed = snaps[0].Counters
	if len(snaps) > 1 {
		in.observed = snaps[len(snaps)-1].Delta(snaps[0])
		in.mode = "snapshots"
	}
	return in, nil
}

// reconcile compares the --nstat counters with the analysis; nil input
// gives nil.
func reconcile(a *classify.Analysis, in *nstatInput) []*classify.Reconciliation {
	if in == nil {
		return nil
	}
	hosts, guessed := in.hosts, false
	if len(hosts) == 0 {
		hosts, guessed = classify.GuessHosts(a, in.observed), true
	}
	rec := classify.Reconcile(a, hosts, in.observed)
	rec.HostGuessed = guessed
	rec.Sources = in.files
	rec.Mode = in.mode
	return []*classify.Reconciliation{rec}
}

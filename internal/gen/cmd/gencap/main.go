// Command gencap writes a deterministic synthetic TCP capture for
// benchmarks and tests (see package internal/gen for what it contains).
//
//	gencap -o FILE [-connections N] [-seed S] [-synflood N] [-portscan N]
//
// With the defaults it writes about 5 million packets from 200 000
// connections. A summary goes to standard error, or to standard output as
// JSON with -stats-json.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/tcpwhy/tcpwhy/internal/gen"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	def := gen.DefaultConfig()
	fs := flag.NewFlagSet("gencap", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "", "output pcap `file` (\"-\" for standard output)")
	conns := fs.Int("connections", def.Connections, "number of TCP connections")
	seed := fs.Int64("seed", def.Seed, "pseudo-random seed")
	flood := fs.Int("synflood", 0, "number of spoofed unanswered SYNs to add")
	floodRate := fs.Float64("synflood-rate", def.SYNFloodRate, "flood SYNs per second")
	scan := fs.Int("portscan", 0, "number of port-scan probes to add (each a SYN to its own closed ip:port, refused)")
	scanRate := fs.Float64("portscan-rate", def.PortScanRate, "port-scan probes per second")
	rate := fs.Float64("rate", def.Rate, "new connections per second")
	v6 := fs.Float64("ipv6", def.IPv6Fraction, "share of IPv6 connections (0..1)")
	snaplen := fs.Int("s", 0, "truncate packets to this many bytes (0: whole packets)")
	statsJSON := fs.Bool("stats-json", false, "print the statistics as JSON on standard output")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *out == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: gencap -o FILE [-connections N] [-seed S] [-synflood N] [-portscan N]")
		return 2
	}
	cfg := gen.Config{
		Connections: *conns, Seed: *seed, SYNFlood: *flood, SYNFloodRate: *floodRate, PortScan: *scan, PortScanRate: *scanRate,
		Rate: *rate, IPv6Fraction: *v6, Snaplen: *snaplen,
	}
	if *v6 == 0 {
		cfg.IPv6Fraction = -1
	}
	if err := write(*out, cfg, stdout, stderr, *statsJSON); err != nil {
		fmt.Fprintln(stderr, "gencap:", err)
		return 1
	}
	return 0
}

func write(name string, cfg gen.Config, stdout, stderr io.Writer, statsJSON bool) (err error) {
	w := stdout
	if name != "-" {
		f, err := os.Create(name)
		if err != nil {
			return fmt.Errorf("create output: %w", err)
		}
		defer func() {
			if cerr := f.Close(); cerr != nil && err == nil {
				err = fmt.Errorf("close %s: %w", name, cerr)
			}
		}()
		w = f
	} else if statsJSON {
		return errors.New("-stats-json needs -o FILE")
	}
	st, err := gen.Write(w, cfg)
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if statsJSON {
		return printJSON(stdout, st)
	}
	fmt.Fprintf(stderr, "%s: %d packets, %d bytes, %d connections (%d IPv6), %d flood SYNs, %d port-scan probes, at most %d concurrent, %s\n",
		name, st.Packets, st.Bytes, st.Connections(), st.IPv6, st.SYNFlood, st.PortScan, st.ConcurrentMax,
		st.Last.Sub(st.First).Round(time.Millisecond))
	for k := range gen.NumKinds {
		fmt.Fprintf(stderr, "  %-15s %8d  (verdict %s)\n", k, st.Kinds[k], k.Verdict())
	}
	return nil
}

func printJSON(w io.Writer, st gen.Stats) error {
	kinds := make(map[string]int64, gen.NumKinds)
	for k := range gen.NumKinds {
		kinds[k.String()] = st.Kinds[k]
	}
	v := struct {
		Packets       int64            `json:"packets"`
		Bytes         int64            `json:"bytes"`
		Connections   int64            `json:"connections"`
		IPv6          int64            `json:"ipv6"`
		SYNFlood      int64            `json:"synflood"`
		PortScan      int64            `json:"portscan"`
		ConcurrentMax int              `json:"concurrent_max"`
		First         time.Time        `json:"first"`
		Last          time.Time        `json:"last"`
		Kinds         map[string]int64 `json:"kinds"`
	}{st.Packets, st.Bytes, st.Connections(), st.IPv6, st.SYNFlood, st.PortScan, st.ConcurrentMax, st.First, st.Last, kinds}
	enc := json.NewEncoder(w)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write statistics: %w", err)
	}
	return nil
}

//go:build linux

// Command lab regenerates the scenario lab captures and truth files: it
// makes the real Linux TCP stack produce each scenario in network
// namespaces (needs root), captures it and writes
// <out>/<scenario>/{*.pcap,*.pcapng,truth.json}.
//
// Usage:
//
//	go run ./internal/lab/cmd/lab -out testdata/pcaps/lab [-only a,b] [-list]
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/tcpwhy/tcpwhy/internal/lab"
)

func main() {
	lab.RunAgentIfRequested()
	os.Exit(run())
}

func run() int {
	out := flag.String("out", "testdata/pcaps/lab", "output directory (one sub-directory per scenario)")
	only := flag.String("only", "", "comma-separated scenario names to run (default: all)")
	par := flag.Int("parallel", 0, "scenarios run at once (0: all)")
	keep := flag.Bool("keep-failed", false, "keep a failed scenario's captures in <out>/.<scenario>.failed")
	list := flag.Bool("list", false, "list the scenarios and exit")
	flag.Parse()
	if *list {
		for _, s := range lab.Scenarios() {
			fmt.Printf("%-30s %s\n", s.Name, s.Description)
		}
		return 0
	}
	var names []string
	if *only != "" {
		names = strings.Split(*only, ",")
	}
	t0 := time.Now()
	res, err := lab.Run(lab.Options{Out: *out, Only: names, Parallel: *par, Log: os.Stderr, KeepFailed: *keep})
	if err != nil {
		fmt.Fprintf(os.Stderr, "lab: %v\n", err)
		return 1
	}
	failed := 0
	for _, r := range res {
		if len(r.Failures) > 0 {
			failed++
		}
	}
	fmt.Fprintf(os.Stderr, "lab: %d scenarios, %d failed, %.1fs\n", len(res), failed, time.Since(t0).Seconds())
	if failed > 0 {
		return 1
	}
	return 0
}

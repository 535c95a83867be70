//go:build linux

package lab

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// readCounters reads the SNMP and netstat counters of the calling process's
// network namespace from /proc/net/{snmp,netstat,snmp6} and names them the
// way nstat does: table prefix plus field ("TcpOutRsts",
// "TcpExtListenOverflows", "Icmp6InDestUnreachs").
func readCounters() (map[string]int64, error) {
	out := map[string]int64{}
	for _, f := range []string{"/proc/net/snmp", "/proc/net/netstat"} {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", f, err)
		}
		if err := parseHeaderPairs(string(b), out); err != nil {
			return nil, fmt.Errorf("parse %s: %w", f, err)
		}
	}
	b, err := os.ReadFile("/proc/net/snmp6")
	if err != nil {
		return nil, fmt.Errorf("read /proc/net/snmp6: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		fs := strings.Fields(line)
		if len(fs) != 2 {
			continue
		}
		v, err := strconv.ParseInt(fs[1], 10, 64)
		if err != nil {
			continue
		}
		out[fs[0]] = v
	}
	return out, nil
}

// parseHeaderPairs parses the "Prefix: name name..." / "Prefix: value
// value..." line pairs of /proc/net/snmp and /proc/net/netstat.
func parseHeaderPairs(s string, out map[string]int64) error {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i := 0; i+1 < len(lines); i += 2 {
		names := strings.Fields(lines[i])
		vals := strings.Fields(lines[i+1])
		if len(names) != len(vals) || len(names) == 0 || names[0] != vals[0] {
			return fmt.Errorf("line %d: header and values do not match", i+1)
		}
		prefix := strings.TrimSuffix(names[0], ":")
		for j := 1; j < len(names); j++ {
			v, err := strconv.ParseInt(vals[j], 10, 64)
			if err != nil {
				return fmt.Errorf("line %d: %s: %w", i+2, names[j], err)
			}
			out[prefix+names[j]] = v
		}
	}
	return nil
}

// gauges are counters that nstat reports as absolute values; their
// before/after difference is not an event count and is left out of deltas.
var gauges = map[string]bool{
	"TcpRtoAlgorithm": true, "TcpRtoMin": true, "TcpRtoMax": true, "TcpMaxConn": true,
	"TcpCurrEstab": true, "IpForwarding": true, "IpDefaultTTL": true,
}

// counterDelta returns after-before for every counter whose difference is
// non-zero, gauges excluded.
func counterDelta(before, after map[string]int64) map[string]int64 {
	d := map[string]int64{}
	for k, v := range after {
		if gauges[k] {
			continue
		}
		if x := v - before[k]; x != 0 {
			d[k] = x
		}
	}
	return d
}

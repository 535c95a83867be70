//go:build linux

package lab

import (
	"fmt"
	"strings"
)

// nftRuleset builds an nftables ruleset with one input chain. sets names
// dynamic sets of ports used by the "drop the first N" rules.
func nftRuleset(sets []string, rules ...string) string {
	var b strings.Builder
	b.WriteString("table inet lab {\n")
	for _, s := range sets {
		fmt.Fprintf(&b, "  set %s { type inet_service; flags dynamic; }\n", s)
	}
	b.WriteString("  chain input {\n    type filter hook input priority 0; policy accept;\n")
	for _, r := range rules {
		fmt.Fprintf(&b, "    %s\n", r)
	}
	b.WriteString("  }\n}\n")
	return b.String()
}

// portSet renders ports as an nftables anonymous set.
func portSet(ports ...int) string {
	s := make([]string, len(ports))
	for i, p := range ports {
		s[i] = fmt.Sprint(p)
	}
	return "{ " + strings.Join(s, ", ") + " }"
}

// dropFirst returns the two rules that drop the first packet matching
// match for each value of key (e.g. "tcp sport"), remembering keys in set.
func dropFirst(set, match, key string) []string {
	return []string{
		fmt.Sprintf("%s %s @%s accept", match, key, set),
		fmt.Sprintf("%s add @%s { %s } counter drop", match, set, key),
	}
}

// Matches used by the scenarios (server-side input unless noted).
const (
	matchSYN    = "tcp flags & (syn | ack) == syn"
	matchSYNACK = "tcp flags & (syn | ack) == syn | ack"
	matchBareAC = "tcp flags & (fin | syn | rst | psh | ack) == ack"
)

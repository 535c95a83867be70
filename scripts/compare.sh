#!/usr/bin/env bash
# compare.sh — time two or more commands against each other, interleaved,
# rotating their order from round to round.
#
#   scripts/compare.sh ROUNDS 'label=command' 'label=command' ...
#   scripts/compare.sh 8 "old=/tmp/tcpwhy-old --json -r testdata/bench/big.pcap" \
#                        "new=bin/tcpwhy --json -r testdata/bench/big.pcap"
#
# Each command runs once per round, its standard output to /dev/null. The
# order rotates by one each round (A B, B A, ...): consecutive runs on these
# machines are not alike (with the JSON spool on ext4 the system time of
# the same command alternates from one run to the next), so a fixed order
# puts each command on the same side of that. Prints every run's wall and
# system seconds and each command's median wall and CPU (user + system)
# time (GNU time).
#
# PAUSE=3 sleeps that many seconds before each run. On these virtual
# machines the guest hands memory freed for about two seconds back to the
# host (free page reporting, page_reporting_order=11 on the kernel's
# command line), and touching such memory again costs about 8 us a 4 KiB
# page: a run right after another reuses the first one's freed pages
# cheaply, a run after a pause pays for every page it takes, as a run
# on an idle machine does (docs/performance.md).
#
# WARM="file ..." reads those files (cat, not timed) before each run:
# DAMON on these machines pages out file pages not touched for a minute,
# so a capture left alone is partly read from disk by the next run.
set -euo pipefail
if [ $# -lt 3 ]; then
	sed -n '2,/^set /{/^set /d;p;}' "$0" >&2
	exit 2
fi
rounds=$1
shift
cmds=("$@")
n=${#cmds[@]}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for ((r = 0; r < rounds; r++)); do
	for ((j = 0; j < n; j++)); do
		c=${cmds[$(((j + r) % n))]}
		if [ -n "${PAUSE:-}" ]; then sleep "$PAUSE"; fi
		# shellcheck disable=SC2086 # WARM is a list of files
		if [ -n "${WARM:-}" ]; then cat $WARM >/dev/null; fi
		/usr/bin/time -f "${c%%=*} %e %S %U" -a -o "$out" bash -c "${c#*=} >/dev/null"
	done
done
awk '{w[$1] = w[$1] " " $2; s[$1] = s[$1] " " $3}
	END {for (k in w) print k, "wall:" w[k], " sys:" s[k]}' "$out" | sort
sort -k1,1 -k2n "$out" | awk '{v[$1, ++c[$1]] = $2}
	END {for (k in c) print k, "median", v[k, int((c[k] + 1) / 2)]}' | sort
awk '{print $1, $3 + $4}' "$out" | sort -k1,1 -k2n | awk '{v[$1, ++c[$1]] = $2}
	END {for (k in c) print k, "median CPU", v[k, int((c[k] + 1) / 2)]}' | sort

#!/usr/bin/env bash
# bench.sh — time tcpwhy against tcpdump, tshark and tcptrace on the same
# generated captures (make bench).
#
# It builds bin/tcpwhy and bin/gencap, generates testdata/bench/big.pcap
# (200 000 connections, ~5 M packets) and small.pcap (10x smaller) unless
# they exist and were made by the current generator, then runs every tool
# ROUNDS times, alternating tools within each round, and prints the median
# wall time, packets/s, ratios against tcpdump and tshark, and peak RSS.
# The capture is read into the page cache (cat, not timed) before every
# run: these machines run DAMON, which pages out what was not touched for
# a minute, and a run after tshark's 80 s would otherwise read part of the
# file from disk (docs/performance.md, "The sixteenth session"). Before
# the first round it is dropped from the cache and read back, so that it
# is cached as a capture read from disk is (in large folios), however it
# came to be there.
#
# Environment:
#   ROUNDS=3              runs per tool and file
#   FILES="small big"     which captures to time
#   BIG_CONNS=200000      connections in big.pcap (small gets a tenth)
#   BENCH_DIR=testdata/bench  where the captures live
#   TSHARK_MAX=120        skip tshark on a file when the small file's time
#                         extrapolates above this many seconds; the
#                         small-file rate is then reported for it instead
#   TCPWHY=path          time this tcpwhy binary instead of building ./cmd/tcpwhy
#   TOOLS="tcpwhy-json tcpwhy-json-1cpu tcpwhy-jsonK-1cpu tcpwhy-q tcpwhy-q-1cpu tcpwhy-qK-1cpu tcpwhy-text gopacket gopacket-flows tcpdump tshark tcptrace"
#                         tcpwhy-json-1cpu and tcpwhy-q-1cpu are --json and -q
#                         with GOMAXPROCS=1, the K variants the same with -K
#                         (checksums not verified, as tcpdump -nn -r does
#                         not verify them either); gopacket
#                         and gopacket-flows are the machine's yardstick
#                         (internal/cmd/gopacketloop, one core): the bare
#                         gopacket read+decode loop issue 7 quotes, and the
#                         same with a minimal flow map; x-loop is the rate
#                         relative to the bare loop; tcpwhy-markdown and
#                         tcpwhy-html (not in the default list) time the
#                         ticket reports; tcpdump-S (not in the default list)
#                         is tcpdump -S, which keeps no per-connection table:
#                         tcpdump's relative sequence numbers cost it time
#                         that grows with the connections in the file
#   FILES="small big flood" adds flood.pcap: FLOOD_SYNS (10000000) distinct
#                         spoofed unanswered SYNs plus 1000 connections, timed
#                         with FLOOD_TOOLS (tcpwhy-json) and --max-flows
#                         FLOOD_MAX_FLOWS (the default when unset)
#   FILES="... busy"      adds busy.pcap: BUSY_CONNS (300000) connections
#                         started at BUSY_RATE (60000) a second, so that
#                         about as many flows are tracked at once, timed with
#                         BUSY_TOOLS (tcpwhy-json)
#   FILES="... scan"      adds scan.pcap: SCAN_PROBES (500000) port-scan
#                         probes (a SYN to each of as many closed ip:ports,
#                         refused with a RST) plus 1000 connections, timed
#                         with SCAN_TOOLS (tcpwhy-q tcpwhy-json tcpwhy-html):
#                         memory that follows the servers, not the flows
#                         For busy and flood, tcpwhy's peak RSS is also
#                         divided by the flows it tracked at once (peak_flows,
#                         from one more --json run): the memory a tracked
#                         flow costs, issue 7's 0.5 KiB target
set -euo pipefail

cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
FILES=${FILES:-"small big"}
BIG_CONNS=${BIG_CONNS:-200000}
TSHARK_MAX=${TSHARK_MAX:-120}
TOOLS=${TOOLS:-"tcpwhy-json tcpwhy-json-1cpu tcpwhy-jsonK-1cpu tcpwhy-q tcpwhy-q-1cpu tcpwhy-qK-1cpu tcpwhy-text gopacket gopacket-flows tcpdump tshark tcptrace"}
DIR=${BENCH_DIR:-testdata/bench}
GO=${GO:-go}

say() { printf '%s\n' "$*" >&2; }

# --- measuring: GNU time if possible, else bash TIMEFORMAT + /proc polling.
TIME_BIN=/usr/bin/time
if ! "$TIME_BIN" -f %e true >/dev/null 2>&1; then
	if command -v apt-get >/dev/null; then
		say "installing GNU time (apt-get install time)"
		if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
		$SUDO apt-get install -y -qq time >/dev/null 2>&1 ||
			{ $SUDO apt-get update -qq >/dev/null 2>&1 && $SUDO apt-get install -y -qq time >/dev/null 2>&1; } || true
	fi
fi
if ! "$TIME_BIN" -f %e true >/dev/null 2>&1; then
	TIME_BIN=
	say "GNU time unavailable: using bash's clock and polling /proc/PID/status for VmHWM"
fi

# measure OUT CMD...: runs CMD (stdout to /dev/null, stderr to $DIR/last.err)
# and writes "seconds peak_KiB cpu_seconds" to OUT (cpu "-" when unknown).
measure() {
	local out=$1
	shift
	if [ -n "$TIME_BIN" ]; then
		"$TIME_BIN" -f '%e %M %U %S' -o "$out" "$@" >/dev/null 2>"$DIR/last.err" ||
			{ say "failed: $* (see $DIR/last.err)"; tail -3 "$DIR/last.err" >&2; return 1; }
		tail -1 "$out" | awk '{printf "%s %s %.2f\n", $1, $2, $3 + $4}' >"$out.tmp" && mv "$out.tmp" "$out"
		return 0
	fi
	local start end pid hwm=0 h rc=0
	start=$(date +%s.%N)
	"$@" >/dev/null 2>"$DIR/last.err" &
	pid=$!
	while kill -0 "$pid" 2>/dev/null; do
		h=$(awk '/^VmHWM:/{print $2}' "/proc/$pid/status" 2>/dev/null || true)
		[ -n "$h" ] && [ "$h" -gt "$hwm" ] && hwm=$h
		sleep 0.02
	done
	wait "$pid" || rc=$?
	end=$(date +%s.%N)
	[ "$rc" = 0 ] || { say "failed: $* (see $DIR/last.err)"; return 1; }
	awk -v a="$start" -v b="$end" -v m="$hwm" 'BEGIN{printf "%.2f %d -\n", b - a, m}' >"$out"
}

# --- build
mkdir -p bin "$DIR"
HAVE_TCPWHY=
BIN=${TCPWHY:-bin/tcpwhy}
if [ -n "${TCPWHY:-}" ]; then
	HAVE_TCPWHY=1
elif [ -d cmd/tcpwhy ] && ls cmd/tcpwhy/*.go >/dev/null 2>&1; then
	if $GO build -o bin/tcpwhy ./cmd/tcpwhy; then
		HAVE_TCPWHY=1
	else
		say "cmd/tcpwhy does not build yet: skipping tcpwhy"
	fi
else
	say "cmd/tcpwhy does not exist yet: skipping tcpwhy"
fi
$GO build -o bin/gencap ./internal/gen/cmd/gencap
$GO build -o bin/gopacketloop ./internal/cmd/gopacketloop

# --- captures, regenerated when the generator's sources change
GEN_HASH=$(cat internal/gen/*.go internal/gen/cmd/gencap/*.go | sha256sum | cut -c1-16)
gen_file() { # name connections [flood SYNs [connections per second [port-scan probes]]]
	local f=$DIR/$1.pcap stamp=$DIR/$1.pcap.json id=$GEN_HASH-$2-${3:-0}${4:+-$4}${5:+-scan$5}
	if [ -s "$f" ] && [ -s "$stamp" ] && grep -q "\"gen\":\"$id\"" "$stamp"; then
		return
	fi
	local flood=
	[ "${3:-0}" = 0 ] || flood=", $3 flood SYNs"
	[ -z "${5:-}" ] || flood="$flood, $5 port-scan probes"
	say "generating $f ($2 connections${4:+ at $4/s}$flood)"
	bin/gencap -o "$f" -connections "$2" -synflood "${3:-0}" ${4:+-rate "$4"} ${5:+-portscan "$5"} -stats-json | sed "s/^{/{\"gen\":\"$id\",/" >"$stamp"
}
packets() { # file -> packet count
	local stamp=$1.json
	if [ -s "$stamp" ]; then
		sed -E 's/.*"packets":([0-9]+).*/\1/' "$stamp"
	else
		capinfos -c -M "$1" | awk '/Number of packets/{print $NF}'
	fi
}
for name in $FILES; do
	case $name in
	big) gen_file big "$BIG_CONNS" ;;
	small) gen_file small $((BIG_CONNS / 10)) ;;
	flood) gen_file flood 1000 "${FLOOD_SYNS:-10000000}" ;;
	busy) gen_file busy "${BUSY_CONNS:-300000}" 0 "${BUSY_RATE:-60000}" ;;
	scan) gen_file scan 1000 0 "" "${SCAN_PROBES:-500000}" ;;
	*) say "unknown file $name (want small, big, flood, busy or scan)"; exit 2 ;;
	esac
done

# --- tools
cmd_for() { # tool file -> command words on stdout, empty when unavailable
	local cap=
	[[ $2 == */flood.pcap && -n ${FLOOD_MAX_FLOWS:-} ]] && cap=" --max-flows $FLOOD_MAX_FLOWS"
	case $1 in
	tcpwhy-json) [ -n "$HAVE_TCPWHY" ] && echo "$BIN -r $2 --json$cap" ;;
	tcpwhy-json-1cpu) [ -n "$HAVE_TCPWHY" ] && echo "env GOMAXPROCS=1 $BIN -r $2 --json$cap" ;;
	tcpwhy-jsonK-1cpu) [ -n "$HAVE_TCPWHY" ] && echo "env GOMAXPROCS=1 $BIN -r $2 --json -K$cap" ;;
	gopacket) echo "env GOMAXPROCS=1 bin/gopacketloop $2" ;;
	gopacket-flows) echo "env GOMAXPROCS=1 bin/gopacketloop -flows $2" ;;
	tcpwhy-q) [ -n "$HAVE_TCPWHY" ] && echo "$BIN -r $2 -q$cap" ;;
	tcpwhy-q-1cpu) [ -n "$HAVE_TCPWHY" ] && echo "env GOMAXPROCS=1 $BIN -r $2 -q$cap" ;;
	tcpwhy-qK-1cpu) [ -n "$HAVE_TCPWHY" ] && echo "env GOMAXPROCS=1 $BIN -r $2 -q -K$cap" ;;
	tcpwhy-text) [ -n "$HAVE_TCPWHY" ] && echo "$BIN -r $2" ;;
	tcpwhy-markdown) [ -n "$HAVE_TCPWHY" ] && echo "$BIN -r $2 --format markdown$cap" ;;
	tcpwhy-html) [ -n "$HAVE_TCPWHY" ] && echo "$BIN -r $2 --format html$cap" ;;
	tcpdump) command -v tcpdump >/dev/null && echo "tcpdump -nn -r $2" ;;
	tcpdump-S) command -v tcpdump >/dev/null && echo "tcpdump -S -nn -r $2" ;;
	tshark) command -v tshark >/dev/null && echo "tshark -r $2" ;;
	tcptrace) command -v tcptrace >/dev/null && echo "tcptrace -n $2" ;;
	esac
	return 0
}
mode_of() {
	case $1 in
	tcpwhy-json) echo "--json" ;; tcpwhy-json-1cpu) echo "--json, 1 core" ;; tcpwhy-q) echo "-q (summary)" ;; tcpwhy-q-1cpu) echo "-q, 1 core" ;; tcpwhy-text) echo "annotated text" ;;
	tcpwhy-jsonK-1cpu) echo "--json -K, 1 core" ;; tcpwhy-qK-1cpu) echo "-q -K, 1 core" ;;
	tcpwhy-markdown) echo "--format markdown" ;; tcpwhy-html) echo "--format html" ;;
	gopacket) echo "decode loop, 1 core" ;; gopacket-flows) echo "+ flow map, 1 core" ;;
	tcpdump) echo "-nn -r" ;; tcpdump-S) echo "-S -nn -r" ;; tshark) echo "-r (summary lines)" ;; tcptrace) printf "%s\n" "-n" ;;
	esac
}
for t in $TOOLS; do
	case $t in
	tcpdump | tcpdump-S | tshark | tcptrace)
		command -v "${t%-S}" >/dev/null || say "${t%-S} not installed: skipping (apt-get install ${t%-S})" ;;
	esac
done

tools_for() { # file name -> the tools timed on it
	case $1 in
	flood) echo "${FLOOD_TOOLS:-tcpwhy-json}" ;;
	busy) echo "${BUSY_TOOLS:-tcpwhy-json}" ;;
	scan) echo "${SCAN_TOOLS:-tcpwhy-q tcpwhy-json tcpwhy-html}" ;;
	*) echo "$TOOLS" ;;
	esac
}

LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
RES=$(mktemp -d)
trap 'rm -rf "$RES"' EXIT
median() { sort -n | awk '{a[NR]=$1} END{if(NR==0){print ""}else if(NR%2){print a[(NR+1)/2]}else{print (a[NR/2]+a[NR/2+1])/2}}'; }

# tshark runs on the big file only when the small file's time, scaled by
# the packet ratio, stays under TSHARK_MAX seconds.
skip_tshark_big=
for name in $FILES; do
	f=$DIR/$name.pcap
	# Dropped from the page cache and read back, the capture is cached in
	# large folios as a file read from disk is, and mapped in fewer
	# faults; a capture gencap has just written sits in small folios, and
	# one-core -q took 12% longer on it (docs/performance.md, "The
	# seventeenth session"). Every tool reads the same cache.
	say "reading $f back from disk into the page cache"
	sync "$f"
	dd if="$f" iflag=nocache count=0 status=none
	cat "$f" >/dev/null
	if [ "$name" = big ] && [ -n "$skip_tshark_big" ]; then
		say "tshark: skipped on $f (extrapolated > ${TSHARK_MAX}s); its small-file rate is used"
	fi
	for round in $(seq "$ROUNDS"); do
		for t in $(tools_for "$name"); do
			[ "$t" = tshark ] && [ "$name" = big ] && [ -n "$skip_tshark_big" ] && continue
			c=$(cmd_for "$t" "$f")
			[ -n "$c" ] || continue
			say "round $round/$ROUNDS  $name  $c"
			cat "$f" >/dev/null
			# shellcheck disable=SC2086
			measure "$RES/$name.$t.$round" $c || rm -f "$RES/$name.$t.$round"
		done
	done
	if [ "$name" = small ] && [[ " $FILES " == *" big "* ]] && ls "$RES"/small.tshark.* >/dev/null 2>&1; then
		s=$(cat "$RES"/small.tshark.* | awk '{print $1}' | median)
		ratio=$(awk -v a="$(packets "$DIR/big.pcap")" -v b="$(packets "$f")" 'BEGIN{print a/b}')
		if awk -v s="$s" -v r="$ratio" -v m="$TSHARK_MAX" 'BEGIN{exit !(s*r > m)}'; then
			skip_tshark_big=1
		fi
	fi
done

# --- table
printf '\n%-16s %-20s %-6s %10s %9s %7s %12s %10s %9s %7s %9s\n' tool mode file packets seconds "cpu s" packets/s x-tcpdump x-tshark x-loop "RSS MiB"
for name in $FILES; do
	f=$DIR/$name.pcap
	n=$(packets "$f")
	declare -A pps=() sec=() cpu=() rss=() note=()
	for t in $(tools_for "$name"); do
		src=$name
		if [ "$t" = tshark ] && [ "$name" = big ] && [ -n "$skip_tshark_big" ]; then
			src=small
			note[$t]="*"
		fi
		ls "$RES/$src.$t".* >/dev/null 2>&1 || continue
		sec[$t]=$(cat "$RES/$src.$t".* | awk '{print $1}' | median)
		cpu[$t]=$(cat "$RES/$src.$t".* | awk '{print $3}' | grep -v -- - | median)
		rss[$t]=$(cat "$RES/$src.$t".* | awk '{print $2}' | sort -n | tail -1)
		np=$n
		[ "$src" = "$name" ] || np=$(packets "$DIR/$src.pcap")
		pps[$t]=$(awk -v n="$np" -v s="${sec[$t]}" 'BEGIN{printf "%.0f", (s > 0 ? n/s : 0)}')
	done
	for t in $(tools_for "$name"); do
		[ -n "${pps[$t]:-}" ] || continue
		xd=$(awk -v a="${pps[$t]}" -v b="${pps[tcpdump]:-0}" 'BEGIN{if(b>0)printf "%.2f", a/b; else print "-"}')
		xs=$(awk -v a="${pps[$t]}" -v b="${pps[tshark]:-0}" 'BEGIN{if(b>0)printf "%.2f", a/b; else print "-"}')
		xl=$(awk -v a="${pps[$t]}" -v b="${pps[gopacket]:-0}" 'BEGIN{if(b>0)printf "%.2f", a/b; else print "-"}')
		s=${sec[$t]}
		[ -n "${note[$t]:-}" ] && s="(${s})*"
		printf '%-16s %-20s %-6s %10s %9s %7s %12s %10s %9s %7s %9.1f\n' "$t" "$(mode_of "$t")" "$name" "$n" "$s" "${cpu[$t]:--}" "${pps[$t]}" "$xd" "$xs" "$xl" \
			"$(awk -v k="${rss[$t]}" 'BEGIN{print k/1024}')"
	done
	unset pps sec cpu rss note
done
# --- memory per tracked flow (busy, flood): peak RSS / peak_flows
for name in $FILES; do
	case $name in busy | flood) ;; *) continue ;; esac
	ls "$RES/$name.tcpwhy-json".* >/dev/null 2>&1 || continue
	c=$(cmd_for tcpwhy-json "$DIR/$name.pcap")
	say "peak tracked flows: $c"
	# shellcheck disable=SC2086
	peak=$($c 2>/dev/null | tail -1 | sed -nE 's/.*"peak_flows":([0-9]+).*/\1/p' || true)
	rss=$(cat "$RES/$name.tcpwhy-json".* | awk '{print $2}' | sort -n | tail -1)
	[ -n "$peak" ] && [ "$peak" -gt 0 ] &&
		awk -v r="$rss" -v p="$peak" -v n="$name" 'BEGIN{printf "%s: tcpwhy --json peaked at %.0f MiB with %d flows tracked: %.2f KiB per tracked flow\n", n, r/1024, p, r/p}'
done
if [ -n "$skip_tshark_big" ]; then
	echo "* tshark was not run on big.pcap: seconds and RSS shown are the small file's; packets/s and ratios use its rate."
fi
echo "median of $ROUNDS alternating runs (cpu s = user+sys); page cache warmed before each run; $(nproc) CPUs; $(uname -r); load average before: $LOAD0"

#!/usr/bin/env bash
# pgo.sh — regenerate cmd/tcpwhy/default.pgo (make pgo), the CPU profile
# that `go build` uses for profile-guided optimization of tcpwhy (Go reads
# default.pgo in the main package's directory; -pgo=off builds without).
#
# It builds tcpwhy without the profile, generates testdata/bench/big.pcap
# when it is missing (the capture make bench times, same generator and
# seed), profiles the outputs make bench times — --json on one core and
# on two, -q, the annotated text — and merges the four profiles. Run it
# after changes to the hot paths; a stale profile still helps, less.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
DIR=${BENCH_DIR:-testdata/bench}
big=$DIR/big.pcap
$GO build -pgo=off -o bin/tcpwhy-nopgo ./cmd/tcpwhy
if [ ! -s "$big" ]; then
	$GO build -o bin/gencap ./internal/gen/cmd/gencap
	mkdir -p "$DIR"
	bin/gencap -o "$big" -connections 200000
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
GOMAXPROCS=1 bin/tcpwhy-nopgo -r "$big" --json --cpuprofile "$tmp/json-1cpu.prof" >/dev/null
bin/tcpwhy-nopgo -r "$big" --json --cpuprofile "$tmp/json.prof" >/dev/null
bin/tcpwhy-nopgo -r "$big" -q --cpuprofile "$tmp/q.prof" >/dev/null
bin/tcpwhy-nopgo -r "$big" --cpuprofile "$tmp/text.prof" >/dev/null
$GO tool pprof -proto "$tmp"/*.prof >cmd/tcpwhy/default.pgo
echo "wrote cmd/tcpwhy/default.pgo ($(wc -c <cmd/tcpwhy/default.pgo) bytes)"

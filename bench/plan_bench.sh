#!/bin/sh
# Times the slot planner and the check rules on 1,000 primaries (see
# bench/README.md).
# Usage: bench/plan_bench.sh [NODES [REPS]]      (defaults: 1000 21)
# Builds $BUILD/libslotpilot.a with make (BUILD defaults to build), links
# bench/plan_bench.c and bench/check_bench.c against it as the Makefile
# links the tools, runs them, and writes the figures to bench/out/plan.json
# and bench/out/check.json. Asserts no timing. (check_bench takes a replica
# count too: 1,000 + 1,000 nodes need about 2.4 GB and minutes.)
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
CC=${CC:-cc}
make --no-print-directory BUILD="$BUILD" "$BUILD/libslotpilot.a"
mkdir -p "$BUILD/bench" bench/out
for b in plan_bench check_bench; do
	$CC -std=c11 -O2 -Isrc -o "$BUILD/bench/$b" "bench/$b.c" \
		"$BUILD/libslotpilot.a" $(pkg-config --libs hiredis jansson libssl libcrypto) -lm -lpthread
done
"$BUILD/bench/plan_bench" "${1:-1000}" "${2:-21}" bench/out/plan.json
echo "written: bench/out/plan.json"
"$BUILD/bench/check_bench" "${1:-1000}" 0 11 bench/out/check.json
echo "written: bench/out/check.json"

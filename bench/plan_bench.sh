#!/bin/sh
# Times the slot planner on 1,000 primaries (see bench/README.md).
# Usage: bench/plan_bench.sh [NODES [REPS]]      (defaults: 1000 21)
# Builds $BUILD/libslotpilot.a with make (BUILD defaults to build), links
# bench/plan_bench.c against it as the Makefile links the tools, runs it,
# and writes the figures to bench/out/plan.json. Asserts no timing.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
CC=${CC:-cc}
make --no-print-directory BUILD="$BUILD" "$BUILD/libslotpilot.a"
mkdir -p "$BUILD/bench" bench/out
$CC -std=c11 -O2 -Isrc -o "$BUILD/bench/plan_bench" bench/plan_bench.c \
	"$BUILD/libslotpilot.a" $(pkg-config --libs hiredis jansson libssl libcrypto) -lm -lpthread
"$BUILD/bench/plan_bench" "${1:-1000}" "${2:-21}" bench/out/plan.json
echo "written: bench/out/plan.json"

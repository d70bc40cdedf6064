#!/bin/sh
# make bench: benchmarks against redis-cli on identical local clusters
# (see bench/README.md). Usage: scripts/bench.sh [path/to/slotpilot]
# Figures go to stdout and bench/out/*.json. Nothing here asserts timing.
set -eu
SP=${1:-build/slotpilot}
cd "$(dirname "$0")/.."
/usr/bin/python3 bench/engine.py --sp "$SP"
echo
bench/plan_bench.sh 1000 21

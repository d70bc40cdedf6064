#!/bin/sh
# make bench: benchmarks against redis-cli on identical local clusters
# (see bench/README.md). Usage: scripts/bench.sh [path/to/slotpilot]
# Figures go to stdout and bench/out/*.json (latency plots: bench/out/*.png).
# Nothing here asserts timing.
set -eu
SP=${1:-build/slotpilot}
cd "$(dirname "$0")/.."
# bench/latency.py plots with gnuplot; installed as scripts/deps.sh does.
if ! dpkg-query -W -f='${Status}' gnuplot-nox 2>/dev/null | grep -q "install ok installed"; then
	echo "slotpilot: missing Debian package: gnuplot-nox" >&2
	if [ "$(id -u)" -eq 0 ]; then
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends gnuplot-nox
	else
		echo "run: sudo apt-get install -y gnuplot-nox" >&2
		exit 1
	fi
fi
/usr/bin/python3 bench/engine.py --sp "$SP"
echo
/usr/bin/python3 bench/transport.py --sp "$SP"
echo
bench/plan_bench.sh 1000 21
echo
# 3+3, 20+20 and 40+40 nodes, one cluster at a time (about 12 minutes)
/usr/bin/python3 bench/scale.py --sp "$SP"
/usr/bin/python3 bench/cost_model.py
echo
/usr/bin/python3 bench/latency.py --sp "$SP" --runs redis-cli,slotpilot,guard-inc,guard-p99
echo
/usr/bin/python3 bench/faults.py --sp "$SP"

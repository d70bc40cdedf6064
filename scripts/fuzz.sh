#!/usr/bin/env bash
# Runs every libFuzzer target in BUILD_DIR (default build-fuzz, from
# `make fuzz`) for FUZZ_SECONDS (default 20) over its committed seed corpus
# tests/fuzz/corpus/<target>/ (fuzz_<target> is the binary). New inputs go
# to a scratch corpus under BUILD_DIR, never into the committed one; a
# crash leaves its input in BUILD_DIR/artifacts/ and fails the run.
#   FUZZ_SECONDS=60 scripts/fuzz.sh            all targets, 60 s each
#   scripts/fuzz.sh build-fuzz journal plan    only these targets
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-fuzz}
shift || true
secs=${FUZZ_SECONDS:-20}
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
	for b in "$build"/fuzz_*; do
		[ -f "$b" ] && [ -x "$b" ] && targets+=("${b##*/fuzz_}")
	done
fi
mkdir -p "$build/artifacts" "$build/logs"
fail=0
for t in "${targets[@]}"; do
	bin="$build/fuzz_$t" seeds="tests/fuzz/corpus/$t" work="$build/corpus/$t"
	if [ ! -x "$bin" ] || [ ! -d "$seeds" ]; then
		echo "fuzz: $t: no binary $bin or no seeds in $seeds" >&2
		fail=1
		continue
	fi
	mkdir -p "$work"
	if "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-max_len=65536 -artifact_prefix="$build/artifacts/$t-" \
		-print_final_stats=1 "$work" "$seeds" >"$build/logs/$t.log" 2>&1; then
		echo "fuzz: $t: ok ($(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' \
			"$build/logs/$t.log" | grep -o '[0-9]*$') runs in ${secs}s)"
	else
		echo "fuzz: $t: FAILED (see $build/logs/$t.log and $build/artifacts/)" >&2
		tail -40 "$build/logs/$t.log" >&2
		fail=1
	fi
done
exit $fail

#!/usr/bin/env bash
# Checks that dependencies point down only: every #include "layer/file.h"
# in src/ names the file's own layer or one below it (order from
# DESIGN.md, bottom first). Prints each offending include; exit 1 if any.
set -euo pipefail
cd "$(dirname "$0")/.."
order=(base io model cluster engine provision traffic ops autoscale cli)
rank() {
	local i
	for i in "${!order[@]}"; do
		[ "${order[$i]}" = "$1" ] && { echo "$i"; return; }
	done
	echo -1
}
bad=0
for f in src/*/*.[ch]; do
	layer=${f#src/}
	layer=${layer%%/*}
	me=$(rank "$layer")
	if [ "$me" -lt 0 ]; then
		echo "$f: folder '$layer' is not a layer"
		bad=1
		continue
	fi
	while IFS= read -r inc; do
		dep=${inc%%/*}
		if [ "$dep" = "$inc" ]; then
			echo "$f: include \"$inc\" has no layer folder"
			bad=1
			continue
		fi
		r=$(rank "$dep")
		if [ "$r" -lt 0 ] || [ "$r" -gt "$me" ]; then
			echo "$f: includes \"$inc\" from a layer above $layer"
			bad=1
		fi
	done < <(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f")
done
[ $bad -eq 0 ] && echo "layers: every include points down"
exit $bad

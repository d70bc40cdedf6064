#!/bin/sh
# make demo: bring up the embedded default (a local 3 primaries + 3 replicas
# cluster of redis-server processes), show its status and a passing check.
# Re-running it finds the cluster already up and shows it again.
set -eu
SP=${1:-build/slotpilot}
DIR=${DEMO_DIR:-.slotpilot/demo}
PORT=${DEMO_PORT:-30001}
ENTRY=127.0.0.1:$PORT

echo "== slotpilot local up (3 primaries, 1 replica each) in $DIR"
"$SP" local up --dir "$DIR" --port "$PORT" --primaries 3 --replicas 1
echo
echo "== slotpilot status $ENTRY"
"$SP" status "$ENTRY"
echo
echo "== slotpilot check $ENTRY --expect-nodes 6 --expect-primaries 3 --min-replicas 1"
"$SP" check "$ENTRY" --expect-nodes 6 --expect-primaries 3 --min-replicas 1
if [ -x scripts/demo-engine.sh ]; then
	scripts/demo-engine.sh "$SP" "$ENTRY"
fi
echo
echo "The cluster keeps running. Stop it with:  make demo-down"
echo "  (or: $SP local down --dir $DIR --purge)"

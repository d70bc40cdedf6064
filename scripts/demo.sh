#!/bin/sh
# make demo: the guides' scenario on the embedded default. A local cluster
# of 3 primaries + 3 replicas with data and live traffic is expanded to
# 4 + 4, checked, and shrunk back to 3 + 3, with a summary per phase.
# Re-running it finds the cluster up and plays the scenario again.
set -eu
SP=${1:-build/slotpilot}
DIR=${DEMO_DIR:-.slotpilot/demo}
PORT=${DEMO_PORT:-21001}
ENTRY=127.0.0.1:$PORT
JOURNAL=$DIR/journal
STOP=$DIR/traffic.stop
now() { date +%s.%N; }
phase() { printf '\n== %s\n' "$*"; T0=$(now); }
took() { awk -v a="$(now)" -v b="$T0" 'BEGIN { printf "   (%.1f s)\n", a - b }'; }

phase "local up: 3 primaries, 1 replica each, in $DIR"
"$SP" local up --dir "$DIR" --port "$PORT" --primaries 3 --replicas 1
took
phase "status"
"$SP" status "$ENTRY"
phase "check"
"$SP" check "$ENTRY" --expect-nodes 6 --expect-primaries 3 --min-replicas 1

phase "loading 50,000 keys"
/usr/bin/python3 - "$PORT" <<'PY'
import sys
from redis.cluster import RedisCluster
rc = RedisCluster(host="127.0.0.1", port=int(sys.argv[1]))
p = rc.pipeline()
for i in range(50000):
    p.set("demo:data:%d" % i, "v" * 100)
p.execute()
PY
took

rm -f "$STOP"
/usr/bin/python3 scripts/demo_traffic.py "$PORT" "$STOP" 300 > "$DIR/traffic.out" &
TRAFFIC=$!
trap 'touch "$STOP"' EXIT
echo "   live traffic from redis-py running (pid $TRAFFIC)"

phase "expand to 4 primaries: provision (local), join, rebalance, validate"
# --traffic: slotpilot's own cluster client runs before, during and after
# the operation and prints what it saw side by side (see README).
"$SP" expand "$ENTRY" --primaries 4 --replicas 1 --yes --journal-dir "$JOURNAL" \
	--traffic --traffic-rate 1000 --traffic-before 2 --traffic-after 2
took
phase "check 4 + 4"
"$SP" check "$ENTRY" --expect-nodes 8 --expect-primaries 4 --min-replicas 1
"$SP" status "$ENTRY" | tail -4

phase "shrink back to 3 primaries: drain, re-home, forget, deprovision"
"$SP" shrink "$ENTRY" --primaries 3 --yes --journal-dir "$JOURNAL" \
	--traffic --traffic-rate 1000 --traffic-before 2 --traffic-after 2
took
phase "check 3 + 3"
"$SP" check "$ENTRY" --expect-nodes 6 --expect-primaries 3 --min-replicas 1

touch "$STOP"
wait "$TRAFFIC" || true
phase "what the client saw"
cat "$DIR/traffic.out"
echo
echo "The cluster keeps running. Stop it with:  make demo-down"
echo "  (or: $SP local down --dir $DIR --purge)"

#!/usr/bin/python3
"""Steady client traffic for `make demo`, through redis-py's RedisCluster
(an independent client). Writes sequenced values, reads them back, and
at the end checks that every acknowledged write is readable.

usage: demo_traffic.py PORT STOPFILE [MAX_SECONDS]
Runs until STOPFILE exists (or MAX_SECONDS, default 300), then prints a
one-line summary. Bounded in time and in key space (2000 keys)."""
import os
import sys
import time

import logging

from redis.cluster import RedisCluster

# redis-py logs every MOVED/ASK it handles itself; only what reaches the
# application counts here.
logging.getLogger("redis").setLevel(logging.CRITICAL)

port, stopfile = int(sys.argv[1]), sys.argv[2]
limit = float(sys.argv[3]) if len(sys.argv) > 3 else 300.0
rc = RedisCluster(host="127.0.0.1", port=port)
acked, errors, ops, lat = {}, 0, 0, []
start = time.time()
i = 0
while not os.path.exists(stopfile) and time.time() - start < limit:
    key = "demo:traffic:%d" % (i % 2000)
    t = time.perf_counter()
    try:
        rc.set(key, i)
        acked[key] = i
        rc.get(key)
        ops += 2
    except Exception as e:  # surfaced to the application: count it
        errors += 1
        print("traffic error:", type(e).__name__, e, file=sys.stderr)
    lat.append(time.perf_counter() - t)
    i += 1
lost = sum(1 for k, v in acked.items() if rc.get(k) != str(v).encode())
lat.sort()
p99 = lat[int(len(lat) * 0.99)] * 1000 if lat else 0
print("traffic: %d ops in %.1f s, %d errors surfaced to the client, "
      "%d of %d acknowledged keys lost, p99 %.2f ms (set+get)"
      % (ops, time.time() - start, errors, lost, len(acked), p99))
sys.exit(1 if errors or lost else 0)

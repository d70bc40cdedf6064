#!/usr/bin/python3
"""An independent cluster client for bench/latency.py: redis-py RedisCluster.

Sends GET/SET at a fixed rate from one thread, records every request
(wall-clock time, operation, latency, ok) to a CSV file, and, once stopped
(SIGTERM/SIGINT, or --max-seconds), reads back every key it wrote: a key
whose value is not the last acknowledged one is a lost write. Reads during
the run check that the value is not older than the last acknowledged write
(stale). Any exception is an error, counted and recorded with its message;
the client goes on.

    /usr/bin/python3 bench/latency_client.py --port 17101 --out raw.csv

The last line on stdout is a JSON summary. Exit 0 clean, 1 errors, lost or
stale values, 2 could not connect. Talks to 127.0.0.1 only.
"""

import argparse
import json
import os
import random
import signal
import sys
import time

import redis
from redis.cluster import RedisCluster

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "tests", "integration"))
from harness import HOST, follow_redirects_to_new_primaries  # noqa: E402  (shared with the tests)


def value_for(seq, size):
    head = b"%d:" % seq
    return head + b"x" * max(0, size - len(head))


def seq_of(v):
    if v is None:
        return None
    try:
        return int(v.split(b":", 1)[0])
    except ValueError:
        return -1


class State:
    def __init__(self):
        self.acked = {}      # key -> last acknowledged seq
        self.written = []    # the keys of acked, to pick reads from
        self.uncertain = {}  # key -> seqs of writes that raised after acked
        self.errors = 0
        self.stale = 0
        self.messages = {}


def note_error(st, e):
    st.errors += 1
    m = "%s: %s" % (type(e).__name__, str(e)[:200])
    st.messages[m] = st.messages.get(m, 0) + 1


def one_op(rc, st, rng, a, seq):
    """Does one GET or SET; returns (op, ok)."""
    if st.written and rng.random() < a.read_ratio:
        k = st.written[rng.randrange(len(st.written))]
        v = rc.get(k)
        got = seq_of(v)
        if k not in st.uncertain and (got is None or got < st.acked[k]):
            st.stale += 1
        return "get"
    k = "%s%d" % (a.prefix, rng.randrange(a.keys))
    try:
        rc.set(k, value_for(seq, a.value_size))
    except Exception:
        st.uncertain.setdefault(k, set()).add(seq)
        raise
    if k not in st.acked:
        st.written.append(k)
    st.acked[k] = seq
    st.uncertain.pop(k, None)
    return "set"


def run_load(rc, st, a, out, stop):
    rng = random.Random(a.seed)
    interval = 1.0 / a.rate
    t0p = time.perf_counter()
    t0w = time.time()
    deadline = t0p + a.max_seconds
    nxt = t0p
    seq = 0
    behind = 0
    while not stop[0]:
        now = time.perf_counter()
        if now >= deadline:
            break
        if now < nxt:
            time.sleep(nxt - now)
            continue
        if now - nxt > 1.0:  # the schedule slipped a whole second: skip
            behind += int((now - nxt) / interval)
            nxt = now
        nxt += interval
        seq += 1
        op, ok = "?", 1
        s = time.perf_counter()
        try:
            op = one_op(rc, st, rng, a, seq)
        except Exception as e:  # every failure surfaces as an error
            ok = 0
            note_error(st, e)
        e_ = time.perf_counter()
        out.write("%.6f,%s,%.4f,%d\n" % (t0w + (s - t0p), op,
                                         (e_ - s) * 1000.0, ok))
    return seq, behind


def read_back(rc, st):
    """Lost: an acknowledged key whose value is not its last acked write
    (or a write that raised, whose outcome is unknown)."""
    lost = unreadable = 0
    for k, want in sorted(st.acked.items()):
        try:
            got = seq_of(rc.get(k))
        except Exception as e:
            note_error(st, e)
            unreadable += 1
            continue
        if got == want or got in st.uncertain.get(k, ()):
            continue
        lost += 1
    return lost, unreadable


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--out", required=True, help="per-request CSV")
    ap.add_argument("--rate", type=float, default=1000.0)
    ap.add_argument("--keys", type=int, default=10000)
    ap.add_argument("--read-ratio", type=float, default=0.5)
    ap.add_argument("--value-size", type=int, default=100)
    ap.add_argument("--prefix", default="lat:py:")
    ap.add_argument("--max-seconds", type=float, default=600.0)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    if a.rate <= 0 or a.keys <= 0 or not 0 < a.max_seconds <= 7200:
        ap.error("--rate, --keys and --max-seconds (<= 7200) must be > 0")

    stop = [False]

    def on_sig(signum, frame):
        stop[0] = True
    signal.signal(signal.SIGTERM, on_sig)
    signal.signal(signal.SIGINT, on_sig)

    try:
        rc = follow_redirects_to_new_primaries(
            RedisCluster(host=HOST, port=a.port, socket_timeout=10,
                         socket_connect_timeout=5))
        rc.ping(target_nodes=RedisCluster.PRIMARIES)
    except (redis.RedisError, OSError) as e:
        print("latency_client: cannot connect: %s" % e, file=sys.stderr)
        return 2
    st = State()
    tmp = a.out + ".tmp"
    with open(tmp, "w") as out:
        out.write("t,op,lat_ms,ok\n")
        os.rename(tmp, a.out)  # the file appearing means: connected, running
        sent, behind = run_load(rc, st, a, out, stop)
    lost, unreadable = read_back(rc, st)
    summary = {"event": "latency_client", "sent": sent, "behind": behind,
               "errors": st.errors, "stale": st.stale,
               "keys_written": len(st.acked), "lost": lost,
               "unreadable": unreadable,
               "uncertain": sum(1 for k in st.uncertain if k in st.acked),
               "messages": st.messages}
    print(json.dumps(summary), flush=True)
    rc.close()
    return 0 if not (st.errors or st.stale or lost or unreadable) else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""Transport benchmark: slotpilot before and after its own socket layer.

slotpilot's connections used to be hiredis's redisContext; they are now our
own socket (plain TCP or TLS) under hiredis's reader and formatter. This
checks that plain connections kept their speed, side by side in one run:

  1. builds the slotpilot of a base revision (default: the commit before the
     transport landed) into bench/out/transport-base with `git archive` and
     make, unless --sp-base names a binary;
  2. builds two identical clusters (3 primaries + 3 replicas + 1 empty
     primary, engine.py's Cluster) and loads the same keys into both;
  3. moves the same number of slots onto the empty primary, the base binary
     on one cluster and the current binary on the other (engine work);
  4. runs `slotpilot traffic` unthrottled against one cluster, alternating
     base and current, --rounds times each (traffic work);
  5. what TLS costs: the same traffic with the current binary on a plain
     and on a TLS-only (`local up --tls`) cluster of 3 primaries,
     alternating (--no-tls-cost skips it).

It prints seconds, keys/s and redis CPU of both moves, the median ops/s and
p99 of both traffic runs, and the ratios current/base. It asserts no timing;
it fails only when a cluster is unhealthy or keys are lost.

    /usr/bin/python3 bench/transport.py
    BENCH_KEYS=200000 /usr/bin/python3 bench/transport.py --rounds 5
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import engine  # noqa: E402  (clusters, key loading, checks)

BASE_REV = "356387f"  # main before the transport (d2c3572, 7014df8)


def build_base(rev, out):
    """slotpilot at rev, built in out/src; returns the binary's path."""
    src = os.path.join(out, "src-" + rev)
    binary = os.path.join(src, "build", "slotpilot")
    if os.access(binary, os.X_OK):
        return binary
    os.makedirs(src, exist_ok=True)
    with tempfile.TemporaryFile() as tf:
        subprocess.run(["git", "-C", ROOT, "archive", rev], stdout=tf,
                       check=True, timeout=120)
        tf.seek(0)
        with tarfile.open(fileobj=tf) as t:
            t.extractall(src)
    engine.log("building slotpilot %s in %s" % (rev, src))
    subprocess.run(["make", "-j2", "build/slotpilot"], cwd=src, check=True,
                   timeout=900, stdout=subprocess.DEVNULL)
    return binary


def move(c, sp, slots, out):
    cmd = [sp, "reshard", c.entry, "--from", "all", "--to", c.new_addr,
           "--slots", str(slots), "--yes"]
    cpu0 = c.server_cpu()
    t0 = time.monotonic()
    engine.run(cmd, timeout=3600, log_path=os.path.join(out, "transport-%s.log"
                                                          % c.name))
    secs = time.monotonic() - t0
    return secs, c.server_cpu() - cpu0


def traffic(c, sp, seconds):
    p = subprocess.run([sp, "traffic", c.entry, "--seconds", str(seconds),
                        "--rate", "0", "--connections", "4", "--json"],
                       capture_output=True, text=True, timeout=seconds + 60,
                       stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        raise engine.BenchError("traffic with %s failed (%d): %s"
                                % (sp, p.returncode, p.stderr[-500:]))
    ph = json.loads(p.stdout.strip().splitlines()[-1])["phases"][-1]
    return ph["ops_per_s"], ph["p99_ms"]


def tls_cost(sp, work, port, seconds, rounds):
    """Traffic on a plain and on a TLS-only 3-primary `local up` cluster,
    alternating: median ops/s and p99 of each, {"plain": .., "tls": ..}."""
    out, dirs = {"plain": [], "tls": []}, {}
    try:
        for i, mode in enumerate(("plain", "tls")):
            d = os.path.join(work, "cost-" + mode)
            dirs[mode] = d
            argv = [sp, "local", "up", "--dir", d, "--port", str(port + 10 * i),
                    "--primaries", "3", "--replicas", "0", "--json"]
            p = subprocess.run(argv + (["--tls"] if mode == "tls" else []),
                               capture_output=True, text=True, timeout=120,
                               stdin=subprocess.DEVNULL)
            if p.returncode != 0:
                raise engine.BenchError("local up %s: %s" % (mode, p.stderr[-500:]))
            doc = json.loads(p.stdout.strip().splitlines()[-1])
            extra = doc["tls"]["args"].split() if doc.get("tls") else []
            dirs[mode] = (d, "%s:%d" % (engine.HOST, port + 10 * i), extra)
        for _ in range(rounds):
            for mode in ("plain", "tls"):
                d, entry, extra = dirs[mode]
                p = subprocess.run([sp, "traffic", entry, "--seconds", str(seconds),
                                    "--rate", "0", "--connections", "4", "--json"]
                                   + extra, capture_output=True, text=True,
                                   timeout=seconds + 60, stdin=subprocess.DEVNULL)
                if p.returncode != 0:
                    raise engine.BenchError("traffic %s: %s" % (mode, p.stderr[-500:]))
                ph = json.loads(p.stdout.strip().splitlines()[-1])["phases"][-1]
                out[mode].append((ph["ops_per_s"], ph["p99_ms"]))
    finally:
        for v in dirs.values():
            d = v[0] if isinstance(v, tuple) else v
            subprocess.run([sp, "local", "down", "--dir", d, "--purge"],
                           capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
    return {m: (statistics.median(r[0] for r in out[m]),
                statistics.median(r[1] for r in out[m])) for m in out}


def report(args, moves, runs):
    print()
    print("Transport benchmark: %d keys x %d B, 3+3 nodes, %d slots onto an "
          "empty primary; traffic %d s x %d rounds, 4 connections"
          % (args.keys, args.value, args.slots, args.seconds, args.rounds))
    hdr = "%-22s %10s %12s %12s %12s %10s" % ("binary", "move s", "keys/s",
                                             "redis CPU s", "traffic op/s",
                                             "p99 ms")
    print(hdr)
    print("-" * len(hdr))
    row = {}
    for name in ("base " + args.base_rev, "current"):
        secs, cpu, keys = moves[name]
        ops = statistics.median(r[0] for r in runs[name])
        p99 = statistics.median(r[1] for r in runs[name])
        row[name] = (secs, ops, p99)
        print("%-22s %10.2f %12.0f %12.2f %12.0f %10.3f"
              % (name, secs, keys / secs, cpu, ops, p99))
    b, c = row["base " + args.base_rev], row["current"]
    print("\ncurrent/base: move time %.2fx, traffic ops/s %.2fx, p99 %.2fx"
          % (c[0] / b[0], c[1] / b[1], c[2] / b[2]))
    if args.cost is not None:
        pl, tl = args.cost["plain"], args.cost["tls"]
        print("\nTLS cost (current binary, 3 primaries, no replicas, traffic "
              "as above): plain %.0f op/s p99 %.3f ms; TLS %.0f op/s p99 "
              "%.3f ms; TLS/plain ops/s %.2fx" % (pl[0], pl[1], tl[0], tl[1],
                                                  tl[0] / pl[0]))
    print("reproduce: /usr/bin/python3 bench/transport.py%s"
          % ("" if args.keys == 1000000 else "  (BENCH_KEYS=%d)" % args.keys))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sp", default=os.path.join(ROOT, "build", "slotpilot"))
    ap.add_argument("--sp-base", default=None,
                    help="base binary (default: build --base-rev)")
    ap.add_argument("--base-rev", default=BASE_REV)
    ap.add_argument("--keys", type=int,
                    default=int(os.environ.get("BENCH_KEYS", 1000000)))
    ap.add_argument("--value", type=int, default=100)
    ap.add_argument("--slots", type=int, default=4096)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--port", type=int, default=18201)
    ap.add_argument("--out", default=os.path.join(HERE, "out"))
    ap.add_argument("--no-tls-cost", action="store_true",
                    help="skip the plain vs TLS traffic comparison")
    args = ap.parse_args()
    args.cost = None

    os.makedirs(args.out, exist_ok=True)
    sp = os.path.abspath(args.sp)
    base = os.path.abspath(args.sp_base) if args.sp_base else \
        build_base(args.base_rev, args.out)
    work = os.path.join(args.out, "transport-run")
    n = 7
    b1 = engine.pick_base(args.port, n, set())
    used = set(range(b1, b1 + n)) | {p + 10000 for p in range(b1, b1 + n)}
    b2 = engine.pick_base(args.port + 100, n, used)
    clusters = {"base " + args.base_rev: engine.Cluster("T1", sp, work, b1, 3,
                                                        1, args.out),
                "current": engine.Cluster("T2", sp, work, b2, 3, 1, args.out)}
    bins = {"base " + args.base_rev: base, "current": sp}
    moves, runs = {}, {k: [] for k in clusters}
    try:
        for c in clusters.values():
            c.up()
        by_slot = engine.build_commands(args.keys, args.value)
        for c in clusters.values():
            c.load(by_slot, args.keys)
        del by_slot
        for name, c in clusters.items():
            c.wait_replicas()
            secs, cpu = move(c, bins[name], args.slots, args.out)
            c.verify_after(args.keys)
            keys = engine.call(c.new_port, "DBSIZE")
            moves[name] = (secs, cpu, keys)
            engine.log("%s: %d slots, %d keys in %.2f s" % (name, args.slots,
                                                            keys, secs))
        target = clusters["current"]
        for i in range(args.rounds):
            for name in bins:
                runs[name].append(traffic(target, bins[name], args.seconds))
                engine.log("traffic %s round %d: %.0f op/s, p99 %.3f ms"
                           % (name, i + 1, *runs[name][-1]))
    finally:
        for c in clusters.values():
            if c.started:
                c.down()
    if not args.no_tls_cost:
        b3 = engine.pick_base(args.port + 200, 23, set())
        args.cost = tls_cost(sp, work, b3, args.seconds, args.rounds)
    report(args, moves, runs)


if __name__ == "__main__":
    try:
        main()
    except engine.BenchError as e:
        print("bench: %s" % e, file=sys.stderr)
        sys.exit(1)

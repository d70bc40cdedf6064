#!/usr/bin/python3
"""Latency benchmark (issue #6, "zero-downtime proof"): what clients see
while slots move.

Each run builds a fresh local cluster like bench/engine.py (3 primaries +
3 replicas, one empty primary joined, --keys keys of --value bytes), then
starts two independent client processes with steady, fixed-rate traffic:

  - `slotpilot traffic` (--series CSV: one line per second, --verify), and
  - bench/latency_client.py, a redis-py RedisCluster client that records
    every request and reads back every acknowledged write at the end,

waits --warmup + --before seconds (the baseline), moves 4096 slots onto
the empty primary with one mover, and keeps the traffic going --after
seconds. The movers, one run each on its own identical cluster:

  redis-cli    redis-cli --cluster rebalance E --cluster-use-empty-masters
  slotpilot    slotpilot rebalance E --use-empty-masters --yes
  guard-inc    the same with --max-latency-increase PCT (--guard-inc)
  guard-p99    the same with --max-p99-ms MS (--guard-p99-ms)
  paced        the same at a fixed pace, no guard (--paced "OPTIONS",
               default "--rate 300slots --window 1": redis-cli's pace)

"during" is the mover's whole wall time (from exec to exit). For the
redis-py client the phase p99s are exact (nearest rank over every request
of the phase). `slotpilot traffic` reports per-second p50/p99/p99.9/max
only, so its phase p99 is the 0.99 quantile of the ops-weighted mixture of
those seconds (each second's distribution interpolated linearly between
its reported percentiles); a second counts in the phase that holds its
midpoint. Prints a table, the issue's goal verdict, writes
bench/out/latency.json and, with gnuplot, bench/out/latency-RUN.png (p99
per second of both clients, move interval shaded).

    /usr/bin/python3 bench/latency.py --sp build/slotpilot
    /usr/bin/python3 bench/latency.py --keys 100000 --runs slotpilot,guard-inc

Asserts no timing. Exit 1 only when a cluster is unhealthy after a move, a
client cannot start, or a mover fails. Clusters are always stopped (through
their pid files); the client processes are stopped by their pid.
"""

import argparse
import csv
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import engine as E  # noqa: E402  (the cluster helpers of engine.py)

ROOT = E.ROOT
RUNS = ("redis-cli", "slotpilot", "guard-inc", "guard-p99", "paced")
GOAL_RATIO = 1.10
log = E.log
BenchError = E.BenchError


# ---------------------------------------------------------------------------
# statistics


def pct(values, q):
    """Nearest-rank quantile of a sorted list (None when empty)."""
    if not values:
        return None
    i = max(0, min(len(values) - 1, int(math.ceil(q * len(values))) - 1))
    return values[i]


def second_cdf(row, x):
    """Fraction of one second's requests at or below x ms, interpolated
    between (0,0), (p50,.5), (p99,.99), (p99.9,.999) and (max,1)."""
    pts = [(0.0, 0.0), (row["p50"], 0.5), (row["p99"], 0.99),
           (row["p999"], 0.999), (row["max"], 1.0)]
    if x >= pts[-1][0]:
        return 1.0
    for (x0, f0), (x1, f1) in zip(pts, pts[1:]):
        if x <= x1:
            return f1 if x1 <= x0 else f0 + (f1 - f0) * (x - x0) / (x1 - x0)
    return 1.0


def mixture_pct(rows, q):
    """q-quantile of the ops-weighted mixture of per-second rows."""
    rows = [r for r in rows if r["ops"] > 0]
    if not rows:
        return None
    n = float(sum(r["ops"] for r in rows))
    lo, hi = 0.0, max(r["max"] for r in rows)
    for _ in range(60):
        mid = (lo + hi) / 2
        if sum(r["ops"] * second_cdf(r, mid) for r in rows) / n >= q:
            hi = mid
        else:
            lo = mid
    return hi


def ratio(a, b):
    return a / b if a is not None and b else None


# ---------------------------------------------------------------------------
# the two clients


class Clients:
    """slotpilot traffic and the redis-py client, as child processes."""

    def __init__(self, a, sp, entry_port, out, name):
        self.a, self.sp, self.port = a, sp, entry_port
        self.series = os.path.join(out, "latency-%s-sp.csv" % name)
        self.raw = os.path.join(out, "latency-%s-py.csv" % name)
        self.sp_out = os.path.join(out, "latency-%s-sp.log" % name)
        self.py_out = os.path.join(out, "latency-%s-py.log" % name)
        self.procs = []
        self.files = []

    def _spawn(self, cmd, path):
        f = open(path, "w")
        self.files.append(f)
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=f,
                             stderr=subprocess.STDOUT)
        self.procs.append(p)
        return p

    def start(self, cap_s):
        for f in (self.series, self.raw):
            if os.path.exists(f):
                os.unlink(f)
        a = self.a
        self.t_sp = time.time()
        self.sp_proc = self._spawn(
            [self.sp, "traffic", "%s:%d" % (E.HOST, self.port),
             "--seconds", str(cap_s), "--rate", str(a.sp_rate),
             "--connections", str(a.sp_connections), "--read-ratio", "0.5",
             "--keys", "10000", "--value-size", "100",
             "--prefix", "lat:sp:", "--verify", "--series", self.series,
             "--json"], self.sp_out)
        self.py_proc = self._spawn(
            [sys.executable, os.path.join(HERE, "latency_client.py"),
             "--port", str(self.port), "--out", self.raw,
             "--rate", str(a.py_rate), "--keys", "10000",
             "--max-seconds", str(cap_s)], self.py_out)
        E.wait_until(lambda: os.path.exists(self.raw) or
                     self.py_proc.poll() is not None, 30,
                     "the redis-py client to connect", interval=0.05)
        E.wait_until(lambda: os.path.exists(self.series) or
                     self.sp_proc.poll() is not None, 30,
                     "slotpilot traffic to start", interval=0.05)
        for p, what in ((self.py_proc, self.py_out),
                        (self.sp_proc, self.sp_out)):
            if p.poll() is not None:
                raise BenchError("client exited early (rc=%d), see %s"
                                 % (p.returncode, what))
        return max(time.time(), self.t_sp)

    def stop(self, timeout=120):
        """SIGINT/SIGTERM to our own two children (by pid), then wait:
        both read their keys back before they exit."""
        for p, sig in ((getattr(self, "sp_proc", None), signal.SIGINT),
                       (getattr(self, "py_proc", None), signal.SIGTERM)):
            if p is not None and p.poll() is None:
                p.send_signal(sig)
        deadline = time.monotonic() + timeout
        for p in self.procs:
            try:
                p.wait(timeout=max(1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log("client pid %d did not stop: killing it" % p.pid)
                p.kill()
                p.wait()
        for f in self.files:
            f.close()
        self.files = []

    def sp_summary(self):
        last = None
        with open(self.sp_out) as f:
            for line in f:
                if line.startswith('{"event":"traffic"'):
                    last = json.loads(line)
        if last is None:
            raise BenchError("slotpilot traffic printed no summary, see %s"
                             % self.sp_out)
        return last

    def py_summary(self):
        last = None
        with open(self.py_out) as f:
            for line in f:
                if line.startswith('{"event": "latency_client"'):
                    last = json.loads(line)
        if last is None:
            raise BenchError("the redis-py client printed no summary, see %s"
                             % self.py_out)
        return last

    def sp_rows(self):
        rows = []
        with open(self.series) as f:
            for r in csv.DictReader(f):
                at = self.t_sp + float(r["seconds"])
                rows.append({"t": at - 0.5, "ops": int(r["ops"]),
                             "p50": float(r["p50_ms"]),
                             "p99": float(r["p99_ms"]),
                             "p999": float(r["p999_ms"]),
                             "max": float(r["max_ms"]),
                             "errors": int(r["errors"])})
        return rows

    def py_rows(self):
        """(t, lat_ms, ok) of every request."""
        out = []
        with open(self.raw) as f:
            next(f, None)
            for line in f:
                p = line.rstrip("\n").split(",")
                if len(p) == 4:
                    out.append((float(p[0]), float(p[2]), p[3] == "1"))
        return out


# ---------------------------------------------------------------------------
# one run


def mover_cmd(a, sp, run, entry, jdir, guard_p99):
    if run == "redis-cli":
        return [E.REDIS_CLI, "--cluster", "rebalance", entry,
                "--cluster-use-empty-masters", "--cluster-yes"]
    cmd = [sp, "rebalance", entry, "--use-empty-masters", "--yes",
           "--journal-dir", jdir]
    if run == "guard-inc":
        cmd += ["--max-latency-increase", "%g" % a.guard_inc]
    elif run == "guard-p99":
        cmd += ["--max-p99-ms", "%g" % guard_p99]
    elif run == "paced":
        cmd += a.paced.split()
    return cmd


def run_mover(cmd, timeout, log_path):
    """Runs the mover; past timeout, SIGINT (slotpilot then stops at a slot
    boundary, exit 5), then SIGKILL 60 s later. (rc, output, timed_out)."""
    with open(log_path, "w") as f:
        f.write("$ %s\n" % " ".join(cmd))
        f.flush()
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=f,
                             stderr=subprocess.STDOUT)
        timed_out = False
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            p.send_signal(signal.SIGINT)
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        f.write("[rc=%d]\n" % p.returncode)
    with open(log_path) as f:
        return p.returncode, f.read(), timed_out


def cluster_ok(c):
    rc, out = E.run([E.REDIS_CLI, "--cluster", "check", c.entry],
                    timeout=60, check=False)
    return rc == 0 and "[WARNING]" not in out and "[ERR]" not in out


def phase_stats(py, sp, t0, m0, m1, t_end):
    """Baseline [t0, m0), during [m0, m1], after (m1, t_end]."""
    res = {}
    spans = {"baseline": (t0, m0), "during": (m0, m1), "after": (m1, t_end)}
    for ph, (lo, hi) in spans.items():
        if ph == "after":
            lat = sorted(l for t, l, ok in py if lo < t <= hi)
            rows = [r for r in sp if lo < r["t"] <= hi]
        else:
            lat = sorted(l for t, l, ok in py if lo <= t < hi or
                         (ph == "during" and t == hi))
            rows = [r for r in sp if lo <= r["t"] < hi]
        if ph == "during" and not rows:  # a move shorter than a second
            rows = [min(sp, key=lambda r: abs(r["t"] - (lo + hi) / 2))]
        res[ph] = {
            "py_n": len(lat), "py_p50": pct(lat, 0.5),
            "py_p99": pct(lat, 0.99), "py_max": lat[-1] if lat else None,
            "sp_seconds": len(rows), "sp_ops": sum(r["ops"] for r in rows),
            "sp_p99": mixture_pct(rows, 0.99),
            "sp_worst_second_p99": max((r["p99"] for r in rows),
                                       default=None),
            "sp_max": max((r["max"] for r in rows), default=None)}
    return res


GUARD_RE = re.compile(r"Latency guard:.*")


def migrate_stats(c):
    """{port: (calls, usec)} of MIGRATE from INFO commandstats: the time
    each node spent inside MIGRATE, which is time its event loop served no
    client (MIGRATE is synchronous on the source)."""
    out = {}
    for port in c.all_ports():
        st = E.info_dict(port, "commandstats").get("cmdstat_migrate")
        kv = dict(x.split("=", 1) for x in st.split(",")) if st else {}
        out[port] = (int(kv.get("calls", 0)), int(kv.get("usec", 0)))
    return out


def blocked_share(before, after, seconds):
    """The busiest source: its share of the move spent inside MIGRATE, and
    the average MIGRATE call, from two migrate_stats snapshots."""
    worst = None
    for port in after:
        calls = after[port][0] - before.get(port, (0, 0))[0]
        usec = after[port][1] - before.get(port, (0, 0))[1]
        if calls > 0 and (worst is None or usec > worst[1]):
            worst = (calls, usec)
    if worst is None or seconds <= 0:
        return None
    return {"pct": round(100.0 * worst[1] / 1e6 / seconds, 2),
            "calls": worst[0], "us_per_call": round(worst[1] / worst[0], 1),
            "seconds": round(worst[1] / 1e6, 3)}


def one_run(a, sp, run, base, by_slot, counts, guard_p99):
    c = E.Cluster(run, sp, a.workdir, base, 3, 1, a.out)
    jdir = os.path.join(a.out, "latency-journal-%s" % run)
    shutil.rmtree(jdir, ignore_errors=True)
    os.makedirs(jdir)
    clients = Clients(a, sp, base, a.out, run)
    try:
        log("%s: cluster on %d..%d (empty primary %d)"
            % (run, base, base + 5, c.new_port))
        c.up()
        t = time.monotonic()
        c.load(by_slot, a.keys)
        c.wait_replicas()
        log("%s: loaded %d keys in %.1fs" % (run, a.keys,
                                              time.monotonic() - t))
        cap = a.warmup + a.before + a.move_timeout + a.after + 30
        t_ready = clients.start(cap)
        t_base = t_ready + a.warmup
        time.sleep(max(0.0, t_base + a.before - time.time()))
        cmd = mover_cmd(a, sp, run, c.entry, jdir, guard_p99)
        log("%s: traffic running; moving: %s" % (run, " ".join(cmd)))
        mlog = os.path.join(a.out, "latency-%s-mover.log" % run)
        if os.path.exists(mlog):
            os.unlink(mlog)
        ms0 = migrate_stats(c)
        m0 = time.time()
        rc, out, timed_out = run_mover(cmd, a.move_timeout, mlog)
        m1 = time.time()
        blocked = blocked_share(ms0, migrate_stats(c), m1 - m0)
        if timed_out:
            log("%s: stopped after --move-timeout %gs (SIGINT: it stops at "
                "a slot boundary)" % (run, a.move_timeout))
        time.sleep(a.after)
        t_end = time.time()
        clients.stop()
        if rc != 0 and not (timed_out and rc == 5):
            raise BenchError("%s: mover failed (rc=%d), see %s"
                             % (run, rc, mlog))
        E.wait_until(lambda: cluster_ok(c), 60,
                     "%s: redis-cli --cluster check to pass" % run, 1.0)
        owners = c.slot_owners()
        slots = sum(1 for o in owners if o == c.new_port)
        moved = sum(counts[s] for s in range(E.NSLOTS)
                    if owners[s] == c.new_port)
        spj, pyj = clients.sp_summary(), clients.py_summary()
        want = a.keys + spj["verify"]["keys_written"] + pyj["keys_written"]
        got = c.dbsize_sum()
        if got != want:
            log("%s: WARNING: DBSIZE sum %d, expected %d" % (run, got, want))
        g = GUARD_RE.search(out)
        st = phase_stats(clients.py_rows(), clients.sp_rows(), t_base,
                         m0, m1, t_end)
        ph = spj["phases"][0]
        res = {"run": run, "command": " ".join(cmd), "slots": slots,
               "keys_moved": moved, "move_s": round(m1 - m0, 3),
               "keys_per_s": round(moved / (m1 - m0), 1),
               "dbsize_ok": got == want, "timed_out": timed_out,
               "phases": st,
               "py": {"errors": pyj["errors"], "lost": pyj["lost"],
                      "stale": pyj["stale"], "unreadable": pyj["unreadable"],
                      "sent": pyj["sent"], "behind": pyj["behind"],
                      "keys_written": pyj["keys_written"],
                      "messages": pyj["messages"]},
               "sp": {"errors": ph["errors"], "lost": spj["verify"]["lost"],
                      "stale": spj["verify"]["stale"] + ph["stale_reads"],
                      "unreadable": spj["verify"]["unreadable"],
                      "ops": ph["ops"], "failed": ph["failed"],
                      "events": ph["events"]},
               "guard": g.group(0) if g else None,
               "blocked": blocked,
               "t": {"traffic": clients.t_sp, "baseline": t_base,
                     "move_start": m0, "move_end": m1, "end": t_end}}
        log("%s: %d slots, %d keys in %.2fs" % (run, slots, moved, m1 - m0))
        if res["guard"]:
            log("%s: %s" % (run, res["guard"]))
        return res, clients
    finally:
        clients.stop()
        if c.started:
            c.down()


# ---------------------------------------------------------------------------
# output


def fmt(v, nd=2):
    return "-" if v is None else "%.*f" % (nd, v)


def fmt_ratio(v):
    return "-" if v is None else "%.2fx" % v


def print_table(results, a):
    print()
    print("Latency benchmark: %d keys x %d B, 3 primaries + 3 replicas, "
          "4096 slots to 1 new empty primary; clients: redis-py %g ops/s "
          "(1 conn), slotpilot traffic %g ops/s (%d conns), read ratio 0.5"
          % (a.keys, a.value, a.py_rate, a.sp_rate, a.sp_connections))
    hdr = ("%-10s %7s %8s | %-26s | %-26s | %-15s | %-9s | %-9s"
           % ("run", "move s", "keys/s",
              "redis-py p99 ms base/move", "sp-traffic p99 base/move",
              "max ms py/sp", "errors", "lost"))
    print(hdr)
    print("-" * len(hdr))
    for r in results:
        b, d = r["phases"]["baseline"], r["phases"]["during"]
        py = "%s / %s = %s" % (fmt(b["py_p99"]), fmt(d["py_p99"]),
                               fmt_ratio(ratio(d["py_p99"], b["py_p99"])))
        sp = "%s / %s = %s" % (fmt(b["sp_p99"]), fmt(d["sp_p99"]),
                               fmt_ratio(ratio(d["sp_p99"], b["sp_p99"])))
        mx = "%s / %s" % (fmt(d["py_max"], 1), fmt(d["sp_max"], 1))
        mv = "%.2f" % r["move_s"] + ("*" if r["timed_out"] else "")
        print("%-10s %7s %8.0f | %-26s | %-26s | %-15s | %-9s | %-9s"
              % (r["run"], mv, r["keys_per_s"], py, sp, mx,
                 "%d/%d" % (r["py"]["errors"], r["sp"]["errors"]),
                 "%d/%d" % (r["py"]["lost"], r["sp"]["lost"])))
    print("(errors and lost writes: redis-py/slotpilot traffic; stale reads:"
          " %s)" % ", ".join("%s %d/%d" % (r["run"], r["py"]["stale"],
                                          r["sp"]["stale"]) for r in results))
    print("(redis-py requests skipped because the client was stalled over "
          "1 s, so its p99 understates: %s)"
          % ", ".join("%s %d" % (r["run"], r["py"]["behind"])
                      for r in results))
    for r in results:
        if r["timed_out"]:
            print("* %s: stopped at --move-timeout after %d of 4096 slots "
                  "(%d keys); at that pace all 4096 take ~%.0f s"
                  % (r["run"], r["slots"], r["keys_moved"],
                     r["move_s"] * 4096 / max(1, r["slots"])))
    for r in results:
        if r["guard"]:
            print("%s: %s" % (r["run"], r["guard"]))
    print("busiest source inside MIGRATE (INFO commandstats; its clients "
          "wait meanwhile): " + "; ".join(
              "%s %.3f s = %.1f%% of the move, %d calls of %.0f us"
              % (r["run"], r["blocked"]["seconds"], r["blocked"]["pct"],
                 r["blocked"]["calls"], r["blocked"]["us_per_call"])
              for r in results if r.get("blocked")))


def verdicts(results):
    """The issue's goal, for every guarded run."""
    by = {r["run"]: r for r in results}
    cli = by.get("redis-cli")
    out = []
    for r in results:
        if not r["run"].startswith("guard"):
            continue
        b, d = r["phases"]["baseline"], r["phases"]["during"]
        rp = ratio(d["py_p99"], b["py_p99"])
        rs = ratio(d["sp_p99"], b["sp_p99"])
        checks = [
            ("redis-py p99 ratio %s <= %.2f" % (fmt_ratio(rp), GOAL_RATIO),
             rp is not None and rp <= GOAL_RATIO),
            ("slotpilot-traffic p99 ratio %s <= %.2f"
             % (fmt_ratio(rs), GOAL_RATIO),
             rs is not None and rs <= GOAL_RATIO)]
        if cli:
            checks.append(("move %.2f s%s <= redis-cli %.2f s"
                           % (r["move_s"],
                              " (stopped, unfinished)" if r["timed_out"]
                              else "", cli["move_s"]),
                           not r["timed_out"] and
                           r["move_s"] <= cli["move_s"]))
        else:
            checks.append(("move time vs redis-cli (not run)", False))
        errs = r["py"]["errors"] + r["sp"]["errors"]
        lost = r["py"]["lost"] + r["sp"]["lost"]
        checks.append(("errors %d == 0" % errs, errs == 0))
        checks.append(("lost writes %d == 0" % lost, lost == 0))
        met = all(ok for _, ok in checks)
        out.append({"run": r["run"], "met": met,
                    "checks": [{"what": w, "ok": ok} for w, ok in checks]})
    return out


def print_verdicts(vs):
    print()
    if not vs:
        print("goal: no guarded run, no verdict")
    for v in vs:
        print("goal (%s): %s" % (v["run"], "MET" if v["met"] else "NOT MET"))
        for c in v["checks"]:
            print("  [%s] %s" % ("ok" if c["ok"] else "no", c["what"]))


def plot(res, clients, out, ymax, gp):
    """PNG: p99 per second of both clients, the move shaded."""
    t0 = res["t"]["traffic"]
    dat = os.path.join(out, "latency-%s-plot.dat" % res["run"])
    bins = {}
    for t, l, ok in clients.py_rows():
        bins.setdefault(int(t - t0), []).append(l)
    with open(dat, "w") as f:
        f.write("# t_s redis-py_p99_ms\n")
        for s in sorted(bins):
            f.write("%.1f %.4f\n" % (s + 0.5, pct(sorted(bins[s]), 0.99)))
        f.write("\n\n# t_s slotpilot-traffic_p99_ms\n")
        for r in clients.sp_rows():
            f.write("%.1f %.4f\n" % (r["t"] - t0, max(r["p99"], 0.001)))
    m0, m1 = res["t"]["move_start"] - t0, res["t"]["move_end"] - t0
    png = os.path.join(out, "latency-%s.png" % res["run"])
    b, d = res["phases"]["baseline"], res["phases"]["during"]
    title = ("%s: move %.1f s; redis-py p99 %s -> %s ms, slotpilot traffic "
             "p99 %s -> %s ms" % (res["run"], res["move_s"],
                                  fmt(b["py_p99"]), fmt(d["py_p99"]),
                                  fmt(b["sp_p99"]), fmt(d["sp_p99"])))
    script = "\n".join([
        "set terminal pngcairo size 1000,520 font 'sans,10'",
        "set output '%s'" % png,
        "set title \"%s\"" % title,
        "set xlabel 'seconds since traffic start'",
        "set ylabel 'p99 latency per second (ms, log)'",
        "set logscale y",
        "set yrange [0.05:%g]" % ymax,
        "set grid",
        "set key below horizontal",
        "set object 1 rect from %f, graph 0 to %f, graph 1 "
        "fc rgb '#ffd8a8' fs solid 0.5 noborder behind" % (m0, max(m1, m0 + 0.2)),
        "set label 1 'move' at %f, graph 0.95" % (m0 + 0.1),
        "plot '%s' index 0 using 1:2 with linespoints pt 7 ps 0.6 "
        "lw 2 title 'redis-py RedisCluster', "
        "'' index 1 using 1:2 with linespoints pt 5 ps 0.6 lw 2 "
        "title 'slotpilot traffic'" % dat, ""])
    p = subprocess.run([gp], input=script.encode(), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT)
    if p.returncode != 0:
        log("gnuplot failed: %s" % p.stdout.decode("utf-8", "replace"))
        return None
    return png


# ---------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sp", default=os.path.join(ROOT, "build", "slotpilot"))
    ap.add_argument("--keys", type=int, default=1000000)
    ap.add_argument("--value", type=int, default=100, help="value bytes")
    ap.add_argument("--runs", default="redis-cli,slotpilot,guard-inc",
                    help="comma list of %s" % ",".join(RUNS))
    ap.add_argument("--guard-inc", type=float, default=10.0,
                    help="--max-latency-increase for guard-inc (percent)")
    ap.add_argument("--guard-p99-ms", type=float, default=None,
                    help="--max-p99-ms for guard-p99 (default: 1.1 x the "
                    "redis-py baseline p99 of the first run, min 0.1)")
    ap.add_argument("--paced", default="--rate 300slots --window 1",
                    help="slotpilot options of the 'paced' run (a fixed "
                    "pace instead of the guard's)")
    ap.add_argument("--port", type=int, default=17101,
                    help="first port; each run takes the next free "
                    "block of 100")
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--before", type=float, default=5.0)
    ap.add_argument("--after", type=float, default=5.0)
    ap.add_argument("--move-timeout", type=float, default=600.0,
                    help="past it a mover gets SIGINT; the run reports the "
                    "slots moved so far")
    ap.add_argument("--sp-rate", type=float, default=2000)
    ap.add_argument("--sp-connections", type=int, default=4)
    ap.add_argument("--py-rate", type=float, default=1000)
    ap.add_argument("--out", default=os.path.join(HERE, "out"))
    ap.add_argument("--workdir", default=None,
                    help="where clusters live (default bench/out/latency-run)")
    a = ap.parse_args()
    runs = [r for r in a.runs.split(",") if r]
    bad = [r for r in runs if r not in RUNS]
    if bad or not runs:
        ap.error("--runs: unknown %s (choose from %s)" % (bad, RUNS))
    if a.keys <= 0 or a.before <= 0 or a.after < 0:
        ap.error("--keys and --before must be > 0")

    sp = os.path.abspath(a.sp)
    if not os.access(sp, os.X_OK):
        raise BenchError("slotpilot binary not found: %s (run make)" % sp)
    os.makedirs(a.out, exist_ok=True)
    a.workdir = os.path.abspath(a.workdir or os.path.join(a.out,
                                                          "latency-run"))
    gp = shutil.which("gnuplot")
    if gp is None:
        log("gnuplot not found (apt-get install gnuplot-nox): no PNG")

    def on_term(signum, frame):
        raise KeyboardInterrupt()
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)

    log("generating %d keys of %d-byte values" % (a.keys, a.value))
    by_slot = E.build_commands(a.keys, a.value)
    counts = [len(s) for s in by_slot]
    results, kept = [], []
    guard_p99 = a.guard_p99_ms
    t_start = time.monotonic()
    used = set()
    try:
        for run in runs:
            base = E.pick_base(a.port, 7, used)
            used |= {p for q in range(base, base + 7) for p in (q, q + 10000)}
            if base + 6 + 10000 >= 32768:
                raise BenchError("ports from %d: bus ports reach 32768"
                                 % base)
            if run == "guard-p99" and guard_p99 is None:
                b = results[0]["phases"]["baseline"]["py_p99"] if results \
                    else None
                guard_p99 = round(max(0.1, 1.1 * (b or 0.1)), 2)
                log("guard-p99: --max-p99-ms %g (1.1 x the first run's "
                    "redis-py baseline p99)" % guard_p99)
            res, cl = one_run(a, sp, run, base, by_slot, counts, guard_p99)
            results.append(res)
            kept.append(cl)
    finally:
        try:
            os.rmdir(a.workdir)
        except OSError:
            pass
    del by_slot

    print_table(results, a)
    vs = verdicts(results)
    print_verdicts(vs)
    pngs = []
    if gp:
        ymax = 10 ** math.ceil(math.log10(max(
            [1.0] + [r["phases"][ph]["sp_worst_second_p99"] or 0
                     for r in results for ph in ("during", "after")] +
            [r["phases"]["during"]["py_max"] or 0 for r in results])))
        for r, cl in zip(results, kept):
            png = plot(r, cl, a.out, ymax, gp)
            if png:
                pngs.append(os.path.relpath(png, ROOT))
        print("plots: %s" % " ".join(pngs))

    repro = "/usr/bin/python3 bench/latency.py --sp %s" % a.sp
    if a.keys != 1000000:
        repro += " --keys %d" % a.keys
    if a.runs != "redis-cli,slotpilot,guard-inc":
        repro += " --runs %s" % a.runs
    if "guard-p99" in runs:
        repro += " --guard-p99-ms %g" % guard_p99
    print("reproduce: %s" % repro)
    doc = {"benchmark": "latency", "keys": a.keys, "value_bytes": a.value,
           "clients": {"redis_py_rate": a.py_rate, "sp_rate": a.sp_rate,
                       "sp_connections": a.sp_connections},
           "before_s": a.before, "after_s": a.after, "warmup_s": a.warmup,
           "guard_inc_pct": a.guard_inc, "guard_p99_ms": guard_p99,
           "cpus": os.cpu_count(), "results": results, "goal": vs,
           "plots": pngs, "reproduce": repro,
           "total_seconds": round(time.monotonic() - t_start, 1),
           "when": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    path = os.path.join(a.out, "latency.json")
    with open(path, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    print("wrote %s" % os.path.relpath(path, ROOT))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        print("bench/latency.py: error: %s" % e, file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("bench/latency.py: interrupted", file=sys.stderr)
        sys.exit(130)

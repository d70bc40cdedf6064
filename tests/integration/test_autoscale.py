"""slotpilot autoscale: the daemon against real clusters from `slotpilot local up`.

Every cluster lives in a tmp_path directory D (nodes in D/<port>/) on a free
port range whose bus ports stay below the ephemeral range, and is torn down
in a finalizer (`local down --purge`, then every redis-server whose pid file
is under D). Every process a test starts (the daemon, Prometheus,
redis_exporter, Chromium) is started with Popen, tracked by its pid and
stopped in a finalizer, also when the test fails. Nothing is pkill'ed.

The daemon runs with intervals of 0.2-0.5 s so that sustained windows are
short; no assertion is about time.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.request

import pytest
import redis
from redis.cluster import ClusterNode, RedisCluster

from conftest import (HOST, SLOTPILOT, follow_redirects_to_new_primaries, is_redis_server_pid,
                      kill_pids_in_dir, parse_cluster_nodes, pick_port, pick_port_range,
                      pid_alive, read_pidfile, redis_cli_check, redis_cli_clean, run_sp,
                      stop_pid, wait_until)

PROMETHEUS = "/usr/bin/prometheus"
EXPORTER = "/usr/bin/prometheus-redis-exporter"
PROMTOOL = "/usr/bin/promtool"
CHROMIUM = "/usr/bin/chromium"

# ---------------------------------------------------------------------------
# processes


class Proc:
    """A process we started, tracked by pid, with its output in files."""

    def __init__(self, argv, out, err, **kw):
        self.argv = argv
        self.out_path, self.err_path = str(out), str(err)
        self._out = open(self.out_path, "wb")
        self._err = open(self.err_path, "wb")
        self.p = subprocess.Popen(argv, stdout=self._out, stderr=self._err,
                                  stdin=subprocess.DEVNULL, **kw)
        self.pid = self.p.pid

    def alive(self):
        return self.p.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Signal, wait up to timeout, then SIGKILL. Returns the exit code."""
        if self.p.poll() is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.p.wait(10)
        self._out.close()
        self._err.close()
        return self.p.returncode

    def stdout(self):
        with open(self.out_path, errors="replace") as f:
            return f.read()

    def stderr(self):
        with open(self.err_path, errors="replace") as f:
            return f.read()


@pytest.fixture
def procs():
    """Start processes with procs.start(...); all are stopped at teardown."""
    started = []

    class Starter:
        def start(self, argv, out, err, **kw):
            p = Proc(argv, out, err, **kw)
            started.append(p)
            return p

    try:
        yield Starter()
    finally:
        for p in reversed(started):
            try:
                p.stop(signal.SIGTERM, 20)
            except Exception:  # noqa: BLE001 - keep stopping the others
                pass


# ---------------------------------------------------------------------------
# clusters


class Cluster:
    def __init__(self, d, base, n):
        self.d, self.base, self.n = d, base, n

    @property
    def entry(self):
        return "%s:%d" % (HOST, self.base)

    def client(self, port=None):
        return redis.Redis(host=HOST, port=port or self.base, socket_timeout=10,
                           decode_responses=True)

    def ports(self):
        return sorted(int(x) for x in os.listdir(str(self.d))
                      if x.isdigit() and os.path.isdir(os.path.join(str(self.d), x)))

    def view(self, port=None):
        out = subprocess.run(["/usr/bin/redis-cli", "-h", HOST, "-p", str(port or self.base),
                              "CLUSTER", "NODES"], capture_output=True, text=True,
                             timeout=15, stdin=subprocess.DEVNULL).stdout
        return parse_cluster_nodes(out)

    def primaries(self):
        return [v for v in self.view() if v["primary"]]

    def pid_of(self, port):
        return read_pidfile(os.path.join(str(self.d), str(port), "redis.pid"))

    def config_all(self, *args):
        for v in self.view():
            self.client(int(v["addr"].rsplit(":", 1)[1])).config_set(*args)

    def rc(self):
        return follow_redirects_to_new_primaries(
            RedisCluster(startup_nodes=[ClusterNode(HOST, self.base)],
                         socket_timeout=10, decode_responses=True))


def redis_pids_under(d):
    d = os.path.realpath(str(d))
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                cwd = os.readlink("/proc/%s/cwd" % name)
            except OSError:
                continue
            if (cwd == d or cwd.startswith(d + os.sep)) and is_redis_server_pid(int(name)):
                out.append(int(name))
    return out


def cleanup_local(d):
    try:
        run_sp("local", "down", "--dir", str(d), "--purge", timeout=60)
    except BaseException:  # noqa: BLE001 - the safety net below must run
        pass
    kill_pids_in_dir(d)
    for pid in redis_pids_under(d):
        stop_pid(pid)


def make_cluster(tmp_path, primaries=3, replicas=1):
    d = tmp_path / "cluster"
    d.mkdir()
    n = primaries * (1 + replicas)
    base = pick_port_range(n + 8)  # expand spawns above the highest port
    p = run_sp("local", "up", "--dir", str(d), "--port", base, "--primaries", primaries,
               "--replicas", replicas, "--node-timeout", 2000, timeout=180)
    assert p.returncode == 0, p.stderr
    c = Cluster(d, base, n)
    p = run_sp("check", c.entry, "--expect-nodes", n, "--wait", 30, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    return c


@pytest.fixture
def cluster_factory(tmp_path):
    made = []

    def make(primaries=3, replicas=1):
        c = make_cluster(tmp_path, primaries, replicas)
        made.append(c)
        return c

    try:
        yield make
    finally:
        for c in made:
            cleanup_local(c.d)


# ---------------------------------------------------------------------------
# the daemon


def write_config(path, text):
    with open(str(path), "w") as f:
        f.write(text)
    return str(path)


def base_config(tmp_path, extra=""):
    return ("[daemon]\ninterval = 0.3s\njournal_dir = %s\n%s" %
            (tmp_path / "journal", extra))


def start_daemon(procs, tmp_path, entry, config, *args, name="daemon"):
    cfg = write_config(tmp_path / ("%s.ini" % name), config)
    return procs.start([SLOTPILOT, "autoscale", entry, "--config", cfg] + list(args),
                       tmp_path / ("%s.out" % name), tmp_path / ("%s.err" % name))


def events(d):
    out = []
    for line in d.stdout().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


def wait_event(d, pred, timeout, desc):
    def found():
        assert d.alive() or any(pred(e) for e in events(d)), (
            "the daemon exited (%s)\nstdout: %s\nstderr: %s" % (
                d.p.returncode, d.stdout()[-3000:], d.stderr()[-3000:]))
        for e in events(d):
            if pred(e):
                return e
        return None
    try:
        return wait_until(found, timeout, 0.2, desc)
    except AssertionError as e:
        raise AssertionError("%s\nevents: %s\nstderr: %s" % (
            e, d.stdout()[-4000:], d.stderr()[-3000:]))


def http_get(port, path, timeout=5):
    with urllib.request.urlopen("http://%s:%d%s" % (HOST, port, path),
                                timeout=timeout) as r:
        return r.status, r.read().decode()


def status(port):
    return json.loads(http_get(port, "/status")[1])


def fill_until(c, ratio, prefix, value_size=1000, batch=1500, limit=200000):
    """Writes keys (through the slot owners) until some primary's
    used_memory/maxmemory passes ratio; returns {key: value}."""
    kv = {}
    val = "x" * value_size
    rc = c.rc()
    try:
        i = 0
        while i < limit:
            pipe = rc.pipeline()
            for k in range(i, i + batch):
                key = "%s:%d" % (prefix, k)
                kv[key] = val
                pipe.set(key, val)
            pipe.execute()
            i += batch
            top = 0
            for v in c.primaries():
                info = c.client(int(v["addr"].rsplit(":", 1)[1])).info("memory")
                if info["maxmemory"]:
                    top = max(top, info["used_memory"] / info["maxmemory"])
            if top > ratio:
                return kv
    finally:
        rc.close()
    raise AssertionError("memory never passed %.2f" % ratio)


def assert_keys(c, kv):
    rc = c.rc()
    try:
        keys = list(kv)
        bad = []
        for i in range(0, len(keys), 1000):
            chunk = keys[i:i + 1000]
            bad += [k for k, v in zip(chunk, rc.mget_nonatomic(chunk)) if v != kv[k]]
        assert not bad, "%d of %d keys missing or wrong, e.g. %s" % (
            len(bad), len(keys), bad[:5])
    finally:
        rc.close()


def assert_balanced_and_healthy(c, primaries, nodes):
    p = run_sp("check", c.entry, "--expect-nodes", nodes, "--expect-primaries", primaries,
               "--min-replicas", 1, "--wait", 60, timeout=90)
    assert p.returncode == 0, p.stdout + p.stderr
    rc, out = redis_cli_check(c.entry)
    assert redis_cli_clean(rc, out), out
    counts = [sum(b - a + 1 for a, b in v["slots"]) for v in c.primaries()]
    assert len(counts) == primaries and max(counts) - min(counts) <= 1, counts


# ---------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize("text,line,what", [
    ("[daemon]\ninterval = 1\nintervall = 2\n", 3, "unknown key"),
    ("[scale_out]\nmemory_ratio = 1.5\n", 2, "memory_ratio"),
    ("[limits]\nmax_primaries = 4\nmin_primaries = 5\n", 3, "above max_primaries"),
    ("[source]\nsource = prometheus\n", 2, "needs prometheus_url"),
])
def test_bad_config_is_refused_naming_the_line(tmp_path, text, line, what):
    cfg = write_config(tmp_path / "bad.ini", text)
    p = run_sp("autoscale", "127.0.0.1:1", "--config", cfg, timeout=20)
    assert p.returncode == 2, p.stderr
    assert "%s:%d:" % (cfg, line) in p.stderr and what in p.stderr, p.stderr
    assert p.stdout == ""


def test_missing_config_file_is_a_usage_error(tmp_path):
    p = run_sp("autoscale", "127.0.0.1:1", "--config", str(tmp_path / "none.ini"),
               timeout=20)
    assert p.returncode == 2 and "none.ini" in p.stderr, p.stderr


# ---------------------------------------------------------------------------
# dry run, /metrics, /status, the page


def test_dry_run_decides_but_changes_nothing_and_serves_pages(
        procs, cluster_factory, tmp_path):
    c = cluster_factory()
    c.config_all("maxmemory", "64mb")
    before = (sorted(v["id"] for v in c.view()), c.ports())
    port = pick_port()
    d = start_daemon(procs, tmp_path, c.entry, base_config(
        tmp_path, "dry_run = true\n[scale_out]\nmemory_ratio = 0.01\nsustain = 0\n"
        "[scale_in]\nmemory_ratio = 0\nhysteresis = 0\n"),
        "--listen", "%s:%d" % (HOST, port))
    dec = wait_event(d, lambda e: e["event"] == "decision" and e["action"] == "scale-out",
                     60, "a dry-run scale-out decision")
    assert dec["dry_run"] is True and dec["rule"] == "memory-high"
    assert dec["target"] == 4 and dec["primaries"] == 3
    assert dec["value"] > 0.01 and len(dec["nodes"]) == 3
    # the cooldown holds the next one, as it would for real
    wait_event(d, lambda e: e.get("held_by") == "cooldown", 30, "a held decision")

    st, text = http_get(port, "/metrics")
    assert st == 200
    p = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 0, p.stdout + p.stderr
    assert re.search(r'^slotpilot_decisions_total\{action="scale-out"\} [1-9]', text, re.M)
    assert re.search(r'^slotpilot_node_slots\{node="%s",role="primary"\} \d+' %
                     re.escape(c.entry), text, re.M)
    assert "slotpilot_cluster_state_ok 1" in text
    assert http_get(port, "/healthz") == (200, "ok\n")
    s = status(port)
    assert s["dry_run"] is True and s["cluster"]["primaries"] == 3
    assert sorted(n["addr"] for n in s["nodes"]) == ["%s:%d" % (HOST, p_) for p_ in before[1]]
    assert s["last_decision"]["rule"] == "memory-high"

    dom = chromium_dom(procs, tmp_path, port)
    for p_ in before[1]:
        assert 'data-addr="%s:%d"' % (HOST, p_) in dom, dom[:3000]
    cells = re.findall(r'<div class="cell" title="slots (\d+)-\d+: ([0-9.:]+)"', dom)
    assert len(cells) == 128, dom[:3000]
    assert {a for _, a in cells} == {v["addr"] for v in c.primaries()}
    assert re.search(r'id="state"[^>]*>ok<', dom), dom[:3000]

    assert d.stop() == 0, d.stderr()
    assert (sorted(v["id"] for v in c.view()), c.ports()) == before
    assert not any(e["event"] == "action" for e in events(d))
    assert events(d)[-1]["event"] == "stop"


def chromium_dom(procs, tmp_path, port):
    """The page after its script ran, as headless Chromium renders it."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip("chromium is not installed")
    prof = tmp_path / "chromium-profile"
    ch = procs.start([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                      "--no-first-run", "--user-data-dir=%s" % prof,
                      "--virtual-time-budget=5000", "--dump-dom",
                      "http://%s:%d/" % (HOST, port)],
                     tmp_path / "chromium.out", tmp_path / "chromium.err")
    try:
        ch.p.wait(90)
    except subprocess.TimeoutExpired:
        pass
    ch.stop()
    return ch.stdout()

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

import base64
import http.server
import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
import redis
from redis.cluster import ClusterNode, RedisCluster

from conftest import (HOST, SLOTPILOT, follow_redirects_to_new_primaries, make_cluster_with_redis_cli,
                      parse_cluster_nodes, pick_port, pick_port_range,
                      pid_alive, read_pidfile, redis_cli_check, redis_cli_clean, run_sp,
                      wait_until)
from conftest import SERVER, cleanup_local  # shared helpers
from harness import make_tls_files

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


def make_cluster(tmp_path, primaries=3, replicas=1):
    d = tmp_path / "cluster"
    d.mkdir()
    n = primaries * (1 + replicas)
    base = pick_port_range(n + 8)  # expand spawns above the highest port
    p = run_sp("local", "up", "--dir", str(d), "--port", base, "--primaries", primaries,
               "--replicas", replicas, "--node-timeout", 2000, "--server", SERVER,
               timeout=180)
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


def fill_until(c, ratio, prefix, value_size=1000, batch=500, limit=200000):
    """Writes keys (through the slot owners) until some primary's
    used_memory/maxmemory passes ratio without counting client buffers
    (they shrink once the writer goes: the daemon must still see the
    pressure after it); returns {key: value}."""
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
                    used = info["used_memory"] - info.get("mem_clients_normal", 0)
                    top = max(top, used / info["maxmemory"])
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


def assert_checks_pass(c, primaries, nodes, min_replicas=1):
    """slotpilot check with the expected shape, then redis-cli --cluster check."""
    p = run_sp("check", c.entry, "--expect-nodes", nodes, "--expect-primaries", primaries,
               "--min-replicas", min_replicas, "--wait", 60, timeout=90)
    assert p.returncode == 0, p.stdout + p.stderr
    last = []

    def clean():  # redis-cli reads one view at a time: let gossip settle
        last[:] = [redis_cli_check(c.entry)]
        return redis_cli_clean(*last[0])
    try:
        wait_until(clean, 30, 0.5, "redis-cli --cluster check to pass")
    except AssertionError:
        raise AssertionError("redis-cli --cluster check: %s" % (last[0][1],))


def assert_balanced_and_healthy(c, primaries, nodes):
    assert_checks_pass(c, primaries, nodes)
    counts = [sum(b - a + 1 for a, b in v["slots"]) for v in c.primaries()]
    assert len(counts) == primaries and max(counts) - min(counts) <= 1, counts


# ---------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize("text,line,what", [
    ("[daemon]\ninterval = 1\nintervall = 2\n", 3, "unknown key"),
    ("[scale_out]\nmemory_ratio = 1.5\n", 2, "memory_ratio"),
    ("[limits]\nmax_primaries = 4\nmin_primaries = 5\n", 3, "above max_primaries"),
    ("[source]\nsource = prometheus\n", 2, "needs prometheus_url"),
    ("[cluster]\ntls_cacert = /ca.crt\n", 2, "tls_cacert needs tls = true"),
])
def test_bad_config_is_refused_naming_the_line(tmp_path, text, line, what):
    cfg = write_config(tmp_path / "bad.ini", text)
    p = run_sp("autoscale", "127.0.0.1:1", "--config", cfg, timeout=20)
    assert p.returncode == 2, p.stderr
    assert "%s:%d:" % (cfg, line) in p.stderr and what in p.stderr, p.stderr
    assert p.stdout == ""


def test_config_tls_with_an_unreadable_ca_is_a_usage_error_naming_the_file(tmp_path):
    cfg = write_config(tmp_path / "tls.ini", "[cluster]\ntls = true\n"
                       "tls_cacert = %s\n" % (tmp_path / "no-ca.crt"))
    p = run_sp("autoscale", "127.0.0.1:1", "--config", cfg, timeout=20)
    assert p.returncode == 2, p.stderr
    assert cfg in p.stderr and "no-ca.crt" in p.stderr, p.stderr


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


# ---------------------------------------------------------------------------
# memory pressure


PRESSURE = ("[scale_out]\nmemory_ratio = 0.75\nsustain = 0.5s\n"
            "[limits]\ncooldown = 1h\n[engine]\nnode_wait = 90s\n")


def test_memory_pressure_scales_out_once_and_cooldown_holds_the_next(
        procs, cluster_factory, tmp_path):
    c = cluster_factory()
    c.config_all("maxmemory", "8mb")
    kv = fill_until(c, 0.78, "fill")
    port = pick_port()
    # PRESSURE ends in [engine]: the guard's budget from the INI
    d = start_daemon(procs, tmp_path, c.entry,
                     base_config(tmp_path) + PRESSURE + "max_p99_ms = 40\n",
                     "--listen", "%s:%d" % (HOST, port))
    dec = wait_event(d, lambda e: e["event"] == "decision" and e["action"] == "scale-out",
                     60, "the scale-out decision")
    assert dec["rule"] == "memory-high" and dec["value"] > 0.75 and dec["target"] == 4
    trig = [n for n in dec["nodes"] if n["node"] == dec["node"]][0]
    assert trig["used_memory"] > 0.75 * trig["maxmemory"]
    done = wait_event(d, lambda e: e["event"] == "action" and e["status"] != "started",
                      240, "the scale-out to finish")
    assert done["status"] == "ok" and done["action"] == "scale-out", done
    assert done["slots_moved"] >= 4000 and done["keys_moved"] > 0, done
    assert_balanced_and_healthy(c, 4, 8)
    assert_keys(c, kv)
    # The new nodes got the primaries' maxmemory, so the rule sees them.
    assert all(c.client(int(v["addr"].rsplit(":", 1)[1])).config_get("maxmemory")
               ["maxmemory"] == str(8 << 20) for v in c.view())
    # Pressure again: the rule fires, the cooldown holds it.
    kv.update(fill_until(c, 0.78, "more"))
    held = wait_event(d, lambda e: e["event"] == "decision" and e.get("held_by") == "cooldown",
                      60, "a decision held by the cooldown")
    assert held["rule"] == "memory-high" and held["primaries"] == 4
    text = http_get(port, "/metrics")[1]
    assert re.search(r'^slotpilot_actions_total\{action="scale-out",result="ok"\} 1$',
                     text, re.M), text
    assert re.search(r'^slotpilot_migration_keys_moved_total [1-9]', text, re.M)
    # The daemon's moves carry the latency guard, with the INI's budget.
    m = re.search(r'^slotpilot_migration_latency_budget_seconds (\S+)$', text, re.M)
    assert m and abs(float(m.group(1)) - 0.040) < 1e-6, text
    assert d.stop() == 0, d.stderr()
    starts = [e for e in events(d) if e["event"] == "action" and e["status"] == "started"]
    assert len(starts) == 1, starts
    assert len(c.primaries()) == 4
    assert_keys(c, kv)


def open_one_slot(c, original):
    """SETSLOT IMPORTING on the new primary, then MIGRATING on the owner,
    for a slot the new primary does not own yet."""
    prims = c.primaries()
    new = [v for v in prims if int(v["addr"].rsplit(":", 1)[1]) not in original][0]
    src = [v for v in prims if v["slots"] and v["id"] != new["id"]][0]
    slot = src["slots"][-1][1]
    port = lambda v: int(v["addr"].rsplit(":", 1)[1])  # noqa: E731
    c.client(port(new)).execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", src["id"])
    c.client(port(src)).execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", new["id"])


def test_daemon_killed_mid_scale_out_resumes_it_when_restarted(
        procs, cluster_factory, tmp_path):
    c = cluster_factory()
    original = set(c.ports())
    c.config_all("maxmemory", "8mb")
    kv = fill_until(c, 0.78, "fill")
    port = pick_port()
    # A slow move (rate limit) so that the kill lands in the middle of it.
    config = base_config(tmp_path) + PRESSURE + "rate = 400slots\nwindow = 16\n"
    d = start_daemon(procs, tmp_path, c.entry, config, "--listen", "%s:%d" % (HOST, port))

    def moving():
        op = status(port)["operation"]
        return op is not None and 0 < op["slots_done"] < op["slots_total"]
    wait_until(moving, 120, 0.1, "slots to be moving")
    d.stop(signal.SIGKILL)
    assert os.path.exists(str(tmp_path / "journal" / "autoscale.state"))
    assert len(c.primaries()) == 4  # joined, not yet balanced
    # Whether the kill fell inside a window or between two depends on
    # timing: leave one slot open as a kill inside a window does (the
    # engine's first two steps), so that the restart always meets one.
    open_one_slot(c, original)
    d2 = start_daemon(procs, tmp_path, c.entry, config, name="daemon2")
    res = wait_event(d2, lambda e: e["event"] == "resume", 30, "the resume")
    assert res["action"] == "scale-out" and res["target"] == 4
    done = wait_event(d2, lambda e: e["event"] == "action" and e["status"] != "started",
                      240, "the resumed scale-out to finish")
    assert done["status"] == "ok", done
    assert_balanced_and_healthy(c, 4, 8)
    assert_keys(c, kv)
    assert not os.path.exists(str(tmp_path / "journal" / "autoscale.state"))
    assert d2.stop() == 0, d2.stderr()
    # The resumed expand reused the nodes the first run provisioned.
    assert len(c.ports()) == 8, c.ports()


# ---------------------------------------------------------------------------
# low load: scale in


SCALE_IN = ("[limits]\nmin_primaries = 3\ncooldown = 1h\n"
            "[scale_in]\nmemory_ratio = 0.30\nsustain = 1s\n"
            "[engine]\nnode_wait = 90s\n")


def port_of(v):
    return int(v["addr"].rsplit(":", 1)[1])


def load_distinct(c, n, prefix):
    """n keys, each with its own value, written through RedisCluster."""
    kv = {"%s:%d" % (prefix, i): "value-%d-%s" % (i, "v" * 64) for i in range(n)}
    rc = c.rc()
    try:
        keys = list(kv)
        for i in range(0, n, 1000):
            pipe = rc.pipeline()
            for k in keys[i:i + 1000]:
                pipe.set(k, kv[k])
            pipe.execute()
    finally:
        rc.close()
    return kv


def delete_share(c, port, share, kv):
    """Deletes `share` of the keys the primary at port holds (on it, the
    owner) and drops them from kv."""
    cl = c.client(port)
    keys = sorted(cl.scan_iter(count=1000))
    gone = keys[:int(len(keys) * share)]
    pipe = cl.pipeline(transaction=False)
    for k in gone:  # one DEL each: the keys are in different slots
        pipe.delete(k)
    assert all(pipe.execute())
    for k in gone:
        del kv[k]


def test_low_load_scales_in_by_one_primary_and_cooldown_holds_the_next(
        procs, cluster_factory, tmp_path):
    c = cluster_factory(primaries=5, replicas=1)
    c.config_all("maxmemory", "64mb")
    kv = load_distinct(c, 5000, "in")
    prims = c.primaries()
    entry = [v for v in prims if v["addr"] == c.entry][0]
    # The rule removes the primary with the fewest keys. The entry node,
    # which the daemon reads the cluster through, is made the one with the
    # fewest: it must stay (removing it left the daemon with no cluster to
    # read). `victim` has the fewest of the others.
    victim = [v for v in prims if v["id"] != entry["id"]][0]
    delete_share(c, port_of(entry), 0.6, kv)
    delete_share(c, port_of(victim), 0.3, kv)
    keys = {v["id"]: c.client(port_of(v)).dbsize() for v in prims}
    others = [keys[v["id"]] for v in prims if v["id"] not in (entry["id"], victim["id"])]
    assert keys[entry["id"]] < keys[victim["id"]] < min(others), keys
    victim_slots = sum(b - a + 1 for a, b in victim["slots"])
    leaving = [victim] + [v for v in c.view() if v["master"] == victim["id"]]
    assert len(leaving) == 2, c.view()
    leaving_pids = {port_of(v): c.pid_of(port_of(v)) for v in leaving}
    d = start_daemon(procs, tmp_path, c.entry, base_config(tmp_path) + SCALE_IN)
    dec = wait_event(d, lambda e: e["event"] == "decision" and e["action"] == "scale-in",
                     60, "the scale-in decision")
    assert dec["rule"] == "low-load" and dec["primaries"] == 5 and dec["target"] == 4, dec
    assert dec["value"] < 0.30 and dec["sustained_s"] >= 1.0, dec
    assert len(dec["nodes"]) == 5 and all(0 <= n["mem_ratio"] < 0.30 for n in dec["nodes"])
    done = wait_event(d, lambda e: e["event"] == "action" and e["status"] != "started",
                      240, "the scale-in to finish")
    assert done["status"] == "ok" and done["action"] == "scale-in", done
    assert done["slots_moved"] == victim_slots and done["keys_moved"] > 0, done
    assert_balanced_and_healthy(c, 4, 8)
    assert_keys(c, kv)
    # Exactly the victim and its replica left: forgotten by every node
    # that stays, stopped, and their directories purged.
    ids = {v["id"] for v in leaving}
    assert sorted(v["id"] for v in c.primaries()) == sorted(
        v["id"] for v in prims if v["id"] != victim["id"])
    for p in c.ports():
        view = c.view(p)
        assert len(view) == 8 and not ids & {v["id"] for v in view}, (p, view)
        assert int(c.client(p).cluster("info")["cluster_known_nodes"]) == 8
    assert not set(leaving_pids) & set(c.ports()), c.ports()
    for port, pid in leaving_pids.items():
        wait_until(lambda: not pid_alive(pid), 10, 0.1, "pid %d of %d to exit" % (pid, port))
    # Still low, still above min_primaries: the rule fires, the cooldown holds it.
    held = wait_event(d, lambda e: e["event"] == "decision" and e.get("held_by") == "cooldown",
                      60, "a decision held by the cooldown")
    assert held["rule"] == "low-load" and held["primaries"] == 4 and held["action"] == "none"
    assert d.stop() == 0, d.stderr()
    starts = [e for e in events(d) if e["event"] == "action" and e["status"] == "started"]
    assert len(starts) == 1, starts
    assert not os.path.exists(str(tmp_path / "journal" / "autoscale.state"))

    # min_primaries holds it too, with no cooldown to hide behind.
    d2 = start_daemon(procs, tmp_path, c.entry, base_config(tmp_path) + SCALE_IN.replace(
        "min_primaries = 3\ncooldown = 1h", "min_primaries = 4\ncooldown = 0"), name="daemon2")
    held = wait_event(d2, lambda e: e["event"] == "decision" and e["rule"] == "low-load",
                      60, "a low-load decision")
    assert held["held_by"] == "min-primaries" and held["action"] == "none", held
    assert held["primaries"] == 4 and held["target"] == 4, held
    time.sleep(2)  # several intervals: still no action
    assert d2.stop() == 0, d2.stderr()
    assert not any(e["event"] in ("action", "resume") for e in events(d2)), events(d2)
    assert len(c.primaries()) == 4 and len(c.ports()) == 8
    assert_keys(c, kv)


# ---------------------------------------------------------------------------
# latency: add replicas

# A data command that takes `ARGV[1]` microseconds on the node it runs on:
# Redis' own latency histogram (INFO latencystats, what the rule reads)
# records it like any slow command. DEBUG SLEEP would not do: the rule
# leaves admin commands (DEBUG among them) out.
SLOW_EVAL = ("local t = redis.call('TIME') local s = t[1] * 1000000 + t[2] local n "
             "repeat n = redis.call('TIME') until n[1] * 1000000 + n[2] - s >= "
             "tonumber(ARGV[1]) return 1")

def latency_config(add_replicas):
    return ("[latency]\np95_ms = 20\nsustain = 0.5s\nmax_replicas = 2\nadd_replicas = %s\n"
            "[limits]\ncooldown = 1h\n[engine]\nnode_wait = 90s\n" %
            ("true" if add_replicas else "false"))


def test_high_latency_adds_a_replica_to_every_primary(procs, cluster_factory, tmp_path):
    c = cluster_factory()
    kv = load_distinct(c, 3000, "lat")
    slow = [v for v in c.primaries() if v["addr"] != c.entry][0]
    cl = c.client(port_of(slow))
    for _ in range(5):
        cl.eval(SLOW_EVAL, 0, 60000)
    p99 = cl.info("latencystats")["latency_percentiles_usec_eval"]["p99"]
    assert p99 >= 50000, cl.info("latencystats")
    before = c.ports()

    # Not configured to act: the rule fires and is only logged.
    d = start_daemon(procs, tmp_path, c.entry, base_config(tmp_path) + latency_config(False),
                     name="daemon-off")
    dec = wait_event(d, lambda e: e["event"] == "decision" and e["rule"] == "latency-high",
                     60, "the latency decision")
    assert dec["held_by"] == "not-configured" and dec["action"] == "none", dec
    assert dec["node"] == slow["addr"] and dec["value"] > 20, dec
    assert d.stop() == 0, d.stderr()
    assert not any(e["event"] == "action" for e in events(d))
    assert c.ports() == before

    d = start_daemon(procs, tmp_path, c.entry, base_config(tmp_path) + latency_config(True))
    dec = wait_event(d, lambda e: e["event"] == "decision" and e["action"] == "add-replicas",
                     60, "the add-replicas decision")
    assert dec["rule"] == "latency-high" and dec["node"] == slow["addr"], dec
    assert dec["value"] > 20 and dec["primaries"] == 3, dec
    done = wait_event(d, lambda e: e["event"] == "action" and e["status"] != "started",
                      240, "the replicas to be added")
    assert done["status"] == "ok" and done["action"] == "add-replicas", done
    assert_checks_pass(c, 3, 9, min_replicas=2)
    view = c.view()
    prims = [v for v in view if v["primary"]]
    assert sorted(len([r for r in view if r["master"] == v["id"]]) for v in prims) == [2, 2, 2]
    new = sorted(set(c.ports()) - set(before))
    assert len(new) == 3, c.ports()
    by_id = {v["id"]: v for v in view}
    for port in new:
        repl = c.client(port).info("replication")
        assert repl["role"] == "slave" and repl["master_link_status"] == "up", repl
        me = [v for v in c.view(port) if v["myself"]][0]
        # A full copy of its primary's data.
        assert c.client(port).dbsize() == c.client(port_of(by_id[me["master"]])).dbsize() > 0
    assert_keys(c, kv)
    # Still slow (the histogram keeps the slow calls), but at max_replicas.
    held = wait_event(d, lambda e: e["event"] == "decision" and e.get("held_by") == "max-replicas",
                      60, "a decision held by max_replicas")
    assert held["rule"] == "latency-high" and held["action"] == "none", held
    assert d.stop() == 0, d.stderr()
    starts = [e for e in events(d) if e["event"] == "action" and e["status"] == "started"]
    assert len(starts) == 1, starts
    assert len(c.ports()) == 9


# ---------------------------------------------------------------------------
# gossip and failures


def test_node_forgotten_by_all_its_peers_is_met_again(procs, cluster_factory, tmp_path):
    c = cluster_factory()
    port = pick_port()
    d = start_daemon(procs, tmp_path, c.entry, base_config(tmp_path) +
                     "[gossip]\ngrace = 0.5s\nalert_after = 60s\n",
                     "--listen", "%s:%d" % (HOST, port))
    wait_until(lambda: status(port)["cluster"]["members"] == 6, 30, 0.2, "a first snapshot")
    # A replica: a replica refuses to forget its own primary, so a
    # primary cannot be forgotten by all of its peers.
    victim = [v for v in c.view() if not v["primary"]][0]
    vport = int(victim["addr"].rsplit(":", 1)[1])
    others = [p for p in c.ports() if p != vport]
    for p in others:
        assert c.client(p).execute_command("CLUSTER", "FORGET", victim["id"])
    # Every other node forgot it (within the 60 s ban, which MEET overrides).
    wait_event(d, lambda e: e["event"] == "meet" and e["to"] == victim["addr"], 60,
               "a MEET of the forgotten node")
    gap = [e for e in events(d) if e["event"] == "decision" and e["rule"] == "gossip-gap"]
    assert gap and gap[0]["node"] == victim["addr"], events(d)

    def known_everywhere():
        return all(int(c.client(p).cluster("info")["cluster_known_nodes"]) == 6
                   for p in c.ports())
    wait_until(known_everywhere, 60, 0.2, "every node to know 6 nodes again")
    assert_balanced_and_healthy(c, 3, 6)
    assert d.stop() == 0
    assert not any(e["event"] == "action" for e in events(d))


def test_failed_slots_freeze_scaling_and_call_the_alert_command(
        procs, cluster_factory, tmp_path):
    c = cluster_factory(primaries=3, replicas=0)
    c.config_all("maxmemory", "64mb")
    victim = [v for v in c.primaries() if v["addr"] != c.entry][0]
    vport = int(victim["addr"].rsplit(":", 1)[1])
    os.kill(c.pid_of(vport), signal.SIGKILL)
    wait_until(lambda: c.client().cluster("info")["cluster_state"] == "fail", 30, 0.2,
               "cluster_state:fail")
    hook_out = tmp_path / "alerts.txt"
    hook = str(tmp_path / "hook.sh")
    with open(hook, "w") as f:
        f.write('#!/bin/sh\necho "$SLOTPILOT_ALERT_CODE|$SLOTPILOT_CLUSTER" >> %s\n'
                'cat >> %s\n' % (hook_out, hook_out))
    os.chmod(hook, 0o755)
    before = c.ports()
    # Memory is "high" by this rule: only the freeze keeps it from scaling.
    d = start_daemon(procs, tmp_path, c.entry, base_config(
        tmp_path, "alert_command = %s\n" % hook) +
        "[scale_out]\nmemory_ratio = 0.01\nsustain = 0\n"
        "[scale_in]\nmemory_ratio = 0\nhysteresis = 0\n")
    al = wait_event(d, lambda e: e["event"] == "alert" and e["code"] == "cluster-fail", 30,
                    "the cluster-fail alert")
    assert "frozen" in al["msg"]
    dec = wait_event(d, lambda e: e["event"] == "decision" and e["rule"] == "cluster-fail",
                     30, "the freeze decision")
    assert dec["held_by"] == "frozen" and dec["action"] == "none"
    wait_until(lambda: os.path.exists(str(hook_out)) and
               "cluster-fail|%s" % c.entry in open(str(hook_out)).read(), 30, 0.2,
               "the alert command to run")
    lines = open(str(hook_out)).read().splitlines()
    payload = json.loads(lines[lines.index("cluster-fail|%s" % c.entry) + 1])
    assert payload["code"] == "cluster-fail" and payload["cluster"] == c.entry
    time.sleep(2)  # several intervals: still no action, one alert
    assert d.stop() == 0
    evs = events(d)
    assert not any(e["event"] == "action" for e in evs)
    assert len([e for e in evs if e["event"] == "alert" and e["code"] == "cluster-fail"]) == 1
    assert c.ports() == before


# ---------------------------------------------------------------------------
# Prometheus


def prom_query(port, q):
    url = "http://%s:%d/api/v1/query?%s" % (HOST, port, urllib.parse.urlencode({"query": q}))
    with urllib.request.urlopen(url, timeout=5) as r:
        data = json.loads(r.read().decode())
    assert data["status"] == "success", data
    return data["data"]["result"]


class TlsPrimaries:
    """What the Prometheus test uses of Cluster, over 3 TLS-only primaries
    the harness starts (`local up` starts plain nodes)."""

    def __init__(self, nodes):
        self.nodes = nodes
        self.tls = nodes[0].tls
        self.entry = nodes[0].addr

    def client(self, port=None):
        n = [x for x in self.nodes if x.port == (port or self.nodes[0].port)][0]
        return n.client(socket_timeout=10, decode_responses=True)

    def ports(self):
        return sorted(n.port for n in self.nodes)

    def primaries(self):
        return [v for v in self.nodes[0].cluster_nodes() if v["primary"]]

    def config_all(self, *args):
        for n in self.nodes:
            n.client().config_set(*args)


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_prometheus_scrapes_the_daemon_which_reads_memory_from_it(
        procs, cluster_factory, node_pool, tmp_path, tls):
    """Over TLS, redis_exporter scrapes rediss:// nodes with the harness's
    CA and client certificate and the daemon runs with --tls."""
    for exe in (PROMETHEUS, EXPORTER):
        if not os.access(exe, os.X_OK):
            pytest.skip("%s is not installed" % exe)
    if tls:
        files = make_tls_files(str(tmp_path / "pki"))
        c = TlsPrimaries(make_cluster_with_redis_cli(node_pool.start(3, tls=files), 0))
        scheme, exp_tls = "rediss", ["-tls-ca-cert-file", files.cacert,
                                     "-tls-client-cert-file", files.client_cert,
                                     "-tls-client-key-file", files.client_key]
        sp_tls = files.sp_args()
    else:
        c, scheme, exp_tls, sp_tls = cluster_factory(), "redis", [], []
    c.config_all("maxmemory", "64mb")
    nodes = ["%s:%d" % (HOST, p) for p in c.ports()]
    exp_port, prom_port, sp_port = pick_port(), pick_port(), pick_port()
    procs.start([EXPORTER, "-web.listen-address", "%s:%d" % (HOST, exp_port),
                 "-redis.addr", "%s://%s" % (scheme, c.entry)] + exp_tls,
                tmp_path / "exporter.out", tmp_path / "exporter.err")
    # redis_exporter's multi-target mode: /scrape?target=redis://node,
    # with the node as the instance label.
    with open(str(tmp_path / "prometheus.yml"), "w") as f:
        f.write(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            "scrape_configs:\n"
            "  - job_name: redis\n    metrics_path: /scrape\n"
            "    static_configs: [{targets: [%s]}]\n"
            "    relabel_configs:\n"
            "      - {source_labels: [__address__], target_label: __param_target}\n"
            "      - {source_labels: [__address__], target_label: instance}\n"
            "      - {target_label: __address__, replacement: '%s:%d'}\n"
            "  - job_name: slotpilot\n"
            "    static_configs: [{targets: ['%s:%d']}]\n" % (
                ", ".join("'%s://%s'" % (scheme, n) for n in nodes), HOST, exp_port, HOST,
                sp_port))
    procs.start([PROMETHEUS, "--config.file=%s" % (tmp_path / "prometheus.yml"),
                 "--storage.tsdb.path=%s" % (tmp_path / "tsdb"),
                 "--web.listen-address=%s:%d" % (HOST, prom_port)],
                tmp_path / "prometheus.out", tmp_path / "prometheus.err")
    d = start_daemon(procs, tmp_path, c.entry, base_config(
        tmp_path, "dry_run = true\n") +
        "[source]\nsource = prometheus\nprometheus_url = http://%s:%d\n"
        "prometheus_rate_window = 10s\n"
        "[scale_out]\nmemory_ratio = 0.01\nsustain = 0\n"
        "[scale_in]\nmemory_ratio = 0\nhysteresis = 0\n" % (HOST, prom_port),
        "--listen", "%s:%d" % (HOST, sp_port), *sp_tls)
    dec = wait_event(d, lambda e: e["event"] == "decision" and e["action"] == "scale-out",
                     90, "a decision on Prometheus' numbers")
    assert dec["source"] == "prometheus" and dec["dry_run"] is True
    for n in dec["nodes"]:
        port = int(n["node"].rsplit(":", 1)[1])
        info = c.client(port).info("memory")
        assert n["maxmemory"] == info["maxmemory"] == 64 << 20, n
        assert abs(n["used_memory"] - info["used_memory"]) < 0.2 * info["used_memory"], (
            n, info["used_memory"])

    def daemon_up():
        r = prom_query(prom_port, 'up{job="slotpilot"}')
        return r and r[0]["value"][1] == "1"
    wait_until(daemon_up, 60, 0.5, "Prometheus to see the daemon up")
    wait_until(lambda: prom_query(prom_port, "slotpilot_cluster_primaries"), 30, 0.5,
               "a slotpilot metric in Prometheus")
    r = prom_query(prom_port, "slotpilot_cluster_primaries")
    assert r[0]["value"][1] == "3", r
    r = prom_query(prom_port, 'slotpilot_node_slots{node="%s"}' % c.entry)
    assert r and int(r[0]["value"][1]) > 0, r
    assert d.stop() == 0, d.stderr()
    assert len(c.primaries()) == 3


# ---------------------------------------------------------------------------
# secrets: the bearer token, the listen warning, no credential shown, the
# page's text, the alert command's environment (issue 14, point 8)

TOKEN = "tok-Secret-9d2f"
NODE_PASS = "node-Secret-5150"
PROM_PASS = "prom-Secret-2323"


def http_req(port, path, headers=None, timeout=5):
    """(status, headers, body) of a GET, 4xx included."""
    req = urllib.request.Request("http://%s:%d%s" % (HOST, port, path), headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def serving(port):
    def up():
        try:
            return http_req(port, "/healthz", timeout=2)[0] in (200, 401, 503)
        except OSError:
            return False
    return up


def test_http_token_guards_every_page_bearer_or_basic(procs, node_pool, tmp_path):
    nodes = node_pool.start(3)
    make_cluster_with_redis_cli(nodes, 0)
    port = pick_port()
    d = procs.start([SLOTPILOT, "autoscale", nodes[0].addr, "--config",
                     write_config(tmp_path / "d.ini", base_config(tmp_path, "dry_run = true\n")),
                     "--listen", "%s:%d" % (HOST, port)],
                    tmp_path / "d.out", tmp_path / "d.err",
                    env=dict(os.environ, SLOTPILOT_HTTP_TOKEN=TOKEN))
    wait_until(serving(port), 30, 0.1, "the daemon to listen")
    good = {"Authorization": "Bearer " + TOKEN}
    wait_until(lambda: http_req(port, "/healthz", good)[0] == 200, 30, 0.2, "a snapshot")
    for path in ("/", "/status", "/metrics", "/healthz", "/nope"):
        st, hd, body = http_req(port, path)
        assert st == 401, (path, st, body)
        assert "Bearer" in hd.get("WWW-Authenticate", ""), (path, dict(hd))
        assert TOKEN not in body
        assert http_req(port, path, {"Authorization": "Bearer " + TOKEN + "x"})[0] == 401
        assert http_req(port, path, {"Authorization": "Bearer"})[0] == 401
    assert http_req(port, "/status", good)[0] == 200
    assert "slotpilot_collects_total" in http_req(port, "/metrics", good)[2]
    assert http_req(port, "/nope", good)[0] == 404
    basic = base64.b64encode(("anyone:" + TOKEN).encode()).decode()
    assert http_req(port, "/", {"Authorization": "Basic " + basic})[0] == 200
    wrong = base64.b64encode(b"anyone:nope").decode()
    assert http_req(port, "/", {"Authorization": "Basic " + wrong})[0] == 401
    assert d.stop() == 0, d.stderr()
    assert "warning" not in d.stderr(), d.stderr()  # loopback: no warning
    assert TOKEN not in d.stdout() + d.stderr()


def test_http_token_in_the_ini_file_and_a_bad_one_refused(procs, node_pool, tmp_path):
    nodes = node_pool.start(3)
    make_cluster_with_redis_cli(nodes, 0)
    p = run_sp("autoscale", nodes[0].addr, "--config", write_config(
        tmp_path / "bad.ini", base_config(tmp_path, "http_token = has space\n")))
    assert p.returncode == 2 and "bad.ini:4" in p.stderr and "has space" not in p.stderr, (
        p.stdout + p.stderr)
    port = pick_port()
    d = start_daemon(procs, tmp_path, nodes[0].addr, base_config(
        tmp_path, "dry_run = true\nhttp_token = %s\n" % TOKEN), "--listen", "%s:%d" % (HOST, port))
    wait_until(serving(port), 30, 0.1, "the daemon to listen")
    assert http_req(port, "/status")[0] == 401
    assert http_req(port, "/status", {"Authorization": "Bearer " + TOKEN})[0] == 200
    assert d.stop() == 0, d.stderr()


def test_a_listen_address_other_hosts_reach_is_warned_about(node_pool, tmp_path):
    nodes = node_pool.start(3)
    make_cluster_with_redis_cli(nodes, 0)
    # 192.0.2.1 (TEST-NET-1) is no address of this machine: the daemon warns,
    # then cannot listen (exit 1), and nothing leaves the machine.
    p = run_sp("autoscale", nodes[0].addr, "--config", write_config(
        tmp_path / "d.ini", base_config(tmp_path)), "--listen", "192.0.2.1:%d" % pick_port(),
        timeout=60)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "192.0.2.1" in p.stderr and "not a loopback address" in p.stderr, p.stderr
    assert "without a token" in p.stderr, p.stderr


def test_credentials_never_show_in_status_alerts_logs_or_the_alert_command(
        procs, node_pool, tmp_path):
    nodes = node_pool.start(3, password=NODE_PASS)
    make_cluster_with_redis_cli(nodes, 0, password=NODE_PASS)
    dead = pick_port()  # nothing listens there: every Prometheus query fails
    hook_out = tmp_path / "alert.txt"
    hook = tmp_path / "hook.sh"
    hook.write_text('#!/bin/sh\nenv > %s.env\ncat >> %s\n' % (hook_out, hook_out))
    os.chmod(str(hook), 0o755)
    port = pick_port()
    cfg = base_config(tmp_path, "alert_command = %s\n" % hook) + (
        "[source]\nsource = prometheus\nprometheus_url = http://alice:%s@%s:%d\n"
        "prometheus_timeout = 2s\n" % (PROM_PASS, HOST, dead))
    d = procs.start([SLOTPILOT, "autoscale", nodes[0].addr, "--config",
                     write_config(tmp_path / "d.ini", cfg), "--listen", "%s:%d" % (HOST, port)],
                    tmp_path / "d.out", tmp_path / "d.err",
                    env=dict(os.environ, REDISCLI_AUTH=NODE_PASS, SLOTPILOT_HTTP_TOKEN=TOKEN,
                             SP_TEST_OTHER_SECRET="other-Secret-77"))
    al = wait_event(d, lambda e: e["event"] == "alert" and e["code"] == "metrics-missing", 60,
                    "the metrics-missing alert")
    assert "alice:***@" in al["msg"], al
    wait_until(lambda: hook_out.exists() and "metrics-missing" in hook_out.read_text(), 30, 0.2,
               "the alert command to run")
    auth = {"Authorization": "Bearer " + TOKEN}
    st, _, body = http_req(port, "/status", auth)
    assert st == 200 and "alice:***@" in json.loads(body)["nodes"][0]["error"], body
    shown = {"/status": body, "/healthz": http_req(port, "/healthz", auth)[2],
             "/metrics": http_req(port, "/metrics", auth)[2], "/": http_req(port, "/", auth)[2]}
    env = dict(line.split("=", 1) for line in
               open(str(hook_out) + ".env").read().splitlines() if "=" in line)
    assert env["SLOTPILOT_ALERT_CODE"] == "metrics-missing" and "PATH" in env
    for var in ("REDISCLI_AUTH", "SLOTPILOT_HTTP_TOKEN", "SP_TEST_OTHER_SECRET"):
        assert var not in env, env
    assert d.stop() == 0, d.stderr()
    shown.update({"stdout": d.stdout(), "stderr": d.stderr(), "alert stdin": hook_out.read_text(),
                  "alert env": "\n".join(env.values())})
    for where, text in shown.items():
        for secret in (NODE_PASS, PROM_PASS, TOKEN, "other-Secret-77"):
            assert secret not in text, "%s shows %s:\n%s" % (where, secret, text[:2000])


HOSTILE = '<img src=x id="pwned">'


class _HostileStatus(http.server.BaseHTTPRequestHandler):
    """Serves the daemon's real page and a /status whose every string is
    markup, as a hostile or broken cluster could make them."""
    page = b""

    def do_GET(self):  # noqa: N802 - the http.server API
        if self.path == "/status":
            n = {"addr": HOSTILE + "a", "role": HOSTILE + "r", "slots": HOSTILE + "s",
                 "keys": 1, "used_memory": 1, "mem_ratio": 0.5, "ops_per_sec": 1,
                 "cpu_pct": 1, "latency_p95_ms": 1, "replicas": 0}
            body = json.dumps({
                "entry": HOSTILE + "e", "dry_run": False,
                "cluster": {"state_ok": True, "primaries": 1, "members": 1, "frozen": False},
                "operation": {"action": HOSTILE + "o", "target": 1, "slots_done": 0,
                              "slots_total": 1, "keys": 0},
                "last_decision": {"rule": HOSTILE + "d", "action": "none", "reason": HOSTILE},
                "slot_map": [[0, 16383, HOSTILE + "a"]], "nodes": [n]}).encode()
            ctype = "application/json"
        else:
            body, ctype = self.page, "text/html; charset=utf-8"
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_status_page_shows_cluster_strings_as_text_never_markup(procs, node_pool, tmp_path):
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip("chromium is not installed")
    nodes = node_pool.start(3)
    make_cluster_with_redis_cli(nodes, 0)
    port = pick_port()
    d = start_daemon(procs, tmp_path, nodes[0].addr, base_config(tmp_path, "dry_run = true\n"),
                     "--listen", "%s:%d" % (HOST, port))
    wait_until(serving(port), 30, 0.1, "the daemon to listen")
    st, _, page = http_req(port, "/")
    assert st == 200, page
    assert d.stop() == 0, d.stderr()
    _HostileStatus.page = page.encode()
    srv = http.server.HTTPServer((HOST, pick_port()), _HostileStatus)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    try:
        dom = chromium_dom(procs, tmp_path, srv.server_address[1])
    finally:
        srv.shutdown()
        srv.server_close()
        th.join(10)
    assert "&lt;img src=x" in dom, dom[:3000]  # the script ran and drew text
    assert "<img" not in dom, dom[:3000]  # no element was made from the strings
    assert len(re.findall(r"<td>&lt;img src=x", dom)) == 3, dom[:3000]

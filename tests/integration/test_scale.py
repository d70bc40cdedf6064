"""slotpilot expand / shrink / rollback against clusters from `slotpilot local up`.

Every cluster lives in a tmp_path directory D (nodes in D/<port>/) on a free
port range whose bus ports (+10000) stay below the ephemeral range. Each is
torn down in a finalizer with `local down --dir D --purge`, then every
redis-server whose pid is in D/**/*.pid or whose cwd is under D is stopped.
Every slotpilot call that can journal gets --journal-dir under tmp_path.
"""

import json
import os
import random
import shlex
import signal
import subprocess
import threading
import time

import pytest

from conftest import (follow_redirects_to_new_primaries, HOST, SLOTPILOT, Node, assert_rc, describe, parse_cluster_nodes, pick_port_range, pid_alive,
                      read_pidfile, redis_cli_check, redis_cli_clean, run_sp, wait_until)
from conftest import SERVER, cleanup_local, cluster_client, redis_pids_under, skip_if_tls  # shared helpers

# Every cluster here comes from `slotpilot local up`: plain nodes, which the
# session's TLS options cannot reach (local up --tls makes its own CA;
# test_local_tls.py runs expand over TLS that way).
pytestmark = skip_if_tls("its clusters come from `slotpilot local up` (plain nodes; "
                         "local up --tls is test_local_tls.py's)")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROVISION_LOCAL = os.path.join(ROOT, "examples", "provision-local.sh")

PRIMARIES, REPLICAS = 3, 1
N = PRIMARIES * (1 + REPLICAS)
# local up takes N ports; expand spawns above the highest one: reserve room.
PORT_SPAN = N + 8
NKEYS = 2000


# ---------------------------------------------------------------------------
# helpers


class Cluster:
    def __init__(self, d, base, journal):
        self.d = d
        self.base = base
        self.journal = journal

    @property
    def entry(self):
        return "%s:%d" % (HOST, self.base)

    def node(self, port=None):
        port = port or self.base
        return Node(port, os.path.join(str(self.d), str(port)))

    def view(self):
        """CLUSTER NODES from the entry node, parsed."""
        return parse_cluster_nodes(self.node().cli("CLUSTER", "NODES"))

    def node_ports(self):
        return sorted(int(v["addr"].rsplit(":", 1)[1]) for v in self.view())

    def node_ids(self):
        return sorted(v["id"] for v in self.view())

    def primaries(self):
        return [v for v in self.view() if v["primary"]]

    def slot_map(self):
        """primary id -> sorted list of (start, end), from CLUSTER SLOTS."""
        r = self.node().client().execute_command("CLUSTER SLOTS")
        m = {}
        for entry in r:
            start, end, master = entry[0], entry[1], entry[2]
            nid = master[2].decode() if isinstance(master[2], bytes) else master[2]
            m.setdefault(nid, []).append((int(start), int(end)))
        return {k: sorted(v) for k, v in m.items()}

    def node_dirs(self):
        return sorted(int(x) for x in os.listdir(str(self.d))
                      if x.isdigit() and os.path.isdir(os.path.join(str(self.d), x)))

    def pid_of(self, port):
        return read_pidfile(os.path.join(str(self.d), str(port), "redis.pid"))

    def rc_client(self):
        return follow_redirects_to_new_primaries(
            cluster_client(HOST, self.base, socket_timeout=5, socket_connect_timeout=5,
                           decode_responses=True))


def local_up(d, base):
    return run_sp("local", "up", "--dir", str(d), "--port", base, "--primaries", PRIMARIES,
                  "--replicas", REPLICAS, "--node-timeout", 2000, "--server", SERVER,
                  timeout=180)


def _make_cluster(d, journal):
    base = pick_port_range(PORT_SPAN)
    p = local_up(d, base)
    assert_rc(p, 0)
    c = Cluster(d, base, journal)
    wait_healthy(c, N, PRIMARIES)
    # `local up` and `check` can both return while some nodes still see a
    # replica as an empty primary for a few hundred ms: wait for every view.
    assert_shape(c, PRIMARIES, REPLICAS, p, timeout=20)
    return c


def wait_healthy(c, nodes, primaries, timeout=30):
    p = run_sp("check", c.entry, "--expect-nodes", nodes, "--expect-primaries", primaries,
               "--min-replicas", 1, "--wait", timeout, timeout=timeout + 30)
    assert_rc(p, 0)


@pytest.fixture
def cluster(tmp_path):
    d = tmp_path / "cluster"
    d.mkdir()
    try:
        yield _make_cluster(d, tmp_path / "journal")
    finally:
        cleanup_local(d)


@pytest.fixture(scope="module")
def shared_cluster(tmp_path_factory):
    """For the tests where nothing may change."""
    t = tmp_path_factory.mktemp("shared")
    d = t / "cluster"
    d.mkdir()
    try:
        c = _make_cluster(d, t / "journal")
        load_keys(c)
        yield c
    finally:
        cleanup_local(d)


def load_keys(c, n=NKEYS, prefix="k"):
    rc = c.rc_client()
    try:
        pipe = rc.pipeline()
        for i in range(n):
            pipe.set("%s:%d" % (prefix, i), "v%d" % i)
        pipe.execute()
    finally:
        rc.close()


def missing_keys(c, n=NKEYS, prefix="k"):
    rc = c.rc_client()
    try:
        bad = []
        for i in range(n):
            k = "%s:%d" % (prefix, i)
            if rc.get(k) != "v%d" % i:
                bad.append(k)
        return bad
    finally:
        rc.close()


def assert_all_keys(c, n=NKEYS, prefix="k"):
    bad = missing_keys(c, n, prefix)
    assert not bad, "%d keys missing or wrong, e.g. %s" % (len(bad), bad[:10])


def snapshot(c):
    return {"ids": c.node_ids(), "slots": c.slot_map(), "dirs": c.node_dirs(),
            "pids": sorted(redis_pids_under(c.d))}


def assert_unchanged(c, before, p=None):
    ctx = describe(p) if p is not None else ""
    after = snapshot(c)
    assert after["ids"] == before["ids"], "node set changed: %s -> %s%s" % (
        before["ids"], after["ids"], ctx)
    assert after["slots"] == before["slots"], "slot map changed%s" % ctx
    assert after["dirs"] == before["dirs"], "node dirs changed: %s -> %s%s" % (
        before["dirs"], after["dirs"], ctx)
    assert after["pids"] == before["pids"], "redis-server processes under D changed: " \
        "%s -> %s%s" % (before["pids"], after["pids"], ctx)


def shape_problem(c, primaries, replicas_each=1):
    """None if every node's own CLUSTER NODES shows the expected shape."""
    want = primaries * (1 + replicas_each)
    views = {}
    for port in c.node_ports():
        views[port] = parse_cluster_nodes(c.node(port).cli("CLUSTER", "NODES"))
    for port, view in views.items():
        prims = [v for v in view if v["primary"]]
        text = "\n".join("%s %s %s %s" % (v["addr"], ",".join(sorted(v["flags"])),
                                           v["master"] or "-", v["slots"]) for v in view)
        if len(view) != want:
            return "node %d knows %d nodes, expected %d:\n%s" % (port, len(view), want, text)
        if len(prims) != primaries:
            return "node %d sees %d primaries, expected %d:\n%s" % (
                port, len(prims), primaries, text)
        for v in view:
            if v["flags"] & {"fail", "fail?", "handshake", "noaddr"}:
                return "node %d sees %s as %s:\n%s" % (port, v["addr"], v["flags"], text)
        for pr in prims:
            reps = [v for v in view if v["master"] == pr["id"]]
            if len(reps) != replicas_each:
                return "node %d sees %d replicas of %s, expected %d:\n%s" % (
                    port, len(reps), pr["addr"], replicas_each, text)
    return None


def assert_shape(c, primaries, replicas_each=1, p=None, timeout=30):
    """Every node agrees on the shape within timeout s (gossip settles)."""
    last = [None]

    def ok():
        last[0] = shape_problem(c, primaries, replicas_each)
        return last[0] is None
    try:
        wait_until(ok, timeout, 0.2, "cluster shape %d+%d" % (primaries, primaries * replicas_each))
    except AssertionError as e:
        raise AssertionError("%s\n  %s%s" % (e, last[0], describe(p) if p is not None else ""))


def assert_even_slots(c, primaries, p=None):
    ctx = describe(p) if p is not None else ""
    counts = {}
    for v in c.primaries():
        counts[v["addr"]] = sum(b - a + 1 for a, b in v["slots"])
    share = 16384 / primaries
    assert sum(counts.values()) == 16384, "slots not fully covered: %s%s" % (counts, ctx)
    for addr, n in counts.items():
        assert abs(n - share) <= 1, "primary %s owns %d slots, expected %d +-1: %s%s" % (
            addr, n, share, counts, ctx)


def assert_checks(c, nodes, primaries, p=None):
    ctx = describe(p) if p is not None else ""
    chk = run_sp("check", c.entry, "--expect-nodes", nodes, "--expect-primaries", primaries,
                 "--min-replicas", 1, "--wait", 20, timeout=60)
    assert chk.returncode == 0, "slotpilot check failed%s%s" % (describe(chk), ctx)
    wait_until(lambda: redis_cli_clean(*redis_cli_check(c.entry)), 20, 0.5,
               "redis-cli --cluster check to be clean")


def expand(c, n, *extra, timeout=240):
    return run_sp("expand", c.entry, "--primaries", n, "--journal-dir", str(c.journal),
                  *extra, "--yes", timeout=timeout)


def shrink(c, n, *extra, timeout=240):
    return run_sp("shrink", c.entry, "--primaries", n, "--journal-dir", str(c.journal),
                  *extra, "--yes", timeout=timeout)


def exec_opts(c):
    d = shlex.quote(str(c.d))
    s = shlex.quote(PROVISION_LOCAL)
    return ("--provisioner", "exec", "--provision-cmd", "%s up %s" % (s, d),
            "--deprovision-cmd", "%s down %s" % (s, d))


EXEC_ENV = {"SLOTPILOT": SLOTPILOT}


class Traffic(threading.Thread):
    """Writes sequenced values and reads back acknowledged ones."""

    def __init__(self, c):
        super().__init__(daemon=True)
        self.c = c
        self.stop_ev = threading.Event()
        self.acked = {}
        self.errors = []
        self.mismatches = []
        self.ops = 0

    def run(self):
        rng = random.Random(7)
        try:
            rc = self.c.rc_client()
        except Exception as e:  # noqa: BLE001
            self.errors.append(repr(e))
            return
        seq = 0
        try:
            while not self.stop_ev.is_set():
                key = "t:%d" % (seq % 500)
                val = "%d" % seq
                try:
                    rc.set(key, val)
                    self.acked[key] = val
                except Exception as e:  # noqa: BLE001
                    self.errors.append("SET %s: %r" % (key, e))
                seq += 1
                self.ops += 1
                if self.acked:
                    k = rng.choice(list(self.acked))
                    want = self.acked[k]
                    try:
                        got = rc.get(k)
                        self.ops += 1
                        if got != want:
                            self.mismatches.append((k, want, got))
                    except Exception as e:  # noqa: BLE001
                        self.errors.append("GET %s: %r" % (k, e))
                time.sleep(0.002)
        finally:
            rc.close()

    def stop(self):
        self.stop_ev.set()
        self.join(30)


def added_ports(before_ports, c):
    return sorted(set(c.node_ports()) - set(before_ports))


# ---------------------------------------------------------------------------
# 1. expand + shrink with the local provisioner, under live traffic


def test_expand_then_shrink_local_under_traffic(cluster):
    c = cluster
    load_keys(c)
    ports0 = c.node_ports()
    t = Traffic(c)
    t.start()
    try:
        wait_until(lambda: t.ops > 50 or t.errors, 20, 0.05, "traffic to start")
        p = expand(c, 4)
        time.sleep(0.5)
    finally:
        t.stop()
    assert_rc(p, 0)
    assert t.ops > 100, "traffic thread barely ran (%d ops)" % t.ops
    assert not t.errors, "client saw %d exceptions, e.g. %s%s" % (
        len(t.errors), t.errors[:5], describe(p))
    assert not t.mismatches, "reads returned other values: %s" % t.mismatches[:5]
    assert_shape(c, 4, 1, p)
    assert_even_slots(c, 4, p)
    assert_checks(c, 8, 4, p)
    rc = c.rc_client()
    try:
        lost = [(k, v, rc.get(k)) for k, v in t.acked.items() if rc.get(k) != v]
    finally:
        rc.close()
    assert not lost, "acknowledged writes not readable: %s" % lost[:5]
    assert_all_keys(c)
    new = added_ports(ports0, c)
    assert len(new) == 2 and len(c.node_dirs()) == 8, (new, c.node_dirs())

    ports4 = c.node_ports()
    pids4 = {port: c.pid_of(port) for port in ports4}
    s = shrink(c, 3)
    assert_rc(s, 0)
    assert_shape(c, 3, 1, s)
    assert_checks(c, 6, 3, s)
    assert_all_keys(c)
    removed = sorted(set(ports4) - set(c.node_ports()))
    assert len(removed) == 2, "expected 2 nodes removed, got %s%s" % (removed, describe(s))
    for port in removed:
        assert not os.path.exists(os.path.join(str(c.d), str(port))), \
            "dir of removed node %d still in D%s" % (port, describe(s))
        pid = pids4[port]
        assert pid, "no pid recorded for %d" % port
        wait_until(lambda: not pid_alive(pid), 10, 0.1,
                   "pid %d of removed node %d to exit" % (pid, port))
    assert c.node_dirs() == c.node_ports(), (c.node_dirs(), c.node_ports())


# ---------------------------------------------------------------------------
# 2. exec provisioner round trip with examples/provision-local.sh


def test_exec_provisioner_round_trip(cluster):
    c = cluster
    load_keys(c)
    ports0 = c.node_ports()
    p = run_sp(
        "expand", c.entry, "--primaries", 4, "--journal-dir", str(c.journal),
        *exec_opts(c), "--yes", timeout=240, extra_env=EXEC_ENV)
    assert_rc(p, 0)
    assert_shape(c, 4, 1, p)
    assert_even_slots(c, 4, p)
    assert_checks(c, 8, 4, p)
    assert_all_keys(c)
    assert len(added_ports(ports0, c)) == 2
    assert len(c.node_dirs()) == 8, c.node_dirs()

    ports4 = c.node_ports()
    pids4 = {port: c.pid_of(port) for port in ports4}
    s = run_sp("shrink", c.entry, "--primaries", 3, "--journal-dir", str(c.journal),
               *exec_opts(c), "--yes", timeout=240, extra_env=EXEC_ENV)
    assert_rc(s, 0)
    assert_shape(c, 3, 1, s)
    assert_checks(c, 6, 3, s)
    assert_all_keys(c)
    removed = sorted(set(ports4) - set(c.node_ports()))
    assert len(removed) == 2, "expected 2 nodes removed, got %s%s" % (removed, describe(s))
    for port in removed:
        assert not os.path.exists(os.path.join(str(c.d), str(port))), \
            "dir of removed node %d still in D%s" % (port, describe(s))
        pid = pids4[port]
        wait_until(lambda: not pid_alive(pid), 10, 0.1,
                   "pid %d of removed node %d to exit" % (pid, port))


# ---------------------------------------------------------------------------
# 3. exec provisioner that fails: nothing joins


def test_exec_provisioner_printing_garbage_exits_2_and_changes_nothing(shared_cluster):
    c = shared_cluster
    before = snapshot(c)
    p = run_sp("expand", c.entry, "--primaries", 4, "--journal-dir", str(c.journal),
               "--provisioner", "exec", "--provision-cmd", "echo nonsense",
               "--deprovision-cmd", "true", "--yes", timeout=120)
    assert_rc(p, 2)
    assert "nonsense" in p.stderr, "the offending line is not named" + describe(p)
    assert_unchanged(c, before, p)
    assert_shape(c, 3, 1, p)


def test_exec_provisioner_failing_exits_nonzero_and_changes_nothing(shared_cluster):
    c = shared_cluster
    before = snapshot(c)
    p = run_sp("expand", c.entry, "--primaries", 4, "--journal-dir", str(c.journal),
               "--provisioner", "exec", "--provision-cmd", "false",
               "--deprovision-cmd", "true", "--yes", timeout=120)
    assert p.returncode != 0, "a failing provisioner was accepted" + describe(p)
    assert_unchanged(c, before, p)
    assert_shape(c, 3, 1, p)


# ---------------------------------------------------------------------------
# 4. an interrupted expand, re-run, never provisions twice


def _spawned_running(c, ports0):
    """A node dir above the cluster's ports whose redis-server runs."""
    for port in c.node_dirs():
        if port not in ports0:
            pid = c.pid_of(port)
            if pid and pid_alive(pid):
                return port
    return None


def _expand_killed_at(c, point):
    """Starts `expand --primaries 4` and SIGKILLs it at an interruption point:

    during-provisioning: a new node runs (its D/<port>/redis.pid is there)
        but its address is not in J/expand.state yet (only "provisioning");
    provisioning-recorded: J/expand.state exists, nothing joined yet;
    after-first-join: it printed that the first new node joined.
    """
    ports0 = set(c.node_ports())
    state = os.path.join(str(c.journal), "expand.state")
    out = open(os.path.join(str(c.d), "..", "expand1.out"), "w+b")
    argv = [SLOTPILOT, "expand", c.entry, "--primaries", "4",
            "--journal-dir", str(c.journal), "--yes"]
    env = dict(os.environ)
    env.pop("REDISCLI_AUTH", None)
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                            stderr=subprocess.STDOUT, env=env)
    at_kill = None
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if point == "during-provisioning":
                hit = _spawned_running(c, ports0) is not None
            elif point == "provisioning-recorded":
                hit = os.path.exists(state)
            else:
                out.seek(0)
                hit = b"joined" in out.read()
            if hit:
                proc.send_signal(signal.SIGKILL)
                at_kill = {"state_file": os.path.exists(state), "dirs": c.node_dirs()}
                break
            time.sleep(0.001)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        out.seek(0)
        text = out.read().decode("utf-8", "replace")
        out.close()
    assert at_kill is not None, "expand (exit %s) never reached %s; output: %s" % (
        proc.returncode, point, text)
    return text, at_kill


@pytest.mark.parametrize("point", ["during-provisioning", "provisioning-recorded",
                                   "after-first-join"])
def test_rerun_of_killed_expand_never_provisions_twice(cluster, point):
    c = cluster
    load_keys(c, 500)
    out1, at_kill = _expand_killed_at(c, point)
    if point == "during-provisioning":
        # the scenario: a node is up but its address is not recorded yet
        # (the state file says only that provisioning started)
        sp = os.path.join(str(c.journal), "expand.state")
        st = json.load(open(sp)) if os.path.exists(sp) else {}
        assert not st.get("nodes"), "the nodes were already recorded: %s %s" % (at_kill, st)
    time.sleep(1.0)
    p = expand(c, 4)
    ctx = "\n  SIGKILLed at %s; then: %s; first run output: %r%s" % (
        point, at_kill, out1, describe(p))
    if p.returncode != 0:
        try:  # the entry node itself may be what went wrong
            seen = "%d nodes" % len(c.view())
        except AssertionError as e:
            seen = "no view from the entry node (%s)" % e
        raise AssertionError("re-run of the interrupted expand failed; cluster now has "
                             "%s, D has node dirs %s%s" % (seen, c.node_dirs(), ctx))
    view = c.view()
    assert len(view) == 8, "cluster has %d nodes, expected 8: %s%s" % (
        len(view), sorted(v["addr"] for v in view), ctx)
    dirs = c.node_dirs()
    assert len(dirs) == 8, "D has %d node dirs, expected 8: %s (cluster: %s)%s" % (
        len(dirs), dirs, c.node_ports(), ctx)
    pids = redis_pids_under(c.d)
    assert len(pids) == 8, "%d redis-server processes run under D, expected 8%s" % (
        len(pids), ctx)
    assert_shape(c, 4, 1, p)
    assert_checks(c, 8, 4, p)
    assert_all_keys(c, 500)


# ---------------------------------------------------------------------------
# 5. rollback after an expand


def test_rollback_after_expand_restores_slot_map_and_removes_added_nodes(cluster):
    c = cluster
    load_keys(c)
    slots0 = c.slot_map()
    ports0 = c.node_ports()
    ids0 = c.node_ids()
    p = expand(c, 4)
    assert_rc(p, 0)
    new = added_ports(ports0, c)
    assert len(new) == 2, new
    pids_new = {port: c.pid_of(port) for port in new}
    r = run_sp("rollback", c.entry, "--journal-dir", str(c.journal), "--yes", timeout=240)
    assert_rc(r, 0)
    assert c.slot_map() == slots0, "slot map after rollback differs from before the " \
        "expand:\n  before: %s\n  after:  %s%s" % (slots0, c.slot_map(), describe(r))
    assert c.node_ids() == ids0, "node set after rollback: %s%s" % (c.view(), describe(r))
    assert_shape(c, 3, 1, r)
    for port in new:
        assert not os.path.exists(os.path.join(str(c.d), str(port))), \
            "dir of added node %d still in D after rollback%s" % (port, describe(r))
        pid = pids_new[port]
        wait_until(lambda: not pid_alive(pid), 10, 0.1, "pid %d of node %d to exit" % (pid, port))
    assert c.node_dirs() == ports0
    assert_checks(c, 6, 3, r)
    assert_all_keys(c)


# ---------------------------------------------------------------------------
# 6. rollback after a plain reshard


def test_rollback_after_reshard_returns_exactly_those_slots(cluster):
    c = cluster
    load_keys(c)
    slots0 = c.slot_map()
    owner = [nid for nid, rs in slots0.items() if any(a <= 0 <= b for a, b in rs)][0]
    assert all(any(a <= s <= b for a, b in slots0[owner]) for s in range(100))
    target = sorted(nid for nid in slots0 if nid != owner)[0]
    p = run_sp("reshard", c.entry, "--from", owner, "--to", target, "--slot-ranges", "0-99",
               "--journal-dir", str(c.journal), "--yes", timeout=120)
    assert_rc(p, 0)
    moved = c.slot_map()
    assert any(a <= 0 and 99 <= b for a, b in moved[target]), \
        "reshard did not move 0-99 to the target: %s%s" % (moved, describe(p))
    r = run_sp("rollback", c.entry, "--journal-dir", str(c.journal), "--yes", timeout=120)
    assert_rc(r, 0)
    after = c.slot_map()
    assert after == slots0, "slot map after rollback differs:\n  before: %s\n  after:  %s%s" % (
        slots0, after, describe(r))
    assert_shape(c, 3, 1, r)
    assert_checks(c, 6, 3, r)
    assert_all_keys(c)


# ---------------------------------------------------------------------------
# 7. bad input changes nothing


def test_expand_to_current_primary_count_exits_2(shared_cluster):
    c = shared_cluster
    before = snapshot(c)
    p = expand(c, 3, timeout=60)
    assert_rc(p, 2)
    assert_unchanged(c, before, p)


def test_shrink_below_3_primaries_exits_2(shared_cluster):
    c = shared_cluster
    before = snapshot(c)
    p = shrink(c, 2, timeout=60)
    assert_rc(p, 2)
    assert_unchanged(c, before, p)
    assert_all_keys(c)


def test_expand_without_yes_and_no_tty_exits_2(shared_cluster):
    c = shared_cluster
    before = snapshot(c)
    p = run_sp("expand", c.entry, "--primaries", 4, "--journal-dir", str(c.journal), timeout=60)
    assert_rc(p, 2)
    assert_unchanged(c, before, p)

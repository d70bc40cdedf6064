"""Integration harness for slotpilot.

Real redis-server processes only, on 127.0.0.1, each in its own temporary
directory, always stopped (by the pid in its pidfile) when the fixture that
started it is torn down, and again at the end of the session as a safety net.
Every wait is bounded.

Helpers (importable with ``from conftest import ...``; the pid, port and
redis-py helpers live in harness.py, which bench/ imports too, and are
re-exported here):

    start_nodes(n, base_dir, ...)          -> [Node]
    make_cluster_with_redis_cli(nodes, replicas)
    redis_cli_check(addr)                  -> (exit code, output)
    run_sp(*args, input=None, timeout=60)  -> CompletedProcess (stdin no TTY)
    redis_cli(*args)                       -> CompletedProcess of redis-cli
    cluster_client(host, port, **kw)       -> RedisCluster

TLS mode (SLOTPILOT_TLS=1, `make integration-tls`): one CA per session, made
with the openssl CLI in a session tmp dir; every node the harness starts is
TLS only (port 0, tls-port P, TLS on the bus and for replication, client
certificates required), and every helper above speaks TLS to it: Node.cli
and redis_cli (redis-cli --tls ...), Node.client and cluster_client (redis-py
ssl=True ...), redis_cli_check, make_cluster_with_redis_cli, and run_sp,
which appends --tls --cacert --cert --key to slotpilot's argv. Each takes
tls= (a harness.TlsFiles, or None for plain) to override the mode;
test_tls.py builds its TLS nodes that way whatever the mode.

Fixtures: ``node_pool`` (function scope) and ``module_node_pool`` (module
scope) whose ``.start(n)`` starts nodes that are stopped at teardown.
"""

import atexit
import json
import os
import random
import shutil
import signal
import subprocess
import tempfile
import time

import pytest
import redis
from redis.cluster import RedisCluster

from harness import (HOST, _reap, follow_redirects_to_new_primaries, is_redis_server_pid,  # noqa: F401
                     kill_pids_in_dir, pid_alive, pid_cmdline, port_free, read_pidfile,
                     redis_pids_under, stop_pid, wait_until,
                     TlsCA, TlsFiles, make_tls_files)
SLOTPILOT = os.environ.get("SLOTPILOT", "/work/main/build/slotpilot")
# The server under test: redis-server (Redis 7.0, the default) or
# valkey-server (Valkey 8.0); `make test` runs the cluster-changing tests on
# both. redis-cli stays the oracle for both.
SERVER = os.environ.get("SLOTPILOT_SERVER", "redis-server")
REDIS_SERVER = "/usr/bin/" + SERVER
REDIS_CLI = "/usr/bin/redis-cli"
NODE_TIMEOUT_MS = 2000
# Cluster bus ports are +10000: keep both below 32768, where the kernel
# hands out ephemeral ports for outgoing connections (a bus port taken by
# one of those makes a node fail to start).
PORT_LO, PORT_HI = 11000, 22700

# SLOTPILOT_TLS=1: the whole suite runs against TLS-only nodes (see above).
TLS_MODE = os.environ.get("SLOTPILOT_TLS") == "1"

_ALL_NODES = []  # every node this process started (safety net)
_RESERVED_PORTS = set()  # ports handed out by this process
_rng = random.Random()  # independent of any seeding done by tests


def _become_subreaper():
    """Make daemonized redis-servers (ours and the binary's) our children so
    that we can reap them instead of leaving zombies behind."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_CHILD_SUBREAPER = 36
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except Exception:  # noqa: BLE001 - best effort
        pass


_become_subreaper()


# ---------------------------------------------------------------------------
# TLS mode

_SESSION_TLS = []  # [TlsFiles] once made
DEFAULT = object()  # tls= not given: the session's mode


def session_tls():
    """The session's CA, node and client certificates (made on first use)."""
    if not _SESSION_TLS:
        d = tempfile.mkdtemp(prefix="slotpilot-tls-")
        atexit.register(shutil.rmtree, d, True)
        _SESSION_TLS.append(make_tls_files(d))
    return _SESSION_TLS[0]


def resolve_tls(tls=DEFAULT):
    """tls as given, or the session's files in TLS mode, else None."""
    if tls is DEFAULT:
        return session_tls() if TLS_MODE else None
    return tls or None


def tls_kw(tls=DEFAULT):
    """redis-py keyword arguments for tls (empty when plain)."""
    t = resolve_tls(tls)
    return t.redis_kw() if t else {}


def tls_cli_args(tls=DEFAULT):
    t = resolve_tls(tls)
    return t.cli_args() if t else []


def skip_if_tls(reason):
    """A marker: skip this test in TLS mode, for reason."""
    return pytest.mark.skipif(TLS_MODE, reason="not over TLS: " + reason)


# ---------------------------------------------------------------------------
# ports


def pick_port():
    """A port p in PORT_LO..PORT_HI with p and p+10000 free."""
    for _ in range(500):
        p = _rng.randint(PORT_LO, PORT_HI)
        if p in _RESERVED_PORTS or (p + 10000) in _RESERVED_PORTS:
            continue
        if port_free(p) and port_free(p + 10000):
            _RESERVED_PORTS.add(p)
            return p
    raise RuntimeError("no free port pair found")


def pick_port_range(n):
    """A base port b with b..b+n-1 and their +10000 bus ports all free."""
    for _ in range(500):
        b = _rng.randint(PORT_LO, PORT_HI - n)
        ports = list(range(b, b + n))
        if any(p in _RESERVED_PORTS for p in ports):
            continue
        if all(port_free(p) and port_free(p + 10000) for p in ports):
            _RESERVED_PORTS.update(ports)
            return b
    raise RuntimeError("no free port range of %d found" % n)


def free_unused_port():
    """A port with nothing listening (for unreachable-address tests)."""
    return pick_port()


# ---------------------------------------------------------------------------
# nodes


class Node:
    def __init__(self, port, dir, password=None, tls=DEFAULT):
        self.host = HOST
        self.port = port
        self.dir = str(dir)
        self.pid = None
        self.password = password
        self.tls = resolve_tls(tls)  # TlsFiles, or None for a plain node
        self.pidfile = os.path.join(self.dir, "redis.pid")
        self.logfile = os.path.join(self.dir, "redis.log")
        self.conf = os.path.join(self.dir, "redis.conf")

    @property
    def addr(self):
        return "%s:%d" % (self.host, self.port)

    def __repr__(self):
        return "Node(%s pid=%s)" % (self.addr, self.pid)

    def _env(self):
        env = dict(os.environ)
        env.pop("REDISCLI_AUTH", None)
        if self.password:
            env["REDISCLI_AUTH"] = self.password
        return env

    def cli(self, *args, check=True, timeout=15):
        """Run `redis-cli -h 127.0.0.1 -p port args...`; return stdout."""
        head = [REDIS_CLI, "-h", self.host, "-p", str(self.port)] + tls_cli_args(self.tls)
        cmd = head + [str(a) for a in args]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                           env=self._env(), stdin=subprocess.DEVNULL)
        if check and (p.returncode != 0 or p.stdout.startswith("ERR") or
                      p.stdout.startswith("(error)")):
            raise AssertionError("redis-cli %s failed: rc=%d out=%r err=%r"
                                 % (" ".join(cmd[len(head):]), p.returncode, p.stdout, p.stderr))
        return p.stdout

    def client(self, **kw):
        """redis.Redis on the node (TLS if it is a TLS node); kw override."""
        kw = dict(tls_kw(self.tls), **dict({"socket_timeout": 5, "socket_connect_timeout": 5},
                                           **kw))
        return redis.Redis(host=self.host, port=self.port, password=self.password, **kw)

    def alive(self):
        return pid_alive(self.pid)

    def kill(self, sig=signal.SIGTERM, timeout=5.0):
        """Stop the node (SIGTERM, then SIGKILL after timeout); wait until gone."""
        if self.pid is None:
            self.pid = read_pidfile(self.pidfile)
        if self.pid is None:
            return
        if sig == signal.SIGKILL and pid_alive(self.pid):
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            wait_until(lambda: not pid_alive(self.pid), 5, 0.05, "pid %d to exit" % self.pid)
            return
        stop_pid(self.pid, timeout)

    stop = kill

    # cluster views ------------------------------------------------------

    def info(self, section=None):
        return self.client().info(section) if section else self.client().info()

    def cluster_info(self):
        out = self.cli("CLUSTER", "INFO")
        d = {}
        for line in out.splitlines():
            if ":" in line:
                k, v = line.strip().split(":", 1)
                d[k] = v
        return d

    def cluster_nodes(self):
        return parse_cluster_nodes(self.cli("CLUSTER", "NODES"))

    def myid(self):
        return self.cli("CLUSTER", "MYID").strip()


def parse_cluster_nodes(text):
    nodes = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 8:
            continue
        addr = parts[1].split("@")[0].split(",")[0]
        flags = set(parts[2].split(","))
        slots = []
        open_slots = []
        for s in parts[8:]:
            if s.startswith("["):
                open_slots.append(s)
            elif "-" in s:
                a, b = s.split("-")
                slots.append((int(a), int(b)))
            else:
                slots.append((int(s), int(s)))
        nodes.append({
            "id": parts[0], "addr": addr, "flags": flags,
            "master": None if parts[3] == "-" else parts[3],
            "link": parts[7], "slots": slots, "open": open_slots,
            "myself": "myself" in flags,
            "primary": "master" in flags,
        })
    return nodes


def _write_conf(node, extra_conf):
    lines = (node.tls.server_conf(node.port) if node.tls else ["port %d" % node.port]) + [
        "bind %s" % HOST,
        "daemonize yes",
        "pidfile %s" % node.pidfile,
        "logfile %s" % node.logfile,
        "dir %s" % node.dir,
        "cluster-enabled yes",
        "cluster-config-file nodes.conf",
        "cluster-node-timeout %d" % NODE_TIMEOUT_MS,
        "appendonly no",
        'save ""',
        "protected-mode no",
    ]
    if node.password:
        lines.append("requirepass %s" % node.password)
        lines.append("masterauth %s" % node.password)
    lines.extend(extra_conf or [])
    with open(node.conf, "w") as f:
        f.write("\n".join(lines) + "\n")


def _log_tail(path, n=2000):
    try:
        with open(path, errors="replace") as f:
            return f.read()[-n:]
    except OSError:
        return ""


def start_node(base_dir, password=None, extra_conf=None, registry=None, tls=DEFAULT):
    """Start one redis-server on a free port; retry on port collision.
    tls: TlsFiles for a TLS-only node, None for plain, default the mode."""
    last = ""
    for attempt in range(10):
        port = pick_port()
        d = os.path.join(str(base_dir), "node-%d" % port)
        os.makedirs(d, exist_ok=True)
        node = Node(port, d, password, tls)
        _write_conf(node, extra_conf)
        p = subprocess.run([REDIS_SERVER, node.conf], capture_output=True, text=True,
                           timeout=15, stdin=subprocess.DEVNULL, cwd=d)
        if p.returncode != 0:
            last = "redis-server exit %d: %s %s" % (p.returncode, p.stdout, p.stderr)
            continue
        # Wait for the pidfile (written after the ports are bound) or for an
        # error in the log (port taken: retry elsewhere).
        deadline = time.monotonic() + 10
        ok = False
        while time.monotonic() < deadline:
            pid = read_pidfile(node.pidfile)
            if pid:
                node.pid = pid
                _ALL_NODES.append(node)
                if registry is not None:
                    registry.append(node)
                ok = True
                break
            log = _log_tail(node.logfile)
            if "Address already in use" in log or "Could not create" in log or "Failed" in log:
                break
            time.sleep(0.02)
        if not ok:
            last = "no pidfile; log: " + _log_tail(node.logfile)
            continue

        def pong():
            return node.client().ping()
        try:
            wait_until(pong, 10, 0.05, "PING on %s" % node.addr)
        except AssertionError:
            last = "no PONG; log: " + _log_tail(node.logfile)
            node.kill()
            continue
        return node
    raise RuntimeError("could not start redis-server: " + last)


def start_nodes(n, base_dir, password=None, extra_conf=None, registry=None, tls=DEFAULT):
    return [start_node(base_dir, password, extra_conf, registry, tls) for _ in range(n)]


class NodePool:
    """Starts nodes and stops all of them on .close()."""

    def __init__(self, base_dir):
        self.base_dir = str(base_dir)
        self.nodes = []

    def start(self, n, password=None, extra_conf=None, tls=DEFAULT):
        return start_nodes(n, self.base_dir, password, extra_conf, self.nodes, tls)

    def close(self):
        for node in self.nodes:
            try:
                node.kill()
            except Exception:  # noqa: BLE001 - keep stopping the others
                pass
        kill_pids_in_dir(self.base_dir)


@pytest.fixture
def node_pool(tmp_path):
    pool = NodePool(tmp_path / "nodes")
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture(scope="module")
def module_node_pool(tmp_path_factory):
    pool = NodePool(tmp_path_factory.mktemp("modnodes"))
    try:
        yield pool
    finally:
        pool.close()


def _kill_all_started():
    for node in list(_ALL_NODES):
        try:
            if node.pid and is_redis_server_pid(node.pid):
                stop_pid(node.pid)
        except Exception:  # noqa: BLE001
            pass


atexit.register(_kill_all_started)


def pytest_sessionfinish(session, exitstatus):
    _kill_all_started()


# ---------------------------------------------------------------------------
# redis-cli cluster helpers


def _cli_env(password=None):
    env = dict(os.environ)
    env.pop("REDISCLI_AUTH", None)
    if password:
        env["REDISCLI_AUTH"] = password
    return env


def redis_cli_argv(*args, tls=DEFAULT):
    """redis-cli's argv for args, with the TLS options of tls."""
    return [REDIS_CLI] + tls_cli_args(tls) + [str(a) for a in args]


def redis_cli(*args, password=None, timeout=60, tls=DEFAULT):
    """Run redis-cli args (e.g. "--cluster", "add-node", ...) -> CompletedProcess
    (text, stdin /dev/null)."""
    return subprocess.run(redis_cli_argv(*args, tls=tls), capture_output=True, text=True,
                          timeout=timeout, env=_cli_env(password), stdin=subprocess.DEVNULL)


def redis_cli_check(addr, password=None, timeout=60, tls=DEFAULT):
    """`redis-cli --cluster check addr` -> (exit code, stdout+stderr)."""
    p = redis_cli("--cluster", "check", addr, password=password, timeout=timeout, tls=tls)
    return p.returncode, p.stdout + p.stderr


def cluster_client(host, port, tls=DEFAULT, **kw):
    """A redis-py RedisCluster on host:port, over TLS in TLS mode (or with tls)."""
    return RedisCluster(host=host, port=port, **dict(tls_kw(tls), **kw))


def node_cluster_client(node, **kw):
    """cluster_client on a Node, with its TLS files."""
    return cluster_client(node.host, node.port, tls=node.tls, **kw)


def redis_cli_clean(rc, out):
    return rc == 0 and "[ERR]" not in out and "[WARNING]" not in out


def redis_cli_flags(rc, out):
    return rc != 0 or "[ERR]" in out or "[WARNING]" in out


def wait_cluster_healthy(nodes, password=None, timeout=40):
    """Until redis-cli check is clean from every node, all nodes report
    cluster_state:ok and know all the others, and replicas are linked."""
    n = len(nodes)

    def healthy():
        for node in nodes:
            ci = node.cluster_info()
            if ci.get("cluster_state") != "ok":
                return False
            if int(ci.get("cluster_known_nodes", 0)) != n:
                return False
            views = node.cluster_nodes()
            if any(f & {"fail", "fail?", "handshake", "noaddr"} for f in
                   (v["flags"] for v in views)):
                return False
            me = [v for v in views if v["myself"]][0]
            if not me["primary"]:
                repl = node.client().info("replication")
                if repl.get("master_link_status") != "up":
                    return False
        for node in nodes:
            rc, out = redis_cli_check(node.addr, password, tls=node.tls)
            if not redis_cli_clean(rc, out):
                return False
        return True

    wait_until(healthy, timeout, 0.25, "cluster %s to be healthy" % [x.addr for x in nodes])


def make_cluster_with_redis_cli(nodes, replicas, password=None, timeout=60):
    p = redis_cli("--cluster", "create", *[x.addr for x in nodes], "--cluster-replicas",
                  replicas, "--cluster-yes", password=password, timeout=timeout,
                  tls=nodes[0].tls)
    assert p.returncode == 0, "redis-cli --cluster create failed: %s\n%s" % (p.stdout, p.stderr)
    wait_cluster_healthy(nodes, password)
    return nodes


def primaries_of(nodes):
    """Nodes that are primaries (from each node's own view)."""
    out = []
    for node in nodes:
        me = [v for v in node.cluster_nodes() if v["myself"]][0]
        if me["primary"]:
            out.append(node)
    return out


def replicas_of(nodes):
    out = []
    for node in nodes:
        me = [v for v in node.cluster_nodes() if v["myself"]][0]
        if not me["primary"]:
            out.append(node)
    return out


def slot_owner_map(node):
    """slot -> node id, from node's view."""
    m = {}
    for v in node.cluster_nodes():
        if v["primary"]:
            for a, b in v["slots"]:
                for s in range(a, b + 1):
                    m[s] = v["id"]
    return m


def node_is_empty(node):
    """Fresh cluster node: knows only itself, owns no slot, holds no key."""
    ci = node.cluster_info()
    return (int(ci["cluster_known_nodes"]) == 1 and
            int(ci["cluster_slots_assigned"]) == 0 and
            node.client().dbsize() == 0)


# ---------------------------------------------------------------------------
# the binary


def sp_path():
    return SLOTPILOT


def _require_binary():
    if not (os.path.isfile(SLOTPILOT) and os.access(SLOTPILOT, os.X_OK)):
        pytest.fail("slotpilot binary not found or not executable: %s "
                    "(set SLOTPILOT)" % SLOTPILOT, pytrace=False)


def sp_argv(*args, tls=DEFAULT):
    """slotpilot's argv for args; with tls (default: the mode) --tls --cacert
    --cert --key are appended (before a "--", if any)."""
    argv = [SLOTPILOT]
    for a in args:
        argv.append(a if isinstance(a, (bytes, str)) else str(a))
    t = resolve_tls(tls)
    if t:
        at = argv.index("--") if "--" in argv else len(argv)
        argv[at:at] = t.sp_args()
    return argv


def run_sp(*args, input=None, timeout=60, env=None, extra_env=None, tls=DEFAULT):
    """Run the slotpilot binary; stdin is never a TTY (DEVNULL or a pipe).

    args may be str, bytes or int. Returns a CompletedProcess with text
    stdout/stderr (utf-8, surrogateescape) plus .stdout_bytes/.stderr_bytes
    and .cmd. tls: see sp_argv (tls=None: no TLS options even in TLS mode).
    """
    _require_binary()
    argv = sp_argv(*args, tls=tls)
    if env is None:
        env = dict(os.environ)
        env.pop("REDISCLI_AUTH", None)
    if extra_env:
        env.update(extra_env)
    kw = {}
    if input is None:
        kw["stdin"] = subprocess.DEVNULL
    else:
        kw["input"] = input.encode() if isinstance(input, str) else input
    try:
        p = subprocess.run(argv, capture_output=True, timeout=timeout, env=env, **kw)
    except subprocess.TimeoutExpired as e:
        pytest.fail("slotpilot timed out after %ss: %s\nstdout: %r\nstderr: %r" % (
            timeout, _fmt_argv(argv), e.stdout, e.stderr), pytrace=False)
    p.stdout_bytes, p.stderr_bytes = p.stdout, p.stderr
    p.stdout = p.stdout.decode("utf-8", "surrogateescape")
    p.stderr = p.stderr.decode("utf-8", "surrogateescape")
    p.cmd = _fmt_argv(argv)
    return p


def _fmt_argv(argv):
    out = []
    for a in argv:
        if isinstance(a, bytes):
            a = a.decode("utf-8", "backslashreplace")
        out.append(a if a and " " not in a else repr(a))
    out[0] = "slotpilot"
    return " ".join(out)


def describe(p, limit=3000):
    return "\n  command: %s\n  exit: %d\n  stdout: %s\n  stderr: %s" % (
        p.cmd, p.returncode, p.stdout[:limit], p.stderr[:limit])


def assert_rc(p, expected):
    if isinstance(expected, int):
        expected = (expected,)
    assert p.returncode in expected, "expected exit %s, got %d%s" % (
        "/".join(map(str, expected)), p.returncode, describe(p))


def sp_json(*args, rc=None, **kw):
    """Run slotpilot with --json; return (proc, parsed stdout)."""
    p = run_sp(*(list(args) + ["--json"]), **kw)
    if rc is not None:
        assert_rc(p, rc)
    try:
        data = json.loads(p.stdout)
    except ValueError as e:
        raise AssertionError("stdout is not JSON (%s)%s" % (e, describe(p)))
    return p, data


def finding_codes(data):
    return [f.get("code") for f in data.get("findings", [])]


# ---------------------------------------------------------------------------
# Data helpers shared by the engine, rebalance and lifecycle tests.

from redis.crc import key_slot  # noqa: E402


def spread_keys(n, prefix=b"key:"):
    """{key: value} with n keys hashed over all slots."""
    return {prefix + b"%d" % i: b"val:%d" % i for i in range(n)}


def slot_addr_map(node):
    """slot -> (host, port) of its primary, from CLUSTER SLOTS of node."""
    m = {}
    for entry in node.client().execute_command("CLUSTER", "SLOTS"):
        a, b, primary = entry[0], entry[1], entry[2]
        h = primary[0].decode() if isinstance(primary[0], bytes) else primary[0]
        for s in range(a, b + 1):
            m[s] = (h or HOST, int(primary[1]))
    return m


def load_keys(entry, kv, batch=2000):
    """SET every key on the primary that owns its slot (pipelined)."""
    owners = slot_addr_map(entry)
    groups = {}
    for k, v in kv.items():
        groups.setdefault(owners[key_slot(k)], []).append((k, v))
    for (h, p), items in groups.items():
        c = redis.Redis(host=h, port=p, socket_timeout=60, **tls_kw(entry.tls))
        try:
            for i in range(0, len(items), batch):
                pipe = c.pipeline(transaction=False)
                for k, v in items[i:i + batch]:
                    pipe.set(k, v)
                pipe.execute()
        finally:
            c.close()


NSLOTS = 16384
_TAG_BY_SLOT = None


def tag_for_slot(slot):
    """A hash tag (bytes) whose slot is `slot`."""
    global _TAG_BY_SLOT
    if _TAG_BY_SLOT is None:
        table = {}
        i = 0
        while len(table) < NSLOTS:
            tag = b"t%d" % i
            table.setdefault(key_slot(tag), tag)
            i += 1
        _TAG_BY_SLOT = table
    return _TAG_BY_SLOT[slot]


def key_in_slot(slot, suffix):
    if isinstance(suffix, str):
        suffix = suffix.encode()
    k = b"k{" + tag_for_slot(slot) + b"}" + suffix
    assert key_slot(k) == slot
    return k


def verify_keys(entry, expected, what="keys", client=None):
    """Every key readable through RedisCluster with its expected value.
    client(entry) builds the RedisCluster to read with (default:
    node_cluster_client, TLS if entry is a TLS node)."""
    rc = client(entry) if client else node_cluster_client(
        entry, socket_timeout=10, socket_connect_timeout=5)
    keys = list(expected)
    missing, wrong = [], []
    try:
        for i in range(0, len(keys), 2000):
            chunk = keys[i:i + 2000]
            for k, v in zip(chunk, rc.mget_nonatomic(chunk)):
                if v is None:
                    missing.append(k)
                elif v != expected[k]:
                    wrong.append((k, v[:40], expected[k][:40]))
    finally:
        rc.close()
    assert not missing and not wrong, (
        "%s: %d of %d missing (e.g. %r, slots %s), %d with a wrong value (e.g. %r)" % (
            what, len(missing), len(keys), missing[:5], [key_slot(k) for k in missing[:5]],
            len(wrong), wrong[:5]))


# ---------------------------------------------------------------------------
# helpers shared by several test files


def checks_pass(entry, *sp_args, timeout=20):
    """slotpilot check (with sp_args) and redis-cli --cluster check both clean
    (polled for gossip to settle on replicas); returns nothing, fails with
    both outputs."""
    last = {}

    def ok():
        p = run_sp("check", entry.addr, *sp_args, tls=entry.tls)
        rc, out = redis_cli_check(entry.addr, tls=entry.tls)
        last["sp"], last["cli"] = p, (rc, out)
        return p.returncode == 0 and redis_cli_clean(rc, out)

    try:
        wait_until(ok, timeout, 0.5, "checks to pass")
    except AssertionError:
        p = last.get("sp")
        rc, out = last.get("cli", (None, ""))
        raise AssertionError("cluster checks still failing after %ds:%s\n  redis-cli check rc=%s:\n%s"
                             % (timeout, describe(p) if p else "", rc, out[-3000:]))


def cleanup_local(d, purge=True):
    """Tear down a `slotpilot local up --dir d` cluster: `local down` (with
    --purge unless purge=False), then stop every redis-server whose pid is in
    d/**/*.pid or whose cwd is under d."""
    args = ["local", "down", "--dir", str(d)] + (["--purge"] if purge else [])
    try:
        run_sp(*args, timeout=60)
    except BaseException:  # noqa: BLE001 - the safety net below must run
        pass
    kill_pids_in_dir(d)
    for pid in redis_pids_under(d):
        stop_pid(pid)


def make_cluster_by_hand(pool, ranges):
    """Primaries only, node i owning ranges[i] = (a, b) (uneven layouts)."""
    nodes = pool.start(len(ranges))
    for i, (n, (a, b)) in enumerate(zip(nodes, ranges)):
        n.cli("CLUSTER", "SET-CONFIG-EPOCH", i + 1)
        n.cli("CLUSTER", "ADDSLOTSRANGE", a, b)
    for n in nodes[1:]:
        n.cli("CLUSTER", "MEET", HOST, nodes[0].port)
    wait_cluster_healthy(nodes)
    return nodes


def nodes_text(node):
    r = node.client().execute_command("CLUSTER", "NODES")
    return r.decode() if isinstance(r, bytes) else r


def myself_line(node):
    for line in nodes_text(node).splitlines():
        if "myself" in line.split()[2]:
            return line
    raise AssertionError("no myself line from %s" % node.addr)


def jdir(tmp_path):
    return str(tmp_path / "journal")


def json_lines(p):
    evs = []
    for line in p.stdout.splitlines():
        if not line.strip():
            continue
        try:
            evs.append(json.loads(line))
        except ValueError as e:
            raise AssertionError("--json stdout line is not JSON (%s): %r%s" % (e, line, describe(p)))
        assert isinstance(evs[-1], dict), "--json line is not an object: %r%s" % (line, describe(p))
    return evs


def redis_cli_cluster(pool, primaries=3, replicas=0):
    """Start primaries * (1 + replicas) nodes from pool and join them with
    redis-cli --cluster create."""
    nodes = pool.start(primaries * (1 + replicas))
    make_cluster_with_redis_cli(nodes, replicas)
    return nodes


def open_slot_lines(nodes):
    """[(addr, myself line)] for every live node with a MIGRATING/IMPORTING slot."""
    out = []
    for n in nodes:
        if not n.alive():
            continue
        line = myself_line(n)
        if "->-" in line or "-<-" in line:
            out.append((n.addr, line))
    return out


def assert_no_open_slot(nodes, context=""):
    bad = open_slot_lines(nodes)
    assert not bad, "%sopen slots left: %s" % (context, bad)


def ownership_snapshot(nodes):
    """What must not change: every node's slot map, its myself slots field
    (open slots included), its keys."""
    snap = {}
    for n in nodes:
        snap[n.addr] = (tuple(sorted(slot_owner_map(n).items())),
                        myself_line(n).split()[8:], n.client().dbsize())
    return snap


def diff_snapshot(a, b):
    """What changed between two ownership_snapshot()s ([] when nothing)."""
    out = []
    for addr in a:
        if a[addr][0] != b[addr][0]:
            bm = dict(b[addr][0])
            moved = [(s, o1[:8], bm.get(s, "-")[:8]) for s, o1 in a[addr][0] if bm.get(s) != o1]
            out.append("%s: %d slot owners changed, e.g. %s" % (addr, len(moved), moved[:5]))
        if a[addr][1] != b[addr][1]:
            out.append("%s: slots field %s -> %s" % (addr, a[addr][1][:6], b[addr][1][:6]))
        if a[addr][2] != b[addr][2]:
            out.append("%s: dbsize %d -> %d" % (addr, a[addr][2], b[addr][2]))
    return out

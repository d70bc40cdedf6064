"""Process, port and client helpers shared by the integration tests and bench/.

Plain Python (no pytest), so bench/ scripts can use the same code:

    sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
    import harness

tests/integration/conftest.py re-exports every name here, so test files keep
importing them with ``from conftest import ...``. Processes are only ever
stopped by pid (from a pid file, or found under a directory we created),
never by name.
"""

import glob
import os
import signal
import socket
import time

HOST = "127.0.0.1"


def _reap(pid):
    """Reap pid if it is our (zombie) child; never touches other children."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except (ChildProcessError, OSError):
        pass


def wait_until(fn, timeout, interval=0.1, desc="condition"):
    """Poll fn() until it returns a truthy value; fail after timeout s."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            v = fn()
            if v:
                return v
        except Exception as e:  # noqa: BLE001 - polled conditions may raise
            last_exc = e
        if time.monotonic() >= deadline:
            msg = "timed out after %.1fs waiting for %s" % (timeout, desc)
            if last_exc is not None:
                msg += " (last error: %r)" % (last_exc,)
            raise AssertionError(msg)
        time.sleep(interval)


def pid_alive(pid):
    """True if pid is a live (non-zombie) process."""
    if pid is None or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
        state = stat[stat.rindex(")") + 2:].split()[0]
        if state in ("Z", "X"):
            _reap(pid)
            return False
    except (OSError, ValueError, IndexError):
        return False
    return True


def pid_cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


def is_redis_server_pid(pid):
    """pid runs a redis-server or a valkey-server."""
    cmd = pid_cmdline(pid) if pid_alive(pid) else ""
    return "redis-server" in cmd or "valkey-server" in cmd


def stop_pid(pid, timeout=5.0):
    """SIGTERM, wait up to timeout, then SIGKILL. Returns when pid is gone."""
    if not pid_alive(pid):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if pid_alive(pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 5
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)


def read_pidfile(path):
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def kill_pids_in_dir(d):
    """Safety net: stop every redis-server whose pid is in d/**/*.pid."""
    for pf in glob.glob(os.path.join(str(d), "**", "*.pid"), recursive=True):
        pid = read_pidfile(pf)
        if pid and is_redis_server_pid(pid):
            stop_pid(pid)


def redis_pids_under(d):
    """pids of redis-server processes whose cwd is under d."""
    d = os.path.realpath(str(d))
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        pid = int(name)
        try:
            cwd = os.readlink("/proc/%d/cwd" % pid)
        except OSError:
            continue
        if (cwd == d or cwd.startswith(d + os.sep)) and is_redis_server_pid(pid):
            pids.append(pid)
    return pids


# ---------------------------------------------------------------------------
# ports


def port_free(port):
    """True if nothing listens on 127.0.0.1:port (bind test, like redis)."""
    if port <= 0 or port > 65535:
        return False
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((HOST, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


# ---------------------------------------------------------------------------
# redis-py


def follow_redirects_to_new_primaries(rc):
    """Patches a redis-py 4.3 RedisCluster for one client bug and returns it.
    A MOVED/ASK redirection to a primary that owned no slot when the client
    loaded its map (so is absent from its node cache) raises AttributeError
    ('NoneType' object has no attribute 'server_type') instead of being
    followed (https://github.com/redis/redis-py/issues/2432). Such redirects
    are normal while slots move to a brand-new primary; the patch follows
    them, as a correct client does. Every other error still surfaces."""
    from redis.cluster import PRIMARY, ClusterNode
    nm = rc.nodes_manager
    orig_get_node = nm.get_node

    def get_node(host=None, port=None, node_name=None):
        n = orig_get_node(host, port, node_name)
        if n is None and node_name and not (host or port):
            h, p = node_name.rsplit(":", 1)
            n = ClusterNode(h, int(p), PRIMARY)
            nm.create_redis_connections([n])
            nm.nodes_cache[n.name] = n
        return n

    nm.get_node = get_node
    return rc

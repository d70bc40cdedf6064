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
import subprocess
import time

HOST = "127.0.0.1"
OPENSSL = "/usr/bin/openssl"


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


# ---------------------------------------------------------------------------
# TLS: certificates made with the openssl CLI (independent of slotpilot's
# own generator), and the client arguments that go with them.

NODE_SAN = "IP:127.0.0.1,IP:::1,DNS:localhost"
EC_CURVE = "ec_paramgen_curve:prime256v1"  # P-256 keys: quick to make


def _openssl(*args, cwd=None):
    p = subprocess.run([OPENSSL] + [str(a) for a in args], capture_output=True, text=True,
                       timeout=60, stdin=subprocess.DEVNULL, cwd=cwd)
    if p.returncode != 0:
        raise RuntimeError("openssl %s failed: %s%s" % (" ".join(map(str, args)), p.stdout,
                                                         p.stderr))
    return p.stdout


class TlsCA:
    """A CA in directory d (ca.crt, ca.key), which signs certificates with
    `openssl ca` (so that validity dates can be set in the past)."""

    def __init__(self, d, name="slotpilot-test-ca"):
        self.dir = str(d)
        os.makedirs(self.dir, exist_ok=True)
        self.cert = os.path.join(self.dir, "ca.crt")
        self.key = os.path.join(self.dir, "ca.key")
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", EC_CURVE, "-nodes",
                 "-keyout", self.key, "-out", self.cert, "-days", 3650, "-subj", "/CN=%s" % name,
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        self._db = os.path.join(self.dir, "ca-db")
        os.makedirs(self._db, exist_ok=True)
        open(os.path.join(self._db, "index.txt"), "w").close()
        with open(os.path.join(self._db, "serial"), "w") as f:
            f.write("1000\n")

    def issue(self, name, san=NODE_SAN, start=None, end=None, days=3650,
              usage="serverAuth,clientAuth"):
        """(cert, key) paths for CN=name signed by this CA. san=None: no
        subjectAltName; start/end: YYYYMMDDHHMMSSZ validity (else now..days)."""
        base = os.path.join(self.dir, name)
        key, csr, crt = base + ".key", base + ".csr", base + ".crt"
        _openssl("req", "-newkey", "ec", "-pkeyopt", EC_CURVE, "-nodes", "-keyout", key,
                 "-out", csr, "-subj", "/CN=%s" % name)
        ext = base + ".ext"
        with open(ext, "w") as f:
            f.write("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                    "extendedKeyUsage=%s\n" % usage)
            if san:
                f.write("subjectAltName=%s\n" % san)
        conf = base + ".cnf"
        with open(conf, "w") as f:
            f.write("[ca]\ndefault_ca=d\n[d]\ndatabase=%s/index.txt\nserial=%s/serial\n"
                    "new_certs_dir=%s\ndefault_md=sha256\npolicy=p\nunique_subject=no\n"
                    "[p]\ncommonName=supplied\n" % (self._db, self._db, self._db))
        args = ["ca", "-batch", "-config", conf, "-cert", self.cert, "-keyfile", self.key,
                "-in", csr, "-out", crt, "-extfile", ext, "-notext"]
        if start or end:
            args += ["-startdate", start, "-enddate", end]
        else:
            args += ["-days", days]
        _openssl(*args)
        os.chmod(key, 0o600)
        return crt, key


class TlsFiles:
    """What a TLS node and its clients use: the CA, the node's certificate
    (also its client certificate on the bus and for replication) and the
    clients' certificate."""

    def __init__(self, ca, node_cert, node_key, client_cert, client_key, insecure=False):
        self.ca = ca
        self.cacert = ca.cert
        self.node_cert, self.node_key = node_cert, node_key
        self.client_cert, self.client_key = client_cert, client_key
        # The harness's own clients (redis-cli, redis-py) skip verifying the
        # node: for nodes whose certificate is wrong on purpose (expired).
        self.insecure = insecure

    def with_node_cert(self, cert, key, insecure=False):
        """The same CA and client, the node presenting cert/key."""
        return TlsFiles(self.ca, cert, key, self.client_cert, self.client_key, insecure)

    def server_conf(self, port):
        """redis.conf lines: TLS only on port, the bus and replication too,
        client certificates required."""
        return ["port 0", "tls-port %d" % port, "tls-cluster yes", "tls-replication yes",
                "tls-auth-clients yes", "tls-cert-file %s" % self.node_cert,
                "tls-key-file %s" % self.node_key, "tls-ca-cert-file %s" % self.cacert,
                "tls-client-cert-file %s" % self.node_cert,
                "tls-client-key-file %s" % self.node_key]

    def cli_args(self):
        """redis-cli's options."""
        return ["--tls", "--cacert", self.cacert, "--cert", self.client_cert,
                "--key", self.client_key] + (["--insecure"] if self.insecure else [])

    def sp_args(self):
        """slotpilot's options (redis-cli's names)."""
        return self.cli_args()

    def redis_kw(self):
        """redis-py's (redis.Redis and RedisCluster) keyword arguments."""
        return {"ssl": True, "ssl_ca_certs": self.cacert, "ssl_certfile": self.client_cert,
                "ssl_keyfile": self.client_key,
                "ssl_cert_reqs": "none" if self.insecure else "required"}


def make_tls_files(d):
    """A fresh CA in d with a node certificate (NODE_SAN) and a client one."""
    ca = TlsCA(d)
    node_cert, node_key = ca.issue("node")
    client_cert, client_key = ca.issue("client", san=None, usage="clientAuth")
    return TlsFiles(ca, node_cert, node_key, client_cert, client_key)

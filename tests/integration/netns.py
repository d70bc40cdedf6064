"""Hosts of our own for multi-host tests: Linux network namespaces.

One "switch" namespace holds a bridge; each host is a namespace joined to it
by a veth pair, with one address from 10.99.0.0/24 that exists only inside
these namespaces (nothing here is routed anywhere else). Nodes are
redis-server (or valkey-server) processes started inside a host namespace;
slotpilot, redis-cli and redis-py run inside one too (`Hosts.run`).

Needs root and `ip netns` (iproute2). `Hosts.available()` says why not, and
the tests skip with that reason. Everything is removed at close(): the nodes
(by their pid files only), then the namespaces.
"""

import os
import subprocess
import time

from harness import is_redis_server_pid, read_pidfile, stop_pid, wait_until

IP = "/usr/sbin/ip"
SUBNET = "10.99.0."


def _ip(*args, check=True):
    return subprocess.run([IP] + list(args), capture_output=True, text=True,
                          timeout=20, check=check)


class Hosts:
    def __init__(self, n, base_dir, server="/usr/bin/redis-server"):
        tag = "sp%d" % (os.getpid() % 100000)
        self.sw = tag + "sw"
        self.names = ["%sh%d" % (tag, i) for i in range(n)]
        self.addrs = [SUBNET + str(10 + i) for i in range(n)]
        self.base_dir = str(base_dir)
        self.server = server
        self.pidfiles = []
        self._made = []
        try:
            self._build()
        except Exception:
            self.close()
            raise

    @staticmethod
    def available():
        """None when namespaces can be made here, else the reason."""
        if os.geteuid() != 0:
            return "multi-host tests need root (ip netns)"
        if not os.path.exists(IP):
            return "multi-host tests need iproute2's ip"
        probe = "spprobe%d" % (os.getpid() % 100000)
        r = _ip("netns", "add", probe, check=False)
        if r.returncode != 0:
            return "ip netns add failed: " + r.stderr.strip()
        _ip("netns", "del", probe, check=False)
        return None

    def _build(self):
        _ip("netns", "add", self.sw)
        self._made.append(self.sw)
        self.exec_sw("ip", "link", "add", "br0", "type", "bridge")
        self.exec_sw("ip", "link", "set", "br0", "up")
        for i, (ns, addr) in enumerate(zip(self.names, self.addrs)):
            _ip("netns", "add", ns)
            self._made.append(ns)
            _ip("link", "add", "eth0", "netns", ns, "type", "veth", "peer",
                "name", "p%d" % i, "netns", self.sw)
            self.exec_sw("ip", "link", "set", "p%d" % i, "master", "br0",
                         "up")
            self.exec(i, "ip", "addr", "add", addr + "/24", "dev", "eth0")
            self.exec(i, "ip", "link", "set", "eth0", "up")
            self.exec(i, "ip", "link", "set", "lo", "up")

    def exec_sw(self, *argv):
        return _ip("netns", "exec", self.sw, *argv)

    def exec(self, host, *argv):
        return _ip("netns", "exec", self.names[host], *argv)

    def run(self, host, argv, timeout=120, input=None, env=None):
        """Runs argv inside host's namespace; a CompletedProcess."""
        return subprocess.run([IP, "netns", "exec", self.names[host]] +
                              [str(a) for a in argv], capture_output=True,
                              text=True, timeout=timeout, input=input,
                              env=env, stdin=None if input else subprocess.DEVNULL)

    def cut(self, host):
        """Takes host's link down (its cable pulled)."""
        self.exec_sw("ip", "link", "set", "p%d" % host, "down")

    def mend(self, host):
        self.exec_sw("ip", "link", "set", "p%d" % host, "up")

    def start_node(self, host, port, extra=()):
        """A cluster-enabled node on this host's address; its HOST:PORT."""
        addr = self.addrs[host]
        d = os.path.join(self.base_dir, "%s-%d" % (addr, port))
        os.makedirs(d, exist_ok=True)
        pidfile = os.path.join(d, "redis.pid")
        conf = os.path.join(d, "redis.conf")
        with open(conf, "w") as f:
            f.write("\n".join([
                "port %d" % port, "bind %s" % addr, "daemonize yes",
                "pidfile %s" % pidfile, "logfile %s/redis.log" % d,
                "dir %s" % d, "cluster-enabled yes",
                "cluster-config-file nodes.conf",
                "cluster-node-timeout 2000", "appendonly no", 'save ""',
                "protected-mode no"] + list(extra)) + "\n")
        r = self.run(host, [self.server, conf], timeout=20)
        assert r.returncode == 0, r.stdout + r.stderr
        self.pidfiles.append(pidfile)
        wait_until(lambda: read_pidfile(pidfile), 10, 0.05,
                   "pid file of %s:%d" % (addr, port))
        wait_until(lambda: self.run(host, ["redis-cli", "-h", addr, "-p",
                                           port, "PING"],
                                    timeout=5).stdout.strip() == "PONG",
                   10, 0.05, "PONG from %s:%d" % (addr, port))
        return "%s:%d" % (addr, port)

    def cli(self, host, addr, *args):
        h, p = addr.rsplit(":", 1)
        r = self.run(host, ["redis-cli", "-h", h, "-p", p] + list(args),
                     timeout=20)
        return r.stdout

    def close(self):
        for pidfile in self.pidfiles:
            pid = read_pidfile(pidfile)
            if pid and is_redis_server_pid(pid):
                stop_pid(pid)
        for ns in reversed(self._made):
            _ip("netns", "del", ns, check=False)
        # A namespace disappears once its last process is gone.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(
                ns in _ip("netns", "list", check=False).stdout
                for ns in self._made):
            time.sleep(0.05)

"""Addresses as operators configure them: nodes whose cluster bus port is
not port + 10000 (cluster-port, common in containers)."""

import socket
import threading

from conftest import (assert_rc, describe, pick_port,
                      redis_cli_check, redis_cli_clean, redis_cli_cluster,
                      run_sp, wait_until)
from conftest import cluster_client, redis_cli, skip_if_tls  # TLS-aware (SLOTPILOT_TLS)


def _start_with_bus_ports(pool, n):
    """n nodes, each with its own cluster-port (a free port that is not
    port + 10000)."""
    nodes = []
    for _ in range(n):
        bus = pick_port()
        node = pool.start(1, extra_conf=["cluster-port %d" % bus])[0]
        node.bus = bus
        nodes.append(node)
    return nodes


def _knows_all(nodes):
    return all(int(n.cluster_info()["cluster_known_nodes"]) == len(nodes) and
               n.cluster_info()["cluster_state"] == "ok" for n in nodes)


def _announced_bus_ports(node):
    """addr -> bus port, as node's CLUSTER NODES shows them."""
    out = {}
    for line in node.cli("CLUSTER", "NODES").splitlines():
        addr = line.split()[1].split(",")[0]
        hostport, bus = addr.split("@")
        out[hostport] = int(bus)
    return out


def test_create_and_add_node_with_custom_bus_ports(node_pool):
    nodes = _start_with_bus_ports(node_pool, 4)
    p = run_sp("create", *[n.addr for n in nodes[:3]], "--yes", "--wait",
               "60", timeout=90)
    assert_rc(p, 0)
    wait_until(lambda: _knows_all(nodes[:3]), 30, desc="3 nodes agree")
    for n in nodes[:3]:
        seen = _announced_bus_ports(n)
        for m in nodes[:3]:
            assert seen[m.addr] == m.bus, (n.addr, seen)

    p = run_sp("add-node", nodes[0].addr, nodes[3].addr, "--yes", "--wait", "60",
               timeout=90)
    assert_rc(p, 0)
    wait_until(lambda: _knows_all(nodes), 30, desc="4 nodes agree")
    assert _announced_bus_ports(nodes[1])[nodes[3].addr] == nodes[3].bus
    rc, out = redis_cli_check(nodes[0].addr)
    assert redis_cli_clean(rc, out), out


# ---------------------------------------------------------------------------
# convergence before resolution (DESIGN rule 1)


def test_reshard_to_a_node_added_a_moment_ago_waits_for_gossip(node_pool):
    """redis-cli's add-node returns once it sent MEET; the entry node may not
    have heard of the new node yet. reshard --to its id waits for gossip
    instead of exiting 2."""
    nodes = redis_cli_cluster(node_pool, 3, 0)
    new = node_pool.start(1)[0]
    p = redis_cli("--cluster", "add-node", new.addr, nodes[1].addr, tls=new.tls)
    assert p.returncode == 0, p.stdout + p.stderr
    p = run_sp("reshard", nodes[0].addr, "--from", "all", "--to", new.myid(),
               "--slots", "30", "--yes", "--wait", "60", timeout=120)
    assert_rc(p, 0)
    mine = [n for n in nodes[0].cluster_nodes() if n["id"] == new.myid()]
    assert mine and sum(b - a + 1 for a, b in mine[0]["slots"]) == 30, mine
    rc, out = redis_cli_check(nodes[0].addr)
    assert redis_cli_clean(rc, out), out


def test_an_id_no_node_knows_is_still_exit_2_and_nothing_moves(node_pool):
    nodes = redis_cli_cluster(node_pool, 3, 0)
    before = [(n["id"], n["slots"]) for n in nodes[0].cluster_nodes()]
    for args in (["reshard", nodes[0].addr, "--from", "all", "--to",
                  "0123456789abcdef", "--slots", "10", "--yes"],
                 ["remove-node", nodes[0].addr, "0123456789abcdef", "--yes"],
                 ["failover", nodes[0].addr, "127.0.0.1:1", "--yes"]):
        p = run_sp(*args, "--wait", "30", timeout=60)
        assert_rc(p, 2)
        assert "unknown node" in p.stderr, describe(p)
    assert [(n["id"], n["slots"]) for n in nodes[0].cluster_nodes()] == before


# ---------------------------------------------------------------------------
# announced addresses, hostnames, IPv6


def _slots_moved_to(node, nid):
    mine = [n for n in node.cluster_nodes() if n["id"] == nid]
    return sum(b - a + 1 for a, b in mine[0]["slots"]) if mine else 0


def _create_move_check(nodes, entry_of, cluster_addr_of):
    """create through the addresses cluster_addr_of gives, then check,
    reshard and check again through entry_of(node)."""
    p = run_sp("create", *[cluster_addr_of(n) for n in nodes], "--yes",
               "--wait", "60", timeout=90)
    assert_rc(p, 0)
    entry = entry_of(nodes[0])
    assert_rc(run_sp("check", entry, "--wait", "30", timeout=60), 0)
    target = nodes[2].myid()
    p = run_sp("reshard", entry, "--from", "all", "--to", target,
               "--slots", "50", "--yes", timeout=120)
    assert_rc(p, 0)
    assert _slots_moved_to(nodes[0], target) == 16384 // 3 + 1 + 50 or \
        _slots_moved_to(nodes[0], target) == 16384 // 3 + 50
    assert_rc(run_sp("check", entry, timeout=60), 0)


# In TLS mode (SLOTPILOT_TLS=1) slotpilot rightly refuses a node at
# 127.0.0.2: the session's node certificate names 127.0.0.1, ::1 and
# localhost only.
NOT_127_0_0_2 = skip_if_tls("nodes announce 127.0.0.2, which the session's node certificate "
                            "does not name (slotpilot refuses it: IP address mismatch)")


@NOT_127_0_0_2
def test_nodes_announcing_another_address_as_behind_nat(node_pool):
    """Each node binds 127.0.0.1 and 127.0.0.2 and announces 127.0.0.2
    (cluster-announce-ip): slotpilot, entered at 127.0.0.1, must use the
    announced addresses for every other node."""
    nodes = node_pool.start(3, extra_conf=["bind 127.0.0.1 127.0.0.2",
                                           "cluster-announce-ip 127.0.0.2"])
    _create_move_check(nodes, lambda n: n.addr,
                       lambda n: "127.0.0.2:%d" % n.port)
    for v in nodes[1].cluster_nodes():
        assert v["addr"].startswith("127.0.0.2:"), v


def test_hostnames_as_the_preferred_endpoint_and_an_entry_by_name(node_pool):
    nodes = node_pool.start(3, extra_conf=[
        "cluster-announce-hostname localhost",
        "cluster-preferred-endpoint-type hostname"])
    _create_move_check(nodes, lambda n: "localhost:%d" % n.port,
                       lambda n: n.addr)
    p = run_sp("traffic", "localhost:%d" % nodes[0].port, "--seconds", "2",
               "--rate", "200", "--keys", "200", timeout=60)
    assert_rc(p, 0)


def test_a_cluster_on_ipv6_loopback(node_pool):
    nodes = node_pool.start(3, extra_conf=["bind 127.0.0.1 ::1"])
    _create_move_check(nodes, lambda n: "[::1]:%d" % n.port,
                       lambda n: "[::1]:%d" % n.port)
    for v in nodes[1].cluster_nodes():
        assert v["addr"].startswith("::1:"), v
    code, out = redis_cli_check("::1:%d" % nodes[0].port)
    assert redis_cli_clean(code, out), out


# ---------------------------------------------------------------------------
# placement by host (two hosts on loopback: 127.0.0.1 and, announced,
# 127.0.0.2)


def _two_host_nodes(pool):
    here = pool.start(3)
    there = pool.start(3, extra_conf=["bind 127.0.0.1 127.0.0.2",
                                      "cluster-announce-ip 127.0.0.2"])
    for n in there:
        n.announced = "127.0.0.2:%d" % n.port
    for n in here:
        n.announced = n.addr
    return here + there


@NOT_127_0_0_2
def test_create_puts_no_replica_on_its_primarys_host_and_check_reports_one(node_pool):
    nodes = _two_host_nodes(node_pool)
    p = run_sp("create", *[n.announced for n in nodes], "--replicas", "1",
               "--yes", "--wait", "60", timeout=90)
    assert_rc(p, 0)
    assert "same host" not in p.stdout, p.stdout
    host = {}
    for v in nodes[0].cluster_nodes():
        host[v["id"]] = v["addr"].rsplit(":", 1)[0]
    view = nodes[0].cluster_nodes()
    reps = [v for v in view if not v["primary"]]
    assert len(reps) == 3
    for r in reps:
        assert host[r["id"]] != host[r["master"]], view
    assert_rc(run_sp("check", nodes[0].addr, "--wait", "30", timeout=60), 0)

    # Move one replica under a primary on its own host: check reports it.
    r = reps[0]
    same = [v for v in view if v["primary"] and host[v["id"]] == host[r["id"]]]
    node = [n for n in nodes if n.myid() == r["id"]][0]
    node.cli("CLUSTER", "REPLICATE", same[0]["id"])
    wait_until(lambda: all(any(v["id"] == r["id"] and v["master"] == same[0]["id"]
                               for v in n.cluster_nodes()) for n in nodes),
               30, desc="the replica's new primary known everywhere")
    p = run_sp("check", nodes[0].addr, "--json", timeout=60)
    assert_rc(p, 1)
    assert "replica-same-host" in p.stdout, describe(p)


# ---------------------------------------------------------------------------
# NAT: nodes announcing ports other than their own (cluster-announce-port
# and cluster-announce-bus-port), reached through port forwarders


class Forwarder:
    """Forwards 127.0.0.1:listen to 127.0.0.1:to, both ways, as a NAT's port
    mapping does; stopped (threads joined, sockets closed) by close()."""

    def __init__(self, listen, to):
        self.to = to
        self.srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", listen))
        self.srv.listen(64)
        self.srv.settimeout(0.2)
        self.stop = threading.Event()
        self.socks = []
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    def _accept(self):
        while not self.stop.is_set():
            try:
                a, _ = self.srv.accept()
            except (socket.timeout, OSError):
                continue
            try:
                b = socket.create_connection(("127.0.0.1", self.to), timeout=2)
            except OSError:
                a.close()
                continue
            self.socks += [a, b]
            for x, y in ((a, b), (b, a)):
                t = threading.Thread(target=self._pipe, args=(x, y), daemon=True)
                t.start()
                self.threads.append(t)

    def _pipe(self, x, y):
        x.settimeout(0.2)
        while not self.stop.is_set():
            try:
                data = x.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                break
            if not data:
                break
            try:
                y.sendall(data)
            except OSError:
                break
        for s in (x, y):
            try:
                s.shutdown(2)
            except OSError:
                pass

    def close(self):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=2)
        for s in self.socks + [self.srv]:
            s.close()


def test_nodes_behind_nat_announcing_other_ports(node_pool):
    fwd = []
    try:
        nodes = []
        for _ in range(3):
            outer = pick_port()  # outer and outer + 10000 are free
            node = node_pool.start(1, extra_conf=[
                "cluster-announce-ip 127.0.0.1",
                "cluster-announce-port %d" % outer,
                "cluster-announce-bus-port %d" % (outer + 10000)])[0]
            fwd.append(Forwarder(outer, node.port))
            fwd.append(Forwarder(outer + 10000, node.port + 10000))
            node.outer = "127.0.0.1:%d" % outer
            nodes.append(node)
        p = run_sp("create", *[n.outer for n in nodes], "--yes", "--wait",
                   "60", timeout=90)
        assert_rc(p, 0)
        wait_until(lambda: _knows_all(nodes), 30, desc="3 nodes agree")
        for v in nodes[0].cluster_nodes():
            assert v["addr"] in [n.outer for n in nodes], v
        entry = nodes[0].outer
        assert_rc(run_sp("check", entry, "--wait", "30", timeout=60), 0)
        rc = cluster_client("127.0.0.1", int(entry.rsplit(":", 1)[1]),
                            decode_responses=True)
        try:
            for i in range(600):
                rc.set("nat:%d" % i, str(i))
            p = run_sp("reshard", entry, "--from", "all", "--to",
                       nodes[2].myid(), "--slots", "2000", "--yes", timeout=120)
            assert_rc(p, 0)
            assert "keys" in p.stdout and " 0 keys" not in p.stdout, p.stdout
            assert_rc(run_sp("check", entry, timeout=60), 0)
            rc.nodes_manager.initialize()
            assert all(rc.get("nat:%d" % i) == str(i) for i in range(600))
        finally:
            rc.close()
    finally:
        for f in fwd:
            f.close()

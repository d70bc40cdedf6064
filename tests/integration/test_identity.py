"""Identity: a node reached at an address its peers gave must answer
CLUSTER MYID with the id they gave, or it is foreign (a reused address,
another cluster, a standalone server): gather reports it, add-node does not
MEET it, and the local deprovisioner stops only the redis-server it started,
at the host and port it was asked for."""
import os
import signal
import subprocess

from conftest import (HOST, NODE_TIMEOUT_MS, REDIS_SERVER, _ALL_NODES, Node, _write_conf, assert_rc, describe,
                      finding_codes, make_cluster_by_hand, pick_port, pid_alive, read_pidfile,
                      run_sp, sp_json, wait_cluster_healthy, wait_until)
from test_autoscale import base_config, events, http_get, procs, start_daemon, status  # noqa: F401

RANGES = [(0, 5460), (5461, 10922), (10923, 16383)]


def start_at(pool, port, host=HOST, extra_conf=None, name="foreign"):
    """A redis-server on exactly host:port (the address to reuse)."""
    d = os.path.join(pool.base_dir, "%s-%d" % (name, port))
    os.makedirs(d, exist_ok=True)
    node = Node(port, d)
    node.host = host
    other_host = ["bind %s" % host, "bind-source-addr %s" % host,
                  "cluster-announce-ip %s" % host] if host != HOST else []
    _write_conf(node, other_host + (extra_conf or []))
    subprocess.run([REDIS_SERVER, node.conf], check=True, timeout=15, cwd=d,
                   stdin=subprocess.DEVNULL, capture_output=True)
    wait_until(lambda: read_pidfile(node.pidfile), 10, 0.05, "%s's pid file" % node.addr)
    node.pid = read_pidfile(node.pidfile)
    pool.nodes.append(node)
    _ALL_NODES.append(node)
    wait_until(lambda: node.client().ping(), 10, 0.05, "PING on %s" % node.addr)
    return node


def cluster_with_empty_fourth(pool):
    """Three primaries owning every slot and a fourth, empty primary."""
    nodes = make_cluster_by_hand(pool, RANGES)
    extra = pool.start(1)[0]
    extra.cli("CLUSTER", "MEET", HOST, nodes[0].port)
    wait_cluster_healthy(nodes + [extra])
    return nodes, extra


def replace_by_foreign(pool, victim, extra_conf=None):
    """Kills victim and starts a stranger on its address. Its bus listens
    elsewhere: a peer whose PING reached it would see the other id and
    drop the address itself (Redis marks the node noaddr), and then only
    a race would leave slotpilot anything to check."""
    vid = victim.myid()
    victim.kill(signal.SIGKILL)
    bus = ["cluster-port %d" % pick_port()]
    return vid, start_at(pool, victim.port, extra_conf=bus + (extra_conf or []))


def assert_not_met(members, stranger, sid):
    """Nobody MEETs a stranger without it showing at once in the sender's
    own CLUSTER NODES (a handshake entry), and in the stranger's."""
    for n in members:
        ids = [e["id"] for e in n.cluster_nodes()]
        assert sid not in ids, "%s met the foreign node: %s" % (n.addr, ids)
        assert not any("handshake" in e["flags"] for e in n.cluster_nodes()), n.addr
    if sid is not None:
        assert int(stranger.cluster_info()["cluster_known_nodes"]) == 1


def test_check_reports_a_foreign_cluster_node_at_a_members_address(node_pool):
    nodes, extra = cluster_with_empty_fourth(node_pool)
    vid, stranger = replace_by_foreign(node_pool, extra)
    sid = stranger.myid()
    assert sid != vid
    p, data = sp_json("check", nodes[0].addr, rc=1)
    assert "foreign" in finding_codes(data), describe(p)
    f = [f for f in data["findings"] if f["code"] == "foreign"][0]
    assert f["node"] == stranger.addr
    assert sid in f["message"] and vid in f["message"], f
    assert_not_met(nodes, stranger, sid)


def test_check_reports_a_standalone_server_at_a_members_address(node_pool):
    nodes, extra = cluster_with_empty_fourth(node_pool)
    vid, stranger = replace_by_foreign(node_pool, extra, ["cluster-enabled no"])
    p, data = sp_json("check", nodes[0].addr, rc=1)
    f = [f for f in data["findings"] if f["code"] == "foreign"]
    assert f and "not a cluster node" in f[0]["message"], describe(p)
    assert vid in f[0]["message"]
    assert_not_met(nodes, stranger, None)


def test_add_node_does_not_meet_a_foreign_node_at_a_members_address(node_pool):
    nodes, extra = cluster_with_empty_fourth(node_pool)
    vid, stranger = replace_by_foreign(node_pool, extra)
    sid = stranger.myid()
    p = run_sp("add-node", nodes[0].addr, stranger.addr, "--yes", timeout=60)
    assert_rc(p, 4)
    assert "foreign" in p.stderr and vid in p.stderr, describe(p)
    assert_not_met(nodes, stranger, sid)


def test_remove_node_forgets_a_replaced_member_but_never_deprovisions_the_stranger(
        node_pool, tmp_path):
    nodes, extra = cluster_with_empty_fourth(node_pool)
    vid, stranger = replace_by_foreign(node_pool, extra)
    sid = stranger.myid()
    marker = tmp_path / "deprovisioned"
    p = run_sp("remove-node", nodes[0].addr, vid, "--deprovision", "exec",
               "--deprovision-cmd", "echo >> %s" % marker,
               "--journal-dir", str(tmp_path / "j"), "--yes", timeout=120)
    assert_rc(p, 0)
    for n in nodes:
        assert vid not in [e["id"] for e in n.cluster_nodes()], n.addr
    assert not marker.exists(), "the deprovisioner ran for %s" % marker.read_text()
    assert stranger.alive() and stranger.myid() == sid
    assert_not_met(nodes, stranger, sid)


def collects(port):
    for line in http_get(port, "/metrics")[1].splitlines():
        if line.startswith("slotpilot_collects_total "):
            return float(line.split()[1])
    raise AssertionError("no slotpilot_collects_total in /metrics")


def test_daemon_gossip_repair_does_not_meet_a_foreign_node(procs, node_pool, tmp_path):
    nodes, extra = cluster_with_empty_fourth(node_pool)
    vid, stranger = replace_by_foreign(node_pool, extra)
    sid = stranger.myid()
    port = pick_port()
    d = start_daemon(procs, tmp_path, nodes[0].addr, base_config(tmp_path) +
                     "[gossip]\ngrace = 0.5s\nalert_after = 60s\n",
                     "--listen", "%s:%d" % (HOST, port))

    def seen_foreign():
        assert d.alive(), "the daemon exited: %s" % d.stderr()[-2000:]
        ns = [n for n in status(port)["nodes"] if n["addr"] == stranger.addr]
        return ns and not ns[0]["reachable"] and "foreign" in ns[0]["error"]
    wait_until(seen_foreign, 30, 0.2, "the daemon to see the foreign node")
    # Witness: ten more snapshots (3 s at 0.3 s) are past the 0.5 s grace
    # after which a gossip gap is repaired by a MEET.
    first = collects(port)
    wait_until(lambda: collects(port) >= first + 10, 30, 0.2, "ten more snapshots")
    assert not [e for e in events(d) if e["event"] == "meet"], events(d)
    assert_not_met(nodes, stranger, sid)
    assert d.stop() == 0


# ---------------------------------------------------------------------------
# the local deprovisioner


def spawn_local(tmp_path, port):
    d = str(tmp_path / "local")
    p = run_sp("local", "spawn", "--dir", d, "--count", 1, "--port", port,
               "--node-timeout", NODE_TIMEOUT_MS, timeout=60)
    assert_rc(p, 0)
    addr = p.stdout.split()[0]
    node = Node(int(addr.rsplit(":", 1)[1]), os.path.join(d, addr.rsplit(":", 1)[1]))
    node.pid = read_pidfile(node.pidfile)
    return d, node


def stop_local(d):
    run_sp("local", "down", "--dir", d, "--purge", timeout=60)


def test_deprovision_of_another_host_leaves_the_local_node_on_that_port(node_pool, tmp_path):
    nodes = make_cluster_by_hand(node_pool, RANGES)
    d, local = spawn_local(tmp_path, nodes[0].port + 100)
    try:
        # The same port on another loopback address: a member of the cluster.
        other = start_at(node_pool, local.port, host="127.0.0.2", name="other")
        other.cli("CLUSTER", "MEET", HOST, nodes[0].port)
        wait_cluster_healthy(nodes + [other])
        p = run_sp("remove-node", nodes[0].addr, other.addr, "--deprovision", "local",
                   "--dir", d, "--journal-dir", str(tmp_path / "j"), "--yes", timeout=120)
        assert_rc(p, 4)
        assert "127.0.0.2:%d is not the local node" % local.port in p.stderr, describe(p)
        assert pid_alive(local.pid) and local.client().ping()
        assert os.path.exists(local.conf)
    finally:
        stop_local(d)


def test_deprovision_with_a_stale_pid_file_stops_nothing(node_pool, tmp_path):
    nodes = make_cluster_by_hand(node_pool, RANGES)
    bystander = node_pool.start(1)[0]  # a redis-server that is no node of ours
    d, local = spawn_local(tmp_path, nodes[0].port + 100)
    try:
        assert_rc(run_sp("add-node", nodes[0].addr, local.addr, "--yes", timeout=60), 0)
        with open(local.pidfile, "w") as f:
            f.write("%d\n" % bystander.pid)
        p = run_sp("remove-node", nodes[0].addr, local.addr, "--deprovision", "local",
                   "--dir", d, "--journal-dir", str(tmp_path / "j"), "--yes", timeout=120)
        assert_rc(p, 4)
        assert "not by the redis-server" in p.stderr, describe(p)
        assert pid_alive(bystander.pid) and bystander.client().ping()
        assert local.client().ping() and os.path.exists(local.conf)
    finally:
        with open(local.pidfile, "w") as f:
            f.write("%d\n" % local.pid)
        stop_local(d)

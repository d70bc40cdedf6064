"""Addresses as operators configure them: nodes whose cluster bus port is
not port + 10000 (cluster-port, common in containers)."""

from conftest import (assert_rc, pick_port, redis_cli_check, redis_cli_clean,
                      run_sp, wait_until)


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

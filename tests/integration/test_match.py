"""New nodes match the cluster before they join as primaries: functions are
copied, and a different version, ACL user or cluster setting is refused
with each difference named, unless the operator copies or accepts it."""

from conftest import (HOST, assert_rc, describe, redis_cli_check,
                      redis_cli_clean, redis_cli_cluster, run_sp)
from conftest import cluster_client  # TLS-aware (SLOTPILOT_TLS)

LIB = ("#!lua name=splib\n"
       "redis.register_function('spget', function(keys, args) "
       "return redis.call('GET', keys[1]) end)")


def _add(entry, new, *extra):
    return run_sp("add-node", entry.addr, new.addr, "--yes", *extra,
                  timeout=120)


def _known_by_none(nodes, new):
    nid = new.myid()
    return all(nid not in n.cli("CLUSTER", "NODES") for n in nodes)


def test_new_primary_gets_the_functions_and_fcall_works_after_a_move(node_pool):
    nodes = redis_cli_cluster(node_pool, 3, 0)
    for n in nodes:
        n.client().execute_command("FUNCTION", "LOAD", LIB)
    new = node_pool.start(1)[0]
    assert_rc(_add(nodes[0], new), 0)
    libs = new.client().execute_command("FUNCTION", "LIST")
    assert any(b"splib" in (x if isinstance(x, bytes) else str(x).encode())
               for lib in libs for x in lib), libs
    p = run_sp("reshard", nodes[0].addr, "--from", "all", "--to", new.myid(),
               "--slots", "300", "--yes", timeout=120)
    assert_rc(p, 0)
    rc = cluster_client(HOST, nodes[0].port, decode_responses=True)
    try:
        keys = ["fk:%d" % i for i in range(300)]
        for k in keys:
            rc.set(k, k)
        on_new = [k for k in keys
                  if rc.get_node_from_key(k).port == new.port]
        assert on_new, "no key landed on the new primary"
        for k in keys:
            assert rc.fcall("spget", 1, k) == k
    finally:
        rc.close()
    code, out = redis_cli_check(nodes[0].addr)
    assert redis_cli_clean(code, out), out


def test_missing_acl_user_is_refused_then_copied_with_copy_acl(node_pool):
    nodes = redis_cli_cluster(node_pool, 3, 0)
    for n in nodes:
        n.cli("ACL", "SETUSER", "alice", "on", ">s3cret", "~app:*", "+get")
    new = node_pool.start(1)[0]
    p = _add(nodes[0], new)
    assert_rc(p, 4)
    assert "ACL user alice missing on the node" in p.stderr, describe(p)
    assert _known_by_none(nodes, new)
    assert "alice" not in new.cli("ACL", "LIST")

    assert_rc(_add(nodes[0], new, "--copy-acl"), 0)
    want = [l for l in nodes[0].cli("ACL", "LIST").splitlines() if "alice" in l]
    got = [l for l in new.cli("ACL", "LIST").splitlines() if "alice" in l]
    assert got == want and want, (got, want)


def test_a_different_setting_is_refused_unless_allowed(node_pool):
    nodes = redis_cli_cluster(node_pool, 3, 0)
    new = node_pool.start(1)[0]
    new.cli("CONFIG", "SET", "maxmemory-policy", "allkeys-lru")
    p = _add(nodes[0], new)
    assert_rc(p, 4)
    assert "maxmemory-policy \"allkeys-lru\" on the node" in p.stderr, describe(p)
    assert _known_by_none(nodes, new)

    p = _add(nodes[0], new, "--allow-drift", "bogus-setting")
    assert_rc(p, 2)
    assert "bogus-setting" in p.stderr, describe(p)
    assert _known_by_none(nodes, new)

    assert_rc(_add(nodes[0], new, "--allow-drift", "maxmemory-policy"), 0)
    assert new.myid() in nodes[1].cli("CLUSTER", "NODES")

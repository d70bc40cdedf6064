"""Defects of issue 13 part 5 seen from the command line, against real
redis-server nodes: a node that answers NOPERM is reachable, so the error
names the node and the command and the exit code is not 3 (unreachable)."""

import pytest

from conftest import assert_rc, describe, make_cluster_with_redis_cli, run_sp

USER, PASS = "nocluster", "pw-nocluster"


@pytest.fixture(scope="module")
def acl_cluster(module_node_pool):
    """Three primaries, each with an ACL user that may run everything but
    CLUSTER commands."""
    nodes = module_node_pool.start(3)
    make_cluster_with_redis_cli(nodes, 0)
    for n in nodes:
        n.cli("ACL", "SETUSER", USER, "on", ">" + PASS, "~*", "&*", "+@all", "-cluster")
    return nodes


def test_check_without_cluster_permission_names_node_and_noperm(acl_cluster):
    addr = acl_cluster[0].addr
    p = run_sp("check", addr, "--user", USER, "-a", PASS)
    assert p.returncode != 3, "NOPERM reported as unreachable%s" % describe(p)
    assert_rc(p, (1, 4))
    assert "NOPERM" in p.stderr, describe(p)
    assert addr in p.stderr, describe(p)
    assert "CLUSTER" in p.stderr, describe(p)


def test_check_with_cluster_permission_still_passes(acl_cluster):
    for n in acl_cluster:
        n.cli("ACL", "SETUSER", "full", "on", ">pw-full", "~*", "&*", "+@all")
    p = run_sp("check", acl_cluster[0].addr, "--user", "full", "-a", "pw-full")
    assert_rc(p, 0)

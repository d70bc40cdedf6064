"""slotpilot check: healthy clusters, clusters broken by hand (compared with
`redis-cli --cluster check` on the same cluster), unreachable entries, auth."""

import socket

import pytest

from conftest import (HOST, assert_rc, describe, finding_codes, free_unused_port,
                      make_cluster_with_redis_cli, primaries_of, redis_cli_check,
                      redis_cli_flags, replicas_of, run_sp, sp_json, wait_until)

CODES = {"unreachable", "slots-uncovered", "slot-multi-owner", "open-slot", "owners-disagree",
         "membership-disagree", "state-not-ok", "node-fail", "node-pfail", "handshake",
         "epoch-collision", "expect-nodes", "expect-primaries", "min-replicas"}


def assert_findings_schema(data, p):
    assert isinstance(data.get("ok"), bool), describe(p)
    assert isinstance(data.get("nodes"), int), describe(p)
    assert isinstance(data.get("primaries"), int), describe(p)
    assert isinstance(data.get("findings"), list), describe(p)
    for f in data["findings"]:
        assert f.get("code") in CODES, "unknown finding code %r%s" % (f.get("code"), describe(p))
        assert f.get("severity") in ("error", "warning"), describe(p)
        assert "slot" in f and (f["slot"] is None or isinstance(f["slot"], int)), describe(p)
        assert "node" in f and (f["node"] is None or isinstance(f["node"], str)), describe(p)
        assert isinstance(f.get("message"), str), describe(p)


def check_json(addr, *extra, rc=None, **kw):
    p, data = sp_json("check", addr, *extra, rc=rc, **kw)
    assert_findings_schema(data, p)
    return p, data


def assert_flagged(addr, p, data, code, slot=None, node=None, redis_cli_must_flag=True):
    """Ours: exit 1, ok false, a finding with `code` (and slot/node if given).
    redis-cli --cluster check on the same cluster: flags something too."""
    assert_rc(p, 1)
    assert data["ok"] is False, describe(p)
    matching = [f for f in data["findings"] if f["code"] == code]
    assert matching, "expected a %r finding, got codes %s%s" % (code, finding_codes(data), describe(p))
    if slot is not None:
        assert any(f["slot"] == slot for f in matching), \
            "no %r finding for slot %d: %s%s" % (code, slot, matching, describe(p))
    if node is not None:
        assert any(f["node"] == node for f in matching), \
            "no %r finding for node %s: %s%s" % (code, node, matching, describe(p))
    if redis_cli_must_flag:
        rc, out = redis_cli_check(addr)
        assert redis_cli_flags(rc, out), "oracle sanity: redis-cli did not flag it:\n" + out


# ---------------------------------------------------------------------------
# healthy cluster (shared, not mutated)


@pytest.fixture(scope="module")
def healthy(module_node_pool):
    nodes = module_node_pool.start(6)
    make_cluster_with_redis_cli(nodes, 1)
    return nodes


def test_check_healthy_cluster_exits_0(healthy):
    p = run_sp("check", healthy[0].addr)
    assert_rc(p, 0)


def test_check_healthy_cluster_json_reports_ok_6_nodes_3_primaries(healthy):
    p, data = check_json(healthy[0].addr, rc=0)
    assert data["ok"] is True, describe(p)
    assert data["nodes"] == 6, describe(p)
    assert data["primaries"] == 3, describe(p)
    assert data["findings"] == [], describe(p)


def test_check_healthy_cluster_from_replica_entry(healthy):
    replica = replicas_of(healthy)[0]
    p, data = check_json(replica.addr, rc=0)
    assert data["ok"] is True and data["nodes"] == 6 and data["primaries"] == 3, describe(p)


def test_check_expectations_that_hold_pass(healthy):
    p = run_sp("check", healthy[0].addr, "--expect-nodes", "6", "--expect-primaries", "3",
               "--min-replicas", "1")
    assert_rc(p, 0)


def test_check_expect_nodes_mismatch_is_a_finding(healthy):
    p, data = check_json(healthy[0].addr, "--expect-nodes", "7")
    assert_rc(p, 1)
    assert "expect-nodes" in finding_codes(data), describe(p)
    assert data["ok"] is False, describe(p)


def test_check_expect_primaries_mismatch_is_a_finding(healthy):
    p, data = check_json(healthy[0].addr, "--expect-primaries", "4")
    assert_rc(p, 1)
    assert "expect-primaries" in finding_codes(data), describe(p)


def test_check_min_replicas_not_met_is_a_finding(healthy):
    p, data = check_json(healthy[0].addr, "--min-replicas", "2")
    assert_rc(p, 1)
    assert "min-replicas" in finding_codes(data), describe(p)


def test_check_accepts_timeout_option(healthy):
    p = run_sp("check", healthy[0].addr, "--timeout", "2000")
    assert_rc(p, 0)


# ---------------------------------------------------------------------------
# clusters broken by hand (fresh cluster per test)


@pytest.fixture
def cluster3(node_pool):
    nodes = node_pool.start(3)
    make_cluster_with_redis_cli(nodes, 0)
    return nodes


@pytest.fixture
def cluster6(node_pool):
    nodes = node_pool.start(6)
    make_cluster_with_redis_cli(nodes, 1)
    return nodes


def _owner_and_other(nodes, slot):
    ids = {n.myid(): n for n in nodes}
    owner_id = [v["id"] for v in nodes[0].cluster_nodes()
                if v["primary"] and any(a <= slot <= b for a, b in v["slots"])][0]
    owner = ids[owner_id]
    others = [n for n in primaries_of(nodes) if n is not owner]
    return owner, others


def test_check_flags_slot_migrating_on_one_node_only(cluster3):
    slot = 100
    owner, others = _owner_and_other(cluster3, slot)
    owner.cli("CLUSTER", "SETSLOT", slot, "MIGRATING", others[0].myid())
    entry = others[1].addr  # a node not involved: check must look at every node
    p, data = check_json(entry)
    assert_flagged(entry, p, data, "open-slot", slot=slot)


def test_check_flags_slot_importing_on_one_node_only(cluster3):
    slot = 7000
    owner, others = _owner_and_other(cluster3, slot)
    others[0].cli("CLUSTER", "SETSLOT", slot, "IMPORTING", owner.myid())
    entry = others[1].addr
    p, data = check_json(entry)
    assert_flagged(entry, p, data, "open-slot", slot=slot)


def test_check_flags_unassigned_slot_as_uncovered(cluster3):
    slot = 12000
    owner, others = _owner_and_other(cluster3, slot)
    owner.cli("CLUSTER", "DELSLOTS", slot)
    wait_until(lambda: owner.cluster_info()["cluster_state"] == "fail", 10, 0.1,
               "owner to notice the uncovered slot")
    p, data = check_json(owner.addr)
    assert_flagged(owner.addr, p, data, "slots-uncovered")
    uncovered = [f for f in data["findings"] if f["code"] == "slots-uncovered"]
    assert any(f["slot"] in (slot, None) for f in uncovered), describe(p)


def test_check_flags_unassigned_slot_from_a_node_that_still_sees_it_owned(cluster3):
    # The other nodes still think the old owner has the slot: from their
    # entry, the disagreement (or the uncovered slot) must still be found.
    slot = 12000
    owner, others = _owner_and_other(cluster3, slot)
    owner.cli("CLUSTER", "DELSLOTS", slot)
    entry = others[0].addr
    p, data = check_json(entry)
    assert_rc(p, 1)
    codes = set(finding_codes(data))
    assert codes & {"slots-uncovered", "owners-disagree"}, describe(p)
    rc, out = redis_cli_check(entry)
    assert redis_cli_flags(rc, out), out


def test_check_flags_killed_node_as_unreachable(cluster6):
    primaries = primaries_of(cluster6)
    victim = replicas_of(cluster6)[0]
    vid = victim.myid()
    victim.kill()

    def flagged_fail():
        return all(any(v["id"] == vid and "fail" in v["flags"] for v in n.cluster_nodes())
                   for n in primaries)
    wait_until(flagged_fail, 15, 0.2, "primaries to flag the killed replica as fail")
    entry = primaries[0].addr
    p, data = check_json(entry)
    assert_flagged(entry, p, data, "unreachable", node=victim.addr,
                   redis_cli_must_flag=False)  # redis-cli ignores failed replicas
    codes = set(finding_codes(data))
    assert codes & {"node-fail", "node-pfail"}, describe(p)
    assert victim.addr in p.stdout or victim.addr in p.stderr


def test_check_flags_node_forgotten_by_some_nodes(cluster3):
    a, b, c = cluster3
    # b forgets a (both primaries); the 60 s forget blacklist keeps it so.
    b.cli("CLUSTER", "FORGET", a.myid())
    wait_until(lambda: int(b.cluster_info()["cluster_known_nodes"]) == 2, 5, 0.1, "forget")
    p, data = check_json(c.addr)
    assert_flagged(c.addr, p, data, "membership-disagree")


def test_check_flags_forgotten_node_from_the_forgetting_entry(cluster3):
    a, b, c = cluster3
    b.cli("CLUSTER", "FORGET", a.myid())
    p, data = check_json(b.addr)
    assert_flagged(b.addr, p, data, "membership-disagree")
    assert data["nodes"] == 3, "the union of all views has 3 nodes" + describe(p)


# ---------------------------------------------------------------------------
# unreachable entries


def test_check_unreachable_entry_exits_3_naming_it():
    addr = "%s:%d" % (HOST, free_unused_port())
    p = run_sp("check", addr)
    assert_rc(p, 3)
    assert addr in p.stderr, describe(p)
    assert "slotpilot: " in p.stderr, describe(p)


def test_check_entry_that_never_answers_times_out_with_exit_3():
    port = free_unused_port()
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((HOST, port))
    s.listen(16)  # accepts connections (backlog) but never replies
    try:
        addr = "%s:%d" % (HOST, port)
        p = run_sp("check", addr, "--timeout", "500", timeout=30)
        assert_rc(p, 3)
        assert addr in p.stderr, describe(p)
    finally:
        s.close()


# ---------------------------------------------------------------------------
# auth


@pytest.fixture(scope="module")
def auth_cluster(module_node_pool):
    nodes = module_node_pool.start(6, password="secret")
    make_cluster_with_redis_cli(nodes, 1, password="secret")
    return nodes


def test_check_auth_with_dash_a(auth_cluster):
    p = run_sp("check", auth_cluster[0].addr, "-a", "secret")
    assert_rc(p, 0)


def test_check_auth_with_long_pass_option(auth_cluster):
    p = run_sp("check", auth_cluster[0].addr, "--pass", "secret")
    assert_rc(p, 0)


def test_check_auth_with_user_default(auth_cluster):
    p = run_sp("check", auth_cluster[0].addr, "--user", "default", "-a", "secret")
    assert_rc(p, 0)


def test_check_auth_from_rediscli_auth_env(auth_cluster):
    p = run_sp("check", auth_cluster[0].addr, extra_env={"REDISCLI_AUTH": "secret"})
    assert_rc(p, 0)


def test_check_without_password_exits_3_naming_node(auth_cluster):
    addr = auth_cluster[0].addr
    p = run_sp("check", addr)
    assert_rc(p, 3)
    assert addr in p.stderr, describe(p)


def test_check_wrong_password_exits_3(auth_cluster):
    addr = auth_cluster[0].addr
    p = run_sp("check", addr, "-a", "wrong")
    assert_rc(p, 3)
    assert addr in p.stderr, describe(p)


def test_status_with_password_exits_0(auth_cluster):
    p = run_sp("status", auth_cluster[0].addr, "-a", "secret", "--json")
    assert_rc(p, 0)
    assert '"primaries"' in p.stdout, describe(p)


def test_status_without_password_exits_3_naming_node(auth_cluster):
    addr = auth_cluster[0].addr
    p = run_sp("status", addr)
    assert_rc(p, 3)
    assert addr in p.stderr, describe(p)

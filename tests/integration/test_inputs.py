"""Inputs that could split a slot are refused before anything moves.

A plan file, a journal read by resume, or the engine's own input that lists
one slot twice, names a node that is not in its table, or takes a slot from
a node that does not own it, is refused with exit 2 and a message naming
the slot, and the cluster is unchanged: each node's CLUSTER NODES slot
fields, its keys, and `redis-cli --cluster check` before and after.
A journal whose first record is torn is reported, naming the file.
"""

import json
import os

from conftest import (assert_rc, describe, diff_snapshot, jdir, load_keys,
                      make_cluster_by_hand, ownership_snapshot, redis_cli_check,
                      redis_cli_clean, run_sp, spread_keys)

RUN_TIMEOUT = 120


def uneven_cluster(pool):
    """Three primaries, the first with most slots, a few keys everywhere."""
    nodes = make_cluster_by_hand(pool, [(0, 12000), (12001, 14000), (14001, 16383)])
    load_keys(nodes[0], spread_keys(300))
    return nodes


def sp(tmp_path, *args):
    argv = [str(a) for a in args] + ["--journal-dir", jdir(tmp_path), "--yes"]
    return run_sp(*argv, timeout=RUN_TIMEOUT)


def make_plan(tmp_path, entry):
    path = str(tmp_path / "plan.json")
    p = run_sp("plan", "rebalance", entry.addr, "--out", path, "--journal-dir",
               jdir(tmp_path), timeout=RUN_TIMEOUT)
    assert_rc(p, 0)
    with open(path) as f:
        return path, json.load(f)


def write_plan(path, plan):
    with open(path, "w") as f:
        json.dump(plan, f)


def unchanged(nodes, before, cli_before):
    """The cluster is as it was: slot maps, slot fields, keys, redis-cli."""
    assert not diff_snapshot(before, ownership_snapshot(nodes)), \
        "the cluster changed: %s" % diff_snapshot(before, ownership_snapshot(nodes))
    rc, out = redis_cli_check(nodes[0].addr)
    assert redis_cli_clean(rc, out) == redis_cli_clean(*cli_before), out
    assert redis_cli_clean(rc, out), "redis-cli --cluster check: " + out


def refused(nodes, tmp_path, plan, what):
    """apply of plan exits 2 naming `what`, and nothing changes."""
    before = ownership_snapshot(nodes)
    cli_before = redis_cli_check(nodes[0].addr)
    path = str(tmp_path / "bad-plan.json")
    write_plan(path, plan)
    p = sp(tmp_path, "apply", path)
    assert_rc(p, 2)
    assert what in p.stderr, "the message does not name %r%s" % (what, describe(p))
    unchanged(nodes, before, cli_before)
    return p


def other_target(plan, move):
    """A node index that is neither the move's source nor its target."""
    return [i for i in range(len(plan["nodes"])) if i not in (move[1], move[2])][0]


def test_plan_with_one_slot_twice_to_two_targets_is_refused(node_pool, tmp_path):
    nodes = uneven_cluster(node_pool)
    _, plan = make_plan(tmp_path, nodes[0])
    assert plan["moves"], "the plan moves nothing"
    m = plan["moves"][0]
    plan["moves"].append([m[0], m[1], other_target(plan, m), 0, 0])
    refused(nodes, tmp_path, plan, "slot %d is listed twice" % m[0])


def test_plan_with_one_slot_twice_to_the_same_target_is_refused(node_pool, tmp_path):
    nodes = uneven_cluster(node_pool)
    _, plan = make_plan(tmp_path, nodes[0])
    m = plan["moves"][-1]
    plan["moves"].insert(0, list(m))
    refused(nodes, tmp_path, plan, "slot %d is listed twice" % m[0])


def test_plan_naming_an_unknown_node_index_is_refused(node_pool, tmp_path):
    nodes = uneven_cluster(node_pool)
    _, plan = make_plan(tmp_path, nodes[0])
    m = plan["moves"][0]
    m[2] = len(plan["nodes"])  # one past the table
    refused(nodes, tmp_path, plan, "slot %d" % m[0])


def test_plan_taking_a_slot_from_a_node_that_does_not_own_it_is_refused(node_pool, tmp_path):
    nodes = uneven_cluster(node_pool)
    _, plan = make_plan(tmp_path, nodes[0])
    m = plan["moves"][0]
    m[1], m[2] = other_target(plan, m), m[1]  # from a non-owner, to the owner
    refused(nodes, tmp_path, plan, "slot %d" % m[0])


def journal_of(plan, moves):
    """An unfinished journal (begin record only) for the live cluster."""
    return {"type": "begin", "version": 1, "op": "rebalance", "id": "1-1-1-rebalance",
            "entry": plan["entry"], "time": 1, "seq": 1, "time_ms": 1000,
            "nodes": plan["nodes"], "owners": plan["base"], "moves": moves}


def write_journal(tmp_path, name, text):
    os.makedirs(jdir(tmp_path), exist_ok=True)
    path = os.path.join(jdir(tmp_path), name)
    with open(path, "w") as f:
        f.write(text)
    return path


def test_resume_of_a_journal_with_one_slot_twice_is_refused(node_pool, tmp_path):
    nodes = uneven_cluster(node_pool)
    _, plan = make_plan(tmp_path, nodes[0])
    m = plan["moves"][0]
    moves = [mv[:3] for mv in plan["moves"]] + [[m[0], m[1], other_target(plan, m)]]
    write_journal(tmp_path, "dup.journal", json.dumps(journal_of(plan, moves)) + "\n")
    before = ownership_snapshot(nodes)
    cli_before = redis_cli_check(nodes[0].addr)
    p = sp(tmp_path, "resume", nodes[0].addr)
    assert_rc(p, 2)
    assert "slot %d is listed twice" % m[0] in p.stderr, describe(p)
    assert "dup.journal" in p.stderr, "the message does not name the journal" + describe(p)
    unchanged(nodes, before, cli_before)


def test_resume_reports_a_journal_whose_first_record_is_torn(node_pool, tmp_path):
    nodes = uneven_cluster(node_pool)
    _, plan = make_plan(tmp_path, nodes[0])
    text = json.dumps(journal_of(plan, [mv[:3] for mv in plan["moves"]]))
    write_journal(tmp_path, "torn.journal", text[: len(text) // 2])  # no newline
    before = ownership_snapshot(nodes)
    cli_before = redis_cli_check(nodes[0].addr)
    p = sp(tmp_path, "resume", nodes[0].addr)
    assert_rc(p, 2)
    assert "torn.journal" in p.stderr and "torn" in p.stderr, describe(p)
    unchanged(nodes, before, cli_before)

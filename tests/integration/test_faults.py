"""Faults operators meet: a primary that does not answer (paused with
SIGSTOP, killed with SIGKILL) while fix or a move runs.

Unreachable is not absent: fix refuses, naming the primary, and the
primary keeps its slots and keys. A move whose source or target stops
answering gives up within --wait, says what to run next, and leaves a
journal from which resume finishes once the node is back (or after its
failover), with every key readable through redis-py's RedisCluster and
`redis-cli --cluster check` clean.

A paused node is always resumed (SIGCONT) in a finally block. Each wait
for the fault to take effect waits for a positive witness (a slot seen
MIGRATING in CLUSTER NODES) and each bound is a generous subprocess
timeout used as the failure detector, never a timing assertion.
"""

import glob
import json
import os
import signal
import time

import pytest

from conftest import (SLOTPILOT, assert_rc, checks_pass, describe, jdir, key_in_slot, load_keys,
                      make_cluster_by_hand, myself_line, open_slot_lines, ownership_snapshot,
                      diff_snapshot, redis_cli_cluster, run_sp, slot_owner_map,
                      spread_keys, verify_keys, wait_cluster_healthy, wait_until)
from test_migrate import Background, restart_node, wait_replication

THIRDS = [(0, 5460), (5461, 10922), (10923, 16383)]
OPEN_SLOT = 100          # owned by the first primary, opened toward the second
MOVE_SLOTS = range(0, 32)  # moved by the fault tests (first primary's), one window
PER_SLOT = 300
WAIT = 4                   # --wait of the faulted move: how long a node may be silent
BOUND = 180                # failure detector for a slotpilot run (seconds)
# Failure detector for the faulted move: it gives up after WAIT seconds of
# silence and closes its window; before the fix it retried each slot of the
# window for about 15 s (9 attempts with --timeout 1000 and backoff).
GIVE_UP_BOUND = 120


def paused(node):
    """Context: node stopped with SIGSTOP, always continued afterwards."""
    class _Paused:
        def __enter__(self):
            os.kill(node.pid, signal.SIGSTOP)
            return node

        def __exit__(self, *exc):
            os.kill(node.pid, signal.SIGCONT)
            return False
    return _Paused()


def slots_field(node):
    return myself_line(node).split()[8:]


def open_by_hand(src, dst, slot):
    dst.cli("CLUSTER", "SETSLOT", slot, "IMPORTING", src.myid())
    src.cli("CLUSTER", "SETSLOT", slot, "MIGRATING", dst.myid())


def wait_state_ok(nodes, timeout=60):
    """Until every node reports cluster_state:ok and flags no peer failing
    (an open slot may remain: redis-cli check would warn about it)."""
    def ok():
        return all(n.cluster_info().get("cluster_state") == "ok" and
                   not any(v["flags"] & {"fail", "fail?"} for v in n.cluster_nodes())
                   for n in nodes)
    wait_until(ok, timeout, 0.25, "cluster_state:ok on every node")


def keys_for(slots, per_slot, tag=b"f"):
    return {key_in_slot(s, tag + b":%d" % i): b"v%d:%d" % (s, i)
            for s in slots for i in range(per_slot)}


def three_primaries_with_keys(node_pool, n=3000):
    nodes = make_cluster_by_hand(node_pool, THIRDS)
    kv = spread_keys(n, b"bg:")
    load_keys(nodes[0], kv)
    return nodes, kv


# ---------------------------------------------------------------------------
# 1. fix: unreachable is not absent


def test_fix_refuses_while_a_primary_is_paused_and_it_keeps_its_slots_and_keys(node_pool):
    nodes, kv = three_primaries_with_keys(node_pool)
    a, b, c = nodes
    open_by_hand(a, b, OPEN_SLOT)
    c_keys = c.client().dbsize()
    c_field = slots_field(c)
    assert c_keys > 0
    before = ownership_snapshot([a, b])

    with paused(c):
        p = run_sp("fix", a.addr, "--yes", "--timeout", "1000", timeout=BOUND)
        after = ownership_snapshot([a, b])
    assert_rc(p, 4)
    assert c.addr in p.stderr, "the refusal does not name the paused primary" + describe(p)
    assert "--with-unreachable" in p.stderr, describe(p)
    assert not diff_snapshot(before, after), "fix changed the cluster: %s" % diff_snapshot(
        before, after)

    wait_state_ok(nodes)
    assert slots_field(c) == c_field, "the paused primary lost slots: %s -> %s" % (
        c_field, slots_field(c))
    assert c.client().dbsize() == c_keys
    assert all(o == c.myid() for s, o in slot_owner_map(a).items() if s >= 10923)
    verify_keys(a, kv)


def test_fix_prints_what_it_will_do_to_each_slot_and_dry_run_changes_nothing(node_pool):
    nodes, kv = three_primaries_with_keys(node_pool)
    a, b, c = nodes
    open_by_hand(a, b, OPEN_SLOT)
    before = ownership_snapshot(nodes)

    p = run_sp("fix", a.addr, "--dry-run", timeout=BOUND)
    assert_rc(p, 0)
    line = [ln for ln in p.stdout.splitlines() if ln.strip().startswith("slot %d:" % OPEN_SLOT)]
    assert line, "no line for slot %d%s" % (OPEN_SLOT, describe(p))
    assert "close it on %s" % a.addr in line[0], describe(p)
    assert not diff_snapshot(before, ownership_snapshot(nodes)), "--dry-run changed the cluster"

    p = run_sp("fix", a.addr, "--yes", timeout=BOUND)
    assert_rc(p, 0)
    assert "slot %d:" % OPEN_SLOT in p.stdout, describe(p)
    assert not open_slot_lines(nodes)
    verify_keys(a, kv)


def test_fix_with_unreachable_naming_no_unreachable_primary_exits_2(node_pool):
    nodes, _ = three_primaries_with_keys(node_pool, 100)
    open_by_hand(nodes[0], nodes[1], OPEN_SLOT)
    before = ownership_snapshot(nodes)
    p = run_sp("fix", nodes[0].addr, "--yes", "--with-unreachable", nodes[2].addr,
               timeout=BOUND)
    assert_rc(p, 2)
    assert nodes[2].addr in p.stderr, describe(p)
    assert not diff_snapshot(before, ownership_snapshot(nodes))


def test_fix_owner_for_a_slot_with_one_owner_exits_2(node_pool):
    nodes, _ = three_primaries_with_keys(node_pool, 100)
    before = ownership_snapshot(nodes)
    p = run_sp("fix", nodes[0].addr, "--yes", "--owner", "%d=%s" % (OPEN_SLOT, nodes[1].addr),
               timeout=BOUND)
    assert_rc(p, 2)
    assert "slot %d" % OPEN_SLOT in p.stderr, describe(p)
    p = run_sp("fix", nodes[0].addr, "--yes", "--owner", "%d" % OPEN_SLOT, timeout=BOUND)
    assert_rc(p, 2)
    assert '--owner: "%d" is not SLOT=NODE' % OPEN_SLOT in p.stderr, describe(p)
    assert not diff_snapshot(before, ownership_snapshot(nodes))


# ---------------------------------------------------------------------------
# 2. bounded time: a node that stops answering mid-window


def journal_of(tmp_path):
    files = glob.glob(os.path.join(jdir(tmp_path), "*.journal"))
    assert len(files) == 1, "expected one journal, found %s" % files
    recs = []
    with open(files[0]) as f:
        for line in f:
            if line.strip():
                recs.append(json.loads(line))
    return recs


def not_done(recs):
    """Slots the journal plans but does not record as done."""
    planned = {m[0] for m in recs[0]["moves"]}
    done = set()
    for r in recs:
        if r.get("type") == "done":
            done.update(r["slots"])
    return planned - done


def slow_move(tmp_path, nodes, src, dst, kv, window=len(MOVE_SLOTS), rate="2000keys"):
    """A reshard of MOVE_SLOTS src -> dst slow enough to be caught
    mid-window; returns (Background, open slot seen)."""
    argv = [SLOTPILOT, "reshard", dst.addr,
            "--from", src.myid(), "--to", dst.myid(),
            "--slot-ranges", "%d-%d" % (MOVE_SLOTS[0], MOVE_SLOTS[-1]),
            "--window", str(window), "--batch-keys", "10", "--pipeline", "1",
            "--rate", rate, "--wait", str(WAIT), "--timeout", "1000", "--journal-dir", jdir(tmp_path), "--yes"]
    bg = Background(argv, tmp_path, "reshard")
    seen = {}

    def migrating():
        if not bg.running():
            raise AssertionError("the move ended before the fault" + bg.describe())
        for s in myself_line(src).split()[8:]:
            if "->-" in s:
                slot = int(s.strip("[").split("-")[0])
                if dst.client().execute_command("CLUSTER", "COUNTKEYSINSLOT", slot) > 0:
                    seen["slot"] = slot
                    return True
        return False
    try:
        wait_until(migrating, 60, 0.02, "a slot MIGRATING on the source with keys on the target")
    except BaseException:
        bg.stop()
        raise
    return bg, seen["slot"]


def assert_gave_up(bg, rc, node, recs, slot):
    out, err = bg.text()
    assert rc == 3, "expected exit 3 (a node stopped answering), got %s%s" % (rc, bg.describe())
    assert node.addr in err and "resume" in err, \
        "the message does not name the node and say to resume" + bg.describe()
    assert recs[0]["type"] == "begin"
    assert slot in not_done(recs), "the journal records slot %d (open at the fault) as done" % slot
    assert recs[-1].get("type") == "end" and recs[-1].get("status") == "failed", recs[-1]


def resume_and_check(tmp_path, nodes, dst, kv):
    wait_state_ok(nodes)
    p = run_sp("resume", dst.addr, "--journal-dir", jdir(tmp_path), "--yes", timeout=BOUND)
    assert_rc(p, 0)
    checks_pass(dst)
    verify_keys(dst, kv)
    owners = slot_owner_map(dst)
    assert all(owners[s] == dst.myid() for s in MOVE_SLOTS), "resume did not finish the move"


@pytest.mark.parametrize("who", ["source", "target"])
def test_move_gives_up_on_a_paused_node_within_wait_then_resume_finishes(node_pool, tmp_path,
                                                                         who):
    nodes, kv = three_primaries_with_keys(node_pool, 1000)
    src, dst = nodes[0], nodes[1]
    many = keys_for(MOVE_SLOTS, PER_SLOT)
    load_keys(src, many)
    kv.update(many)
    bg, slot = slow_move(tmp_path, nodes, src, dst, kv)
    victim = src if who == "source" else dst
    try:
        with paused(victim):
            t0 = time.monotonic()
            rc = bg.wait(GIVE_UP_BOUND)
            took = time.monotonic() - t0
    finally:
        bg.stop()
    print("the %s paused: exit %s %.1f s later (a figure, not asserted)%s" % (
        who, rc, took, bg.describe()))
    assert_gave_up(bg, rc, victim, journal_of(tmp_path), slot)
    resume_and_check(tmp_path, nodes, dst, kv)


def loaded_3_plus_3(node_pool):
    """3 primaries + 3 replicas with MOVE_SLOTS loaded and replicated: the
    nodes, the source (owner of slot 0), a target, the source's replica
    and the keys."""
    nodes = redis_cli_cluster(node_pool, 3, 1)
    src = [n for n in nodes if slot_owner_map(n).get(0) == n.myid()][0]
    dst = [n for n in nodes if "master" in myself_line(n).split()[2] and n is not src][0]
    replica = [n for n in nodes if myself_line(n).split()[3] == src.myid()][0]
    kv = keys_for(MOVE_SLOTS, PER_SLOT)
    load_keys(nodes[0], kv)
    wait_replication(nodes)
    return nodes, src, dst, replica, kv


def test_move_gives_up_on_a_killed_source_then_resume_after_failover(node_pool, tmp_path):
    nodes, src, dst, replica, kv = loaded_3_plus_3(node_pool)
    bg, slot = slow_move(tmp_path, nodes, src, dst, kv)
    try:
        src.kill(signal.SIGKILL)
        t0 = time.monotonic()
        rc = bg.wait(GIVE_UP_BOUND)
        took = time.monotonic() - t0
    finally:
        bg.stop()
    print("the source killed: exit %s %.1f s later (a figure, not asserted)%s" % (
        rc, took, bg.describe()))
    assert_gave_up(bg, rc, src, journal_of(tmp_path), slot)

    wait_until(lambda: "master" in myself_line(replica).split()[2], 60, 0.25,
               "the replica of the killed source to take over")
    p = run_sp("resume", dst.addr, "--journal-dir", jdir(tmp_path), "--yes", timeout=BOUND)
    assert_rc(p, 0)
    verify_keys(dst, kv)
    restart_node(src)
    wait_cluster_healthy(nodes, timeout=60)
    checks_pass(dst)
    verify_keys(dst, kv)
    assert all(slot_owner_map(dst)[s] == dst.myid() for s in MOVE_SLOTS)


def test_resume_after_a_source_failover_keeps_the_targets_newer_copy(node_pool, tmp_path):
    """The source's replica loses its link mid-move (it cannot resync: a
    wrong masterauth), so it keeps stale copies of the keys that move after
    that; a key already on the target is then written there (the newest
    copy); the source is killed and its stale replica takes over. resume
    must move the rest without REPLACE: the target's copy of a key on both
    sides wins, and the stale copy on the promoted source is deleted."""
    nodes, src, dst, replica, kv = loaded_3_plus_3(node_pool)
    bg, slot = slow_move(tmp_path, nodes, src, dst, kv, rate="1000keys")
    dc = dst.client()
    try:
        replica.cli("CONFIG", "SET", "masterauth", "not-the-password")
        src.cli("CLIENT", "KILL", "TYPE", "replica")
        at_cut = set(dc.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 100000))
        wait_until(lambda: dc.execute_command("CLUSTER", "COUNTKEYSINSLOT", slot)
                   >= len(at_cut) + 10 or not bg.running(), 30, 0.01,
                   "keys moved to the target after the replica's link was cut")
        moved_since = set(dc.execute_command("CLUSTER", "GETKEYSINSLOT", slot,
                                             100000)) - at_cut
        assert moved_since, "no key moved after the link was cut" + bg.describe()
        key = sorted(moved_since)[0]
        assert replica.client().execute_command("CLUSTER", "COUNTKEYSINSLOT", slot) > 0
        dc.execute_command("ASKING")
        dc.execute_command("SET", key, b"newest")
        kv[key] = b"newest"
        src.kill(signal.SIGKILL)
        rc = bg.wait(GIVE_UP_BOUND)
    finally:
        bg.stop()
    assert rc == 3, "expected exit 3 after the source died%s" % bg.describe()
    wait_until(lambda: "master" in myself_line(replica).split()[2], 60, 0.25,
               "the stale replica of the killed source to take over")
    replica.cli("CONFIG", "SET", "masterauth", "")
    p = run_sp("resume", dst.addr, "--journal-dir", jdir(tmp_path), "--yes", timeout=BOUND)
    assert_rc(p, 0)
    assert "promoted replica" in p.stdout, describe(p)
    assert dc.get(key) == b"newest", "resume overwrote the target's newer copy"
    verify_keys(dst, kv)
    assert replica.client().execute_command("CLUSTER", "COUNTKEYSINSLOT", slot) == 0
    restart_node(src)
    wait_cluster_healthy(nodes, timeout=60)
    checks_pass(dst)
    verify_keys(dst, kv)


def keys_file(tmp_path):
    files = glob.glob(os.path.join(jdir(tmp_path), "*.journal.keys"))
    return files[0] if files else None


def test_keys_a_target_failover_lost_are_put_back_by_resume(node_pool, tmp_path):
    """MIGRATE deletes a key on its source once the target stored it, not
    once a replica of the target has it. The target's replica is cut off
    (a wrong masterauth: it cannot resync) before the move, so no key the
    move gives the target reaches it; the move ends within --wait saying
    no replica confirmed them and where their copies are (a private keys
    file); the target is then killed and its stale replica takes over,
    without the moved keys. resume puts back every one of them."""
    nodes, src, dst, _, kv = loaded_3_plus_3(node_pool)
    rep = [n for n in nodes if myself_line(n).split()[3] == dst.myid()][0]
    rep.cli("CONFIG", "SET", "masterauth", "not-the-password")
    dst.cli("CLIENT", "KILL", "TYPE", "replica")
    wait_until(lambda: int(dst.info("replication")["connected_slaves"]) == 0, 30, 0.05,
               "the target's replica to be cut off")
    p = run_sp("reshard", dst.addr, "--from", src.myid(), "--to", dst.myid(),
               "--slot-ranges", "%d-%d" % (MOVE_SLOTS[0], MOVE_SLOTS[-1]),
               "--wait", str(WAIT), "--journal-dir", jdir(tmp_path), "--yes", timeout=BOUND)
    assert_rc(p, 3)
    assert "no replica of %s acknowledged" % dst.addr in p.stderr, describe(p)
    path = keys_file(tmp_path)
    assert path and path in p.stderr and "resume" in p.stderr, describe(p)
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert all(slot_owner_map(dst)[s] == dst.myid() for s in MOVE_SLOTS)
    verify_keys(dst, kv)  # the move itself lost nothing

    dst.kill(signal.SIGKILL)
    rep.cli("CONFIG", "SET", "masterauth", "")
    rep.cli("CLUSTER", "FAILOVER", "TAKEOVER")
    wait_until(lambda: all(slot_owner_map(n).get(MOVE_SLOTS[0]) == rep.myid()
                           for n in nodes if n is not dst), 60, 0.1,
               "the stale replica to take over the target's slots everywhere")
    rc = rep.client()
    lost = sum(rc.execute_command("CLUSTER", "COUNTKEYSINSLOT", s) for s in MOVE_SLOTS)
    assert lost == 0, "the cut-off replica had %d of the moved keys" % lost

    p = run_sp("resume", rep.addr, "--journal-dir", jdir(tmp_path), "--yes", timeout=BOUND)
    assert_rc(p, 0)
    assert "%d put back" % len(kv) in p.stdout, describe(p)
    assert not os.path.exists(path), "the keys file outlived its restore"
    verify_keys(rep, kv)
    restart_node(dst)
    wait_cluster_healthy(nodes, timeout=60)
    checks_pass(rep)
    verify_keys(rep, kv)
    p = run_sp("resume", rep.addr, "--journal-dir", jdir(tmp_path), "--yes")
    assert_rc(p, 0)
    assert "Nothing to resume" in p.stdout, describe(p)


# ---------------------------------------------------------------------------
# 5. one mover per slot


def test_a_move_leaves_a_slot_another_mover_opened_meanwhile_alone(node_pool, tmp_path):
    """While our move works on its first window, another mover opens a slot
    of a later window toward a third primary: the engine reads the slot's
    state before it opens that window, leaves it alone and says so."""
    nodes, kv = three_primaries_with_keys(node_pool, 1000)
    a, b, c = nodes
    many = keys_for(MOVE_SLOTS, PER_SLOT)
    load_keys(a, many)
    kv.update(many)
    theirs = MOVE_SLOTS[-1]
    bg, slot = slow_move(tmp_path, nodes, a, b, kv, window=4)
    try:
        assert slot < theirs - 4, "the move is already at the last window"
        open_by_hand(a, c, theirs)  # another mover's: a -> c
        rc = bg.wait(BOUND)
    finally:
        bg.stop()
    out, err = bg.text()
    assert rc == 4, "expected exit 4, got %s%s" % (rc, bg.describe())
    assert "slot %d is already open on %s" % (theirs, a.addr) in err, bg.describe()
    assert "[%d->-%s]" % (theirs, c.myid()) in slots_field(a), \
        "the other mover's MIGRATING state was touched: %s" % slots_field(a)
    assert "[%d-<-%s]" % (theirs, a.myid()) in slots_field(c)
    assert not any("-<-" in f or "->-" in f for f in slots_field(b)), slots_field(b)
    assert b.client().execute_command("CLUSTER", "COUNTKEYSINSLOT", theirs) == 0
    owners = slot_owner_map(a)
    assert owners[slot] == b.myid(), "the window before was not finished"
    verify_keys(a, kv)


def test_a_second_mover_started_mid_window_moves_none_of_the_first_movers_keys(node_pool,
                                                                              tmp_path):
    """The second mover, planned while the first one's window is open, waits
    for a healthy cluster (no slot open), then finds its plan stale: exit 4,
    and nothing reaches its target."""
    nodes, kv = three_primaries_with_keys(node_pool, 1000)
    a, b, c = nodes
    many = keys_for(MOVE_SLOTS, PER_SLOT)
    load_keys(a, many)
    kv.update(many)
    first, slot = slow_move(tmp_path, nodes, a, b, kv)
    try:
        second_dir = tmp_path / "second"
        second_dir.mkdir()
        p = run_sp("reshard", c.addr, "--from", a.myid(), "--to", c.myid(),
                   "--slot-ranges", "%d-%d" % (MOVE_SLOTS[0], MOVE_SLOTS[-1]),
                   "--journal-dir", jdir(second_dir), "--yes", timeout=BOUND)
        rc = first.wait(BOUND)
    finally:
        first.stop()
    assert_rc(p, 4)
    assert "not the owner" in p.stderr, describe(p)
    assert rc == 0, "the first mover failed%s" % first.describe()
    assert all(c.client().execute_command("CLUSTER", "COUNTKEYSINSLOT", s) == 0
               for s in MOVE_SLOTS), "keys of the moved slots reached the second target"
    owners = slot_owner_map(a)
    assert all(owners[s] == b.myid() for s in MOVE_SLOTS), "the first move did not finish"
    checks_pass(a)
    verify_keys(a, kv)

"""Process hygiene: signals, against real nodes.

Every command that changes the cluster stops at a safe point on SIGTERM
(or SIGINT) and exits 5: remove-node between its steps or at a slot
boundary of its drain, fix between two slots, backup between two nodes,
expand and shrink at a slot boundary of their moves, and create, add-node
and failover while they wait for the nodes (gossip, a replica's sync, a
role change) with nothing of theirs in flight.
Each test waits for a positive witness first (a log line on stderr
saying the command is at work), then signals, then checks the exit code,
that no slot is open, and that a re-run finishes. SIGPIPE is ignored: a
closed stdout does not kill the process.
"""

import os
import signal
import subprocess
import time

import pytest

from conftest import (assert_no_open_slot, sp_path as conftest_binary, assert_rc, jdir,
                      load_keys, make_cluster_by_hand, myself_line, open_slot_lines,
                      redis_cli_check, redis_cli_clean, run_sp, spread_keys,
                      verify_keys, cleanup_local)
from test_migrate import Background
import test_scale

RUN_TIMEOUT = 180
THIRDS = [(0, 5460), (5461, 10922), (10923, 16383)]


def start(tmp_path, name, *args):
    argv = [conftest_binary()] + [str(a) for a in args]
    return Background(argv, tmp_path, name)


def wait_for_line(bg, needle, timeout=60):
    """Until stderr holds needle (the positive witness); fails if the
    command exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if needle in bg.text()[1]:
            return
        if not bg.running():
            raise AssertionError("exited before %r%s" % (needle, bg.describe()))
        time.sleep(0.005)
    bg.stop()
    raise AssertionError("no %r within %ss%s" % (needle, timeout, bg.describe()))


def stopped_with_5(bg, sig=signal.SIGTERM):
    bg.signal(sig)
    rc = bg.wait(RUN_TIMEOUT)
    assert rc == 5, "expected exit 5 after %s%s" % (sig.name, bg.describe())
    assert "interrupted" in bg.text()[1], "no word of the interruption" + bg.describe()
    bg.stop()


def check_clean(nodes):
    assert_no_open_slot(nodes)
    rc, out = redis_cli_check(nodes[0].addr)
    assert redis_cli_clean(rc, out), "redis-cli --cluster check: " + out


def test_remove_node_stops_at_a_safe_point_on_sigterm(node_pool, tmp_path):
    nodes = make_cluster_by_hand(node_pool, THIRDS)
    kv = spread_keys(2000)
    load_keys(nodes[0], kv)
    leaving = nodes[2]
    bg = start(tmp_path, "remove", "remove-node", nodes[0].addr, leaving.addr,
               "--rate", "20slots", "--journal-dir", jdir(tmp_path), "--yes")
    wait_for_line(bg, "draining")
    stopped_with_5(bg)
    check_clean(nodes)
    verify_keys(nodes[0], kv)
    assert leaving.myid() in nodes[0].cli("CLUSTER", "NODES"), "removed although stopped"
    # running it again finishes the removal
    p = run_sp("remove-node", nodes[0].addr, leaving.addr, "--journal-dir", jdir(tmp_path),
               "--yes", timeout=RUN_TIMEOUT)
    assert_rc(p, 0)
    check_clean(nodes[:2])
    verify_keys(nodes[0], kv)


def open_slots(src, dst, slots):
    """Leaves slots half-moved (MIGRATING on src, IMPORTING on dst), no key."""
    for node, how, peer in ((dst, "IMPORTING", src), (src, "MIGRATING", dst)):
        pipe = node.client().pipeline(transaction=False)
        for s in slots:
            pipe.execute_command("CLUSTER", "SETSLOT", s, how, peer.myid())
        pipe.execute()


def test_fix_stops_between_slots_on_sigterm(node_pool, tmp_path):
    nodes = make_cluster_by_hand(node_pool, THIRDS)
    open_slots(nodes[0], nodes[1], range(0, 5000))
    assert open_slot_lines(nodes), "no slot open before fix"
    bg = start(tmp_path, "fix", "fix", nodes[0].addr, "--yes")
    wait_for_line(bg, "no keys on another primary: close it on")
    stopped_with_5(bg)
    p = run_sp("fix", nodes[0].addr, "--yes", timeout=RUN_TIMEOUT)
    assert_rc(p, 0)
    check_clean(nodes)


def test_backup_stops_between_nodes_on_sigterm(node_pool, tmp_path):
    nodes = make_cluster_by_hand(node_pool, THIRDS)
    load_keys(nodes[0], spread_keys(1500))
    for n in nodes:  # about 1 s per node's RDB: the second is still running
        n.cli("CONFIG", "SET", "rdb-key-save-delay", "2000")
    out = tmp_path / "backup"
    bg = start(tmp_path, "backup", "backup", nodes[0].addr, "--dir", out, "--parallel", "1",
               "--yes")
    wait_for_line(bg, ": done")
    stopped_with_5(bg)
    left = sorted(os.listdir(out)) if out.exists() else []
    assert "manifest.json" not in left and not [f for f in left if f.endswith(".rdb")], \
        "an interrupted backup left %s" % left
    for n in nodes:
        n.cli("CONFIG", "SET", "rdb-key-save-delay", "0")
    check_clean(nodes)


def test_closed_stdout_does_not_kill_the_command(tmp_path):
    r, w = os.pipe()
    os.close(r)  # every write to stdout now fails (EPIPE, or SIGPIPE)
    try:
        p = subprocess.run([conftest_binary(), "keyslot", "user:1000"], stdout=w,
                           stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, timeout=30)
    finally:
        os.close(w)
    assert p.returncode != -signal.SIGPIPE, "killed by SIGPIPE: %r" % p.stderr
    assert p.returncode >= 0, "killed by signal %d" % -p.returncode


def wait_for_log(node, needle, bg, timeout=60):
    """Until the node's own log holds needle (the positive witness)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(node.logfile, errors="replace") as f:
            if needle in f.read():
                return
        if not bg.running():
            raise AssertionError("exited before %s logged %r%s" % (node.addr, needle,
                                                                   bg.describe()))
        time.sleep(0.005)
    bg.stop()
    raise AssertionError("%s logged no %r within %ss%s" % (node.addr, needle, timeout,
                                                           bg.describe()))


def slow_first_sync(nodes, seconds):
    """A primary starts a replica's (diskless) first sync only after
    `seconds`: a replica's sync wait lasts that long."""
    for n in nodes:
        n.cli("CONFIG", "SET", "repl-diskless-sync", "yes")
        n.cli("CONFIG", "SET", "repl-diskless-sync-delay", str(seconds))


def wait_clean_with_replicas(entry, nodes, primaries, min_replicas=1):
    p = run_sp("check", entry.addr, "--expect-nodes", nodes, "--expect-primaries", primaries,
               "--min-replicas", min_replicas, "--wait", 60, timeout=90)
    assert_rc(p, 0)


def test_create_stops_while_replicas_sync_on_sigterm(node_pool, tmp_path):
    nodes = node_pool.start(6)
    slow_first_sync(nodes, 60)
    bg = start(tmp_path, "create", "create", *[n.addr for n in nodes], "--replicas", "1",
               "--yes")
    wait_for_line(bg, "Waiting for the cluster to converge")
    stopped_with_5(bg)
    # formed: every slot assigned once, three replicas attached (syncing)
    assert_no_open_slot(nodes)
    roles = [myself_line(n).split()[2] for n in nodes]
    assert sum("slave" in r for r in roles) == 3, roles
    slow_first_sync(nodes, 0)
    wait_clean_with_replicas(nodes[0], 6, 3)


def test_add_node_stops_while_the_replica_syncs_on_sigterm(node_pool, tmp_path):
    nodes = make_cluster_by_hand(node_pool, THIRDS)
    new = node_pool.start(1)[0]
    slow_first_sync(nodes, 60)
    bg = start(tmp_path, "add", "add-node", nodes[0].addr, new.addr, "--replica", "--yes")
    wait_for_line(bg, " replicates ")
    stopped_with_5(bg)
    assert "slave" in myself_line(new).split()[2], "not attached before the stop"
    slow_first_sync(nodes, 0)
    # running it again finds the member and finishes with the sync
    p = run_sp("add-node", nodes[0].addr, new.addr, "--replica", "--yes", timeout=RUN_TIMEOUT)
    assert_rc(p, 0)
    info = new.cli("INFO", "replication")
    assert "master_link_status:up" in info and "master_sync_in_progress:0" in info, info
    wait_clean_with_replicas(nodes[0], 4, 3, 0)


def test_failover_stops_while_it_waits_for_the_roles_on_sigterm(node_pool, tmp_path):
    nodes = make_cluster_by_hand(node_pool, THIRDS)
    new = node_pool.start(1)[0]
    assert_rc(run_sp("add-node", nodes[0].addr, new.addr, "--replica-of", nodes[2].addr,
                     "--yes", timeout=RUN_TIMEOUT), 0)
    # With the other primaries paused nobody votes: the replica's manual
    # failover is accepted but never wins an election, and the command
    # waits for a role change that does not come (until --wait).
    new.cli("CONFIG", "SET", "cluster-replica-no-failover", "yes")
    paused = nodes[:2]
    for n in paused:
        os.kill(n.pid, signal.SIGSTOP)
    try:
        bg = start(tmp_path, "failover", "failover", nodes[2].addr, new.addr, "--wait", 120,
                   "--yes")
        wait_for_log(new, "Manual failover user request accepted", bg)
        stopped_with_5(bg)
    finally:
        for n in paused:
            os.kill(n.pid, signal.SIGCONT)
    assert "master" in myself_line(nodes[2]).split()[2], "the roles changed after the stop"


@pytest.fixture
def local_cluster(tmp_path):
    d = tmp_path / "cluster"
    d.mkdir()
    try:
        yield test_scale._make_cluster(d, tmp_path / "journal")
    finally:
        cleanup_local(d)


def _stop_mid_move_then_rerun(c, tmp_path, cmd, primaries, witness, rerun):
    """cmd (expand or shrink) to `primaries`, slowed down, stopped by
    SIGTERM once stderr shows witness: exit 5, no slot open; then rerun
    (the same command at full speed) finishes it."""
    bg = start(tmp_path, cmd, cmd, c.entry, "--primaries", primaries, "--rate", "20slots",
               "--journal-dir", c.journal, "--yes")
    wait_for_line(bg, witness, timeout=120)
    stopped_with_5(bg)
    assert_no_open_slot([c.node(port) for port in c.node_ports()])
    assert_rc(rerun(c, primaries), 0)
    test_scale.assert_shape(c, primaries, 1)
    test_scale.assert_all_keys(c, 2000)


def test_expand_and_shrink_stop_at_a_slot_boundary_on_sigterm(local_cluster, tmp_path):
    c = local_cluster
    test_scale.load_keys(c, 2000)
    _stop_mid_move_then_rerun(c, tmp_path, "expand", 4, "rebalancing over", test_scale.expand)
    _stop_mid_move_then_rerun(c, tmp_path, "shrink", 3, "draining", test_scale.shrink)
    test_scale.assert_checks(c, 6, 3)

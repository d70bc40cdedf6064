"""Process hygiene: signals, against real nodes.

Every command that changes the cluster stops at a safe point on SIGTERM
(or SIGINT) and exits 5: remove-node between its steps or at a slot
boundary of its drain, fix between two slots, backup between two nodes.
Each test waits for a positive witness first (a log line on stderr
saying the command is at work), then signals, then checks the exit code,
that no slot is open, and that a re-run finishes. SIGPIPE is ignored: a
closed stdout does not kill the process.
"""

import os
import signal
import subprocess
import time

from conftest import (assert_no_open_slot, sp_path as conftest_binary, assert_rc, jdir,
                      load_keys, make_cluster_by_hand, open_slot_lines,
                      redis_cli_check, redis_cli_clean, run_sp, spread_keys,
                      verify_keys)
from test_migrate import Background

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

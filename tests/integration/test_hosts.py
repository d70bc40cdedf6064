"""Many hosts: clusters across network namespaces of our own (netns.py),
slotpilot run inside one of them, addresses from 10.99.0.0/24 that exist
only there. Skipped with the reason where namespaces cannot be made."""

import json
import subprocess

import pytest

from conftest import (REDIS_SERVER, SLOTPILOT, kill_pids_in_dir, redis_pids_under,
                      skip_if_tls, stop_pid, wait_until)
from netns import Hosts

REASON = Hosts.available()
pytestmark = [pytest.mark.skipif(REASON is not None, reason=REASON or ""),
              # netns.py writes its nodes' redis.conf and runs redis-cli and
              # redis-py inside the namespaces itself, on 10.99.0.x addresses
              # no session certificate names.
              skip_if_tls("netns.py's hosts start plain nodes on 10.99.0.x addresses "
                          "(not in the session certificate) with their own clients")]


@pytest.fixture
def hosts(tmp_path):
    h = Hosts(3, tmp_path / "hosts", server=REDIS_SERVER)
    try:
        yield h
    finally:
        h.close()


def sp(h, *args, host=0, timeout=120):
    return h.run(host, [SLOTPILOT] + list(args), timeout=timeout)


def rc_ok(p, code=0):
    assert p.returncode == code, "exit %d, expected %d\nstdout: %s\nstderr: %s" % (
        p.returncode, code, p.stdout[-2000:], p.stderr[-2000:])


def views(h, addr):
    """id -> (addr, role, primary id) from addr's CLUSTER NODES."""
    out = {}
    for line in h.cli(0, addr, "CLUSTER", "NODES").splitlines():
        f = line.split()
        out[f[0]] = (f[1].split("@")[0], "master" in f[2], f[3])
    return out


def host_of(addr):
    return addr.rsplit(":", 1)[0]


def redis_cli_check(h, addr):
    r = h.run(0, ["redis-cli", "--cluster", "check", addr], timeout=60)
    return r.returncode == 0 and "[ERR]" not in r.stdout and \
        "[WARNING]" not in r.stdout, r.stdout


def test_create_across_three_hosts_rotates_replicas_off_their_primarys_host(hosts):
    h = hosts
    # One node for a primary and one for a replica on each host, listed
    # host by host: the greedy placement put the last replica on its
    # primary's host.
    addrs = [h.start_node(i, p) for i in range(3) for p in (6379, 6380)]
    p = sp(h, "create", *addrs, "--replicas", "1", "--yes", "--wait", "60")
    rc_ok(p)
    v = views(h, addrs[0])
    reps = [x for x in v.values() if not x[1]]
    assert len(reps) == 3, v
    for addr, _, prim in reps:
        assert host_of(addr) != host_of(v[prim][0]), v
    ok, out = redis_cli_check(h, addrs[0])
    assert ok, out
    rc_ok(sp(h, "check", addrs[0], "--expect-nodes", "6", "--min-replicas", "1"))


def test_add_node_replica_goes_to_a_primary_on_another_host_then_rebalance(hosts):
    h = hosts
    addrs = [h.start_node(i, 6379) for i in range(3)]
    rc_ok(sp(h, "create", *addrs, "--yes", "--wait", "60"))
    # A fourth primary on host 2 and a replica on host 2: the replica must
    # not go under host 2's primaries.
    new_primary = h.start_node(2, 6390)
    rc_ok(sp(h, "add-node", addrs[0], new_primary, "--yes"))
    replica = h.start_node(2, 6391)
    rc_ok(sp(h, "add-node", addrs[0], replica, "--replica", "--yes"))
    v = views(h, addrs[0])
    mine = [x for x in v.values() if x[0] == replica][0]
    assert host_of(v[mine[2]][0]) != host_of(replica), v
    rc_ok(sp(h, "rebalance", addrs[0], "--use-empty-masters", "--yes",
             "--json"))
    counts = {}
    for line in h.cli(0, addrs[0], "CLUSTER", "NODES").splitlines():
        f = line.split()
        if "master" in f[2]:
            counts[f[1].split("@")[0]] = sum(
                int(r.split("-")[-1]) - int(r.split("-")[0]) + 1
                for r in f[8:] if not r.startswith("["))
    assert len(counts) == 4 and min(counts.values()) >= 4000, counts
    ok, out = redis_cli_check(h, addrs[0])
    assert ok, out


def test_redis_py_inside_a_host_sees_the_cluster(hosts):
    """The oracle works across hosts too: redis-py, run in host 1, writes
    and reads through every primary."""
    h = hosts
    addrs = [h.start_node(i, 6379) for i in range(3)]
    rc_ok(sp(h, "create", *addrs, "--yes", "--wait", "60"))
    code = ("import redis.cluster as c; r = c.RedisCluster(host=%r, port=6379,"
            " decode_responses=True); [r.set('k%%d' %% i, i) for i in range(300)];"
            " print(sum(1 for i in range(300) if r.get('k%%d' %% i) == str(i)))"
            % host_of(addrs[1]))
    r = h.run(1, ["/usr/bin/python3", "-c", code], timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "300", r.stdout + r.stderr
    wait_until(lambda: json.loads(sp(h, "status", addrs[2], "--json", host=2)
                                  .stdout or "{}") != {}, 20,
               desc="status from host 2")


LOAD = ("import redis.cluster as c; r = c.RedisCluster(host=%r, port=%d); "
        "p = r.pipeline(); [p.set('k:%%d' %% i, 'v%%d' %% i) for i in range(%d)]; "
        "p.execute(); print('ok')")
COUNT = ("import redis.cluster as c; r = c.RedisCluster(host=%r, port=%d, "
         "decode_responses=True); keys = ['k:%%d' %% i for i in range(%d)]; "
         "print(sum(1 for k, v in zip(keys, r.mget_nonatomic(keys)) "
         "if v == 'v' + k[2:]))")


def cut_mid_move(h, argv, watch, host, addr):
    """Runs argv (a slotpilot command that moves slots) inside host 0,
    cuts `host` off once `watch` shows a slot MIGRATING, mends it after
    the command ends: the command must have stopped with exit 3, naming
    addr and resume."""
    p = subprocess.Popen(["ip", "netns", "exec", h.names[0]] + argv,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: p.poll() is not None or "->-" in
                   h.cli(0, watch, "CLUSTER", "NODES"), 120, 0.02,
                   "a slot MIGRATING on %s" % watch)
        assert p.poll() is None, "the move ended before the cut"
        h.cut(host)
        out, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            stop_pid(p.pid)
        h.mend(host)
    assert p.returncode == 3, "exit %s\n%s\n%s" % (p.returncode, out, err)
    assert addr in err and "resume" in err, err


def test_a_host_cut_off_mid_move_stops_the_move_then_resume_finishes(hosts, tmp_path):
    h = hosts
    addrs = [h.start_node(i, 6379) for i in range(3)]
    rc_ok(sp(h, "create", *addrs, "--yes", "--wait", "60"))
    n = 6000
    r = h.run(0, ["/usr/bin/python3", "-c", LOAD % (host_of(addrs[0]), 6379, n)])
    assert r.stdout.strip() == "ok", r.stderr
    ids = {x[0]: i for i, x in views(h, addrs[0]).items()}
    jd = str(tmp_path / "journal")
    argv = [SLOTPILOT, "reshard", addrs[0], "--from", ids[addrs[0]], "--to",
            ids[addrs[2]], "--slot-ranges", "0-1023", "--rate", "1500keys",
            "--window", "16", "--wait", "4", "--timeout", "1000",
            "--journal-dir", jd, "--yes"]
    cut_mid_move(h, argv, addrs[0], 2, addrs[2])
    r = sp(h, "resume", addrs[0], "--journal-dir", jd, "--yes", "--wait", "60",
           timeout=180)
    rc_ok(r)
    ok, out = redis_cli_check(h, addrs[0])
    assert ok, out
    r = h.run(0, ["/usr/bin/python3", "-c", COUNT % (host_of(addrs[0]), 6379, n)])
    assert r.stdout.strip() == str(n), r.stdout + r.stderr


def test_expand_and_shrink_with_the_local_provisioner_placing_nodes_on_hosts(hosts, tmp_path):
    h = hosts
    addrs = [h.start_node(i, p) for p in (7000, 7100) for i in range(3)]
    rc_ok(sp(h, "create", *addrs, "--replicas", "1", "--yes", "--wait", "60"))
    prov = str(tmp_path / "prov")
    where = ",".join("%s=%s" % (ns, a) for ns, a in zip(h.names, h.addrs))
    try:
        p = sp(h, "expand", addrs[0], "--primaries", "4", "--replicas", "1",
               "--provisioner", "local", "--dir", prov, "--local-hosts", where,
               "--journal-dir", str(tmp_path / "j"), "--yes", timeout=300)
        rc_ok(p)
        v = views(h, addrs[0])
        new = [x for x in v.values() if x[0] not in addrs]
        assert len(new) == 2, v
        prim = [x for x in new if x[1]][0]
        rep = [x for x in new if not x[1]][0]
        assert v[rep[2]][0] == prim[0], v
        assert host_of(prim[0]) != host_of(rep[0]), v
        assert host_of(prim[0]) in h.addrs and host_of(rep[0]) in h.addrs
        rc_ok(sp(h, "check", addrs[0], "--expect-nodes", "8", "--min-replicas", "1"))
        ok, out = redis_cli_check(h, addrs[0])
        assert ok, out

        pid = [i for i, x in v.items() if x == prim][0]
        p = sp(h, "shrink", addrs[0], "--remove", pid, "--provisioner", "local",
               "--dir", prov, "--journal-dir", str(tmp_path / "j"), "--yes",
               timeout=300)
        rc_ok(p)
        v = views(h, addrs[0])
        assert len(v) == 6 and all(x[0] in addrs for x in v.values()), v
        ok, out = redis_cli_check(h, addrs[0])
        assert ok, out
        assert not redis_pids_under(prov), "shrink left provisioned nodes running"
    finally:
        kill_pids_in_dir(prov)


def test_a_host_cut_off_during_expand_stops_it_then_resume_and_expand_finish(hosts, tmp_path):
    """expand's rebalance loses a source host mid-move: the move stops
    within its deadline, exit 3 says to resume; with the link back, resume
    finishes the move and expand run again completes, every key kept."""
    h = hosts
    addrs = [h.start_node(i, 6379) for i in range(3)]
    rc_ok(sp(h, "create", *addrs, "--yes", "--wait", "60"))
    n = 6000
    r = h.run(0, ["/usr/bin/python3", "-c", LOAD % (host_of(addrs[0]), 6379, n)])
    assert r.stdout.strip() == "ok", r.stderr
    prov, jd = str(tmp_path / "prov"), str(tmp_path / "journal")
    # the new primary on host 0: hosts 1 and 2 are sources that stay up
    # to the cut (host 2 is cut)
    where = "%s=%s" % (h.names[0], h.addrs[0])
    argv = [SLOTPILOT, "expand", addrs[0], "--primaries", "4", "--replicas", "0",
            "--provisioner", "local", "--dir", prov, "--local-hosts", where,
            "--rate", "1500keys", "--window", "16", "--wait", "4",
            "--timeout", "1000", "--journal-dir", jd, "--yes"]
    try:
        cut_mid_move(h, argv, addrs[2], 2, addrs[2])
        rc_ok(sp(h, "resume", addrs[0], "--journal-dir", jd, "--yes", "--wait", "60",
                 timeout=180))
        rc_ok(sp(h, "expand", addrs[0], "--primaries", "4", "--replicas", "0",
                 "--provisioner", "local", "--dir", prov, "--local-hosts", where,
                 "--journal-dir", jd, "--yes", timeout=300))
        v = views(h, addrs[0])
        assert sum(1 for x in v.values() if x[1]) == 4, v
        rc_ok(sp(h, "check", addrs[0], "--expect-primaries", "4"))
        ok, out = redis_cli_check(h, addrs[0])
        assert ok, out
        r = h.run(0, ["/usr/bin/python3", "-c", COUNT % (host_of(addrs[0]), 6379, n)])
        assert r.stdout.strip() == str(n), r.stdout + r.stderr
    finally:
        kill_pids_in_dir(prov)

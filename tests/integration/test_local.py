"""slotpilot local up/status/down: the embedded local provisioner.

Every cluster the binary starts here is stopped in a finalizer with
`local down --dir DIR`, then, as a safety net, every redis-server whose pid
is in DIR/**/*.pid or whose working directory is under DIR is stopped.
"""

import socket

import pytest

from conftest import (HOST, assert_rc, describe, is_redis_server_pid, pick_port_range, pid_alive, port_free, redis_cli_check, redis_cli_clean,
                      run_sp, sp_json, wait_until)
from conftest import cleanup_local, redis_pids_under  # shared helpers

PRIMARIES, REPLICAS = 3, 1
N = PRIMARIES * (1 + REPLICAS)


def local_up(d, base, primaries=PRIMARIES, replicas=REPLICAS, *extra):
    return run_sp("local", "up", "--primaries", primaries, "--replicas", replicas,
                  "--port", base, "--dir", str(d), *extra, timeout=180)


@pytest.fixture(scope="module")
def local_cluster(tmp_path_factory):
    d = tmp_path_factory.mktemp("local")
    base = pick_port_range(N)
    try:
        p = local_up(d, base)
        yield d, base, p
    finally:
        cleanup_local(d, purge=False)


def test_local_up_exits_0(local_cluster):
    d, base, p = local_cluster
    assert_rc(p, 0)


def test_local_up_cluster_passes_slotpilot_check(local_cluster):
    d, base, p = local_cluster
    assert_rc(p, 0)
    c = run_sp("check", "%s:%d" % (HOST, base), "--expect-nodes", N,
               "--expect-primaries", PRIMARIES, "--min-replicas", REPLICAS)
    assert_rc(c, 0)


def test_local_up_cluster_passes_redis_cli_check(local_cluster):
    d, base, p = local_cluster
    assert_rc(p, 0)
    for port in range(base, base + N):
        rc, out = redis_cli_check("%s:%d" % (HOST, port))
        assert redis_cli_clean(rc, out), "redis-cli check from port %d:\n%s" % (port, out)


def test_local_up_status_json_shows_3_primaries_each_with_1_replica(local_cluster):
    d, base, p = local_cluster
    assert_rc(p, 0)
    s, data = sp_json("status", "%s:%d" % (HOST, base), rc=0)
    assert data["cluster_state"] == "ok", describe(s)
    assert data["nodes"] == N, describe(s)
    assert len(data["primaries"]) == PRIMARIES, describe(s)
    ports = set()
    for prim in data["primaries"]:
        assert len(prim["replicas"]) == REPLICAS, describe(s)
        ports.add(int(prim["addr"].rsplit(":", 1)[1]))
        ports.update(int(r["addr"].rsplit(":", 1)[1]) for r in prim["replicas"])
    assert ports == set(range(base, base + N)), describe(s)


def _local_status(d):
    s, data = sp_json("local", "status", "--dir", str(d), rc=0)
    assert isinstance(data.get("nodes"), list), describe(s)
    return s, data


def test_local_status_lists_all_nodes_alive(local_cluster):
    d, base, p = local_cluster
    assert_rc(p, 0)
    s, data = _local_status(d)
    assert "dir" in data, describe(s)
    nodes = data["nodes"]
    assert sorted(n["port"] for n in nodes) == list(range(base, base + N)), describe(s)
    for n in nodes:
        assert n["alive"] is True, describe(s)
        assert isinstance(n["pid"], int) and is_redis_server_pid(n["pid"]), \
            "pid %r is not a live redis-server%s" % (n["pid"], describe(s))


def test_local_up_again_on_same_dir_exits_0_and_reports_already_running(local_cluster):
    d, base, p = local_cluster
    assert_rc(p, 0)
    _, before = _local_status(d)
    again = local_up(d, base)
    assert_rc(again, 0)
    assert "already" in (again.stdout + again.stderr).lower(), describe(again)
    _, after = _local_status(d)
    assert sorted((n["port"], n["pid"]) for n in after["nodes"]) == \
        sorted((n["port"], n["pid"]) for n in before["nodes"]), "processes changed" + describe(again)


def test_local_down_stops_every_process_it_started(local_cluster):
    # Keep this test last in the module: it takes the shared cluster down.
    d, base, p = local_cluster
    assert_rc(p, 0)
    _, st = _local_status(d)
    pids = [n["pid"] for n in st["nodes"]]
    assert len(pids) == N
    down = run_sp("local", "down", "--dir", str(d), timeout=60)
    assert_rc(down, 0)
    wait_until(lambda: not any(pid_alive(x) for x in pids), 10, 0.1,
               "all local pids %s to exit after `local down`" % pids)
    assert not redis_pids_under(d)
    again = run_sp("local", "down", "--dir", str(d), timeout=60)
    assert_rc(again, 0)
    s, data = _local_status(d)
    assert not any(n.get("alive") for n in data["nodes"]), describe(s)


def test_local_down_when_nothing_runs_exits_0(tmp_path):
    d = tmp_path / "empty"
    d.mkdir()
    try:
        p = run_sp("local", "down", "--dir", str(d))
        assert_rc(p, 0)
    finally:
        cleanup_local(d, purge=False)


@pytest.mark.parametrize("offset", [0, N - 1])
def test_local_up_with_port_in_use_exits_4_and_starts_nothing(tmp_path, offset):
    d = tmp_path / "busy"
    base = pick_port_range(N)
    busy = base + offset
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((HOST, busy))
    s.listen(4)
    try:
        p = local_up(d, base)
        assert_rc(p, 4)
        assert str(busy) in p.stderr, describe(p)
        assert not redis_pids_under(d), "redis-server processes left running" + describe(p)
        for pf in (d.rglob("*.pid") if d.exists() else []):
            try:
                pid = int(pf.read_text().strip())
            except ValueError:
                continue
            assert not pid_alive(pid), "pid file %s: %d alive%s" % (pf, pid, describe(p))
        for port in range(base, base + N):
            if port != busy:
                assert port_free(port), "port %d is in use after refusal%s" % (port, describe(p))
    finally:
        s.close()
        cleanup_local(d, purge=False)

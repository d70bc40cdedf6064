"""slotpilot local up --tls: a local cluster of TLS-only nodes.

`local up --tls` makes a throwaway CA and certificates with openssl in
DIR/tls and starts nodes that speak TLS only (clients, the bus and
replication), require client certificates, and are reached with the
options it prints. The cluster is stopped in a finalizer with `local
down`, then every redis-server whose pid is in DIR/**/*.pid or whose
working directory is under DIR is stopped (conftest.cleanup_local).
"""

import json
import os
import signal
import stat
import subprocess
import urllib.request

import pytest
from redis.cluster import RedisCluster

from conftest import SERVER  # redis-server, or valkey-server (SLOTPILOT_SERVER)
from conftest import (HOST, SLOTPILOT, assert_rc, cleanup_local, describe, is_redis_server_pid,
                      pick_port, pick_port_range, pid_alive, redis_cli_clean, run_sp, sp_json,
                      wait_until)

PRIMARIES, REPLICAS = 3, 1
N = PRIMARIES * (1 + REPLICAS)
KEYS = ("ca.key", "node.key", "client.key")


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory):
    d = tmp_path_factory.mktemp("localtls")
    base = pick_port_range(N + 2)  # spawn's node, then expand's two
    try:
        p, data = sp_json("local", "up", "--tls", "--primaries", PRIMARIES, "--replicas",
                          REPLICAS, "--port", base, "--dir", str(d), "--server", SERVER,
                          timeout=240)
        yield d, base, p, data
    finally:
        cleanup_local(d, purge=False)


def tls_args(data):
    return data["tls"]["args"].split()


def redis_cli(port, *args, tls=None, timeout=30):
    cmd = ["redis-cli", "-h", HOST, "-p", str(port)] + (list(tls) if tls else []) + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def test_local_up_tls_exits_0_and_prints_the_options(tls_cluster):
    d, base, p, data = tls_cluster
    assert_rc(p, 0)
    t = data["tls"]
    tls = os.path.realpath(str(d / "tls"))
    assert t["cacert"] == tls + "/ca.crt" and t["cert"] == tls + "/client.crt", t
    assert t["key"] == tls + "/client.key", t
    assert tls_args(data) == ["--tls", "--cacert", t["cacert"], "--cert", t["cert"], "--key",
                              t["key"]]


def test_local_status_text_says_how_to_reach_it(tls_cluster):
    d, base, p, data = tls_cluster
    assert_rc(p, 0)
    s = run_sp("local", "status", "--dir", str(d))
    assert_rc(s, 0)
    assert "TLS only; reach it with: " + data["tls"]["args"] in s.stdout, describe(s)


def test_tls_dir_is_0700_and_key_files_are_0600(tls_cluster):
    d, base, p, data = tls_cluster
    assert_rc(p, 0)
    assert stat.S_IMODE(os.stat(d / "tls").st_mode) == 0o700
    for k in KEYS:
        assert stat.S_IMODE(os.stat(d / "tls" / k).st_mode) == 0o600, k
    for c in ("ca.crt", "node.crt", "client.crt"):
        assert (d / "tls" / c).is_file(), c


def _x509_text(path):
    s = subprocess.run(["openssl", "x509", "-in", str(path), "-noout", "-text"],
                       capture_output=True, text=True, timeout=30)
    assert s.returncode == 0, s.stderr
    return s.stdout


def test_node_certificate_names_the_loopback_addresses_and_client_is_slotpilot_client(tls_cluster):
    d, base, p, data = tls_cluster
    assert_rc(p, 0)
    node = _x509_text(d / "tls" / "node.crt")
    for san in ("IP Address:127.0.0.1", "IP Address:0:0:0:0:0:0:0:1", "DNS:localhost"):
        assert san in node, node
    client = _x509_text(d / "tls" / "client.crt")
    assert "CN = slotpilot-client" in client, client


def test_node_configs_are_tls_only(tls_cluster):
    d, base, p, data = tls_cluster
    assert_rc(p, 0)
    for port in range(base, base + N):
        lines = (d / str(port) / "redis.conf").read_text().splitlines()
        for want in ("port 0", "tls-port %d" % port, "tls-cluster yes", "tls-replication yes",
                     "tls-auth-clients yes", "cluster-announce-bus-port %d" % (port + 10000)):
            assert want in lines, (port, want)


def test_redis_cli_tls_cluster_check_is_clean(tls_cluster):
    d, base, p, data = tls_cluster
    assert_rc(p, 0)
    for port in (base, base + N - 1):
        s = redis_cli(port, "--cluster", "check", "%s:%d" % (HOST, port), tls=tls_args(data),
                      timeout=60)
        out = s.stdout + s.stderr
        assert redis_cli_clean(s.returncode, out), "redis-cli check from %d:\n%s" % (port, out)


def test_replicas_sync_over_tls(tls_cluster):
    d, base, p, data = tls_cluster
    assert_rc(p, 0)
    links = []
    for port in range(base, base + N):
        info = redis_cli(port, "INFO", "replication", tls=tls_args(data)).stdout
        if "role:slave" in info:
            links.append("master_link_status:up" in info)
    assert links == [True] * REPLICAS * PRIMARIES, links


def test_plain_ping_fails_on_every_port(tls_cluster):
    d, base, p, data = tls_cluster
    assert_rc(p, 0)
    for port in range(base, base + N):
        s = redis_cli(port, "PING")
        assert s.stdout.strip() != "PONG", "port %d answered a plain PING" % port


def test_tls_without_a_client_certificate_is_refused(tls_cluster):
    d, base, p, data = tls_cluster
    assert_rc(p, 0)
    s = redis_cli(base, "PING", tls=["--tls", "--cacert", data["tls"]["cacert"]])
    assert s.stdout.strip() != "PONG", "tls-auth-clients yes: a client certificate is required"


def test_slotpilot_check_with_the_printed_options_exits_0(tls_cluster):
    d, base, p, data = tls_cluster
    assert_rc(p, 0)
    c = run_sp("check", "%s:%d" % (HOST, base), "--expect-nodes", N, "--expect-primaries",
               PRIMARIES, "--min-replicas", REPLICAS, *tls_args(data))
    assert_rc(c, 0)


def test_slotpilot_check_without_tls_does_not_pass(tls_cluster):
    d, base, p, data = tls_cluster
    assert_rc(p, 0)
    c = run_sp("check", "%s:%d" % (HOST, base), timeout=60)
    assert c.returncode != 0, describe(c)


def test_local_up_again_reports_already_running(tls_cluster):
    d, base, p, data = tls_cluster
    assert_rc(p, 0)
    p2, again = sp_json("local", "up", "--tls", "--dir", str(d), rc=0, timeout=60)
    assert again["already_running"] is True, describe(p2)
    assert again["tls"]["args"] == data["tls"]["args"]


def test_spawned_node_is_tls_only_with_the_same_certificates(tls_cluster):
    d, base, p, data = tls_cluster
    assert_rc(p, 0)
    s = run_sp("local", "spawn", "--dir", str(d), "--port", base + N, timeout=60)
    assert_rc(s, 0)
    assert s.stdout.split() == ["%s:%d" % (HOST, base + N)], describe(s)
    port = base + N
    try:
        lines = (d / str(port) / "redis.conf").read_text().splitlines()
        assert "port 0" in lines and "tls-port %d" % port in lines
        cert = [x for x in lines if x.startswith("tls-cert-file ")]
        assert cert == ['tls-cert-file "%s"' % os.path.realpath(str(d / "tls" / "node.crt"))]
        assert redis_cli(port, "PING", tls=tls_args(data)).stdout.strip() == "PONG"
        assert redis_cli(port, "PING").stdout.strip() != "PONG"
    finally:
        run_sp("local", "down", "--dir", str(d), "--only", port, "--purge", timeout=60)
    assert not (d / str(port)).exists()


def _status(port):
    try:
        with urllib.request.urlopen("http://%s:%d/status" % (HOST, port), timeout=5) as r:
            return json.loads(r.read().decode())
    except (OSError, ValueError):
        return None


def test_autoscaler_reaches_the_cluster_with_the_ini_tls_keys(tls_cluster, tmp_path):
    d, base, p, data = tls_cluster
    assert_rc(p, 0)
    t = data["tls"]
    cfg = tmp_path / "as.ini"
    cfg.write_text("[daemon]\ninterval = 0.3s\njournal_dir = %s\n[cluster]\ntls = true\n"
                   "tls_cacert = %s\ntls_cert = %s\ntls_key = %s\n"
                   % (tmp_path / "journal", t["cacert"], t["cert"], t["key"]))
    port = pick_port()
    with open(str(tmp_path / "as.out"), "wb") as out, open(str(tmp_path / "as.err"), "wb") as err:
        daemon = subprocess.Popen([SLOTPILOT, "autoscale", "%s:%d" % (HOST, base), "--config",
                                   str(cfg), "--dry-run", "--listen", "%s:%d" % (HOST, port)],
                                  stdout=out, stderr=err, stdin=subprocess.DEVNULL)
    try:
        def members():
            assert daemon.poll() is None, (tmp_path / "as.err").read_text()
            st = _status(port)
            return st is not None and st["cluster"]["members"] == N and st["cluster"]["state_ok"]
        wait_until(members, 60, 0.3, "the daemon to read all %d members over TLS" % N)
    finally:
        if daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(30)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait(10)
    assert daemon.returncode == 0, (tmp_path / "as.err").read_text()


def test_local_up_tls_refuses_the_operators_certificates(tmp_path):
    d = tmp_path / "mine"
    p = run_sp("local", "up", "--tls", "--cacert", "/x/ca.crt", "--dir", str(d), "--port",
               pick_port_range(3), "--primaries", 3, "--replicas", 0)
    assert_rc(p, 2)
    assert "makes its own" in p.stderr, describe(p)
    assert not (d / "tls").exists()


def test_expand_through_the_local_provisioner_adds_tls_only_nodes(tls_cluster):
    d, base, p, data = tls_cluster
    assert_rc(p, 0)
    before = {x.name for x in d.iterdir() if x.name.isdigit()}
    t = data["tls"]
    rc = RedisCluster(host=HOST, port=base, ssl=True, ssl_ca_certs=t["cacert"],
                      ssl_certfile=t["cert"], ssl_keyfile=t["key"], decode_responses=True)
    for i in range(500):
        rc.set("tlskey:%d" % i, "v%d" % i)
    e = run_sp("expand", "%s:%d" % (HOST, base), "--primaries", PRIMARIES + 1, "--replicas", 1,
               "--provisioner", "local", "--yes", *tls_args(data), timeout=300)
    assert_rc(e, 0)
    new = sorted({x.name for x in d.iterdir() if x.name.isdigit()} - before)
    assert len(new) == 2, new
    for port in new:
        lines = (d / port / "redis.conf").read_text().splitlines()
        assert "port 0" in lines and "tls-port %s" % port in lines, port
        assert "tls-cluster yes" in lines and "tls-auth-clients yes" in lines, port
        assert redis_cli(int(port), "PING").stdout.strip() != "PONG", port
    c = run_sp("check", "%s:%d" % (HOST, base), "--expect-nodes", N + 2, "--expect-primaries",
               PRIMARIES + 1, *tls_args(data))
    assert_rc(c, 0)
    # The rebalance moved keys node to node (MIGRATE over TLS): all there.
    rc = RedisCluster(host=HOST, port=base, ssl=True, ssl_ca_certs=t["cacert"],
                      ssl_certfile=t["cert"], ssl_keyfile=t["key"], decode_responses=True)
    assert [rc.get("tlskey:%d" % i) for i in range(500)] == ["v%d" % i for i in range(500)]
    new_keys = sum(int(redis_cli(int(port), "DBSIZE", tls=tls_args(data)).stdout or 0)
                   for port in new)
    assert new_keys > 0, "no key moved to the new primary"
    rc.close()


def tls_owners(data, base):
    """(start, end) -> the owning primary's port, read over TLS."""
    t = data["tls"]
    rc = RedisCluster(host=HOST, port=base, ssl=True, ssl_ca_certs=t["cacert"],
                      ssl_certfile=t["cert"], ssl_keyfile=t["key"])
    try:
        return {k: v["primary"][1] for k, v in rc.cluster_slots().items()}
    finally:
        rc.close()


def test_preflight_rollback_and_shrink_over_tls(tls_cluster, tmp_path):
    """After the expand above: preflight reads every node over TLS, a
    reshard is rolled back to the owners it started from, and shrink
    drains a primary and deprovisions it, every key kept."""
    d, base, p, data = tls_cluster
    assert_rc(p, 0)
    entry = "%s:%d" % (HOST, base)
    pf = run_sp("preflight", entry, "--no-scan", "--json", *tls_args(data), timeout=120)
    assert pf.returncode in (0, 1), describe(pf)
    assert "unreachable" not in pf.stdout, describe(pf)
    before = tls_owners(data, base)
    src = [port for (a, b), port in sorted(before.items()) if a == 0][0]
    ids = {}
    for line in redis_cli(base, "CLUSTER", "NODES", tls=tls_args(data)).stdout.splitlines():
        f = line.split()
        if "master" in f[2]:
            ids[int(f[1].split("@")[0].rsplit(":", 1)[1])] = f[0]
    dst = [port for port in ids if port != src][0]
    jd = str(tmp_path / "journal")
    assert_rc(run_sp("reshard", entry, "--from", ids[src], "--to", ids[dst], "--slot-ranges",
                     "0-15", "--journal-dir", jd, "--yes", *tls_args(data), timeout=120), 0)
    assert tls_owners(data, base) != before
    assert_rc(run_sp("rollback", entry, "--journal-dir", jd, "--yes", *tls_args(data),
                     timeout=120), 0)
    assert tls_owners(data, base) == before
    s = run_sp("shrink", entry, "--primaries", PRIMARIES, "--provisioner", "local", "--yes",
               *tls_args(data), timeout=300)
    assert_rc(s, 0)
    c = run_sp("check", entry, "--expect-primaries", PRIMARIES, *tls_args(data))
    assert_rc(c, 0)
    t = data["tls"]
    rc = RedisCluster(host=HOST, port=base, ssl=True, ssl_ca_certs=t["cacert"],
                      ssl_certfile=t["cert"], ssl_keyfile=t["key"], decode_responses=True)
    assert [rc.get("tlskey:%d" % i) for i in range(500)] == ["v%d" % i for i in range(500)]
    rc.close()


def test_stopped_tls_cluster_comes_back_tls_with_plain_local_up(tls_cluster):
    d, base, p, data = tls_cluster
    assert_rc(p, 0)
    assert_rc(run_sp("local", "down", "--dir", str(d), timeout=120), 0)
    up, again = sp_json("local", "up", "--dir", str(d), "--server", SERVER, rc=0, timeout=180)
    assert again["already_running"] is False and again["tls"] is not None, describe(up)
    assert again["tls"]["args"] == data["tls"]["args"]
    nodes = len([x for x in d.iterdir() if x.name.isdigit()])
    c = run_sp("check", "%s:%d" % (HOST, base), "--expect-nodes", nodes, "--wait", 30,
               *tls_args(data), timeout=90)
    assert_rc(c, 0)


def test_local_up_tls_refuses_a_plain_cluster(tmp_path):
    d = tmp_path / "plain"
    base = pick_port_range(3)
    try:
        assert_rc(run_sp("local", "up", "--dir", str(d), "--port", base, "--primaries", 3,
                         "--replicas", 0, "--server", SERVER, timeout=180), 0)
        p = run_sp("local", "up", "--tls", "--dir", str(d), timeout=60)
        assert_rc(p, 2)
        assert "runs without TLS" in p.stderr, describe(p)
        assert not (d / "tls").exists()
    finally:
        cleanup_local(d)


def test_local_down_stops_every_node(tls_cluster):
    d, base, p, data = tls_cluster
    assert_rc(p, 0)
    ports = sorted(int(x.name) for x in d.iterdir() if x.name.isdigit())
    assert len(ports) >= N
    pids = [int((d / str(port) / "redis.pid").read_text()) for port in ports]
    assert all(is_redis_server_pid(x) for x in pids)
    s = run_sp("local", "down", "--dir", str(d), timeout=120)
    assert_rc(s, 0)
    assert "Stopped %d nodes" % len(ports) in s.stdout, describe(s)
    wait_until(lambda: not any(pid_alive(x) for x in pids), 30, 0.1, "every node stopped")
    # --purge of the whole directory takes the certificates away too.
    s = run_sp("local", "down", "--dir", str(d), "--purge", timeout=60)
    assert_rc(s, 0)
    assert not (d / "tls").exists()

"""slotpilot over TLS (issue #16): --tls, --cacert, --cert, --key, --sni,
--insecure against TLS-only nodes.

Runs in the normal suite on Redis and builds its own TLS nodes with the
harness (start_node(tls=...)), whatever SLOTPILOT_TLS says: one CA made
with the openssl CLI, a node certificate (SAN 127.0.0.1, ::1, localhost)
and a client one; nodes are TLS only and require client certificates.
Every slotpilot call names its TLS options (tls=...) explicitly.

Oracles are independent of slotpilot: redis-cli --tls --cluster check,
redis-py's RedisCluster over TLS (every key kept), CLUSTER NODES before and
after (a refused run changes nothing), redis-check-rdb and a scratch
redis-server loading each backup file, and a Python TLS listener that
records the SNI name slotpilot sends.
"""

import json
import os
import re
import signal
import socket
import ssl
import subprocess
import threading
import time
from types import SimpleNamespace

import pytest

from conftest import (HOST, assert_no_open_slot, assert_rc, checks_pass, describe,
                      diff_snapshot, jdir, key_in_slot, load_keys, make_cluster_with_redis_cli,
                      node_cluster_client, open_slot_lines, ownership_snapshot, pick_port,
                      primaries_of, redis_cli_check, redis_cli_clean, redis_cli_flags, run_sp,
                      slot_owner_map, sp_argv, spread_keys, verify_keys, wait_until)
from harness import TlsCA, make_tls_files

REDIS_CHECK_RDB = "/usr/bin/redis-check-rdb"
NKEYS = 3000
RUN_TIMEOUT = 180
FIX_SLOT = 100


# ---------------------------------------------------------------------------
# certificates, nodes and clusters


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """The module's CA, node and client certificates, and the bad ones."""
    d = tmp_path_factory.mktemp("pki")
    good = make_tls_files(str(d / "ca"))
    other = TlsCA(str(d / "other-ca"), name="another-ca")
    exp_cert, exp_key = good.ca.issue("expired", start="20200101000000Z",
                                      end="20210101000000Z")
    # A valid certificate that names another host only (no 127.0.0.1).
    far_cert, far_key = good.ca.issue("elsewhere", san="DNS:elsewhere.example")
    garbage = str(d / "garbage.pem")
    with open(garbage, "w") as f:
        f.write("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n")
    return SimpleNamespace(
        good=good, other_ca=other.cert, garbage=garbage, missing=str(d / "no-such-file.pem"),
        expired=good.with_node_cert(exp_cert, exp_key, insecure=True),
        elsewhere=good.with_node_cert(far_cert, far_key),
        other_key=far_key)


def sp(*args, tls, timeout=RUN_TIMEOUT):
    """slotpilot with exactly these TLS options (tls: TlsFiles, or None)."""
    return run_sp(*args, tls=tls, timeout=timeout)


def tls_opts(pki, cacert=True, cert=True, key=True):
    """slotpilot's TLS options as a list, each file replaceable (a path, or
    False to leave the option out)."""
    g = pki.good
    out = ["--tls"]
    for opt, val, default in (("--cacert", cacert, g.cacert), ("--cert", cert, g.client_cert),
                              ("--key", key, g.client_key)):
        if val is not False:
            out += [opt, default if val is True else val]
    return out


def one_node_cluster(pool, tls):
    """One primary owning every slot (its certificate is nobody else's
    business: no cluster bus peer verifies it)."""
    n = pool.start(1, tls=tls)[0]
    n.cli("CLUSTER", "ADDSLOTSRANGE", 0, 16383)
    wait_until(lambda: n.cluster_info().get("cluster_state") == "ok", 20, 0.1,
               "one-node cluster %s to be ok" % n.addr)
    return [n]


def tls_cluster(pool, pki, primaries=3, nkeys=NKEYS, prefix=b"tk:"):
    nodes = pool.start(primaries, tls=pki.good)
    make_cluster_with_redis_cli(nodes, 0)
    kv = spread_keys(nkeys, prefix)
    load_keys(nodes[0], kv)
    return nodes, kv


@pytest.fixture(scope="module")
def shared(module_node_pool, pki):
    """3 TLS primaries with keys, for the cases that change nothing."""
    nodes, kv = tls_cluster(module_node_pool, pki)
    return SimpleNamespace(nodes=nodes, kv=kv, entry=nodes[0])


@pytest.fixture(scope="module")
def bad_nodes(module_node_pool, pki):
    """One-node clusters: expired certificate, name mismatch, plain."""
    return SimpleNamespace(expired=one_node_cluster(module_node_pool, pki.expired),
                           elsewhere=one_node_cluster(module_node_pool, pki.elsewhere),
                           plain=one_node_cluster(module_node_pool, None))


# ---------------------------------------------------------------------------
# refusals: a clear error naming the node and the reason, the exit code, and
# nothing changed on the cluster


def assert_refused(nodes, args, rc, reason, names=None, tmp_path=None):
    """check with args exits rc naming `names` (default the entry node) and
    matching reason; a reshard with the same options exits rc too and
    leaves every node's slot map, open slots and keys as they were."""
    entry = nodes[0]
    names = names or entry.addr
    p = run_sp("check", entry.addr, *args, tls=None)
    assert_rc(p, rc)
    assert names in p.stderr, "the error does not name %s%s" % (names, describe(p))
    assert re.search(reason, p.stderr, re.I), "no reason matching %r%s" % (reason, describe(p))
    before = ownership_snapshot(nodes)
    target = nodes[-1].myid()
    p = run_sp("reshard", entry.addr, "--from", "all", "--to", target, "--slots", 100,
               "--yes", "--journal-dir", jdir(tmp_path), *args, tls=None, timeout=RUN_TIMEOUT)
    assert_rc(p, rc)
    assert names in p.stderr and re.search(reason, p.stderr, re.I), describe(p)
    assert not diff_snapshot(before, ownership_snapshot(nodes)), \
        "a refused reshard changed the cluster%s" % describe(p)
    return p


VERIFY_FAILED = r"verification failed.*(not signed by a CA|unknown ca|issuer|self.signed)"


def test_a_wrong_ca_fails_verification_with_exit_3(shared, pki, tmp_path):
    assert_refused(shared.nodes, tls_opts(pki, cacert=pki.other_ca), 3, VERIFY_FAILED,
                   tmp_path=tmp_path)


def test_an_expired_node_certificate_fails_with_exit_3(bad_nodes, pki, tmp_path):
    assert_refused(bad_nodes.expired, tls_opts(pki), 3, r"expired", tmp_path=tmp_path)


def test_a_certificate_not_naming_the_address_fails_with_exit_3(bad_nodes, pki, tmp_path):
    assert_refused(bad_nodes.elsewhere, tls_opts(pki), 3,
                   r"verification failed.*mismatch", tmp_path=tmp_path)


def test_no_client_certificate_where_nodes_require_one_fails_with_exit_3(shared, pki,
                                                                           tmp_path):
    # TLS 1.3: the node refuses the missing certificate after the handshake,
    # so the alert arrives while slotpilot writes its first command; the
    # error must still say a client certificate is wanted.
    assert_refused(shared.nodes, tls_opts(pki, cert=False, key=False), 3,
                   r"client certificate|certificate required", tmp_path=tmp_path)


def test_plain_slotpilot_against_a_tls_port_fails_with_exit_3(shared, tmp_path):
    assert_refused(shared.nodes, [], 3, r"TLS port.*--tls", tmp_path=tmp_path)


def test_tls_slotpilot_against_a_plain_port_fails_with_exit_3(bad_nodes, pki, tmp_path):
    assert_refused(bad_nodes.plain, tls_opts(pki), 3, r"TLS.*plain", tmp_path=tmp_path)


UNREADABLE = {
    "cacert-missing": ("--cacert", "missing"),
    "cacert-garbage": ("--cacert", "garbage"),
    "cert-missing": ("--cert", "missing"),
    "cert-garbage": ("--cert", "garbage"),
    "key-missing": ("--key", "missing"),
    "key-garbage": ("--key", "garbage"),
    "key-of-another-cert": ("--key", "other_key"),
}


@pytest.mark.parametrize("case", list(UNREADABLE))
def test_unreadable_tls_files_exit_2_naming_the_file(shared, pki, tmp_path, case):
    opt, which = UNREADABLE[case]
    path = getattr(pki, which)
    args = tls_opts(pki, **{opt[2:]: path})
    reshard = ["reshard", shared.entry.addr, "--from", "all", "--to", shared.nodes[1].myid(),
               "--slots", 10, "--yes", "--journal-dir", jdir(tmp_path)]
    for argv in (["check", shared.entry.addr], reshard):
        before = ownership_snapshot(shared.nodes)
        p = sp(*(argv + args), tls=None)
        assert_rc(p, 2)
        assert opt in p.stderr and path in p.stderr, describe(p)
        assert not diff_snapshot(before, ownership_snapshot(shared.nodes)), describe(p)


def test_cert_without_key_exits_2(shared, pki):
    p = sp("check", shared.entry.addr, *tls_opts(pki, key=False), tls=None)
    assert_rc(p, 2)
    assert "--cert" in p.stderr and "--key" in p.stderr, describe(p)
    p = sp("check", shared.entry.addr, *tls_opts(pki, cert=False), tls=None)
    assert_rc(p, 2)
    assert "--cert" in p.stderr and "--key" in p.stderr, describe(p)


# ---------------------------------------------------------------------------
# --insecure and --sni


def test_insecure_connects_without_verifying_and_warns(shared, bad_nodes, pki):
    for nodes, cacert in ((shared.nodes, pki.other_ca), (bad_nodes.expired, False)):
        p = sp("check", nodes[0].addr, *tls_opts(pki, cacert=cacert), "--insecure", tls=None)
        assert_rc(p, 0)
        assert re.search(r"warning.*--insecure", p.stderr), describe(p)
    p = sp("check", shared.entry.addr, tls=pki.good)
    assert_rc(p, 0)
    assert "insecure" not in p.stderr, describe(p)


class SniRecorder:
    """A TLS listener on 127.0.0.1 presenting cert/key that records the SNI
    name of every handshake, then closes the connection."""

    def __init__(self, cert, key):
        self.names = []
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        ctx.sni_callback = lambda sock, name, c: self.names.append(name)
        self.ctx = ctx
        self.port = pick_port()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((HOST, self.port))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.done = False
        self.t = threading.Thread(target=self._serve, daemon=True)
        self.t.start()

    def _serve(self):
        while not self.done:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            conn.settimeout(5)
            try:
                with self.ctx.wrap_socket(conn, server_side=True):
                    pass
            except (OSError, ssl.SSLError):
                conn.close()

    def close(self):
        self.done = True
        self.t.join(5)
        self.sock.close()


def test_sni_sends_the_given_name_and_verifies_the_certificate_against_it(bad_nodes, pki):
    rec = SniRecorder(pki.elsewhere.node_cert, pki.elsewhere.node_key)
    try:
        p = sp("check", "%s:%d" % (HOST, rec.port), *tls_opts(pki), "--sni",
               "elsewhere.example", "--timeout", 5000, tls=None, timeout=60)
        assert p.returncode == 3, describe(p)  # the listener speaks no RESP
        assert "elsewhere.example" in rec.names, (rec.names, describe(p))
    finally:
        rec.close()
    node = bad_nodes.elsewhere[0]
    # The node's certificate names elsewhere.example only: with that --sni
    # it verifies; with another name it does not.
    p = sp("check", node.addr, *tls_opts(pki), "--sni", "elsewhere.example", tls=None)
    assert_rc(p, 0)
    p = sp("check", node.addr, *tls_opts(pki), "--sni", "wrong.example", tls=None)
    assert_rc(p, 3)
    assert node.addr in p.stderr and re.search(r"verification failed.*mismatch", p.stderr), \
        describe(p)


# ---------------------------------------------------------------------------
# positive cases over TLS


def test_check_and_status_agree_with_redis_cli_over_tls(shared, pki):
    rc, out = redis_cli_check(shared.entry.addr, tls=pki.good)
    assert redis_cli_clean(rc, out), out
    p = sp("check", shared.entry.addr, tls=pki.good)
    assert_rc(p, 0)
    p = sp("status", shared.entry.addr, "--json", tls=pki.good)
    assert_rc(p, 0)
    data = json.loads(p.stdout)
    assert data["cluster_state"] == "ok" and data["unreachable"] == [], describe(p)
    view = {v["id"]: v for v in shared.entry.cluster_nodes() if v["primary"]}
    got = {pr["id"]: pr for pr in data["primaries"]}
    assert set(got) == set(view), describe(p)
    for nid, pr in got.items():
        assert pr["addr"] == view[nid]["addr"], describe(p)
        assert pr["slots"] == sum(b - a + 1 for a, b in view[nid]["slots"]), describe(p)
    by_addr = {n.addr: n for n in shared.nodes}
    assert sum(pr["keys"] for pr in data["primaries"]) == sum(
        by_addr[a].client().dbsize() for a in by_addr), describe(p)


def keys_and_dumps(client):
    return {k: client.dump(k) for k in client.scan_iter(count=1000)}


def test_backup_over_tls_writes_files_the_backup_tests_accept(shared, pki, tmp_path,
                                                              module_node_pool):
    from test_backup import crc64_jones
    d = tmp_path / "bk"
    p = sp("backup", shared.entry.addr, "--dir", str(d), "--json", tls=pki.good)
    assert_rc(p, 0)
    with open(str(d / "manifest.json")) as f:
        m = json.load(f)
    prims = {n.addr: n for n in primaries_of(shared.nodes)}
    assert m["method"] == "sync" and sorted(f["addr"] for f in m["files"]) == sorted(prims)
    for f in m["files"]:
        path = os.path.join(str(d), f["file"])
        data = open(path, "rb").read()
        assert data[:5] == b"REDIS" and int(f["crc64"], 16) == crc64_jones(data[:-8])
        chk = subprocess.run([REDIS_CHECK_RDB, path], capture_output=True, text=True,
                             timeout=60)
        assert chk.returncode == 0, chk.stdout + chk.stderr
        scratch = module_node_pool.start(1, tls=None, extra_conf=[
            "cluster-enabled no", "dir %s" % str(d), "dbfilename %s" % f["file"]])[0]
        try:
            want = keys_and_dumps(prims[f["addr"]].client())
            assert len(want) == f["keys"] > 0
            assert keys_and_dumps(scratch.client()) == want, f["file"]
        finally:
            scratch.kill()
    assert_rc(sp("backup", "verify", str(d), tls=None), 0)


def test_traffic_over_tls_has_zero_errors_and_redis_py_reads_it_back(shared, pki):
    p = sp("traffic", shared.entry.addr, "--seconds", 2, "--rate", 2000, "--keys", 300,
           "--prefix", "tlsgen:", "--verify", "--json", tls=pki.good)
    assert_rc(p, 0)
    d = [e for e in map(json.loads, filter(None, p.stdout.splitlines()))
         if e.get("event") == "traffic"][-1]
    run, v = d["phases"][0], d["verify"]
    assert run["writes"] > 0 and run["errors"] == 0, d
    assert v["lost"] == 0 and v["stale"] == 0, d
    rc = node_cluster_client(shared.entry, socket_timeout=10)
    try:
        written = sum(1 for i in range(300) if rc.get(b"tlsgen:%d" % i) is not None)
    finally:
        rc.close()
    assert written == v["keys_written"], (written, v)


def owner_node(nodes, slot):
    ids = {n.myid(): n for n in nodes}
    return ids[slot_owner_map(nodes[0])[slot]]


def slots_of(node):
    nid = node.myid()
    return {s for s, o in slot_owner_map(node).items() if o == nid}


def test_reshard_over_tls_under_traffic_keeps_every_key(node_pool, pki, tmp_path):
    nodes, kv = tls_cluster(node_pool, pki)
    src, dst = owner_node(nodes, 0), owner_node(nodes, 8000)
    moved = set(range(0, 600))
    src_before, dst_before = slots_of(src), slots_of(dst)
    gen = subprocess.Popen(sp_argv("traffic", nodes[0].addr, "--seconds", 8, "--rate", 1000,
                                   "--keys", 2000, "--prefix", "live:", "--verify", "--json",
                                   tls=pki.good),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           stdin=subprocess.DEVNULL, text=True)
    try:
        time.sleep(1)
        p = sp("reshard", nodes[0].addr, "--from", src.myid(), "--to", dst.myid(),
               "--slot-ranges", "0-599", "--journal-dir", jdir(tmp_path), "--yes",
               tls=pki.good)
        assert_rc(p, 0)
        out, err = gen.communicate(timeout=RUN_TIMEOUT)
    finally:
        if gen.poll() is None:
            gen.kill()
            gen.wait()
    assert gen.returncode == 0, (gen.returncode, out[-3000:], err[-3000:])
    d = json.loads(out.strip().splitlines()[-1])
    assert d["phases"][0]["errors"] == 0 and d["verify"]["lost"] == 0, d
    assert slots_of(dst) == dst_before | moved and slots_of(src) == src_before - moved
    assert_no_open_slot(nodes)
    checks_pass(nodes[0])
    verify_keys(nodes[0], kv, "keys after a TLS reshard")


def test_fix_over_tls_closes_a_slot_opened_by_hand(node_pool, pki):
    nodes, kv = tls_cluster(node_pool, pki)
    src, dst = owner_node(nodes, FIX_SLOT), owner_node(nodes, 8000)
    slot_kv = {key_in_slot(FIX_SLOT, b"fx%d" % i): b"v%d" % i for i in range(20)}
    load_keys(nodes[0], slot_kv)
    kv.update(slot_kv)
    dst.cli("CLUSTER", "SETSLOT", FIX_SLOT, "IMPORTING", src.myid())
    src.cli("CLUSTER", "SETSLOT", FIX_SLOT, "MIGRATING", dst.myid())
    # MIGRATE between the nodes goes over TLS too (tls-cluster yes).
    got = src.client().execute_command("MIGRATE", dst.host, dst.port, "", 0, 5000, "KEYS",
                                       *list(slot_kv)[:8])
    assert got in (b"OK", "OK", True), got
    # Both checkers see the open slot.
    assert_rc(sp("check", nodes[0].addr, tls=pki.good), 1)
    assert redis_cli_flags(*redis_cli_check(nodes[0].addr, tls=pki.good))
    p = sp("fix", nodes[0].addr, "--yes", tls=pki.good)
    assert_rc(p, 0)
    assert_no_open_slot(nodes, "after fix: ")
    checks_pass(nodes[0])
    verify_keys(nodes[0], kv, "keys after a TLS fix")


def test_resume_over_tls_finishes_a_reshard_killed_mid_move(node_pool, pki, tmp_path):
    nodes, kv = tls_cluster(node_pool, pki, nkeys=20000)
    src, dst = owner_node(nodes, 0), owner_node(nodes, 8000)
    src_before, dst_before = slots_of(src), slots_of(dst)
    moved = set(range(0, 1000))
    bg = subprocess.Popen(sp_argv("reshard", nodes[0].addr, "--from", src.myid(), "--to",
                                  dst.myid(), "--slot-ranges", "0-999", "--window", 1,
                                  "--rate", "100slots", "--journal-dir", jdir(tmp_path),
                                  "--yes", tls=pki.good),
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          stdin=subprocess.DEVNULL)
    try:
        wait_until(lambda: bg.poll() is not None or open_slot_lines(nodes) or
                   slots_of(dst) & moved, 60, 0.02, "the TLS reshard to start moving")
        assert bg.poll() is None, "the reshard ended before the kill: %r" % (
            bg.stderr.read()[-2000:],)
        time.sleep(0.5)
        bg.send_signal(signal.SIGKILL)
        bg.wait(10)
    finally:
        if bg.poll() is None:
            bg.kill()
            bg.wait()
        bg.stderr.close()
    assert slots_of(dst) & moved != moved or open_slot_lines(nodes), \
        "the move was over before the kill (slow it down)"
    p = sp("resume", nodes[1].addr, "--journal-dir", jdir(tmp_path), "--yes", tls=pki.good)
    assert_rc(p, 0)
    assert_no_open_slot(nodes)
    assert slots_of(dst) == dst_before | moved and slots_of(src) == src_before - moved
    checks_pass(nodes[0])
    verify_keys(nodes[0], kv, "keys after a TLS resume")

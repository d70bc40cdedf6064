"""Secrets and files (issue 14, point 8), against real nodes.

- Backups (the whole dataset) are 0600 in a 0700 directory, and every file
  slotpilot or the nodes it spawns create is private (umask 077), whatever
  the caller's umask.
- Exec provisioners get only their documented variables: no REDISCLI_AUTH
  or other secret of ours unless the operator lists it in
  SLOTPILOT_PASS_ENV.
- A password given with -a or REDISCLI_AUTH never shows in an output.
- `slotpilot conf` binds to the address it announces, keeps protected-mode
  on and writes requirepass/masterauth when a password is given: a real
  redis-server started from its output enforces all of that. With --tls
  it is a TLS-only node that requires client certificates.

The daemon's side (bearer token, redaction, status page, the alert
command's environment) is in test_autoscale.py.
"""

import os
import stat
import subprocess

import pytest
import redis

from conftest import (HOST, assert_rc, describe, kill_pids_in_dir,
                      make_cluster_with_redis_cli, pick_port, run_sp, sp_path, wait_until)

PASSWORD = "pw-Secret-4711"


@pytest.fixture(scope="module")
def auth_cl(module_node_pool):
    nodes = module_node_pool.start(3, password=PASSWORD)
    make_cluster_with_redis_cli(nodes, 0, password=PASSWORD)
    return nodes


@pytest.fixture
def umask_022():
    """The caller's umask is the usual 022: slotpilot must not rely on it."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(path):
    return stat.S_IMODE(os.stat(str(path)).st_mode)


def group_or_other_access(root):
    """Paths under root (root included) that a group or other user may use."""
    bad = []
    for d, dirs, files in os.walk(str(root)):
        for p in [d] + [os.path.join(d, f) for f in files]:
            if not os.path.islink(p) and mode(p) & 0o077:
                bad.append("%s %o" % (p, mode(p)))
    return bad


# ---------------------------------------------------------------------------
# files


def test_backup_files_are_0600_in_a_0700_directory(auth_cl, tmp_path, umask_022):
    d = tmp_path / "new" / "bk"
    p = run_sp("backup", auth_cl[0].addr, "--dir", str(d), "--json",
               extra_env={"REDISCLI_AUTH": PASSWORD}, timeout=120)
    assert_rc(p, 0)
    names = sorted(os.listdir(str(d)))
    assert "manifest.json" in names and len(names) == 4, names
    assert mode(d) == 0o700, "backup directory is %o" % mode(d)
    assert mode(d.parent) == 0o700, "its new parent is %o" % mode(d.parent)
    for n in names:
        assert mode(d / n) == 0o600, "%s is %o" % (n, mode(d / n))
    assert PASSWORD not in p.stdout + p.stderr


def test_local_nodes_files_are_private_whatever_the_callers_umask(tmp_path, umask_022):
    d = tmp_path / "nodes"
    port = pick_port()
    try:
        p = run_sp("local", "spawn", "--dir", str(d), "--count", "1", "--port", port,
                   "-a", PASSWORD, timeout=60)
        assert_rc(p, 0)
        node = d / str(port)
        # redis-server writes nodes.conf and its append-only files itself.
        wait_until(lambda: (node / "nodes.conf").exists(), 20, 0.1, "nodes.conf")
        assert (node / "redis.conf").exists()
        assert group_or_other_access(d) == []
        assert PASSWORD not in p.stdout + p.stderr
    finally:
        run_sp("local", "down", "--dir", str(d), "--purge", timeout=60)
        kill_pids_in_dir(d)


# ---------------------------------------------------------------------------
# the environment of exec provisioners


def provisioner_env(cl, tmp_path, extra_env):
    """Runs expand with an exec provisioner that records its environment and
    fails; returns (the expand process, the recorded variables)."""
    out = tmp_path / "env.txt"
    p = run_sp("expand", cl[0].addr, "--primaries", 4, "--journal-dir",
               str(tmp_path / "journal"), "--provisioner", "exec",
               "--provision-cmd", "env > %s; exit 7" % out,
               "--deprovision-cmd", "true", "--yes",
               extra_env=dict({"REDISCLI_AUTH": PASSWORD}, **extra_env), timeout=120)
    assert out.exists(), "the provisioner did not run" + describe(p)
    env = dict(line.split("=", 1) for line in out.read_text().splitlines() if "=" in line)
    return p, env


def test_exec_provisioner_gets_only_its_documented_variables(auth_cl, tmp_path):
    p, env = provisioner_env(auth_cl, tmp_path, {"SP_TEST_CLOUD_KEY": "k-123"})
    assert p.returncode != 0, describe(p)
    assert "REDISCLI_AUTH" not in env and "SP_TEST_CLOUD_KEY" not in env, env
    assert PASSWORD not in "\n".join(env.values())
    assert env["SLOTPILOT_COUNT"] == "1"
    assert os.path.samefile(env["SLOTPILOT"], sp_path())
    assert env["PATH"] == os.environ["PATH"]
    assert PASSWORD not in p.stdout + p.stderr


def test_exec_provisioner_gets_the_variables_the_operator_passes(auth_cl, tmp_path):
    p, env = provisioner_env(auth_cl, tmp_path, {
        "SP_TEST_CLOUD_KEY": "k-123", "SLOTPILOT_PASS_ENV": "REDISCLI_AUTH SP_TEST_CLOUD_*"})
    assert p.returncode != 0, describe(p)
    assert env.get("REDISCLI_AUTH") == PASSWORD and env.get("SP_TEST_CLOUD_KEY") == "k-123"


# ---------------------------------------------------------------------------
# passwords are never printed


@pytest.mark.parametrize("how", ["-a", "--pass", "REDISCLI_AUTH"])
def test_a_wrong_password_is_never_printed(auth_cl, how):
    wrong = "wrong-Secret-0815"
    args = ["check", auth_cl[0].addr, "--json"]
    env = {}
    if how == "REDISCLI_AUTH":
        env["REDISCLI_AUTH"] = wrong
    else:
        args += [how, wrong]
    p = run_sp(*args, extra_env=env, timeout=60)
    assert p.returncode != 0, describe(p)
    assert p.stderr.strip() or p.stdout.strip(), "no message" + describe(p)
    assert wrong not in p.stdout + p.stderr, describe(p)


# ---------------------------------------------------------------------------
# slotpilot conf


def conf_lines(text):
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def test_conf_without_an_address_binds_loopback_never_all_interfaces():
    p = run_sp("conf", "--port", 7000)
    assert_rc(p, 0)
    lines = conf_lines(p.stdout)
    assert "bind 127.0.0.1" in lines and "protected-mode yes" in lines, p.stdout
    assert "0.0.0.0" not in p.stdout and "protected-mode no" not in p.stdout
    assert not any(x.startswith(("requirepass", "masterauth")) for x in lines)
    assert "no password" in p.stderr


def test_conf_refuses_to_bind_all_interfaces():
    p = run_sp("conf", "--announce-ip", "0.0.0.0")
    assert_rc(p, 2)
    assert "0.0.0.0" in p.stderr and p.stdout == ""


@pytest.mark.parametrize("how", ["-a", "REDISCLI_AUTH"])
def test_conf_output_runs_a_node_bound_to_its_address_with_the_password(tmp_path, how):
    password = 'pa"ss\\wo rd$1\nrename-command CONFIG ""'  # quotes, spaces, a newline
    port = pick_port()
    args, env = ["conf", "--port", port, "--announce-ip", HOST], {}
    if how == "-a":
        args += ["-a", password]
    else:
        env["REDISCLI_AUTH"] = password
    p = run_sp(*args, extra_env=env)
    assert_rc(p, 0)
    lines = conf_lines(p.stdout)
    assert "bind %s" % HOST in lines and "cluster-announce-ip %s" % HOST in lines
    assert "protected-mode yes" in lines
    assert not any(x.startswith("rename-command") for x in lines), "the password added a line"
    d = tmp_path / "node"
    d.mkdir()
    (d / "redis.conf").write_text(p.stdout)
    try:
        s = subprocess.run(["redis-server", "redis.conf"], cwd=str(d), capture_output=True,
                           text=True, timeout=30, stdin=subprocess.DEVNULL)
        assert s.returncode == 0, s.stdout + s.stderr
        c = redis.Redis(host=HOST, port=port, password=password, socket_timeout=5,
                        decode_responses=True)
        wait_until(lambda: _pings(c), 20, 0.1, "the node started from conf's output")
        assert c.config_get("protected-mode") == {"protected-mode": "yes"}
        assert c.config_get("bind") == {"bind": HOST}
        assert c.config_get("requirepass") == {"requirepass": password}
        assert c.config_get("masterauth") == {"masterauth": password}
        with pytest.raises(redis.exceptions.AuthenticationError):
            redis.Redis(host=HOST, port=port, socket_timeout=5).ping()
        c.close()
    finally:
        kill_pids_in_dir(d)


def _pings(c):
    try:
        return c.ping()
    except redis.exceptions.ConnectionError:
        return False


def test_conf_tls_prints_a_tls_only_node_with_placeholders_said_to_be_ones():
    p = run_sp("conf", "--tls", "--port", 7000)
    assert_rc(p, 0)
    lines = conf_lines(p.stdout)
    for want in ("port 0", "tls-port 7000", "cluster-announce-tls-port 7000",
                 "cluster-announce-bus-port 17000", "tls-cluster yes", "tls-replication yes",
                 "tls-auth-clients yes", 'tls-cert-file "/etc/redis/tls/node.crt"',
                 'tls-key-file "/etc/redis/tls/node.key"',
                 'tls-client-cert-file "/etc/redis/tls/node.crt"',
                 'tls-client-key-file "/etc/redis/tls/node.key"',
                 'tls-ca-cert-file "/etc/redis/tls/ca.crt"'):
        assert want in lines, "%r missing:\n%s" % (want, p.stdout)
    assert "port 7000" not in lines and "cluster-announce-port 7000" not in lines
    comments = [x for x in p.stdout.splitlines() if x.startswith("#")]
    assert any("placeholder" in x for x in comments), p.stdout


def test_conf_tls_with_a_ca_directory_writes_tls_ca_cert_dir():
    p = run_sp("conf", "--tls", "--cacertdir", "/etc/ssl/certs", "--cert", "/n.crt", "--key",
               "/n.key")
    assert_rc(p, 0)
    lines = conf_lines(p.stdout)
    assert 'tls-ca-cert-dir "/etc/ssl/certs"' in lines, p.stdout
    assert not any(x.startswith("tls-ca-cert-file") for x in lines), p.stdout
    assert "placeholder" not in p.stdout


def test_conf_tls_file_options_need_tls():
    p = run_sp("conf", "--cert", "/x/node.crt")
    assert_rc(p, 2)
    assert "--tls" in p.stderr and p.stdout == ""


def _openssl(*args, cwd):
    s = subprocess.run(["openssl", *args], cwd=str(cwd), capture_output=True, text=True,
                       timeout=60, stdin=subprocess.DEVNULL)
    assert s.returncode == 0, "openssl %s:\n%s" % (" ".join(args), s.stderr)


def make_test_certs(d):
    """A CA and one certificate (server and client) for 127.0.0.1."""
    (d / "x.cnf").write_text(
        "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = test\n"
        "[ca]\nbasicConstraints = critical, CA:TRUE\nkeyUsage = critical, keyCertSign\n"
        "[leaf]\nbasicConstraints = CA:FALSE\nextendedKeyUsage = serverAuth, clientAuth\n"
        "subjectAltName = IP:127.0.0.1\n")
    for k in ("ca.key", "node.key"):
        _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                 "-out", k, cwd=d)
    _openssl("req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=test CA", "-days", "2",
             "-config", "x.cnf", "-extensions", "ca", "-out", "ca.crt", cwd=d)
    _openssl("req", "-x509", "-new", "-key", "node.key", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-subj", "/CN=node", "-days", "2", "-config", "x.cnf", "-extensions", "leaf",
             "-out", "node.crt", cwd=d)
    return {n: str(d / n) for n in ("ca.crt", "node.crt", "node.key")}


def _redis_cli(port, *args, tls=None):
    cmd = ["redis-cli", "-h", HOST, "-p", str(port)]
    if tls is not None:
        cmd += ["--tls", "--cacert", tls["ca.crt"], "--cert", tls["node.crt"],
                "--key", tls["node.key"]]
    return subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=10,
                          stdin=subprocess.DEVNULL)


def test_conf_tls_output_runs_a_node_that_speaks_only_tls_with_client_certificates(tmp_path):
    certs = make_test_certs(tmp_path)
    port = pick_port()
    p = run_sp("conf", "--tls", "--port", port, "--cert", certs["node.crt"], "--key",
               certs["node.key"], "--cacert", certs["ca.crt"])
    assert_rc(p, 0)
    assert "placeholder" not in p.stdout
    d = tmp_path / "node"
    d.mkdir()
    (d / "redis.conf").write_text(p.stdout)
    try:
        s = subprocess.run(["redis-server", "redis.conf"], cwd=str(d), capture_output=True,
                           text=True, timeout=30, stdin=subprocess.DEVNULL)
        assert s.returncode == 0, s.stdout + s.stderr
        wait_until(lambda: _redis_cli(port, "PING", tls=certs).stdout.strip() == "PONG", 20,
                   0.1, "the TLS node started from conf's output")
        plain = _redis_cli(port, "PING")
        assert plain.stdout.strip() != "PONG", plain.stdout + plain.stderr
        no_cert = subprocess.run(["redis-cli", "-h", HOST, "-p", str(port), "--tls", "--cacert",
                                  certs["ca.crt"], "PING"], capture_output=True, text=True,
                                 timeout=10, stdin=subprocess.DEVNULL)
        assert no_cert.stdout.strip() != "PONG", "tls-auth-clients: no client certificate"
        got = _redis_cli(port, "CONFIG", "GET", "tls-cluster", tls=certs).stdout.split()
        assert got == ["tls-cluster", "yes"], got
    finally:
        kill_pids_in_dir(d)

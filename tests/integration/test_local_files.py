"""The files the local provisioner writes: a node's redis.conf holds its
password (requirepass, masterauth), so no other local user may read it."""
import os
import stat

from conftest import assert_rc, kill_pids_in_dir, pick_port, run_sp


def test_local_node_conf_with_a_password_is_readable_by_its_owner_only(tmp_path):
    d = tmp_path / "nodes"
    port = pick_port()
    try:
        p = run_sp("local", "spawn", "--dir", str(d), "--count", "1",
                   "--port", port, "-a", "s3cret-pass", timeout=60)
        assert_rc(p, 0)
        conf = d / str(port) / "redis.conf"
        text = conf.read_text()
        assert "requirepass" in text and "s3cret-pass" in text, text
        mode = stat.S_IMODE(os.stat(conf).st_mode)
        assert mode == 0o600, "redis.conf is %o, not 600" % mode
    finally:
        run_sp("local", "down", "--dir", str(d), "--purge", timeout=60)
        kill_pids_in_dir(d)

"""Command-line contract: usage errors exit 2, --help exits 0."""

import pytest

from conftest import HOST, assert_rc, describe, free_unused_port, run_sp


def test_unknown_command_exits_2_with_usage_on_stderr():
    p = run_sp("frobnicate")
    assert_rc(p, 2)
    assert "usage" in p.stderr.lower(), describe(p)
    assert p.stdout == "", describe(p)


def test_no_command_exits_2():
    p = run_sp()
    assert_rc(p, 2)


def test_unknown_option_exits_2():
    addr = "%s:%d" % (HOST, free_unused_port())
    p = run_sp("check", addr, "--no-such-option")
    assert_rc(p, 2)
    assert p.stderr.strip(), describe(p)


def test_unknown_global_option_before_command_exits_2():
    p = run_sp("--no-such-option", "keyslot", "foo")
    assert_rc(p, 2)


def test_check_without_address_exits_2():
    p = run_sp("check")
    assert_rc(p, 2)


@pytest.mark.parametrize("addr", ["nohost", "127.0.0.1:99999", "127.0.0.1:0", "127.0.0.1:abc",
                                  "127.0.0.1:", ":6379"])
def test_check_bad_address_exits_2(addr):
    p = run_sp("check", addr)
    assert_rc(p, 2)
    assert p.stderr.startswith("slotpilot: ") or "slotpilot: " in p.stderr, describe(p)


@pytest.mark.parametrize("opt", ["--expect-nodes", "--min-replicas", "--timeout"])
def test_check_non_numeric_option_value_exits_2(opt):
    addr = "%s:%d" % (HOST, free_unused_port())
    p = run_sp("check", addr, opt, "lots")
    assert_rc(p, 2)


def test_option_missing_its_value_exits_2():
    addr = "%s:%d" % (HOST, free_unused_port())
    p = run_sp("check", addr, "--expect-nodes")
    assert_rc(p, 2)


def test_help_exits_0():
    p = run_sp("--help")
    assert_rc(p, 0)
    assert (p.stdout + p.stderr).strip(), describe(p)


def test_help_mentions_every_command():
    p = run_sp("--help")
    assert_rc(p, 0)
    text = p.stdout + p.stderr
    for cmd in ("keyslot", "check", "status", "create", "local"):
        assert cmd in text, "%r missing from --help%s" % (cmd, describe(p))


def test_keyslot_without_keys_exits_2():
    p = run_sp("keyslot")
    assert_rc(p, 2)


def test_create_refuses_bad_replicas_value_exits_2():
    addrs = ["%s:%d" % (HOST, free_unused_port()) for _ in range(3)]
    p = run_sp("create", *addrs, "--replicas", "-1", "--yes")
    assert_rc(p, 2)


def test_traffic_takes_dash_h_for_its_help():
    p = run_sp("traffic", "-h")
    assert_rc(p, 0)
    assert p.stdout.startswith("usage: slotpilot traffic HOST:PORT"), describe(p)


def test_traffic_usage_error_repeats_its_help_on_stderr():
    p = run_sp("traffic", "%s:%d" % (HOST, free_unused_port()), "--no-such")
    assert_rc(p, 2)
    assert "unknown option --no-such" in p.stderr, describe(p)
    assert "usage: slotpilot traffic HOST:PORT" in p.stderr, describe(p)
    assert p.stdout == "", describe(p)


def test_traffic_without_address_says_so_and_shows_its_help():
    p = run_sp("traffic")
    assert_rc(p, 2)
    assert "traffic needs one HOST:PORT" in p.stderr, describe(p)
    assert "usage: slotpilot traffic HOST:PORT" in p.stderr, describe(p)


@pytest.mark.parametrize("args", [[], ["frobnicate"], ["-h"]])
def test_plan_names_its_only_subcommand(args):
    p = run_sp("plan", *args)
    assert_rc(p, 2)
    assert "the only plan is 'plan rebalance" in p.stderr, describe(p)


def test_plan_help_and_its_subcommand_help_exit_0():
    for args in (["--help"], ["rebalance", "--help"]):
        p = run_sp("plan", *args)
        assert_rc(p, 0)
        assert "slotpilot plan rebalance HOST:PORT --out FILE" in p.stdout, \
            describe(p)


@pytest.mark.parametrize("args", [["local", "up", "--help"], ["local", "down", "--help"],
                                  ["reshard", "127.0.0.1:1", "--help"]])
def test_help_after_a_subcommand_or_argument_prints_help_and_does_nothing(tmp_path, args):
    """`local up --help` once started a default cluster: a help request
    anywhere on the line prints the help and changes nothing."""
    d = tmp_path / "d"
    p = run_sp(*(args + ["--dir", str(d)]), tls=None)
    assert_rc(p, 0)
    assert "usage: slotpilot " + args[0] in p.stdout, describe(p)
    assert not d.exists(), "a help request created %s%s" % (d, describe(p))


def test_plan_rebalance_without_address_exits_2():
    p = run_sp("plan", "rebalance")
    assert_rc(p, 2)
    assert "rebalance: give one HOST:PORT" in p.stderr, describe(p)

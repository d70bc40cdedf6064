"""slotpilot keyslot: compared with the server's CLUSTER KEYSLOT."""

import json
import random

import pytest

from conftest import assert_rc, describe, run_sp

EDGE_KEYS = [b"{}", b"{a}", b"a{b}c", b"{{a}}", b"a{}b{c}", b"}{", b"{a", b"a}",
             b"{", b"}", b"{}a", b"a{b}{c}", b"{a}b", b"a{{b}}", b"}{a}", b"{}{a}",
             b"foo{bar}", b"{user1000}.following", b"{user1000}.followers", b"123456789"]
BATCH = 400


def _random_printable(rng):
    chars = [chr(c) for c in range(0x20, 0x7F)]
    while True:
        k = "".join(rng.choice(chars) for _ in range(rng.randint(1, 40))).encode()
        if not k.startswith(b"-"):  # would parse as an option
            return k


def _random_binary(rng):
    # argv cannot carry NUL; newline, CR and tab would break line parsing.
    allowed = [b for b in range(1, 256) if b not in (0x09, 0x0A, 0x0D)]
    while True:
        k = bytes(rng.choice(allowed) for _ in range(rng.randint(1, 40)))
        if not k.startswith(b"-"):
            return k


def _random_braced(rng):
    parts = [rng.choice([b"{", b"}", b"a", b"b", b"xy", b"", b"\xff"]) for _ in range(rng.randint(1, 8))]
    k = b"".join(parts)
    return k if k and not k.startswith(b"-") else b"{" + k


@pytest.fixture(scope="module")
def server(module_node_pool):
    return module_node_pool.start(1)[0].client()


def server_slots(client, keys):
    pipe = client.pipeline(transaction=False)
    for k in keys:
        pipe.execute_command("CLUSTER", "KEYSLOT", k)
    return [int(x) for x in pipe.execute()]


def sp_slots(keys):
    """slot list from the binary's text output, in order, batched."""
    out = []
    for i in range(0, len(keys), BATCH):
        batch = keys[i:i + BATCH]
        p = run_sp("keyslot", *batch)
        assert_rc(p, 0)
        lines = p.stdout_bytes.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        assert len(lines) == len(batch), "expected %d lines, got %d%s" % (
            len(batch), len(lines), describe(p, 500))
        for line in lines:
            out.append(int(line.split(b"\t", 1)[0]))
    return out


def _compare(keys, got, want):
    bad = [(k, g, w) for k, g, w in zip(keys, got, want) if g != w]
    assert not bad, "%d of %d keys disagree with CLUSTER KEYSLOT, e.g. %r" % (
        len(bad), len(keys), [(k, "slotpilot=%d" % g, "server=%d" % w) for k, g, w in bad[:10]])


def test_keyslot_brace_edge_cases_match_server(server):
    keys = list(EDGE_KEYS)
    _compare(keys, sp_slots(keys), server_slots(server, keys))


def test_keyslot_random_printable_keys_match_server(server):
    rng = random.Random(1234)
    keys = [_random_printable(rng) for _ in range(1500)]
    _compare(keys, sp_slots(keys), server_slots(server, keys))


def test_keyslot_random_binary_keys_match_server(server):
    rng = random.Random(5678)
    keys = [_random_binary(rng) for _ in range(1000)] + [_random_braced(rng) for _ in range(500)]
    _compare(keys, sp_slots(keys), server_slots(server, keys))


def test_keyslot_line_format_is_slot_tab_key():
    p = run_sp("keyslot", "foo", "{user1000}.following")
    assert_rc(p, 0)
    lines = p.stdout.splitlines()
    assert len(lines) == 2, describe(p)
    assert lines[0].split("\t") == ["12182", "foo"], describe(p)
    assert lines[1].split("\t")[0] == "3443", describe(p)


def test_keyslot_json_array_matches_server(server):
    rng = random.Random(42)
    keys = list(EDGE_KEYS) + [_random_printable(rng) for _ in range(200)] + \
        [_random_binary(rng) for _ in range(100)]
    p = run_sp("keyslot", "--json", *keys)
    assert_rc(p, 0)
    data = json.loads(p.stdout)
    assert isinstance(data, list) and len(data) == len(keys), describe(p, 500)
    for item in data:
        assert set(item) >= {"key", "slot"}, item
        assert isinstance(item["slot"], int)
    _compare(keys, [item["slot"] for item in data], server_slots(server, keys))


def test_keyslot_json_key_text_for_ascii_keys():
    p = run_sp("keyslot", "--json", "foo", "a{b}c")
    assert_rc(p, 0)
    data = json.loads(p.stdout)
    assert [(d.get("key"), d.get("slot")) for d in data] == [("foo", 12182), ("a{b}c", 3300)], describe(p)


def test_keyslot_empty_key_is_slot_0(server):
    p = run_sp("keyslot", "")
    assert_rc(p, 0)
    assert p.stdout.split("\t")[0].strip() == str(server_slots(server, [b""])[0]) == "0", describe(p)

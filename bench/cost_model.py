#!/usr/bin/python3
"""Past this machine, on paper: the round trips each mover waits for.

Reads bench/out/scale.json (bench/scale.py) and counts, per cluster size,
the round trips on each mover's critical path, from the commands it sent:

  redis-cli sends one command at a time and waits for each reply, and each
  MIGRATE waits once more, for the source's own round trip to the target:
      RTT = SETSLOT + GETKEYSINSLOT + COUNTKEYSINSLOT + 2 * MIGRATE
  slotpilot's workers (at most --parallel 8) each run one pair at a time
  and wait for one turn at a time (its JSON summary counts the turns); a
  MIGRATE also waits for the source's hop to the target:
      RTT = (turns + MIGRATE) / min(pairs, 8)

then projects each move to a network where a round trip costs 0.3 ms (one
datacenter) or 1 ms (across zones): the time measured here plus RTT times
that latency (loopback's own round trips, ~0.03 ms, are already in the
measured time, so this slightly overstates both). The CPU floor (the
servers' work per key) does not change with the network.

Then, with the same per-slot counts, a cluster of 1,000 nodes (500
primaries + 500 replicas) adding 4 primaries: S = 16384 * 4 / 504 slots,
k keys per slot:
      redis-cli: S * (3 + P + 3 * ceil(k / 10)) round trips
      slotpilot: ceil(pairs / 8) * (F + 1.5 * ceil(k * 100 B / batch))
with P = 504 primaries, F the fixed turns of one window, measured here
(check 2, open 2, keys 2, final 3), and one pair per slot (500 sources
each giving at most one slot).

    /usr/bin/python3 bench/cost_model.py [--scale bench/out/scale.json]
"""

import argparse
import json
import math
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
LATENCIES_MS = (0.3, 1.0)
PARALLEL = 8
WINDOW_FIXED_TURNS = 9  # check 2 + open 2 + keys 2 + final 3 (window.c)


def cli_rtts(cmds):
    c = cmds.get("commands", {})
    return (c.get("cluster|setslot", 0) + c.get("cluster|getkeysinslot", 0)
            + c.get("cluster|countkeysinslot", 0) + 2 * c.get("migrate", 0))


def sp_rtts(sp):
    eng = (sp.get("summary") or {}).get("engine")
    if not eng:
        return None
    workers = max(1, min(eng["npairs"], PARALLEL))
    migrates = sp.get("commands", {}).get("migrate", 0)
    return (eng["all"]["round_trips"] + migrates) / float(workers)


def project(seconds, rtts, ms):
    return seconds + rtts * ms / 1000.0


def sizes_table(doc):
    print("Critical-path round trips, counted from the commands each mover sent")
    hdr = ("%-7s %-10s %7s %9s %9s" % ("nodes", "mover", "slots", "move s", "RTT/slot")
           + "".join(" %11s" % ("at %.1f ms" % ms) for ms in LATENCIES_MS))
    print(hdr)
    print("-" * len(hdr))
    for r in doc["results"]:
        nodes = "%d+%d" % (r["primaries"], r["primaries"])
        for name, rtts in (("redis-cli", cli_rtts(r["redis-cli"])),
                           ("slotpilot", sp_rtts(r["slotpilot"]))):
            m = r[name]
            slots = m.get("slots_moved") or 1
            if rtts is None:
                print("%-7s %-10s %7d %9.2f %9s" % (nodes, name, slots, m["seconds"], "-"))
                continue
            print("%-7s %-10s %7d %9.2f %9.3f" % (nodes, name, slots, m["seconds"],
                                                 rtts / slots)
                  + "".join(" %10.1fs" % project(m["seconds"], rtts, ms)
                            for ms in LATENCIES_MS))


def thousand_nodes(keys_per_slot, batch_bytes=4 << 20, value=100):
    primaries = 504
    slots = 16384.0 * 4 / primaries
    cli = slots * (3 + primaries + 3 * math.ceil(keys_per_slot / 10.0))
    migrates = max(1, math.ceil(keys_per_slot * value / float(batch_bytes)))
    sp = math.ceil(slots / PARALLEL) * (WINDOW_FIXED_TURNS + 1.5 * migrates)
    print("\n1,000 nodes (500 + 500) adding 4 primaries: %.0f slots of %d keys"
          % (slots, keys_per_slot))
    for ms in LATENCIES_MS:
        print("  at %.1f ms: redis-cli %6.0f round trips = %6.1f s; slotpilot "
              "%4.0f round trips = %5.2f s" % (ms, cli, cli * ms / 1000.0, sp,
                                                sp * ms / 1000.0))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", default=os.path.join(HERE, "out", "scale.json"))
    args = ap.parse_args()
    try:
        with open(args.scale) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        print("bench/cost_model.py: %s: %s (run bench/scale.py first)"
              % (args.scale, e), file=sys.stderr)
        return 1
    sizes_table(doc)
    thousand_nodes(max(1, int(round(doc["keys"] / 16384.0))))
    thousand_nodes(305)
    return 0


if __name__ == "__main__":
    sys.exit(main())

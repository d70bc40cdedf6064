"""docs/ci-workflow.yml, run as written.

The workflow is parsed with PyYAML (python3-yaml); its jobs run in document
order and their `run:` steps run with bash -e -o pipefail (GitHub's default
shell) in one working directory (so `upload-artifact`/`download-artifact`,
the only `uses:` steps, have nothing to do). `${{ inputs.* }}`,
`${{ secrets.* }}`, `${{ steps.*.outputs.* }}` and `${{ needs.*.* }}` are
substituted, GITHUB_OUTPUT is a file per step, and each job's `if:` is
evaluated with the few operators the workflow uses. Every step's exit code
is asserted, and the cluster is checked between steps with independent
oracles (CLUSTER NODES, redis-py).

Also: `apply --limit N` moves exactly N slots and the next `apply` finishes
the plan (the canary), and a failing pre-flight stops the workflow before
anything moves.
"""

import os
import re
import subprocess

import pytest
import yaml

from conftest import (REDIS_CLI, SLOTPILOT, load_keys, make_cluster_by_hand,
                      make_cluster_with_redis_cli, slot_owner_map, spread_keys, verify_keys,
                      wait_cluster_healthy)

DOCS = os.path.join(os.path.dirname(__file__), "..", "..", "docs")
WORKFLOW = os.path.join(DOCS, "ci-workflow.yml")
LOOSE = "--latency-avg-ms 1000 --latency-p99-ms 5000 --max-lag-ms 5000"
CANARY = 100
EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def load_workflow():
    with open(WORKFLOW) as f:
        return yaml.safe_load(f)


def lookup(path, ctx):
    v = ctx
    for part in path.split("."):
        v = v[part]
    return v


def subst(text, ctx):
    return EXPR.sub(lambda m: str(lookup(m.group(1), ctx)), str(text))


def eval_if(expr, ctx):
    """GitHub's expression language, as much as this workflow uses:
    ==, !=, &&, ||, !cancelled(), parentheses, 'strings', dotted names."""
    e = EXPR.sub(lambda m: m.group(1), str(expr)).strip()
    e = e.replace("!cancelled()", "True").replace("!=", " __NE__ ")
    e = e.replace("&&", " and ").replace("||", " or ").replace("__NE__", "!=")
    e = re.sub(r"\b(needs|steps|inputs)\.[\w.-]+",
               lambda m: repr(str(lookup(m.group(0), ctx))), e)
    return bool(eval(e, {"__builtins__": {}}, {"True": True}))  # noqa: S307


class Runner:
    def __init__(self, workdir, inputs, env_extra):
        self.workdir = str(workdir)
        self.ctx = {"inputs": inputs, "secrets": {"REDIS_PASSWORD": ""}, "needs": {}}
        bindir = os.path.join(self.workdir, "bin")
        os.makedirs(bindir, exist_ok=True)
        os.symlink(SLOTPILOT, os.path.join(bindir, "slotpilot"))
        self.path = bindir + os.pathsep + os.environ["PATH"]
        self.env_extra = env_extra
        self.log = []  # (job, step name, exit code)

    def run_step(self, job, step, env, stepctx):
        out = os.path.join(self.workdir, "github_output")
        open(out, "w").close()
        e = dict(os.environ)
        e.pop("REDISCLI_AUTH", None)
        e.update(env)
        e.update({k: subst(v, dict(self.ctx, steps=stepctx))
                  for k, v in (step.get("env") or {}).items()})
        e.update(self.env_extra)
        e.update({"PATH": self.path, "GITHUB_OUTPUT": out})
        p = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c",
                            step["run"]], cwd=self.workdir, env=e, capture_output=True,
                           text=True, timeout=300, stdin=subprocess.DEVNULL)
        outputs = dict(line.split("=", 1) for line in open(out).read().splitlines() if line)
        self.log.append((job, step.get("name"), p.returncode))
        return p, outputs

    def run_job(self, name, job, wf_env, after_step=None):
        """Runs a job's steps; returns 'success', 'failure' or 'skipped'."""
        if "if" in job and not eval_if(job["if"], self.ctx):
            self.ctx["needs"][name] = {"result": "skipped", "outputs": {}}
            return "skipped"
        env = {k: subst(v, self.ctx) for k, v in wf_env.items()}
        stepctx, result = {}, "success"
        for step in job["steps"]:
            if "run" not in step:
                assert step["uses"].startswith(("actions/upload-artifact",
                                                "actions/download-artifact"))
                continue
            p, outputs = self.run_step(name, step, env, stepctx)
            if "id" in step:
                stepctx[step["id"]] = {"outputs": outputs}
            if p.returncode != 0:
                result = "failure"
                break
            if after_step:
                after_step(step.get("name"), p)
        outs = {k: subst(v, dict(self.ctx, steps=stepctx))
                for k, v in (job.get("outputs") or {}).items()} if result == "success" else {}
        self.ctx["needs"][name] = {"result": result, "outputs": outs}
        return result

    def run(self, after_step=None):
        wf = load_workflow()
        results = {}
        for name, job in wf["jobs"].items():
            needs = job.get("needs", [])
            needs = [needs] if isinstance(needs, str) else needs
            if any(results[n] == "failure" for n in needs):
                results[name] = "skipped"
                self.ctx["needs"][name] = {"result": "skipped", "outputs": {}}
                continue
            results[name] = self.run_job(name, job, wf.get("env") or {}, after_step)
        return results


@pytest.fixture(scope="module")
def cluster_plus_empty_primary(module_node_pool):
    """3 primaries + 3 replicas with data, and one empty primary joined.
    Shared: the failing pre-flight test runs first and moves nothing."""
    nodes = module_node_pool.start(6)
    make_cluster_with_redis_cli(nodes, 1)
    kv = spread_keys(3000)
    load_keys(nodes[0], kv)
    new = module_node_pool.start(1)[0]
    p = subprocess.run([REDIS_CLI, "--cluster", "add-node", new.addr, nodes[0].addr],
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stdout + p.stderr
    wait_cluster_healthy(nodes + [new])
    return nodes, new, kv


def slots_of(node, view_from):
    nid = node.myid()
    return sum(1 for o in slot_owner_map(view_from).values() if o == nid)


def test_docs_page_shows_the_tested_yaml_verbatim():
    with open(WORKFLOW) as f:
        yml = f.read()
    with open(os.path.join(DOCS, "ci-workflow.md")) as f:
        md = f.read()
    assert "```yaml\n" + yml + "```" in md
    wf = load_workflow()
    runs = [s["run"] for j in wf["jobs"].values() for s in j["steps"] if "run" in s]
    assert not any("grep" in r for r in runs), "gate on exit codes and JSON only"
    assert any("--limit" in r for r in runs)


def test_failing_preflight_stops_the_workflow_before_anything_moves(
        cluster_plus_empty_primary, tmp_path):
    nodes, new, kv = cluster_plus_empty_primary
    r = Runner(tmp_path, {"cluster": nodes[0].addr, "canary_slots": str(CANARY)},
               {"PREFLIGHT_OPTS": "--latency-avg-ms 0.000001"})  # impossible: a finding
    results = r.run()
    assert results == {"plan": "failure", "approval": "skipped", "rollout": "skipped"}, r.log
    assert r.log == [("plan", "Pre-flight", 1)], r.log
    assert slots_of(new, nodes[0]) == 0
    assert not os.path.exists(os.path.join(str(tmp_path), "plan.json"))


def test_workflow_runs_as_written_preflight_plan_approval_canary_check_apply_check(
        cluster_plus_empty_primary, tmp_path):
    nodes, new, kv = cluster_plus_empty_primary
    entry = nodes[0]
    seen = {}

    def after(step, p):
        # Oracles between steps: the new primary's slots from another node's view.
        seen[step] = slots_of(new, entry)
        if step == "Canary":
            assert seen[step] == CANARY, "canary moved %d slots\n%s" % (seen[step], p.stdout)

    r = Runner(tmp_path, {"cluster": entry.addr, "canary_slots": str(CANARY)},
               {"PREFLIGHT_OPTS": LOOSE})
    results = r.run(after)
    assert results == {"plan": "success", "approval": "success", "rollout": "success"}, r.log
    assert r.ctx["needs"]["plan"]["outputs"] == {"slots": "4096", "needs_approval": "true"}
    assert [(j, s, rc) for j, s, rc in r.log] == [
        ("plan", "Pre-flight", 0), ("plan", "Plan", 0),
        ("plan", "Pre-flight against the plan", 0), ("approval", "Approved", 0),
        ("rollout", "Canary", 0), ("rollout", "Check after the canary", 0),
        ("rollout", "Apply the rest", 0), ("rollout", "Final check", 0)], r.log
    assert seen["Plan"] == 0 and seen["Pre-flight against the plan"] == 0
    assert seen["Check after the canary"] == CANARY
    assert seen["Apply the rest"] == 4096 and seen["Final check"] == 4096
    verify_keys(entry, kv, "keys after the rollout")
    # Running the rollout's apply again finds nothing left to do.
    p = subprocess.run([SLOTPILOT, "apply", "plan.json", "--yes", "--json"], cwd=str(tmp_path),
                       capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert p.returncode == 0 and '"applied":true' in p.stdout, p.stdout + p.stderr


def test_small_plan_skips_the_approval_job(node_pool, tmp_path):
    """Three primaries by hand, 200 slots off balance: the plan moves fewer
    than APPROVE_OVER slots, so the rollout runs without the approval job."""
    nodes = make_cluster_by_hand(node_pool, [(0, 5661), (5662, 10922), (10923, 16383)])
    r = Runner(tmp_path, {"cluster": nodes[0].addr, "canary_slots": "10"},
               {"PREFLIGHT_OPTS": LOOSE, "PLAN_OPTS": "--threshold 0"})
    results = r.run()
    assert results == {"plan": "success", "approval": "skipped", "rollout": "success"}, r.log
    assert r.ctx["needs"]["plan"]["outputs"]["needs_approval"] == "false"
    counts = sorted(slots_of(n, nodes[0]) for n in nodes)
    assert counts == [5461, 5461, 5462], counts

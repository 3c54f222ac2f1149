"""The scale benchmark: the command a user types, cexsearch's strategies, a naive Z3 query and random search.

Run from the repository root:

    python benchmarks/run.py                 # every instance, table on stdout, JSON in benchmarks/results.json
    python benchmarks/run.py --only seed     # instances whose name contains 'seed'
    python benchmarks/run.py --timeout 20    # per-run budget in seconds (default 60)
    python benchmarks/run.py --quick         # only the default command and the search alone (auto)
    python benchmarks/run.py --local-cluster # also enumerate on a 2-worker Dask LocalCluster
    python benchmarks/run.py --markdown      # print the README's table from benchmarks/results.json, run nothing

Every instance is timed as the user's command: ``cexsearch find`` with the
default flags (shrinking on, ``--jobs`` the number of cores), in a fresh
process, from start to exit as a user waits for it; the README's targets apply
to it.  For a witness the same command with ``--no-shrink`` is timed too, and
the difference is the shrink's share.  Every other column is the search alone:
``search()`` in a fresh process, its time measured inside that process
(start-up excluded), its peak resident memory that process's own.

Every run gets the same budget.  The naive baseline is one Z3 query with
If-encoded ReLUs and no enumeration (what a person writes by hand); random
search samples small integers and random floats (as exact rationals) for every
free value and checks each sample exactly.  Times are wall-clock on a shared
machine: compare them as ratios within one run.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cexsearch.api import NetworkSettings, build_problem  # noqa: E402
from cexsearch.engine.options import SearchOptions  # noqa: E402
from cexsearch.engine.search import search  # noqa: E402
from cexsearch.errors import TooLarge  # noqa: E402
from cexsearch.model.network import entries  # noqa: E402
from cexsearch.model.problem import Assignment, Problem  # noqa: E402
from cexsearch.model.training import Training  # noqa: E402
from cexsearch.semantics import numeric  # noqa: E402
from cexsearch.workflows.claims import check_claim  # noqa: E402

FIND_CONDITIONS = ["grad(W2) == 0", "grad(b2) == 0", "grad(W1) != 0"]


@dataclass(frozen=True)
class Instance:
    name: str
    net: str
    samples: int
    conditions: tuple[str, ...]
    expect: str  # found | none
    settings: NetworkSettings = field(default_factory=NetworkSettings)
    target: float | None = None  # seconds, from the issue
    why: str = ""
    training: Training | None = None  # --steps K and the optimizer
    fixes: tuple[str, ...] = ()  # --fix NAME=VALUE
    every_size: bool = False  # --samples all
    claim: str | None = None  # a claim file's [[claim]] body: timed as `cexsearch check FILE` (expect: its verdict)


def instances() -> list[Instance]:
    out = [Instance("seed001 1-1-1 x 3", "1-1-1", 3,
                    ("grad(W2) == 0", "grad(b2) == 0", "grad(W1) != 0", "grad(b1) != 0"), "found", target=1.0)]
    for M in (2, 3, 4, 6, 8, 10, 12, 16, 32, 64):
        out.append(Instance(f"find 10-10-1 x {M}", "10-10-1", M, tuple(FIND_CONDITIONS), "found", target=10.0))
    out.append(Instance("find 10-32-32-32-1 x 64", "10-32-32-32-1", 64,
                        ("grad(W4) == 0", "grad(b4) == 0", "grad(W1) != 0"), "found", target=30.0))
    out.append(Instance("proof 10-10-1 x 1", "10-10-1", 1,
                        ("grad(b2) == 0", "not (grad(W1) == 0 and grad(b1) == 0 and grad(W2) == 0)"), "none",
                        target=2.0, why="one sample: grad(b2) = c r, so r = 0 and every gradient vanishes"))
    out.append(Instance("proof 4-8-8-8-1 x 1", "4-8-8-8-1", 1,
                        ("grad(b4) == 0", "not (grad(W1) == 0)"), "none", target=2.0,
                        why="the same argument through four layers"))
    nobias = NetworkSettings(bias=False)
    for M in (2, 3):
        for h in (4, 6, 10):
            target = {(2, 4): 5.0, (2, 10): 60.0, (3, 4): 10.0, (3, 10): 120.0}.get((M, h))
            out.append(Instance(f"holds 1-{h}-1 nobias x {M}", f"1-{h}-1", M, ("grad(W2) == 0", "not (grad(W1) == 0)"),
                                "none", nobias, target,
                                why="unit by unit grad(W2)_j = w1_j S_j and grad(W1)_j = W2_j S_j, S_j the active "
                                    "samples' sum of c r_m x_m; w1_j = 0 leaves no sample active"))
    # Claims of our own that hold for a structural reason.
    out.append(Instance("holds zero-init 10-10-1 x 3", "10-10-1", 3,
                        ("all(W1 == 0)", "all(b1 == 0)", "all(W2 == 0)", "not (grad(W1) == 0 and grad(W2) == 0)"),
                        "none", why="all hidden pre-activations 0: activations 0 and W2^T delta = 0"))
    out.append(Instance("holds dead layer 2-6-1 x 3", "2-6-1", 3,
                        ("all(W1 == 0)", "all(b1 < 0)", "not (grad(W1) == 0 and grad(W2) == 0)"), "none",
                        why="every hidden unit inactive on every sample: no signal reaches W1, activations are 0"))
    out.append(Instance("holds twin units 2-4-1 x 2", "2-4-1", 2,
                        ("W1[0, :] == W1[1, :]", "b1[0] == b1[1]", "W2[:, 0] == W2[:, 1]",
                         "not (grad(W1)[0, :] == grad(W1)[1, :] and grad(W2)[:, 0] == grad(W2)[:, 1])"), "none",
                        why="equal units compute equal values and receive equal backprop signals"))
    out.append(Instance("holds output residual 1-4-1 x 1", "1-4-1", 1, ("grad(b2) == 0", "yhat != y"), "none",
                        why="with one sample grad(b2) = c (yhat - y)"))
    out += scale_instances()
    out += training_instances()
    out += classification_instances()
    return out


def scale_instances() -> list[Instance]:
    """Issue #15's proofs at scale: no bias, ReLU'(0) = 0, grad(W2) == 0 and grad(W1) != 0 (a unit-by-unit reason)."""
    nobias = NetworkSettings(bias=False)
    unit = ("grad(W2) == 0", "grad(W1) != 0")
    out = [Instance(f"scale 1-{h}-1 nobias x {M}", f"1-{h}-1", M, unit, "none", nobias,
                    target=60.0 if (h, M) in ((16, 4), (10, 5)) else None)
           for h, M in ((10, 3), (12, 3), (6, 5), (10, 4), (16, 4), (10, 5))]
    out += [Instance(f"scale 2-{h}-1 x {M}: grad(W2), grad(b2) == 0, grad(b1) != 0", f"2-{h}-1", M,
                     ("grad(W2) == 0", "grad(b2) == 0", "grad(b1) != 0"), expect)
            for h, M, expect in ((8, 2, "none"), (10, 2, "none"), (10, 3, "found"))]
    return out


SEED001_BCE = ('net = "Sequential(Linear(1, 1), ReLU(), Linear(1, 1))"\ninput_shape = [1]\nloss = "bce"\n'
               'given = ["grad(W2) == 0", "grad(b2) == 0"]\nthen = ["grad(W1) == 0 or grad(b1) == 0"]\n')


def classification_instances() -> list[Instance]:
    """Issue #13's questions: seed 001 under bce, over the rationals (the exact split) and the reals."""
    net = "1-1-1"  # the widths of the claims' Sequential(Linear(1, 1), ReLU(), Linear(1, 1))
    return [
        Instance("bce seed001 x 1..6, ReLU'(0) = 0, hard: none over the rationals", net, 6, (), "holds",
                 claim=SEED001_BCE + 'labels = "hard"\ndomain = "rational"\nsamples = "1..6"\nexpect = "holds"'),
        Instance("bce seed001 x 1..6, ReLU'(0) = 0, soft: none over the rationals", net, 6, (), "holds",
                 claim=SEED001_BCE + 'labels = "soft"\ndomain = "rational"\nsamples = "1..6"\nexpect = "holds"'),
        Instance("bce seed001 x 2, ReLU'(0) = 1: a rational witness", net, 2, (), "refuted",
                 claim=SEED001_BCE + 'relu_grad_at_zero = 1\ndomain = "rational"\nsamples = 2\nexpect = "refuted"'),
        Instance("bce seed001 x 1..2, ReLU'(0) = 0: none over the reals", net, 2, (), "holds",
                 claim=SEED001_BCE + 'domain = "real"\nsamples = "1..2"\nexpect = "holds"'),
        Instance("bce seed001 x 1..6, ReLU'(0) = 0, hard: a certified real witness (at 3)", net, 3, (), "refuted",
                 claim=SEED001_BCE + 'labels = "hard"\ndomain = "real"\nsamples = "1..6"\nexpect = "refuted"'),
    ]


ZERO = '["W1 == 0", "b1 == 0", "W2 == 0"]'
TWINS = '["W1[0, :] == W1[1, :]", "b1[0] == b1[1]", "W2[:, 0] == W2[:, 1]"]'


def training_instances() -> list[Instance]:
    """Issue #12's kinds of claim: unrolled runs (found and proven), invariants, every batch size."""
    two = Training(2)
    return [
        Instance("train 2-3-1 x 3, 2 steps: W2 = 0 blocks W1 only at first", "2-3-1", 3,
                 ("W2 == 0", "grad@2(W1) != 0"), "found", training=two, target=10.0),
        Instance("train 2-3-1 x 3, 2 steps of sgd (batch 1): the loss goes up", "2-3-1", 3,
                 ("loss@2 > loss@1",), "found", training=Training(2, "sgd", batch_size=1), target=10.0),
        Instance("train 2-3-1 x 3, 2 steps: zero init keeps W1 = 0 (unrolled proof)", "2-3-1", 3, ("W1@2 != 0",),
                 "none", training=two, fixes=("W1=0", "b1=0", "W2=0"), target=10.0),
        Instance("samples all 10-10-1: zero init, no gradient for W1", "10-10-1", 1, ("grad(W1) != 0",), "none",
                 fixes=("W1=0", "b1=0", "W2=0"), every_size=True),
        Instance("invariant 10-10-1 x all: zero init stays zero", "10-10-1", 1, (), "holds", target=10.0,
                 claim=f'net = "10-10-1"\nsamples = "all"\ngiven = {ZERO}\ninvariant = {ZERO}\nexpect = "holds"'),
        Instance("invariant 10-10-1 x all: equal units stay equal", "10-10-1", 1, (), "holds", target=10.0,
                 claim=f'net = "10-10-1"\nsamples = "all"\ngiven = {TWINS}\ninvariant = {TWINS}\nexpect = "holds"'),
        Instance("invariant 10-10-1 x 3: two targets never fitted (sgd)", "10-10-1", 3, (), "holds",
                 claim='net = "10-10-1"\nsamples = 3\noptimizer = "sgd"\nbatch_size = 1\n'
                       f'given = {ZERO[:-1]}, "y[0, 0] != y[1, 0]"]\ninvariant = {ZERO[:-1]}, "loss > 0"]\n'
                       'expect = "holds"'),
        Instance("invariant 1-3-1 x 3: a dead unit stays dead", "1-3-1", 3, (), "holds",
                 claim='net = "1-3-1"\nsamples = 3\ngiven = ["W1[0, 0] * x[:, 0] + b1[0] < 0"]\n'
                       'invariant = ["W1[0, 0] * x[:, 0] + b1[0] < 0"]\nexpect = "holds"'),
        Instance("invariant 1-1-1 x 1: true, not inductive (never 'holds')", "1-1-1", 1, (), "unknown",
                 claim='net = "1-1-1"\nsamples = 1\ngiven = ["W1 == 0", "b1 == 0", "W2 == 0"]\n'
                       'invariant = ["W2 <= 1"]\nexpect = "holds"'),
    ]


def cli_args(inst: Instance, shrink: bool = True, claim_file: str = "claim.toml") -> list[str]:
    """The ``cexsearch find`` (or ``check``) arguments for an instance: what a user types, default flags otherwise."""
    if inst.claim is not None:
        return ["check", claim_file, "--no-store"]
    args = ["find", "--net", inst.net, "--samples", "all" if inst.every_size else str(inst.samples)]
    for c in inst.conditions:
        args += ["--require", c]
    for f in inst.fixes:
        args += ["--fix", f]
    t = inst.training
    if t is not None:
        args += ["--steps", str(t.steps)]
        if t.batch_size is not None:
            args += ["--optimizer", t.optimizer, "--batch-size", str(t.batch_size)]
    s, default = inst.settings, NetworkSettings()
    if not s.bias:
        args.append("--no-bias")
    if s.activation != default.activation:
        args += ["--activation", s.activation]
    if s.activation == "leaky_relu" and s.leaky_slope != default.leaky_slope:
        args += ["--leaky-slope", str(s.leaky_slope)]
    if s.loss != default.loss:
        args += ["--loss", s.loss]
    if s.relu_grad_at_zero != default.relu_grad_at_zero:
        args += ["--relu-grad-at-zero", str(s.relu_grad_at_zero)]
    return args if shrink else [*args, "--no-shrink"]


# The CLI's exit codes (README): 0 a witness, 1 none, 2 bad input, 3 inconclusive, 130 interrupted.
CLI_VERDICTS = {0: "found", 1: "none", 2: "error", 3: "unknown", 130: "interrupted"}


def cli_verdict(code: int, stderr: str) -> str:
    return "crash" if "Traceback" in stderr else CLI_VERDICTS.get(code, "crash")


def run_cli(inst: Instance, timeout: float, shrink: bool = True) -> dict:
    return _in_child(_run_cli, inst, timeout, shrink)


def _run_cli(inst: Instance, timeout: float, shrink: bool) -> dict:
    """The command in its own process (and session), killed with its workers when the budget runs out."""
    import shlex
    import signal
    import tempfile

    args = cli_args(inst, shrink)
    path = [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]  # this checkout's cexsearch
    env = {**os.environ, "CI": "true", "PYTHONPATH": os.pathsep.join(path)}
    with tempfile.TemporaryDirectory() as tmp:
        doc_path = Path(tmp) / "witness.json"
        t = time.perf_counter()
        if inst.claim is not None:
            (Path(tmp) / "claim.toml").write_text(f'[[claim]]\nname = "bench"\n{inst.claim}\n')
        proc = subprocess.Popen([sys.executable, "-m", "cexsearch", *args, "--json", str(doc_path)], cwd=tmp, env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        try:
            _, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            return {"verdict": "unknown", "seconds": time.perf_counter() - t, "killed_at_budget": True,
                    "command": "cexsearch " + shlex.join(args)}
        seconds = time.perf_counter() - t
        verdict = cli_verdict(proc.returncode, stderr)
        if inst.claim is not None:  # check: 0 as expected, 1 not, 3 inconclusive
            verdict = {0: inst.expect, 1: "not as expected", 3: "unknown"}.get(proc.returncode, verdict)
        out: dict = {"verdict": verdict, "seconds": seconds, "exit_code": proc.returncode,
                     "command": "cexsearch " + shlex.join(args)}
        if out["verdict"] in ("error", "crash"):
            out["stderr_tail"] = stderr.strip().splitlines()[-3:]
        if doc_path.exists():
            doc = json.loads(doc_path.read_text())
            out["search_seconds_inside"] = doc.get("search", {}).get("elapsed_seconds") if isinstance(doc, dict) else None
    return out


def problem_of(inst: Instance) -> Problem:
    return build_problem(inst.settings.network(inst.net), inst.samples, list(inst.conditions), list(inst.fixes),
                         training=inst.training)


def _in_child(fn, *args) -> dict:  # type: ignore[no-untyped-def]
    """fn(*args) in a fresh process; its result gains that process's peak resident memory."""
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn")) as pool:
        return pool.submit(_measured, fn, *args).result()


def _measured(fn, *args) -> dict:  # type: ignore[no-untyped-def]
    out = fn(*args)
    rss = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    return {**out, "peak_mib": rss / 1024}


def run_strategy(inst: Instance, strategy: str, timeout: float, jobs: int = 1, cluster: str | None = None) -> dict:
    return _in_child(_run_strategy, inst, strategy, timeout, jobs, cluster)


def _run_strategy(inst: Instance, strategy: str, timeout: float, jobs: int, cluster: str | None) -> dict:
    t = time.perf_counter()
    if inst.claim is not None:  # the claim decided by the library, as check does
        from cexsearch.workflows.claim import Claim
        from cexsearch.workflows.claimfile import parse_claims

        claim: Claim = parse_claims(f'[[claim]]\nname = "bench"\n{inst.claim}\n')[0]
        result = check_claim(claim, timeout=timeout, options=SearchOptions(jobs=jobs))
        return {"verdict": result.verdict, "seconds": time.perf_counter() - t, "strategy": "check_claim"}
    p = problem_of(inst)
    try:
        out = search(p, SearchOptions(strategy=strategy, timeout=timeout, jobs=jobs, cluster=cluster))
    except TooLarge:
        return {"verdict": "refused", "seconds": 0.0, "strategy": strategy}
    return {"verdict": out.verdict, "seconds": time.perf_counter() - t, "strategy": out.stats.strategy}


def random_search(inst: Instance, timeout: float, seed: int = 0) -> dict:
    return _in_child(_random_search, inst, timeout, seed)


def _random_search(inst: Instance, timeout: float, seed: int) -> dict:
    """Sample small integers and random floats (as exact rationals) for every free value; check exactly."""
    p = problem_of(inst)
    rng = random.Random(seed)
    t = time.perf_counter()
    names = p.network.variable_names()
    tries = 0
    while time.perf_counter() - t < timeout:
        tries += 1
        vals = {}
        for name in names:
            for idx in entries(p.shape(name)):
                vals[(name, idx)] = Fraction(rng.randint(-3, 3)) if tries % 2 else Fraction(rng.uniform(-3, 3))
        a = Assignment.from_entries(p.network, p.samples, vals)
        if numeric.recheck(p, a).confirmed:
            return {"verdict": "found", "seconds": time.perf_counter() - t, "tries": tries}
    return {"verdict": "unknown", "seconds": time.perf_counter() - t, "tries": tries}


def fmt(r: dict | None) -> str:
    if r is None:
        return "-"
    return f"{r['verdict']} {r['seconds']:.2f}"


def shrink_seconds(row: dict) -> float | None:
    """The shrink's share of the default command: its time less the same command's with --no-shrink."""
    a, b = row.get("cli"), row.get("cli_no_shrink")
    if not a or not b or a["verdict"] != "found" or b["verdict"] != "found":
        return None
    return max(0.0, a["seconds"] - b["seconds"])


COLUMNS = ["instance", "expect", "`cexsearch find` (default)", "shrink s", "auto (search alone)", "enumerate",
           "enumerate --jobs 2", "enumerate --cluster", "linear", "naive", "random", "target s", "peak MiB"]


def table_header() -> list[str]:
    return ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]


def table_row(row: dict) -> str:
    shrink = row.get("shrink_seconds")
    if shrink is None:
        shrink_cell = "-"
    else:
        share = shrink / row["cli"]["seconds"] if row["cli"]["seconds"] else 0.0
        shrink_cell = f"{shrink:.2f} ({share:.0%})"
    cells = [row["instance"], row["expect"], fmt(row.get("cli")), shrink_cell, fmt(row.get("auto")),
             fmt(row.get("enumerate")), fmt(row.get("enumerate_jobs2")), fmt(row.get("enumerate_cluster")),
             fmt(row.get("linear")), fmt(row.get("naive")), fmt(row.get("random")),
             str(row["target_seconds"] or "-"), f"{row['peak_mib']:.0f}"]
    return "| " + " | ".join(cells) + " |"


def markdown(path: str) -> int:
    """The README's table from a results file, nothing run; exit 2 when the file is missing or not a run's."""
    try:
        rows = json.loads(Path(path).read_text())["rows"]
        lines = [*table_header(), *(table_row(r) for r in rows)]
    except (OSError, ValueError, KeyError, TypeError) as e:
        print(f"error: cannot make the table from {path!r}: {e}; run python benchmarks/run.py first",
              file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--only", default="")
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results.json"),
                    help="where the results go (read by --markdown)")
    ap.add_argument("--no-baselines", action="store_true", help="skip the naive query and random search")
    ap.add_argument("--quick", action="store_true",
                    help="only the default command (with its --no-shrink twin) and the search alone (auto)")
    ap.add_argument("--local-cluster", action="store_true",
                    help="also run the 1-h-1 proofs with --cluster on a 2-worker Dask LocalCluster")
    ap.add_argument("--markdown", action="store_true",
                    help="print the README's table from the --json results and run nothing")
    args = ap.parse_args()
    if args.markdown:
        return markdown(args.json)
    chosen = [i for i in instances() if args.only in i.name]
    if not chosen:
        print(f"error: no instance name contains {args.only!r}", file=sys.stderr)
        return 2
    rows = []
    print("\n".join(table_header()))
    for inst in chosen:
        row: dict = {"instance": inst.name, "expect": inst.expect, "target_seconds": inst.target, "why": inst.why}
        row["cli"] = run_cli(inst, args.timeout)  # what the user types, as the user waits for it
        if inst.expect == "found":
            row["cli_no_shrink"] = run_cli(inst, args.timeout, shrink=False)
        row["shrink_seconds"] = shrink_seconds(row)
        row["auto"] = run_strategy(inst, "auto", args.timeout, jobs=os.cpu_count() or 1)  # the CLI's default
        for strategy in () if args.quick or inst.claim or inst.training else ("enumerate", "linear"):
            if strategy == "linear" and inst.expect == "none":
                continue  # the linear strategy can only find
            row[strategy] = run_strategy(inst, strategy, args.timeout)
        if inst.expect == "none" and inst.name.startswith("holds 1-") and not args.quick:
            row["enumerate_jobs2"] = run_strategy(inst, "enumerate", args.timeout, jobs=2)
            if args.local_cluster:
                # started for this run only: an idle cluster's heartbeats would slow the other columns
                from distributed import LocalCluster

                with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as c:
                    row["enumerate_cluster"] = run_strategy(inst, "enumerate", args.timeout, cluster=c.scheduler_address)
        if not args.no_baselines and not args.quick and inst.claim is None:
            # The ifencode strategy alone is the naive baseline: one If-encoded query, no enumeration.
            row["naive"] = run_strategy(inst, "ifencode", args.timeout)
            row["naive"]["strategy"] = "naive: one If-encoded query (= --strategy ifencode)"
            if inst.expect == "found":
                row["random"] = random_search(inst, min(args.timeout, 10.0))
        a, n, cli = row["auto"], row.get("naive"), row["cli"]
        row["correct"] = a["verdict"] == inst.expect
        row["cli_correct"] = cli["verdict"] == inst.expect
        row["ratio_naive_over_auto"] = (n["seconds"] / a["seconds"]) if n and n["verdict"] == inst.expect else None
        # the targets apply to the command a user types; the search alone is kept for comparison
        row["target_met"] = None if inst.target is None else (row["cli_correct"] and cli["seconds"] < inst.target)
        row["search_target_met"] = None if inst.target is None else (row["correct"] and a["seconds"] < inst.target)
        row["peak_mib"] = max(r["peak_mib"] for r in row.values() if isinstance(r, dict) and "peak_mib" in r)
        rows.append(row)
        print(table_row(row), flush=True)
    seed = next((r for r in rows if r["instance"].startswith("seed001")), None)
    ratios = [r["ratio_naive_over_auto"] for r in rows if r["ratio_naive_over_auto"]]
    unsolved_by_naive = [r["instance"] for r in rows if r.get("naive") and r["naive"]["verdict"] == "unknown"]
    speedups = [r["enumerate"]["seconds"] / r["enumerate_jobs2"]["seconds"] for r in rows
                if "enumerate_jobs2" in r and r["enumerate"]["verdict"] == "none" and r["enumerate_jobs2"]["verdict"] == "none"]
    summary = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "timeout_seconds": args.timeout,
        "seed001_cli_seconds": seed["cli"]["seconds"] if seed else None,
        "all_correct": all(r["correct"] or r["auto"]["verdict"] == "unknown" for r in rows),
        "default_command_all_correct": all(r["cli_correct"] for r in rows),
        "default_command_wrong_exit": [(r["instance"], r["cli"]["verdict"]) for r in rows if not r["cli_correct"]],
        "targets_missed_by_default_command": [r["instance"] for r in rows if r["target_met"] is False],
        "largest_shrink_seconds": max((r["shrink_seconds"] for r in rows if r["shrink_seconds"] is not None),
                                      default=None),
        "median_ratio_naive_over_auto": statistics.median(ratios) if ratios else None,
        "instances_naive_cannot_solve": unsolved_by_naive,
        "jobs2_speedup_on_proofs": speedups,
        "peak_rss_mib_largest_run": max((r["peak_mib"] for r in rows), default=None),
    }
    print(json.dumps(summary, indent=2))
    Path(args.json).write_text(json.dumps({"summary": summary, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

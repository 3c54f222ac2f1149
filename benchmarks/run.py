"""The scale benchmark: cexsearch's strategies against a naive Z3 query and random search.

Run from the repository root:

    python benchmarks/run.py                 # every instance, table on stdout, JSON in benchmarks/results.json
    python benchmarks/run.py --only seed     # instances whose name contains 'seed'
    python benchmarks/run.py --timeout 20    # per-run budget in seconds (default 60)
    python benchmarks/run.py --local-cluster # also enumerate on a 2-worker Dask LocalCluster

Every run happens in a fresh process, as a user's command does: its time is
measured inside that process (start-up excluded, except for the seed 001 CLI
figure) and its peak resident memory is that process's own.

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

from cexsearch import numeric  # noqa: E402
from cexsearch.api import NetworkSettings, build_problem  # noqa: E402
from cexsearch.errors import TooLarge  # noqa: E402
from cexsearch.search import search  # noqa: E402
from cexsearch.spec import Assignment, Problem, SearchOptions, entries  # noqa: E402

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
    return out


def problem_of(inst: Instance) -> Problem:
    return build_problem(inst.settings.network(inst.net), inst.samples, list(inst.conditions))


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
    p = problem_of(inst)
    t = time.perf_counter()
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


def cli_seconds() -> float:
    """The seed 001 witness end to end through the CLI (a fresh process)."""
    cmd = [sys.executable, "-m", "cexsearch", "find", "--net", "1-1-1", "--samples", "3", "--require", "grad(W2) == 0",
           "--require", "grad(b2) == 0", "--require", "grad(W1) != 0", "--require", "grad(b1) != 0"]
    t = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env={**os.environ, "CI": "true"})
    return time.perf_counter() - t


def fmt(r: dict | None) -> str:
    if r is None:
        return "-"
    mark = {"found": "found", "none": "none", "unknown": "unknown", "refused": "refused"}[r["verdict"]]
    return f"{mark} {r['seconds']:.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--only", default="")
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results.json"))
    ap.add_argument("--no-baselines", action="store_true", help="skip the naive query and random search")
    ap.add_argument("--local-cluster", action="store_true",
                    help="also run the 1-h-1 proofs with --cluster on a 2-worker Dask LocalCluster")
    args = ap.parse_args()
    chosen = [i for i in instances() if args.only in i.name]
    rows = []
    print("| instance | expect | auto | enumerate | enumerate --jobs 2 | enumerate --cluster | linear | naive | random "
          "| target s | peak MiB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for inst in chosen:
        row: dict = {"instance": inst.name, "expect": inst.expect, "target_seconds": inst.target, "why": inst.why}
        row["auto"] = run_strategy(inst, "auto", args.timeout, jobs=os.cpu_count() or 1)  # the CLI's default
        for strategy in ("enumerate", "linear"):
            if strategy == "linear" and inst.expect == "none":
                continue  # the linear strategy can only find
            row[strategy] = run_strategy(inst, strategy, args.timeout)
        if inst.expect == "none" and inst.name.startswith("holds 1-"):
            row["enumerate_jobs2"] = run_strategy(inst, "enumerate", args.timeout, jobs=2)
            if args.local_cluster:
                # started for this run only: an idle cluster's heartbeats would slow the other columns
                from distributed import LocalCluster

                with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as c:
                    row["enumerate_cluster"] = run_strategy(inst, "enumerate", args.timeout, cluster=c.scheduler_address)
        if not args.no_baselines:
            # The ifencode strategy alone is the naive baseline: one If-encoded query, no enumeration.
            row["naive"] = run_strategy(inst, "ifencode", args.timeout)
            row["naive"]["strategy"] = "naive: one If-encoded query (= --strategy ifencode)"
            if inst.expect == "found":
                row["random"] = random_search(inst, min(args.timeout, 10.0))
        a, n = row["auto"], row.get("naive")
        row["correct"] = a["verdict"] == inst.expect
        row["ratio_naive_over_auto"] = (n["seconds"] / a["seconds"]) if n and n["verdict"] == inst.expect else None
        row["target_met"] = None if inst.target is None else (row["correct"] and a["seconds"] < inst.target)
        row["peak_mib"] = max(r["peak_mib"] for r in row.values() if isinstance(r, dict) and "peak_mib" in r)
        rows.append(row)
        print(f"| {inst.name} | {inst.expect} | {fmt(a)} | {fmt(row.get('enumerate'))} | "
              f"{fmt(row.get('enumerate_jobs2'))} | {fmt(row.get('enumerate_cluster'))} | {fmt(row.get('linear'))} | "
              f"{fmt(n)} | {fmt(row.get('random'))} | {inst.target or '-'} | {row['peak_mib']:.0f} |", flush=True)
    cli = cli_seconds() if not args.only or "seed" in args.only else None
    ratios = [r["ratio_naive_over_auto"] for r in rows if r["ratio_naive_over_auto"]]
    unsolved_by_naive = [r["instance"] for r in rows if r.get("naive") and r["naive"]["verdict"] == "unknown"]
    speedups = [r["enumerate"]["seconds"] / r["enumerate_jobs2"]["seconds"] for r in rows
                if "enumerate_jobs2" in r and r["enumerate"]["verdict"] == "none" and r["enumerate_jobs2"]["verdict"] == "none"]
    summary = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "timeout_seconds": args.timeout,
        "seed001_cli_seconds": cli,
        "all_correct": all(r["correct"] or r["auto"]["verdict"] == "unknown" for r in rows),
        "median_ratio_naive_over_auto": statistics.median(ratios) if ratios else None,
        "instances_naive_cannot_solve": unsolved_by_naive,
        "jobs2_speedup_on_proofs": speedups,
        "peak_rss_mib_largest_run": max((r["peak_mib"] for r in rows), default=None),
    }
    print(json.dumps(summary, indent=2))
    Path(args.json).write_text(json.dumps({"summary": summary, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()

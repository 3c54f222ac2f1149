"""Issue #15's proofs at scale: the command a user types, each variant in a fresh process, run back to back.

Run from the repository root:

    python benchmarks/proofs.py                      # every row, table on stdout, JSON in benchmarks/proofs.json
    python benchmarks/proofs.py --against 3009fd3    # also the default command at another commit, in the same run
    python benchmarks/proofs.py --only 1-10-1 --repeat 3

Each cell is ``cexsearch find`` (``python -m cexsearch find``) timed from start to exit, with ``CI=true``:

* *default*: the default flags (decomposition and learning on, ``--jobs`` the number of cores);
* *learning only*: ``--no-decompose``, with ``--jobs 2`` and with ``--jobs 1``, and their ratio;
* *naive*: ``--strategy ifencode`` (one If-encoded query, no enumeration, no decomposition);
* *against*: the default command of the commit given with ``--against`` (a temporary git worktree).

With ``--repeat N`` every variant of a row runs N times, interleaved, and the cell is the median: the
machines here are shared, so only ratios within a row compare.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
UNIT = ("grad(W2) == 0", "grad(W1) != 0")  # no witness, for a unit-by-unit reason (no bias, ReLU'(0) = 0)
BIAS = ("grad(W2) == 0", "grad(b2) == 0", "grad(b1) != 0")
# (name, --net, samples, with bias, conditions, what the answer is)
ROWS = [
    ("1-10-1 x 3", "1-10-1", 3, False, UNIT, "none"),
    ("1-12-1 x 3", "1-12-1", 3, False, UNIT, "none"),
    ("1-6-1 x 5", "1-6-1", 5, False, UNIT, "none"),
    ("1-10-1 x 4", "1-10-1", 4, False, UNIT, "none"),
    ("1-16-1 x 4", "1-16-1", 4, False, UNIT, "none"),
    ("1-10-1 x 5", "1-10-1", 5, False, UNIT, "none"),
    ("2-8-1 x 2 (bias)", "2-8-1", 2, True, BIAS, "none"),
    ("2-10-1 x 2 (bias)", "2-10-1", 2, True, BIAS, "none"),
    ("2-10-1 x 3 (bias)", "2-10-1", 3, True, BIAS, "found"),
]
VARIANTS = {
    "default": [],
    "learning only": ["--no-decompose"],
    "learning only, --jobs 1": ["--no-decompose", "--jobs", "1"],
    "naive": ["--strategy", "ifencode"],
}
VERDICTS = {0: "found", 1: "none", 3: "unknown"}


def command(row: tuple, extra: list[str], timeout: float) -> list[str]:
    _, net, samples, bias, conditions, _ = row
    args = ["find", "--net", net, "--samples", str(samples), "--timeout", str(timeout)]
    args += [] if bias else ["--no-bias"]
    for c in conditions:
        args += ["--require", c]
    return args + extra


def timed(args: list[str], source: Path, timeout: float) -> dict:
    """One run in its own process and session, killed with its workers past the budget (plus start-up)."""
    env = {**os.environ, "CI": "true", "PYTHONPATH": str(source)}
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "cexsearch", *args], cwd=tmp, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            code = proc.wait(timeout=timeout + 30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            code = -1
        seconds = time.perf_counter() - t
    return {"verdict": VERDICTS.get(code, f"exit {code}"), "seconds": seconds}


def median(runs: list[dict]) -> dict:
    verdicts = {r["verdict"] for r in runs}
    return {"verdict": verdicts.pop() if len(verdicts) == 1 else "/".join(sorted(verdicts)),
            "seconds": statistics.median(r["seconds"] for r in runs), "runs": [r["seconds"] for r in runs]}


def cell(r: dict | None) -> str:
    return "-" if r is None else f"{r['verdict']} {r['seconds']:.2f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--timeout", type=float, default=60.0, help="each command's --timeout (default 60)")
    ap.add_argument("--only", default="", help="rows whose name contains this")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--against", default=None, help="a commit whose default command runs in the same run")
    ap.add_argument("--no-naive", action="store_true", help="skip the If-encoded query")
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "proofs.json"))
    args = ap.parse_args()
    rows = [r for r in ROWS if args.only in r[0]]
    if not rows:
        print(f"error: no row name contains {args.only!r}", file=sys.stderr)
        return 2
    variants = {k: v for k, v in VARIANTS.items() if not (args.no_naive and k == "naive")}
    sources = {name: ROOT for name in variants}
    worktree = None
    if args.against:
        worktree = Path(tempfile.mkdtemp()) / "against"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(worktree), args.against],
                       check=True, capture_output=True)
        variants["against"] = []
        sources["against"] = worktree
    header = ["row", "expect", *variants, "--jobs 2 / --jobs 1 (learning only)"]
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header), flush=True)
    out = []
    try:
        for row in rows:
            runs: dict[str, list[dict]] = {k: [] for k in variants}
            for _ in range(args.repeat):
                for name, extra in variants.items():
                    runs[name].append(timed(command(row, extra, args.timeout), sources[name], args.timeout))
            result = {name: median(r) for name, r in runs.items()}
            two, one = result["learning only"], result["learning only, --jobs 1"]
            ratio = one["seconds"] / two["seconds"] if two["verdict"] == one["verdict"] == row[5] else None
            out.append({"row": row[0], "command": command(row, [], args.timeout), "expect": row[5],
                        "results": result, "jobs2_ratio": ratio})
            print("| " + " | ".join([row[0], row[5], *(cell(result[k]) for k in variants),
                                     "-" if ratio is None else f"{ratio:.2f}x"]) + " |", flush=True)
    finally:
        if worktree is not None:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(worktree)], capture_output=True)
    summary = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
               "timeout_seconds": args.timeout, "repeat": args.repeat, "against": args.against,
               "wrong": [r["row"] for r in out for k, v in r["results"].items()
                         if v["verdict"] not in (r["expect"], "unknown")]}
    Path(args.json).write_text(json.dumps({"summary": summary, "rows": out}, indent=2) + "\n")
    print(json.dumps(summary))
    return 1 if summary["wrong"] else 0


if __name__ == "__main__":
    sys.exit(main())

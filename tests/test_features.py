"""What a user sees of shrinking, derivations, sweeps, plots, determinism, cross-checks and faults."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cexsearch.cli import app

runner = CliRunner()
SEED = ["--net", "1-1-1", "--require", "grad(W2) == 0", "--require", "grad(b2) == 0", "--require", "grad(W1) != 0",
        "--require", "grad(b1) != 0"]
# A proof that takes the enumeration several seconds: long enough to interrupt.
# --no-learn, --no-decompose: with either this proof takes seconds, and these tests need one that runs long
LONG = ["find", "--net", "1-10-1", "--samples", "4", "--no-bias", "--require", "grad(W2) == 0",
        "--require", "grad(W1) != 0", "--strategy", "enumerate", "--no-learn", "--no-decompose"]


def flat(x):
    return [e for sub in x for e in flat(sub)] if isinstance(x, list) else [x]


def test_seed_001_default_run_prints_the_small_integer_witness(tmp_path):
    out = tmp_path / "w.json"
    # a fresh process, as a user runs it; the default shrink time is a wall-clock safety net,
    # so on a loaded machine give it room
    proc = _cli(["find", *SEED, "--samples", "3", "--json", str(out), "--shrink-time", "120"])
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    r = type("R", (), {"output": stdout})
    doc = json.loads(out.read_text())
    values = [Fraction(v) for d in doc["values"].values() for v in flat(d["exact"])]
    assert all(v.denominator == 1 for v in values)
    assert max(abs(v) for v in values) == 2
    assert "no integer witness with every free value in [-1, 1]" in r.output
    assert "no integer witness with every free value in [-1, 1]" in doc["shrink"]
    assert runner.invoke(app, ["verify", str(out)]).exit_code == 0


def test_no_shrink_keeps_the_first_witness():
    r = runner.invoke(app, ["find", *SEED, "--samples", "3", "--no-shrink"])
    assert r.exit_code == 0 and "shrinking:" not in r.output


def test_explain_latex_shows_the_chain_rule_sums(tmp_path):
    tex = tmp_path / "w.tex"
    r = runner.invoke(app, ["find", *SEED, "--samples", "3", "--explain", "latex", "--explain-to", str(tex)])
    assert r.exit_code == 0, r.output
    text = tex.read_text()
    assert text.startswith("\\documentclass") and "amsmath" in text and "\\end{document}" in text
    assert "b_{1}" in text and "W_{1}" in text and "\\sum" in text


def test_explain_markdown_to_stdout_and_verify_explain(tmp_path):
    out = tmp_path / "w.json"
    r = runner.invoke(app, ["find", *SEED, "--samples", "3", "--explain", "markdown", "--json", str(out)])
    assert r.exit_code == 0 and "$$" in r.output
    r = runner.invoke(app, ["verify", str(out), "--explain", "markdown"])
    assert r.exit_code == 0 and "$$" in r.output
    assert runner.invoke(app, ["find", *SEED, "--samples", "3", "--explain", "word"]).exit_code == 2


def test_sweep_over_samples_finds_the_smallest_size(tmp_path):
    out = tmp_path / "grid.json"
    r = runner.invoke(app, ["sweep", *SEED, "--samples", "1..4", "--json", str(out)])
    assert r.exit_code == 0, r.output
    assert "smallest size with a witness: 1-1-1 x 3" in r.output
    grid = json.loads(out.read_text())
    assert [c["verdict"] for c in grid["cells"]] == ["none", "none", "found", "found"]
    assert grid["smallest_with_witness"] == {"net": "1-1-1", "samples": 3}


def test_sweep_over_a_brace_range_of_widths():
    r = runner.invoke(app, ["sweep", "--net", "1-{1..2}-1", "--samples", "1..2", "--require", "grad(b2) == 0",
                            "--require", "grad(W1) != 0"])
    # one sample: grad(b2) = c r = 0 zeroes everything; two samples: the residuals only have to cancel
    assert r.exit_code == 0, r.output
    assert "1-2-1" in r.output and "smallest size with a witness: 1-1-1 x 2" in r.output


def test_plot_writes_an_image(tmp_path):
    pytest.importorskip("matplotlib", reason="plots need the plot extra")
    png = tmp_path / "w.png"
    r = runner.invoke(app, ["find", *SEED, "--samples", "3", "--plot", str(png), "--no-shrink"])
    assert r.exit_code == 0, r.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _without_times(doc):
    if isinstance(doc, dict):
        return {k: _without_times(v) for k, v in doc.items() if k not in ("elapsed_seconds",)}
    if isinstance(doc, list):
        return [_without_times(v) for v in doc]
    return doc


def test_three_runs_give_the_same_witness(tmp_path):
    docs = []
    for i in range(3):
        out = tmp_path / f"w{i}.json"
        # A run is a process (Z3's term numbering carries over inside one process). Solver budgets are
        # resource limits, so only a wall-clock cut could differ: give shrinking room.
        proc = _cli(["find", *SEED, "--samples", "3", "--json", str(out), "--shrink-time", "300"])
        proc.communicate(timeout=300)
        assert proc.returncode == 0
        docs.append(_without_times(json.loads(out.read_text())))
    assert docs[0] == docs[1] == docs[2]


def test_huge_pattern_counts_are_refused_up_front():
    r = runner.invoke(app, ["find", "--net", "10-32-32-32-1", "--samples", "64", "--require", "grad(W1) != 0",
                            "--strategy", "enumerate"])
    assert r.exit_code == 2
    assert "2^6144" in r.output and "--force" in r.output


def test_rlimit_is_a_machine_independent_budget():
    # A budget too small for any check: every pattern is undecided, the verdict inconclusive, every time.
    for _ in range(2):
        r = runner.invoke(app, ["find", *SEED, "--samples", "2", "--strategy", "enumerate", "--rlimit", "1"])
        assert r.exit_code == 3, r.output
        assert "resource limit" in r.output


def test_cross_check_torch():
    pytest.importorskip("torch", reason="install the torch extra: pip install torch==2.13.0")
    r = runner.invoke(app, ["find", *SEED, "--samples", "3", "--cross-check", "torch", "--no-shrink"])
    assert r.exit_code == 0 and "cross-check torch: agrees" in r.output


def test_cross_check_cvc5_on_a_proof():
    pytest.importorskip("cvc5", reason="install the cvc5 extra: pip install cvc5")
    r = runner.invoke(app, ["find", *SEED, "--samples", "2", "--cross-check", "cvc5"])
    assert r.exit_code == 1, r.output
    assert "cross-check cvc5" in r.output


def test_none_verdict_has_an_audit(tmp_path):
    out = tmp_path / "w.json"
    r = runner.invoke(app, ["find", *SEED, "--samples", "2", "--strategy", "enumerate", "--json", str(out)])
    assert r.exit_code == 1
    audit = json.loads(out.read_text())["audit"]
    assert audit["solver"].startswith("z3") and audit["seed"] == 0
    assert sum(d["patterns"] for d in audit["decisions"]) == 4


# --------------------------------------------------------------------------
# Real signals to a real process


def _cli(args, **kw):
    env = {**os.environ, "CI": "true"}
    return subprocess.Popen([sys.executable, "-m", "cexsearch", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, **kw)


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = set(), [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.add(c)
            todo.append(c)
    return out


def _cpu_seconds(pids) -> float:  # type: ignore[no-untyped-def]
    """CPU time used so far by these processes: progress of the search, whatever the machine's load."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def _eventually(holds, what, seconds=120.0):  # type: ignore[no-untyped-def]
    """Wait for an event; the bound only keeps a broken run from hanging the suite."""
    end = time.monotonic() + seconds
    while not holds():
        assert time.monotonic() < end, f"never happened: {what}"
        time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc")
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_ctrl_c_exits_130_quickly_and_stops_every_worker(tmp_path, jobs):
    out = tmp_path / "w.json"
    proc = _cli([*LONG, "--jobs", jobs, "--json", str(out)])
    try:
        # well into the enumeration (its whole proof takes a minute of CPU or more), however loaded the machine
        _eventually(lambda: (jobs == "1" or len(_descendants(proc.pid)) >= 2)
                    and _cpu_seconds([proc.pid, *_descendants(proc.pid)]) >= 3.0, "the enumeration under way")
        workers = _descendants(proc.pid)
    finally:
        proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, (stdout, stderr)
    assert "interrupted" in (stdout + stderr)
    assert "Traceback" not in stderr
    _eventually(lambda: not any(_alive(p) for p in workers), "every worker process ended")
    # A signal that lands inside a strategy gives the interrupted search's document, written whole,
    # with patterns left (the search ended on the signal, not at the end of the proof); one that lands
    # between two steps of the portfolio stops the command before any document: never half a file.
    if out.exists():
        doc = json.loads(out.read_text())
        assert doc["verdict"] == "unknown" and doc["reason"] == "interrupted"
        assert doc["search"]["remaining"] + doc["search"]["undecided"] > 0
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc")
def test_workers_end_when_the_command_is_killed_outright():
    """SIGKILL gives the command no chance to stop its workers: they must notice and end themselves
    (before, they ran on at full CPU for as long as the proof took)."""
    proc = _cli([*LONG, "--jobs", "2"])
    try:
        _eventually(lambda: len(_descendants(proc.pid)) >= 2 and _cpu_seconds([proc.pid, *_descendants(proc.pid)]) >= 2.0,
                    "the enumeration under way")
        workers = _descendants(proc.pid)
    finally:
        proc.kill()
    proc.wait(timeout=60)  # not communicate(): a live worker still holds the pipes open
    try:
        _eventually(lambda: not any(_alive(p) for p in workers), "every worker process ended", seconds=30.0)
    finally:
        for p in workers:  # never leave one behind, whatever the test found
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.communicate(timeout=60)


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc")
def test_a_worker_that_dies_makes_the_verdict_unknown():
    proc = _cli([*LONG, "--jobs", "2"])
    victims: list[int] = []

    def a_worker() -> bool:
        kids = _descendants(proc.pid)
        # a worker: a process whose parent is also one of ours (the forkserver's children)
        victims[:] = [p for p in kids if any(p in _descendants(k) for k in kids)]
        return bool(victims)

    _eventually(a_worker, "a worker process")
    victim = victims[0]
    time.sleep(0.5)
    os.kill(victim, signal.SIGKILL)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 3, (stdout, stderr)
    assert "worker process died" in stdout


def test_an_interrupt_landing_after_a_check_does_not_break_the_next_push():
    # The deadline timer can fire between the end of Z3's check and its cancellation; the
    # interrupt then stays pending on the shared context and the next push raised "push canceled".
    from cexsearch.api import NetworkSettings, build_problem
    from cexsearch.engine.encoding import Encoding
    from cexsearch.engine.solver import PatternSolver, Sat

    p = build_problem(NetworkSettings().network("1-1-1"), 1, ["grad(W1) != 0"])
    ps = PatternSolver(Encoding(p), kind="smt")
    inner = ps.solver.check

    def slow_return(*args):  # type: ignore[no-untyped-def]
        answer = inner(*args)
        time.sleep(0.3)  # the timer fires here, after the check returned
        return answer

    ps.solver.check = slow_return  # type: ignore[method-assign]
    assert isinstance(ps.check(time.monotonic() + 0.1), Sat)
    ps.push()
    ps.pop()

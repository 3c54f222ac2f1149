"""The default path, as a user types it: every benchmark instance up to 10-10-1 x 16 through the CLI
with default flags (shrinking on), the expected exit code (0 found, 1 none: never 2, never a
traceback), and every witness document passes ``cexsearch verify``."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cexsearch.cli import app

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


def _benchmark() -> object:
    spec = importlib.util.spec_from_file_location("cexsearch_benchmarks", ROOT / "benchmarks" / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


BENCH = _benchmark()


def _values(inst) -> int:  # type: ignore[no-untyped-def]
    widths = [int(w) for w in inst.net.split("-")]
    bias = inst.settings.bias
    return sum(a * b + (a if bias else 0) for a, b in zip(widths[1:], widths)) + inst.samples * (widths[0] + widths[-1])


LARGEST = 10 * 10 + 10 + 10 + 1 + 16 * 11  # 10-10-1 x 16
# Several seconds each (a proof, or a search at a few samples where enumeration is in reach):
# run with -m slow, as CI does.
SLOW = {"holds 1-6-1 nobias x 2", "holds 1-6-1 nobias x 3", "holds 1-10-1 nobias x 2", "holds 1-10-1 nobias x 3",
        "find 10-10-1 x 2", "find 10-10-1 x 3", "find 10-10-1 x 4"}


def _cases() -> list:
    out = []
    extra = BENCH.Instance("find 4-8-1 x 6", "4-8-1", 6,  # type: ignore[attr-defined]
                           ("grad(W2) == 0", "grad(b2) == 0", "grad(W1) != 0"), "found")
    for inst in [*BENCH.instances(), extra]:  # type: ignore[attr-defined]
        if _values(inst) > LARGEST:
            continue
        marks = [pytest.mark.slow] if inst.name in SLOW else []
        out.append(pytest.param(inst, id=inst.name, marks=marks))
    return out


def test_the_matrix_holds_the_headline_sizes():
    names = {c.id for c in _cases()}
    assert {"find 10-10-1 x 2", "find 10-10-1 x 6", "find 10-10-1 x 16", "seed001 1-1-1 x 3",
            "find 4-8-1 x 6", "train 2-3-1 x 3, 2 steps: W2 = 0 blocks W1 only at first",
            "invariant 10-10-1 x all: zero init stays zero"} <= names
    assert "find 10-10-1 x 32" not in names


@pytest.mark.parametrize("inst", _cases())
def test_default_command(tmp_path, monkeypatch, inst):
    """The benchmark's own command line (find, or check of a one-claim file), with its verdict's exit code."""
    monkeypatch.chdir(tmp_path)
    doc = tmp_path / "witness.json"
    if inst.claim is not None:
        (tmp_path / "claim.toml").write_text(f'[[claim]]\nname = "bench"\n{inst.claim}\n')
    r = runner.invoke(app, [*BENCH.cli_args(inst), "--json", str(doc)])  # type: ignore[attr-defined]
    assert "Traceback" not in r.output
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    expected = {"found": 0, "none": 1} if inst.claim is None else {inst.expect: 0, "unknown": 3}
    assert r.exit_code == expected[inst.expect], r.output
    if inst.expect == "found":
        assert "shrinking:" in r.output  # shrinking ran and says what it achieved
        v = runner.invoke(app, ["verify", str(doc)])
        assert v.exit_code == 0, v.output


ZERO_INIT = """
[[claim]]
name = "zero init: the output bias moves"
net = "3-4-1"
samples = 4
fix = { W1 = "0", b1 = "0", W2 = "0" }
then = ["grad(b2) == 0"]
expect = "refuted"
"""


def test_zero_initialisation_claim_is_refuted_with_a_witness(tmp_path):
    path = tmp_path / "zero.toml"
    path.write_text(ZERO_INIT)
    report = tmp_path / "report.json"
    r = runner.invoke(app, ["check", str(path), "--no-store", "--json", str(report)])
    assert "Traceback" not in r.output
    assert r.exit_code == 0, r.output
    assert "refuted" in r.output
    import json

    doc = json.loads(report.read_text())
    assert "zero init" in json.dumps(doc)


def test_a_size_refusal_inside_a_claim_or_sweep_is_an_unknown_case():
    from cexsearch.api import NetworkSettings, build_problem
    from cexsearch.engine.options import SearchOptions
    from cexsearch.engine.search import search_or_unknown

    p = build_problem(NetworkSettings().network("10-10-1"), 16, ["grad(W1) != 0"])  # 2^160, over 2^97 orbits
    out = search_or_unknown(p, SearchOptions(strategy="enumerate"))
    assert out.verdict == "unknown" and "far beyond exhaustive enumeration" in (out.reason or "")


def test_auto_out_of_reach_is_inconclusive_and_suggests_no_option_in_use():
    r = runner.invoke(app, ["find", "--net", "10-10-1", "--samples", "64", "-r", "grad(b2) != grad(b2)",
                            "--timeout", "2"])
    assert r.exit_code == 3, r.output
    assert "Traceback" not in r.output and "--strategy auto" not in r.output


def test_the_size_refusal_counts_symmetry_orbits_not_raw_patterns():
    import math

    from cexsearch.api import NetworkSettings, build_problem
    from cexsearch.engine.options import SearchOptions
    from cexsearch.engine.search import REACHABLE_PATTERNS, orbit_bound, search

    wide = build_problem(NetworkSettings(bias=False).network("1-16-1"), 4, ["grad(W2) == 0", "grad(W1) != 0"])
    assert orbit_bound(wide) == -(-2**64 // (math.factorial(16) * math.factorial(4)))  # samples and units move
    indexed = build_problem(NetworkSettings(bias=False).network("1-16-1"), 4, ["grad(W1)[0, 0] != 0"])
    assert orbit_bound(indexed) == -(-2**64 // math.factorial(4))  # unit 0 is named: only the samples move
    # 2^41 raw patterns (once refused), 42 orbits: decided, not turned away
    p = build_problem(NetworkSettings(bias=False).network("1-41-1"), 1, ["grad(W2) == 0", "grad(W1) != 0"])
    assert orbit_bound(p) < REACHABLE_PATTERNS < 2**41
    out = search(p, SearchOptions(strategy="enumerate", decompose=False, timeout=60))
    assert out.verdict == "none", out.reason

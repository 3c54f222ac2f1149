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


def _benchmark_instances() -> list:
    spec = importlib.util.spec_from_file_location("cexsearch_benchmarks", ROOT / "benchmarks" / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module.instances()


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
    for inst in _benchmark_instances():
        if _values(inst) > LARGEST:
            continue
        marks = [pytest.mark.slow] if inst.name in SLOW else []
        out.append(pytest.param(inst.net, inst.samples, inst.conditions, inst.settings, inst.expect, id=inst.name,
                                marks=marks))
    out.append(pytest.param("4-8-1", 6, ("grad(W2) == 0", "grad(b2) == 0", "grad(W1) != 0"), None, "found",
                            id="find 4-8-1 x 6"))
    return out


def _flags(settings) -> list[str]:  # type: ignore[no-untyped-def]
    if settings is None:
        return []
    out = ["--activation", settings.activation, "--loss", settings.loss,
           "--relu-grad-at-zero", str(settings.relu_grad_at_zero)]
    out.append("--bias" if settings.bias else "--no-bias")
    return out


def test_the_matrix_holds_the_headline_sizes():
    names = {c.id for c in _cases()}
    assert {"find 10-10-1 x 2", "find 10-10-1 x 6", "find 10-10-1 x 16", "seed001 1-1-1 x 3",
            "find 4-8-1 x 6"} <= names
    assert "find 10-10-1 x 32" not in names


@pytest.mark.parametrize(("net", "samples", "conditions", "settings", "expect"), _cases())
def test_default_command(tmp_path, net, samples, conditions, settings, expect):
    doc = tmp_path / "witness.json"
    args = ["find", "--net", net, "--samples", str(samples), *[a for c in conditions for a in ("-r", c)],
            *_flags(settings), "--json", str(doc)]
    r = runner.invoke(app, args)
    assert "Traceback" not in r.output
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    assert r.exit_code == {"found": 0, "none": 1}[expect], r.output
    if expect == "found":
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

    p = build_problem(NetworkSettings().network("10-10-1"), 6, ["grad(W1) != 0"])
    out = search_or_unknown(p, SearchOptions(strategy="enumerate"))
    assert out.verdict == "unknown" and "far beyond exhaustive enumeration" in (out.reason or "")


def test_auto_out_of_reach_is_inconclusive_and_suggests_no_option_in_use():
    r = runner.invoke(app, ["find", "--net", "10-10-1", "--samples", "64", "-r", "grad(b2) != grad(b2)",
                            "--timeout", "2"])
    assert r.exit_code == 3, r.output
    assert "Traceback" not in r.output and "--strategy auto" not in r.output

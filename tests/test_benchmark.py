"""The benchmark times the command a user types, and prints the README's table from its results."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import typer

from cexsearch.cli import app

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("benchmark_run", ROOT / "benchmarks" / "run.py")
assert _spec is not None and _spec.loader is not None
bench = importlib.util.module_from_spec(_spec)
sys.modules["benchmark_run"] = bench
_spec.loader.exec_module(bench)


def parsed_find_options(args: list[str]) -> dict:
    """The options the CLI's parser reads from a command line, without running it."""
    assert args[0] == "find"
    command = typer.main.get_command(app).commands["find"]  # type: ignore[attr-defined]
    return command.make_context("find", list(args[1:])).params


@pytest.mark.parametrize("inst", bench.instances(), ids=lambda i: i.name)
def test_every_instance_is_a_command_the_cli_accepts_with_its_settings(inst):
    if inst.claim is not None:  # timed as cexsearch check of a one-claim file, which must load
        from cexsearch.workflows.claimfile import parse_claims

        assert bench.cli_args(inst)[0] == "check"
        expect = parse_claims(f'[[claim]]\nname = "bench"\n{inst.claim}\n')[0].expect
        # the row's verdict is the claim's expectation when check settles it; "unknown" rows expect "holds"
        assert expect == (inst.expect if inst.expect in ("holds", "refuted") else "holds")
        return
    params = parsed_find_options(bench.cli_args(inst))
    assert params["net"] == inst.net and params["samples"] == ("all" if inst.every_size else str(inst.samples))
    assert tuple(params["require"]) == inst.conditions
    if inst.training is not None:
        assert params["steps"] == str(inst.training.steps)
    assert (True if params["bias"] is None else params["bias"]) == inst.settings.bias  # None: not given, biases on
    # the default flags: shrinking on, jobs and strategy the CLI's own
    assert params["shrink"] is True and params["jobs"] is None and params["strategy"] == "auto"
    assert parsed_find_options(bench.cli_args(inst, shrink=False))["shrink"] is False


def test_exit_codes_become_verdicts():
    assert [bench.cli_verdict(c, "") for c in (0, 1, 2, 3, 130, 7)] == \
        ["found", "none", "error", "unknown", "interrupted", "crash"]
    assert bench.cli_verdict(1, "Traceback (most recent call last):\n") == "crash"


def test_the_command_runs_in_its_own_process_with_its_verdict():
    found = bench.Instance("t", "1-1-1", 1, ("grad(b2) == 1",), "found")
    out = bench._run_cli(found, 120, shrink=False)
    assert out["verdict"] == "found" and out["exit_code"] == 0, out
    assert out["command"].startswith("cexsearch find --net 1-1-1") and out["command"].endswith("--no-shrink")
    assert out["search_seconds_inside"] is not None  # read back from the command's own witness document
    none = bench.Instance("n", "1-1-1", 1, ("grad(b2) == 0", "grad(W1) != 0"), "none")
    out = bench._run_cli(none, 120, shrink=True)
    assert out["verdict"] == "none" and out["exit_code"] == 1, out


def test_a_command_over_budget_is_killed_and_unknown():
    # (1-10-1 x 4 without bias, once a minute's proof, is decided in half a second since decomposition:
    # it raced the budget.)  This one runs for more than 8 s:
    slow = bench.Instance("s", "3-6-1", 4, ("grad(W2) == 0", "grad(b2) == 0", "not (grad(W1) == 0)", "all(x > 0)",
                                            "all(y > 0)", "all(W1 > 0)"), "none")
    out = bench._run_cli(slow, 0.5, shrink=True)  # far beyond this budget
    assert out["verdict"] == "unknown" and out["killed_at_budget"] is True


def _row(**kw):  # type: ignore[no-untyped-def]
    row = {"instance": "find 1-1-1 x 3", "expect": "found", "target_seconds": 1.0, "peak_mib": 90.4,
           "cli": {"verdict": "found", "seconds": 2.0}, "cli_no_shrink": {"verdict": "found", "seconds": 1.5},
           "auto": {"verdict": "found", "seconds": 0.1}}
    row.update(kw)
    row["shrink_seconds"] = bench.shrink_seconds(row)
    return row


def test_the_shrink_share_is_the_difference_of_the_two_commands():
    assert bench.shrink_seconds(_row()) == pytest.approx(0.5)
    assert bench.shrink_seconds(_row(cli_no_shrink={"verdict": "found", "seconds": 2.5})) == 0.0  # noise, not < 0
    assert bench.shrink_seconds(_row(cli={"verdict": "error", "seconds": 0.2})) is None
    proof = _row(expect="none", cli={"verdict": "none", "seconds": 1.0})
    del proof["cli_no_shrink"]
    assert bench.shrink_seconds(proof) is None


def test_markdown_prints_the_readme_table_from_the_results(tmp_path, capsys):
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"summary": {}, "rows": [_row()]}))
    assert bench.markdown(str(path)) == 0
    header, rule, line = capsys.readouterr().out.strip().splitlines()
    assert "`cexsearch find` (default)" in header and "shrink s" in header
    assert header.count("|") == rule.count("|") == line.count("|")
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[:5] == ["find 1-1-1 x 3", "found", "found 2.00", "0.50 (25%)", "found 0.10"]
    assert cells[-2:] == ["1.0", "90"]


def test_markdown_without_results_says_so(tmp_path, capsys):
    assert bench.markdown(str(tmp_path / "missing.json")) == 2
    assert "run python benchmarks/run.py first" in capsys.readouterr().err


def test_the_proofs_benchmark_times_every_variant_of_a_row(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("benchmark_proofs", ROOT / "benchmarks" / "proofs.py")
    assert spec is not None and spec.loader is not None
    proofs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(proofs)
    for row in proofs.ROWS:  # every row's command, with every variant, is one the CLI reads
        for extra in proofs.VARIANTS.values():
            parsed_find_options(proofs.command(row, extra, 60.0))
    out = tmp_path / "proofs.json"
    monkeypatch.setattr(sys, "argv", ["proofs.py", "--only", "2-8-1", "--no-naive", "--json", str(out)])
    assert proofs.main() == 0
    doc = json.loads(out.read_text())
    (row,) = doc["rows"]
    assert {k: v["verdict"] for k, v in row["results"].items()} == \
        {"default": "none", "learning only": "none", "learning only, --jobs 1": "none"}
    assert row["jobs2_ratio"] > 0 and doc["summary"]["wrong"] == []

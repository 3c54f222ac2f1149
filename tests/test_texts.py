"""What the CLI says about counts and unknowns reads right: no count rounded down, no reason nested in itself."""

from __future__ import annotations

import time

from cexsearch.api import NetworkSettings, build_problem
from cexsearch.engine.options import SearchOptions
from cexsearch.engine.search import pattern_count_text, run_subtree, search

HARD = ["grad(W2) == 0", "grad(W1) != 0"]  # 1-10-1 without bias at 3 samples: a long proof of 'none'


def test_pattern_counts_are_never_rounded_down_to_a_power_of_two():
    assert pattern_count_text(12) == "12"
    assert pattern_count_text(2**30) == "2^30"
    assert pattern_count_text(2**640) == "2^640"
    # 2^30 minus what a search reached: printed as "2^29" before, half of the real count
    assert pattern_count_text(2**30 - 2326528) == "1071415296"
    assert pattern_count_text(2**40 - 3) == "about 2^40.00"
    assert pattern_count_text(3 * 2**60) == "about 2^61.58"


def test_a_subtree_reports_its_reasons_not_its_own_count():
    p = build_problem(NetworkSettings(bias=False).network("1-10-1"), 3, HARD)
    verdict, _, _, why, _, _ = run_subtree(p, SearchOptions(strategy="enumerate", learn=False), (), time.time())
    assert verdict == "unknown"
    assert why == ["timeout"]


def test_a_parallel_unknown_names_its_count_once():
    p = build_problem(NetworkSettings(bias=False).network("1-10-1"), 3, HARD)
    # without learning or decomposition: either settles this proof within the second
    out = search(p, SearchOptions(strategy="enumerate", jobs=2, timeout=1.0, learn=False, decompose=False))
    assert out.verdict == "unknown"
    reason = out.reason or ""
    assert reason.count("patterns undecided") == 1, reason
    assert reason.endswith("(timeout)"), reason


def test_verify_of_a_check_report_says_what_the_file_is(tmp_path):
    import json

    from typer.testing import CliRunner

    from cexsearch.cli import app

    path = tmp_path / "report.json"
    path.write_text(json.dumps({"schema": "cexsearch.check/1", "claims": []}), encoding="utf-8")
    result = CliRunner().invoke(app, ["verify", str(path)])
    assert result.exit_code == 2
    # before: "unknown schema version 'cexsearch.check/1'", as if the file came from another version
    assert "a check report" in result.output and "not a witness document" in result.output
    assert "version" not in result.output

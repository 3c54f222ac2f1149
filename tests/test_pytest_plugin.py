"""The pytest plugin: claim files collected as test items, run as any test is.

The inner runs load the plugin with ``-p cexsearch.pytest_plugin`` (and block the entry
point's name, so an installed entry point does not register it twice).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest

import cexsearch.workflows.claims as claims_mod
from cexsearch.workflows.claim import Claim
from cexsearch.workflows.claimfile import load_claims
from cexsearch.workflows.claims import check_claim

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = ("-p", "no:cexsearch", "-p", "cexsearch.pytest_plugin")

BATCH = """
[[claim]]
name = "batch refutes"
net = "1-1-1"
samples = "1..3"
given = ["grad(W2) == 0", "grad(b2) == 0"]
then = ["grad(W1) == 0", "grad(b1) == 0"]
expect = "refuted"

[[claim]]
name = "one sample holds"
net = ["1-1-1", "1-2-1"]
samples = 1
given = ["grad(b2) == 0"]
then = ["grad(W1) == 0"]
expect = "holds"
"""

WRONG = """
[[claim]]
name = "wrongly believed"
net = "1-1-1"
samples = "1..2"
given = ["grad(W2) == 0", "grad(b2) == 0"]
then = ["grad(W1) == 0", "grad(b1) == 0"]
expect = "holds"

[[claim]]
name = "wrongly doubted"
net = "1-1-1"
samples = 1
given = ["grad(b2) == 0"]
then = ["grad(W1) == 0"]
expect = "refuted"
"""

UNDECIDED = """
[[claim]]
name = "undecided"
net = "2-4-1"
samples = 3
timeout = 0.001
given = ["grad(W2) == 0", "grad(b2) == 0"]
then = ["grad(W1) == 0"]
expect = "holds"
"""


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest(*PLUGIN, "--cexsearch-shrink-time=0", *args)


def test_entry_point_and_xdist_are_declared():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["entry-points"]["pytest11"]["cexsearch"] == "cexsearch.pytest_plugin"
    assert any(d.startswith("pytest-xdist") for d in project["project"]["optional-dependencies"]["dev"])
    assert project["tool"]["cexsearch"]["claims"] == ["examples/*.toml"]


def test_files_collected_by_name_by_pyproject_and_by_argument(pytester):
    for name in ("my_claims.toml", "claims.toml", "claims_more.toml", "other.toml", "listed/q.toml", "given.toml"):
        path = pytester.path / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(BATCH.replace("batch refutes", f"batch refutes {path.stem}"), encoding="utf-8")
    pytester.makepyprojecttoml('[tool.cexsearch]\nclaims = ["listed/*.toml"]\n')
    result = run(pytester, "--collect-only", "-q")
    out = result.stdout.str()
    for name in ("my_claims.toml", "claims.toml", "claims_more.toml", "listed/q.toml"):
        assert f"{name}::batch refutes" in out, name
    assert "other.toml" not in out and "given.toml" not in out
    assert "20 tests collected" in out  # four files of five items each
    result = run(pytester, "--collect-only", "-q", "given.toml")  # a file given by name is a claim file
    assert "given.toml::batch refutes given[1-1-1 x 1]" in result.stdout.str()
    assert "5 tests collected" in result.stdout.str()


def test_one_item_per_claim_and_size_named_by_the_claim(pytester):
    pytester.makefile(".toml", my_claims=BATCH)
    result = run(pytester, "--collect-only", "-q")
    assert result.stdout.lines[:5] == [
        "my_claims.toml::batch refutes[1-1-1 x 1]",
        "my_claims.toml::batch refutes[1-1-1 x 2]",
        "my_claims.toml::batch refutes[1-1-1 x 3]",
        "my_claims.toml::one sample holds[1-1-1 x 1]",
        "my_claims.toml::one sample holds[1-2-1 x 1]",
    ]


def test_a_claim_refuted_at_some_size_passes_at_every_size(pytester):
    pytester.makefile(".toml", my_claims=BATCH)
    result = run(pytester, "-v", "--cexsearch-no-store")
    result.assert_outcomes(passed=5)


def test_failures_show_verdict_expectation_and_witness_without_a_traceback(pytester):
    pytester.makefile(".toml", my_claims=WRONG)
    result = run(pytester, "--cexsearch-no-store")
    result.assert_outcomes(passed=1, failed=2)
    out = result.stdout.str()
    assert "wrongly believed: refuted, expected holds (witness at 1-1-1 x 2: W1=" in out
    assert "grad(W1)=" in out  # the witness's gradients, exact
    assert "wrongly doubted: holds, expected refuted" in out
    assert "claim at my_claims.toml:1" in out  # the claim's place
    assert "Traceback" not in out and "def runtest" not in out and ".py:" not in out


def test_unknown_fails_by_default_and_xfails_by_option_or_ini(pytester):
    pytester.makefile(".toml", my_claims=UNDECIDED)
    result = run(pytester, "--cexsearch-no-store")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*undecided: unknown, expected holds (2-4-1 x 3: *timeout*"])
    run(pytester, "--cexsearch-no-store", "--cexsearch-unknown=xfail").assert_outcomes(xfailed=1)
    pytester.makeini("[pytest]\ncexsearch_unknown = xfail\n")
    run(pytester, "--cexsearch-no-store").assert_outcomes(xfailed=1)
    run(pytester, "--cexsearch-no-store", "--cexsearch-unknown=fail").assert_outcomes(failed=1)


def test_bad_settings_are_one_line_usage_errors(pytester):
    pytester.makefile(".toml", my_claims=BATCH)
    result = run(pytester, "--cexsearch-timeout=soon")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--cexsearch-timeout 'soon' must be a positive number of seconds*"])
    pytester.makeini("[pytest]\ncexsearch_unknown = skip\n")
    result = run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*cexsearch_unknown = 'skip' must be 'fail' or 'xfail'*"])
    pytester.makeini("[pytest]\n")
    pytester.makepyprojecttoml('[tool.cexsearch]\nclaims = "examples/*.toml"\n')
    result = run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "pyproject.toml: [tool.cexsearch] claims must be a list of paths or globs, got" in result.stderr.str()
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_a_bad_claim_file_is_a_collection_error_naming_file_and_line(pytester):
    pytester.makefile(".toml", bad_claims='[[claim]]\nname = "x"\nnett = "1-1-1"\n')
    result = run(pytester)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    out = result.stdout.str()
    assert "bad_claims.toml:3: claim 'x': unknown key 'nett' (did you mean 'net'?)" in out
    assert "Traceback" not in out and "claims.py" not in out


def test_exitfirst_and_last_failed(pytester):
    pytester.makefile(".toml", my_claims=WRONG + BATCH)
    run(pytester, "--cexsearch-no-store", "-x").assert_outcomes(passed=1, failed=1)  # holds at 1 sample, not at 2
    run(pytester, "--cexsearch-no-store").assert_outcomes(passed=6, failed=2)
    result = run(pytester, "--cexsearch-no-store", "--lf")
    result.assert_outcomes(failed=2)
    assert "rerun previous 2 failures" in result.stdout.str()


def test_keyword_selection_markers_and_junitxml(pytester):
    marked = BATCH.replace('expect = "holds"', 'expect = "holds"\nmarkers = ["slow"]')
    pytester.makefile(".toml", my_claims=marked)
    pytester.makeini("[pytest]\nmarkers =\n    slow: slow claims\n")
    run(pytester, "--cexsearch-no-store", "-k", "batch and 2").assert_outcomes(passed=1)
    run(pytester, "--cexsearch-no-store", "-m", "not slow").assert_outcomes(passed=3)
    run(pytester, "--cexsearch-no-store", "-m", "slow and cexsearch").assert_outcomes(passed=2)
    run(pytester, "--cexsearch-no-store", "--junitxml=out.xml").assert_outcomes(passed=5)
    xml = (pytester.path / "out.xml").read_text(encoding="utf-8")
    assert 'name="batch refutes[1-1-1 x 2]"' in xml
    assert '<property name="verdict" value="refuted" />' in xml and '<property name="expected" value="holds" />' in xml


def test_an_unregistered_marker_under_strict_markers_is_a_collection_error(pytester):
    pytester.makefile(".toml", my_claims=BATCH.replace('expect = "holds"', 'expect = "holds"\nmarkers = ["slo"]'))
    result = run(pytester, "--strict-markers")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*my_claims.toml:9: claim 'one sample holds': *'slo' not found in `markers`*"])


def test_the_witness_store_is_shared_with_check(pytester, monkeypatch):
    pytester.makefile(".toml", my_claims=BATCH)
    store = pytester.path / ".cexsearch" / "witnesses"
    run(pytester).assert_outcomes(passed=5)
    claim = load_claims(pytester.path / "my_claims.toml")[0]
    assert [p.name for p in store.iterdir()] == ["batch-refutes.json"]
    replayed = check_claim(claim, store=store)  # check replays what pytest kept
    assert replayed.verdict == "refuted" and replayed.cases[0].replayed
    assert (replayed.cases[0].net, replayed.cases[0].samples) == ("1-1-1", 2)

    def no_search(*args, **kwargs):
        raise AssertionError("searched although the store holds a witness")

    (store / "batch-refutes.json").unlink()
    check_claim(claim, store=store)  # check keeps a witness, pytest replays it without a search
    monkeypatch.setattr(claims_mod, "search_or_unknown", no_search)
    run(pytester, "-k", "batch").assert_outcomes(passed=3)
    run(pytester, "-k", "batch", "--cexsearch-no-store").assert_outcomes(failed=3)


def test_store_option_and_ini(pytester):
    pytester.makefile(".toml", my_claims=BATCH)
    run(pytester, "--cexsearch-store=elsewhere").assert_outcomes(passed=5)
    assert (pytester.path / "elsewhere" / "batch-refutes.json").is_file()
    pytester.makeini("[pytest]\ncexsearch_store = kept\n")
    run(pytester).assert_outcomes(passed=5)
    assert (pytester.path / "kept" / "batch-refutes.json").is_file()
    assert not (pytester.path / ".cexsearch").exists()


@pytest.mark.slow  # two worker processes start, each importing the engine: seconds on a loaded machine
def test_xdist_spreads_claim_items_over_workers(pytester, monkeypatch):
    pytest.importorskip("xdist", reason="install the dev extra: pip install pytest-xdist")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    pytester.makefile(".toml", my_claims=WRONG + BATCH)
    result = pytester.runpytest_subprocess(*PLUGIN, "-n", "2", "--cexsearch-no-store", "--cexsearch-shrink-time=0")
    result.assert_outcomes(passed=6, failed=2)
    out = result.stdout.str()
    assert "2 workers" in out
    assert "wrongly believed: refuted, expected holds (witness at 1-1-1 x 2" in out


LIGHT_TEST = """
import sys

def test_engine_not_imported(request):
    assert request.config.pluginmanager.has_plugin("cexsearch.pytest_plugin")
    heavy = [m for m in ("z3", "numpy", "cexsearch.engine.search", "cexsearch.workflows.claims") if m in sys.modules]
    assert heavy == []
"""


def test_a_run_without_claim_files_imports_nothing_heavy(pytester, monkeypatch):
    """The plugin costs nothing where no claim file is collected: checked by sys.modules, not by time."""
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")  # only this plugin
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    pytester.makepyfile(test_light=LIGHT_TEST)
    pytester.makefile(".toml", settings='[tool]\nname = "not a claim file"\n')  # a .toml not matching
    pytester.makepyprojecttoml('[tool.cexsearch]\nclaims = ["listed/*.toml"]\n')
    result = pytester.runpytest_subprocess("-p", "cexsearch.pytest_plugin", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    # the same check fails once a claim file is collected: it can tell
    pytester.makefile(".toml", my_claims=BATCH)
    result = pytester.runpytest_subprocess("-p", "cexsearch.pytest_plugin", "-p", "no:cacheprovider", "test_light.py",
                                           "my_claims.toml", "--cexsearch-no-store", "-k", "light")
    result.assert_outcomes(failed=1, deselected=5)
    # collecting a claim file reads it (numpy, for its values); Z3 and the search wait for an item to run
    result.stdout.fnmatch_lines(["*Left contains one more item: 'numpy'*"])


def test_check_claim_unchanged_by_decide_case():
    """check still decides every size in order and skips the sizes after a witness on the same network."""
    claim = Claim(name="batch", net="1-1-1", samples="1..3", given=["grad(W2) == 0", "grad(b2) == 0"],
                  then=["grad(W1) == 0", "grad(b1) == 0"], expect="refuted")
    result = check_claim(claim)
    assert [(c.samples, c.verdict) for c in result.cases] == [(1, "holds"), (2, "refuted"), (3, "skipped")]

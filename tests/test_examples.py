"""Every claim file in examples/ is decided and every verdict is the expected one.

The verdicts are taken through the pytest plugin (``pytest examples/``, one item per claim and
size) and compared with :func:`check_claim`'s (``cexsearch check examples/*.toml``).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from cexsearch.workflows.claim import Claim
from cexsearch.workflows.claimfile import load_claims
from cexsearch.workflows.claims import ClaimOutcome, check_claim

pytest_plugins = ["pytester"]

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
CLAIMS = [(f.name, c) for f in sorted(EXAMPLES.glob("*.toml")) for c in load_claims(f)]


def test_every_example_file_is_documented_and_holds_claims():
    # examples/README.md answers each file; a file it does not name, or names but that is
    # missing or empty, would be a question nobody decides
    documented = set(re.findall(r"^File: `([^`]+\.toml)`", (EXAMPLES / "README.md").read_text(), re.MULTILINE))
    on_disk = {f.name for f in EXAMPLES.glob("*.toml")}
    assert documented == on_disk
    assert {f for f, _ in CLAIMS} == on_disk
    assert {c.expect for _, c in CLAIMS} == {"holds", "refuted"}


_CHECKED: dict[tuple[str | None, str], ClaimOutcome] = {}


def checked(claim: Claim) -> ClaimOutcome:
    """``check_claim`` once per claim, for the tests that read its outcome."""
    key = (claim.file, claim.name)
    if key not in _CHECKED:
        _CHECKED[key] = check_claim(claim)
    return _CHECKED[key]


def test_examples_as_pytest_items_have_the_verdicts_of_check(pytester):
    """``pytest examples/`` (the plugin, as the project's pyproject configures it) passes every item,
    and each claim's items carry the verdict ``cexsearch check`` gives it."""
    shutil.copytree(EXAMPLES, pytester.path / "examples")
    pytester.makepyprojecttoml('[tool.cexsearch]\nclaims = ["examples/*.toml"]\n')
    recorder = pytester.inline_run("-p", "no:cexsearch", "-p", "cexsearch.pytest_plugin", "examples",
                                   "--cexsearch-no-store", "--cexsearch-shrink-time=0", "-p", "no:cacheprovider")
    reports = [r for r in recorder.getreports("pytest_runtest_logreport") if r.when == "call"]
    assert not [r.longreprtext for r in reports if not r.passed]
    assert len(reports) == sum(len(c.net) * len(c.samples) for _, c in CLAIMS)
    for file, claim in CLAIMS:
        mine = [dict(r.user_properties) for r in reports if r.nodeid.startswith(f"examples/{file}::{claim.name}[")]
        assert len(mine) == len(claim.net) * len(claim.samples)
        assert {m["verdict"] for m in mine} == {checked(claim).verdict} == {claim.expect}, claim.name


@pytest.mark.parametrize("claim", [c for _, c in CLAIMS], ids=[f"{f}:{c.name}" for f, c in CLAIMS])
def test_cross_checks_agree_on_every_example(claim):
    """PyTorch recomputes every refuting witness; cvc5 re-decides every proof at the claim's smallest size."""
    from cexsearch.engine.search import if_encoded_constraints
    from cexsearch.workflows import crosscheck

    result = checked(claim)
    assert result.verdict == claim.expect, result.reason
    if result.verdict == "refuted":
        assert result.witness is not None and result.witness.recheck is not None
        w = result.witness
        if w.certificate is not None:  # over the reals: the box is the proof, torch recomputes its centre
            from cexsearch.semantics.certify import check_certificate

            assert w.domain == "real" and check_certificate(w.problem, w.certificate)
        else:
            assert w.recheck.confirmed
        pytest.importorskip("torch", reason="install the torch extra: pip install torch==2.13.0")
        report = crosscheck.torch_cross_check(w.witness, w.recheck.evaluation.gradients)
        assert report.agrees, report.note
    else:
        pytest.importorskip("cvc5", reason="install the cvc5 extra: pip install cvc5")
        network = claim.networks()[0]
        if claim.invariant:  # the base case is a proof of one gradient; the induction steps, below
            from cexsearch.workflows.invariant import problems

            proofs = [problems(claim, network, claim.samples[0]).base]
        else:
            proofs = [claim.problem(network, claim.samples[0])]
        # A training run's queries are nonlinear in lr, where cvc5 answers unknown after its budget (20 s
        # each): they are cross-checked by the torch training loop on their witnesses instead.
        for problem in [p for p in proofs if p.training is None]:
            report = crosscheck.cvc5_cross_check_pattern(if_encoded_constraints(problem), "unsat", 20_000)
            assert report.status != "disagree", report.describe()

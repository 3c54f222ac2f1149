"""Every claim file in examples/ is decided and every verdict is the expected one."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cexsearch.claims import check_claim, load_claims

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


@pytest.mark.parametrize("claim", [c for _, c in CLAIMS], ids=[f"{f}:{c.name}" for f, c in CLAIMS])
def test_example_claim_verdict(claim):
    result = check_claim(claim)
    assert result.verdict == claim.expect, result.reason
    if result.verdict == "refuted":
        assert result.witness is not None and result.witness.recheck is not None
        assert result.witness.recheck.confirmed


@pytest.mark.parametrize("claim", [c for _, c in CLAIMS], ids=[f"{f}:{c.name}" for f, c in CLAIMS])
def test_cross_checks_agree_on_every_example(claim):
    """PyTorch recomputes every refuting witness; cvc5 re-decides every proof at the claim's smallest size."""
    from cexsearch import crosscheck
    from cexsearch.search import if_encoded_constraints

    result = check_claim(claim)
    if result.verdict == "refuted":
        pytest.importorskip("torch", reason="install the torch extra: pip install torch==2.13.0")
        w = result.witness
        report = crosscheck.torch_cross_check(w.witness, w.recheck.evaluation.gradients)
        assert report.agrees, report.note
    else:
        pytest.importorskip("cvc5", reason="install the cvc5 extra: pip install cvc5")
        network = claim.networks()[0]
        problem = claim.problem(network, claim.samples[0])
        report = crosscheck.cvc5_cross_check_pattern(if_encoded_constraints(problem), "unsat", 20_000)
        assert report.status != "disagree", report.describe()

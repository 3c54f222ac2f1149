"""Every claim file in examples/ is decided and every verdict is the expected one."""

from __future__ import annotations

from pathlib import Path

import pytest

from cexsearch.claims import check_claim, load_claims

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
CLAIMS = [(f.name, c) for f in sorted(EXAMPLES.glob("*.toml")) for c in load_claims(f)]


def test_there_are_examples():
    assert len(CLAIMS) >= 10


@pytest.mark.parametrize("claim", [c for _, c in CLAIMS], ids=[f"{f}:{c.name}" for f, c in CLAIMS])
def test_example_claim_verdict(claim):
    result = check_claim(claim)
    assert result.verdict == claim.expect, result.reason
    if result.verdict == "refuted":
        assert result.witness is not None and result.witness.recheck is not None
        assert result.witness.recheck.confirmed

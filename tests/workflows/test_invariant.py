"""Invariants proven by induction over the steps of training, and claims for every batch size."""

from __future__ import annotations

import pytest

from cexsearch.errors import ClaimFileError
from cexsearch.workflows.claim import Claim
from cexsearch.workflows.claims import check_claim
from cexsearch.workflows.invariant import problems

ZERO = ["W1 == 0", "b1 == 0", "W2 == 0"]


def test_an_inductive_invariant_holds_for_every_step():
    c = Claim(name="zero stays zero", net="2-3-1", samples="1..2", given=ZERO, invariant=ZERO, expect="holds")
    r = check_claim(c)
    assert r.verdict == "holds" and "holds for every step" in r.scope


def test_an_invariant_a_run_breaks_is_refuted_with_the_run():
    # W2 = 0 is not kept: grad(W2) = delta * a moves it when a unit is active
    c = Claim(name="W2 stays 0", net="1-2-1", samples="1..2", given=["W2 == 0"], invariant=["W2 == 0"],
              expect="refuted")
    r = check_claim(c)
    assert r.verdict == "refuted"
    run = r.witness.recheck.run
    assert run is not None and any(v != 0 for v in run.params[-1]["W2"].reshape(-1))


def test_a_true_invariant_that_is_not_inductive_is_never_reported_as_holding():
    # From W1 = b1 = W2 = 0, W2 never moves, so W2 <= 1 holds at every step; but one step from
    # another state with W2 <= 1 (a live unit) can take W2 above 1: not inductive, so not proven.
    c = Claim(name="W2 <= 1", net="1-1-1", samples=1, given=ZERO, invariant=["W2 <= 1"], expect="holds")
    r = check_claim(c)
    assert r.verdict == "unknown"
    assert "not proven: not inductive" in r.reason
    cti = r.counterexample
    assert cti is not None and cti.recheck.confirmed  # the counterexample to induction, replayed exactly
    w2 = cti.recheck.run.params
    assert w2[0]["W2"][0, 0] <= 1 < w2[1]["W2"][0, 0]


def test_sgd_induction_checks_every_start_of_the_batch_cycle():
    c = Claim(name="sgd", net="1-2-1", samples=3, optimizer="sgd", batch_size=2, given=ZERO, invariant=ZERO,
              expect="holds")
    parts = problems(c, c.networks()[0], 3)
    # batches start at 0, 2, 1 (= 4 mod 3): three induction steps
    assert sorted(p.training.first for p in parts.steps) == [0, 1, 2]
    assert check_claim(c).verdict == "holds"


@pytest.mark.parametrize("keys, message", [
    ({"fix": {"W2": "0"}}, "cannot fix W2"),
    ({"momentum": "1/2"}, "an invariant with momentum"),
    ({"then": ["grad(W1) == 0"]}, "then or invariant, not both"),
])
def test_invariant_claims_refuse_what_the_induction_cannot_use(keys, message):
    base = dict(name="bad", net="1-2-1", samples=1, given=ZERO, invariant=ZERO, expect="holds")
    base.update(keys)
    with pytest.raises(ClaimFileError, match=message):
        Claim(**base).validate()


def test_every_batch_size_from_one_sample():
    c = Claim(name="all", net="2-3-1", samples="all", given=["W2 == 0"], then=["grad(W1) == 0"], expect="holds")
    r = check_claim(c)
    assert r.verdict == "holds" and "for every batch size" in r.scope
    assert r.size_text == "2-3-1 x all"
    # the argument in allsizes.py, tested where it matters: the claim also holds at 3 samples
    c3 = Claim(name="3", net="2-3-1", samples=3, given=["W2 == 0"], then=["grad(W1) == 0"], expect="holds")
    assert check_claim(c3).verdict == "holds"


@pytest.mark.parametrize("keys, message", [
    # seed 000: holds at one sample, fails for a batch; its given reads gradients, so it is refused
    ({"given": ["grad(W2) == 0", "grad(b2) == 0"], "then": ["grad(W1) == 0"]}, "given 'grad\\(W2\\) == 0'"),
    ({"given": [], "then": ["grad(W1) != 0"]}, "not an equality"),
    ({"given": [], "then": ["grad(W1) * grad(W1) == 0"]}, "multiplies gradients"),
    ({"given": [], "then": ["yhat == y"]}, "reads yhat"),
    ({"given": [], "then": ["grad(b1) == 0"], "fix": {"x": "1"}}, "fixes data"),
    ({"given": [], "then": ["grad@1(W1) == 0"], "steps": 1}, "not a training run"),
    ({"given": [], "then": ["grad(W1) == W1"], "loss": "sse"}, "sums over samples"),
])
def test_every_batch_size_refuses_other_forms_by_name(keys, message):
    base = dict(name="bad", net="1-2-1", samples="all", expect="holds")
    base.update(keys)
    with pytest.raises(ClaimFileError, match=message):
        Claim(**base)


def test_every_batch_size_takes_any_optimizer_s_batch():
    # decided at one sample: a batch of 2 cannot be drawn from it, and need not be (a batch is a dataset)
    c = Claim(name="sgd all", net="10-10-1", samples="all", optimizer="sgd", batch_size=2, given=ZERO,
              invariant=ZERO, expect="holds")
    assert check_claim(c).verdict == "holds"

"""Decomposition (engine/decompose.py): a claim that separates unit by unit is proved on one unit, and
only such a claim; every verdict agrees with plain enumeration."""

from __future__ import annotations

import pytest

from cexsearch.api import NetworkSettings, build_problem
from cexsearch.engine.decompose import unit_relaxation
from cexsearch.engine.options import SearchOptions
from cexsearch.engine.search import search

S = NetworkSettings
NOBIAS = S(bias=False)
HARD = ["grad(W2) == 0", "grad(W1) != 0"]

# (net, settings, samples, conditions): the relaxation applies to each
SEPARABLE = [
    ("1-2-1", NOBIAS, 2, HARD),
    ("1-3-1", NOBIAS, 2, HARD),
    ("1-2-1", NOBIAS, 3, HARD),
    ("2-2-1", S(), 2, ["grad(W2) == 0", "grad(b2) == 0", "grad(b1) != 0"]),
    ("1-2-1", S(), 3, ["grad(W2) == 0", "grad(b2) == 0", "grad(W1) != 0"]),
    ("1-2-1", S(bias=False, relu_grad_at_zero=1), 2, HARD),
    ("1-2-1", S(bias=False, activation="leaky_relu"), 2, HARD),
    ("1-2-1", S(loss="sse"), 2, ["grad(b2) == 0", "grad(W2) != 0"]),
    ("2-2-1", S(), 1, ["grad(b2) == 0", "grad(W1) != 0"]),
    ("1-3-1", NOBIAS, 2, ["grad(W2) == 0", "not (grad(W1) == 0)"]),  # a claim's negated 'then'
]


@pytest.mark.parametrize("net, settings, M, conds", SEPARABLE, ids=[f"{c[0]}x{c[2]}-{i}" for i, c in enumerate(SEPARABLE)])
def test_the_verdict_is_plain_enumerations(net, settings, M, conds):
    p = build_problem(settings.network(net), M, conds)
    assert unit_relaxation(p) is not None
    plain = search(p, SearchOptions(strategy="enumerate-plain"))
    for strategy in ("enumerate", "auto"):
        out = search(p, SearchOptions(strategy=strategy))
        assert out.verdict == plain.verdict, (strategy, out.reason)
        if out.stats.strategy == "decompose":
            assert out.verdict == "none"
            assert out.stats.by_decomposition == out.stats.total_patterns and out.stats.remaining == 0
            assert sum(n for _, _, n in out.audit) == out.stats.total_patterns


def test_a_proof_at_a_width_far_beyond_enumeration():
    p = build_problem(NOBIAS.network("1-100-1"), 3, HARD)  # 2^300 patterns
    out = search(p, SearchOptions(strategy="enumerate"))
    assert out.verdict == "none" and out.stats.strategy == "decompose"
    assert out.audit[0][0] == "*" and "single-unit network 1-1-1" in out.audit[0][1]
    off = search(build_problem(NOBIAS.network("1-6-1"), 2, HARD), SearchOptions(strategy="enumerate", decompose=False))
    assert off.verdict == "none" and off.stats.by_decomposition == 0


def test_a_witness_of_the_single_unit_problem_proves_nothing():
    # relu'(0) = 1 without bias: the single unit has a witness, so the search runs as usual and finds one
    p = build_problem(S(bias=False, relu_grad_at_zero=1).network("1-2-1"), 2, HARD)
    out = search(p, SearchOptions(strategy="enumerate"))
    assert out.verdict == "found" and out.stats.strategy != "decompose"


@pytest.mark.parametrize("net, settings, conds, fixes, why", [
    ("1-2-1", NOBIAS, ["grad(W2) == 0", "grad(W1) != 0", "grad(W2) != 0"], [], "two != could hold at two units"),
    ("1-2-1", NOBIAS, ["grad(W2) == 0", "grad(W1)[0, 0] != 0"], [], "an entry, not a whole tensor"),
    ("1-2-1", NOBIAS, ["all(grad(W2) == 0)", "grad(W1) != 0"], [], "inside all()"),
    ("1-2-1", NOBIAS, ["grad(W2) == 0", "grad(W1) != 1"], [], "against 1, not 0"),
    ("1-2-1", NOBIAS, ["yhat == y", "grad(W1) != 0"], [], "y and yhat"),
    ("1-2-1", NOBIAS, HARD, ["y=[[1],[2]]"], "a fixed y: the residual is not free"),
    ("1-2-2-1", NOBIAS, ["grad(W3) == 0", "grad(W1) != 0"], [], "two hidden layers"),
    ("1-2-2", NOBIAS, HARD, [], "two outputs"),
    ("1-1-1", NOBIAS, HARD, [], "already one unit"),
    ("1-2-1", NOBIAS, ["grad(W2) == 0", "not (grad(W1) == 0 and grad(W2) == 0)"], [], "a negated conjunction"),
    ("1-2-1", NOBIAS, ["not (grad(W2) != 0)", "grad(W1) != 0", "not (grad(W1) == 0)"], [], "two != once negated"),
])
def test_only_the_separable_form_is_relaxed(net, settings, conds, fixes, why):
    p = build_problem(settings.network(net), 2, conds, fixes)
    assert unit_relaxation(p) is None, why


def test_a_bounded_or_integer_domain_is_not_relaxed():
    from fractions import Fraction

    net = NOBIAS.network("1-2-1")
    assert unit_relaxation(build_problem(net, 2, HARD, bound=Fraction(3))) is None
    assert unit_relaxation(build_problem(net, 2, HARD, integers=True)) is None


def test_two_differences_are_refused_and_searched_as_usual():
    # grad(W1) != 0 and grad(W2) != 0 may hold at different units, so no single unit need have both
    conds = ["grad(b2) == 0", "grad(W1) != 0", "grad(W2) != 0"]
    p = build_problem(S().network("1-2-1"), 2, conds)
    assert unit_relaxation(p) is None
    assert search(p, SearchOptions(strategy="enumerate")).verdict == "found"


def test_training_problems_are_never_decomposed():
    from cexsearch.api import NetworkSettings, build_problem
    from cexsearch.engine.decompose import unit_relaxation
    from cexsearch.model.training import Training

    net = NetworkSettings(bias=False).network("1-3-1")
    for conds in (["grad(W2) == 0", "grad(W1) != 0"], ["grad@1(W2) == 0", "grad@1(W1) != 0"]):
        assert unit_relaxation(build_problem(net, 2, conds, training=Training(1))) is None

"""Shrinking never loses a witness: on random problems, with some values fixed and some free, at sizes
whose grid of free values fits :data:`cexsearch.engine.grid.MAX_POINTS` and sizes far above it, the result is
a witness the exact re-check confirms against the person's own problem, and nothing raises."""

from __future__ import annotations

import math
from dataclasses import replace
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from cexsearch.api import NetworkSettings, build_problem
from cexsearch.engine import grid
from cexsearch.engine.options import SearchOptions
from cexsearch.engine.search import search
from cexsearch.model.network import entries
from cexsearch.model.problem import FixedValues
from cexsearch.semantics import numeric
from cexsearch.workflows.shrink import Exhaustive, shrink, small

CONDITIONS = ["grad(b2) != 0", "grad(W2) == 0", "grad(W1) != 0", "yhat != y", "grad(b2) == 0", "grad(W2) != 0"]
# 1-1-1 x 1 has 6 values (3^6 grid points), 3-4-1 x 4 has 57 (3^57, far above grid.MAX_POINTS)
NETS = ["1-1-1", "1-2-1", "2-2-1", "3-4-1", "2-3-2"]


@st.composite
def problems(draw):  # type: ignore[no-untyped-def]
    net_text = draw(st.sampled_from(NETS))
    samples = draw(st.integers(1, 4))
    network = NetworkSettings(relu_grad_at_zero=draw(st.integers(0, 1))).network(net_text)
    conditions = draw(st.lists(st.sampled_from(CONDITIONS), min_size=1, max_size=2, unique=True))
    names = list(network.variable_names())
    fix_names = draw(st.lists(st.sampled_from(names), max_size=3, unique=True))
    fixed = []
    for name in fix_names:
        for idx in entries(network.shape(name, samples)):
            fixed.append((name, idx, Fraction(draw(st.integers(-3, 3)))))
    problem = build_problem(network, samples, conditions)
    return replace(problem, fixed=FixedValues(tuple(sorted(fixed))))


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(problems())
def test_shrinking_keeps_a_confirmed_witness_of_the_original_problem(problem):
    found = search(problem, SearchOptions(timeout=20, rlimit=2_000_000, jobs=1))
    assume(found.verdict == "found")
    result = shrink(problem, found, SearchOptions(jobs=1), time_limit=60)
    out = result.outcome
    assert out.verdict == "found" and out.witness is not None
    assert out.problem == problem
    assert numeric.recheck(problem, out.witness).confirmed
    for name, index, value in problem.fixed.items:
        assert out.witness.entry(name, index) == value
    assert result.statement  # it always says what it did


def test_the_property_covers_both_sides_of_the_grid_limit():
    sizes = [len(build_problem(NetworkSettings().network(n), m, ["grad(b2) != 0"]).free_keys())
             for n in NETS for m in (1, 4)]
    assert min(3 ** s for s in sizes) <= grid.MAX_POINTS < max(3 ** s for s in sizes)


def test_a_grid_step_with_pins_is_completed_by_them_before_its_confirmation():
    # The greedy steps pin free values and ask the grid; its point assigns the trial's free values
    # only, and was confirmed against the person's problem without the pins (KeyError).
    p = build_problem(NetworkSettings().network("1-1-1"), 3, ["grad(W2) == 0", "grad(b2) == 0", "grad(W1) != 0",
                                                             "grad(b1) != 0"])
    found = search(p)
    run = Exhaustive(p, found, SearchOptions(jobs=1), deadline=float("inf"))
    pins = {(n, i): v for n, i, v in found.witness.items() if n != "y"}
    trial = replace(p, fixed=p.fixed.merged(FixedValues(tuple(sorted((n, i, v) for (n, i), v in pins.items())))),
                    domain=replace(p.domain, denominator=math.lcm(*(v.denominator for _, _, v in found.witness.items())),
                                   max_abs=max(abs(v) for _, _, v in found.witness.items())))
    out = run.exhaustive(trial)
    assert out is not None and out.verdict == "found"
    assert numeric.recheck(p, out.witness).confirmed
    assert all(out.witness.entry(n, i) == v for (n, i), v in pins.items())


def test_zero_initialisation_is_shrunk_locally_and_stays_a_witness():
    net = NetworkSettings().network("3-4-1")
    p = build_problem(net, 4, ["not (grad(b2) == 0)"], ["W1=0", "b1=0", "W2=0"])
    assert not small(p)
    found = search(p)
    result = shrink(p, found)
    w = result.outcome.witness
    assert numeric.recheck(p, w).confirmed
    assert "simplified locally" in result.statement or "kept the solver's witness" in result.statement
    # every x is irrelevant with W1 = 0: the local steps set them all to 0
    assert all(w.entry("x", i) == 0 for i in entries(net.shape("x", 4)))

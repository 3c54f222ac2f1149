"""The classification losses in Z3: the exact split agrees with the exact re-check, the verdicts carry their domain."""

from __future__ import annotations

import random
from fractions import Fraction as F

import pytest
import z3

from cexsearch import lang as C
from cexsearch.engine.encoding import Encoding
from cexsearch.engine.options import SearchOptions
from cexsearch.engine.search import search
from cexsearch.model.losses import loss
from cexsearch.model.notation import parse_model
from cexsearch.model.problem import Assignment, Problem
from cexsearch.semantics import numeric

NET = "Sequential(Linear(1, 1), ReLU(), Linear(1, 1))"
SEED001 = ("grad(W2) == 0", "grad(b2) == 0", "grad(W1) != 0", "grad(b1) != 0")


def problem(samples: int, conds=SEED001, over: str = "real", labels: str = "soft", g0: int = 0,
            net: str = NET, shape=(1,), name: str = "bce") -> Problem:
    model = parse_model(net, shape, loss=loss(name, labels=labels), relu_grad_at_zero=g0)
    return Problem(model, samples, conditions=tuple(C.check(C.parse(c), model, samples, 0) for c in conds), over=over)


def _split_truth(p: Problem, a: Assignment) -> bool:
    """The split encoding's conditions with every free value substituted: a closed formula."""
    enc = Encoding(p, split=True)
    bits = [[None] * len(enc.units) for _ in range(p.samples)]
    formula = z3.And(enc.conditions(bits), *enc.definitions(bits))
    subs = [(v, z3.RealVal(str(a.entry(name, idx)))) for (name, idx), v in enc.free.items()]
    s = z3.Solver()
    s.add(z3.substitute(formula, *subs))
    answer = s.check()
    assert answer != z3.unknown
    return answer == z3.sat


def _structured_assignment(p: Problem, rng: random.Random) -> Assignment:
    """Values whose logits often coincide or are opposite (where the split has work to do)."""
    pick = [F(-1), F(0), F(1), F(1, 2), F(-1, 2), F(2)]
    entries = {}
    for name in p.network.variable_names():
        for idx in __import__("numpy").ndindex(p.shape(name)):
            entries[(name, tuple(idx))] = rng.choice(pick)
    return Assignment.from_entries(p.network, p.samples, entries)


@pytest.mark.parametrize("seed", range(40))
def test_the_split_reads_equations_of_sigmoids_as_the_exact_recheck_does(seed):
    rng = random.Random(seed)
    conds = rng.choice([("grad(b2) == 0",), ("grad(W2) == 0",), ("grad(W2) == 0", "grad(b2) == 0"),
                        ("p == 1/2",), ("grad(W1) != 0",), ("grad(b2) == grad(b1)",)])
    p = problem(rng.choice([2, 3]), conds, labels="soft")
    a = _structured_assignment(p, rng)
    check = numeric.recheck(p, a)
    assert _split_truth(p, a) == all(c.holds for c in check.conditions[:len(conds)]), (conds, list(a.items()))


def test_an_exact_cancellation_is_seen_by_both():
    # z = 1 and z = -1 with y = 1 and 0: sigmoid(1) - 1 + sigmoid(-1) = 0, so grad(b1) == 0 exactly
    p = problem(2, ("grad(b1) == 0",), net="Sequential(Linear(1, 1))")
    a = Assignment.from_entries(p.network, 2, {("W1", (0, 0)): F(1), ("b1", (0,)): F(0), ("x", (0, 0)): F(1),
                                               ("x", (1, 0)): F(-1), ("y", (0, 0)): F(1), ("y", (1, 0)): F(0)})
    assert numeric.recheck(p, a).confirmed
    assert _split_truth(p, a)


def test_seed001_verdicts_carry_their_domain():
    assert (lambda o: (o.verdict, o.domain))(search(problem(2), SearchOptions(timeout=60))) == ("none", "real")
    found = search(problem(2, g0=1), SearchOptions(timeout=60))
    assert (found.verdict, found.domain) == ("found", "rational") and found.recheck.confirmed
    none = search(problem(3, over="rational"), SearchOptions(timeout=60))
    assert (none.verdict, none.domain) == ("none", "rational")
    hard = search(problem(3, over="rational", labels="hard"), SearchOptions(timeout=60))
    assert (hard.verdict, hard.domain) == ("none", "rational")


def test_ce_with_two_classes_is_split_like_a_sigmoid_and_three_use_the_relaxation():
    two = problem(2, ("grad(W1) == 0", "grad(W1) != 0 or x != 0"), net="Sequential(Linear(1, 2))", name="ce")
    out = search(two, SearchOptions(timeout=60))
    assert out.verdict == "found" and out.recheck.confirmed
    three = problem(1, ("p[0, 0] > 1",), net="Sequential(Linear(1, 3))", name="ce")
    out = search(three, SearchOptions(timeout=60))
    assert (out.verdict, out.domain) == ("none", "real")


def test_other_strategies_are_refused_for_classification():
    from cexsearch.errors import SpecError

    with pytest.raises(SpecError):
        search(problem(2), SearchOptions(strategy="enumerate"))


def test_a_coefficient_that_reads_a_probability_is_not_split():
    # p0*p0*p1 == p1*p0*p0 holds everywhere; its Affine form has coefficients p0^2 and -p1 p0 (not rational),
    # so Fact 1 does not apply: the split once answered "none over the rationals"
    conds = ("p[0,0]*p[0,0]*p[1,0] == p[1,0]*p[0,0]*p[0,0]", "yhat[0,0] > yhat[1,0]", "yhat[1,0] > 1")
    out = search(problem(2, conds, over="rational", net="Sequential(Linear(1, 1))"), SearchOptions(timeout=20))
    assert out.verdict != "none"


def test_fixed_targets_and_classes_are_checked_when_the_problem_is_made():
    from cexsearch.errors import SpecError
    from cexsearch.model.problem import FixedValues

    model = parse_model("Sequential(Linear(1, 2))", (1,), loss=loss("ce", labels="soft"))
    with pytest.raises(SpecError, match="sums to 2"):
        Problem(model, 1, fixed=FixedValues((("y", (0, 0), F(1)), ("y", (0, 1), F(1)))))
    bce = parse_model("Sequential(Linear(1, 1))", (1,), loss=loss("bce"))
    with pytest.raises(SpecError, match="lie in"):
        Problem(bce, 1, fixed=FixedValues((("y", (0, 0), F(2)),)))
    with pytest.raises(SpecError, match="at least 2 classes"):
        Problem(parse_model("Sequential(Linear(1, 1))", (1,), loss=loss("ce")), 1)


def test_a_rejected_relaxation_model_is_cut_off_around_its_logits():
    # the relaxation alone lets softplus sit far below its value; the point cuts after each rejected
    # model lead to a true witness (z large enough that softplus(-z) < 1/1000)
    out = search(problem(1, ("loss < 1/1000",), net="Sequential(Linear(1, 1))"), SearchOptions(timeout=60))
    assert out.verdict == "found" and out.recheck.confirmed, out.reason


def test_point_cuts_hold_for_the_true_functions():
    from cexsearch.engine.z3links import Links, point_cuts

    z, p, s = z3.Real("z"), z3.Real("p"), z3.Real("s")
    links = Links()
    links.monotone = [(p, z, "sigmoid"), (s, z, "softplus")]
    cuts = point_cuts(links, lambda _: F(3, 2))
    for point in (F(-3), F(0), F(3, 2), F(2), F(7)):
        sig, sp = __import__("math").exp(float(point)), None
        sig = sig / (1 + sig)
        sp = __import__("math").log1p(__import__("math").exp(float(point)))
        solver = z3.Solver()  # the true values, to 1e-12, satisfy every cut (with that slack)
        solver.add(z == z3.RealVal(str(point)))
        solver.add(p >= sig - 1e-12, p <= sig + 1e-12, s >= sp - 1e-12, s <= sp + 1e-12)
        solver.add(*cuts)
        assert solver.check() == z3.sat, point

"""Witnesses over the reals: the interval trace encloses the exact one, certificates prove and re-prove."""

from __future__ import annotations

import math
import random
import time
from dataclasses import replace
from fractions import Fraction as F

import numpy as np
import pytest

from cexsearch import lang as C
from cexsearch.engine.realsearch import search_real
from cexsearch.model.notation import parse_model
from cexsearch.model.problem import Assignment, FixedValues, Problem
from cexsearch.semantics import EXACT, trace
from cexsearch.semantics.certify import Certificate, certify, check_certificate, refine
from cexsearch.semantics.fixedpoint import fixed_exp_bounds, fixed_log_bounds
from cexsearch.semantics.intervalalgebra import Interval, IntervalAlgebra, NotCertifiable, _log_sum_exp, _sigmoid
from cexsearch.semantics.intervals import exp_bounds, log_bounds


def problem(net: str, shape: tuple[int, ...], loss: str, samples: int, texts: list[str], fixed=(),
            **settings) -> Problem:
    m = parse_model(net, shape, loss=loss, **settings)
    conds = tuple(C.check(C.parse(t), m, samples, 0) for t in texts)
    return Problem(m, samples, conds, FixedValues(tuple(fixed)))


def logistic() -> Problem:
    """sigmoid(w x + b) = 1/3 with x != 0: only irrational solutions (w x + b = -log 2)."""
    return problem("Sequential(Linear(1, 1))", (1,), "bce", 1, ["grad(W1) == 0", "x != 0"],
                   [("y", (0, 0), F(1, 3))])


def start(p: Problem, values: dict) -> Assignment:
    full = dict(p.fixed.as_dict())
    full.update(values)
    return Assignment.from_entries(p.network, p.samples, full)


def test_the_logistic_example_gets_a_certificate_that_re_checks():
    p = logistic()
    a = start(p, {("W1", (0, 0)): F(1), ("b1", (0,)): F(0), ("x", (0, 0)): F(-2, 3)})
    centre = refine(p, a, p.free_keys())
    assert centre is not None
    reasons: list[str] = []
    cert = certify(p, centre, p.free_keys(), reasons=reasons)
    assert cert is not None, reasons
    assert check_certificate(p, cert).ok
    (name, index, lo, hi), = cert.box
    # the exact solution: w x + b = -log 2 with the other two values at the centre's
    w, b, x = (centre.entry("W1", (0, 0)), centre.entry("b1", (0,)), centre.entry("x", (0, 0)))
    solve = {"W1": lambda: (-math.log(2) - float(b)) / float(x), "b1": lambda: -math.log(2) - float(w * x),
             "x": lambda: (-math.log(2) - float(b)) / float(w)}[name]
    assert lo <= F(solve()) <= hi
    import json
    again = Certificate.from_record(p, json.loads(json.dumps(cert.as_record())))
    assert again == cert and check_certificate(p, again).ok  # what a document keeps re-proves
    # the centre itself is not an exact witness: the real point in the box is
    from cexsearch.semantics import numeric
    assert not numeric.recheck(p, centre).confirmed


def test_a_wrong_certificate_fails_its_re_check():
    p = logistic()
    a = start(p, {("W1", (0, 0)): F(1), ("b1", (0,)): F(0), ("x", (0, 0)): F(-7, 10)})
    cert = certify(p, refine(p, a, p.free_keys()), p.free_keys())
    assert cert is not None
    (name, index, lo, hi), = cert.box
    width = hi - lo
    shifted = replace(cert, box=((name, index, lo + 2 * width, hi + 2 * width),))
    assert not check_certificate(p, shifted).ok  # the centre lies outside, and no zero is inside
    c = (lo + hi) / 2
    off = replace(cert, box=((name, index, c + width / 8, hi + width),),
                  center=_moved(cert, name, index, c + width / 4))
    assert not check_certificate(p, off).ok  # the solution is left of the box
    flipped = replace(cert, preconditioner=((-cert.preconditioner[0][0],),))
    assert not check_certificate(p, flipped).ok  # Miranda's signs are the other way round
    singular = replace(cert, preconditioner=((F(0),),))
    assert not check_certificate(p, singular).ok


def _moved(cert: Certificate, name: str, index: tuple, value: F) -> Assignment:
    full = {(n, i): v for n, i, v in cert.center.items()}
    full[(name, index)] = value
    return Assignment.from_entries(cert.center.network, cert.center.samples, full)


def test_no_real_solution_nearby_gives_none():
    # sigmoid(z) = 1/3 needs z = -log 2, but x > 0, w > 1 and b > 0 keep w x + b positive near this start
    p = problem("Sequential(Linear(1, 1))", (1,), "bce", 1, ["grad(W1) == 0", "x > 0", "b1 > 0", "W1 > 1"],
                [("y", (0, 0), F(1, 3))])
    a = start(p, {("W1", (0, 0)): F(2), ("b1", (0,)): F(1), ("x", (0, 0)): F(1)})
    assert certify(p, a, p.free_keys()) is None
    centre = refine(p, a, p.free_keys())
    assert centre is None or certify(p, centre, p.free_keys()) is None


def test_two_equations_by_miranda_and_the_search():
    p = problem("Sequential(Linear(1, 1))", (1,), "bce", 2, ["grad(W1) == 0", "grad(b1) == 0", "x[0] != x[1]"],
                [("y", (0, 0), F(1, 4)), ("y", (1, 0), F(2, 3))])
    outcome = search_real(p, time.monotonic() + 60)
    assert outcome is not None and outcome.verdict == "found" and outcome.domain == "real"
    cert = outcome.certificate
    assert isinstance(cert, Certificate) and len(cert.box) == 2
    assert check_certificate(p, cert).ok


def test_softmax_class_sums_one_equation_is_implied():
    # grad(b2) == 0 is p == y: three equations whose sum is 0 identically (the rows of p and y sum to 1)
    p = problem("Sequential(Linear(2, 2), ReLU(), Linear(2, 3))", (2,), "ce", 1, ["grad(b2) == 0"],
                [("y", (0, 0), F(3, 10)), ("y", (0, 1), F(2, 5)), ("y", (0, 2), F(3, 10))], labels="soft")
    outcome = search_real(p, time.monotonic() + 60)
    assert outcome is not None
    cert = outcome.certificate
    assert isinstance(cert, Certificate) and len(cert.implied) == 1 and len(cert.equations) == 2
    assert check_certificate(p, cert).ok
    assert not check_certificate(p, replace(cert, implied=())).ok  # the third equation is not 0 on the box
    bce = problem("Sequential(Linear(2, 2), ReLU(), Linear(2, 3))", (2,), "bce", 1, ["grad(b2) == 0"])
    assert not check_certificate(bce, replace(cert, center=_relabel(cert.center, bce))).ok  # no such identity


def _relabel(a: Assignment, p: Problem) -> Assignment:
    return Assignment(p.network, a.samples, a.values)


def test_a_box_across_a_kink_is_not_certifiable():
    alg = IntervalAlgebra()
    m = parse_model("Sequential(Linear(1, 1), ReLU(), Linear(1, 1))", (1,), loss="bce")
    params = {"W1": [[Interval(F(-1), F(1))]], "b1": [0], "W2": [[1]], "b2": [0]}
    with pytest.raises(NotCertifiable, match="kink"):
        trace(m, params, [[1]], [[F(1, 2)]], alg)
    exact_at_kink = trace(m, {"W1": [[0]], "b1": [0], "W2": [[1]], "b2": [0]}, [[1]], [[F(1, 2)]], alg)
    assert exact_at_kink.gradients["W1"][0, 0] == Interval(0)  # a point on the breakpoint takes its piece


def _contains(iv: Interval, exact) -> bool:
    """The exact value may lie in the interval: its certified bounds meet it (a rational value must lie inside)."""
    lo, hi = exact.bounds(256) if hasattr(exact, "bounds") else (F(exact), F(exact))
    return iv.lo <= hi and lo <= iv.hi


@pytest.mark.parametrize("net,shape,loss,ys", [
    ("Sequential(Linear(2, 3), ReLU(), Linear(3, 1))", (2,), "bce", lambda r: [F(r.randint(0, 4), 4)]),
    ("Sequential(Linear(2, 3), LeakyReLU(), Linear(3, 3))", (2,), "ce",
     lambda r: [F(1, 2), F(1, 4), F(1, 4)] if r.random() < 0.5 else [F(0), F(1), F(0)]),
])
def test_the_interval_trace_encloses_the_exact_trace(net, shape, loss, ys):
    r = random.Random(7)
    m = parse_model(net, shape, loss=loss)
    for _ in range(15):
        def rnd(s):
            return np.array([F(r.randint(-12, 12), r.randint(1, 6)) for _ in range(int(np.prod(s)))],
                            dtype=object).reshape(s)
        params = {p.name: rnd(p.shape) for p in m.parameters()}
        x, y = rnd((2, *shape)), np.array([ys(r), ys(r)], dtype=object)
        exact, box = trace(m, params, x, y, EXACT), trace(m, params, x, y, IntervalAlgebra(80))
        pairs = [(exact.loss, box.loss)] + [(e, i) for k in exact.gradients
                                            for e, i in zip(exact.gradients[k].reshape(-1), box.gradients[k].reshape(-1))]
        pairs += list(zip(exact.probabilities.reshape(-1), box.probabilities.reshape(-1)))
        for e, i in pairs:
            assert _contains(i, e), (e, i)
        # over a small box around the point: the exact values at random points of the box lie inside
        wide = {k: np.array([Interval(v - F(1, 1000), v + F(1, 1000)) for v in a.reshape(-1)],
                            dtype=object).reshape(a.shape) for k, a in params.items()}
        try:
            over = trace(m, wide, x, y, IntervalAlgebra(80))
        except NotCertifiable:
            continue
        inner = {k: np.array([v + F(r.randint(-1000, 1000), 10**6) for v in a.reshape(-1)],
                             dtype=object).reshape(a.shape) for k, a in params.items()}
        at = trace(m, inner, x, y, EXACT)
        for k in at.gradients:
            for e, i in zip(at.gradients[k].reshape(-1), over.gradients[k].reshape(-1)):
                assert _contains(i, e)


def test_exp_log_and_link_enclosures_hold_the_float_values():
    r = random.Random(3)
    for _ in range(200):
        x = F(r.randint(-70000, 70000), r.randint(100, 3000))  # within the float range of exp
        lo, hi = exp_bounds(x, 64)
        e, slack = F(math.exp(float(x))), (1 + abs(x)) * F(1, 2**50)  # float(x) is off by |x| 2^-53 relative
        assert lo <= e * (1 + slack) and e * (1 - slack) <= hi and hi - lo <= max(hi, 1) * F(1, 2**60)
        a, b = fixed_exp_bounds(x, 64)  # the interval trace's own: it holds the tight Fraction enclosure
        c, d = exp_bounds(x, 100)
        assert a <= c and d <= b and b - a <= max(b, 1) * F(1, 2**60)
        if x > 0:
            lo, hi = log_bounds(x, 64)
            assert lo - F(1, 2**48) <= F(math.log(float(x))) <= hi + F(1, 2**48)
            a, b = fixed_log_bounds(x, 64)
            c, d = log_bounds(x, 100)
            assert a <= c and d <= b and b - a <= F(1, 2**58)
        z = Interval(x / 10, x / 10 + F(r.randint(0, 10), 100))
        s = _sigmoid(z)
        for v in (z.lo, z.hi, z.mid):
            f = 1 / (1 + math.exp(-float(v)))
            assert s.lo - F(1, 2**48) <= F(f) <= s.hi + F(1, 2**48)
        sp = _log_sum_exp([Interval(0), z])
        f = float(z.mid) + math.log1p(math.exp(-float(z.mid))) if z.mid > 0 else math.log1p(math.exp(float(z.mid)))
        assert sp.lo - F(1, 2**40) <= F(f) <= sp.hi + F(1, 2**40)


def test_a_training_condition_is_certified_over_the_run():
    from cexsearch.model.training import Training

    m = parse_model("Sequential(Linear(1, 1))", (1,), loss="bce")
    conds = tuple(C.check(C.parse(t), m, 1, 1) for t in ["grad@1(W1) == 0", "x != 0"])
    p = Problem(m, 1, conds, FixedValues((("y", (0, 0), F(1, 3)),)), training=Training(1, lr=F(1, 2)))
    outcome = search_real(p, time.monotonic() + 60)
    assert outcome is not None and check_certificate(p, outcome.certificate).ok
    rational = replace(p, over="rational")
    assert search_real(rational, time.monotonic() + 60) is None  # rational witnesses asked for: no box


def test_p_equals_y_proves_gradient_equalities_whose_own_system_is_singular():
    # grad(W1) == 0 on one sample is (p - y) x = 0: two equations, one unknown p - y
    p = problem("Sequential(Linear(2, 1))", (2,), "bce", 1, ["grad(W1) == 0", "x[0, 0] != 0"],
                [("y", (0, 0), F(1, 3))])
    outcome = search_real(p, time.monotonic() + 60)
    assert outcome is not None
    cert = outcome.certificate
    assert isinstance(cert, Certificate) and cert.method == "delta" and check_certificate(p, cert).ok
    other = problem("Sequential(Linear(2, 1))", (2,), "bce", 1, ["grad(W1) == 0", "loss == 1", "x[0, 0] != 0"],
                    [("y", (0, 0), F(1, 3))])
    assert not check_certificate(other, cert).ok  # p == y says nothing about loss == 1


@pytest.mark.parametrize("net,shape,loss,texts", [
    ("Sequential(Linear(1, 1))", (1,), "bce", ["p[0] == 1/3", "loss < 2"]),
    ("Sequential(Linear(2, 2), ReLU(), Linear(2, 1))", (2,), "bce", ["loss == 1/2"]),
    ("Sequential(Linear(2, 2), Hardtanh(), Linear(2, 3))", (2,), "ce", ["p[0, 1] == 1/3"]),
])
def test_the_exact_trace_at_the_box_ends_has_mirandas_signs(net, shape, loss, texts):
    """Independently of the interval algebra: the exact values (transcendental.Value's bounds) at the
    two ends of a one-value box straddle 0 as the certificate says."""
    from cexsearch.semantics import numeric
    from cexsearch.semantics.boxeval import residuals, split

    p = problem(net, shape, loss, 1, texts, labels="soft")
    outcome = search_real(p, time.monotonic() + 60)
    assert outcome is not None
    cert = outcome.certificate
    assert isinstance(cert, Certificate) and len(cert.box) == 1 and cert.method == "miranda"
    (name, index, lo, hi), = cert.box
    signs = []
    for end in (lo, hi):
        a = _moved(cert, name, index, end)
        value = residuals(split(p)[0], numeric.environment(a, numeric.evaluate(a)), C.ExactBackend())[cert.equations[0]]
        low, high = value.bounds(512) if hasattr(value, "bounds") else (value, value)
        signs.append(1 if low * cert.preconditioner[0][0] > 0 and high * cert.preconditioner[0][0] > 0 else
                     -1 if low * cert.preconditioner[0][0] < 0 and high * cert.preconditioner[0][0] < 0 else 0)
    assert signs[0] <= 0 <= signs[1]

"""The grid algebra against the exact trace, point by point, over random architectures and every loss.

A few entries of the parameters and data are grid axes (the other entries fixed small
rationals, zeros often, so values land on breakpoints and max-pool windows tie); the
trace over the grid algebra is read at every grid point and must equal the exact trace
run on that point's values: every layer's output, yhat, the residual, the loss and
every gradient.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import replace
from fractions import Fraction as F

import numpy as np
import pytest
from architectures import random_architecture

from cexsearch.api import build_problem
from cexsearch.engine import grid
from cexsearch.model import parse_model
from cexsearch.model.network import entries
from cexsearch.model.problem import Assignment
from cexsearch.semantics import EXACT, numeric, trace
from cexsearch.semantics.gridalgebra import GRID, Declined, Q

ARCHS = [
    ("Sequential(Linear(2, 3), ReLU(), Linear(3, 3), LeakyReLU(0.25), Linear(3, 1))", (2,), "mse"),
    ("Sequential(Linear(2, 2), Hardtanh(), Linear(2, 2), ReLU6(), Linear(2, 2), Abs(), Linear(2, 1))", (2,), "huber"),
    ("Sequential(Conv1d(1, 2, 2, padding=1), ReLU(), MaxPool1d(2), Flatten(), Linear(4, 1))", (1, 4), "l1"),
    ("Sequential(Conv2d(1, 1, 2), Abs(), AvgPool2d(2), Flatten(), Linear(1, 1))", (1, 3, 3), "sse"),
    ("Sequential(Residual(Linear(2, 2), ReLU()), Linear(2, 1))", (2,), "hinge"),
    ("Sequential(MaxPool2d(2), Flatten(), Linear(2, 2))", (2, 2, 3), "mse"),
    ("Sequential(Conv1d(1, 2, 2), ReLU(), Residual(Conv1d(2, 2, 3, padding=1), Abs()), MaxPool1d(3), Flatten(), "
     "Linear(2, 2, bias=False))", (1, 4), "huber"),
]


def _values(rng, shape, hinge=False):
    if hinge:
        return np.array(rng.choice([-1, 1], size=shape), dtype=object) * F(1)
    return np.array([F(int(v), 2) for v in rng.integers(-4, 5, size=int(np.prod(shape)))], dtype=object).reshape(shape)


def _at(q, digits):
    """The value of a grid-algebra entry at one grid point, as a Fraction."""
    q = Q.of(q)
    if q.constant:
        return F(q.value())
    return F(int(np.broadcast_to(q.num, (3,) * len(digits))[digits])) * q.scale


def _case(text, shape, loss, seed, samples, free=3, g=1, relu_grad_at_zero=0):
    """(model, exact values, the free keys, the values with each free key one axis of values {-1, 0, 1}/g)."""
    rng = np.random.default_rng(seed)
    model = parse_model(text, shape, loss=loss, relu_grad_at_zero=relu_grad_at_zero)
    values = {p.name: _values(rng, p.shape) for p in model.parameters()}
    values["x"] = _values(rng, model.shape("x", samples))
    values["y"] = _values(rng, model.shape("y", samples), hinge=loss == "hinge")
    keys = [(n, i) for n in model.variable_names() if not (n == "y" and loss == "hinge")
            for i in entries(values[n].shape)]
    chosen = [keys[int(k)] for k in rng.choice(len(keys), size=min(free, len(keys)), replace=False)]
    gridded = {n: v.copy() for n, v in values.items()}
    unit = 1 if g == 1 else F(1, g)
    for a, (name, idx) in enumerate(chosen):
        axes = [1] * len(chosen)
        axes[a] = 3
        gridded[name][idx] = Q(np.array([0, 1, -1], dtype=np.int8).reshape(axes), unit, 1)
    return model, values, chosen, gridded, g


def _assert_agrees_everywhere(model, values, chosen, gridded, g):
    params = [p for p in model.parameter_names()]
    over = trace(model, {p: gridded[p] for p in params}, gridded["x"], gridded["y"], GRID)
    assert over.algebra == "grid"
    for digits in itertools.product(range(3), repeat=len(chosen)):
        point = {n: v.copy() for n, v in values.items()}
        for (name, idx), d in zip(chosen, digits):
            point[name][idx] = F([0, 1, -1][d], g)
        exact = trace(model, {p: point[p] for p in params}, point["x"], point["y"], EXACT)
        where = (model.text, model.loss.name, [(k, F([0, 1, -1][d], g)) for k, d in zip(chosen, digits)])
        for p in params:
            assert [_at(q, digits) for q in over.gradients[p].reshape(-1)] == list(exact.gradients[p].reshape(-1)), \
                (p, where)
        assert [_at(q, digits) for q in over.yhat.reshape(-1)] == list(exact.yhat.reshape(-1)), where
        assert [_at(q, digits) for q in over.residual.reshape(-1)] == list(exact.residual.reshape(-1)), where
        assert _at(over.loss, digits) == exact.loss, where
        for s, e in zip(over.layers, exact.layers):
            assert [_at(q, digits) for q in s.output.reshape(-1)] == list(e.output.reshape(-1)), (s.path, where)


@pytest.mark.parametrize("text,shape,loss", ARCHS)
@pytest.mark.parametrize("g", [1, 2])
def test_the_grid_trace_is_the_exact_trace_at_every_point(text, shape, loss, g):
    _assert_agrees_everywhere(*_case(text, shape, loss, seed=len(text) + g, samples=2, g=g))


@pytest.mark.parametrize("seed", range(12))
def test_random_architectures_and_losses(seed):
    rng = np.random.default_rng(300 + seed)
    text, shape = random_architecture(rng)
    loss = str(rng.choice(["mse", "sse", "l1", "huber", "hinge"]))
    case = _case(text, shape, loss, seed, samples=int(rng.integers(1, 3)), g=int(rng.integers(1, 3)),
                 relu_grad_at_zero=int(rng.integers(0, 2)))
    _assert_agrees_everywhere(*case)


def test_a_max_pool_window_of_more_than_127_entries():
    """The first maximum at position 129 (where the free entry is 0 or 1) and at 0 (a tie at -1)."""
    model = parse_model("Sequential(MaxPool1d(130), Flatten(), Linear(1, 1))", (1, 130))
    values = {"W1": np.array([[F(2)]], dtype=object), "b1": np.array([F(1)], dtype=object),
              "x": np.array([[[F(-1)] * 130]], dtype=object), "y": np.array([[F(1, 2)]], dtype=object)}
    gridded = {n: v.copy() for n, v in values.items()}
    gridded["x"][0, 0, 129] = Q(np.array([0, 1, -1], dtype=np.int8), 1, 1)
    _assert_agrees_everywhere(model, values, [("x", (0, 0, 129))], gridded, 1)


def test_comparing_with_a_breakpoint_is_exact_for_every_scale_and_numerator():
    """``at_least`` compares integers with a rounded threshold: against Fraction comparisons, edges included."""
    rng = random.Random(7)
    scales = [1, -1, 2, -3, F(1, 2), F(-2, 3), F(3, 4), F(-5, 2), F(1, 6)]
    for _ in range(400):
        bound = rng.choice([1, 2, 3, 5, 8, 127, 128])
        scale = rng.choice(scales)
        b = F(rng.randint(-3 * bound, 3 * bound), rng.choice([1, 1, 2, 3, 4])) * (abs(scale) if rng.random() < 0.5 else 1)
        nums = np.arange(-bound, bound + 1, dtype=np.int16)
        q = Q(nums, scale, bound)
        for closed in (True, False):
            got = np.broadcast_to(q.at_least(b, closed), nums.shape).tolist()
            assert got == [(v * scale >= b) if closed else (v * scale > b) for v in nums.tolist()], (scale, bound, b)


def test_a_value_nobody_reads_may_overflow_and_reading_it_declines():
    """The loss is built by the trace but not read by the conditions: it is never computed."""
    model = parse_model("Sequential(Linear(1, 1), ReLU(), Linear(1, 1))", (1,))
    x = np.array([[Q(np.array([0, 1, -1], dtype=np.int8), 1, 1)]], dtype=object)
    y = np.array([[F(2**40)]], dtype=object)
    t = trace(model, {"W1": [[F(1)]], "b1": [F(1)], "W2": [[F(1)]], "b2": [F(0)]}, x, y, GRID)
    grad = t.gradients["W2"][0, 0]  # 2 (yhat - y) relu(x + 1): about 2^41
    assert [int(v) * grad.scale for v in grad.num] == [2 * (1 - 2**40), 2 * 2 * (2 - 2**40), 0]
    with pytest.raises(Declined):  # (yhat - y)^2 is about 2^80: beyond int64
        _ = t.loss.num


def _assignment(p, point):
    return Assignment.from_entries(p.network, p.samples, {**p.fixed.as_dict(), **point})


CONDITIONS = ["grad(W1) != 0", "grad(b1) == 0", "all(yhat >= 0)", "grad(W2)[0, 0] > 1/3", "any(grad(W1) < 0)",
              "yhat[0, 0] != y[0, 0]"]


@pytest.mark.parametrize("seed", range(8))
def test_the_grid_search_decides_layer_models_as_the_exact_recheck(seed, monkeypatch):
    rng = random.Random(seed)
    text, shape, loss = ARCHS[[0, 2, 3, 4, 6, 4, 4, 4][seed]]
    model = parse_model(text, shape, loss=loss)
    # (seeds 6 and 7: hinge with conditions a y = 0 meets, which is not a target)
    conds = [["all(yhat >= 0)"], ["yhat[0, 0] != y[0, 0]"]][seed - 6] if seed >= 6 else rng.sample(CONDITIONS, 2)
    p = build_problem(model, 1, conds)
    keys = p.free_keys()
    fixes = [f"{n}{list(i)}={rng.choice(['1', '-1', '1/2', '0', '2'])}".replace(" ", "")
             for n, i in keys[: max(0, len(keys) - 6)] if n != "y"]  # y stays free: hinge's targets are ±1 only
    p = build_problem(model, 1, conds, fixes)
    p = replace(p, domain=replace(p.domain, denominator=1, max_abs=F(1)))
    g = grid.grid_of(p)
    [(combo, mask)] = list(grid.blocks(p, g))
    full = np.broadcast_to(mask, (g.base,) * len(g.keys))
    for digits in np.ndindex(full.shape):
        assert bool(full[digits]) == numeric.recheck(p, _assignment(p, g.point(digits))).confirmed, (text, conds)
    answer = grid.search_grid(p)
    assert (answer.best is None) == (not full.any())
    if answer.best is not None:
        assert numeric.recheck(p, _assignment(p, answer.best)).confirmed
    monkeypatch.setattr(grid, "CHUNK_POINTS", 9)  # the leading axes (y first) looped over, block by block
    assert grid.search_grid(p).best == answer.best

"""The Z3 algebra against the exact trace: same values after substitution, and the exact pattern's constraints hold."""

from __future__ import annotations

from fractions import Fraction as F

import numpy as np
import pytest
import z3
from architectures import random_architecture

from cexsearch.engine.z3algebra import Z3Algebra, to_z3
from cexsearch.model import parse_model
from cexsearch.semantics import EXACT, trace

ARCHS = [
    ("Sequential(Linear(2, 3), ReLU(), Linear(3, 3), LeakyReLU(0.25), Linear(3, 1))", (2,), "mse"),
    ("Sequential(Linear(2, 2), Hardtanh(), Linear(2, 2), ReLU6(), Linear(2, 2), Abs(), Linear(2, 1))", (2,), "huber"),
    ("Sequential(Conv1d(1, 2, 2, padding=1), ReLU(), MaxPool1d(2), Flatten(), Linear(4, 1))", (1, 4), "l1"),
    ("Sequential(Conv2d(1, 1, 2), Abs(), AvgPool2d(2), Flatten(), Linear(1, 1))", (1, 3, 3), "sse"),
    ("Sequential(Residual(Linear(2, 2), ReLU()), Linear(2, 1))", (2,), "hinge"),
    ("Sequential(MaxPool2d(2), Flatten(), Linear(2, 2))", (2, 2, 3), "mse"),
]


def _values(rng, shape, hinge=False):
    if hinge:
        return np.array(rng.choice([-1, 1], size=shape), dtype=object) * F(1)
    return np.array([F(int(v), 2) for v in rng.integers(-4, 5, size=int(np.prod(shape)))], dtype=object).reshape(shape)


def _symbols(model, samples):
    """A Z3 Real for every parameter, x and y entry, and the substitution of concrete values for them."""
    syms = {}
    for name in model.variable_names():
        shape = model.shape(name, samples)
        arr = np.empty(shape, dtype=object)
        for idx in np.ndindex(shape):
            arr[idx] = z3.Real(name + "".join(f"_{i}" for i in idx))
        syms[name] = arr
    return syms


def _substituted(term, pairs):
    s = z3.simplify(z3.substitute(term, *pairs))
    if z3.is_true(s) or z3.is_false(s):
        return z3.is_true(s)
    return F(s.numerator_as_long(), s.denominator_as_long())


def _case(text, shape, loss, seed, samples=2, relu_grad_at_zero=0):
    rng = np.random.default_rng(seed)
    model = parse_model(text, shape, loss=loss, relu_grad_at_zero=relu_grad_at_zero)
    values = {p.name: _values(rng, p.shape) for p in model.parameters()}
    values["x"] = _values(rng, model.shape("x", samples))
    values["y"] = _values(rng, model.shape("y", samples), hinge=loss == "hinge")
    exact = trace(model, values, values["x"], values["y"], EXACT)
    syms = _symbols(model, samples)
    pairs = [(syms[n][idx], to_z3(values[n][idx])) for n in syms for idx in np.ndindex(syms[n].shape)]
    return model, values, exact, syms, pairs


def _assert_values_equal(symbolic, exact, pairs):
    for p in exact.gradients:
        got = [_substituted(t, pairs) for t in symbolic.gradients[p].reshape(-1)]
        assert got == list(exact.gradients[p].reshape(-1)), p
    assert [_substituted(t, pairs) for t in symbolic.yhat.reshape(-1)] == list(exact.yhat.reshape(-1))
    assert _substituted(symbolic.loss, pairs) == exact.loss
    for s, e in zip(symbolic.layers, exact.layers):
        assert [_substituted(t, pairs) for t in s.output.reshape(-1)] == list(e.output.reshape(-1)), s.path


@pytest.mark.parametrize("text,shape,loss", ARCHS)
@pytest.mark.parametrize("seed", range(3))
def test_pattern_fixed_form_equals_the_exact_trace_and_its_constraints_hold(text, shape, loss, seed):
    model, values, exact, syms, pairs = _case(text, shape, loss, seed)
    pattern = {path: arr for path, arr in exact.pattern}
    symbolic = trace(model, {p: syms[p] for p in model.parameter_names()}, syms["x"], syms["y"], Z3Algebra(pattern))
    _assert_values_equal(symbolic, exact, pairs)
    assert symbolic.constraints, "every site of these networks has a constraint"
    assert all(_substituted(c, pairs) is True for c in symbolic.constraints)
    # any other piece at one entry is refuted by the same values
    for path, arr in exact.pattern:
        flat = arr.reshape(-1).copy()
        table_size = _site_size(model, path, arr)
        flat[0] = (flat[0] + 1) % table_size
        wrong = dict(pattern)
        wrong[path] = flat.reshape(arr.shape)
        other = trace(model, {p: syms[p] for p in model.parameter_names()}, syms["x"], syms["y"], Z3Algebra(wrong))
        assert not all(_substituted(c, pairs) is True for c in other.constraints), path


def _site_size(model, path, arr):
    if path == "loss":
        return len(model.loss.derivative.pieces)
    for p, layer, _, _ in model.walk():
        if p == path:
            table = getattr(layer, "table", None)
            return len(table.pieces) if table is not None else int(np.prod(layer.kernel_size))
    raise KeyError(path)


@pytest.mark.parametrize("text,shape,loss", ARCHS)
def test_if_form_equals_the_exact_trace(text, shape, loss):
    model, values, exact, syms, pairs = _case(text, shape, loss, seed=11)
    symbolic = trace(model, {p: syms[p] for p in model.parameter_names()}, syms["x"], syms["y"], Z3Algebra())
    assert symbolic.constraints == ()
    _assert_values_equal(symbolic, exact, pairs)


@pytest.mark.parametrize("text,shape,loss", ARCHS)
def test_if_form_with_named_selectors_is_defined_by_its_constraints(text, shape, loss):
    model, values, exact, syms, pairs = _case(text, shape, loss, seed=5)
    alg = Z3Algebra(selectors=True)
    symbolic = trace(model, {p: syms[p] for p in model.parameter_names()}, syms["x"], syms["y"], alg)
    assert symbolic.constraints
    # the selectors of the exact pattern: true for the piece taken, false for the others
    bits = []
    for path, arr in exact.pattern:
        for idx in np.ndindex(arr.shape):
            for q in range(_site_size(model, path, arr) - 1):
                bits.append((alg.selector(path, idx, q), z3.BoolVal(int(arr[idx]) == q)))
    full = pairs + bits
    assert all(_substituted(c, full) is True for c in symbolic.constraints)
    _assert_values_equal(symbolic, exact, full)


def test_constants_fold_and_decide_their_piece_without_the_solver():
    model = parse_model("Sequential(Linear(1, 1), ReLU(), Linear(1, 1))", (1,))
    x = np.empty((1, 1), dtype=object)
    x[0, 0] = z3.Real("x")
    # W1 = 0: the pre-activation is the constant b1 = -1, inactive; a pattern saying active is refuted at once
    params = {"W1": [[0]], "b1": [-1], "W2": [[1]], "b2": [0]}
    t = trace(model, params, x, [[F(0)]], Z3Algebra({"1": np.array([[1]])}))
    assert [z3.is_false(c) for c in t.constraints] == [True]
    t = trace(model, params, x, [[F(0)]], Z3Algebra({"1": np.array([[0]])}))
    assert t.constraints == () and z3.simplify(t.gradients["W1"][0, 0]) == 0


def test_the_if_form_finds_the_cnn_witness_of_issue_11_and_the_exact_trace_confirms_it():
    # grad(W2) == 0, grad(b2) == 0, grad(W1) != 0 for a Conv1d network with a dense output, 2 samples
    model = parse_model("Sequential(Conv1d(1, 2, 2), ReLU(), Flatten(), Linear(6, 1))", (1, 4))
    syms = _symbols(model, 2)
    t = trace(model, {p: syms[p] for p in model.parameter_names()}, syms["x"], syms["y"], Z3Algebra())
    s = z3.Solver()
    s.set("timeout", 60000)
    s.add(*[g == 0 for g in t.gradients["W2"].reshape(-1)], *[g == 0 for g in t.gradients["b2"].reshape(-1)])
    s.add(z3.Or(*[g != 0 for g in t.gradients["W1"].reshape(-1)]))
    assert s.check() == z3.sat
    m = s.model()

    def value(v):
        r = m.eval(v, model_completion=True)
        return F(r.numerator_as_long(), r.denominator_as_long())

    values = {n: np.vectorize(value, otypes=[object])(a) for n, a in syms.items()}
    e = trace(model, values, values["x"], values["y"], EXACT)
    assert all(g == 0 for g in e.gradients["W2"].reshape(-1)) and e.gradients["b2"][0] == 0
    assert any(g != 0 for g in e.gradients["W1"].reshape(-1))


@pytest.mark.parametrize("seed", range(8))
def test_random_architectures_in_both_z3_forms(seed):
    rng = np.random.default_rng(100 + seed)
    text, shape = random_architecture(rng)
    loss = str(rng.choice(["mse", "sse", "l1", "huber"]))
    model, values, exact, syms, pairs = _case(text, shape, loss, seed, samples=int(rng.integers(1, 3)),
                                              relu_grad_at_zero=int(rng.integers(0, 2)))
    free = ({p: syms[p] for p in model.parameter_names()}, syms["x"], syms["y"])
    fixed = trace(model, *free, Z3Algebra({path: arr for path, arr in exact.pattern}))
    _assert_values_equal(fixed, exact, pairs)
    assert all(_substituted(c, pairs) is True for c in fixed.constraints)
    _assert_values_equal(trace(model, *free, Z3Algebra()), exact, pairs)

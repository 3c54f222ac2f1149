"""The single trace: equal to a naive loop exactly on MLPs, float64 against exact, torch autograd."""

from __future__ import annotations

from fractions import Fraction as F

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_numeric import naive_gradients  # noqa: E402

from cexsearch.model import Model, parse_model
from cexsearch.model.network import Network, entries
from cexsearch.model.problem import Assignment
from cexsearch.semantics import EXACT, FLOAT, numeric, trace

# Small rationals with exact zeros, ±1 and 6 common, so pre-activations land on breakpoints.
VALUES = st.sampled_from([F(0), F(0), F(1), F(-1), F(2), F(-2), F(1, 2), F(-1, 2), F(3), F(6), F(1, 3), F(-3, 4)])


@st.composite
def mlp_cases(draw, activations=("relu", "leaky_relu", "linear"), losses=("mse", "sse")):
    """(widths text, settings, samples, values by name) of a random MLP."""
    text = "-".join(str(w) for w in draw(st.lists(st.integers(1, 3), min_size=2, max_size=4)))
    settings = dict(activation=draw(st.sampled_from(activations)), bias=draw(st.booleans()),
                    loss=draw(st.sampled_from(losses)), relu_grad_at_zero=draw(st.integers(0, 1)),
                    leaky_slope=draw(st.sampled_from([F(1, 100), F(1, 3), F(2)])))
    samples = draw(st.integers(1, 3))
    model = Model.from_mlp(text, **settings)
    values = {}
    for name in model.variable_names():
        shape = model.shape(name, samples)
        arr = np.empty(shape, dtype=object)
        for idx in entries(shape):
            arr[idx] = draw(VALUES)
        values[name] = arr
    return text, settings, samples, values


def _params(model, values):
    return {p: values[p] for p in model.parameter_names()}


def assert_same(a, b):
    a, b = np.asarray(a, dtype=object), np.asarray(b, dtype=object)
    assert a.shape == b.shape
    assert all(type(u) is F and u == v for u, v in zip(a.reshape(-1), b.reshape(-1))), (a, b)


@given(mlp_cases())
def test_trace_equals_a_naive_loop_on_mlps(case):
    # numeric.evaluate reads this very trace, so the independent reference is test_numeric's
    # loop over samples and units, written from the maths with lists of Fractions
    text, settings, samples, values = case
    net = Network.parse(text, **settings)
    t = trace(Model.from_mlp(text, **settings), values, values["x"], values["y"], EXACT)
    params = {p: values[p].tolist() for p in net.parameter_names()}
    grads, yhats = naive_gradients(list(net.widths), net.activation, net.bias, net.loss, net.relu_grad_at_zero,
                                   params, values["x"].tolist(), values["y"].tolist(), slope_off=net.leaky_slope)
    assert_same(t.yhat, np.array(yhats, dtype=object).reshape(t.yhat.shape))
    assert set(t.gradients) == set(grads)
    for p, g in grads.items():
        assert_same(t.gradients[p], np.array(g, dtype=object).reshape(t.gradients[p].shape))
    assert type(t.loss) is F and t.loss == net.loss_scale(samples) * sum(
        ((a - b) ** 2 for a, b in zip(t.yhat.reshape(-1), values["y"].reshape(-1))), F(0))


@given(mlp_cases())
def test_numeric_evaluation_is_the_trace(case):
    # the mapping of the trace into numeric.Evaluation: values, and the pattern as Network.is_active
    text, settings, samples, values = case
    net = Network.parse(text, **settings)
    ev = numeric.evaluate(Assignment(net, samples, tuple((n, tuple(values[n].reshape(-1)))
                                                         for n in net.variable_names())), exact=True)
    t = trace(Model.from_mlp(text, **settings), values, values["x"], values["y"], EXACT)
    assert_same(t.residual, ev.residual)
    linears = [lt.output for lt in t.layers if lt.layer.kind == "Linear"]
    for mine, theirs in zip(linears, ev.pre_activations):
        assert_same(mine, theirs)
    for z, on in zip(ev.pre_activations[:-1], ev.pattern):
        active = np.ones(z.shape, bool) if net.activation == "linear" else np.vectorize(net.is_active, otypes=[bool])(z)
        assert on.tolist() == active.tolist()


@given(mlp_cases(activations=("relu", "leaky_relu", "linear", "hardtanh", "relu6", "abs"),
                 losses=("mse", "sse", "l1", "huber")))
def test_float_trace_agrees_with_exact(case):
    text, settings, samples, values = case
    model = Model.from_mlp(text, **settings)
    exact = trace(model, _params(model, values), values["x"], values["y"], EXACT)
    approx = trace(model, _params(model, values), values["x"], values["y"], FLOAT)
    # float64 can round a value that is exactly on a breakpoint (3 * (1/3) - 1 == 0) off it and take
    # another piece: then the two passes differ by design, and only such entries may differ.
    inputs = {lt.path: (lt.input, lt.layer.table) for lt in exact.layers if getattr(lt.layer, "table", None)}
    inputs["loss"] = (exact.loss_argument, model.loss.derivative)
    same = True
    for (path, mine), (_, theirs) in zip(exact.pattern, approx.pattern):
        if mine is None or np.array_equal(mine, theirs):
            continue
        same = False
        values_at, table = inputs[path]
        for idx in zip(*np.nonzero(mine != theirs)):
            assert values_at[idx] in table.breakpoints, (path, idx, values_at[idx])
    if not same:
        return
    for p in exact.gradients:
        e = exact.gradients[p].astype(float)
        np.testing.assert_allclose(approx.gradients[p], e, rtol=1e-9, atol=1e-9 * (1 + np.abs(e).max(initial=0)))
    assert approx.loss == pytest.approx(float(exact.loss), rel=1e-9, abs=1e-12)


def _dyadic_case(rng, shape):
    # multiples of 1/4: exact in float64, so torch sees the same breakpoints as the exact trace
    return np.array([F(int(v), 4) for v in rng.integers(-8, 9, size=int(np.prod(shape)))], dtype=object).reshape(shape)


ACTS = ["ReLU()", "LeakyReLU(0.25)", "Identity()", "Hardtanh()", "Hardtanh(-2, 1/2)", "ReLU6()", "Abs()"]


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("loss", ["mse", "sse", "l1", "huber", "hinge"])
def test_trace_matches_torch_autograd(act, loss):
    pytest.importorskip("torch")
    from torch_models import torch_trace

    rng = np.random.default_rng(abs(hash((act, loss))) % 2**32)
    model = parse_model(f"Sequential(Linear(3, 4), {act}, Linear(4, 3, bias=False), {act}, Linear(3, 2))", (3,),
                        loss=loss)
    for _ in range(15):
        params = {p.name: _dyadic_case(rng, p.shape) for p in model.parameters()}
        x = _dyadic_case(rng, (4, 3))
        y = (np.array(rng.choice([-1, 1], size=(4, 2)), dtype=object) if loss == "hinge"
             else _dyadic_case(rng, (4, 2)))
        t = trace(model, params, x, y, EXACT)
        tl, _, tg = torch_trace(model, params, x, y)
        assert float(t.loss) == pytest.approx(tl, rel=1e-12, abs=1e-12)
        for p in t.gradients:
            np.testing.assert_allclose(t.gradients[p].astype(float), tg[p], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("act,breaks", [("ReLU()", [0]), ("LeakyReLU(0.25)", [0]), ("Hardtanh()", [-1, 1]),
                                        ("ReLU6()", [0, 6]), ("Abs()", [0])])
def test_trace_matches_torch_exactly_at_every_breakpoint(act, breaks):
    pytest.importorskip("torch")
    from torch_models import torch_trace

    model = parse_model(f"Sequential(Linear(1, 1), {act}, Linear(1, 1))", (1,))
    table = model.layers[1].table
    for b in breaks:
        params = {"W1": [[F(1)]], "b1": [F(0)], "W2": [[F(2)]], "b2": [F(1)]}
        x, y = [[F(b)]], [[F(-3)]]
        t = trace(model, params, x, y, EXACT)
        assert t.layers[1].input[0, 0] == b
        assert t.pattern_of("1")[0, 0] == table.index(F(b))
        _, _, tg = torch_trace(model, params, x, y)
        for p in t.gradients:
            np.testing.assert_array_equal(t.gradients[p].astype(float), tg[p])


def test_relu_grad_at_zero_one_passes_the_gradient_at_zero():
    params = {"W1": [[F(1)]], "b1": [F(0)], "W2": [[F(1)]], "b2": [F(0)]}
    for g, expect in ((0, 0), (1, -2)):
        m = Model.from_mlp("1-1-1", relu_grad_at_zero=g)
        t = trace(m, params, [[F(0)]], [[F(1)]], EXACT)
        assert t.gradients["W2"][0, 0] == 0 and t.gradients["b1"][0] == expect


def test_trace_refuses_missing_or_misshapen_values():
    from cexsearch.errors import SpecError

    m = Model.from_mlp("2-1")
    with pytest.raises(SpecError, match="no value for b1"):
        trace(m, {"W1": [[1, 2]]}, [[1, 2]], [[1]], EXACT)
    with pytest.raises(SpecError, match="W1 needs shape"):
        trace(m, {"W1": [[1, 2, 3]], "b1": [0]}, [[1, 2]], [[1]], EXACT)


def test_piecewise_losses_record_their_pattern():
    m = parse_model("Linear(1, 1)", (1,), loss="l1")
    t = trace(m, {"W1": [[1]], "b1": [0]}, [[F(1)], [F(2)], [F(3)]], [[F(2)], [F(2)], [F(2)]], EXACT)
    assert t.pattern_of("loss").reshape(-1).tolist() == [0, 1, 2]
    assert t.gradients["W1"][0, 0] == F(-1, 3) + F(3, 3) and t.loss == F(2, 3)


def test_from_network_and_values_of_give_numeric_evaluate():
    net = Network.parse("2-3-1", activation="leaky_relu", bias=False, loss="sse", relu_grad_at_zero=1)
    a = Assignment(net, 2, tuple((n, tuple(F(i % 5 - 2, 2) for i in range(int(np.prod(net.shape(n, 2))))))
                                 for n in net.variable_names()))
    model = Model.from_network(net)
    v = model.values_of(a)
    t = trace(model, v, v["x"], v["y"], EXACT)
    ev = numeric.evaluate(a)
    for p in ev.gradients:
        assert_same(t.gradients[p], ev.gradients[p])


@given(st.lists(VALUES, min_size=6, max_size=6), st.lists(VALUES, min_size=6, max_size=6))
def test_exact_matmul_over_a_common_denominator_is_plain_fraction_arithmetic(left, right):
    a = EXACT.asarray(np.array(left, dtype=object).reshape(2, 3))
    b = EXACT.asarray(np.array(right, dtype=object).reshape(3, 2))
    got = EXACT.matmul(a, b)
    want = [[sum((F(left[3 * i + k]) * F(right[2 * k + j]) for k in range(3)), F(0)) for j in range(2)]
            for i in range(2)]
    assert got.tolist() == want
    assert all(type(v) is int for v in got.reshape(-1) if F(v).denominator == 1)  # whole stays int inside
    scaled, inverse = EXACT.rescale(a)
    assert all(type(v) is int for v in scaled.reshape(-1))
    assert (scaled * inverse).tolist() == a.tolist()
    assert FLOAT.rescale(a)[1] == 1

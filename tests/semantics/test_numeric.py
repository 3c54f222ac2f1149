"""The reference semantics (cexsearch.semantics.numeric) against values worked out by hand.

numeric.py is the oracle every encoding and witness is tested against, so it is
itself pinned here to numbers computed on paper and to an independent, naive
per-sample loop written below with plain Python Fractions.
"""

from __future__ import annotations

import itertools
import random
from fractions import Fraction as F

import numpy as np
import pytest

from cexsearch.model.network import Network, entries
from cexsearch.model.problem import Assignment
from cexsearch.semantics import numeric


def assignment(net: Network, samples: int, **values: object) -> Assignment:
    """An Assignment from nested lists (or scalars) per name, row-major."""
    flat = []
    for name in net.variable_names():
        shape = net.shape(name, samples)
        arr = np.empty(shape, dtype=object)
        given = np.array(values[name], dtype=object).reshape(shape)
        for idx in entries(shape):
            arr[idx] = F(given[idx])
        flat.append((name, tuple(arr.reshape(-1))))
    return Assignment(net, samples, tuple(flat))


def grads_of(a: Assignment) -> dict[str, list]:
    """Gradients as nested lists of Fractions, for readable comparisons."""
    ev = numeric.evaluate(a, exact=True)
    return {p: g.tolist() for p, g in ev.gradients.items()}


def assert_all_fractions(ev: numeric.Evaluation) -> None:
    for arr in [ev.yhat, *ev.gradients.values(), *ev.pre_activations, *ev.activations]:
        for v in np.asarray(arr, dtype=object).reshape(-1):
            assert type(v) is F, (v, type(v))
    assert type(ev.loss) is F


# --------------------------------------------------------------------------
# seed-001: the worked example


SEED_001 = dict(W1=[[1]], b1=[-1], W2=[[1]], b2=[-1], x=[[0], [2], [3]], y=[[-2], [2], [0]])


def test_seed_001_gradients_are_exact():
    net = Network.parse("1-1-1", activation="relu", bias=True, loss="mse")
    a = assignment(net, 3, **SEED_001)
    ev = numeric.evaluate(a)
    assert_all_fractions(ev)
    # z1 = x - 1 = (-1, 1, 2); a1 = (0, 1, 2); yhat = a1 - 1 = (-1, 0, 1); yhat - y = (1, -2, 1)
    assert ev.pre_activations[0].reshape(-1).tolist() == [-1, 1, 2]
    assert ev.pattern[0].reshape(-1).tolist() == [False, True, True]
    assert ev.yhat.reshape(-1).tolist() == [-1, 0, 1]
    assert ev.residual.reshape(-1).tolist() == [1, -2, 1]
    assert ev.loss == F(6, 3)  # mean of 1, 4, 1
    g = ev.gradients
    # delta2 = 2/3 * (1, -2, 1): sums to 0, and against a1 = (0, 1, 2) also 0.
    assert g["b2"][0] == 0
    assert g["W2"][0, 0] == 0
    # delta1 = delta2 * W2 * relu'(z1) = (0, -4/3, 2/3): b1 sums to -2/3, W1 = -4/3*2 + 2/3*3 = -2/3.
    assert g["b1"][0] == F(-2, 3)
    assert g["W1"][0, 0] == F(-2, 3)
    assert {type(v) for arr in g.values() for v in arr.reshape(-1)} == {F}


def test_shapes_follow_the_parameter_names():
    net = Network.parse("2-3-1")
    a = assignment(net, 2, W1=np.zeros((3, 2)).tolist(), b1=[0, 0, 0], W2=[[0, 0, 0]], b2=[0],
                   x=[[0, 0], [0, 0]], y=[[0], [0]])
    ev = numeric.evaluate(a)
    assert {p: g.shape for p, g in ev.gradients.items()} == {"W1": (3, 2), "b1": (3,), "W2": (1, 3), "b2": (1,)}
    assert ev.yhat.shape == (2, 1)
    assert [p.shape for p in ev.pattern] == [(2, 3)]


# --------------------------------------------------------------------------
# loss scaling


def test_sse_gradient_is_m_times_width_times_mse_gradient():
    values = dict(W1=[[1, -2], [0, 1], [2, 1]], b1=[0, 1, F(-1, 2)], W2=[[1, 2, -1], [F(1, 3), 0, 1]], b2=[1, -1],
                  x=[[1, 0], [2, -1], [0, 3]], y=[[0, 1], [F(1, 2), 0], [-1, 2]])
    mse = assignment(Network.parse("2-3-2", loss="mse"), 3, **values)
    sse = assignment(Network.parse("2-3-2", loss="sse"), 3, **values)
    g_mse, g_sse = numeric.evaluate(mse).gradients, numeric.evaluate(sse).gradients
    scale = 3 * 2  # M * width_L
    nonzero = 0
    for p in g_mse:
        for a, b in zip(g_mse[p].reshape(-1), g_sse[p].reshape(-1), strict=True):
            assert b == scale * a
            nonzero += a != 0
    assert nonzero > 3  # the scaling was really exercised
    assert numeric.evaluate(sse).loss == scale * numeric.evaluate(mse).loss


def test_sse_by_hand():
    # 1-1 (no hidden layer), sse: L = sum (w x + b - y)^2, dL/dw = 2 sum r x, dL/db = 2 sum r.
    net = Network.parse("1-1", loss="sse")
    a = assignment(net, 2, W1=[[2]], b1=[1], x=[[1], [-1]], y=[[0], [0]])
    ev = numeric.evaluate(a)
    # r = (3, -1)
    assert ev.loss == 10
    assert grads_of(a) == {"W1": [[2 * (3 * 1 + (-1) * (-1))]], "b1": [2 * (3 - 1)]}


# --------------------------------------------------------------------------
# the derivative at exactly 0


@pytest.mark.parametrize("setting, expected", [(0, 0), (1, 2)])
def test_relu_grad_at_zero_decides_a_unit_at_exactly_zero(setting, expected):
    # z1 = 1*1 - 1 = 0: relu(0) = 0 on both branches, so yhat = 0 either way and
    # the residual is 0 - (-1) = 1, delta2 = 2 (mse, M = 1, width 1).  What
    # reaches layer 1 is delta2 * W2 * relu'(0) = 2 * relu'(0).
    net = Network.parse("1-1-1", relu_grad_at_zero=setting)
    a = assignment(net, 1, W1=[[1]], b1=[-1], W2=[[1]], b2=[0], x=[[1]], y=[[-1]])
    ev = numeric.evaluate(a)
    assert ev.pre_activations[0][0, 0] == 0
    assert ev.pattern[0][0, 0] == bool(setting)
    assert ev.yhat[0, 0] == 0
    assert grads_of(a) == {"W2": [[0]], "b2": [2], "W1": [[expected]], "b1": [expected]}


def test_relu_grad_at_zero_only_matters_at_zero():
    for setting in (0, 1):
        net = Network.parse("1-1-1", relu_grad_at_zero=setting)
        # z = -1/1000: inactive under both settings
        a = assignment(net, 1, W1=[[1]], b1=[-1 - F(1, 1000)], W2=[[1]], b2=[0], x=[[1]], y=[[-1]])
        assert grads_of(a)["b1"] == [0]
        # z = 1/1000: yhat = 1/1000, delta2 = 2 (1 + 1/1000), passed on whole
        a = assignment(net, 1, W1=[[1]], b1=[-1 + F(1, 1000)], W2=[[1]], b2=[0], x=[[1]], y=[[-1]])
        assert grads_of(a)["b1"] == [2 * (1 + F(1, 1000))]


def test_leaky_relu_negative_side():
    # z = -2, a = -2/100 = -1/50, yhat = -1/50, delta2 = 2 * (-1/50) = -1/25,
    # dW2 = delta2 * a = 1/1250, delta1 = delta2 * W2 * 1/100 = -1/2500, dW1 = delta1 * x = 1/1250.
    net = Network.parse("1-1-1", activation="leaky_relu")
    assert net.leaky_slope == F(1, 100)
    a = assignment(net, 1, W1=[[1]], b1=[0], W2=[[1]], b2=[0], x=[[-2]], y=[[0]])
    ev = numeric.evaluate(a)
    assert ev.activations[1][0, 0] == F(-1, 50)
    assert ev.yhat[0, 0] == F(-1, 50)
    assert grads_of(a) == {"W2": [[F(1, 1250)]], "b2": [F(-1, 25)], "W1": [[F(1, 1250)]], "b1": [F(-1, 2500)]}


@pytest.mark.parametrize("setting, slope", [(0, F(1, 100)), (1, F(1))])
def test_leaky_relu_at_zero(setting, slope):
    # z = 0, a = 0; yhat = b2 = 1, delta2 = 2; delta1 = 2 * W2 * slope = 6 * slope.
    net = Network.parse("1-1-1", activation="leaky_relu", relu_grad_at_zero=setting)
    a = assignment(net, 1, W1=[[1]], b1=[0], W2=[[3]], b2=[1], x=[[0]], y=[[0]])
    assert grads_of(a) == {"W2": [[0]], "b2": [2], "W1": [[0]], "b1": [6 * slope]}


def test_leaky_relu_custom_slope():
    net = Network((1, 1, 1), activation="leaky_relu", leaky_slope=F(1, 3))
    a = assignment(net, 1, W1=[[1]], b1=[0], W2=[[1]], b2=[0], x=[[-3]], y=[[0]])
    ev = numeric.evaluate(a)
    # a = -1, yhat = -1, delta2 = -2, dW2 = 2, delta1 = -2/3, dW1 = 2, db1 = -2/3
    assert ev.yhat[0, 0] == -1
    assert grads_of(a) == {"W2": [[2]], "b2": [-2], "W1": [[2]], "b1": [F(-2, 3)]}


# --------------------------------------------------------------------------
# linear hidden layers and no bias


def test_linear_hidden_layer():
    # 1-2-1, M = 2, mse (c = 2 / 2 = 1).  z = (1, -1) and (2, -3); a = z.
    # yhat = 3 a_0 + a_1 = (2, 3) = delta2.
    # dW2 = 2 (1, -1) + 3 (2, -3) = (8, -11); db2 = 5.
    # delta1 = delta2 W2 = (6, 2) and (9, 3); dW1 = 6*1 + 9*2, 2*1 + 3*2 = (24, 8); db1 = (15, 5).
    values = dict(W1=[[1], [-2]], b1=[0, 1], W2=[[3, 1]], b2=[0], x=[[1], [2]], y=[[0], [0]])
    linear = assignment(Network.parse("1-2-1", activation="linear"), 2, **values)
    ev = numeric.evaluate(linear)
    assert ev.yhat.reshape(-1).tolist() == [2, 3]
    assert ev.pattern[0].tolist() == [[True, True], [True, True]]
    assert grads_of(linear) == {"W2": [[8, -11]], "b2": [5], "W1": [[24], [8]], "b1": [15, 5]}
    # The same values under ReLU: unit 2 is dead (z < 0), so its gradients vanish.
    relu = numeric.evaluate(assignment(Network.parse("1-2-1", activation="relu"), 2, **values)).gradients
    assert relu["W1"][1, 0] == 0 and relu["b1"][1] == 0 and relu["W2"][0, 1] == 0


def test_linear_network_has_no_kinks_even_at_zero():
    for setting in (0, 1):
        net = Network.parse("1-1-1", activation="linear", relu_grad_at_zero=setting)
        a = assignment(net, 1, W1=[[1]], b1=[-1], W2=[[1]], b2=[0], x=[[1]], y=[[-1]])
        assert grads_of(a)["b1"] == [2]


def test_no_bias_network():
    # z = 2, a = 2, yhat = 6, r = 5, delta2 = c r = 10 (mse with M = 1, width 1: c = 2).
    # dW2 = delta2 a = 20, delta1 = delta2 W2 = 30, dW1 = delta1 x = 30.
    net = Network.parse("1-1-1", bias=False)
    assert net.parameter_names() == ("W1", "W2")
    a = assignment(net, 1, W1=[[2]], W2=[[3]], x=[[1]], y=[[1]])
    ev = numeric.evaluate(a)
    assert ev.yhat[0, 0] == 6
    assert set(ev.gradients) == {"W1", "W2"}
    assert grads_of(a) == {"W2": [[20]], "W1": [[30]]}


def test_no_bias_kinks_at_zero_input():
    # Without biases, W1 = 0 puts both hidden layers at exactly 0 (z1 = 0, z2 = W2 * 0 = 0),
    # yhat = 0, r = 1, delta3 = 2.  Backprop: delta2 = 2 * W3 * s = 6 s, delta1 = 6 s * W2 * s = 6 s^2,
    # dW1 = delta1 * x = 6 s^2 with s = relu'(0); dW2 = delta2 * a1 = 0, dW3 = delta3 * a2 = 0.
    for setting, expected in ((0, 0), (1, 6)):
        net = Network.parse("1-1-1-1", bias=False, relu_grad_at_zero=setting)
        a = assignment(net, 1, W1=[[0]], W2=[[1]], W3=[[3]], x=[[1]], y=[[-1]])
        ev = numeric.evaluate(a)
        assert [p[0, 0] for p in ev.pattern] == [bool(setting)] * 2
        assert grads_of(a) == {"W3": [[0]], "W2": [[0]], "W1": [[expected]]}


def test_depth_one_network_is_linear_regression():
    net = Network.parse("2-1", bias=True, loss="mse")
    a = assignment(net, 2, W1=[[1, 1]], b1=[0], x=[[1, 2], [3, 4]], y=[[0], [0]])
    ev = numeric.evaluate(a)
    assert ev.pattern == ()
    # r = (3, 7), c = 1: dW = 3 (1, 2) + 7 (3, 4) = (24, 34), db = 10
    assert grads_of(a) == {"W1": [[24, 34]], "b1": [10]}


# --------------------------------------------------------------------------
# An independent per-sample reference


def naive_gradients(widths, activation, bias, loss, rgz, params, x, y, slope_off=F(1, 100)):
    """Forward and backward pass one sample at a time, with lists of Fractions only.

    Written from the maths, not from numeric.py: a hidden unit is on the active
    branch when z > 0, or z == 0 and relu'(0) is set to 1; relu passes 0 when
    inactive, leaky_relu passes z/100; the output layer is linear; mse averages
    over all M * width_L squared errors.
    """
    L = len(widths) - 1
    M = len(x)
    c = F(2, M * widths[-1]) if loss == "mse" else F(2)
    gW = {k: [[F(0)] * widths[k - 1] for _ in range(widths[k])] for k in range(1, L + 1)}
    gb = {k: [F(0)] * widths[k] for k in range(1, L + 1)}
    yhats = []
    for m in range(M):
        acts = [list(x[m])]
        derivs = []
        z = None
        for k in range(1, L + 1):
            W = params[f"W{k}"]
            z = []
            for j in range(widths[k]):
                total = F(0)
                for i in range(widths[k - 1]):
                    total += W[j][i] * acts[-1][i]
                if bias:
                    total += params[f"b{k}"][j]
                z.append(total)
            if k < L:
                a, d = [], []
                for v in z:
                    if activation == "linear":
                        a.append(v)
                        d.append(F(1))
                    elif v > 0 or (v == 0 and rgz == 1):
                        a.append(v)
                        d.append(F(1))
                    else:
                        s = F(0) if activation == "relu" else slope_off
                        a.append(s * v)
                        d.append(s)
                acts.append(a)
                derivs.append(d)
        yhats.append(z)
        delta = [c * (z[o] - y[m][o]) for o in range(widths[L])]
        for k in range(L, 0, -1):
            for j in range(widths[k]):
                gb[k][j] += delta[j]
                for i in range(widths[k - 1]):
                    gW[k][j][i] += delta[j] * acts[k - 1][i]
            if k > 1:
                W = params[f"W{k}"]
                delta = [sum((delta[j] * W[j][i] for j in range(widths[k])), F(0)) * derivs[k - 2][i]
                         for i in range(widths[k - 1])]
    out = {}
    for k in range(1, L + 1):
        out[f"W{k}"] = gW[k]
        if bias:
            out[f"b{k}"] = gb[k]
    return out, yhats


def random_values(rng: random.Random, widths, samples, bias):
    pool = [F(0)] * 4 + [F(v) for v in (-2, -1, 1, 2)] + [F(1, 2), F(-1, 2), F(1, 3), F(-3, 2), F(5, 7)]
    params = {}
    for k in range(1, len(widths)):
        params[f"W{k}"] = [[rng.choice(pool) for _ in range(widths[k - 1])] for _ in range(widths[k])]
        if bias:
            params[f"b{k}"] = [rng.choice(pool) for _ in range(widths[k])]
    x = [[rng.choice(pool) for _ in range(widths[0])] for _ in range(samples)]
    y = [[rng.choice(pool) for _ in range(widths[-1])] for _ in range(samples)]
    return params, x, y


CASES = list(itertools.product(["relu", "leaky_relu", "linear"], [True, False], ["mse", "sse"], [0, 1]))


@pytest.mark.parametrize("activation, bias, loss, rgz", CASES)
def test_2_3_3_2_against_naive_loop(activation, bias, loss, rgz):
    widths = (2, 3, 3, 2)
    net = Network(widths, activation=activation, bias=bias, loss=loss, relu_grad_at_zero=rgz)
    rng = random.Random(f"{activation}-{bias}-{loss}-{rgz}")
    saw_zero = False
    for trial in range(15):
        samples = 1 + trial % 3
        params, x, y = random_values(rng, widths, samples, bias)
        a = assignment(net, samples, x=x, y=y, **params)
        ev = numeric.evaluate(a)
        expected, yhats = naive_gradients(widths, activation, bias, loss, rgz, params, x, y)
        assert ev.yhat.tolist() == yhats
        assert {p: g.tolist() for p, g in ev.gradients.items()} == expected
        saw_zero = saw_zero or any(v == 0 for z in ev.pre_activations[:-1] for v in z.reshape(-1))
    assert saw_zero  # the values were chosen so that kinks at exactly 0 occur


def test_naive_loop_hand_fixture_with_zero_preactivations():
    # A hand-made 2-3-3-2 case where layer-1 and layer-2 units sit at exactly 0,
    # so the two settings of relu'(0) give different gradients.
    params = {"W1": [[1, -1], [0, 1], [1, 1]], "b1": [0, -1, 0],
              "W2": [[1, 0, 0], [0, 1, -1], [1, 1, 1]], "b2": [-1, 0, 0],
              "W3": [[1, 2, -1], [0, 1, 1]], "b3": [0, 1]}
    params = {k: [[F(e) for e in row] for row in v] if isinstance(v[0], list) else [F(e) for e in v]
              for k, v in params.items()}
    x = [[F(1), F(1)], [F(2), F(1)]]
    y = [[F(0), F(0)], [F(1), F(-1)]]
    results = {}
    for rgz in (0, 1):
        net = Network((2, 3, 3, 2), relu_grad_at_zero=rgz)
        a = assignment(net, 2, x=x, y=y, **params)
        ev = numeric.evaluate(a)
        assert ev.pre_activations[0][0].tolist() == [0, 0, 2]  # sample 0: two units at exactly 0
        expected, _ = naive_gradients((2, 3, 3, 2), "relu", True, "mse", rgz, params, x, y)
        got = {p: g.tolist() for p, g in ev.gradients.items()}
        assert got == expected
        results[rgz] = got
    assert results[0] != results[1]


# --------------------------------------------------------------------------
# float64 agrees with the exact pass


@pytest.mark.parametrize("activation, bias, loss, rgz", CASES[::3])
def test_float_pass_agrees_with_exact(activation, bias, loss, rgz):
    widths = (2, 3, 3, 2)
    net = Network(widths, activation=activation, bias=bias, loss=loss, relu_grad_at_zero=rgz)
    rng = random.Random(7)
    for samples in (1, 2, 3):
        params, x, y = random_values(rng, widths, samples, bias)
        a = assignment(net, samples, x=x, y=y, **params)
        exact = numeric.evaluate(a, exact=True)
        approx = numeric.evaluate(a, exact=False)
        assert approx.yhat.dtype == np.float64
        for p in exact.gradients:
            assert approx.gradients[p].dtype == np.float64
            assert np.allclose(approx.gradients[p], exact.gradients[p].astype(np.float64), rtol=0, atol=1e-9)
        assert np.allclose(approx.yhat, exact.yhat.astype(np.float64), rtol=0, atol=1e-9)
        assert abs(approx.loss - float(exact.loss)) <= 1e-9
        assert [p.tolist() for p in approx.pattern] == [p.tolist() for p in exact.pattern]
        assert numeric.float_deviation(exact, approx) <= 1e-9


def test_float_deviation_sees_a_disagreement():
    net = Network.parse("1-1")
    a = assignment(net, 1, W1=[[1]], b1=[0], x=[[F(1, 3)]], y=[[0]])
    exact = numeric.evaluate(a, exact=True)
    approx = numeric.evaluate(a, exact=False)
    assert 0 <= numeric.float_deviation(exact, approx) <= 1e-15
    shifted = numeric.Evaluation(approx.pre_activations, approx.activations, approx.pattern, approx.yhat + 1e-3,
                                 approx.residual, approx.loss, approx.gradients)
    assert numeric.float_deviation(exact, shifted) == pytest.approx(1e-3)


def test_seed_001_recheck_float_deviation():
    from cexsearch.lang import parse
    from cexsearch.model.problem import Problem

    net = Network.parse("1-1-1")
    a = assignment(net, 3, **SEED_001)
    problem = Problem(net, 3, (parse("grad(W1) == -2/3"), parse("grad(b2) == 0"), parse("grad(W2) != 0")))
    check = numeric.recheck(problem, a)
    assert [c.holds for c in check.conditions] == [True, True, False]
    assert not check.confirmed
    assert check.failures() == ["grad(W2) != 0"]
    assert check.float_deviation <= 1e-9


# --------------------------------------------------------------------------
# numeric reads the single trace


def test_the_model_is_built_once_per_network():
    net = Network.parse("2-3-1", activation="leaky_relu")
    assert numeric.model_of(net) is numeric.model_of(Network.parse("2-3-1", activation="leaky_relu"))
    assert numeric.model_of(net) is not numeric.model_of(Network.parse("2-3-1"))
    a = assignment(net, 1, W1=[[1, 2], [0, -1], [3, 1]], b1=[0, 1, -1], W2=[[1, 1, 1]], b2=[0], x=[[1, 1]], y=[[0]])
    assert numeric.evaluate(a).trace.model is numeric.model_of(net)


def test_active_piece_is_the_rightmost_piece_of_slope_one():
    from cexsearch.model.activations import activation

    assert numeric.active_piece(activation("relu")) == 1
    assert numeric.active_piece(activation("leaky_relu", negative_slope=F(1))) == 1  # both slopes 1: z > 0
    assert numeric.active_piece(activation("hardtanh")) == 1
    assert numeric.active_piece(activation("abs")) == 2
    assert numeric.active_piece(activation("identity")) == 0


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "linear"])
@pytest.mark.parametrize("rgz", [0, 1])
def test_pattern_is_is_active_of_every_pre_activation(activation, rgz):
    net = Network.parse("2-3-2-1", activation=activation, relu_grad_at_zero=rgz, leaky_slope=F(1))
    rng = random.Random(7)
    for _ in range(20):
        values = {n: np.array([F(rng.randint(-2, 2)) for _ in range(int(np.prod(net.shape(n, 3))))],
                              dtype=object).reshape(net.shape(n, 3)) for n in net.variable_names()}
        ev = numeric.evaluate(assignment(net, 3, **{n: v.tolist() for n, v in values.items()}))
        assert len(ev.pattern) == 2 and len(ev.activations) == 3 and len(ev.pre_activations) == 3
        for z, on in zip(ev.pre_activations, ev.pattern):
            assert on.dtype == bool and on.shape == z.shape
            expect = [True] * z.size if activation == "linear" else [net.is_active(v) for v in z.reshape(-1)]
            assert on.reshape(-1).tolist() == expect


def test_fractional_targets_and_weights_give_the_naive_loop_exactly():
    """The exact algebra multiplies over common denominators in ints: the same Fractions as plain arithmetic."""
    widths = (2, 3, 3, 2)
    net = Network(widths)
    rng = random.Random(11)
    for _ in range(10):
        def q():
            return F(rng.randint(-9, 9), rng.choice([1, 2, 3, 5, 7]))
        params = {f"W{k}": [[q() for _ in range(widths[k - 1])] for _ in range(widths[k])] for k in (1, 2, 3)}
        params.update({f"b{k}": [q() for _ in range(widths[k])] for k in (1, 2, 3)})
        x, y = [[q(), q()] for _ in range(3)], [[q(), q()] for _ in range(3)]
        a = assignment(net, 3, x=x, y=y, **params)
        ev = numeric.evaluate(a)
        assert_all_fractions(ev)
        expected, yhats = naive_gradients(widths, "relu", True, "mse", 0, params, x, y)
        assert ev.yhat.tolist() == yhats and grads_of(a) == expected


def test_a_torch_named_network_evaluates_under_its_internal_names():
    from cexsearch.model.network import ParameterNames

    names = ParameterNames((("W1", "fc.weight"), ("b1", "fc.bias"), ("W2", "out.weight"), ("b2", "out.bias")))
    net = Network.parse("1-1-1", names=names)
    ev = numeric.evaluate(assignment(net, 3, **SEED_001))
    assert list(ev.gradients) == ["W1", "b1", "W2", "b2"] and ev.gradients["W1"][0, 0] == F(-2, 3)


def test_satisfies_is_rechecks_verdict():
    from cexsearch.lang import parse
    from cexsearch.model.problem import Domain, FixedValues, Problem

    net = Network.parse("1-1-1")
    a = assignment(net, 3, **SEED_001)
    holds = (parse("grad(W2) == 0"), parse("grad(W1) != 0"))
    for conditions, fixed, domain in [(holds, (), Domain()), (holds + (parse("grad(b1) == 0"),), (), Domain()),
                                      (holds, ((("W1", (0, 0), F(2))),), Domain()),
                                      (holds, (), Domain(bound=F(1))), (holds, (), Domain(integers=True))]:
        problem = Problem(net, 3, conditions, FixedValues(fixed), domain)
        assert numeric.satisfies(problem, a) == numeric.recheck(problem, a).confirmed
    assert numeric.satisfies(Problem(net, 3, holds), a)

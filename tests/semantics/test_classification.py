"""bce and ce in the exact trace: values and gradients against torch float64, exact zero tests
(Facts 1 and 2 of cexsearch.semantics.transcendental) against 50-digit evaluation, and the re-check
deciding a gradient that cancels by symmetry."""

from __future__ import annotations

import random
from fractions import Fraction as F

import numpy as np
import pytest

from cexsearch.api import build_problem, layer_network
from cexsearch.model.losses import loss
from cexsearch.model.problem import Assignment
from cexsearch.semantics import numeric
from cexsearch.semantics import transcendental as T

torch = pytest.importorskip("torch")
mpmath = pytest.importorskip("mpmath")

MLP = "Sequential(Linear(2, 3), ReLU(), Linear(3, {n}))"
CONV = "Sequential(Conv1d(1, 2, 2), ReLU(), Flatten(), Linear(6, {n}))"
SHAPES = {MLP: "2", CONV: "1,4"}


def rational(rng: random.Random, lo: int = -3, hi: int = 3) -> F:
    return F(rng.randint(lo * 4, hi * 4), rng.choice((1, 2, 4)))


def targets(rng: random.Random, name: str, labels: str, samples: int, n: int) -> list[list[F]]:
    if name == "bce":
        return [[F(rng.randint(0, 1)) if labels == "hard" else F(rng.randint(0, 8), 8) for _ in range(n)]
                for _ in range(samples)]
    rows = []
    for _ in range(samples):
        if labels == "hard":
            k = rng.randrange(n)
            rows.append([F(int(j == k)) for j in range(n)])
        else:
            w = [rng.randint(0, 4) for _ in range(n)]
            w[0] += 1
            rows.append([F(v, sum(w)) for v in w])
    return rows


def witness(text: str, name: str, labels: str, samples: int, rng: random.Random, equal_logits: bool = False):
    n = 1 if name == "bce" else 3
    net = layer_network(text.format(n=n), SHAPES[text], loss=loss(name, labels=labels))
    values = {}
    for var in net.parameter_names():
        for idx in np.ndindex(net.shape(var, samples)):
            values[(var, idx)] = rational(rng)
    last_w, last_b = net.parameter_names()[-2:]
    if equal_logits:  # every logit the same: p = 1/2 (bce at 0) or 1/n (ce)
        for idx in np.ndindex(net.shape(last_w, samples)):
            values[(last_w, idx)] = F(0)
        c = rational(rng)
        for idx in np.ndindex(net.shape(last_b, samples)):
            values[(last_b, idx)] = F(0) if name == "bce" else c
    for idx in np.ndindex(net.shape("x", samples)):
        values[("x", idx)] = rational(rng)
    for m, row in enumerate(targets(rng, name, labels, samples, n)):
        for j, v in enumerate(row):
            values[("y", (m, j))] = v
    return net, Assignment.from_entries(net, samples, values)


def torch_reference(net, a: Assignment, name: str) -> tuple[float, dict[str, np.ndarray]]:
    """Loss and gradients by torch.nn modules built here, float64, PyTorch's own losses."""
    values = net.values_of(a)
    mods = []
    for layer in net.layers:
        kind = type(layer).__name__
        if kind == "Linear":
            mods.append(torch.nn.Linear(layer.in_features, layer.out_features, dtype=torch.float64))
        elif kind.startswith("Conv"):
            mods.append(torch.nn.Conv1d(layer.in_channels, layer.out_channels, layer.kernel_size[0],
                                        dtype=torch.float64))
        elif kind == "Flatten":
            mods.append(torch.nn.Flatten())
        else:
            mods.append(torch.nn.ReLU())
    seq = torch.nn.Sequential(*mods)
    params = [m for m in mods if hasattr(m, "weight")]
    names = net.parameter_names()
    for i, m in enumerate(params):
        with torch.no_grad():
            m.weight.copy_(torch.tensor(np.asarray(values[names[2 * i]], dtype=float)))
            m.bias.copy_(torch.tensor(np.asarray(values[names[2 * i + 1]], dtype=float)))
    x = torch.tensor(np.asarray(values["x"], dtype=float))
    y = torch.tensor(np.asarray(values["y"], dtype=float))
    out = seq(x)
    fn = torch.nn.BCEWithLogitsLoss() if name == "bce" else torch.nn.CrossEntropyLoss()
    value = fn(out, y)
    value.backward()
    value = value.detach()
    grads = {}
    for i, m in enumerate(params):
        grads[names[2 * i]] = m.weight.grad.numpy()
        grads[names[2 * i + 1]] = m.bias.grad.numpy()
    return float(value), grads


def close(exact, approx: float, scale: float = 1.0) -> bool:
    lo, hi = (exact.bounds(96) if isinstance(exact, T.Value) else (F(exact), F(exact)))
    err = max(abs(float(lo) - approx), abs(float(hi) - approx))
    return err <= 1e-12 + 1e-10 * max(scale, abs(approx))


CASES = [(text, name, labels) for text in (MLP, CONV) for name in ("bce", "ce") for labels in ("hard", "soft")]


@pytest.mark.parametrize("text,name,labels", CASES)
def test_loss_and_gradients_match_torch_float64(text, name, labels):
    rng = random.Random(hash((text, name, labels)) % 1000)
    for trial in range(3):
        net, a = witness(text, name, labels, 2, rng)
        ev = numeric.evaluate(a)
        ref_loss, ref_grads = torch_reference(net, a, name)
        assert close(ev.loss, ref_loss), (trial, ev.loss, ref_loss)
        for p, g in ev.gradients.items():
            for idx in np.ndindex(g.shape):
                assert close(g[idx], float(ref_grads[p][idx])), (trial, p, idx, g[idx], ref_grads[p][idx])


@pytest.mark.parametrize("name", ["bce", "ce"])
@pytest.mark.parametrize("text", [MLP, CONV])
def test_equal_logits_give_rational_probabilities_and_gradients(text, name):
    rng = random.Random(7)
    net, a = witness(text, name, "soft", 2, rng, equal_logits=True)
    ev = numeric.evaluate(a)
    p = ev.trace.probabilities
    n = p.shape[1]
    assert all(v == (F(1, 2) if name == "bce" else F(1, n)) and isinstance(v, F) for v in p.reshape(-1))
    assert all(isinstance(v, (int, F)) for g in ev.gradients.values() for v in g.reshape(-1))
    _, ref_grads = torch_reference(net, a, name)
    for q, g in ev.gradients.items():
        for idx in np.ndindex(g.shape):
            assert close(g[idx], float(ref_grads[q][idx]))


def symmetric(w0: F, w1: F = F(0), y1: F = F(0)):
    """Linear(2, 1) with bce: x = (1, 1) and (-1, 1), so z = w0 + w1 and -w0 + w1; y = 1 and y1."""
    net = layer_network("Sequential(Linear(2, 1))", "2", loss=loss("bce", labels="soft"))
    a = Assignment.from_entries(net, 2, {("W1", (0, 0)): w0, ("W1", (0, 1)): w1, ("b1", (0,)): F(0),
                                         ("x", (0, 0)): F(1), ("x", (0, 1)): F(1), ("x", (1, 0)): F(-1),
                                         ("x", (1, 1)): F(1), ("y", (0, 0)): F(1), ("y", (1, 0)): y1})
    return net, a


def test_recheck_decides_a_cancellation_by_symmetry_exactly_and_rejects_a_near_miss():
    net, a = symmetric(F(3, 2))  # z = 3/2 and -3/2, y = 1 and 0: the two samples' deltas cancel
    problem = build_problem(net, 2, ["grad(b1) == 0", "grad(W1)[0,1] == 0", "grad(W1)[0,0] != 0"])
    check = numeric.recheck(problem, a)
    assert check.confirmed and all(not c.undecided for c in check.conditions)
    g = check.evaluation.gradients
    assert g["b1"][0] == 0 and g["W1"][0, 1] == 0 and str(g["W1"][0, 0]) == "-1 + sigmoid(3/2)"
    # z = 3/2 + 1/1000 and -3/2 + 1/1000: sigmoid(1501/1000) - sigmoid(1499/1000) != 0, about 1.5e-4
    net, near = symmetric(F(3, 2), F(1, 1000))
    check = numeric.recheck(build_problem(net, 2, ["grad(b1) == 0"]), near)
    assert not check.confirmed and not check.conditions[0].undecided
    gb = check.evaluation.gradients["b1"][0]
    assert isinstance(gb, T.Value) and not gb.is_zero() and 0 < float(gb) < 1e-3


def mp_value(v) -> mpmath.mpf:
    """A Value evaluated at 50 digits from its atoms' definitions (mpmath, no cexsearch arithmetic)."""
    total = mpmath.mpf(v.const.numerator) / v.const.denominator
    for atom, c in v.terms.items():
        zs = [mpmath.mpf(z.numerator) / z.denominator for z in atom.logits]
        if isinstance(atom, T.Prob):
            w = mpmath.mpf(atom.w.numerator) / atom.w.denominator
            a = mpmath.exp(w) / mpmath.fsum(mpmath.exp(z) for z in zs)
        else:
            a = mpmath.log(mpmath.fsum(mpmath.exp(z) for z in zs))
        total += mpmath.mpf(c.numerator) / c.denominator * a
    return total


def test_fact_1_random_sigmoid_combinations_are_nonzero_with_certified_bounds():
    mpmath.mp.dps = 50
    rng = random.Random(1)
    for _ in range(200):
        k = rng.randint(1, 4)
        points = rng.sample(sorted({F(m, q) for q in (1, 2, 3, 5) for m in range(1, 9)}), k)
        coeffs = [F(rng.randint(-5, 5), rng.randint(1, 4)) for _ in points]
        if not any(coeffs):
            coeffs[0] = F(1)
        v = F(rng.randint(-3, 3), 2) + sum(c * T.sigmoid(a if rng.random() < 0.5 else -a)
                                           for c, a in zip(coeffs, points))
        if not isinstance(v, T.Value):  # distinct points never cancel; a negated point is 1 - sigmoid
            raise AssertionError(f"the atoms cancelled to {v}")
        assert not v.is_zero() and v != 0
        exact = mp_value(v)
        sign = v.sign()
        assert sign == (1 if exact > 0 else -1)
        for bits in (64, 128):  # 128 bits is about 38 digits, within the 50 of the evaluation
            lo, hi = v.bounds(bits)
            assert mpmath.mpf(lo.numerator) / lo.denominator <= exact <= mpmath.mpf(hi.numerator) / hi.denominator
        lo, hi = next(b for b in (v.bounds(bits) for bits in T.PRECISIONS) if b[0] > 0 or b[1] < 0)
        assert (lo > 0) == (sign > 0) and (hi < 0) == (sign < 0)


@pytest.mark.parametrize("q", [1, 2, 3, 7])
def test_fact_2_the_four_class_softmax_relation_is_decided_zero(q):
    """D = 1 + u + u^2 + u^3 = (1 + u)(1 + u^2) with u = e^(1/q): softmax(0, 1, 2, 3)/q's p_0 + p_1 =
    (1 + u)/D = 1/(1 + u^2) = 1 - sigmoid(2/q), and p_0 + p_2 = 1/(1 + u) = 1 - sigmoid(1/q)."""
    mpmath.mp.dps = 50
    p = T.softmax([F(j, q) for j in range(4)])
    relation = p[0] + p[1] + T.sigmoid(F(2, q)) - 1
    assert isinstance(relation, T.Value) and len(relation.terms) >= 2  # not cancelled by the canonical form
    assert relation.is_zero() and relation == 0 and relation.sign() == 0
    assert abs(mp_value(relation)) < mpmath.mpf(10) ** -45
    other = p[0] + p[2] + T.sigmoid(F(1, q)) - 1
    assert other.is_zero()
    near = relation + F(1, 10**6)
    assert not near.is_zero() and near.sign() == 1
    independent = p[0] + p[3] + T.sigmoid(F(2, q)) - 1  # (1 + u^3)/D = (1 - u + u^2)/(1 + u^2): no relation
    assert not independent.is_zero()
    assert (independent.sign() > 0) == (mp_value(independent) > 0)

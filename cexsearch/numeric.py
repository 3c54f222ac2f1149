"""The reference semantics: forward pass, backprop and conditions, without Z3.

Everything here is computed twice over: exactly with :class:`fractions.Fraction`
(object arrays) and in numpy float64, by the same matrix code.  The encoding in
:mod:`cexsearch.encode` is tested against this module, and no witness is shown
to a user before :func:`recheck` has confirmed it exactly.

Batch form, with ``A0 = x`` (M x n0) and σ the hidden activation::

    Z_k = A_{k-1} W_k^T + b_k        A_k = σ(Z_k)  (k < L)       yhat = Z_L
    Δ_L = c (yhat - y)               c = 2/(M n_L) for mse, 2 for sse
    grad W_k = Δ_k^T A_{k-1}         grad b_k = Σ_m Δ_k[m]
    Δ_{k-1} = (Δ_k W_k) ⊙ σ'(Z_{k-1})

σ' at a pre-activation of exactly 0 follows ``relu_grad_at_zero``
(:meth:`cexsearch.spec.Network.is_active`).

>>> from fractions import Fraction as F
>>> from cexsearch.spec import Network, Assignment
>>> net = Network.parse("1-1-1")
>>> a = Assignment(net, 3, (("W1", (F(1),)), ("b1", (F(-1),)), ("W2", (F(1),)), ("b2", (F(-1),)),
...                         ("x", (F(0), F(2), F(3))), ("y", (F(-2), F(2), F(0)))))
>>> g = exact_gradients(a)
>>> [str(g[p].reshape(-1)[0]) for p in ("W1", "b1", "W2", "b2")]
['-2/3', '-2/3', '0', '0']
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from . import conditions as C
from .spec import Assignment, Network, Problem


@dataclass(frozen=True)
class Evaluation:
    """Every intermediate value of one forward and backward pass.

    Arrays are object arrays of Fractions for the exact pass and float64 arrays
    for the float pass.  ``pattern[k]`` (M x width of hidden layer k+1) says
    which units took the active branch.
    """

    pre_activations: tuple[np.ndarray, ...]
    activations: tuple[np.ndarray, ...]
    pattern: tuple[np.ndarray, ...]
    yhat: np.ndarray
    residual: np.ndarray
    loss: Any
    gradients: dict[str, np.ndarray]


def _array(a: Assignment, name: str, exact: bool) -> np.ndarray:
    shape = a.network.shape(name, a.samples)
    flat = a.flat(name)
    if exact:
        # Integers as Python ints: exact like Fractions, and far faster in the matrix products.
        arr = np.empty(len(flat), dtype=object)
        arr[:] = [v.numerator if v.denominator == 1 else v for v in flat]
        return arr.reshape(shape)
    return np.array([to_float(v) for v in flat], dtype=np.float64).reshape(shape)


def _int_if_whole(v: Fraction) -> Fraction | int:
    return v.numerator if v.denominator == 1 else v


def to_float(v: Fraction) -> float:
    """The nearest float64, or ±inf for a value beyond its range."""
    try:
        return float(v)
    except OverflowError:
        return float("inf") if v > 0 else float("-inf")


def evaluate(a: Assignment, exact: bool = True) -> Evaluation:
    """Forward pass and backprop of the batch loss for one assignment."""
    if not isinstance(a.network, Network):
        return evaluate_model(a, exact)
    net: Network = a.network
    L = net.depth
    active_slope, inactive_slope = net.slopes()
    s_on = _int_if_whole(active_slope) if exact else float(active_slope)
    s_off = _int_if_whole(inactive_slope) if exact else float(inactive_slope)
    W = [_array(a, f"W{k}", exact) for k in range(1, L + 1)]
    b = [_array(a, f"b{k}", exact) if net.bias else None for k in range(1, L + 1)]
    x, y = _array(a, "x", exact), _array(a, "y", exact)

    acts = [x]
    pres: list[np.ndarray] = []
    pattern: list[np.ndarray] = []
    slopes: list[np.ndarray] = []
    for k in range(L):
        z = acts[-1].dot(W[k].T)
        if b[k] is not None:
            z = z + b[k]
        pres.append(z)
        if k == L - 1:
            break
        if net.activation == "linear":
            on = np.ones(z.shape, dtype=bool)
        else:
            # is_active compares with 0, so it reads ints, Fractions and floats alike (a float
            # beyond range is ±inf, on its side of 0; NaN takes the branch of 0)
            on = np.vectorize(net.is_active, otypes=[bool])(z) if z.size else np.zeros(z.shape, bool)
        slope = np.where(on, s_on, s_off).astype(object if exact else np.float64)  # type: ignore[arg-type]
        pattern.append(on)
        slopes.append(slope)
        acts.append(z * slope)
    yhat = pres[-1]
    residual = yhat - y
    c = net.loss_gradient_scale(a.samples)
    with np.errstate(all="ignore"):  # the float pass may overflow on huge exact values; it only reports
        loss = net.loss_scale(a.samples) * (residual * residual).sum() if exact else float(
            net.loss_scale(a.samples)) * float((residual * residual).sum())
    # Backprop is linear in delta_L = c * residual, so it runs on the residual and every
    # gradient is scaled by c at the end: the same numbers, in integers where the data are.
    scale = c if exact else float(c)
    delta = residual
    if exact and delta.size:
        # Residuals over one common denominator D: backprop then runs on Python ints (Fraction
        # arithmetic dominated the shrinker's re-checks), and D goes into the final scale.
        D = math.lcm(*(Fraction(v).denominator for v in delta.reshape(-1)))
        if D != 1:
            delta = np.vectorize(lambda v: _int_if_whole(Fraction(v) * D), otypes=[object])(delta)
            scale = scale / D
    grads: dict[str, np.ndarray] = {}
    for k in range(L - 1, -1, -1):
        grads[f"W{k + 1}"] = delta.T.dot(acts[k]) * scale
        if net.bias:
            grads[f"b{k + 1}"] = (delta.sum(axis=0) if delta.shape[0] else np.zeros(
                delta.shape[1:], dtype=object if exact else np.float64)) * scale
        if k > 0:
            delta = delta.dot(W[k]) * slopes[k - 1]
    if exact:  # ints were a speed-up inside; every exact value leaves as a Fraction
        pres, acts = [_fractions(z) for z in pres], [_fractions(v) for v in acts]
        yhat, residual, loss = _fractions(yhat), _fractions(residual), Fraction(loss)
        grads = {p: _fractions(g) for p, g in grads.items()}
    return Evaluation(tuple(pres), tuple(acts), tuple(pattern), yhat, residual, loss, grads)


def _fractions(arr: np.ndarray) -> np.ndarray:
    out = np.empty(arr.shape, dtype=object)
    for idx in np.ndindex(arr.shape):
        out[idx] = Fraction(arr[idx])  # type: ignore[call-overload]
    return out


def exact_gradients(a: Assignment) -> dict[str, np.ndarray]:
    """The gradient of the batch loss for every parameter, exactly."""
    return evaluate(a, exact=True).gradients


def environment(a: Assignment, ev: Evaluation) -> dict[str, np.ndarray]:
    """Name -> array for condition evaluation: values, yhat and grad(P)."""
    env = {name: _array(a, name, True) for name in a.network.variable_names()}
    env["yhat"] = ev.yhat
    for p, g in ev.gradients.items():
        env[f"grad({p})"] = g
    return env


@dataclass(frozen=True)
class ConditionResult:
    """One condition's verdict, with the exact values it read (label and array), to show when it fails."""

    text: str
    holds: bool
    reads: tuple[tuple[str, np.ndarray], ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class Recheck:
    """The independent verdict on an assignment."""

    conditions: tuple[ConditionResult, ...]
    float_deviation: float
    evaluation: Evaluation

    @property
    def confirmed(self) -> bool:
        return all(c.holds for c in self.conditions)

    def failures(self) -> list[str]:
        return [c.text for c in self.conditions if not c.holds]


def float_deviation(exact: Evaluation, approx: Evaluation) -> float:
    """Largest absolute difference between the float64 and the exact pass (yhat and gradients)."""
    worst = 0.0
    pairs = [(exact.yhat, approx.yhat)] + [(exact.gradients[p], approx.gradients[p]) for p in exact.gradients]
    for e, f in pairs:
        for ev, fv in zip(np.asarray(e, dtype=object).reshape(-1), np.asarray(f).reshape(-1)):
            if not np.isfinite(fv):
                return float("inf")
            worst = max(worst, abs(to_float(Fraction(ev) - Fraction(float(fv)))))
    return worst


def recheck(problem: Problem, a: Assignment) -> Recheck:
    """Recompute everything from the values alone and decide every condition exactly.

    Also checks the values the person fixed and the domain (integers, bound),
    since a witness outside them answers another question.
    """
    ev = evaluate(a, exact=True)
    fv = evaluate(a, exact=False)
    env = environment(a, ev)
    backend = C.ExactBackend()
    results = []
    for c in problem.conditions:
        used = C.names_used(c.root)
        results.append(ConditionResult(c.text, bool(C.holds(c, env, backend)),
                                       tuple((key, env[key]) for key in env if key in used)))
    results += _domain_failures(problem, a)
    return Recheck(tuple(results), float_deviation(ev, fv), ev)


def satisfies(problem: Problem, a: Assignment) -> bool:
    """Whether every condition, fixed value and domain limit holds: :func:`recheck`'s verdict, exact pass only.

    For screening many candidates (the shrinker's local steps); a witness is still
    confirmed by :func:`recheck` before it is shown.
    """
    if _domain_failures(problem, a, first=True):
        return False
    ev = evaluate(a, exact=True)
    env = environment(a, ev)
    backend = C.ExactBackend()
    return all(bool(C.holds(c, env, backend)) for c in problem.conditions)


def _domain_failures(problem: Problem, a: Assignment, first: bool = False) -> list[ConditionResult]:
    """The fixed values, the person's domain and the shrinker's limits that ``a`` breaks (``first``: stop at one)."""
    results: list[ConditionResult] = []

    def entry(name: str, index: tuple[int, ...], value: Fraction) -> tuple[tuple[str, np.ndarray], ...]:
        return ((f"{name}{list(index)}", np.array(value, dtype=object)),)

    for name, index, value in problem.fixed.items:
        actual = a.entry(name, index)
        if actual != value:
            results.append(ConditionResult(f"{name}{list(index)} == {value} (fixed)", False, entry(name, index, actual)))
            if first:
                return results
    dom = problem.domain
    if first and not (dom.integers or dom.bound is not None or dom.denominator is not None or dom.max_abs is not None
                      or dom.max_nonzero is not None or dom.max_abs_sum is not None):
        return results  # no limit on the values: nothing to check (a shortcut for the shrinker's screening)
    for name, index, value in a.items():
        if dom.integers and value.denominator != 1:
            results.append(ConditionResult(f"{name}{list(index)} is an integer (--integers)", False,
                                           entry(name, index, value)))
        if dom.bound is not None and abs(value) > dom.bound:
            results.append(ConditionResult(f"|{name}{list(index)}| <= {dom.bound} (--bound)", False,
                                           entry(name, index, value)))
        if first and results:
            return results
    # The shrinker's limits, on the free values only.
    fixed = problem.fixed.as_dict()
    free = [(name, index, value) for name, index, value in a.items() if (name, index) not in fixed]
    for name, index, value in free:
        if dom.denominator is not None and (value * dom.denominator).denominator != 1:
            results.append(ConditionResult(f"{name}{list(index)} is a multiple of 1/{dom.denominator}", False,
                                           entry(name, index, value)))
        if dom.max_abs is not None and abs(value) > dom.max_abs:
            results.append(ConditionResult(f"|{name}{list(index)}| <= {dom.max_abs}", False, entry(name, index, value)))
        if first and results:
            return results
    if dom.max_nonzero is not None and sum(v != 0 for _, _, v in free) > dom.max_nonzero:
        results.append(ConditionResult(f"at most {dom.max_nonzero} free values are non-zero", False, ()))
    if dom.max_abs_sum is not None and sum(abs(v) for _, _, v in free) > dom.max_abs_sum:
        results.append(ConditionResult(f"the free values' absolute values sum to at most {dom.max_abs_sum}", False, ()))
    return results


def evaluate_model(a: Assignment, exact: bool = True) -> Evaluation:
    """:func:`evaluate` for an assignment of a layer model (:class:`cexsearch.model.Model`): its trace.

    ``pre_activations`` are the inputs of the activation layers, ``activations`` their outputs;
    ``pattern`` is, per activation layer with pieces, True where the unit took its last
    (positive-side) piece for a two-piece table, else the index of the piece.
    """
    from .model.layers import Activation
    from .semantics import EXACT, FLOAT, trace

    model = a.network
    values = model.values_of(a)  # type: ignore[attr-defined]
    params = {p: values[p] for p in model.parameter_names()}
    t = trace(model, params, values["x"], values["y"], EXACT if exact else FLOAT)  # type: ignore[arg-type]
    acts = [lt for lt in t.layers if isinstance(lt.layer, Activation)]
    pattern = []
    for lt in acts:
        table = getattr(lt.layer, "table", None)
        if table is None or table.is_linear:
            continue
        chosen = np.asarray(t.pattern_of(lt.path))
        pattern.append(chosen == len(table.pieces) - 1 if len(table.pieces) == 2 else chosen)
    return Evaluation(tuple(lt.input for lt in acts), tuple(lt.output for lt in acts), tuple(pattern), t.yhat,
                      t.residual, t.loss, dict(t.gradients))

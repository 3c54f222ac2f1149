"""The reference semantics: one exact trace of a witness, and the re-check of its conditions.

The forward pass and backprop are written once, in :func:`cexsearch.semantics.trace`
(over the layers of :mod:`cexsearch.model`); this module runs that trace on an
:class:`~cexsearch.model.problem.Assignment`, exactly (Fractions, the ``EXACT`` algebra) and in
float64 (``FLOAT``), and adds what a verdict needs on top: the values conditions
read (:func:`environment`) and the exact re-check of every condition, fixed value and
domain limit (:func:`recheck`).  The encoding is tested against this module, and no
witness is shown to a user before :func:`recheck` has confirmed it exactly.

For the MLPs of :class:`~cexsearch.model.network.Network` the trace computes, with ``A0 = x``
(M x n0) and σ the hidden activation::

    Z_k = A_{k-1} W_k^T + b_k        A_k = σ(Z_k)  (k < L)       yhat = Z_L
    Δ_L = c (yhat - y)               c = 2/(M n_L) for mse, 2 for sse
    grad W_k = Δ_k^T A_{k-1}         grad b_k = Σ_m Δ_k[m]
    Δ_{k-1} = (Δ_k W_k) ⊙ σ'(Z_{k-1})

σ' at a pre-activation of exactly 0 follows ``relu_grad_at_zero``
(:meth:`cexsearch.model.network.Network.is_active`).  A network read from a PyTorch module
keeps ``W1, b1, ...`` here; only what is shown to a person uses its alias table.

>>> from fractions import Fraction as F
>>> from cexsearch.model.network import Network
>>> from cexsearch.model.problem import Assignment
>>> net = Network.parse("1-1-1")
>>> a = Assignment(net, 3, (("W1", (F(1),)), ("b1", (F(-1),)), ("W2", (F(1),)), ("b2", (F(-1),)),
...                         ("x", (F(0), F(2), F(3))), ("y", (F(-2), F(2), F(0)))))
>>> g = exact_gradients(a)
>>> [str(g[p].reshape(-1)[0]) for p in ("W1", "b1", "W2", "b2")]
['-2/3', '-2/3', '0', '0']
>>> evaluate(a).pattern[0].reshape(-1).tolist()
[False, True, True]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from typing import Any

import numpy as np

from .. import lang as C
from ..errors import SpecError
from ..model import Model
from ..model.activations import PiecewiseLinear
from ..model.layers import Activation
from ..model.network import Network
from ..model.problem import Assignment, Problem
from . import EXACT, FLOAT, Trace, trace
from . import to_float as to_float
from .training import Run, unroll
from .transcendental import Undecided


@dataclass(frozen=True)
class Evaluation:
    """Every intermediate value of one forward and backward pass, per hidden layer of the MLP.

    Arrays are object arrays of Fractions for the exact pass and float64 arrays
    for the float pass.  ``pre_activations`` are Z_1 .. Z_L (the last is yhat),
    ``activations`` A_0 = x .. A_{L-1}.  ``pattern[k]`` (M x width of hidden layer
    k+1) says which units took the active piece (:func:`active_piece`).  ``trace``
    is the semantics' own record, for a reader that needs more.
    """

    pre_activations: tuple[np.ndarray, ...]
    activations: tuple[np.ndarray, ...]
    pattern: tuple[np.ndarray, ...]
    yhat: np.ndarray
    residual: np.ndarray
    loss: Any
    gradients: dict[str, np.ndarray]
    trace: Trace | None = field(default=None, compare=False, repr=False)


@lru_cache(maxsize=64)
def model_of(net: Network) -> Model:
    """The layer model of a network, built once per (frozen, hashable) Network."""
    return Model.from_network(net)


def active_piece(table: PiecewiseLinear) -> int | None:
    """The piece whose entries count as *active*: the rightmost piece of slope 1.

    That is the piece on which a unit passes its input through: ReLU's and
    LeakyReLU's positive side (0 itself is in it exactly when ``relu_grad_at_zero``
    is 1, so this is :meth:`cexsearch.model.network.Network.is_active`), Hardtanh's and
    ReLU6's middle, Abs's positive side.  None if no piece has slope 1.  An
    activation of one piece (Identity, the MLP's ``linear``) records no pattern,
    and all its units are active.
    """
    for i in range(len(table.pieces) - 1, -1, -1):
        if table.pieces[i].slope == 1:
            return i
    return None


def evaluate(a: Assignment, exact: bool = True) -> Evaluation:
    """Forward pass and backprop of the batch loss for one assignment, read from the single trace."""
    if not isinstance(a.network, Network):  # a layer model (--net in PyTorch's notation)
        return evaluate_model(a, exact)
    model = model_of(a.network)
    values = {name: a.flat(name) for name in model.parameter_names()}  # the trace reshapes them
    return mlp_evaluation(trace(model, values, _fractions(a, "x"), _fractions(a, "y"), EXACT if exact else FLOAT))


def mlp_evaluation(t: Trace) -> Evaluation:
    """An MLP's :class:`Evaluation` read from its trace (a training run's step, say), per hidden layer."""
    chosen = dict(t.pattern)
    pres: list[np.ndarray] = []
    acts: list[np.ndarray] = []
    pattern: list[np.ndarray] = []
    for lt in t.layers:
        if lt.layer.kind == "Linear":
            acts.append(lt.input)
            pres.append(lt.output)
        elif isinstance(lt.layer, Activation):
            indices = chosen.get(lt.path)
            on = active_piece(lt.layer.table)
            if indices is None:  # one piece: every unit passes its input through
                pattern.append(np.full(lt.input.shape, on is not None, dtype=bool))
            else:
                pattern.append(indices == on)
    return Evaluation(tuple(pres), tuple(acts), tuple(pattern), t.yhat, t.residual, t.loss,
                      dict(t.gradients), t)


def _fractions(a: Assignment, name: str) -> np.ndarray:
    flat = a.flat(name)
    arr = np.empty(len(flat), dtype=object)
    arr[:] = flat
    return arr.reshape(a.network.shape(name, a.samples))


def _values(a: Assignment, name: str) -> np.ndarray:
    """An assigned value as an object array, whole numbers as ints (exact, and faster in conditions)."""
    flat = a.flat(name)
    arr = np.empty(len(flat), dtype=object)
    arr[:] = [v.numerator if v.denominator == 1 else v for v in flat]
    return arr.reshape(a.network.shape(name, a.samples))


def exact_gradients(a: Assignment) -> dict[str, np.ndarray]:
    """The gradient of the batch loss for every parameter, exactly."""
    return evaluate(a, exact=True).gradients


def environment(a: Assignment, ev: Evaluation) -> dict[str, np.ndarray]:
    """Name -> array for condition evaluation: values, yhat and grad(P)."""
    env = {name: _values(a, name) for name in a.network.variable_names()}
    env["yhat"] = ev.yhat
    env["loss"] = np.array(ev.loss, dtype=object)
    if ev.trace is not None and ev.trace.probabilities is not None:
        env["p"] = ev.trace.probabilities
    for p, g in ev.gradients.items():
        env[f"grad({p})"] = g
    return env


@dataclass(frozen=True)
class ConditionResult:
    """One condition's verdict, with the exact values it read (label and array), to show when it fails."""

    text: str
    holds: bool
    reads: tuple[tuple[str, np.ndarray], ...] = field(default=(), compare=False)
    #: why the exact arithmetic could not decide the condition (then ``holds`` is False); "" when decided
    undecided: str = ""


@dataclass(frozen=True)
class Recheck:
    """The independent verdict on an assignment."""

    conditions: tuple[ConditionResult, ...]
    float_deviation: float
    evaluation: Evaluation
    run: Run | None = field(default=None, compare=False, repr=False)  # the training run replayed, exactly

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
            d = ev - Fraction(float(fv))
            worst = max(worst, abs(to_float(d) if isinstance(d, Fraction) else float(d)))
    return worst


def decide(cond: C.Condition, env: dict[str, np.ndarray]) -> tuple[bool, str]:
    """A condition's exact truth, and why it is undecided (then False): values with exp
    (:mod:`cexsearch.semantics.transcendental`) may be out of the exact arithmetic's reach."""
    try:
        return bool(C.holds(cond, env, C.ExactBackend())), ""
    except Undecided as e:
        return False, str(e)


def recheck(problem: Problem, a: Assignment) -> Recheck:
    """Recompute everything from the values alone and decide every condition exactly.

    Also checks the values the person fixed and the domain (integers, bound),
    since a witness outside them answers another question.
    """
    ev = evaluate(a, exact=True)
    fv = evaluate(a, exact=False)
    env = environment(a, ev)
    run = None
    if problem.training is not None:
        run = replay(problem, a)
        env.update(run.environment())
    results = []
    for c in problem.conditions:
        used = C.names_used(c.root)
        ok, why = decide(c, env)
        results.append(ConditionResult(c.text, ok, tuple((key, env[key]) for key in env if key in used), why))
    results += _domain_failures(problem, a)
    return Recheck(tuple(results), float_deviation(ev, fv), ev, run)


def satisfies(problem: Problem, a: Assignment) -> bool:
    """Whether every condition, fixed value and domain limit holds: :func:`recheck`'s verdict, exact pass only.

    For screening many candidates (the shrinker's local steps); a witness is still
    confirmed by :func:`recheck` before it is shown.
    """
    if _domain_failures(problem, a, first=True):
        return False
    ev = evaluate(a, exact=True)
    env = environment(a, ev)
    if problem.training is not None:
        env.update(replay(problem, a).environment())
    return all(decide(c, env)[0] for c in problem.conditions)


def learning_rate(problem: Problem, a: Assignment) -> Fraction:
    """The lr of a training problem's run: the problem's, or the one the witness chose."""
    assert problem.training is not None
    lr = problem.training.lr if problem.training.lr is not None else a.lr
    if lr is None:
        raise SpecError("this training problem leaves lr free, and the witness gives none", hint="give lr")
    return lr


def replay(problem: Problem, a: Assignment, exact: bool = True) -> Run:
    """The training run of a witness, replayed from its initial values (exactly, or in float64)."""
    assert problem.training is not None
    model = model_of(a.network) if isinstance(a.network, Network) else a.network
    params = {name: _fractions(a, name) for name in model.parameter_names()}
    lr = learning_rate(problem, a)
    return unroll(model, params, _fractions(a, "x"), _fractions(a, "y"), problem.training,
                  lr if exact else float(lr), EXACT if exact else FLOAT, output_gradients=exact)


def loss_targets(network: Any) -> tuple[Fraction, ...]:
    """The only values y may take under the network's loss (hinge: -1 and 1); empty for any value."""
    return tuple(getattr(network.loss, "targets", ()) or ())


def _domain_failures(problem: Problem, a: Assignment, first: bool = False) -> list[ConditionResult]:
    """The fixed values, the person's domain and the shrinker's limits that ``a`` breaks (``first``: stop at one)."""
    results: list[ConditionResult] = []

    def entry(name: str, index: tuple[int, ...], value: Fraction) -> tuple[tuple[str, np.ndarray], ...]:
        return ((f"{name}{list(index)}", np.array(value, dtype=object)),)

    if problem.training is not None and problem.training.lr is None and (a.lr is None or a.lr <= 0):
        results.append(ConditionResult("lr > 0", False, (("lr", np.array(a.lr, dtype=object)),)))
        if first:
            return results
    targets = loss_targets(problem.network)
    if targets:  # hinge: a target outside {-1, 1} answers another question
        for name, index, value in a.items():
            if name == "y" and value not in targets:
                allowed = " or ".join(str(t) for t in targets)
                results.append(ConditionResult(f"y{list(index)} is {allowed} (the loss's targets)", False,
                                               entry(name, index, value)))
                if first:
                    return results
    results += _label_failures(problem, a)
    if first and results:
        return results
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


def _label_failures(problem: Problem, a: Assignment) -> list[ConditionResult]:
    """Soft targets of a classification loss outside [0, 1], and ce rows that do not sum to 1."""
    loss = getattr(problem.network, "loss", None)
    if not getattr(loss, "link", ""):
        return []
    out = []
    ys = _fractions(a, "y")
    if loss.target_range is not None:  # type: ignore[union-attr]
        lo, hi = loss.target_range  # type: ignore[union-attr]
        for index in np.ndindex(ys.shape):
            if not lo <= ys[index] <= hi:
                out.append(ConditionResult(f"0 <= y{list(index)} <= 1 (soft labels)", False,
                                           ((f"y{list(index)}", np.array(ys[index], dtype=object)),)))
    if loss.rows_sum_to_one and ys.ndim:  # type: ignore[union-attr]
        for i, row in enumerate(ys.reshape(ys.shape[0], -1)):
            if sum(row) != 1:
                out.append(ConditionResult(f"y[{i}] sums to 1 (ce targets are probabilities)", False,
                                           ((f"y[{i}]", np.array(row, dtype=object)),)))
    return out


def evaluate_model(a: Assignment, exact: bool = True) -> Evaluation:
    """:func:`evaluate` for an assignment of a layer model (:class:`cexsearch.model.Model`): its trace.

    ``pre_activations`` are the inputs of the activation layers, ``activations`` their outputs;
    ``pattern`` is, per activation layer with pieces, True where the unit took its active piece
    (:func:`active_piece`) for a two-piece table, else the index of the piece.
    """
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
        on = active_piece(table) if len(table.pieces) == 2 else None
        pattern.append(chosen == on if on is not None else chosen)
    return Evaluation(tuple(lt.input for lt in acts), tuple(lt.output for lt in acts), tuple(pattern), t.yhat,
                      t.residual, t.loss, dict(t.gradients), trace=t)

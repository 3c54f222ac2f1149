"""A problem's conditions read over a box: the equations, the rest in three values, the domain.

What :mod:`cexsearch.semantics.certify` proves is built here from the one trace and
the one meaning of the conditions (:func:`cexsearch.lang.evaluate`):

* :func:`split`: every condition's *equalities* (``A == B``, also inside ``and`` and
  ``all``) become scalar equations ``F = A - B``, one per entry; everything else stays a
  condition, to hold on the whole box.
* :func:`environment`: the values conditions read, from a trace (and a training run) in
  the interval algebra (boxes) or in float64 (the numerical step).
* :class:`IntervalBackend`: the three-valued reading (True, False, None for unknown);
  only a certain True counts.
* :func:`box_domain_failures`: fixed values, the domain and the labels, on the whole box.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from .. import lang as C
from ..lang.syntax import Compare, Expr, Logic, Reduce
from ..model.network import Index, Network
from ..model.problem import Assignment, Problem
from . import FLOAT, trace
from .intervalalgebra import BITS, Interval, IntervalAlgebra
from .training import unroll

Key = tuple[str, Index]


@dataclass(frozen=True)
class Equality:
    """One equality of a condition: ``left == right`` entry by entry; ``where`` its position
    (condition, equality within it) and ``text`` what a person reads."""

    where: tuple[int, int]
    left: Expr
    right: Expr
    text: str


def split(problem: Problem) -> tuple[list[Equality], list[tuple[str, Expr]]]:
    """The equalities of every condition, and the (text, expression) of what is left of them."""
    equalities: list[Equality] = []
    rest: list[tuple[str, Expr]] = []
    for ci, cond in enumerate(problem.conditions):
        found: list[tuple[Expr, Expr]] = []
        left = _split(cond.root, found)
        for j, (a, b) in enumerate(found):
            text = cond.text if len(found) == 1 and not left else f"{cond.text} (equality {j + 1})"
            equalities.append(Equality((ci, j), a, b, text))
        rest += [(cond.text, e) for e in left]
    return equalities, rest


def _split(node: Expr, found: list[tuple[Expr, Expr]]) -> list[Expr]:
    """Collect the equalities of a conjunction into ``found``; return the other conjuncts."""
    if isinstance(node, Compare) and node.op == "==":
        found.append((node.left, node.right))
        return []
    if isinstance(node, Logic) and node.op == "and":
        return [e for o in node.operands for e in _split(o, found)]
    if isinstance(node, Reduce) and node.op == "all":  # all(a and b) is all(a) and all(b); all(A == B) is A == B
        return [Reduce("all", e, node.col) for e in _split(node.operand, found)]
    return [node]


class IntervalBackend:
    """Three-valued: True where certain on the whole box, False where certainly false, None otherwise."""

    def const(self, value: Fraction) -> Fraction:
        return value

    def true(self) -> Any:
        return True

    def and_(self, items: Sequence[Any]) -> Any:
        items = list(items)
        if any(v is False for v in items):
            return False
        return True if all(v is True for v in items) else None

    def or_(self, items: Sequence[Any]) -> Any:
        items = list(items)
        if any(v is True for v in items):
            return True
        return False if all(v is False for v in items) else None

    def not_(self, item: Any) -> Any:
        return None if item is None else not item

    def eq(self, a: Any, b: Any) -> Any:
        d = Interval.of(a - b)
        if d.lo == d.hi == 0:
            return True
        return False if d.lo > 0 or d.hi < 0 else None

    def lt(self, a: Any, b: Any) -> Any:
        d = Interval.of(b - a)
        return True if d.lo > 0 else False if d.hi <= 0 else None

    def le(self, a: Any, b: Any) -> Any:
        d = Interval.of(b - a)
        return True if d.lo >= 0 else False if d.hi < 0 else None


class FloatBackend(C.ExactBackend):
    """Constants as floats: the numerical step's reading of the equations."""

    def const(self, value: Fraction) -> Any:  # type: ignore[override]
        return float(value)


def _pairs(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if a.shape == b.shape:
        return a, b
    if b.size == 1:
        return a, np.full(a.shape, b.reshape(-1)[0], dtype=object)
    return np.full(b.shape, a.reshape(-1)[0], dtype=object), b


def residuals(equalities: Sequence[Equality], env: Mapping[str, np.ndarray], backend: Any) -> list[Any]:
    """``left - right`` of every equality, entry by entry (row-major), in order."""
    out: list[Any] = []
    for eq in equalities:
        a, b = _pairs(np.asarray(C.evaluate(eq.left, env, backend), dtype=object),
                      np.asarray(C.evaluate(eq.right, env, backend), dtype=object))
        out += list(np.asarray(a - b, dtype=object).reshape(-1))
    return out


def entry_shapes(equalities: Sequence[Equality], env: Mapping[str, np.ndarray], backend: Any) -> list[tuple[int, ...]]:
    """The shape of each equality's ``left - right``."""
    out = []
    for eq in equalities:
        a, b = _pairs(np.asarray(C.evaluate(eq.left, env, backend), dtype=object),
                      np.asarray(C.evaluate(eq.right, env, backend), dtype=object))
        out.append(tuple(np.asarray(a - b, dtype=object).shape))
    return out


def entry_labels(equalities: Sequence[Equality], shapes: Sequence[tuple[int, ...]]) -> list[str]:
    """One label per scalar equation, in the order of :func:`residuals`."""
    labels = []
    for eq, shape in zip(equalities, shapes):
        labels += [eq.text] if not shape else [f"{eq.text} at {list(idx)}" for idx in np.ndindex(shape)]
    return labels


# ---------------------------------------------------------------------------
# values and environments


def problem_values(problem: Problem, center: Assignment | None, overrides: Mapping[Key, Any]) -> dict[str, np.ndarray]:
    """name -> object array of every value: the centre's (0 without one), with ``overrides`` put in."""
    net = problem.network
    out = {}
    for name in net.variable_names():
        shape = net.shape(name, problem.samples)
        flat: list[Any] = list(center.flat(name)) if center is not None else [Fraction(0)] * int(np.prod(shape))
        arr = np.empty(len(flat), dtype=object)
        arr[:] = flat
        arr = arr.reshape(shape)
        for (n, index), v in overrides.items():
            if n == name:
                arr[index] = v
        out[name] = arr
    return out


def environment(problem: Problem, values: Mapping[str, np.ndarray], kind: str, bits: int = BITS,
                lr: Any = None) -> dict[str, np.ndarray]:
    """What conditions read, from one trace of ``values`` (and the training run), in intervals or floats.

    ``kind`` "interval": values may hold Intervals; "float": everything in float64.  Raises
    :class:`~cexsearch.semantics.intervalalgebra.NotCertifiable` where the box meets a kink.
    """
    net = problem.network
    model = _model(net)
    algebra: Any = IntervalAlgebra(bits) if kind == "interval" else FLOAT
    vals = {n: _floats(v) for n, v in values.items()} if kind == "float" else dict(values)
    params = {n: vals[n] for n in model.parameter_names()}
    t = trace(model, params, vals["x"], vals["y"], algebra)
    env: dict[str, np.ndarray] = {n: _plain(v) for n, v in vals.items()}
    env.update(t.environment())
    if problem.training is not None:
        rate = lr if kind == "interval" else float(lr)
        env.update(unroll(model, params, vals["x"], vals["y"], problem.training, rate, algebra).environment())
    if kind == "float":
        env = {n: _floats(v) for n, v in env.items()}
    return env


def _model(net: Any) -> Any:
    if isinstance(net, Network):
        from .numeric import model_of

        return model_of(net)
    return net


def _floats(a: Any) -> np.ndarray:
    arr = np.asarray(a, dtype=object)
    out = np.empty(arr.shape, dtype=object)
    for idx in np.ndindex(arr.shape):
        out[idx] = float(arr[idx])
    return out


def _plain(a: np.ndarray) -> np.ndarray:
    """Rationals as ints where whole (as the exact re-check reads them); Intervals as they are."""
    arr = np.asarray(a, dtype=object)
    out = np.empty(arr.shape, dtype=object)
    for idx in np.ndindex(arr.shape):
        v = arr[idx]
        out[idx] = v.numerator if isinstance(v, Fraction) and v.denominator == 1 else v
    return out


# ---------------------------------------------------------------------------
# the domain on a box


def eligible(problem: Problem, key: Key) -> bool:
    """Whether a value may range over a box: free, and not bound to a grid, a target set or a row sum."""
    if key in problem.fixed.as_dict() or problem.domain.grid is not None:
        return False
    loss = getattr(problem.network, "loss", None)
    if key[0] == "y" and (bool(getattr(loss, "targets", None)) or bool(getattr(loss, "rows_sum_to_one", False))):
        return False
    return True


def box_domain_failures(problem: Problem, center: Assignment, box: Mapping[Key, Interval]) -> list[str]:
    """What the values break anywhere on the box: the centre's exact domain check, then each box
    value's limits over its whole interval."""
    from .numeric import _domain_failures

    out = [r.text for r in _domain_failures(problem, center)]
    dom = problem.domain
    loss = getattr(problem.network, "loss", None)
    target_range = getattr(loss, "target_range", None) if getattr(loss, "link", "") else None
    for key, iv in box.items():
        name, index = key
        label = f"{name}{list(index)}"
        if not eligible(problem, key):
            out.append(f"{label} may not range over an interval (fixed, on a grid, or a target)")
        if not iv.contains(center.entry(name, index)):
            out.append(f"the centre of {label} lies outside its box")
        size = max(abs(iv.lo), abs(iv.hi))
        for limit, what in ((dom.bound, "--bound"), (dom.max_abs, "the size limit")):
            if limit is not None and size > limit:
                out.append(f"|{label}| <= {limit} ({what}) fails on the box")
        if name == "y" and target_range is not None:
            lo, hi = target_range
            if not (lo <= iv.lo and iv.hi <= hi):
                out.append(f"{lo} <= {label} <= {hi} (soft labels) fails on the box")
    fixed = problem.fixed.as_dict()
    free = [(n, i, v) for n, i, v in center.items() if (n, i) not in fixed]
    if dom.max_nonzero is not None:
        nonzero = sum(1 for n, i, v in free if ((n, i) in box and not box[(n, i)].lo == box[(n, i)].hi == 0)
                      or ((n, i) not in box and v != 0))
        if nonzero > dom.max_nonzero:
            out.append(f"at most {dom.max_nonzero} free values are non-zero fails on the box")
    if dom.max_abs_sum is not None:
        total = sum(max(abs(box[(n, i)].lo), abs(box[(n, i)].hi)) if (n, i) in box else abs(v) for n, i, v in free)
        if total > dom.max_abs_sum:
            out.append(f"the free values' absolute values sum to at most {dom.max_abs_sum} fails on the box")
    return out

"""The numerical step before a certificate: move a few values until the equations nearly hold.

Newton's method in float64 (the FLOAT trace, least squares where the system is
under-determined) solves the equalities of the conditions in the free values; then
all values but k (one per equation, well independent) are rounded to rationals with
small denominators, the k are solved again alone, and rounded to 12 significant
digits: the centre of the box :func:`cexsearch.semantics.certify.certify` proves.
Nothing here is a proof; a centre is only a place to look.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from fractions import Fraction

import numpy as np

from ..model.problem import Assignment, Problem
from .boxeval import Key, eligible
from .pivots import select
from .system import System

#: the residual Newton stops at
TOLERANCE = 1e-13
#: the denominators the values outside the system are rounded to, smallest first
DENOMINATORS = (4, 16, 100, 1000, 10**6)


def _residual(system: System, keys: Sequence[Key], v: np.ndarray) -> np.ndarray | None:
    try:
        f = system.floats(dict(zip(keys, (float(x) for x in v))))
    except (ArithmeticError, ValueError):
        return None
    return f if np.all(np.isfinite(f)) else None


def newton(system: System, keys: Sequence[Key], v0: np.ndarray, deadline: float | None = None,
           iterations: int = 60) -> np.ndarray | None:
    """A float point where every equation is below TOLERANCE, from ``v0`` (damped Gauss-Newton), or None."""
    v = np.array(v0, dtype=np.float64)
    f = _residual(system, keys, v)
    if f is None:
        return None
    norm = float(np.linalg.norm(f)) if f.size else 0.0
    for _ in range(iterations):
        if norm < TOLERANCE:
            return v
        if deadline is not None and time.monotonic() > deadline:
            return None
        jac = system.jacobian(keys, dict(zip(keys, (float(x) for x in v))))
        if not np.all(np.isfinite(jac)):
            return None
        step = np.linalg.lstsq(jac, -f, rcond=None)[0]
        t = 1.0
        while t > 1e-6:
            w = v + t * step
            fw = _residual(system, keys, w)
            if fw is not None and float(np.linalg.norm(fw)) < norm:
                break
            t /= 2
        else:
            return None
        assert fw is not None
        v, f, norm = w, fw, float(np.linalg.norm(fw))
    return v if norm < TOLERANCE else None


def _with(a: Assignment, values: dict[Key, Fraction]) -> Assignment:
    full = {(n, i): v for n, i, v in a.items()}
    full.update(values)
    if a.lr is not None:
        full[("lr", ())] = a.lr
    return Assignment.from_entries(a.network, a.samples, full)


def _decimal(x: float) -> Fraction:
    return Fraction(f"{x:.12g}")


def refine(problem: Problem, start: Assignment, free: Sequence[Key], deadline: float | None = None) -> Assignment | None:
    """A rational centre near an exact solution of the equalities, from ``start``; None if Newton fails.

    When the equalities' own system is singular at the solution (``grad(W1) == 0`` on one sample),
    the centre is sought for p == y instead (:mod:`.system`'s mode "delta")."""
    from .certify import delta_applies

    for mode in ("conditions", "delta") if delta_applies(problem) else ("conditions",):
        centre = _refine(problem, start, free, deadline, mode)
        if centre is not None:
            return centre
    return None


def _refine(problem: Problem, start: Assignment, free: Sequence[Key], deadline: float | None,
            mode: str) -> Assignment | None:
    keys = [k for k in free if eligible(problem, k)]
    system = System(problem, start, mode=mode)
    if not keys or not system.equalities:
        return None
    v = newton(system, keys, np.array([float(start.entry(*k)) for k in keys]), deadline)
    if v is None:
        return None
    point = dict(zip(keys, (float(x) for x in v)))
    f, jac = system.floats(point), system.jacobian(keys, point)
    active = [i for i in range(len(f)) if abs(f[i]) > 1e-15 or np.abs(jac[i]).max(initial=0.0) > 1e-12]
    for group in system.implied_groups():  # one of each group follows from the others (.identities)
        last = [i for i in group if i in active][-1:]
        active = [i for i in active if i not in last]
    chosen = select(jac[active], len(active)) if active else []
    if chosen is None:
        return None
    inside = [keys[j] for j in chosen]
    others = [k for k in keys if k not in inside]
    for d in DENOMINATORS:
        if deadline is not None and time.monotonic() > deadline:
            return None
        base = _with(start, {k: Fraction(point[k]).limit_denominator(d) for k in others})
        sub = System(problem, base, mode=mode)
        w = newton(sub, inside, np.array([point[k] for k in inside]), deadline) if inside else np.zeros(0)
        if w is None:
            continue
        centre = _with(base, {k: _decimal(float(x)) for k, x in zip(inside, w)})
        if System(problem, centre).rest_holds_in_floats({}):
            return centre
    return None

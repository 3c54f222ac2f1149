"""Exhaustive exact search of a small grid of free values, without a solver.

When every free value is a multiple of ``1/g`` within ``[-K/g, K/g]`` the grid
has ``(2K + 1)^n`` points; for a handful of free values (seed 001 has ten:
3^10 = 59049 points in [-1, 1]) numpy decides every point *exactly*.  The
semantics is not written here: the forward pass and backprop are
:func:`cexsearch.semantics.trace` itself, run once over the grid algebra
(:mod:`cexsearch.semantics.gridalgebra`), where each value is an integer
numerator array over the grid with one common Fraction scale and a proven bound
that keeps every int64 operation exact (past 2^62 the grid search declines and
the caller uses the solver); the conditions are read by
:func:`cexsearch.lang.evaluate` itself, over a vector backend.  So an
answer *none* is a proof by exhaustion, and a point it picks is re-checked
exactly by :func:`cexsearch.engine.search.confirm` like any solver model.  Every
network the trace reads is searched: an MLP (:class:`~cexsearch.model.network.Network`,
as its layer model) and a layer model alike.

Each free value is one axis of an n-dimensional array and intermediate values
broadcast over the axes they depend on only, so a sample's forward pass costs
(2K + 1)^(its inputs) and not the whole grid.  Among the satisfying points the
search returns the first (in grid order; axis values are ordered 0, 1, -1, 2,
-2, ...) with the fewest non-zero free values, then the smallest sum of
absolute values: what the shrinker's greedy steps look for within the same
limits, so they are skipped after it.
"""

from __future__ import annotations

import functools
import itertools
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from .. import lang as C
from ..model import Model
from ..model.network import Index, entries
from ..model.problem import Problem
from ..semantics import trace
from ..semantics.gridalgebra import GRID, LIMIT, Declined, Q, dtype_of
from ..semantics.numeric import loss_targets, model_of

__all__ = ["GRID", "LIMIT", "MAX_POINTS", "B", "Declined", "Grid", "GridAnswer", "GridBackend", "Q", "blocks",
           "environment", "grid_of", "search_grid"]

MAX_POINTS = 1 << 24  # grids above this are left to the solver
CHUNK_POINTS = 1 << 20  # points decided per block (memory: a few arrays of this many int64)


class B:
    """A Boolean array over the grid, opaque to numpy's object arrays."""

    __slots__ = ("v",)

    def __init__(self, v: Any) -> None:
        self.v = v


class GridBackend:
    """:class:`cexsearch.lang.Backend` over :class:`Q` values and :class:`B` truth arrays."""

    def const(self, value: Fraction) -> Q:
        return Q.const(value)

    def true(self) -> B:
        return B(np.True_)

    def and_(self, items: Any) -> B:
        return B(functools.reduce(np.logical_and, (it.v for it in items), np.True_))

    def or_(self, items: Any) -> B:
        return B(functools.reduce(np.logical_or, (it.v for it in items), np.False_))

    def not_(self, item: B) -> B:
        return B(np.logical_not(item.v))

    def eq(self, a: Any, b: Any) -> B:
        return B((Q.of(a) - Q.of(b)).sign_test("=="))

    def lt(self, a: Any, b: Any) -> B:
        return B((Q.of(a) - Q.of(b)).sign_test("<"))

    def le(self, a: Any, b: Any) -> B:
        return B((Q.of(a) - Q.of(b)).sign_test("<="))


def _objects(shape: tuple[int, ...]) -> np.ndarray:
    return np.empty(shape, dtype=object)


def environment(problem: Problem, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Values, yhat and grad(P) as object arrays of :class:`Q`: the trace over the grid algebra."""
    net = problem.network
    model = net if isinstance(net, Model) else model_of(net)
    t = trace(model, {name: values[name] for name in model.parameter_names()}, values["x"], values["y"], GRID)
    env: dict[str, np.ndarray] = dict(values)
    env.update(t.environment())
    return env


@dataclass(frozen=True)
class GridAnswer:
    """``best`` is None when no grid point satisfies every condition (a proof by exhaustion)."""

    points: int
    best: dict[tuple[str, Index], Fraction] | None
    elapsed: float


def axis_values(K: int) -> np.ndarray:
    """0, 1, -1, 2, -2, ..., K, -K: small values first, so the first point found is a simple one."""
    out = [0]
    for k in range(1, K + 1):
        out += [k, -k]
    return np.array(out, dtype=np.int64)


@dataclass(frozen=True)
class Grid:
    """The free values' grid: the multiples of 1/g in [-K/g, K/g], one axis per free value."""

    keys: tuple[tuple[str, Index], ...]
    g: int
    K: int

    @property
    def base(self) -> int:
        return 2 * self.K + 1

    @property
    def points(self) -> int:
        return self.base ** len(self.keys)

    @property
    def values(self) -> np.ndarray:
        return axis_values(self.K)

    def point(self, digits: tuple[int, ...]) -> dict[tuple[str, Index], Fraction]:
        vals = self.values
        return {key: Fraction(int(vals[d]), self.g) for key, d in zip(self.keys, digits)}


def axis_order(problem: Problem) -> list[tuple[str, Index]]:
    """The free values, one axis each: every sample's x and y first, the parameters last.

    Every per-sample quantity depends on all parameters, so with them innermost numpy's
    broadcasting runs long contiguous inner loops (a 25-fold speed-up over x, y innermost).
    """
    keys = problem.free_keys()
    data = sorted((k for k in keys if k[0] in ("x", "y")), key=lambda k: (k[1][0], k[0], k[1]))
    return data + [k for k in keys if k[0] not in ("x", "y")]


def grid_of(problem: Problem) -> Grid:
    dom = problem.domain
    limits = [v for v in (dom.bound, dom.max_abs) if v is not None]
    if dom.grid is None or not limits:
        raise Declined("the free values are not confined to a finite grid")
    return Grid(tuple(axis_order(problem)), dom.grid, math.floor(min(limits) * dom.grid))


def blocks(problem: Problem, grid: Grid, deadline: float | None = None) -> Iterator[tuple[tuple[int, ...], Any]]:
    """(digits of the leading axes, Boolean array over the other axes): which points satisfy every condition.

    The leading axes are looped over so that a block holds at most about :data:`CHUNK_POINTS`
    points; the array may have length-1 axes where no condition depends on that value.
    """
    n, base, K, g = len(grid.keys), grid.base, grid.K, grid.g
    vals = grid.values
    dt = dtype_of(K)
    net = problem.network
    fixed = problem.fixed.as_dict()
    outer = 0
    while outer < n and base ** (n - outer) > CHUNK_POINTS:
        outer += 1
    inner = n - outer
    axis_of = {key: a for a, key in enumerate(grid.keys)}
    inner_arrays = []
    for a in range(outer, n):
        axes = [1] * inner
        axes[a - outer] = base
        inner_arrays.append(vals.astype(dt).reshape(axes))
    backend = GridBackend()
    unit = 1 if g == 1 else Fraction(1, g)  # a whole scale is an int (see gridalgebra)
    # A loss with targets (hinge: y in {-1, 1}) admits only the points where every free y is one.
    targets = [t * g for t in loss_targets(net)]
    on_target = np.isin(vals, [int(t) for t in targets if t.denominator == 1])
    target_axes = [a for a, key in enumerate(grid.keys) if key[0] == "y"] if targets else []
    for combo in itertools.product(range(base), repeat=outer):
        if deadline is not None and time.monotonic() >= deadline:
            raise Declined("time limit")
        if not all(on_target[combo[a]] for a in target_axes if a < outer):
            yield combo, np.False_
            continue
        values: dict[str, np.ndarray] = {}
        for name in net.variable_names():
            shape = problem.shape(name)
            arr = _objects(shape)
            for idx in entries(shape):
                if (name, idx) in fixed:
                    arr[idx] = Q.const(fixed[(name, idx)])
                    continue
                a = axis_of[(name, idx)]
                num = dt(vals[combo[a]]) if a < outer else inner_arrays[a - outer]
                arr[idx] = Q(num, unit, K)
            values[name] = arr
        env = environment(problem, values)
        mask: Any = np.True_
        for a in target_axes:
            if a >= outer:
                mask = np.logical_and(mask, on_target.reshape(inner_arrays[a - outer].shape))
        for cond in problem.conditions:
            mask = np.logical_and(mask, C.holds(cond, env, backend).v)
        yield combo, mask


def search_grid(problem: Problem, max_points: int = MAX_POINTS, deadline: float | None = None) -> GridAnswer:
    """Decide every point of the grid exactly; raise :class:`Declined` when that cannot be done here."""
    started = time.monotonic()
    if problem.training is not None:
        raise Declined("the grid computes one gradient, not a training run")
    dom = problem.domain
    grid = grid_of(problem)
    if grid.points > max_points:
        raise Declined(f"{grid.points} grid points")
    n, base, K, g = len(grid.keys), grid.base, grid.K, grid.g
    abs_vals = np.abs(grid.values)
    best: tuple[tuple[int, int], tuple[int, ...]] | None = None
    for combo, mask in blocks(problem, grid, deadline):
        if not np.any(mask):
            continue
        inner = n - len(combo)
        full = np.broadcast_to(mask, (base,) * inner)
        hits = np.flatnonzero(full)
        digits = np.unravel_index(hits, (base,) * inner) if inner else ()
        outer_abs = [int(abs_vals[d]) for d in combo]
        nz = np.full(hits.shape, sum(1 for v in outer_abs if v), dtype=np.int64)
        tot = np.full(hits.shape, sum(outer_abs), dtype=np.int64)
        for d in digits:
            a = abs_vals[d]
            nz += a != 0
            tot += a
        keep = np.ones(hits.shape, dtype=bool)
        if dom.max_nonzero is not None:
            keep &= nz <= dom.max_nonzero
        if dom.max_abs_sum is not None:
            keep &= tot <= math.floor(dom.max_abs_sum * g)  # |k/g| summed, in units of 1/g
        if not keep.any():
            continue
        # (non-zero count, sum of |values|), lexicographically, as one integer
        score = nz * (n * K + 1) + tot
        score = np.where(keep, score, np.iinfo(np.int64).max)
        i = int(np.argmin(score))  # the first point (in grid order) of the smallest score
        candidate = ((int(nz[i]), int(tot[i])), tuple(combo) + tuple(int(d[i]) for d in digits))
        if best is None or candidate[0] < best[0]:  # blocks come in grid order: ties keep the earlier
            best = candidate
    if best is None:
        return GridAnswer(grid.points, None, time.monotonic() - started)
    return GridAnswer(grid.points, grid.point(best[1]), time.monotonic() - started)

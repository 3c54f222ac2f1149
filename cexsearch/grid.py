"""Exhaustive exact search of a small grid of free values, without a solver.

When every free value is a multiple of ``1/g`` within ``[-K/g, K/g]`` the grid
has ``(2K + 1)^n`` points; for a handful of free values (seed 001 has ten:
3^10 = 59049 points in [-1, 1]) numpy decides every point *exactly*: each
value is an integer numerator array over one common denominator (a Python
int), the forward pass, backprop and conditions follow
:mod:`cexsearch.numeric` and :mod:`cexsearch.conditions` (the conditions are
read by :func:`cexsearch.conditions.evaluate` itself, over a vector backend),
and a bound carried with every array proves that no int64 ever overflows (past
2^62 the grid search declines and the caller uses the solver).  So an answer
*none* is a proof by exhaustion, and a point it picks is re-checked exactly by
:func:`cexsearch.search.confirm` like any solver model.

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

from . import lang as C
from .model.network import Index, entries
from .model.problem import Problem

LIMIT = 2**62  # every numerator's proven bound stays below this, so int64 arithmetic is exact
MAX_POINTS = 1 << 24  # grids above this are left to the solver
CHUNK_POINTS = 1 << 20  # points decided per block (memory: a few arrays of this many int64)


class Declined(Exception):
    """The grid search cannot decide this problem exactly (size, a possible overflow, a construct)."""


def _dtype(bound: int) -> Any:
    """The narrowest integer type holding every value up to ``bound`` in size (narrow arrays are faster)."""
    if bound < 2**7:
        return np.int8
    if bound < 2**15:
        return np.int16
    if bound < 2**31:
        return np.int32
    if bound < LIMIT:
        return np.int64
    raise Declined("values could overflow int64")


def _fgcd(a: Fraction, b: Fraction) -> Fraction:
    """The largest positive rational r with a / r and b / r both integers."""
    return Fraction(math.gcd(a.numerator, b.numerator), math.lcm(a.denominator, b.denominator))


class Q:
    """Exact rationals over the grid: ``num * scale``.

    ``num`` is an integer numpy array (broadcastable over the grid axes, or a numpy scalar),
    ``scale`` a non-zero Fraction, the same for every point, and ``bound`` a proven upper bound
    on ``abs(num)``: each operation picks its integer type from the bound of its result and
    declines (:class:`Declined`) before any value could reach 2^62, so no arithmetic overflows.
    Multiplying by a constant only changes ``scale``.
    """

    __slots__ = ("num", "scale", "bound")

    def __init__(self, num: Any, scale: Fraction, bound: int) -> None:
        if bound >= LIMIT:
            raise Declined("values could overflow int64")
        assert scale != 0
        self.num = num
        self.scale = scale
        self.bound = bound

    @staticmethod
    def const(v: Fraction | int) -> Q:
        f = Fraction(v)
        if f == 0:
            return Q(np.int8(0), Fraction(1), 0)
        return Q(np.int8(1), f, 1)

    @staticmethod
    def of(v: Any) -> Q:
        if isinstance(v, Q):
            return v
        if isinstance(v, (int, Fraction)) and not isinstance(v, bool):
            return Q.const(v)
        raise Declined(f"unsupported operand {type(v).__name__}")

    @property
    def zero(self) -> bool:
        return self.bound == 0

    @property
    def constant(self) -> bool:
        return np.ndim(self.num) == 0

    def value(self) -> Fraction:
        assert self.constant
        return int(self.num) * self.scale

    def __add__(self, other: Any) -> Q:
        o = Q.of(other)
        if o.zero:
            return self
        if self.zero:
            return o
        if self.constant and o.constant:
            return Q.const(self.value() + o.value())
        s = _fgcd(self.scale, o.scale)
        fa, fb = self.scale / s, o.scale / s
        assert fa.denominator == 1 and fb.denominator == 1
        ia, ib = int(fa), int(fb)
        bound = self.bound * abs(ia) + o.bound * abs(ib)
        dt = _dtype(max(bound, abs(ia), abs(ib)))
        a = self.num if ia == 1 else np.negative(self.num, dtype=dt) if ia == -1 else np.multiply(self.num, ia, dtype=dt)
        if ib == 1:
            return Q(np.add(a, o.num, dtype=dt), s, bound)
        if ib == -1:
            return Q(np.subtract(a, o.num, dtype=dt), s, bound)
        return Q(np.add(a, np.multiply(o.num, ib, dtype=dt), dtype=dt), s, bound)

    __radd__ = __add__

    def __neg__(self) -> Q:
        return Q(self.num, -self.scale, self.bound)

    def __sub__(self, other: Any) -> Q:
        return self + (-Q.of(other))

    def __rsub__(self, other: Any) -> Q:
        return Q.of(other) + (-self)

    def __mul__(self, other: Any) -> Q:
        o = Q.of(other)
        if self.zero or o.zero:
            return Q.const(0)
        if o.constant and int(o.num) == 1:
            return Q(self.num, self.scale * o.scale, self.bound)
        if self.constant and int(self.num) == 1:
            return Q(o.num, self.scale * o.scale, o.bound)
        bound = self.bound * o.bound
        return Q(np.multiply(self.num, o.num, dtype=_dtype(max(bound, self.bound, o.bound))),
                 self.scale * o.scale, bound)

    __rmul__ = __mul__

    def __truediv__(self, other: Any) -> Q:
        o = Q.of(other)
        if not o.constant:
            raise Declined("division by a value that varies over the grid")
        c = o.value()
        if c == 0:
            raise ZeroDivisionError("division by zero")
        return Q(self.num, self.scale / c, self.bound)

    def __bool__(self) -> bool:
        raise TypeError("a grid value has no single truth value")

    def sign_test(self, op: str) -> Any:
        """``self op 0`` for op in ==, <, <=, as a Boolean array (scale's sign taken into account)."""
        if op == "==":
            return np.equal(self.num, 0)
        if self.scale > 0:
            return np.less(self.num, 0) if op == "<" else np.less_equal(self.num, 0)
        return np.greater(self.num, 0) if op == "<" else np.greater_equal(self.num, 0)

    def eq(self, other: Q) -> Any:
        return (self - other).sign_test("==")

    def lt(self, other: Q) -> Any:
        return (self - other).sign_test("<")

    def le(self, other: Q) -> Any:
        return (self - other).sign_test("<=")


class B:
    """A Boolean array over the grid, opaque to numpy's object arrays."""

    __slots__ = ("v",)

    def __init__(self, v: Any) -> None:
        self.v = v


class GridBackend:
    """:class:`cexsearch.conditions.Backend` over :class:`Q` values and :class:`B` truth arrays."""

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
        return B(Q.of(a).eq(Q.of(b)))

    def lt(self, a: Any, b: Any) -> B:
        return B(Q.of(a).lt(Q.of(b)))

    def le(self, a: Any, b: Any) -> B:
        return B(Q.of(a).le(Q.of(b)))


def _objects(shape: tuple[int, ...]) -> np.ndarray:
    return np.empty(shape, dtype=object)


def _mat(rows: int, cols: int) -> list[list[Any]]:
    return [[None] * cols for _ in range(rows)]


def _sum(terms: list[Q]) -> Q:
    out = terms[0]
    for t in terms[1:]:
        out = out + t
    return out


def environment(problem: Problem, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Values, yhat and grad(P) as object arrays of :class:`Q`, as :func:`cexsearch.numeric.environment`."""
    net = problem.network
    L = net.depth
    M = problem.samples
    s_off = Fraction(net.slopes()[1])
    assert net.slopes()[0] == 1
    W = [values[f"W{k}"] for k in range(1, L + 1)]
    b = [values[f"b{k}"] if net.bias else None for k in range(1, L + 1)]
    x, y = values["x"], values["y"]
    acts: list[list[list[Q]]] = [[list(x[m]) for m in range(M)]]
    slopes: list[list[list[Q]]] = []
    z_out: list[list[Q]] = []
    for k in range(L):
        Wk = W[k]
        width, fan_in = Wk.shape
        z = _mat(M, width)
        for m in range(M):
            for j in range(width):
                terms = [acts[-1][m][i] * Wk[j, i] for i in range(fan_in)]
                bk = b[k]
                if bk is not None:
                    terms.append(bk[j])
                z[m][j] = _sum(terms)
        if k == L - 1:
            z_out = z
            break
        act, slope = _mat(M, width), _mat(M, width)
        for m in range(M):
            for j in range(width):
                zz = z[m][j]
                if net.activation == "linear":
                    act[m][j], slope[m][j] = zz, Q.const(1)
                    continue
                # Network.is_active: > 0 is active, < 0 inactive, exactly 0 as relu_grad_at_zero says
                on = np.logical_not(zz.sign_test("<" if net.is_active(Fraction(0)) else "<="))
                if s_off == 0:
                    act[m][j] = Q(np.where(on, zz.num, 0).astype(zz.num.dtype, copy=False), zz.scale, zz.bound) \
                        if not zz.zero else zz
                    slope[m][j] = Q(on.astype(np.int8), Fraction(1), 1)
                else:  # value: z when active, (p/q) z when not
                    p, q = s_off.numerator, s_off.denominator
                    bound = zz.bound * max(q, abs(p))
                    dt = _dtype(max(bound, q, abs(p)))
                    act[m][j] = Q(np.where(on, np.multiply(zz.num, q, dtype=dt), np.multiply(zz.num, p, dtype=dt)),
                                  zz.scale / q, bound)
                    slope[m][j] = Q(np.where(on, q, p).astype(_dtype(max(q, abs(p)))), Fraction(1, q), max(q, abs(p)))
        acts.append(act)
        slopes.append(slope)
    c = net.loss_gradient_scale(M)
    width_out = net.widths[-1]
    delta = [[z_out[m][o] - y[m, o] for o in range(width_out)] for m in range(M)]
    yhat = _objects((M, width_out))
    for m in range(M):
        for o in range(width_out):
            yhat[m, o] = z_out[m][o]
    env: dict[str, np.ndarray] = dict(values)
    env["yhat"] = yhat
    for k in range(L - 1, -1, -1):
        Wk = W[k]
        width, fan_in = Wk.shape
        gW = _objects((width, fan_in))
        for j in range(width):
            for i in range(fan_in):
                gW[j, i] = _sum([delta[m][j] * acts[k][m][i] for m in range(M)]) * c
        env[f"grad(W{k + 1})"] = gW
        if net.bias:
            gb = _objects((width,))
            for j in range(width):
                gb[j] = _sum([delta[m][j] for m in range(M)]) * c
            env[f"grad(b{k + 1})"] = gb
        if k > 0:
            delta = [[_sum([delta[m][j] * Wk[j, i] for j in range(width)]) * slopes[k - 1][m][i]
                      for i in range(fan_in)] for m in range(M)]
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
    dt = _dtype(K)
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
    for combo in itertools.product(range(base), repeat=outer):
        if deadline is not None and time.monotonic() >= deadline:
            raise Declined("time limit")
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
                arr[idx] = Q(num, Fraction(1, g), K)
            values[name] = arr
        env = environment(problem, values)
        mask: Any = np.True_
        for cond in problem.conditions:
            mask = np.logical_and(mask, C.holds(cond, env, backend).v)
        yield combo, mask


def search_grid(problem: Problem, max_points: int = MAX_POINTS, deadline: float | None = None) -> GridAnswer:
    """Decide every point of the grid exactly; raise :class:`Declined` when that cannot be done here."""
    started = time.monotonic()
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

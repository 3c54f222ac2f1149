"""The interval algebra: the one trace over boxes, with certified enclosures.

An :class:`Interval` is a pair of exact Fractions ``lo <= hi``.  Every operation
returns an interval holding every value the operation takes on its operands'
intervals; an endpoint whose denominator outgrows ``2^bits`` is rounded *outward* to
a multiple of ``2^-bits`` (so sizes stay bounded and the enclosure stays sound).  A
point interval stays exact as long as its denominator is small: a value that is
exactly a breakpoint is a point, and chooses the breakpoint's own piece.

:class:`IntervalAlgebra` runs :func:`cexsearch.semantics.trace.trace` on intervals.
It chooses a piece only when the whole interval lies inside it (else
:class:`NotCertifiable`: the box straddles a kink), and it encloses sigmoid, softmax,
softplus and log-sum-exp by their monotonicity, from the certified ``exp`` and
``log`` bounds of :mod:`cexsearch.semantics.intervals` at the endpoints.  So every
value of the exact trace at any point of a box lies in the interval trace of the box.

>>> a = Interval(Fraction(1), Fraction(2))
>>> b = a * a - a
>>> (b.lo, b.hi)
(Fraction(-1, 1), Fraction(3, 1))
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import numpy as np

from ..model.activations import PiecewiseLinear
from .algebra import ConcreteAlgebra, Selection
from .fixedpoint import fixed_exp_bounds, fixed_log_bounds
from .intervals import down, up

F = Fraction
#: the working precision (fractional bits) an interval is rounded to when its denominators grow
BITS = 96


class NotCertifiable(ArithmeticError):
    """An interval evaluation that proves nothing: a kink inside the box, a division by an interval holding 0."""


def _fraction(v: Any) -> Fraction:
    return v if type(v) is Fraction else F(v)


class Interval:
    """``[lo, hi]`` with exact Fraction ends; arithmetic with Intervals, ints and Fractions."""

    __slots__ = ("lo", "hi", "bits")

    def __init__(self, lo: Any, hi: Any = None, bits: int = BITS) -> None:
        lo = _fraction(lo)
        hi = lo if hi is None else _fraction(hi)
        if lo > hi:
            raise ValueError(f"an interval needs lo <= hi, got [{lo}, {hi}]")
        if lo.denominator.bit_length() > bits:
            lo = down(lo, bits)
        if hi.denominator.bit_length() > bits:
            hi = up(hi, bits)
        self.lo, self.hi, self.bits = lo, hi, bits

    @staticmethod
    def of(v: Any, bits: int = BITS) -> Interval:
        """v itself if an Interval, else the point interval of the rational v."""
        return v if isinstance(v, Interval) else Interval(v, v, bits)

    # queries
    @property
    def is_point(self) -> bool:
        return self.lo == self.hi

    @property
    def width(self) -> Fraction:
        return self.hi - self.lo

    @property
    def mid(self) -> Fraction:
        return (self.lo + self.hi) / 2

    def contains(self, v: Any) -> bool:
        """Whether the number v (a rational, a float, or an Interval inside) lies in the interval."""
        if isinstance(v, Interval):
            return self.lo <= v.lo and v.hi <= self.hi
        return bool(self.lo <= v <= self.hi)

    def __repr__(self) -> str:
        return f"Interval({self.lo}, {self.hi})" if not self.is_point else f"Interval({self.lo})"

    def __eq__(self, other: object) -> bool:
        """Equal endpoints (the intervals, not a comparison of the numbers in them)."""
        return isinstance(other, Interval) and self.lo == other.lo and self.hi == other.hi

    def __hash__(self) -> int:
        return hash((self.lo, self.hi))

    def __float__(self) -> float:
        return float(self.mid)

    # arithmetic
    def _make(self, lo: Fraction, hi: Fraction, other: Any = None) -> Interval:
        bits = max(self.bits, other.bits) if isinstance(other, Interval) else self.bits
        return Interval(lo, hi, bits)

    def __add__(self, other: Any) -> Interval:
        if isinstance(other, Interval):
            return self._make(self.lo + other.lo, self.hi + other.hi, other)
        if isinstance(other, (int, Fraction)):
            return self._make(self.lo + other, self.hi + other)
        return NotImplemented

    __radd__ = __add__

    def __neg__(self) -> Interval:
        return Interval(-self.hi, -self.lo, self.bits)

    def __pos__(self) -> Interval:
        return self

    def __sub__(self, other: Any) -> Interval:
        if isinstance(other, Interval):
            return self._make(self.lo - other.hi, self.hi - other.lo, other)
        if isinstance(other, (int, Fraction)):
            return self._make(self.lo - other, self.hi - other)
        return NotImplemented

    def __rsub__(self, other: Any) -> Interval:
        if isinstance(other, (int, Fraction)):
            return self._make(other - self.hi, other - self.lo)
        return NotImplemented

    def __mul__(self, other: Any) -> Interval:
        if isinstance(other, Interval):
            if other.is_point:
                return self._scale(other.lo, other)
            if self.is_point:
                return other._scale(self.lo, self)
            ps = (self.lo * other.lo, self.lo * other.hi, self.hi * other.lo, self.hi * other.hi)
            return self._make(min(ps), max(ps), other)
        if isinstance(other, (int, Fraction)):
            return self._scale(other)
        return NotImplemented

    __rmul__ = __mul__

    def _scale(self, c: Any, other: Any = None) -> Interval:
        if c >= 0:
            return self._make(self.lo * c, self.hi * c, other)
        return self._make(self.hi * c, self.lo * c, other)

    def reciprocal(self) -> Interval:
        if self.lo <= 0 <= self.hi:
            raise NotCertifiable(f"a division by an interval holding 0 ({self})")
        return Interval(1 / self.hi, 1 / self.lo, self.bits)  # the constructor rounds outward

    def __truediv__(self, other: Any) -> Interval:
        if isinstance(other, Interval):
            return self * other.reciprocal()
        if isinstance(other, (int, Fraction)):
            if other == 0:
                raise NotCertifiable("a division by 0")
            return self._scale(F(1) / other)
        return NotImplemented

    def __rtruediv__(self, other: Any) -> Interval:
        if isinstance(other, (int, Fraction)):
            return self.reciprocal() * other
        return NotImplemented


def interval_array(values: Any, bits: int = BITS) -> np.ndarray:
    """An object array of Intervals (rationals become point intervals), in the shape of ``values``."""
    arr = np.asarray(values, dtype=object)
    flat = [Interval.of(v, bits) for v in arr.reshape(-1).tolist()]
    out = np.empty(len(flat), dtype=object)
    out[:] = flat
    return out.reshape(arr.shape)


# ---------------------------------------------------------------------------
# exp and log at the ends of an interval

def _exp(x: Fraction, bits: int) -> tuple[Fraction, Fraction]:
    return fixed_exp_bounds(x, bits + 8)


def _sigmoid(z: Interval) -> Interval:
    """sigmoid(z) = 1 / (1 + exp(-z)), increasing: [sigmoid(lo), sigmoid(hi)]."""
    bits = z.bits
    lo = F(1) / (1 + _exp(-z.lo, bits)[1])
    hi = F(1) / (1 + _exp(-z.hi, bits)[0])
    return Interval(down(lo, bits), up(hi, bits), bits)


def _log_sum_exp_bounds(v: Sequence[Fraction], bits: int, upper: bool) -> Fraction:
    """A lower (or upper) bound of log Σ exp(v_j), as max(v) + log Σ exp(v_j - max v)."""
    m = max(v)
    total = F(0)
    for x in v:
        a, b = _exp(x - m, bits)
        total += b if upper else a
    lo, hi = fixed_log_bounds(total, bits + 8)
    return m + (hi if upper else lo)


def _log_sum_exp(row: Sequence[Interval]) -> Interval:
    """log Σ exp(z_j), increasing in every z_j: [lse(lo), lse(hi)]."""
    bits = max(z.bits for z in row)
    return Interval(down(_log_sum_exp_bounds([z.lo for z in row], bits, False), bits),
                    up(_log_sum_exp_bounds([z.hi for z in row], bits, True), bits), bits)


def _softmax(row: Sequence[Interval]) -> list[Interval]:
    """p_i = 1 / (1 + Σ_(j != i) exp(z_j - z_i)): increasing in z_i, decreasing in every other z_j,
    so its range over the box is between the corners (z_i low, others high) and (z_i high, others low)."""
    bits = max(z.bits for z in row)
    out = []
    for i, zi in enumerate(row):
        big = small = F(1)
        for j, zj in enumerate(row):
            if j != i:
                big += _exp(zj.hi - zi.lo, bits)[1]
                small += _exp(zj.lo - zi.hi, bits)[0]
        out.append(Interval(down(1 / big, bits), up(1 / small, bits), bits))
    return out


# ---------------------------------------------------------------------------
# the algebra


def _objects(flat: list[Any], shape: tuple[int, ...]) -> np.ndarray:
    out = np.empty(len(flat), dtype=object)
    out[:] = flat
    return out.reshape(shape)


def _inside(v: Interval, table: PiecewiseLinear) -> int | None:
    """The piece holding the whole interval v, or None (v meets two pieces)."""
    for i, p in enumerate(table.pieces):
        if p.lo is not None and not (v.lo >= p.lo if p.lo_closed else v.lo > p.lo):
            continue
        if p.hi is not None and not (v.hi <= p.hi if p.hi_closed else v.hi < p.hi):
            continue
        return i
    return None


def _certain_first_max(row: Sequence[Interval]) -> int | None:
    """The position the first maximum takes at every point of the box, or None if it can change:
    i is it when it is certainly above every earlier entry and certainly at least every later one."""
    for i, v in enumerate(row):
        if all(v.lo > w.hi for w in row[:i]) and all(v.lo >= w.hi for w in row[i + 1:]):
            return i
    return None


class IntervalAlgebra(ConcreteAlgebra):
    """The trace over Intervals at ``bits`` fractional bits; pieces only where the whole box lies in one."""

    name = "interval"
    dtype = object

    def __init__(self, bits: int = BITS) -> None:
        self.bits = bits

    def convert(self, v: Fraction) -> Any:
        return v  # constants (slopes, scales) stay exact rationals

    def point(self, v: Any) -> Interval:
        return Interval.of(v, self.bits)

    def asarray(self, values: np.ndarray) -> np.ndarray:
        return interval_array(values, self.bits)

    def zeros(self, shape: tuple[int, ...]) -> np.ndarray:
        return np.full(shape, 0, dtype=object)

    def matmul(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if a.shape[-1] == 0:
            return self.zeros(a.shape[:-1] + b.shape[1:])
        return np.dot(a, b)

    def sum(self, a: np.ndarray, axis: int) -> np.ndarray:
        if a.shape[axis] == 0:
            return self.zeros(a.shape[:axis] + a.shape[axis + 1:])
        return a.sum(axis=axis)

    def choose(self, path: str, table: PiecewiseLinear, z: np.ndarray) -> Selection:
        flat = [self.point(v) for v in z.reshape(-1).tolist()]
        indices = []
        for pos, v in enumerate(flat):
            i = _inside(v, table)
            if i is None:
                where = np.unravel_index(pos, z.shape) if z.shape else ()
                raise NotCertifiable(f"the box straddles a kink of {table.name} at layer {path} "
                                     f"(entry {list(map(int, where))} ranges over [{float(v.lo):.6g}, "
                                     f"{float(v.hi):.6g}]): not certifiable there")
            indices.append(i)
        idx = np.array(indices, dtype=np.int64).reshape(z.shape)
        return Selection(lambda values: self._lookup(values, idx), idx)

    def argmax(self, path: str, windows: np.ndarray) -> Selection:
        k = windows.shape[-1]
        rows = windows.reshape(-1, k)
        indices = []
        for row in rows:
            i = _certain_first_max([self.point(v) for v in row.tolist()])
            if i is None:
                raise NotCertifiable(f"the maximum of a window at layer {path} can move within the box: "
                                     "not certifiable there")
            indices.append(i)
        idx = np.array(indices, dtype=np.int64).reshape(windows.shape[:-1])
        return Selection(lambda values: self._lookup(values, idx), idx)

    def finish(self, a: np.ndarray) -> np.ndarray:
        return interval_array(a, self.bits)

    def finish_scalar(self, v: Any) -> Interval:
        return self.point(v)

    def link(self, kind: str, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Enclosures of p and of the log-partition: sigmoid/softplus per entry, softmax/log-sum-exp per sample."""
        if kind == "sigmoid":
            flat = [self.point(v) for v in z.reshape(-1).tolist()]
            zero = self.point(0)
            return (_objects([_sigmoid(v) for v in flat], z.shape),
                    _objects([_log_sum_exp([zero, v]) for v in flat], z.shape))
        rows = [[self.point(v) for v in row] for row in z.reshape(z.shape[0], -1).tolist()]
        probs = [p for row in rows for p in _softmax(row)]
        return _objects(probs, z.shape), _objects([_log_sum_exp(row) for row in rows], (z.shape[0],))

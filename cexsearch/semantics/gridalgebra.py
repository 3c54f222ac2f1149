"""The grid algebra: the trace over every point of a grid at once, exactly, in int64 numpy arrays.

A scalar is a :class:`Q`: ``num * scale`` with ``num`` an integer numpy array broadcasting over the grid's
axes (an axis of length 1 where the value does not depend on that free value), ``scale`` one rational for
every point (an int when whole, so that the usual scale 1 costs no Fraction arithmetic), and ``bound`` a
proven bound on ``abs(num)``. Each operation picks the narrowest integer type that holds its result's bound,
and a value whose bound reaches 2^62 cannot be computed: reading it raises :class:`Declined`, so no
arithmetic ever overflows and whatever is computed is exact.

Values are computed when first read (``Q.num``): the trace also builds the loss, which no condition reads,
and it is never computed (nor declined for its size). Multiplying by a constant changes ``scale`` only; sums
are n-ary, over one common scale.

Choosing a piece (``choose``) compares each entry with the breakpoints as integers (``num >= ceil(b /
scale)``, no product formed); ``argmax`` scans each window for its first maximum, as
:func:`cexsearch.semantics.algebra.first_argmax` does, at every grid point. The piece taken varies over the
grid, so a :class:`Selection`'s pattern is None; ``pick`` gives, per entry, a Q equal at every point to the
chosen piece's value.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any

import numpy as np

from ..model.activations import PiecewiseLinear
from .algebra import Selection, first_argmax

LIMIT = 2**62  # every numerator's proven bound stays below this, so int64 arithmetic is exact


class Declined(Exception):
    """The grid search cannot decide this problem exactly (size, a possible overflow, a construct)."""


def dtype_of(bound: int) -> Any:
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


Scale = int | Fraction  # a whole scale is an int


def _whole(v: Scale) -> Scale:
    return v.numerator if type(v) is Fraction and v.denominator == 1 else v


def _product(a: Scale, b: Scale) -> Scale:
    return a * b if type(a) is int and type(b) is int else _whole(a * b)


def _scaled(v: Any, m: int, dt: Any) -> Any:
    """v * m in type dt (v an integer array or numpy scalar; |v * m| within dt by the caller's bound)."""
    if m == 1:
        return v
    if m == -1:
        return np.negative(v, dtype=dt)
    return np.multiply(v, m, dtype=dt)


class Q:
    """Exact rationals over the grid: ``num * scale``, ``abs(num) <= bound`` (see the module docstring).

    A Q is a constant when its ``num`` is a numpy scalar (the same at every point); a pending one holds
    the function that computes its ``num`` until first read.  (Constants given as ints or Fractions never
    become a Q in a product: they change a scale.)"""

    __slots__ = ("_num", "_make", "scale", "bound", "constant", "_value")

    def __init__(self, num: Any, scale: Scale, bound: int, make: Callable[[], Any] | None = None) -> None:
        self._num = num
        self._make = make
        self.scale = scale
        self.bound = bound
        self._value: Scale | None = None
        self.constant = make is None and np.ndim(num) == 0
        if make is None and bound >= LIMIT:
            raise Declined("values could overflow int64")

    @staticmethod
    def pending(make: Callable[[], Any], scale: Scale, bound: int) -> Q:
        return Q(None, scale, bound, make)  # not constant; make() computes num when it is first read

    @property
    def num(self) -> Any:
        if self._make is not None:
            if self.bound >= LIMIT:
                raise Declined("values could overflow int64")
            self._num, self._make = self._make(), None
        return self._num

    @staticmethod
    def const(v: Fraction | int) -> Q:
        key = v if type(v) is int else (v.numerator, v.denominator)
        q = _CONSTANTS.get(key)
        if q is None:
            f = Fraction(v)
            if f == 0:
                return ZERO
            q = Q(np.int8(1), _whole(f), 1)
            q._value = q.scale
            if len(_CONSTANTS) < 4096:
                _CONSTANTS[key] = q
        return q

    @staticmethod
    def of(v: Any) -> Q:
        if type(v) is Q:
            return v
        if isinstance(v, (int, Fraction, np.integer)) and not isinstance(v, (bool, np.bool_)):
            return Q.const(int(v) if isinstance(v, np.integer) else v)
        raise Declined(f"unsupported operand {type(v).__name__}")

    def value(self) -> Scale:
        """A constant's value (an int when whole)."""
        assert self.constant
        if self._value is None:
            self._value = int(self._num) * self.scale
        return self._value

    def __add__(self, other: Any) -> Q:
        return nsum([self, other])

    __radd__ = __add__

    def __neg__(self) -> Q:
        return self.times(-1)

    def __sub__(self, other: Any) -> Q:
        return nsum([self, -Q.of(other)])

    def __rsub__(self, other: Any) -> Q:
        return nsum([Q.of(other), -self])

    def times(self, c: Fraction | int) -> Q:
        """self * c for a constant c: only the scale changes."""
        if not c or self.bound == 0:
            return ZERO
        if self._make is None:
            return Q(self._num, _product(self.scale, c), self.bound)
        return Q.pending(lambda: self.num, _product(self.scale, c), self.bound)

    def __mul__(self, other: Any) -> Q:
        if type(other) is int or type(other) is Fraction:
            return self.times(other)
        o = Q.of(other)
        if o.constant:
            return self.times(o.value())
        if self.constant:
            return o.times(self.value())
        if self.bound == 0 or o.bound == 0:
            return ZERO
        bound = self.bound * o.bound
        return Q.pending(lambda: np.multiply(self.num, o.num, dtype=dtype_of(max(bound, self.bound, o.bound))),
                         _product(self.scale, o.scale), bound)

    __rmul__ = __mul__

    def __truediv__(self, other: Any) -> Q:
        o = Q.of(other)
        if not o.constant:
            raise Declined("division by a value that varies over the grid")
        c = o.value()
        if c == 0:
            raise ZeroDivisionError("division by zero")
        return self.times(_whole(1 / Fraction(c)))

    def __bool__(self) -> bool:
        raise TypeError("a grid value has no single truth value")

    def sign_test(self, op: str) -> Any:
        """``self op 0`` for op in ==, <, <=, as a Boolean array (scale's sign taken into account)."""
        num = self.num
        if op == "==":
            return np.equal(num, 0)
        if self.scale > 0:
            return np.less(num, 0) if op == "<" else np.less_equal(num, 0)
        return np.greater(num, 0) if op == "<" else np.greater_equal(num, 0)

    def at_least(self, b: Fraction, closed: bool) -> Any:
        """``self >= b`` (closed) or ``self > b`` as a Boolean array, comparing integers only."""
        if self.constant:
            v = self.value()
            return np.bool_(v >= b if closed else v > b)
        r = Fraction(b) / self.scale
        # num * scale >= b: num >= r when scale > 0, num <= r when scale < 0; num is whole
        if self.scale > 0:
            t = math.ceil(r) if closed else math.floor(r) + 1  # num >= t
            return np.greater_equal(self.num, t) if -self.bound < t <= self.bound else np.bool_(t <= -self.bound)
        t = math.floor(r) if closed else math.ceil(r) - 1  # num <= t
        return np.less_equal(self.num, t) if -self.bound <= t < self.bound else np.bool_(t >= self.bound)


ZERO = Q(np.int8(0), 1, 0)
_CONSTANTS: dict[Any, Q] = {0: ZERO}  # Q.const of the few constants a trace uses (slopes, scales, 0 and 1)


def common(terms: Sequence[Q]) -> tuple[Scale, list[int]]:
    """One scale s > 0 for non-zero terms and the integer factor m_i = scale_i / s of each (in ints)."""
    pairs = [(t.scale.numerator, t.scale.denominator) for t in terms]
    n0, d0 = pairs[0]
    a0 = abs(n0)
    if all(d == d0 and (n == a0 or n == -a0) for n, d in pairs):  # the usual case: units of 1/g
        return terms[0].scale if n0 > 0 else -terms[0].scale, [1 if n > 0 else -1 for n, _ in pairs]
    den = math.lcm(*(d for _, d in pairs))
    scaled = [n * (den // d) for n, d in pairs]  # scale_i = scaled_i / den
    g = math.gcd(*scaled)
    return _whole(Fraction(g, den)), [v // g for v in scaled]


def nsum(items: Sequence[Any]) -> Q:
    """Σ items (Q, ints or Fractions): the constants added exactly, the rest over one common scale."""
    const: Fraction | int = 0
    terms: list[Q] = []
    for it in items:
        if type(it) is int or type(it) is Fraction:
            const += it
            continue
        q = Q.of(it)
        if q.bound == 0:
            continue
        if q.constant:
            const += q.value()
        else:
            terms.append(q)
    if not terms:
        return Q.const(const)
    if not const and len(terms) == 1:
        return terms[0]
    if const:
        terms.append(Q.const(const))
    s, ms = common(terms)
    bound = sum(t.bound * abs(m) for t, m in zip(terms, ms))
    if bound >= LIMIT:
        return Q.pending(lambda: None, s, bound)  # declined if read
    dt = dtype_of(max(bound, *(abs(m) for m in ms)))

    def make() -> Any:
        acc, owned = None, False  # owned: acc is this sum's own array, so terms may be added into it in place
        for n, m in sorted(zip([t.num for t in terms], ms), key=lambda p: p[1] == -1):  # subtracted ones last
            sub = m == -1 and acc is not None
            part, op = (n, np.subtract) if sub else (_scaled(n, m, dt), np.add)
            if acc is None:
                acc = part
            elif owned and acc.shape == np.broadcast_shapes(acc.shape, np.shape(part)):
                op(acc, part, out=acc)
            else:
                acc, owned = op(acc, part, dtype=dt), True
        return acc

    return Q.pending(make, s, bound)


def _objects(flat: list[Any], shape: tuple[int, ...]) -> np.ndarray:
    out = np.empty(len(flat), dtype=object)
    out[:] = flat
    return out.reshape(shape)


class _Pieces:
    """The piece index of one entry at every grid point (an integer array, or an int for a constant), read once."""

    __slots__ = ("_index", "_make")

    def __init__(self, index: Any = None, make: Callable[[], Any] | None = None) -> None:
        self._index, self._make = index, make

    @property
    def index(self) -> Any:
        if self._make is not None:
            self._index, self._make = self._make(), None
        return self._index


def _reader(e: _Pieces, table: np.ndarray | None) -> Callable[[], Any]:
    """What computes ``table[piece index]`` over the grid (the index itself without a table)."""
    return (lambda: e.index) if table is None else (lambda: table[e.index])


def _selection(entries: list[_Pieces], shape: tuple[int, ...]) -> Selection:
    def pick(values: Sequence[Fraction]) -> np.ndarray:
        """Per entry, the Q equal at every point to ``values[piece taken there]``."""
        vals = [Fraction(v) for v in values]
        consts = [Q.const(v) for v in vals]
        if all(v == vals[0] for v in vals):
            return _objects([consts[0]] * len(entries), shape)
        s, _ = common([c for c in consts if c.bound != 0])
        ints = [int(v / s) for v in vals]  # values[i] = ints[i] * s
        bound = max(abs(i) for i in ints)
        table = np.array(ints, dtype=dtype_of(bound))
        identity = ints == list(range(len(ints)))  # 0, 1, ...: the index itself (ReLU's slope, a one-hot)
        out: list[Q] = []
        for e in entries:
            if e._make is None and isinstance(e._index, int):  # the same piece at every point
                out.append(consts[e._index])
            else:
                out.append(Q.pending(_reader(e, None if identity else table), s, bound))
        return _objects(out, shape)

    return Selection(pick, None)


def _piece_index(z: Q, table: PiecewiseLinear) -> _Pieces:
    if z.constant:
        return _Pieces(table.index(z.value()))

    def make() -> Any:
        # piece j >= 1 or a later one  <=>  z above its lower end; the index is how many hold
        above = [z.at_least(p.lo, p.lo_closed) for p in table.pieces[1:] if p.lo is not None]
        dt = dtype_of(len(above))
        if len(above) == 1:
            return above[0].astype(dt)
        out = np.zeros(np.broadcast_shapes(*(np.shape(a) for a in above)), dtype=dt)
        for a in above:
            np.add(out, a, out=out, casting="unsafe")
        return out

    return _Pieces(make=make)


def _first_max(window: list[Q]) -> _Pieces:
    if all(w.constant for w in window):
        return _Pieces(first_argmax([w.value() for w in window]))

    def make() -> Any:
        live = [w for w in window if w.bound != 0]  # not all zero: some entry is not constant
        factor = iter(common(live)[1])
        m_of = [0 if w.bound == 0 else next(factor) for w in window]
        bound = max(w.bound * abs(m) for w, m in zip(window, m_of))
        dt = dtype_of(max(bound, *(abs(m) for m in m_of)))
        nums = [np.int8(0) if m == 0 else _scaled(w.num, m, dt) for w, m in zip(window, m_of)]
        it = dtype_of(len(nums))  # a window of more than 127 entries needs wider indices
        best, index = nums[0], it(0)  # type: Any, Any
        for i in range(1, len(nums)):  # strictly greater: ties keep the first maximum
            better = np.greater(nums[i], best)
            best = np.where(better, nums[i], best)
            index = np.where(better, it(i), index).astype(it, copy=False)
        return index

    return _Pieces(make=make)


class GridAlgebra:
    """:class:`cexsearch.semantics.algebra.Algebra` over :class:`Q` values in numpy object arrays."""

    name = "grid"

    def asarray(self, values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, dtype=object)
        return _objects([Q.of(v) for v in values.reshape(-1).tolist()], values.shape)

    def constant(self, value: Fraction) -> Any:
        v = Fraction(value)
        return v.numerator if v.denominator == 1 else v

    def zeros(self, shape: tuple[int, ...]) -> np.ndarray:
        return np.full(shape, ZERO, dtype=object)

    def matmul(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        rows, cols = a.tolist(), b.T.tolist()
        return _objects([nsum([x * y for x, y in zip(r, c)]) for r in rows for c in cols],
                        (a.shape[0], b.shape[1]))

    def sum(self, a: np.ndarray, axis: int) -> np.ndarray:
        moved = np.moveaxis(a, axis, -1)
        out = _objects([nsum(row) for row in moved.reshape(-1, moved.shape[-1]).tolist()], moved.shape[:-1])
        return out if out.shape else out[()]

    def choose(self, path: str, table: PiecewiseLinear, z: np.ndarray) -> Selection:
        return _selection([_piece_index(Q.of(v), table) for v in z.reshape(-1).tolist()], z.shape)

    def argmax(self, path: str, windows: np.ndarray) -> Selection:
        k = windows.shape[-1]
        rows = windows.reshape(-1, k).tolist()
        return _selection([_first_max([Q.of(v) for v in row]) for row in rows], windows.shape[:-1])

    def rescale(self, a: np.ndarray) -> tuple[np.ndarray, Fraction]:
        return a, Fraction(1)  # a common denominator is a scale already

    def finish(self, a: np.ndarray) -> np.ndarray:
        return a  # Q values out: the conditions read them over grid.GridBackend

    def finish_scalar(self, v: Any) -> Any:
        return v


GRID = GridAlgebra()

"""The small algebra :func:`cexsearch.semantics.trace.trace` computes in.

Arrays are numpy arrays (object arrays for exact numbers and Z3 terms, float64 for
the float pass); the elementwise ``+``, ``-`` and ``*`` are numpy's.  An algebra
supplies only what differs between number systems:

* converting the given Fractions (``asarray``, ``constant``) and back (``finish``);
* ``rescale``: ``(D a, 1/D)`` for a factor D that makes computing linearly in ``a``
  cheaper (the exact algebra's common denominator, so backprop runs on ints; 1 elsewhere);
* the reductions ``matmul`` and ``sum``, so a symbolic algebra can build one n-ary sum;
* **choosing a linear piece** (``choose``) and a window's maximum (``argmax``).  A
  concrete algebra compares the values and records the piece taken (the trace's
  pattern); a symbolic one reads the piece from a given pattern, adding the piece's
  interval as a constraint, or leaves it open as ``If`` terms.

Everything else, the forward pass and backprop of every layer and the loss, is
written once in :mod:`cexsearch.model.layers` over these operations.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Protocol

import numpy as np

from ..model.activations import PiecewiseLinear

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Selection:
    """The piece taken at each entry of one site.

    ``pick(values)``, one value per piece (per window position for an argmax),
    gives the array of the chosen values.  ``pattern`` is the piece index per entry
    (None where a symbolic algebra left it open), ``constraints`` what must hold for
    the pattern to be the one the values take (empty for a concrete algebra).
    """

    pick: Callable[[Sequence[Fraction]], np.ndarray]
    pattern: np.ndarray | None
    constraints: tuple[Any, ...] = ()
    scaled: Callable[[Sequence[Fraction], np.ndarray, bool], np.ndarray] | None = None

    def times(self, values: Sequence[Fraction], t: np.ndarray, backward: bool = False) -> np.ndarray:
        """``values_p * t`` on each entry's chosen piece p: an activation's output (forward) or
        its backprop (``backward``).  The same numbers as ``pick(values) * t``; a symbolic
        algebra may build a different term for it (see :class:`cexsearch.engine.z3algebra.Z3Algebra`)."""
        if self.scaled is not None:
            return self.scaled(values, t, backward)
        with np.errstate(all="ignore"):  # the float pass beyond float range: inf * 0 is NaN, reported there
            return self.pick(values) * t


class Algebra(Protocol):
    """The number system of one trace: Fraction, float64 or Z3 terms."""

    name: str

    def asarray(self, values: np.ndarray) -> np.ndarray: ...
    def constant(self, value: Fraction) -> Any: ...
    def zeros(self, shape: Shape) -> np.ndarray: ...
    def matmul(self, a: np.ndarray, b: np.ndarray) -> np.ndarray: ...
    def sum(self, a: np.ndarray, axis: int) -> np.ndarray: ...
    def choose(self, path: str, table: PiecewiseLinear, z: np.ndarray) -> Selection: ...
    def argmax(self, path: str, windows: np.ndarray) -> Selection: ...
    def rescale(self, a: np.ndarray) -> tuple[np.ndarray, Fraction]: ...
    def finish(self, a: np.ndarray) -> np.ndarray: ...
    def finish_scalar(self, v: Any) -> Any: ...


def first_argmax(values: Sequence[Any]) -> int:
    """The index of the first maximum in scan order (PyTorch CPU's max-pool choice on ties)."""
    best = 0
    for i in range(1, len(values)):
        if values[i] > values[best]:
            best = i
    return best


class ConcreteAlgebra:
    """Shared by the exact and the float algebra: pieces chosen by comparing values."""

    name = "concrete"
    dtype: Any = object

    def convert(self, v: Fraction) -> Any:
        raise NotImplementedError

    def constant(self, value: Fraction) -> Any:
        # The same few constants (slopes, breakpoints, loss scales) in every trace: convert each once.
        memo: dict[Any, Any] = self.__dict__.setdefault("_constants", {})
        try:
            return memo[value]
        except KeyError:
            if len(memo) > 4096:
                memo.clear()
            out = memo[value] = self.convert(Fraction(value))
            return out

    def asarray(self, values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, dtype=object)
        convert = self.convert
        flat = [convert(v if isinstance(v, Fraction) else Fraction(v)) for v in values.reshape(-1)]
        out = np.empty(len(flat), dtype=self.dtype)
        out[:] = flat
        return out.reshape(values.shape)

    def zeros(self, shape: Shape) -> np.ndarray:
        return np.zeros(shape, dtype=self.dtype) if self.dtype is not object else np.full(shape, 0, dtype=object)

    def matmul(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if a.shape[-1] == 0:
            return self.zeros(a.shape[:-1] + b.shape[1:])
        with np.errstate(all="ignore"):
            return np.dot(a, b)

    def sum(self, a: np.ndarray, axis: int) -> np.ndarray:
        if a.shape[axis] == 0:
            return self.zeros(a.shape[:axis] + a.shape[axis + 1:])
        with np.errstate(all="ignore"):
            return a.sum(axis=axis)

    def _lookup(self, values: Sequence[Fraction], indices: np.ndarray) -> np.ndarray:
        table = np.empty(len(values), dtype=self.dtype)
        for i, v in enumerate(values):
            table[i] = self.constant(v)
        return table[indices]

    def _bound(self, b: Fraction) -> Any:
        """The breakpoint to compare with in this algebra; None if that comparison would not be exact."""
        return self.constant(b)

    def _side(self, z: np.ndarray, bound: Fraction, closed: bool, above: bool) -> np.ndarray:
        """z >= bound (above, closed), z > bound, z <= bound or z < bound, exactly, as a bool array."""
        b = self._bound(bound)
        if b is None:  # compare each value with the exact Fraction (Python compares float and Fraction exactly)
            cmp = (lambda v: v >= bound) if above and closed else (lambda v: v > bound) if above else \
                (lambda v: v <= bound) if closed else (lambda v: v < bound)
            return np.array([cmp(v) for v in z.reshape(-1)], dtype=bool).reshape(z.shape)
        with np.errstate(invalid="ignore"):
            out = (z >= b if closed else z > b) if above else (z <= b if closed else z < b)
        return np.asarray(out, dtype=bool)

    def choose(self, path: str, table: PiecewiseLinear, z: np.ndarray) -> Selection:
        """Each entry's piece by comparing with the breakpoints (vectorised); NaN takes the piece of 0."""
        indices = np.full(z.shape, -1, dtype=np.int64)
        for i, p in enumerate(table.pieces):
            inside = indices < 0
            if p.lo is not None:
                inside &= self._side(z, p.lo, p.lo_closed, above=True)
            if p.hi is not None:
                inside &= self._side(z, p.hi, p.hi_closed, above=False)
            indices[inside] = i
        indices[indices < 0] = table.index(0)
        return Selection(lambda values: self._lookup(values, indices), indices)

    def argmax(self, path: str, windows: np.ndarray) -> Selection:
        """``windows`` (..., k): the first maximum of each window; ``pick`` over its k positions."""
        k = windows.shape[-1]
        flat = windows.reshape(-1, k)
        indices = np.array([first_argmax(list(row)) for row in flat], dtype=np.int64).reshape(windows.shape[:-1])
        return Selection(lambda values: self._lookup(values, indices), indices)

    def rescale(self, a: np.ndarray) -> tuple[np.ndarray, Fraction]:
        return a, Fraction(1)

    def finish(self, a: np.ndarray) -> np.ndarray:
        return a

    def finish_scalar(self, v: Any) -> Any:
        return v

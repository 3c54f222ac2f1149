"""The exact algebra: rationals, as Python ints where whole and Fractions otherwise.

Integers are exact like Fractions and far faster, so inside a trace a whole value
is an ``int``, and the costly part, the matrix products, runs on ints even when the
values are not whole: :meth:`ExactAlgebra.matmul` brings each factor over one
common denominator, multiplies the integer numerators and divides once per entry
of the product.  :meth:`ExactAlgebra.rescale` lets the trace run all of backprop
in ints on fractional residuals (backprop is linear in its seed, so the seed is
multiplied by its common denominator D and the gradients divided by D at the end).
Every value leaves the trace (``finish``) as a :class:`~fractions.Fraction`.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np

from . import transcendental as T
from .algebra import ConcreteAlgebra

_RATIONAL = (int, Fraction)


def common_denominator(flat: list[Any]) -> int:
    """The least common multiple of the denominators of ints and Fractions (1 if all are whole)."""
    dens = {v.denominator for v in flat if type(v) is not int and v.denominator != 1}
    return math.lcm(*dens) if dens else 1


def _scaled(flat: list[Any], d: int) -> list[int]:
    """Each value times d, as an int (d a multiple of every denominator)."""
    return [v * d if type(v) is int else v.numerator * (d // v.denominator) for v in flat]


def _objects(flat: list[Any], shape: tuple[int, ...]) -> np.ndarray:
    out = np.empty(len(flat), dtype=object)
    out[:] = flat
    return out.reshape(shape)


class ExactAlgebra(ConcreteAlgebra):
    name = "exact"
    dtype = object

    def convert(self, v: Fraction) -> Any:
        return v.numerator if v.denominator == 1 else v

    def asarray(self, values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, dtype=object)
        flat = [v if type(v) is int else (v.numerator if v.denominator == 1 else v) if type(v) is Fraction
                else self.convert(Fraction(v)) for v in values.reshape(-1)]
        return _objects(flat, values.shape)

    def matmul(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if a.shape[-1] == 0 or a.size == 0 or b.size == 0:
            return super().matmul(a, b)
        fa, fb = a.reshape(-1).tolist(), b.reshape(-1).tolist()
        if not all(type(v) in _RATIONAL for v in fa) or not all(type(v) in _RATIONAL for v in fb):
            return np.dot(a, b)  # a classification loss's values in Q(u) (transcendental.Value)
        da, db = common_denominator(fa), common_denominator(fb)
        if da == 1 and db == 1:
            return np.dot(a, b)
        prod = np.dot(_objects(_scaled(fa, da), a.shape), _objects(_scaled(fb, db), b.shape))
        d = da * db
        out = []
        for n in prod.reshape(-1).tolist():
            g = math.gcd(n, d)
            out.append(n // g if g == d else Fraction(n, d))
        return _objects(out, prod.shape)

    def sum(self, a: np.ndarray, axis: int) -> np.ndarray:
        if a.shape[axis] == 0:
            return self.zeros(a.shape[:axis] + a.shape[axis + 1:])
        return a.sum(axis=axis)  # no float to warn about: no errstate

    def rescale(self, a: np.ndarray) -> tuple[np.ndarray, Fraction]:
        """(D a, 1/D) with D the common denominator of ``a``: D a is whole, so what is linear in it runs on ints."""
        flat = a.reshape(-1).tolist()
        d = common_denominator(flat)
        if d == 1:
            return a, Fraction(1)
        return _objects(_scaled(flat, d), a.shape), Fraction(1, d)

    def finish(self, a: np.ndarray) -> np.ndarray:
        memo: dict[int, Fraction] = {}  # many entries repeat (zeros of a ReLU, small ints): one Fraction each
        out = []
        for v in np.asarray(a, dtype=object).reshape(-1).tolist():
            if type(v) is int:
                f = memo.get(v)
                if f is None:
                    f = memo[v] = Fraction(v)
                out.append(f)
            else:
                out.append(v if type(v) in (Fraction, T.Value) else Fraction(v))
        return _objects(out, np.shape(a))

    def finish_scalar(self, v: Any) -> Any:
        return v if isinstance(v, T.Value) else Fraction(v)

    def link(self, kind: str, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """p and the log-partition of a classification loss, exactly (see :mod:`.transcendental`):
        per entry (sigmoid: softplus) or per sample (softmax: log-sum-exp)."""
        if kind == "sigmoid":
            flat = z.reshape(-1).tolist()
            return (_objects([T.sigmoid(v) for v in flat], z.shape),
                    _objects([T.softplus(v) for v in flat], z.shape))
        rows = z.reshape(z.shape[0], -1).tolist()
        probs = [v for row in rows for v in T.softmax(row)]
        return _objects(probs, z.shape), _objects([T.log_sum_exp(row) for row in rows], (z.shape[0],))


EXACT = ExactAlgebra()

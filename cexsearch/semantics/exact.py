"""The exact algebra: rationals, as Python ints where whole and Fractions otherwise.

Integers are exact like Fractions and far faster in the matrix products (the
trick of :mod:`cexsearch.numeric`), so inside a trace a whole value is an ``int``;
every value leaves the trace (``finish``) as a :class:`~fractions.Fraction`.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np

from .algebra import ConcreteAlgebra


class ExactAlgebra(ConcreteAlgebra):
    name = "exact"
    dtype = object

    def convert(self, v: Fraction) -> Any:
        return v.numerator if v.denominator == 1 else v

    def finish(self, a: np.ndarray) -> np.ndarray:
        out = np.empty(np.shape(a), dtype=object)
        for idx in np.ndindex(out.shape):
            out[idx] = Fraction(a[idx])  # type: ignore[call-overload]
        return out

    def finish_scalar(self, v: Any) -> Any:
        return Fraction(v)


EXACT = ExactAlgebra()

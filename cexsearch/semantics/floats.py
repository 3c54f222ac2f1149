"""The float64 algebra: the same trace in IEEE doubles (to measure rounding, to compare with torch).

A Fraction beyond the float range becomes ±inf (as :func:`cexsearch.semantics.numeric.to_float`);
pieces are chosen by comparing the float with the exact breakpoints, and a NaN takes
the piece of 0.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from .algebra import ConcreteAlgebra


def to_float(v: Fraction) -> float:
    """The nearest float64, or ±inf for a value beyond its range."""
    try:
        return float(v)
    except OverflowError:
        return float("inf") if v > 0 else float("-inf")


class FloatAlgebra(ConcreteAlgebra):
    name = "float64"
    dtype = np.float64

    def convert(self, v: Fraction) -> float:
        return to_float(v)

    def asarray(self, values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, dtype=object)
        flat = values.reshape(-1).tolist()
        try:  # ints and Fractions: true division of the integers is correctly rounded, as float(Fraction)
            floats = [v.numerator / v.denominator for v in flat]
        except (OverflowError, AttributeError):  # beyond the float range (±inf), or not a rational
            floats = [to_float(v if isinstance(v, Fraction) else Fraction(v)) for v in flat]
        return np.array(floats, dtype=np.float64).reshape(values.shape)

    def _bound(self, b: Fraction) -> float | None:
        f = self.constant(b)
        return f if f == b else None  # 1/3 has no float: compare exactly entry by entry (float == Fraction is exact)

    def finish_scalar(self, v: object) -> float:
        return float(v)  # type: ignore[arg-type]

    def link(self, kind: str, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """p and the log-partition in float64, as PyTorch computes them (stable forms)."""
        z = np.asarray(z, dtype=np.float64)
        with np.errstate(all="ignore"):
            if kind == "sigmoid":
                p = np.where(z >= 0, 1 / (1 + np.exp(-np.abs(z))), np.exp(-np.abs(z)) / (1 + np.exp(-np.abs(z))))
                return p, np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))
            rows = z.reshape(z.shape[0], -1)
            top = rows.max(axis=1, keepdims=True)
            e = np.exp(rows - top)
            total = e.sum(axis=1, keepdims=True)
            return (e / total).reshape(z.shape), (top + np.log(total)).reshape(-1)


FLOAT = FloatAlgebra()

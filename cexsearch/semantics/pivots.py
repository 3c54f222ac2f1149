"""Two small pieces of linear algebra for certificates: which values to box, and an exact determinant."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

import numpy as np

F = Fraction


def select(jacobian: np.ndarray, k: int) -> list[int] | None:
    """k columns of a k-row Jacobian that are well independent (greedy column pivoting), or None."""
    r = np.array(jacobian, dtype=np.float64, copy=True)
    if r.shape[0] != k or r.shape[1] < k or not np.all(np.isfinite(r)):
        return None
    scale = float(np.abs(r).max()) if r.size else 0.0
    chosen: list[int] = []
    for _ in range(k):
        norms = np.linalg.norm(r, axis=0)
        norms[chosen] = -1.0
        j = int(np.argmax(norms))
        if norms[j] <= 1e-9 * scale or scale == 0:
            return None
        chosen.append(j)
        q = r[:, j] / norms[j]
        r = r - np.outer(q, q @ r)
    return chosen


def determinant(m: Sequence[Sequence[Fraction]]) -> Fraction:
    """The exact determinant (Gaussian elimination over the rationals)."""
    a = [[F(v) for v in row] for row in m]
    n, det = len(a), F(1)
    for c in range(n):
        p = next((r for r in range(c, n) if a[r][c] != 0), None)
        if p is None:
            return F(0)
        if p != c:
            a[c], a[p] = a[p], a[c]
            det = -det
        det *= a[c][c]
        for r in range(c + 1, n):
            factor = a[r][c] / a[c][c]
            a[r] = [x - factor * z for x, z in zip(a[r], a[c])]
    return det

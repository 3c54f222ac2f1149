"""The trace's algebra over Z3 terms: the pattern-fixed polynomial form and the ``If`` form.

Arrays hold Python ints/Fractions wherever a value is constant (so a constant
stays foldable and its side of a breakpoint is known without the solver) and
:class:`Sym`, a thin wrapper of a Z3 arithmetic term, elsewhere; numpy's
elementwise ``+``/``*`` work on both, and ``matmul``/``sum`` build one n-ary
``z3.Sum`` per entry.

Choosing a piece (``choose``, ``argmax``) reads the given pattern, per site path:

* a piece index ``p >= 0``: the entry takes piece p, so the value is the piece's
  polynomial and the constraint ``z ∈ interval(p)`` is collected (for a constant z
  the interval is checked at once: a violated one is the constraint ``False``);
* ``-1`` (or no pattern for the site at all): the entry is left open and every
  per-piece value becomes ``If(z ∈ I_0, v_0, If(z ∈ I_1, v_1, ... v_last))``, exact
  because the pieces partition the line.  For a max-pool window, piece j is "j is
  the first maximum": ``w_j > w_i`` for i < j and ``w_j >= w_i`` for i > j.

``Z3Algebra(pattern)`` with every site fixed is the pattern-fixed form,
``Z3Algebra()`` the If form; a mix of both is allowed.  With ``selectors=True`` an open
entry's conditions become named Booleans (:meth:`Z3Algebra.selector`) defined by
``b_p == (z ∈ I_p)`` constraints, as the encoding's ``active_m_k_j`` bits are, so that
the solver splits on them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any

import numpy as np
import z3

from ..model.activations import Piece, PiecewiseLinear
from ..semantics.algebra import Selection

Const = (int, Fraction)


def _norm(v: Any) -> Any:
    return v.numerator if isinstance(v, Fraction) and v.denominator == 1 else v


def to_z3(v: Any) -> z3.ArithRef:
    """A Z3 term for a constant, a :class:`Sym` or a Z3 term."""
    if isinstance(v, Sym):
        return v.e
    if isinstance(v, bool):
        raise TypeError("a bool is not a number")
    if isinstance(v, int):
        return z3.RealVal(v)
    if isinstance(v, Fraction):  # (z3.Q simplifies every numeral: slow)
        return z3.RealVal(f"{v.numerator}/{v.denominator}") if v.denominator != 1 else z3.RealVal(v.numerator)
    return v


class Sym:
    """A non-constant Z3 term; arithmetic with constants folds 0 and 1 away."""

    __slots__ = ("e",)

    def __init__(self, e: z3.ArithRef) -> None:
        self.e = e

    def __add__(self, other: Any) -> Any:
        if isinstance(other, Const) and other == 0:
            return self
        return Sym(self.e + to_z3(other))

    def __radd__(self, other: Any) -> Any:
        if isinstance(other, Const) and other == 0:
            return self
        return Sym(to_z3(other) + self.e)

    def __sub__(self, other: Any) -> Any:
        return self + (-other)

    def __rsub__(self, other: Any) -> Any:
        return (-self) + other

    def __neg__(self) -> Any:
        return Sym(-self.e)

    def __mul__(self, other: Any) -> Any:
        if isinstance(other, Const):
            if other == 0:
                return 0
            if other == 1:
                return self
        return Sym(self.e * to_z3(other))

    def __rmul__(self, other: Any) -> Any:
        if isinstance(other, Const):
            if other == 0:
                return 0
            if other == 1:
                return self
        return Sym(to_z3(other) * self.e)

    def __repr__(self) -> str:
        return f"Sym({self.e})"


def n_ary_sum(terms: Sequence[Any]) -> Any:
    """Σ terms: constants added exactly, the rest in one z3.Sum."""
    const: Any = 0
    symbolic = []
    for t in terms:
        if isinstance(t, Const):
            const += t
        else:
            symbolic.append(to_z3(t))
    const = _norm(const)
    if not symbolic:
        return const
    if const != 0:
        symbolic.append(to_z3(const))
    return Sym(symbolic[0] if len(symbolic) == 1 else z3.Sum(*symbolic))


def _in_piece(z: Any, p: Piece) -> Any:
    """``z ∈ interval(p)``: a Python bool for a constant z, else a Z3 formula."""
    if isinstance(z, Const):
        return p.contains(z)
    zz, parts = to_z3(z), []
    if p.lo is not None:
        parts.append(zz >= to_z3(p.lo) if p.lo_closed else zz > to_z3(p.lo))
    if p.hi is not None:
        parts.append(zz <= to_z3(p.hi) if p.hi_closed else zz < to_z3(p.hi))
    return z3.BoolVal(True) if not parts else parts[0] if len(parts) == 1 else z3.And(*parts)


def _gt(a: Any, b: Any, strict: bool) -> Any:
    if isinstance(a, Const) and isinstance(b, Const):
        return a > b if strict else a >= b
    return to_z3(a) > to_z3(b) if strict else to_z3(a) >= to_z3(b)


def _first_max(window: Sequence[Any], j: int) -> list[Any]:
    """Conditions for j to be the first maximum of the window (True ones dropped)."""
    out = []
    for i, w in enumerate(window):
        if i != j:
            c = _gt(window[j], w, strict=i < j)
            if c is not True:
                out.append(c)
    return out


def _conj(conds: list[Any]) -> Any:
    if any(c is False for c in conds):
        return False
    conds = [c for c in conds if c is not True]
    return True if not conds else conds[0] if len(conds) == 1 else z3.And(*conds)


def _chain(conds: Sequence[Any], values: Sequence[Any]) -> Any:
    """If(c_0, v_0, If(c_1, v_1, ... v_last)), with constant conditions resolved."""
    out = _norm(values[-1])
    for c, v in zip(reversed(conds[:-1]), reversed(values[:-1])):
        if c is True:
            out = _norm(v)
        elif c is False:
            continue
        elif not (isinstance(out, Const) and out == v):
            out = Sym(z3.If(c, to_z3(v), to_z3(out)))
    return out


class Z3Algebra:
    """Z3 terms; ``pattern`` maps a site path to piece indices (-1: open), a missing site is open."""

    name = "z3"

    def __init__(self, pattern: Mapping[str, np.ndarray] | None = None, selectors: bool = False) -> None:
        self.pattern = {k: np.asarray(v, dtype=np.int64) for k, v in (pattern or {}).items()}
        self.selectors = selectors

    @staticmethod
    def selector(path: str, index: tuple[int, ...], piece: int) -> z3.BoolRef:
        """With ``selectors=True``: the Boolean 'entry ``index`` of site ``path`` takes ``piece``'
        (one for every piece but the last of an open entry), so Z3 can split on it."""
        return z3.Bool(f"piece_{path}_{'_'.join(map(str, index))}_{piece}")

    def constant(self, value: Fraction) -> Any:
        return _norm(Fraction(value))

    def asarray(self, values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, dtype=object)
        out = np.empty(values.shape, dtype=object)
        for idx in np.ndindex(values.shape):
            v = values[idx]
            out[idx] = v if isinstance(v, Sym) else Sym(v) if isinstance(v, z3.ArithRef) else _norm(Fraction(v))  # type: ignore[call-overload]
        return out

    def zeros(self, shape: tuple[int, ...]) -> np.ndarray:
        return np.full(shape, 0, dtype=object)

    def matmul(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        out = np.empty((a.shape[0], b.shape[1]), dtype=object)
        for i in range(a.shape[0]):
            for j in range(b.shape[1]):
                out[i, j] = n_ary_sum([a[i, k] * b[k, j] for k in range(a.shape[1])])
        return out

    def sum(self, a: np.ndarray, axis: int) -> np.ndarray:
        moved = np.moveaxis(a, axis, -1)
        out = np.empty(moved.shape[:-1], dtype=object)
        for idx in np.ndindex(out.shape):
            out[idx] = n_ary_sum(list(moved[idx]))
        return out if out.shape else out[()]

    def _indices(self, path: str, shape: tuple[int, ...]) -> np.ndarray:
        given = self.pattern.get(path)
        if given is None:
            return np.full(shape, -1, dtype=np.int64)
        if given.shape != shape:
            raise ValueError(f"the pattern of {path} has shape {given.shape}, the site {shape}")
        return given

    def _select(self, path: str, indices: np.ndarray, conds: np.ndarray, constraints: list[Any]) -> Selection:
        """conds[..., p]: the condition of piece p at each entry (bools or Z3 formulas)."""
        for idx in np.ndindex(indices.shape):
            p = int(indices[idx])
            if p >= 0:
                c = conds[idx][p]
                if c is not True:
                    constraints.append(z3.BoolVal(False) if c is False else c)
            elif self.selectors and not all(isinstance(c, bool) for c in conds[idx]):
                named = []
                for q, c in enumerate(conds[idx][:-1]):
                    b = self.selector(path, idx, q)
                    constraints.append(b == (z3.BoolVal(c) if isinstance(c, bool) else c))
                    named.append(b)
                conds[idx] = named + [True]

        def pick(values: Sequence[Fraction]) -> np.ndarray:
            vals = [_norm(Fraction(v)) for v in values]
            out = np.empty(indices.shape, dtype=object)
            for idx in np.ndindex(indices.shape):
                p = int(indices[idx])
                out[idx] = vals[p] if p >= 0 else _chain(list(conds[idx]), vals)
            return out

        return Selection(pick, indices, tuple(constraints))

    def choose(self, path: str, table: PiecewiseLinear, z: np.ndarray) -> Selection:
        indices = self._indices(path, z.shape)
        conds = np.empty(z.shape, dtype=object)
        for idx in np.ndindex(z.shape):
            conds[idx] = [_in_piece(z[idx], p) for p in table.pieces]
        return self._select(path, indices, conds, [])

    def argmax(self, path: str, windows: np.ndarray) -> Selection:
        indices = self._indices(path, windows.shape[:-1])
        conds = np.empty(windows.shape[:-1], dtype=object)
        for idx in np.ndindex(conds.shape):
            w = list(windows[idx])
            conds[idx] = [_conj(_first_max(w, j)) for j in range(len(w))]
        return self._select(path, indices, conds, [])

    def rescale(self, a: np.ndarray) -> tuple[np.ndarray, Fraction]:
        return a, Fraction(1)  # terms: nothing to gain

    def finish(self, a: np.ndarray) -> np.ndarray:
        out = np.empty(np.shape(a), dtype=object)
        for idx in np.ndindex(out.shape):
            out[idx] = to_z3(a[idx])
        return out

    def finish_scalar(self, v: Any) -> Any:
        return to_z3(v)

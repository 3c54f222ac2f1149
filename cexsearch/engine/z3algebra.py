"""The trace's algebra over Z3 terms: the pattern-fixed polynomial form and the ``If`` form.

Arrays hold Python ints/Fractions wherever a value is constant (foldable, and its side of a breakpoint is
known without the solver), :class:`Lin` where it is linear in the free values, :class:`Sym` (a thin wrapper
of a Z3 term) elsewhere, and for a classification loss ``Affine`` forms in its probabilities
(:mod:`.z3links`); numpy's elementwise ``+``/``*`` work on all, ``matmul``/``sum`` build one n-ary sum per entry.

Choosing a piece (``choose``, ``argmax``) reads the given pattern, per site path:

* a piece index ``p >= 0``: the value is the piece's polynomial and the constraint ``z ∈ interval(p)`` is
  collected (for a constant z checked at once: a violated one is the constraint ``False``);
* ``-1`` (or no pattern for the site): the entry is left open, every per-piece value becomes
  ``If(z ∈ I_0, v_0, If(z ∈ I_1, v_1, ... v_last))``, exact because the pieces partition the line.  For a
  max-pool window, piece j is "j is the first maximum": ``w_j > w_i`` for i < j and ``w_j >= w_i`` for i > j.

``Z3Algebra(pattern)`` with every site fixed is the pattern-fixed form, ``Z3Algebra()`` the If form; a mix
is allowed.  With ``selectors=True`` an open entry's conditions become named Booleans
(:meth:`Z3Algebra.selector`) defined by ``b_p == (z ∈ I_p)`` constraints (``definitions``), so that the
solver splits on them: the If-encoding's and enumeration's open choices.
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
    """A Z3 term for a constant, a :class:`Lin`, a :class:`Sym` or a Z3 term."""
    if isinstance(v, Sym):
        return v.e
    if isinstance(v, Lin):
        parts = [var if c == 1 else to_z3(c) * var for var, c in v.terms.values()]
        if v.const != 0 or not parts:
            parts.append(to_z3(v.const))
        return parts[0] if len(parts) == 1 else z3.Sum(*parts)
    if hasattr(v, "to_z3"):  # an Affine form of probabilities (engine/z3links.py)
        return v.to_z3()
    if isinstance(v, bool):
        raise TypeError("a bool is not a number")
    if isinstance(v, int):
        return z3.RealVal(v)
    if isinstance(v, Fraction):  # (z3.Q simplifies every numeral: slow)
        return z3.RealVal(f"{v.numerator}/{v.denominator}") if v.denominator != 1 else z3.RealVal(v.numerator)
    return v


class Lin:
    """An exact linear form ``Σ coef * var + const`` over free values, kept in Python.

    Most terms of a problem with fixed weights are linear in the free values (the
    linear strategy fixes everything but ``y``), and building them as Z3 terms one
    product at a time dominated the run time; a Lin becomes one ``z3.Sum`` only when
    it reaches the solver.  ``terms`` maps a Z3 variable's id to (variable, coefficient);
    no coefficient is 0 and there is at least one term (else the value is a constant).
    """

    __slots__ = ("terms", "const")

    def __init__(self, terms: dict[int, tuple[Any, Any]], const: Any = 0) -> None:
        self.terms = terms
        self.const = const

    @staticmethod
    def of(var: Any, coef: Any = 1) -> Lin:
        return Lin({var.get_id(): (var, _norm(Fraction(coef)))})

    def scaled(self, k: Any) -> Any:
        if k == 0:
            return 0
        if k == 1:
            return self
        return Lin({i: (v, _norm(c * k)) for i, (v, c) in self.terms.items()}, _norm(self.const * k))

    def __add__(self, other: Any) -> Any:
        if isinstance(other, Const):
            return self if other == 0 else Lin(self.terms, _norm(self.const + other))
        if isinstance(other, Lin):
            return _linear([self, other], 0)
        if isinstance(other, Sym):
            return Sym(to_z3(self) + other.e, other.deep)
        return NotImplemented

    __radd__ = __add__

    def __neg__(self) -> Any:
        return self.scaled(-1)

    def __sub__(self, other: Any) -> Any:
        return self + (-other)

    def __rsub__(self, other: Any) -> Any:
        return (-self) + other

    def __mul__(self, other: Any) -> Any:
        if isinstance(other, Const):
            return self.scaled(other)
        if isinstance(other, (Lin, Sym)):
            return Sym(to_z3(self) * to_z3(other), isinstance(other, Sym) and other.deep)
        return NotImplemented

    def __rmul__(self, other: Any) -> Any:
        return self.scaled(other) if isinstance(other, Const) else NotImplemented


def _linear(forms: Sequence[Lin], const: Any) -> Any:
    """Σ forms + const as one Lin (a constant when every coefficient cancels)."""
    terms: dict[int, tuple[Any, Any]] = {}
    for f in forms:
        const += f.const
        for i, (v, c) in f.terms.items():
            old = terms.get(i)
            terms[i] = (v, c if old is None else old[1] + c)
    terms = {i: (v, _norm(c)) for i, (v, c) in terms.items() if c != 0}
    return Lin(terms, _norm(const)) if terms else _norm(const)


class Sym:
    """A Z3 term that is not linear in the free values; arithmetic with constants folds 0 and 1 away.

    ``deep`` marks a backprop signal that has passed through an open activation (an
    ``If``): see :meth:`Z3Algebra.choose`.
    """

    __slots__ = ("e", "deep")

    def __init__(self, e: z3.ArithRef, deep: bool = False) -> None:
        self.e = e
        self.deep = deep

    def __add__(self, other: Any) -> Any:
        if isinstance(other, Const) and other == 0 or hasattr(other, "is_affine"):
            return self if isinstance(other, Const) else NotImplemented
        return Sym(self.e + to_z3(other), self.deep or (isinstance(other, Sym) and other.deep))

    def __radd__(self, other: Any) -> Any:
        return self if isinstance(other, Const) and other == 0 else Sym(to_z3(other) + self.e, self.deep)

    def __sub__(self, other: Any) -> Any:
        return self + (-other)

    def __rsub__(self, other: Any) -> Any:
        return (-self) + other

    def __neg__(self) -> Any:
        return Sym(-self.e, self.deep)

    def __mul__(self, other: Any) -> Any:
        if isinstance(other, Const) and other in (0, 1) or hasattr(other, "is_affine"):
            return NotImplemented if hasattr(other, "is_affine") else 0 if other == 0 else self
        return Sym(self.e * to_z3(other), self.deep or (isinstance(other, Sym) and other.deep))

    def __rmul__(self, other: Any) -> Any:
        if isinstance(other, Const) and other in (0, 1):
            return 0 if other == 0 else self
        return Sym(to_z3(other) * self.e, self.deep)


def n_ary_sum(terms: Sequence[Any]) -> Any:
    """Σ terms: constants added exactly, linear forms merged, the rest in one z3.Sum."""
    if any(hasattr(t, "is_affine") for t in terms):
        from .z3links import affine_sum
        return affine_sum(terms)
    const: Any = 0
    forms = []
    symbolic = []
    deep = False
    for t in terms:
        if isinstance(t, Const):
            const += t
        elif isinstance(t, Lin):
            forms.append(t)
        else:
            deep = deep or (isinstance(t, Sym) and t.deep)
            symbolic.append(to_z3(t))
    linear = _linear(forms, const)
    if not symbolic:
        return linear
    if isinstance(linear, Lin):
        symbolic.append(to_z3(Lin(linear.terms, 0)))
        linear = linear.const
    if linear != 0:
        symbolic.append(to_z3(linear))
    return Sym(symbolic[0] if len(symbolic) == 1 else z3.Sum(*symbolic), deep)


def in_piece(z: Any, p: Piece) -> Any:
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
    if any(hasattr(v, "is_affine") for v in values):
        from .z3links import affine_chain
        return affine_chain(conds, values, _chain)
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
    """Z3 terms; ``pattern`` maps a site path to piece indices (-1: open), a missing site is open.

    ``constraints=False`` leaves out the interval constraints of fixed entries (a caller
    that has asserted them already, as enumeration does along its path).  ``lazy=True``
    keeps the trace's results as constants, :class:`Lin` and :class:`Sym` (``finish`` is the
    identity), for a caller that converts only what a condition reads (:func:`to_z3`).
    """

    name = "z3"

    def __init__(self, pattern: Mapping[str, np.ndarray] | None = None, selectors: bool = False,
                 constraints: bool = True, lazy: bool = False, tag: str = "") -> None:
        self.pattern = {k: np.asarray(v, dtype=np.int64) for k, v in (pattern or {}).items()}
        self.tag = tag  # keeps the selectors of one trace apart from another's (a training run's steps)
        self.selectors = selectors
        self.constraints = constraints
        self.lazy = lazy
        self.definitions: list[Any] = []  # the selectors' definitions and link's relaxation (in the constraints)
        self.links: Any = None  # the probability variables of a classification loss (engine/z3links.py)

    def selector(self, path: str, index: tuple[int, ...], piece: int) -> z3.BoolRef:
        """With ``selectors=True``: the Boolean 'entry ``index`` of site ``path`` takes ``piece``'
        (one for every piece but the last of an open entry), so Z3 can split on it."""
        return z3.Bool(f"piece{self.tag}_{path}_{'_'.join(map(str, index))}_{piece}")

    def constant(self, value: Fraction) -> Any:
        return _norm(Fraction(value))

    def asarray(self, values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, dtype=object)
        out = np.empty(values.shape, dtype=object)
        for idx in np.ndindex(values.shape):
            v = values[idx]
            out[idx] = v if isinstance(v, (Sym, Lin)) else Sym(v) if isinstance(v, z3.ArithRef) \
                else _norm(Fraction(v))  # type: ignore[call-overload]
        return out

    def zeros(self, shape: tuple[int, ...]) -> np.ndarray:
        return np.full(shape, 0, dtype=object)

    def matmul(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        out = np.empty((a.shape[0], b.shape[1]), dtype=object)
        for i in range(a.shape[0]):
            row = a[i]
            for j in range(b.shape[1]):
                out[i, j] = n_ary_sum([row[k] * b[k, j] for k in range(a.shape[1])])
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

    def _select(self, path: str, indices: np.ndarray, condition: Any, pieces: int) -> Selection:
        """``condition(idx, p)``: the condition of piece p at entry idx (a bool or a Z3 formula)."""
        constraints: list[Any] = []
        conds: dict[tuple[int, ...], list[Any]] = {}  # the open entries' conditions
        for idx in np.ndindex(indices.shape):
            p = int(indices[idx])
            if p >= 0:
                if self.constraints:
                    c = condition(idx, p)
                    if c is not True:
                        constraints.append(z3.BoolVal(False) if c is False else c)
                continue
            cs = [condition(idx, q) for q in range(pieces)]
            if self.selectors and not all(isinstance(c, bool) for c in cs):
                named = []
                for q, c in enumerate(cs[:-1]):
                    b = self.selector(path, idx, q)
                    constraints.append(b == (z3.BoolVal(c) if isinstance(c, bool) else c))
                    self.definitions.append(constraints[-1])
                    named.append(b)
                cs = named + [True]
            conds[idx] = cs

        def each(values: Sequence[Any], t: np.ndarray | None, backward: bool) -> np.ndarray:
            out = np.empty(indices.shape, dtype=object)
            for idx in np.ndindex(indices.shape):
                p = int(indices[idx])
                v = t[idx] if t is not None else 1
                if p >= 0:
                    out[idx] = values[p] * v if t is not None else values[p]
                elif t is None or not backward or (isinstance(v, Sym) and v.deep):
                    # an open entry: If(piece 0, v_0 t, If(piece 1, v_1 t, ...)); in backprop only for a
                    # signal that passed an open activation already (see choose)
                    vs = values if t is None else [c * v for c in values]
                    out[idx] = _chain(conds[idx], vs)
                else:
                    s = _chain(conds[idx], values)
                    r = s * v
                    out[idx] = Sym(r.e, True) if isinstance(r, Sym) else r
            return out

        def norm(values: Sequence[Fraction]) -> list[Any]:
            return [_norm(Fraction(v)) for v in values]

        return Selection(lambda values: each(norm(values), None, False), indices, tuple(constraints),
                         lambda values, t, backward: each(norm(values), t, backward))

    def choose(self, path: str, table: PiecewiseLinear, z: np.ndarray) -> Selection:
        """Each entry's piece; open entries become If chains.

        An activation's output on an open entry is ``If(piece 0, s_0 z, If(...))``.  Its
        backprop is ``signal * If(piece 0, s_0, ...)``, except for a signal that has passed
        an open activation already (a *deep* one, itself a sum of If terms): then it is
        ``If(piece 0, s_0 signal, ...)``.  Z3's assertion-time rewriter multiplies a product
        of sums out into monomials (on 10-32-32-32-1 x 64 the If-encoded query took 8 s and
        820 MiB that way), and an If is one unit to it; for the top hidden layer the product
        is kept (the If form made some small proofs slower to decide).
        """
        indices = self._indices(path, z.shape)
        pieces = table.pieces
        return self._select(path, indices, lambda idx, p: in_piece(z[idx], pieces[p]), len(pieces))

    def argmax(self, path: str, windows: np.ndarray) -> Selection:
        indices = self._indices(path, windows.shape[:-1])
        return self._select(path, indices, lambda idx, j: _conj(_first_max(list(windows[idx]), j)),
                            windows.shape[-1])

    def link(self, kind: str, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[Any]]:
        from .z3links import link  # probabilities as variables, their relaxation among the definitions
        return link(self, kind, z)

    def rescale(self, a: np.ndarray) -> tuple[np.ndarray, Fraction]:
        return a, Fraction(1)  # terms: nothing to gain

    def finish(self, a: np.ndarray) -> np.ndarray:
        if self.lazy:
            return a
        out = np.empty(np.shape(a), dtype=object)
        for idx in np.ndindex(out.shape):
            out[idx] = to_z3(a[idx])
        return out

    def finish_scalar(self, v: Any) -> Any:
        return v if self.lazy else to_z3(v)

"""The classification losses in Z3: probabilities as variables, a sound relaxation, and the exact split.

Z3 has no exp.  The encoding gives every predicted probability its own variable P
(:meth:`Z3Algebra.link <cexsearch.engine.z3algebra.Z3Algebra.link>`), constrained by facts
true of the real sigmoid and softmax (:func:`relaxation`): in (0, 1), monotone in the
logit, ``s(-z) = 1 - s(z)``, ``s(0) = 1/2``, and exp's tangent ``e^t >= 1 + t``.  Backprop
is linear in dL/dyhat = s (P - y), so every gradient is *affine in the P's*, with
coefficients that are polynomials in the free values: :class:`Affine` keeps that form
through the trace instead of multiplying it out.

* **Over the reals** an equation is read as it is, over the relaxation.  The relaxation
  holds at every real witness, so *unsat* proves there is none over the reals.
* **Over the rationals** (:class:`SplitBackend`) an equation ``c_0 + Σ_e c_e P_e = 0``
  whose P's are sigmoids is replaced by what it means exactly at rational logits
  (Fact 1 of :mod:`cexsearch.semantics.transcendental`: 1 and sigmoid(a) for distinct
  a > 0 are linearly independent over Q).  With ``sigmoid(-a) = 1 - sigmoid(a)`` and
  ``sigmoid(0) = 1/2`` the value is::

      c_0 + Σ_(z_e < 0) c_e + Σ_(z_e = 0) c_e / 2  +  Σ_(a > 0) sigmoid(a) (Σ_(z_e = a) c_e - Σ_(z_e = -a) c_e)

  so it is 0 iff the constant part is 0 and, for every e with z_e != 0,
  ``Σ_f [z_f = z_e] c_f - [z_f = -z_e] c_f = 0``: polynomial constraints again, for every
  logit structure at once (which logits are equal or opposite is left to the solver).
  A two-class softmax is a sigmoid of the logits' difference and is split the same way;
  three or more classes have no such independence (Fact 2), so their equations stay on
  the relaxation (:attr:`SplitBackend.exact` turns False): a proof there is one over the reals.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import numpy as np
import z3

from ..semantics import transcendental as T
from ..semantics.intervals import LOG2_UPPER, log_bounds
from .z3algebra import Const, Lin, Sym, _norm, n_ary_sum, to_z3


class Affine:
    """``const + Σ coef_e P_e``: affine in probability variables P, with Z3-world coefficients
    (constants, :class:`Lin`, :class:`Sym`).  ``terms`` maps a P's id to (P, coefficient)."""

    __slots__ = ("terms", "const")
    is_affine = True

    def __init__(self, terms: dict[int, tuple[Any, Any]], const: Any = 0) -> None:
        self.terms = terms
        self.const = const

    @staticmethod
    def of(var: z3.ArithRef, coef: Any = 1, const: Any = 0) -> Affine:
        return Affine({var.get_id(): (var, coef)}, const)

    def scaled(self, k: Any) -> Any:
        if isinstance(k, Const) and k == 0:
            return 0
        return Affine({i: (v, c * k) for i, (v, c) in self.terms.items()}, self.const * k)

    def __add__(self, other: Any) -> Any:
        if isinstance(other, Affine):
            terms = dict(self.terms)
            for i, (v, c) in other.terms.items():
                terms[i] = (v, terms[i][1] + c) if i in terms else (v, c)
            return Affine(terms, self.const + other.const)
        if isinstance(other, (int, Fraction, Lin, Sym)):
            return Affine(self.terms, self.const + other)
        return NotImplemented

    __radd__ = __add__

    def __neg__(self) -> Any:
        return self.scaled(-1)

    def __sub__(self, other: Any) -> Any:
        return self + (-other)

    def __rsub__(self, other: Any) -> Any:
        return (-self) + other

    def __mul__(self, other: Any) -> Any:
        if isinstance(other, Affine):  # not affine: the plain product, read on the relaxation
            return Sym(self.to_z3() * other.to_z3())
        if isinstance(other, (int, Fraction, Lin, Sym)):
            return self.scaled(other)
        return NotImplemented

    __rmul__ = __mul__

    def __truediv__(self, other: Any) -> Any:
        if isinstance(other, (int, Fraction)):
            return self.scaled(Fraction(1) / other)
        return Sym(self.to_z3() / to_z3(other))

    def to_z3(self) -> z3.ArithRef:
        parts = [to_z3(c) * v for v, c in self.terms.values() if not (isinstance(c, Const) and c == 0)]
        if not (isinstance(self.const, Const) and self.const == 0) or not parts:
            parts.append(to_z3(self.const))
        return parts[0] if len(parts) == 1 else z3.Sum(*parts)


def affine_sum(terms: Sequence[Any]) -> Affine:
    """Σ terms when some are :class:`Affine`: coefficients and constants each summed once."""
    coefs: dict[int, tuple[Any, list[Any]]] = {}
    rest = []
    for t in terms:
        if isinstance(t, Affine):
            for i, (v, c) in t.terms.items():
                coefs.setdefault(i, (v, []))[1].append(c)
            rest.append(t.const)
        else:
            rest.append(t)
    return Affine({i: (v, n_ary_sum(cs)) for i, (v, cs) in coefs.items()}, n_ary_sum(rest))


def affine_chain(conds: Sequence[Any], values: Sequence[Any], chain: Any) -> Affine:
    """If(c_0, v_0, If(c_1, v_1, ...)) of Affine values, coefficient by coefficient."""
    ids: dict[int, Any] = {}
    for v in values:
        if isinstance(v, Affine):
            ids.update({i: var for i, (var, _) in v.terms.items()})

    def part(v: Any, i: int | None) -> Any:
        if not isinstance(v, Affine):
            return v if i is None else 0
        if i is None:
            return v.const
        return v.terms[i][1] if i in v.terms else 0

    return Affine({i: (var, chain(conds, [part(v, i) for v in values])) for i, var in ids.items()},
                  chain(conds, [part(v, None) for v in values]))


# ---------------------------------------------------------------------------
# the link: variables and the relaxation


class Links:
    """The probability variables of one trace, with their logits (for the split) and their relaxation."""

    def __init__(self) -> None:
        #: P's id -> the logit whose sigmoid P is (two-class softmax: the logits' difference)
        self.sigmoid: dict[int, Any] = {}
        self.others: set[int] = set()  # P's of three or more classes: no split
        self.partitions: set[int] = set()  # the log-partition variables (the loss reads them)
        #: (variable, logit, "sigmoid" or "softplus") of every two-class value, for :func:`point_cuts`
        self.monotone: list[tuple[Any, Any, str]] = []
        self.relaxation: list[Any] = []  # what the true sigmoid/softmax satisfy (the encoding asserts it)
        #: the split's named Booleans (which logits are equal, opposite, zero, negative) and their definitions
        self.named: dict[tuple[str, int, int], z3.BoolRef] = {}
        self.definitions: list[Any] = []

    def fact(self, kind: str, a: z3.ArithRef, b: z3.ArithRef | None = None) -> z3.BoolRef:
        """A named Boolean for ``a == b``, ``a == -b``, ``a == 0`` or ``a < 0`` (``kind``: eq, opp, zero, neg),
        so the solver splits on the logit structure as it does on activation pieces."""
        key = (kind, a.get_id(), -1 if b is None else b.get_id())
        if kind in ("eq", "opp") and b is not None and b.get_id() < a.get_id():
            key = (kind, b.get_id(), a.get_id())
        hit = self.named.get(key)
        if hit is None:
            hit = self.named[key] = z3.Bool(f"logit_{kind}_{len(self.named)}")
            if kind in ("eq", "opp"):
                assert b is not None
                meaning = a == b if kind == "eq" else a == -b
            else:
                meaning = a == 0 if kind == "zero" else a < 0
            self.definitions.append(hit == meaning)
        return hit


def _exact(p: z3.ArithRef, value: Any) -> list[Any]:
    """A probability of constant logits: its exact value, or certified rational bounds."""
    if isinstance(value, Fraction):
        return [p == to_z3(value)]
    lo, hi = value.bounds(64)
    return [p >= to_z3(lo), p <= to_z3(hi)]


def _sigmoid_facts(p: z3.ArithRef, z: Any) -> list[Any]:
    if isinstance(z, Const):
        return _exact(p, T.sigmoid(z))
    zz = to_z3(z)
    half = z3.RealVal("1/2")
    return [p > 0, p < 1, (zz > 0) == (p > half), (zz == 0) == (p == half),
            p >= (1 - p) * (1 + zz), 1 - p >= p * (1 - zz),  # e^z >= 1 + z, e^-z >= 1 - z
            z3.Implies(zz >= 0, p <= half + zz / 4), z3.Implies(zz <= 0, p >= half + zz / 4)]


def link(alg: Any, kind: str, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[Any]]:
    """P's for sigmoid(z) (per entry) or softmax(z) (per sample), the log-partition as bounded
    variables, and the relaxation constraints."""
    alg.links = links = alg.links or Links()
    tag = f"{alg.tag}_{len(alg.definitions)}_{len(links.relaxation)}"
    cons: list[Any] = []
    pairs: list[tuple[Any, Any]] = []  # (P, logit) of every sigmoid, for the pairwise facts
    if kind == "sigmoid" or (kind == "softmax" and int(np.prod(z.shape[1:])) == 2):
        rows = z.reshape(z.shape[0], -1)
        p = np.empty(rows.shape, dtype=object)
        part = np.empty(rows.shape if kind == "sigmoid" else (rows.shape[0],), dtype=object)
        for i in range(rows.shape[0]):
            for j in range(rows.shape[1] if kind == "sigmoid" else 1):
                logit = rows[i, j] if kind == "sigmoid" else rows[i, 1] - rows[i, 0]
                var = z3.Real(f"p{tag}_{i}_{j}")
                links.sigmoid[var.get_id()] = logit
                links.monotone.append((var, logit, "sigmoid"))
                pairs.append((var, logit))
                cons += _sigmoid_facts(var, logit)
                if kind == "sigmoid":
                    p[i, j] = Affine.of(var)
                    part[i, j] = _bounded_partition(cons, f"s{tag}_{i}_{j}", [0, logit], LOG2_UPPER, links)
                    links.monotone.append((part[i, j].e, logit, "softplus"))
                else:
                    p[i, 1], p[i, 0] = Affine.of(var), Affine.of(var, -1, 1)
                    part[i] = _bounded_partition(cons, f"s{tag}_{i}", [rows[i, 0], rows[i, 1]], LOG2_UPPER, links)
        for a in range(len(pairs)):
            for b in range(a + 1, len(pairs)):
                (pa, za), (pb, zb) = pairs[a], pairs[b]
                za, zb = to_z3(za), to_z3(zb)
                cons += [z3.Implies(za < zb, pa < pb), z3.Implies(za > zb, pa > pb),
                         z3.Implies(za == zb, pa == pb), z3.Implies(za == -zb, pa + pb == 1)]
        links.relaxation.extend(cons)
        return p.reshape(z.shape), part.reshape(z.shape if kind == "sigmoid" else (z.shape[0],)), []
    out = _softmax(alg, links, tag, z, cons)
    links.relaxation.extend(cons)
    return out[0], out[1], []


def _bounded_partition(cons: list[Any], name: str, logits: Sequence[Any], log_n: Fraction, links: Links) -> Sym:
    """log Σ exp(logits) as a variable S: max < S <= max + log n."""
    s = z3.Real(name)
    links.partitions.add(s.get_id())
    zs = [to_z3(v) for v in logits]
    cons += [s > v for v in zs]
    cons.append(z3.Or([s <= v + to_z3(log_n) for v in zs]))
    # AM-GM: Σ exp(z_j) >= n exp(mean z), so S >= log n + mean z (softplus(z) >= log 2 + z/2)
    cons.append(s >= to_z3(log_bounds(Fraction(len(zs)), 32)[0]) + z3.Sum(*zs) / len(zs))
    return Sym(s)


def _softmax(alg: Any, links: Links, tag: str, z: np.ndarray, cons: list[Any]) -> tuple[np.ndarray, np.ndarray,
                                                                                       list[Any]]:
    rows = z.reshape(z.shape[0], -1)
    m, n = rows.shape
    log_n = log_bounds(Fraction(n), 32)[1]
    vars_ = [[z3.Real(f"p{tag}_{i}_{k}") for k in range(n)] for i in range(m)]
    p = np.empty(rows.shape, dtype=object)
    part = np.empty((m,), dtype=object)
    for i in range(m):
        zs = [to_z3(v) for v in rows[i]]
        ps = vars_[i]
        cons += [q > 0 for q in ps] + [z3.Sum(*ps) == 1]
        if all(isinstance(v, Const) for v in rows[i]):
            for q, value in zip(ps, T.softmax(list(rows[i]))):
                cons += _exact(q, value)
        for k in range(n):
            links.others.add(ps[k].get_id())
            p[i, k] = Affine.of(ps[k])
            for j in range(n):
                if j != k:  # p_k / p_j = e^(z_k - z_j) >= 1 + z_k - z_j; monotone; equal logits, equal p
                    cons += [ps[k] >= ps[j] * (1 + zs[k] - zs[j]), z3.Implies(zs[k] < zs[j], ps[k] < ps[j]),
                             z3.Implies(zs[k] == zs[j], ps[k] == ps[j])]
        part[i] = _bounded_partition(cons, f"s{tag}_{i}", list(rows[i]), log_n, links)
        for i2 in range(i):  # samples whose logits differ by a constant have the same p
            z2 = [to_z3(v) for v in rows[i2]]
            same = z3.And([zs[k] - zs[0] == z2[k] - z2[0] for k in range(1, n)])
            cons.append(z3.Implies(same, z3.And([vars_[i][k] == vars_[i2][k] for k in range(n)])))
    return p.reshape(z.shape), part, cons


def point_cuts(links: Links, at: Any) -> list[Any]:
    """What the true functions satisfy around the logits a rejected model had (``at(logit)``: its value there,
    a Fraction, or None): sigmoid and softplus are increasing and softplus(z) - z = softplus(-z) decreasing, so
    with certified bounds of their values at z*, ``z >= z* -> s(z) >= s(z*)`` and so on.  Added to the relaxation,
    they cut that model off without losing any real point."""
    out: list[Any] = []
    for var, logit, kind in links.monotone:
        z_star = at(logit)
        if z_star is None or isinstance(logit, Const):
            continue
        zz, zs = to_z3(logit), to_z3(z_star)
        value = T.sigmoid(z_star) if kind == "sigmoid" else T.softplus(z_star)
        lo, hi = (value, value) if isinstance(value, Fraction) else value.bounds(64)
        out += [z3.Implies(zz >= zs, var >= to_z3(lo)), z3.Implies(zz <= zs, var <= to_z3(hi))]
        if kind == "softplus":
            g_lo, g_hi = T.softplus(-z_star).bounds(64)
            out += [z3.Implies(zz <= zs, var - zz >= to_z3(g_lo)), z3.Implies(zz >= zs, var - zz <= to_z3(g_hi))]
            out.append(var >= _tangent(T.sigmoid(z_star), zz))
    return out


def _tangent(slope: Any, z: z3.ArithRef) -> z3.ArithRef:
    """A line below softplus everywhere: softplus(z) >= c z + H(c) for every c in (0, 1), H the entropy
    -c log c - (1 - c) log(1 - c) (the minimum of softplus(z) - c z, at z = log(c / (1 - c))); c is a
    rational near the slope wanted, H(c) taken from below with certified logs."""
    c = Fraction(float(slope)).limit_denominator(1000)
    c = min(max(c, Fraction(1, 1000)), Fraction(999, 1000))
    h = -c * log_bounds(c, 64)[1] - (1 - c) * log_bounds(1 - c, 64)[1]
    return to_z3(c) * z + to_z3(h)


# ---------------------------------------------------------------------------
# the rational split (Fact 1)


def split_zero(d: Affine, links: Links) -> tuple[Any, bool]:
    """The exact meaning of ``d == 0`` at rational logits, and whether it is exact (every P a sigmoid's)."""
    entries = [(c, links.sigmoid.get(i)) for i, (_, c) in d.terms.items() if not (isinstance(c, Const) and c == 0)]
    # Fact 1 needs rational coefficients: a coefficient or constant that itself reads a probability
    # (a product of three of them, p * loss, ...) is not split, only read on the relaxation
    if any(logit is None or mentions(to_z3(c), links) for c, logit in entries) or mentions(to_z3(d.const), links):
        return d.to_z3() == 0, False
    parts = []
    const_terms = [d.const]
    zero = z3.RealVal(0)
    for c_e, z_e in entries:
        ze = to_z3(z_e)
        total = []
        for c_f, z_f in entries:
            zf, cf = to_z3(z_f), to_z3(c_f)
            same = z3.BoolVal(True) if zf.eq(ze) else links.fact("eq", ze, zf)
            total.append(Sym(z3.If(same, cf, z3.If(links.fact("opp", ze, zf), -cf, zero))))
        parts.append(z3.Or(links.fact("zero", ze), to_z3(n_ary_sum(total)) == 0))
        ce = to_z3(c_e)
        const_terms.append(Sym(z3.If(links.fact("neg", ze), ce, z3.If(links.fact("zero", ze), ce / 2, zero))))
    parts.append(to_z3(n_ary_sum(const_terms)) == 0)
    return z3.And(*parts), True


class SplitBackend:
    """The condition language over Z3 with equations of probabilities split exactly (rational logits).

    Values stay in the trace's Python forms (constants, Lin, Sym, Affine) so that an equation's
    affine form in the P's is still visible; ``exact`` turns False when an equation could not
    be split (three or more classes, or a product of probabilities)."""

    def __init__(self, links: Links) -> None:
        self.links = links
        self.exact = True

    def const(self, value: Fraction) -> Any:
        return _norm(Fraction(value))

    def true(self) -> Any:
        return z3.BoolVal(True)

    def and_(self, items: Sequence[Any]) -> Any:
        items = list(items)
        return z3.BoolVal(True) if not items else items[0] if len(items) == 1 else z3.And(*items)

    def or_(self, items: Sequence[Any]) -> Any:
        items = list(items)
        return z3.BoolVal(False) if not items else items[0] if len(items) == 1 else z3.Or(*items)

    def not_(self, item: Any) -> Any:
        return z3.Not(item)

    def eq(self, a: Any, b: Any) -> Any:
        d = a - b
        if isinstance(d, Affine):
            formula, exact = split_zero(d, self.links)
            self.exact = self.exact and exact
            return formula
        if isinstance(d, Const):
            return z3.BoolVal(d == 0)
        if isinstance(d, Sym) and mentions(d.e, self.links):
            self.exact = False
        return to_z3(d) == 0

    def lt(self, a: Any, b: Any) -> Any:
        return to_z3(a) < to_z3(b)

    def le(self, a: Any, b: Any) -> Any:
        return to_z3(a) <= to_z3(b)


def mentions(e: z3.ExprRef, links: Links) -> bool:
    """Whether a term reads a probability variable (then its equation is on the relaxation only)."""
    ids = set(links.sigmoid) | links.others | links.partitions
    todo, seen = [e], set()
    while todo:
        t = todo.pop()
        if t.get_id() in seen:
            continue
        seen.add(t.get_id())
        if t.get_id() in ids:
            return True
        todo.extend(t.children())
    return False

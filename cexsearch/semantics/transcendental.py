"""Exact values of sigmoid and softmax networks: elements of Q(u), u = exp(1/q).

A rational network's logits are rational.  Put every logit over one denominator q;
then every ``exp(z)`` is a power of ``u = exp(1/q)``, and ``u`` is transcendental
(Lindemann: exp(a) is transcendental for every algebraic a != 0).  So every sigmoid,
softmax, and gradient value of the network is a rational function of u with rational
coefficients, and it is exactly 0 if and only if that rational function is the zero
function.  That is what this module decides, without a float.

A :class:`Value` is ``const + Σ c_a a`` over *atoms*:

* :class:`Prob` ``(v, w)``: ``exp(w) / Σ_j exp(v_j)``, a softmax probability; ``v``
  are the sample's logits shifted so the smallest is 0, sorted, and ``w`` one of them.
  ``sigmoid(z) = softmax(0, z)[z]``.
* :class:`LogPartition` ``(v)``: ``log Σ_j exp(v_j)`` (softplus, log-sum-exp: losses).

Backprop is linear in dL/dyhat = p - y, so gradients stay in this linear form;
a product of two non-rational values is refused (:class:`Undecided`).

**Canonical form.**  A sample's probabilities sum to 1, so each sample's atom of its
*smallest* logit is replaced by ``(1 - Σ others) / multiplicity``; what is left of a
two-class sample (a sigmoid) is ``Prob((0, a), a) = sigmoid(a)``, a > 0
(``sigmoid(-a) = 1 - sigmoid(a)``, ``sigmoid(0) = 1/2``).

**Fact 1 (sigmoid independence).**  For distinct rationals a_1 < ... < a_k, all > 0, the
numbers 1, sigmoid(a_1), ..., sigmoid(a_k) are linearly independent over Q.
*Proof.* Write a_i = m_i / q with integers 0 < m_1 < ... < m_k.  Since u = e^(1/q) is
transcendental, a Q-linear relation among the numbers is one among the rational
functions 1 and sigmoid(a_i) = 1 - f_i(X), f_i(X) = 1/(1 + X^(m_i)), of Q(X); so
it is enough that 1, f_1, ..., f_k are independent.  f_k has a pole at
ζ = exp(iπ/m_k) (ζ^(m_k) = -1).  For i < k, ζ^(m_i) = exp(iπ m_i/m_k) = -1 would need
m_i/m_k to be an odd integer, impossible for 0 < m_i < m_k, so f_i is finite at ζ, and
so is 1.  A relation c_0 + Σ c_i f_i = 0 evaluated near ζ forces c_k = 0; induction on k
gives the rest.  ∎  So a value with only sigmoid atoms in canonical form is 0 exactly
when its constant and every coefficient are 0 (:meth:`Value.is_zero`'s fast path).

**Fact 2 (softmax, any number of classes).**  Atoms of three or more classes are *not*
independent in general (1/(1+u^2) is a combination of the four-class atoms of
(0, 1, 2, 3)/q and 1/(1+u)), so for them :meth:`Value.is_zero` decides the rational
function itself: ``const + Σ_v N_v / D_v = 0`` with ``D_v(X) = Σ_j X^(q v_j)`` iff the
polynomial ``const Π D + Σ_v N_v Π_(v' != v) D_v'`` is 0, which it computes exactly
(:class:`Undecided` beyond a degree of :data:`DEGREE_LIMIT`).

Signs and comparisons of nonzero values come from certified intervals
(:mod:`cexsearch.semantics.intervals`), refined until they exclude 0; a value with a
log atom whose interval never excludes 0 is :class:`Undecided`, never guessed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Any, Union

from .intervals import down, exp_bounds, log_bounds, up

F = Fraction
Rational = Union[int, Fraction]
#: the largest polynomial degree the softmax zero test multiplies out (Fact 2)
DEGREE_LIMIT = 4000
#: the precisions (bits) an undecided sign is retried at
PRECISIONS = (64, 256, 1024, 4096)


class Undecided(ArithmeticError):
    """A comparison the exact arithmetic here cannot settle (said, never guessed)."""


def _text(v: Fraction) -> str:
    return str(v)


@dataclass(frozen=True, order=True)
class Prob:
    """exp(w) / Σ_j exp(v_j); ``logits`` sorted with the smallest 0, ``w`` one of them, not the smallest."""

    logits: tuple[Fraction, ...]
    w: Fraction

    def __str__(self) -> str:
        if len(self.logits) == 2:
            return f"sigmoid({_text(self.logits[1])})"
        return f"softmax[{_text(self.w)}]({', '.join(map(_text, self.logits))})"


@dataclass(frozen=True, order=True)
class LogPartition:
    """log Σ_j exp(v_j), ``logits`` sorted with the smallest 0."""

    logits: tuple[Fraction, ...]

    def __str__(self) -> str:
        if len(self.logits) == 2:
            return f"softplus({_text(self.logits[1])})"
        return f"logsumexp({', '.join(map(_text, self.logits))})"


Atom = Union[Prob, LogPartition]


@lru_cache(maxsize=65536)
def atom_bounds(atom: Atom, bits: int) -> tuple[Fraction, Fraction]:
    """Certified lo <= atom <= hi."""
    if isinstance(atom, Prob):
        lo = hi = F(0)
        for v in atom.logits:
            a, b = exp_bounds(v - atom.w, bits + 4)
            lo, hi = lo + a, hi + b
        return down(1 / hi, bits), up(1 / lo, bits)
    lo = hi = F(0)
    for v in atom.logits:
        a, b = exp_bounds(v, bits + 4)
        lo, hi = lo + a, hi + b
    return log_bounds(lo, bits)[0], log_bounds(hi, bits)[1]


def _make(const: Fraction, terms: dict[Atom, Fraction]) -> Any:
    """A Value, or the plain Fraction when no atom is left."""
    terms = {a: c for a, c in terms.items() if c != 0}
    return Value(const, terms) if terms else const


class Value:
    """``const + Σ coefficient * atom`` with rational coefficients; see the module text."""

    __slots__ = ("const", "terms")
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, const: Rational, terms: dict[Atom, Fraction]) -> None:
        self.const = F(const)
        self.terms = terms

    # arithmetic (with ints, Fractions and Values)
    def __add__(self, other: Any) -> Any:
        if isinstance(other, (int, Fraction)):
            return _make(self.const + other, dict(self.terms))
        if isinstance(other, Value):
            terms = dict(self.terms)
            for a, c in other.terms.items():
                terms[a] = terms.get(a, 0) + c
            return _make(self.const + other.const, terms)
        return NotImplemented

    __radd__ = __add__

    def __neg__(self) -> Any:
        return Value(-self.const, {a: -c for a, c in self.terms.items()})

    def __sub__(self, other: Any) -> Any:
        return self + (-other)

    def __rsub__(self, other: Any) -> Any:
        return (-self) + other

    def __mul__(self, other: Any) -> Any:
        if isinstance(other, (int, Fraction)):
            if other == 0:
                return F(0)
            return Value(self.const * other, {a: c * other for a, c in self.terms.items()})
        if isinstance(other, Value):
            raise Undecided(f"a product of two values that depend on exp ({self} and {other}) is not "
                            "kept exactly here: conditions may scale them by rationals only")
        return NotImplemented

    __rmul__ = __mul__

    def __truediv__(self, other: Any) -> Any:
        if isinstance(other, (int, Fraction)):
            return self * (F(1) / other)
        if isinstance(other, Value):
            raise Undecided(f"a quotient by a value that depends on exp ({other}) is not kept exactly here")
        return NotImplemented

    def __rtruediv__(self, other: Any) -> Any:
        raise Undecided(f"a quotient by a value that depends on exp ({self}) is not kept exactly here")

    # exact decisions
    def is_zero(self) -> bool:
        """Exactly whether the value is 0 (Facts 1 and 2); :class:`Undecided` with a log atom whose
        interval contains 0 at every precision tried."""
        if any(isinstance(a, LogPartition) for a in self.terms):
            return self._sign_by_intervals() == 0
        if all(len(a.logits) == 2 for a in self.terms):  # type: ignore[union-attr]
            return False  # canonical, with at least one nonzero coefficient: Fact 1
        return _rational_function_is_zero(self.const, self.terms)  # type: ignore[arg-type]

    def sign(self) -> int:
        """-1, 0 or 1, exactly."""
        if not any(isinstance(a, LogPartition) for a in self.terms) and self.is_zero():
            return 0
        return self._sign_by_intervals()

    def _sign_by_intervals(self) -> int:
        for bits in PRECISIONS:
            lo, hi = self.bounds(bits)
            if lo > 0:
                return 1
            if hi < 0:
                return -1
        raise Undecided(f"the sign of {self} is not settled at {PRECISIONS[-1]} bits")

    def bounds(self, bits: int = 64) -> tuple[Fraction, Fraction]:
        """Certified lo <= value <= hi."""
        lo = hi = self.const
        for a, c in self.terms.items():
            a_lo, a_hi = atom_bounds(a, bits)
            if c > 0:
                lo, hi = lo + c * a_lo, hi + c * a_hi
            else:
                lo, hi = lo + c * a_hi, hi + c * a_lo
        return lo, hi

    def _cmp(self, other: Any) -> int:
        if not isinstance(other, (int, Fraction, Value)):
            raise TypeError(f"cannot compare {self} with {other!r}")
        d = self - other
        return d.sign() if isinstance(d, Value) else (d > 0) - (d < 0)

    def __eq__(self, other: object) -> bool:  # type: ignore[override]
        if not isinstance(other, (int, Fraction, Value)):
            return NotImplemented
        d = self - other
        return d.is_zero() if isinstance(d, Value) else d == 0

    def __ne__(self, other: object) -> bool:  # type: ignore[override]
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    def __lt__(self, other: Any) -> bool:
        return self._cmp(other) < 0

    def __le__(self, other: Any) -> bool:
        return self._cmp(other) <= 0

    def __gt__(self, other: Any) -> bool:
        return self._cmp(other) > 0

    def __ge__(self, other: Any) -> bool:
        return self._cmp(other) >= 0

    def __float__(self) -> float:
        lo, hi = self.bounds(64)
        return float((lo + hi) / 2)

    def __bool__(self) -> bool:
        return not self.is_zero()

    # text
    def __str__(self) -> str:
        parts = [] if self.const == 0 else [_text(self.const)]
        for a in sorted(self.terms, key=str):
            c = self.terms[a]
            mag = abs(c)
            body = str(a) if mag == 1 else f"{_text(mag)}*{a}"
            parts.append(("- " if c < 0 else "+ " if parts else "") + body)
        text = " ".join(parts)
        return "-" + text[2:] if text.startswith("- ") else text

    def __repr__(self) -> str:
        return f"Value({self})"

    def decimal(self, digits: int = 12) -> str:
        """The value to ``digits`` significant digits, from a certified interval."""
        bits = max(64, int(digits * 3.33) + 16)
        lo, hi = self.bounds(bits)
        return f"{float((lo + hi) / 2):.{digits}g}"


# ---------------------------------------------------------------------------
# the functions the losses use, on rational logits


def _shifted(z: Sequence[Rational]) -> tuple[Fraction, tuple[Fraction, ...]]:
    zs = [F(v) for v in z]
    m = min(zs)
    return m, tuple(sorted(v - m for v in zs))


def _prob(logits: tuple[Fraction, ...], w: Fraction) -> Any:
    """exp(w)/Σ exp(logits) in canonical form (the smallest logit's atom eliminated)."""
    low = logits[0]
    if w != low:
        return Value(0, {Prob(logits, w): F(1)})
    m = logits.count(low)
    others: dict[Atom, Fraction] = {}
    for v in set(logits):
        if v != low:
            others[Prob(logits, v)] = others.get(Prob(logits, v), 0) - F(logits.count(v), m)
    return _make(F(1, m), others)


def softmax(z: Sequence[Rational]) -> list[Any]:
    """The softmax of rational logits, exactly (Fractions where all logits are equal)."""
    _, v = _shifted(z)
    m = min(F(x) for x in z)
    return [_prob(v, F(x) - m) for x in z]


def sigmoid(z: Rational) -> Any:
    """1 / (1 + exp(-z)) exactly: 1/2 at 0, else a Value."""
    return softmax((0, z))[1]


def log_sum_exp(z: Sequence[Rational]) -> Any:
    """log Σ exp(z_j) exactly: min(z) + log Σ exp(z_j - min z)."""
    m, v = _shifted(z)
    if len(v) == 1:
        return m
    return Value(m, {LogPartition(v): F(1)})


def softplus(z: Rational) -> Any:
    """log(1 + exp(z)) exactly."""
    return log_sum_exp((0, z))


# ---------------------------------------------------------------------------
# Fact 2: the softmax zero test on the rational function itself

Poly = dict[int, int]


def _mul(a: Poly, b: Poly) -> Poly:
    out: Poly = {}
    for i, x in a.items():
        for j, y in b.items():
            out[i + j] = out.get(i + j, 0) + x * y
    return {k: v for k, v in out.items() if v}


def _rational_function_is_zero(const: Fraction, terms: dict[Prob, Fraction]) -> bool:
    q = math.lcm(*(x.denominator for a in terms for x in (*a.logits, a.w)))
    scale = math.lcm(const.denominator, *(c.denominator for c in terms.values()))
    groups: dict[tuple[Fraction, ...], Poly] = {}
    for a, c in terms.items():
        num = groups.setdefault(a.logits, {})
        e = int(a.w * q)
        num[e] = num.get(e, 0) + int(c * scale)
    dens: dict[tuple[Fraction, ...], Poly] = {}
    for v in groups:
        d: Poly = {}
        for x in v:
            d[int(x * q)] = d.get(int(x * q), 0) + 1
        dens[v] = d
    degree = sum(max(d) for d in dens.values())
    if degree > DEGREE_LIMIT:
        raise Undecided(f"the softmax zero test would multiply out a polynomial of degree {degree} "
                        f"(more than {DEGREE_LIMIT}): the logits' common denominator is {q}")
    total: Poly = {0: int(const * scale)} if const else {}
    for d in dens.values():
        total = _mul(total, d)
    for key, num in groups.items():
        part = num
        for other, d in dens.items():
            if other != key:
                part = _mul(part, d)
        for k, coef in part.items():
            total[k] = total.get(k, 0) + coef
    return not any(total.values())

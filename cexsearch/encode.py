"""The network's semantics as Z3 terms.  With :mod:`cexsearch.search`, the only place Z3 is used.

An *activation pattern* says, for every sample and hidden unit, which branch
of the activation it takes (see :meth:`cexsearch.spec.Network.is_active`).
With the pattern fixed, the forward pass and backprop are polynomials in the
weights and data: an active unit passes ``z``, an inactive one ``slope * z``
(0 for ReLU), and backprop multiplies by the branch's slope.  A pattern bit may
also be left open (``None``); it then becomes a Z3 Boolean with an ``If`` term,
which is how the If-encoding lets Z3 split on the ReLUs itself.  Both readings
come from the same code below, and both are tested against
:mod:`cexsearch.numeric`.

Terms are kept as exact Python ``Fraction`` constants wherever the fixed
values make them constant, so that a unit whose sign the fixed values decide
is recognised without calling the solver, and Z3 sees smaller terms.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Union

import numpy as np
import z3

from . import lang as C
from .model.network import Index, entries
from .model.problem import Assignment, Problem

Const = (int, Fraction)


class Lin:
    """An exact linear form ``sum(coef * var) + const`` over free values, kept in Python.

    Most terms of a problem with fixed weights are linear in the free values
    (the linear strategy fixes everything but ``y``), and building them as Z3
    terms one product at a time dominated the run time; a Lin becomes a single
    Z3 sum only when it reaches the solver.  ``terms`` maps a Z3 variable's id
    to (variable, coefficient).
    """

    __slots__ = ("terms", "const")

    def __init__(self, terms: dict[int, tuple[Any, Any]], const: Any = 0) -> None:
        self.terms = terms
        self.const = const

    def scaled(self, k: Any) -> Lin:
        return Lin({i: (v, c * k) for i, (v, c) in self.terms.items()}, self.const * k)


Term = Union[int, Fraction, Lin, z3.ArithRef]
Bit = Union[bool, None]
# pattern[m][u]: sample m, hidden unit u (units counted layer by layer, input side first)
Pattern = Sequence[Sequence[Bit]]


def _norm(v: Any) -> Any:
    return v.numerator if isinstance(v, Fraction) and v.denominator == 1 else v


def is_const(t: Any) -> bool:
    return isinstance(t, Const)


def to_z3(t: Any) -> z3.ArithRef:
    if isinstance(t, Fraction):  # (z3.Q calls simplify on every numeral: slow)
        return z3.RealVal(f"{t.numerator}/{t.denominator}") if t.denominator != 1 else z3.RealVal(t.numerator)
    if isinstance(t, int):
        return z3.RealVal(t)
    if isinstance(t, Lin):
        parts = [v if c == 1 else to_z3(Fraction(c)) * v for v, c in t.terms.values() if c != 0]
        if t.const != 0 or not parts:
            parts.append(to_z3(Fraction(t.const)))
        return parts[0] if len(parts) == 1 else z3.Sum(*parts)
    return t


def _mul(a: Term, b: Term) -> Term:
    if is_const(a) and is_const(b):
        return _norm(a * b)  # type: ignore[operator]
    if is_const(a):
        a, b = b, a
    if is_const(b):
        if b == 0:
            return 0
        if b == 1:
            return a
        if isinstance(a, Lin):
            return a.scaled(b)
        return a * to_z3(b)  # type: ignore[operator]
    return to_z3(a) * to_z3(b)


def _sum(terms: Sequence[Term]) -> Term:
    const: Any = 0
    linear: dict[int, tuple[Any, Any]] = {}
    symbolic = []
    for t in terms:
        if is_const(t):
            const += t
        elif isinstance(t, Lin):
            const += t.const
            for i, (v, c) in t.terms.items():
                old = linear.get(i)
                linear[i] = (v, c if old is None else old[1] + c)
        else:
            symbolic.append(t)
    const = _norm(const)
    linear = {i: vc for i, vc in linear.items() if vc[1] != 0}
    if not symbolic:
        return Lin(linear, const) if linear else const
    if linear:
        symbolic.append(to_z3(Lin(linear, 0)))
    if const != 0:
        symbolic.append(to_z3(const))
    return symbolic[0] if len(symbolic) == 1 else z3.Sum(*symbolic)


def _simplified(t: Term) -> Term:
    """A term that is a constant becomes a Python number again (so its sign is known without Z3)."""
    if is_const(t):
        return _norm(t)
    if isinstance(t, Lin):
        return t if t.terms else _norm(t.const)
    s = z3.simplify(t)
    if z3.is_rational_value(s):
        return _norm(Fraction(s.numerator_as_long(), s.denominator_as_long()))
    return s


class Z3Backend:
    """The condition language read as Z3 formulas (see :func:`cexsearch.conditions.evaluate`)."""

    def const(self, value: Fraction) -> z3.ArithRef:
        return to_z3(value)

    def true(self) -> z3.BoolRef:
        return z3.BoolVal(True)

    def and_(self, items: Sequence[Any]) -> z3.BoolRef:
        items = list(items)
        return z3.BoolVal(True) if not items else items[0] if len(items) == 1 else z3.And(*items)

    def or_(self, items: Sequence[Any]) -> z3.BoolRef:
        items = list(items)
        return z3.BoolVal(False) if not items else items[0] if len(items) == 1 else z3.Or(*items)

    def not_(self, item: Any) -> z3.BoolRef:
        return z3.Not(item)

    def eq(self, a: Any, b: Any) -> z3.BoolRef:
        return to_z3(a) == to_z3(b)

    def lt(self, a: Any, b: Any) -> z3.BoolRef:
        return to_z3(a) < to_z3(b)

    def le(self, a: Any, b: Any) -> z3.BoolRef:
        return to_z3(a) <= to_z3(b)


@dataclass(frozen=True)
class Unit:
    """A hidden unit: layer k (1-based, as in W_k) and index j within it."""

    layer: int
    index: int


class Encoding:
    """Z3 variables for a problem's free values, and its constraints under a pattern."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        net = problem.network
        self.network = net
        self.samples = problem.samples
        fixed = problem.fixed.as_dict()
        self.values: dict[str, np.ndarray] = {}
        self.free: dict[tuple[str, Index], z3.ArithRef] = {}
        self.domain: list[z3.BoolRef] = []
        dom = problem.domain
        grid = dom.grid
        for name in net.variable_names():
            shape = net.shape(name, problem.samples)
            arr = np.empty(shape, dtype=object)
            for idx in entries(shape):
                if (name, idx) in fixed:
                    arr[idx] = _norm(fixed[(name, idx)])
                    continue
                label = name + "".join(f"_{i}" for i in idx)
                if grid is None:
                    v = z3.Real(label)
                    arr[idx] = Lin({v.get_id(): (v, 1)})
                    self.free[(name, idx)] = v
                else:  # a multiple of 1/grid: an integer k, the value k/grid
                    k = z3.ToReal(z3.Int(label))
                    arr[idx] = Lin({k.get_id(): (k, Fraction(1, grid))})
                    self.free[(name, idx)] = k if grid == 1 else k / grid
                v = self.free[(name, idx)]
                for limit in (dom.bound, dom.max_abs):
                    if limit is not None:
                        self.domain += [v >= to_z3(-limit), v <= to_z3(limit)]
            self.values[name] = arr
        if dom.max_nonzero is not None:
            self.domain.append(z3.Sum([z3.If(v != 0, 1, 0) for v in self.free.values()] or [z3.IntVal(0)])
                               <= dom.max_nonzero)
        if dom.max_abs_sum is not None:
            self.domain.append(z3.Sum([z3.If(v >= 0, v, -v) for v in self.free.values()] or [z3.RealVal(0)])
                               <= to_z3(dom.max_abs_sum))
        self.units: list[Unit] = [Unit(k, j) for k in range(1, net.depth) for j in range(net.widths[k])]
        self._layer_start = {}
        pos = 0
        for k in range(1, net.depth):
            self._layer_start[k] = pos
            pos += net.widths[k]
        self.slope_on, self.slope_off = (_norm(s) for s in net.slopes())
        self._pre_cache: dict[tuple[int, int, tuple], list[Term]] = {}

    # -- names -------------------------------------------------------------
    def unit_position(self, layer: int, index: int) -> int:
        return self._layer_start[layer] + index

    def bit_var(self, m: int, u: int) -> z3.BoolRef:
        unit = self.units[u]
        return z3.Bool(f"active_{m}_{unit.layer}_{unit.index}")

    # -- forward pass of one sample ------------------------------------------
    def pre_activations(self, m: int, layer: int, bits: Sequence[Bit]) -> list[Term]:
        """z of every unit of ``layer`` (1..L) for sample m, given the bits of layers below it."""
        net = self.network
        key = (m, layer, tuple(bits[: self._layer_start.get(layer, len(self.units))]))
        hit = self._pre_cache.get(key)
        if hit is not None:
            return hit
        if layer == 1:
            inputs: list[Term] = list(self.values["x"][m])
        else:
            below = self.pre_activations(m, layer - 1, bits)
            start = self._layer_start[layer - 1]
            inputs = [self.activation(m, start + j, z, bits[start + j]) for j, z in enumerate(below)]
        W = self.values[f"W{layer}"]
        out = []
        for j in range(net.widths[layer]):
            terms = [_mul(W[j, i], a) for i, a in enumerate(inputs)]
            if net.bias:
                terms.append(self.values[f"b{layer}"][j])
            out.append(_simplified(_sum(terms)))
        self._pre_cache[key] = out
        return out

    def activation(self, m: int, u: int, z: Term, bit: Bit) -> Term:
        if self.network.activation == "linear":
            return z
        if bit is None:
            zz = to_z3(z)
            return z3.If(self.bit_var(m, u), zz, to_z3(self.slope_off) * zz)
        return z if bit else _mul(self.slope_off, z)

    def slope(self, m: int, u: int, bit: Bit) -> Term:
        if self.network.activation == "linear":
            return 1
        if bit is None:
            return z3.If(self.bit_var(m, u), to_z3(self.slope_on), to_z3(self.slope_off))
        return self.slope_on if bit else self.slope_off

    def backprop(self, m: int, u: int, signal: Term, bit: Bit, deep: bool) -> Term:
        """The signal into unit u: ``signal * slope``; for an open bit below the second hidden
        layer (``deep``), ``If(bit, on*signal, off*signal)``.

        Below the second hidden layer the signal is itself a sum of If-terms, and Z3's
        assertion-time rewriter multiplies a product of sums out into monomials: on
        10-32-32-32-1 x 64 adding the If-encoded query took 8 s and 820 MiB.  An If is one
        unit to the rewriter, so the branch form stays small; for one hidden layer the
        product is kept (the If form made some small proofs slower to decide).
        """
        if deep and bit is None and not (is_const(signal) and signal == 0):
            return z3.If(self.bit_var(m, u), to_z3(_mul(self.slope_on, signal)), to_z3(_mul(self.slope_off, signal)))
        return _mul(signal, self.slope(m, u, bit))

    def sign(self, z: Term, active: Bit, m: int = 0, u: int = 0) -> z3.BoolRef | bool:
        """The constraint that puts pre-activation z on the branch ``active``.

        Returns a Python bool when z is a constant (the fixed values decide it).
        """
        if self.network.activation == "linear":
            return True
        at_zero_active = self.network.is_active(Fraction(0))  # the side of 0, decided in Network once
        if is_const(z):
            if active is None:
                # The value decides the branch; the open bit must follow it, since the
                # activation and slope terms are If(bit, ...).
                return self.bit_var(m, u) == z3.BoolVal(self.network.is_active(Fraction(z)))  # type: ignore[arg-type]
            return self.network.is_active(Fraction(z)) == active  # type: ignore[arg-type]
        zz = to_z3(z)
        if active is None:
            cond = zz >= 0 if at_zero_active else zz > 0
            return self.bit_var(m, u) == cond
        if active:
            return zz >= 0 if at_zero_active else zz > 0
        return zz < 0 if at_zero_active else zz <= 0

    def unit_sign(self, m: int, u: int, bits: Sequence[Bit], active: bool) -> z3.BoolRef | bool:
        unit = self.units[u]
        z = self.pre_activations(m, unit.layer, bits)[unit.index]
        return self.sign(z, active, m, u)

    # -- the whole batch -------------------------------------------------------
    def environment(self, pattern: Pattern) -> Mapping[str, np.ndarray]:
        """Values, yhat and grad(P) as Z3 terms under a pattern (bits may be None)."""
        net = self.network
        L = net.depth
        M = self.samples
        acts: list[list[list[Term]]] = [[list(self.values["x"][m]) for m in range(M)]]
        yhat = []
        for m in range(M):
            bits = pattern[m] if self.units else ()
            for k in range(1, L):
                z = self.pre_activations(m, k, bits)
                start = self._layer_start[k]
                if len(acts) <= k:
                    acts.append([])
                acts[k].append([self.activation(m, start + j, zj, bits[start + j]) for j, zj in enumerate(z)])
            yhat.append(self.pre_activations(m, L, bits))
        c = net.loss_gradient_scale(M)
        y = self.values["y"]
        # delta_L = c * residual; backprop is linear in it, so c is applied to each gradient at the end.
        delta = [[_sum([yhat[m][o], _mul(-1, y[m, o])]) for o in range(net.widths[L])]
                 for m in range(M)]
        grads: dict[str, np.ndarray] = {}
        for k in range(L, 0, -1):
            W = self.values[f"W{k}"]
            gW = np.empty(W.shape, dtype=object)
            for j in range(W.shape[0]):
                for i in range(W.shape[1]):
                    gW[j, i] = _mul(c, _sum([_mul(delta[m][j], acts[k - 1][m][i]) for m in range(M)]))
            grads[f"W{k}"] = gW
            if net.bias:
                gb = np.empty((W.shape[0],), dtype=object)
                for j in range(W.shape[0]):
                    gb[j] = _mul(c, _sum([delta[m][j] for m in range(M)]))
                grads[f"b{k}"] = gb
            if k > 1:
                start = self._layer_start[k - 1]
                deep = k >= 3 and net.activation != "linear"
                delta = [[self.backprop(m, start + i, _sum([_mul(delta[m][j], W[j, i]) for j in range(W.shape[0])]),
                                        pattern[m][start + i], deep)
                          for i in range(W.shape[1])] for m in range(M)]
        raw: dict[str, np.ndarray] = dict(self.values)
        raw["yhat"] = np.array(yhat, dtype=object).reshape(M, net.widths[L])
        for p, g in grads.items():
            raw[f"grad({p})"] = g
        return _LazyZ3(raw)

    def conditions(self, pattern: Pattern) -> z3.BoolRef:
        env = self.environment(pattern)
        backend = Z3Backend()
        return backend.and_([C.holds(c, env, backend) for c in self.problem.conditions])

    def pattern_constraints(self, pattern: Pattern) -> list[z3.BoolRef]:
        """Sign constraints of every unit under a (possibly partly open) pattern."""
        out: list[z3.BoolRef] = []
        for m in range(self.samples):
            for u in range(len(self.units)):
                s = self.unit_sign(m, u, pattern[m], pattern[m][u])  # type: ignore[arg-type]
                if s is False:
                    return [z3.BoolVal(False)]
                if s is not True:
                    out.append(s)
        return out

    def assignment(self, values: dict[tuple[str, Index], Fraction]) -> Assignment:
        """An exact assignment from model values of the free entries plus the fixed ones."""
        full = dict(self.problem.fixed.as_dict())
        full.update(values)
        return Assignment.from_entries(self.network, self.samples, full)


class _LazyZ3(Mapping):
    """Name -> array of Z3 terms, converted only when a condition reads the name."""

    def __init__(self, raw: dict[str, np.ndarray]) -> None:
        self.raw = raw
        self.done: dict[str, np.ndarray] = {}

    def __getitem__(self, key: str) -> np.ndarray:
        if key not in self.done:
            self.done[key] = _as_z3(self.raw[key])
        return self.done[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.raw)

    def __len__(self) -> int:
        return len(self.raw)


def _as_z3(arr: np.ndarray) -> np.ndarray:
    out = np.empty(arr.shape, dtype=object)
    for idx in np.ndindex(arr.shape):
        out[idx] = to_z3(arr[idx])
    return out

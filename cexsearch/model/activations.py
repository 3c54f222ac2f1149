"""Piecewise-linear activations: each a table of linear pieces over intervals.

A :class:`PiecewiseLinear` is a partition of the real line into pieces; on each
piece ``f(z) = slope * z + intercept`` and ``f'(z) = slope``.  A breakpoint may be
a piece of its own (a point interval ``[b, b]``), which is how a derivative that
differs from both neighbours is written down (``abs'(0) = 0``).  Which piece holds
a breakpoint *is* the derivative used there: backprop multiplies by that piece's
slope, so the convention at every kink is explicit in the table.

The defaults follow PyTorch 2.13's autograd at every breakpoint (checked in
``tests/model/test_model.py``):

====================  =====================================  ========================
activation            pieces                                 derivative at breakpoints
====================  =====================================  ========================
ReLU                  (-inf, 0] -> 0,  (0, inf) -> z         relu'(0) = 0
LeakyReLU(s)          (-inf, 0] -> s z, (0, inf) -> z        leaky'(0) = s
Identity              (-inf, inf) -> z
Hardtanh(a, b)        (-inf, a] -> a, (a, b) -> z, [b, inf) -> b   0 at a and at b
ReLU6                 (-inf, 0] -> 0, (0, 6) -> z, [6, inf) -> 6   0 at 0 and at 6
Abs                   (-inf, 0) -> -z, [0, 0] -> 0, (0, inf) -> z  abs'(0) = 0
====================  =====================================  ========================

``grad_at_zero`` (cexsearch's ``relu_grad_at_zero``) keeps its meaning for ReLU and
LeakyReLU: 1 moves 0 into the positive piece (derivative 1 there), 0 is PyTorch's.
The piece index is what a pattern records; for ReLU and LeakyReLU, 1 means active
exactly as :meth:`cexsearch.model.network.Network.is_active` says.

A new activation is one factory function and one ``register`` line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from ..errors import SpecError


@dataclass(frozen=True)
class Piece:
    """``slope * z + intercept`` on an interval; ``lo``/``hi`` None for an infinite end."""

    lo: Fraction | None
    lo_closed: bool
    hi: Fraction | None
    hi_closed: bool
    slope: Fraction
    intercept: Fraction = Fraction(0)

    def contains(self, v: Any) -> bool:
        """Whether v (an int, Fraction or float; compared exactly) lies in the interval."""
        if self.lo is not None and not (v >= self.lo if self.lo_closed else v > self.lo):
            return False
        if self.hi is not None and not (v <= self.hi if self.hi_closed else v < self.hi):
            return False
        return True

    def describe(self) -> str:
        lo = "-inf" if self.lo is None else str(self.lo)
        hi = "inf" if self.hi is None else str(self.hi)
        left = "[" if self.lo_closed and self.lo is not None else "("
        right = "]" if self.hi_closed and self.hi is not None else ")"
        return f"{left}{lo}, {hi}{right}: {self.slope} z + {self.intercept}"


@dataclass(frozen=True)
class PiecewiseLinear:
    """A piecewise-linear function, pieces in increasing order covering the line."""

    name: str
    pieces: tuple[Piece, ...]
    #: activations are continuous; a loss's derivative table (sign, a hinge's step) need not be
    continuous: bool = True

    def __post_init__(self) -> None:
        ps = self.pieces
        if not ps or ps[0].lo is not None or ps[-1].hi is not None:
            raise ValueError(f"{self.name}: the pieces must cover the whole line")
        for a, b in zip(ps, ps[1:]):
            if a.hi is None or a.hi != b.lo or a.hi_closed == b.lo_closed:
                raise ValueError(f"{self.name}: pieces {a.describe()} and {b.describe()} do not meet exactly once")
            # continuity at the breakpoint: both pieces give the same value there
            if self.continuous and a.slope * a.hi + a.intercept != b.slope * a.hi + b.intercept:
                raise ValueError(f"{self.name}: not continuous at {a.hi}")

    def index(self, v: Any) -> int:
        """The piece holding v.  A NaN (in the float pass) takes the piece of 0."""
        for i, p in enumerate(self.pieces):
            if p.contains(v):
                return i
        return self.index(0)

    def value(self, v: Any) -> Any:
        p = self.pieces[self.index(v)]
        return p.slope * v + p.intercept

    def derivative(self, v: Any) -> Fraction:
        return self.pieces[self.index(v)].slope

    @property
    def breakpoints(self) -> tuple[Fraction, ...]:
        out: list[Fraction] = []
        for p in self.pieces[1:]:
            if p.lo is not None and (not out or out[-1] != p.lo):
                out.append(p.lo)
        return tuple(out)

    @property
    def is_linear(self) -> bool:
        """One piece only: no pattern to choose."""
        return len(self.pieces) == 1


F = Fraction
_ZERO, _ONE = F(0), F(1)


def _two_piece(name: str, neg_slope: Fraction, grad_at_zero: int) -> PiecewiseLinear:
    if grad_at_zero not in (0, 1):
        raise SpecError(f"relu_grad_at_zero must be 0 or 1, got {grad_at_zero!r}")
    zero_right = grad_at_zero == 1
    return PiecewiseLinear(name, (Piece(None, False, _ZERO, not zero_right, neg_slope),
                                  Piece(_ZERO, zero_right, None, False, _ONE)))


def relu(grad_at_zero: int = 0) -> PiecewiseLinear:
    return _two_piece("relu", _ZERO, grad_at_zero)


def leaky_relu(negative_slope: Fraction = F(1, 100), grad_at_zero: int = 0) -> PiecewiseLinear:
    return _two_piece("leaky_relu", F(negative_slope), grad_at_zero)


def identity() -> PiecewiseLinear:
    return PiecewiseLinear("identity", (Piece(None, False, None, False, _ONE),))


def hardtanh(min_val: Fraction = F(-1), max_val: Fraction = F(1)) -> PiecewiseLinear:
    lo, hi = F(min_val), F(max_val)
    if not lo < hi:
        raise SpecError(f"Hardtanh needs min_val < max_val, got {lo} and {hi}")
    return PiecewiseLinear("hardtanh", (Piece(None, False, lo, True, _ZERO, lo),
                                        Piece(lo, False, hi, False, _ONE),
                                        Piece(hi, True, None, False, _ZERO, hi)))


def relu6() -> PiecewiseLinear:
    return PiecewiseLinear("relu6", (Piece(None, False, _ZERO, True, _ZERO),
                                     Piece(_ZERO, False, F(6), False, _ONE),
                                     Piece(F(6), True, None, False, _ZERO, F(6))))


def absolute() -> PiecewiseLinear:
    return PiecewiseLinear("abs", (Piece(None, False, _ZERO, False, -_ONE),
                                   Piece(_ZERO, True, _ZERO, True, _ZERO),
                                   Piece(_ZERO, False, None, False, _ONE)))


#: name -> factory; the factory's keyword arguments are the activation's settings.
ACTIVATIONS: dict[str, Callable[..., PiecewiseLinear]] = {}


def register(name: str, factory: Callable[..., PiecewiseLinear]) -> None:
    ACTIVATIONS[name] = factory


register("relu", relu)
register("leaky_relu", leaky_relu)
register("identity", identity)
register("hardtanh", hardtanh)
register("relu6", relu6)
register("abs", absolute)


def activation(name: str, **settings: Any) -> PiecewiseLinear:
    """The registered activation ``name`` with its settings."""
    try:
        factory = ACTIVATIONS[name]
    except KeyError:
        raise SpecError(f"unknown activation {name!r}", hint=f"use one of {', '.join(ACTIVATIONS)}") from None
    return factory(**settings)

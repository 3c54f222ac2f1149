"""The condition language's syntax: the frozen AST a condition is parsed into, and exact numbers.

Numbers are read from their source text (``0.1`` is 1/10), and refused before they are read
when they are too long to print or compute with.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Union

from ..errors import SpecError, TooLarge

# --------------------------------------------------------------------------
# AST


@dataclass(frozen=True)
class Num:
    value: Fraction
    col: int


@dataclass(frozen=True)
class BoolConst:
    value: bool
    col: int


@dataclass(frozen=True)
class Var:
    """A network value: a parameter, ``x``, ``y``, ``yhat``, ``loss`` or ``lr``.

    ``step`` is the training step it is read at (``W1@2``; None: step 0, written without ``@``);
    with ``end`` the step counts back from the last one (``W1@K`` is step 0 from the end,
    ``W1@(K-1)`` step 1), until :func:`cexsearch.lang.steps.resolve` knows K.
    """

    name: str
    col: int
    step: int | None = None
    end: bool = False

    @property
    def key(self) -> str:
        """The name a backend's environment holds it under: ``W1`` or ``W1@2``."""
        return self.name if self.step is None else f"{self.name}@{self.step}"


@dataclass(frozen=True)
class Grad:
    """``grad(P)``: the gradient of the batch loss with respect to parameter P (``grad@t(P)``: at step t)."""

    param: str
    col: int
    step: int | None = None
    end: bool = False

    @property
    def key(self) -> str:
        return f"grad({self.param})" if self.step is None else f"grad@{self.step}({self.param})"


@dataclass(frozen=True)
class Subscript:
    """``base[i, j:k]``: each item an int or a (start, stop, step) slice."""

    base: Expr
    items: tuple[Union[int, tuple[int | None, int | None, int | None]], ...]
    col: int


@dataclass(frozen=True)
class Neg:
    operand: Expr
    col: int


@dataclass(frozen=True)
class Arith:
    op: str  # + - * /
    left: Expr
    right: Expr
    col: int


@dataclass(frozen=True)
class Compare:
    op: str  # == != < <= > >=
    left: Expr
    right: Expr
    col: int


@dataclass(frozen=True)
class Logic:
    op: str  # and | or
    operands: tuple[Expr, ...]
    col: int


@dataclass(frozen=True)
class Not:
    operand: Expr
    col: int


@dataclass(frozen=True)
class Reduce:
    op: str  # all | any
    operand: Expr
    col: int


Expr = Union[Num, BoolConst, Var, Grad, Subscript, Neg, Arith, Compare, Logic, Not, Reduce]


@dataclass(frozen=True)
class Condition:
    """A parsed condition with the text it was written as."""

    text: str
    root: Expr

    def __str__(self) -> str:
        return self.text




# Fraction("1e999999999") computes 10**999999999, and Python refuses to print an integer of more
# than 4300 digits: numbers beyond these sizes are refused before they are read.
MAX_DIGITS = 1000
MAX_EXPONENT = 1000
NUMBER_HINT = "write an integer, a decimal such as 0.1, or a fraction such as -2/3"
SIZE_HINT = (f"{NUMBER_HINT}, with at most {MAX_DIGITS} digits and an exponent within ±{MAX_EXPONENT}: "
             "rescale the problem to smaller numbers")
MAX_DEPTH = 200  # levels of nesting in a condition or a value list; each later stage recurses once a level


def brief(value: Any, limit: int = 60) -> str:
    """``repr(value)``, cut short when long."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def number_size_problem(text: str) -> str | None:
    """Why a number as written is too large to read, or None when it is fine."""
    digits = sum(c.isalnum() for c in text)
    if digits > MAX_DIGITS:
        return f"{brief(text)} has {digits} digits, more than the {MAX_DIGITS} cexsearch reads"
    hexadecimal = text.lstrip("+-").lower().startswith("0x")  # its e is a digit
    for m in [] if hexadecimal else re.finditer(r"[eE]\s*([+-]?[0-9_]+)", text):
        if abs(int(m.group(1).replace("_", "") or 0)) > MAX_EXPONENT:
            return f"{brief(text)} has the exponent {m.group(1)}, beyond ±{MAX_EXPONENT}"
    return None


def parse_number(text: str) -> Fraction:
    """An exact rational from ``"3"``, ``"-2/3"``, ``"0.1"``, ``"1e-3"``; never through a float."""
    t = str(text).strip()
    problem = number_size_problem(t)
    if problem:
        raise TooLarge(problem, hint=SIZE_HINT)
    try:
        if "/" in t:
            num, den = t.split("/", 1)
            value = Fraction(num.strip()) / Fraction(den.strip())
        else:
            value = Fraction(t)
    except (ValueError, ZeroDivisionError):
        raise SpecError(f"{brief(text)} is not a number", hint=NUMBER_HINT) from None
    return value


def too_large(value: Fraction) -> bool:
    """A value too long to print: Python prints integers of at most 4300 digits (about 14000 bits)."""
    return max(abs(value.numerator).bit_length(), value.denominator.bit_length()) > 13000

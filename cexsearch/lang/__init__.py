"""The condition language: parsed once into a small frozen AST, evaluated by any backend.

A condition is a Python-like expression over the names of a network
(``W1, b1, ..., x, y, yhat``) and the gradients of the batch loss
(``grad(W1)``), ``loss``, and during training (:mod:`.steps`) the values at a step
(``W1@2``, ``grad@1(W1)``, ``yhat@K``, ``loss@1``) and ``lr``.  Python's own :mod:`ast` module is the front end; only a safe
subset is accepted, and numbers are read exactly from their source text, so
``0.1`` means 1/10.

Tensor meaning:

* ``A == B`` holds when every entry is equal (a single entry broadcasts);
  ``A != B`` is its negation, so it holds when *some* entry differs;
  ``<, <=, >, >=`` hold when they hold for every entry.
* inside ``all(...)`` / ``any(...)`` comparisons (and ``and``/``or``/``not``)
  are taken entry by entry, and ``all``/``any`` reduce them.
* ``/`` divides by a non-zero number only, so a condition never divides by 0.

The parts: :mod:`.syntax` (the AST, exact numbers), :mod:`.parse` (text to AST),
:mod:`.shapes` (the static check against a network), :mod:`.evaluate` (the meaning) and
:mod:`.fix` (``--fix`` values).  The meaning is defined once, in :func:`evaluate`, over a :class:`Backend`; the
exact re-check passes Fractions and Python booleans, the encoding passes Z3
terms.  So the two can never read a condition differently.

>>> c = parse("grad(W1)[0, :] != 0")
>>> c.text
'grad(W1)[0, :] != 0'
>>> parse("0.1 + 1/3 == x").root.left
Num(value=Fraction(13, 30), col=0)
"""

from __future__ import annotations

from .evaluate import Backend, ExactBackend, evaluate, holds, names_used
from .fix import combine_fixed, fixed_values, parse_fix, regular, value_tree
from .parse import parse
from .shapes import check
from .steps import at_step, resolve
from .syntax import (
    MAX_DEPTH,
    MAX_DIGITS,
    SIZE_HINT,
    Arith,
    BoolConst,
    Compare,
    Condition,
    Expr,
    Grad,
    Logic,
    Neg,
    Not,
    Num,
    Reduce,
    Subscript,
    Var,
    brief,
    parse_number,
)

__all__ = [
    "Num", "BoolConst", "Var", "Grad", "Subscript", "Neg", "Arith", "Compare", "Logic", "Not", "Reduce", "Expr",
    "Condition", "MAX_DIGITS", "SIZE_HINT", "MAX_DEPTH", "brief", "parse_number", "parse", "check",
    "at_step", "resolve", "Backend", "ExactBackend", "evaluate", "holds", "names_used",
    "value_tree", "regular", "fixed_values", "parse_fix", "combine_fixed",
]

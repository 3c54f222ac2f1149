"""How an exact value is written for a person or a document: a Fraction, or a
:class:`~cexsearch.semantics.transcendental.Value` of a classification loss (bce, ce).

A rational is written ``n`` or ``n/d``; a value with exp in it in its exact symbolic form
(``-1/2 + 1/2*sigmoid(1)``), its decimal from a certified interval beside it.  Nothing
here converts a Value with ``Fraction(v)`` (it has none).

>>> from fractions import Fraction as F
>>> from cexsearch.semantics.transcendental import sigmoid
>>> v = sigmoid(F(1)) - 1
>>> exact_text(F(-2, 3)), exact_text(v), decimal_text(v, 6), is_rational(v)
('-2/3', '-1 + sigmoid(1)', '-0.268941', False)
"""

from __future__ import annotations

import math
from fractions import Fraction
from numbers import Rational
from typing import Any

from .transcendental import Value


def is_rational(v: Any) -> bool:
    """An exact rational (int, Fraction, a numpy integer), not a Value with exp in it."""
    return isinstance(v, Rational)


def exact_text(v: Any) -> str:
    """``n``, ``n/d``, or a Value's exact symbolic form."""
    if isinstance(v, Value):
        return str(v)
    f = Fraction(v)
    return str(f.numerator) if f.denominator == 1 else f"{f.numerator}/{f.denominator}"


def decimal_text(v: Any, digits: int = 12) -> str:
    """The value to ``digits`` significant digits (a Value's from its certified interval)."""
    if isinstance(v, Value):
        return v.decimal(digits)
    f = float_or_none(v)
    return f"{f:.{digits}g}" if f is not None else ("-inf" if Fraction(v) < 0 else "inf")


def float_or_none(v: Any) -> float | None:
    """The float64 nearest an exact value (a Value's interval midpoint), or None beyond float64's range."""
    try:
        f = float(v) if isinstance(v, (float, Value)) else float(Fraction(v))
    except OverflowError:
        return None
    return f if math.isfinite(f) else None


def certified_deviation(v: Any, approx: float) -> float:
    """An upper bound of ``|v - approx|``: exact for a rational, from a Value's certified interval."""
    if isinstance(v, Value):
        lo, hi = v.bounds(96)
        a = Fraction(approx)
        return float(max(abs(lo - a), abs(hi - a)))
    return abs(float(Fraction(v) - Fraction(approx)))


# the certificate of a witness found over the reals (semantics.certify), read by its attributes


def box_rows(certificate: Any) -> list[tuple[str, tuple[int, ...], Any, Any]]:
    """(name, index, lo, hi) of every entry of a certificate's box (tuples or objects with those attributes)."""
    rows = []
    for entry in getattr(certificate, "box", ()) or ():
        if isinstance(entry, (tuple, list)):
            name, index, lo, hi = entry
        else:
            name, index, lo, hi = entry.name, entry.index, entry.lo, entry.hi
        rows.append((str(name), tuple(int(i) for i in index), lo, hi))
    return rows


def centre_rows(certificate: Any) -> list[tuple[str, tuple[int, ...], Any]]:
    """(name, index, value) of a certificate's centre: an Assignment, a mapping or (name, index, value) entries."""
    centre = getattr(certificate, "centre", None)
    if centre is None:
        centre = getattr(certificate, "center", None)
    if centre is None:
        return []
    if hasattr(centre, "items") and callable(centre.items):
        items = list(centre.items())
        if items and isinstance(items[0], tuple) and len(items[0]) == 2 and isinstance(items[0][0], tuple):
            return [(str(k[0]), tuple(k[1]), v) for k, v in items]  # {(name, index): value}
        return [(str(n), tuple(i), v) for n, i, v in items]  # an Assignment's items()
    return [(str(n), tuple(i), v) for n, i, v in centre]

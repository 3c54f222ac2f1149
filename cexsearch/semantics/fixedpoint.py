"""Certified exp and log bounds in integer fixed point: the interval trace's (fast) versions of
:func:`cexsearch.semantics.intervals.exp_bounds` and :func:`~cexsearch.semantics.intervals.log_bounds`.

The Fraction series there keep every term exact, and the box endpoints of an interval
trace have 100-bit denominators, so those sums grow large; here each term is an integer
count of units 2^-W, rounded down, with the rounding error bounded in the text of each
function and added to both ends.  Tested against the Fraction versions.
"""

from __future__ import annotations

import math
from fractions import Fraction
from functools import lru_cache

from .intervals import binary_split

F = Fraction


def fixed_exp_bounds(x: Fraction, bits: int) -> tuple[Fraction, Fraction]:
    """lo <= exp(x) <= hi, as :func:`cexsearch.semantics.intervals.exp_bounds` but in integer fixed point
    (the Taylor sum of exact Fractions is what made box traces slow).

    r = x / 2^s with |r| <= 1/2 lies in [R_lo, R_hi] 2^-W (integers, W fractional bits).  At each end the
    Taylor terms t_k = floor(t_(k-1) R / (k 2^W)) are each off by less than 2 units (the error shrinks
    by |R| / (k 2^W) <= 1/2 per term and one floor adds < 1), so the sum of N terms is within 2N units;
    the tail after a term below one unit is below 2 units.  Squaring [a, b] (positive) s times
    rounds a down and b up.
    """
    x = F(x)
    if x == 0:
        return F(1), F(1)
    s = 0
    while abs(x) > F(1, 2) * (1 << s):
        s += 1
    work = bits + s + 16
    one = 1 << work
    scaled = x * one / (1 << s)
    ends = []
    for r in (math.floor(scaled), math.ceil(scaled)):
        total, term, k = one, one, 0
        while term != 0:
            k += 1
            term = (term * r) // (k * one)
            total += term
        slack = 2 * k + 4
        ends.append((total - slack, total + slack))
    lo, hi = max(ends[0][0], 1), ends[1][1]
    for _ in range(s):
        lo, hi = (lo * lo) >> work, -((-(hi * hi)) >> work)
    return F(lo, one), F(hi, one)


def _atanh_units(t: int, work: int) -> tuple[int, int]:
    """lo, hi (units of 2^-work) of atanh(t 2^-work) for 0 <= t 2^-work <= 1/3: the series
    Σ t^(2k+1)/(2k+1), each power floor(p t^2 / 2^(2 work)) off by < 2 units (the error shrinks by
    t^2 <= 1/9 per power, one floor adds < 1), each quotient by 2k+1 by one more; the tail after a
    power below one unit is below 2 units."""
    one = 1 << work
    total, power, k = 0, t, 0
    square = t * t
    while power != 0:
        total += power // (2 * k + 1)
        power = (power * square) // (one * one)
        k += 1
    slack = 3 * k + 4
    return total - slack, total + slack


@lru_cache(maxsize=64)
def _log2_units(work: int) -> tuple[int, int]:
    lo, hi = _atanh_units((1 << work) // 3, work)[0], _atanh_units(-((-(1 << work)) // 3), work)[1]
    return 2 * lo, 2 * hi


def fixed_log_bounds(x: Fraction, bits: int) -> tuple[Fraction, Fraction]:
    """lo <= log(x) <= hi for a Fraction x > 0, in integer fixed point (as
    :func:`cexsearch.semantics.intervals.log_bounds`): x = 2^e m, m in [1, 2),
    log m = 2 atanh((m - 1)/(m + 1)), log 2 = 2 atanh(1/3); atanh is increasing."""
    m, e = binary_split(x)
    work = bits + abs(e).bit_length() + 16
    one = 1 << work
    t = (m - 1) / (m + 1) * one
    a_lo, a_hi = _atanh_units(math.floor(t), work)[0], _atanh_units(math.ceil(t), work)[1]
    l_lo, l_hi = _log2_units(work)
    lo = 2 * a_lo + e * (l_lo if e >= 0 else l_hi)
    hi = 2 * a_hi + e * (l_hi if e >= 0 else l_lo)
    return F(lo, one), F(hi, one)

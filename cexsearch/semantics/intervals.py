"""Certified interval bounds of exp and log at rational points, in exact Fractions.

Every bound here is a pair of Fractions ``lo <= f(x) <= hi`` proven by a Taylor (or
atanh) series with an explicit remainder bound; the ends are rounded *outward* to
dyadic numbers of ``bits`` fractional bits, so their size stays bounded.  Nothing is a
float: a sign read from these intervals is a proof.

>>> lo, hi = exp_bounds(Fraction(1), 64)
>>> float(lo) <= 2.718281828459045 <= float(hi) and hi - lo < Fraction(1, 2**60)
True
"""

from __future__ import annotations

import math
from fractions import Fraction

F = Fraction


def down(v: Fraction, bits: int) -> Fraction:
    """The largest multiple of 2^-bits that is <= v."""
    return F(math.floor(v * (1 << bits)), 1 << bits)


def up(v: Fraction, bits: int) -> Fraction:
    """The smallest multiple of 2^-bits that is >= v."""
    return F(math.ceil(v * (1 << bits)), 1 << bits)


def _halvings(x: Fraction) -> int:
    """s with |x| / 2^s <= 1/2."""
    if x == 0:
        return 0
    n, d = abs(x.numerator), x.denominator
    s = max(0, n.bit_length() - d.bit_length() + 2)
    while abs(x) / (1 << s) > F(1, 2):
        s += 1
    return s


def exp_bounds(x: Fraction, bits: int) -> tuple[Fraction, Fraction]:
    """lo <= exp(x) <= hi, with hi - lo about exp(x) 2^-bits.

    exp(x) = exp(r)^(2^s) with r = x / 2^s, |r| <= 1/2.  The Taylor sum to N terms of
    exp(r) is off by at most |r|^(N+1)/(N+1)! * e^|r| < 2 |r|^(N+1)/(N+1)! (e^(1/2) < 2),
    and each squaring of a positive interval [a, b] is [a^2, b^2], rounded outward.
    """
    x = F(x)
    s = _halvings(x)
    r = x / (1 << s)
    work = bits + s + 8
    eps = F(1, 1 << work)
    total, term, k = F(1), F(1), 0
    while True:
        k += 1
        term = term * r / k
        total += term
        rest = 2 * abs(term * r) / (k + 1)  # >= 2 |r|^(k+1)/(k+1)!
        if rest < eps:
            break
    lo, hi = down(total - rest, work), up(total + rest, work)
    for _ in range(s):
        lo, hi = down(lo * lo, work), up(hi * hi, work)
    if x.numerator > 0 and lo < 1:
        lo = F(1)  # exp(x) > 1 for x > 0 (keeps the bound tight for tiny x)
    return lo, hi


def _atanh_series(t: Fraction, work: int) -> tuple[Fraction, Fraction]:
    """lo <= atanh(t) <= hi for 0 <= t <= 1/3: t + t^3/3 + ...; the tail after the
    term t^(2k+1)/(2k+1) is below t^(2k+3)/(1 - t^2) <= 9/8 t^(2k+3)."""
    total, power, k = F(0), t, 0
    eps = F(1, 1 << work)
    while True:
        total += power / (2 * k + 1)
        power = power * t * t
        k += 1
        rest = F(9, 8) * power
        if rest < eps:
            break
    return down(total, work), up(total + rest, work)


def binary_split(x: Fraction) -> tuple[Fraction, int]:
    """(m, e) with x = 2^e m and m in [1, 2), for a Fraction x > 0."""
    x = F(x)
    if x <= 0:
        raise ValueError(f"log of {x}")
    e = x.numerator.bit_length() - x.denominator.bit_length()
    m = x / F(2) ** e
    while m >= 2:
        m, e = m / 2, e + 1
    while m < 1:
        m, e = m * 2, e - 1
    return m, e


def log_bounds(x: Fraction, bits: int) -> tuple[Fraction, Fraction]:
    """lo <= log(x) <= hi for a Fraction x > 0.

    x = 2^e m with m in [1, 2); log m = 2 atanh((m - 1)/(m + 1)), (m-1)/(m+1) <= 1/3,
    and log 2 = 2 atanh(1/3).
    """
    m, e = binary_split(x)
    work = bits + abs(e).bit_length() + 8
    a_lo, a_hi = _atanh_series((m - 1) / (m + 1), work)
    l2_lo, l2_hi = _atanh_series(F(1, 3), work)
    if e >= 0:
        return down(2 * a_lo + 2 * e * l2_lo, work), up(2 * a_hi + 2 * e * l2_hi, work)
    return down(2 * a_lo + 2 * e * l2_hi, work), up(2 * a_hi + 2 * e * l2_lo, work)


LOG2_UPPER = F(7, 10)  # log 2 = 0.6931... < 7/10, for the relaxations of softplus and log-sum-exp

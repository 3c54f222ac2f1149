"""What a search answers: its counts (:class:`SearchStats`), its verdict and witness (:class:`Outcome`),
and the replay of a solver's model through the exact re-check (:func:`confirm`) that every
strategy's witness passes before it is reported."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Literal

import numpy as np

from ..errors import SolverDisagreement
from ..model.network import Index, Network
from ..model.problem import Assignment, Problem
from ..semantics import numeric
from .encoding import sites_of
from .solver import AlgebraicValue
from .symmetry import Symmetry

Verdict = Literal["found", "none", "unknown"]
PatternBits = tuple[tuple[bool, ...], ...]
AUDIT_LIMIT = 10_000  # audit records kept per search; the counts stay exact beyond it


@dataclass(frozen=True)
class SearchStats:
    strategy: str
    total_patterns: int
    tried: int = 0
    pruned: int = 0
    undecided: int = 0
    solver_checks: int = 0
    elapsed: float = 0.0
    by_symmetry: int = 0
    blocked: int = 0  # patterns skipped because they contain a learned core (engine/learn.py)
    by_decomposition: int = 0  # patterns covered by a smaller problem's proof (engine/decompose.py)

    @property
    def remaining(self) -> int:
        return max(self.total_patterns - self.tried - self.pruned - self.undecided - self.by_symmetry - self.blocked
                   - self.by_decomposition, 0)

    def plus(self, other: SearchStats) -> SearchStats:
        return replace(self, tried=self.tried + other.tried, pruned=self.pruned + other.pruned,
                       undecided=self.undecided + other.undecided, solver_checks=self.solver_checks + other.solver_checks,
                       by_symmetry=self.by_symmetry + other.by_symmetry, blocked=self.blocked + other.blocked,
                       by_decomposition=self.by_decomposition + other.by_decomposition)


@dataclass(frozen=True)
class Outcome:
    """What a search found out, crossing into reporting and export."""

    verdict: Verdict
    problem: Problem
    stats: SearchStats
    witness: Assignment | None = None
    recheck: numeric.Recheck | None = None
    pattern: PatternBits | None = None
    reason: str | None = None
    interrupted: bool = False
    algebraic: tuple[AlgebraicValue, ...] = field(default_factory=tuple)
    symmetry: Symmetry | None = None
    # How each part of the pattern space was decided, for a 'none' verdict a reviewer can re-run
    audit: tuple[tuple[str, str, int], ...] = field(default_factory=tuple)  # (pattern prefix, how, patterns)
    shrink: tuple[str, ...] = field(default_factory=tuple)  # what shrinking proved or left open
    cross_checks: tuple[str, ...] = field(default_factory=tuple)
    scope: str | None = None  # what the verdict covers beyond its problem (find --samples all: every batch size)
    #: for a loss with exp (bce, ce), the numbers the verdict is about: found "rational" (an exact rational
    #: witness) or "real" (a certified box, ``certificate``); none "rational" (no rational witness) or "real"
    domain: str = ""
    certificate: object | None = None  # a semantics.certify.Certificate: the box of a witness found over the reals


Progress = Callable[[SearchStats], None]


def pattern_count_text(n: int) -> str:
    """A pattern count a person can read: exact when short, a power of two as 2^k, else about 2^x (never rounded down)."""
    if n < 10**9:
        return str(n)
    if n & (n - 1) == 0:
        return f"2^{n.bit_length() - 1}"
    if n < 10**12:
        return str(n)
    return f"about 2^{math.log2(n):.2f}"  # never rounded down to a power of two: 2^30 - 3 is not 2^29


def raw_pattern_count(problem: Problem) -> int:
    net = problem.network
    if not isinstance(net, Network):  # a layer model: the patterns of its enumerated activations
        return 2 ** (problem.samples * sum(site.width for site in sites_of(net)))
    return 2 ** (problem.samples * net.hidden_units) if net.has_patterns else 1


def confirm(problem: Problem, values: dict[tuple[str, Index], Fraction], stats: SearchStats,
            bits: PatternBits | None = None, symmetry: Symmetry | None = None) -> Outcome:
    """Replay a model through the exact re-check; a disagreement is a loud error, never a witness."""
    full = dict(problem.fixed.as_dict())
    full.update(values)
    witness = Assignment.from_entries(problem.network, problem.samples, full)
    check = numeric.recheck(problem, witness)
    actual = _units_pattern(problem, check.evaluation)
    if not check.confirmed or (bits is not None and actual is not None and actual != bits):
        raise SolverDisagreement(
            "the solver's model fails the exact re-check: "
            + (f"conditions {check.failures()} do not hold" if not check.confirmed else
               f"activation pattern {actual} differs from the solver's {bits}")
            + f"; values: {dict((f'{n}{list(i)}', str(v)) for n, i, v in witness.items())}")
    return Outcome("found", problem, stats, witness=witness, recheck=check, pattern=actual, symmetry=symmetry)


def _units_pattern(problem: Problem, ev: numeric.Evaluation) -> PatternBits | None:
    """The exact pattern of the enumerated units (per sample, True where active), as enumeration lays them out."""
    net = problem.network
    if isinstance(net, Network):
        if not net.has_patterns:
            return None
        return tuple(tuple(bool(v) for layer in ev.pattern for v in layer[m]) for m in range(problem.samples))
    sites = sites_of(net)
    if not sites or ev.trace is None:
        return None
    chosen = [np.asarray(ev.trace.pattern_of(str(site.index))) for site in sites]
    return tuple(tuple(bool(int(v) == site.pieces[True]) for site, c in zip(sites, chosen) for v in c[m].reshape(-1))
                 for m in range(problem.samples))

"""Search for a witness: enumerate activation patterns, let Z3 decide each one.

Patterns are enumerated as a tree, sample by sample and unit by unit.  A
unit's pre-activation depends only on its own sample and the units below it,
so each node adds one sign constraint; a constant pre-activation (decided by
fixed values) leaves one branch only, and a sample whose sign constraints are
already infeasible cuts its whole subtree.  At a leaf the gradient conditions
are added and Z3 decides the pattern.

The engine never prints: it reports through a ``progress`` callback.  A
verdict of ``none`` is given only when every leaf was decided unsatisfiable or
pruned; any ``unknown`` leaf makes the verdict ``unknown``.  A witness is
returned only after :func:`cexsearch.numeric.recheck` has confirmed it.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Literal

from . import numeric
from .encode import Encoding
from .errors import SolverDisagreement
from .solver import AlgebraicModel, AlgebraicValue, PatternSolver, Sat, Unknown, Unsat
from .spec import Assignment, Problem, SearchOptions

Verdict = Literal["found", "none", "unknown"]
PatternBits = tuple[tuple[bool, ...], ...]


@dataclass(frozen=True)
class SearchStats:
    strategy: str
    total_patterns: int
    tried: int = 0
    pruned: int = 0
    undecided: int = 0
    solver_checks: int = 0
    elapsed: float = 0.0

    @property
    def remaining(self) -> int:
        return max(self.total_patterns - self.tried - self.pruned - self.undecided, 0)


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


Progress = Callable[[SearchStats], None]


class _Stop(Exception):
    pass


class _Found(Exception):
    def __init__(self, values: dict, bits: PatternBits) -> None:
        self.values = values
        self.bits = bits


class Enumeration:
    """Explicit pattern enumeration with pruning, on one incremental solver."""

    name = "enumerate"

    def __init__(self, problem: Problem, options: SearchOptions, progress: Progress | None = None) -> None:
        self.problem = problem
        self.options = options
        self.progress = progress
        self.encoding = Encoding(problem)
        self.solver = PatternSolver(self.encoding, seed=options.seed, rlimit=options.rlimit)
        net = problem.network
        self.H = len(self.encoding.units) if net.has_patterns else 0
        self.M = problem.samples
        self.total = 2 ** (self.M * self.H)
        self.tried = 0
        self.pruned = 0
        self.undecided = 0
        self.reasons: list[str] = []
        self.algebraic: list[AlgebraicValue] = []
        self.deadline: float | None = None
        self.started = 0.0
        self._last_report = 0.0

    def stats(self) -> SearchStats:
        return SearchStats(self.name, self.total, self.tried, self.pruned, self.undecided, self.solver.checks,
                           time.monotonic() - self.started)

    def _report(self, force: bool = False) -> None:
        if self.progress is None:
            return
        now = time.monotonic()
        if force or now - self._last_report > 0.1:
            self._last_report = now
            self.progress(self.stats())

    def run(self) -> Outcome:
        self.started = time.monotonic()
        if self.options.timeout is not None:
            self.deadline = self.started + self.options.timeout
        bits: list[list[bool | None]] = [[True] * len(self.encoding.units) for _ in range(self.M)]
        if self.H:
            for row in bits:
                for u in range(self.H):
                    row[u] = None
        sys.setrecursionlimit(max(sys.getrecursionlimit(), 4 * self.M * self.H + 1000))
        try:
            self._node(0, bits, dirty=False)
        except _Found as f:
            return self._confirm(f.values, f.bits)
        except _Stop:
            pass
        except KeyboardInterrupt:
            return Outcome("unknown", self.problem, self.stats(), reason="interrupted", interrupted=True)
        self._report(force=True)
        stats = self.stats()
        if stats.remaining or self.undecided:
            why = "; ".join(sorted(set(self.reasons))) or "timeout"
            reason = f"{stats.undecided + stats.remaining} of {stats.total_patterns} patterns undecided ({why})"
            if self.algebraic:
                reason += "; only irrational witnesses were found: " + "; ".join(a.describe() for a in self.algebraic)
            return Outcome("unknown", self.problem, stats, reason=reason, algebraic=tuple(self.algebraic))
        return Outcome("none", self.problem, stats)

    def _timed_out(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def _node(self, pos: int, bits: list[list[bool | None]], dirty: bool) -> None:
        if self._timed_out():
            self.reasons.append("timeout")
            raise _Stop
        if pos == self.M * self.H:
            self._leaf(bits)
            return
        m, u = divmod(pos, self.H)
        below = 2 ** (self.M * self.H - pos - 1)
        for choice in (True, False):
            constraint = self.encoding.unit_sign(m, u, bits[m], choice)
            if constraint is False:
                self.pruned += below
                continue
            bits[m][u] = choice
            self.solver.push()
            try:
                added = dirty
                if constraint is not True:
                    self.solver.add(constraint)
                    added = True
                sample_done = u == self.H - 1 and pos + 1 < self.M * self.H
                if sample_done and added:
                    answer = self.solver.check(self.deadline)
                    if isinstance(answer, Unsat):
                        self.pruned += below
                        continue
                    added = False
                self._node(pos + 1, bits, added)
            finally:
                self.solver.pop()
                bits[m][u] = None
            self._report()

    def _leaf(self, bits: list[list[bool | None]]) -> None:
        frozen = tuple(tuple(bool(b) for b in row[: self.H]) for row in bits)
        self.solver.push()
        try:
            self.solver.add(self.encoding.conditions(bits))
            answer = self.solver.check(self.deadline)
            if isinstance(answer, Sat):
                try:
                    values = self.solver.rational_model(self.deadline)
                except AlgebraicModel as e:
                    self.algebraic.extend(e.values)
                    self.undecided += 1
                    self.reasons.append("irrational model")
                    return
                raise _Found(values, frozen)
            if isinstance(answer, Unsat):
                self.tried += 1
            else:
                assert isinstance(answer, Unknown)
                self.undecided += 1
                self.reasons.append(answer.reason)
                if answer.reason == "timeout":
                    raise _Stop
        finally:
            self.solver.pop()

    def _confirm(self, values: dict, bits: PatternBits) -> Outcome:
        self.tried += 1
        witness = self.encoding.assignment(values)
        check = numeric.recheck(self.problem, witness)
        actual = tuple(
            tuple(bool(v) for layer in check.evaluation.pattern for v in layer[m]) for m in range(self.M)
        ) if self.H else bits
        if not check.confirmed or actual != bits:
            raise SolverDisagreement(
                "the solver's model fails the exact re-check: "
                + (f"conditions {check.failures()} do not hold" if not check.confirmed else
                   f"activation pattern {actual} differs from the solver's {bits}")
                + f"; values: {dict((f'{n}{list(i)}', str(v)) for n, i, v in witness.items())}"
            )
        self._report(force=True)
        return Outcome("found", self.problem, self.stats(), witness=witness, recheck=check, pattern=bits)


def search(problem: Problem, options: SearchOptions = SearchOptions(), progress: Progress | None = None) -> Outcome:
    """Decide whether a witness exists for ``problem``: the engine's entry point."""
    return Enumeration(problem, options, progress).run()

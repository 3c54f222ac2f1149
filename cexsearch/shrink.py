"""Shrinking: from a confirmed witness to one a person can check by hand.

Preferences, in order: integer values; the smallest largest absolute value;
the fewest non-zero values; the smallest sum of absolute values; where no
integer witness was found, the smallest denominators.  Each step tightens one
limit of the problem's :class:`cexsearch.spec.Domain` (free values only) and
searches again with the same engine, so every shrunk witness is confirmed by
the exact re-check like any other, and a step answered *none* is a proof
("no integer witness with every free value in [-1, 1]").  The loop is
anytime: whatever the time limit interrupts, the last confirmed witness is kept.

A step whose grid of free values is small (at most :data:`cexsearch.grid.MAX_POINTS`
points, e.g. seed 001's 3^10 in [-1, 1]) is decided by exact exhaustive enumeration
(:mod:`cexsearch.grid`) instead of the solver: *none* is then a proof by exhaustion, and
a point it finds is the one with the fewest non-zero values, then the smallest sum of
absolute values, in the whole grid, so the greedy steps after it cannot improve it and
are skipped.  The choice depends on the grid's size only, never on time, so a shrink
gives the same witness on every run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from fractions import Fraction

from . import grid
from .errors import SolverDisagreement
from .search import Outcome, SearchStats, confirm, raw_pattern_count, search
from .spec import Assignment, Domain, FixedValues, Problem, SearchOptions

MAX_INTEGER_BOUND = 16
# Each solver check while shrinking gets this Z3 resource budget (machine-independent, so a
# shrink gives the same witness on every run); the time limit is a safety net on top.
CHECK_RLIMIT = 3_000_000
GREEDY_RLIMIT = 300_000  # a greedy step is optional: a small budget, so a hard one is skipped quickly
DENOMINATORS = (2, 3, 4, 6, 10, 12, 100)


@dataclass(frozen=True)
class ShrinkResult:
    """The simplest witness found, and what was proven or left open on the way."""

    outcome: Outcome
    proven: tuple[str, ...]
    notes: tuple[str, ...]
    elapsed: float
    steps: int

    @property
    def statement(self) -> str:
        return "; ".join(self.proven + self.notes)


def _free_values(problem: Problem, witness: Assignment) -> list[Fraction]:
    fixed = problem.fixed.as_dict()
    return [v for n, i, v in witness.items() if (n, i) not in fixed]


def _interval(b: Fraction) -> str:
    return f"[-{b}, {b}]"


def shrink(problem: Problem, outcome: Outcome, options: SearchOptions = SearchOptions(),
           time_limit: float = 10.0) -> ShrinkResult:
    """Search for a simpler witness of ``problem`` than ``outcome``'s, within ``time_limit`` seconds."""
    assert outcome.verdict == "found" and outcome.witness is not None
    started = time.monotonic()
    deadline = started + time_limit
    if options.rlimit is None:
        options = replace(options, rlimit=CHECK_RLIMIT)
    best = outcome
    proven: list[str] = []
    notes: list[str] = []
    steps = 0
    user = problem.domain

    optimal = False  # best is the simplest witness in its whole grid (decided by exhaustion)

    def exhaustive(trial: Problem) -> Outcome | None:
        """Every point of a small grid decided exactly; None when the grid search declines."""
        nonlocal optimal
        try:  # declines grids above grid.MAX_POINTS, and anything it cannot decide exactly
            answer = grid.search_grid(trial, deadline=deadline)
        except grid.Declined:
            return None
        total = raw_pattern_count(trial)
        stats = SearchStats("exhaustive grid", total, tried=total, elapsed=answer.elapsed)
        if answer.best is None:
            return Outcome("none", trial, stats,
                           audit=(("*", f"all {answer.points} grid points decided exactly, none a witness", total),))
        out = confirm(trial, answer.best, stats)  # the exact re-check, with the tighter limits too
        if trial.fixed != problem.fixed:  # a greedy step's pins: confirmed against the person's problem, as there
            return confirm(problem, answer.best, stats)
        optimal = True  # the simplest witness of the whole grid: greedy steps cannot improve it
        return replace(out, problem=problem)

    def attempt(domain: Domain) -> Outcome | None:
        """A search under tighter limits; None when the time is up."""
        nonlocal steps
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        steps += 1
        by_grid = exhaustive(replace(problem, domain=domain))
        if by_grid is not None:
            return by_grid
        left = deadline - time.monotonic()
        if left <= 0:  # the grid search declined at the time limit
            return None
        out = search(replace(problem, domain=domain), replace(options, strategy="enumerate", timeout=left))
        if out.verdict == "found":
            # confirmed against the tighter problem; the person's problem is looser, so it holds there too
            return replace(out, problem=problem)
        if out.interrupted:
            raise KeyboardInterrupt
        return out

    def attempt_pinned(pins: dict, domain: Domain) -> Outcome | None:
        """A search with some free values pinned, confirmed against the person's problem."""
        nonlocal steps
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        steps += 1
        extra = FixedValues(tuple(sorted((n, i, v) for (n, i), v in pins.items())))
        trial = replace(problem, domain=domain, fixed=problem.fixed.merged(extra))
        by_grid = exhaustive(trial)
        if by_grid is not None:
            return by_grid
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        # An undecided step (its resource budget ran out) is skipped.
        greedy = replace(options, strategy="enumerate", timeout=left, rlimit=min(options.rlimit or GREEDY_RLIMIT,
                                                                                  GREEDY_RLIMIT))
        out = search(trial, greedy)
        if out.interrupted:
            raise KeyboardInterrupt
        if out.verdict != "found" or out.witness is None:
            return out
        values = {(n, i): v for n, i, v in out.witness.items()}
        return confirm(problem, values, out.stats)

    def out_of_time() -> None:
        notes.append("best found within the time limit")

    def size(w: Assignment) -> tuple[int, Fraction]:
        vals = _free_values(problem, w)
        return (sum(v != 0 for v in vals), sum((abs(v) for v in vals), Fraction(0)))

    values = _free_values(problem, best.witness)  # type: ignore[arg-type]
    if not values:
        return ShrinkResult(best, (), ("every value is fixed",), 0.0, 0)

    # 1. integers with the smallest largest absolute value
    integer = all(v.denominator == 1 for v in values)
    upper = max(abs(v) for v in values) if integer else None
    grid_domain: Domain | None = replace(user, integers=False, denominator=1) if integer else None
    b = Fraction(1)
    undecided = False
    limit = upper if upper is not None else Fraction(MAX_INTEGER_BOUND)
    while b < limit or (upper is None and b <= limit):
        if user.bound is not None and b > user.bound:
            break
        out = attempt(replace(user, denominator=1, max_abs=b))
        if out is None:
            out_of_time()
            break
        if out.verdict == "found":
            best, upper = out, b
            grid_domain = replace(user, denominator=1)
            break
        if out.verdict == "none":
            if not undecided:  # a bound is minimal only if every smaller one was decided
                proven.append(f"no integer witness with every free value in {_interval(b)}")
            b += 1
            continue
        # Undecided within the resource budget: a larger bound may still be easy.
        undecided = True
        notes.append(f"integer witnesses within {_interval(b)} undecided ({out.reason})")
        b += 1
    if grid_domain is None:
        # 5. no integer witness: the smallest denominators
        for d in DENOMINATORS:
            out = attempt(replace(user, denominator=d))
            if out is None:
                out_of_time()
                break
            if out.verdict == "found":
                best = out
                grid_domain = replace(user, denominator=d)
                break
            if out.verdict == "none":
                proven.append(f"no witness with every free value a multiple of 1/{d}")
    if grid_domain is None:
        return ShrinkResult(best, tuple(proven), tuple(notes), time.monotonic() - started, steps)
    # 3 and 4. fewer non-zero values, then a smaller sum of absolute values, greedily: fix one more
    # free value to 0 (or one step closer to 0) and search again within the same limits.  Greedy,
    # so nothing is claimed minimal here; a cardinality constraint instead made qfnia time out.
    values = _free_values(problem, best.witness)  # type: ignore[arg-type]
    base = replace(grid_domain, max_abs=max(abs(v) for v in values))
    if not optimal and time.monotonic() < deadline:
        # one exhaustive pass over the whole grid, when it is small, instead of the greedy steps
        out = exhaustive(replace(problem, domain=base))
        if out is not None:
            steps += 1
            if out.verdict != "found":  # the confirmed witness lies in this grid: a bug, never a claim
                raise SolverDisagreement("the exhaustive grid search found no witness in a grid that holds the "
                                         f"confirmed witness {[str(v) for v in values]}")
            best = out
    if optimal:
        # The grid's witness has the fewest non-zero values, then the smallest sum of absolute values,
        # of every witness within these limits: no greedy step can improve it.
        return ShrinkResult(best, tuple(proven), tuple(notes), time.monotonic() - started, steps)
    step = Fraction(1, base.denominator or 1)
    pinned: dict = {}

    improved = True
    while improved:
        improved = False
        fixed = problem.fixed.as_dict()
        for name, index, value in best.witness.items():  # type: ignore[union-attr]
            if (name, index) in fixed or (name, index) in pinned or value == 0:
                continue
            closer = value - step if value > 0 else value + step
            for target in (Fraction(0),) + ((closer,) if closer != 0 and abs(closer) < abs(value) else ()):
                trial = {**pinned, (name, index): target}
                out = attempt_pinned(trial, base)
                if out is None:
                    out_of_time()
                    return ShrinkResult(best, tuple(proven), tuple(notes), time.monotonic() - started, steps)
                if out.verdict == "found" and size(out.witness) < size(best.witness):  # type: ignore[arg-type]
                    best = out
                    if target == 0:
                        pinned[(name, index)] = target
                    improved = True
                    break
    return ShrinkResult(best, tuple(proven), tuple(notes), time.monotonic() - started, steps)

"""Shrinking: from a confirmed witness to one a person can check by hand.

Preferences, in order: integer values; the smallest largest absolute value;
the fewest non-zero values; the smallest sum of absolute values; where no
integer witness was found, the smallest denominators.  Each step tightens one
limit of the problem's :class:`cexsearch.model.problem.Domain` (free values only) and
searches again with the same engine, so every shrunk witness is confirmed by
the exact re-check like any other, and a step answered *none* is a proof
("no integer witness with every free value in [-1, 1]").  The loop is
anytime: whatever the time limit interrupts, the last confirmed witness is kept.

A step whose grid of free values is small (at most :data:`cexsearch.engine.grid.MAX_POINTS`
points, e.g. seed 001's 3^10 in [-1, 1]) is decided by exact exhaustive enumeration
(:mod:`cexsearch.engine.grid`) instead of the solver: *none* is then a proof by exhaustion, and
a point it finds is the one with the fewest non-zero values, then the smallest sum of
absolute values, in the whole grid, so the greedy steps after it cannot improve it and
are skipped.  The choice depends on the grid's size only, never on time, so a shrink
gives the same witness on every run.

Those exhaustive steps are for small problems only (at most :data:`SMALL_FREE` free values;
a solver step is tried only up to :data:`SMALL_PATTERNS` activation patterns, and is an
undecided step beyond).  A larger problem is shrunk locally
(:mod:`cexsearch.workflows.shrink_local`): small steps from the witness, each decided by the exact
re-check, within a work budget counted in re-checks and Z3 resource limits.

Shrinking is best effort: the witness it starts from is already confirmed, so whatever a
step meets (a space too large, an undecided check, an error in a sub-search, the budget or
the time limit running out) ends the shrink with the best confirmed witness so far and a
note saying what was achieved.  Only an interrupt and a solver disagreement (a bug, never
hidden) pass through.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from fractions import Fraction

from ..engine import grid
from ..engine.options import SearchOptions
from ..engine.search import Enumeration, Outcome, SearchStats, confirm, pattern_count_text, raw_pattern_count
from ..errors import SolverDisagreement
from ..model.network import Index, Network
from ..model.problem import Assignment, Domain, FixedValues, Problem
from .shrink_local import Budget, LocalShrink, OutOfBudget, cost

MAX_INTEGER_BOUND = 16
# Each solver check while shrinking gets this Z3 resource budget (machine-independent, so a
# shrink gives the same witness on every run); the time limit is a safety net on top.
CHECK_RLIMIT = 3_000_000
GREEDY_RLIMIT = 300_000  # a greedy step is optional: a small budget, so a hard one is skipped quickly
DENOMINATORS = (2, 3, 4, 6, 10, 12, 100)
# The exhaustive steps (a grid of every free value, an enumeration of every pattern) are tried
# only up to these sizes; 3^15 grid points is within grid.MAX_POINTS.
SMALL_FREE = 15
SMALL_PATTERNS = 2**8
# The local steps' budget in multiply-adds of the exact re-check (well under a second on 10-10-1
# at any batch size), and at least this many whole re-checks of a larger problem.
LOCAL_UNITS = 160_000
LOCAL_MIN_CHECKS = 10


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


def small(problem: Problem) -> bool:
    """Whether the exhaustive steps fit: few enough free values for the grid at [-1, 1].

    (A solver step of a problem with more than :data:`SMALL_PATTERNS` patterns is an undecided step.)
    """
    return len(problem.free_keys()) <= SMALL_FREE


def shrink(problem: Problem, outcome: Outcome, options: SearchOptions = SearchOptions(),
           time_limit: float = 10.0) -> ShrinkResult:
    """A simpler confirmed witness of ``problem`` than ``outcome``'s, within ``time_limit`` seconds.

    Never raises for what a step meets (see the module's docstring): the result's
    ``outcome`` is always a confirmed witness of ``problem``, at worst ``outcome`` itself.
    """
    assert outcome.verdict == "found" and outcome.witness is not None
    if not isinstance(problem.network, Network):
        from ..engine.bridge import mlp_twin, restate

        twin = mlp_twin(problem.network)
        if twin is not None:  # an MLP written as layers: shrunk as the MLP, re-checked against the model
            mlp = replace(problem, network=twin)
            result = shrink(mlp, restate(outcome, mlp), options, time_limit)
            return replace(result, outcome=restate(result.outcome, problem))
    training, lr = problem.training, outcome.witness.lr
    if training is not None and training.lr is None and lr is not None:
        # a free lr is kept as the witness chose it: every step shrinks the values with that lr fixed
        pinned = replace(problem, training=replace(training, lr=lr))
        first = replace(outcome, problem=pinned, witness=replace(outcome.witness, lr=None))
        result = shrink(pinned, first, options, time_limit)
        w = result.outcome.witness
        assert w is not None
        back = confirm(problem, {**{(n, i): v for n, i, v in w.items()}, ("lr", ()): lr}, result.outcome.stats)
        return replace(result, outcome=replace(result.outcome, problem=problem, witness=back.witness,
                                               recheck=back.recheck))
    started = time.monotonic()
    if not _free_values(problem, outcome.witness):
        return ShrinkResult(outcome, (), ("every value is fixed",), 0.0, 0)
    if options.rlimit is None:
        options = replace(options, rlimit=CHECK_RLIMIT)
    deadline = started + time_limit
    if small(problem) and isinstance(problem.network, Network):  # the grid reads an MLP (layer models: local steps)
        run = Exhaustive(problem, outcome, options, deadline)
        try:
            run.run()
        except (KeyboardInterrupt, SolverDisagreement):
            raise
        except Exception as e:  # best effort: a failed step keeps the best confirmed witness
            run.notes.append(f"a shrink step failed ({type(e).__name__}: {e}); kept the best confirmed witness")
        if not run.proven and not run.notes:
            run.notes.append("a simpler witness found" if run.best.witness != outcome.witness
                             else "no simpler witness found")
        return ShrinkResult(run.best, tuple(run.proven), tuple(run.notes), time.monotonic() - started, run.steps)
    return _local(problem, outcome, options, deadline, started)


def _local(problem: Problem, outcome: Outcome, options: SearchOptions, deadline: float,
           started: float) -> ShrinkResult:
    budget = Budget(max(LOCAL_UNITS, LOCAL_MIN_CHECKS * cost(problem)), deadline)
    run = LocalShrink(problem, outcome, budget, options)
    n = len(problem.free_keys())
    patterns = raw_pattern_count(problem)
    if isinstance(problem.network, Network):
        why = (f"the space is too large to shrink exhaustively ({n} free values"
               + (f", {pattern_count_text(patterns)} activation patterns" if patterns > 1 else "") + ")")
    else:
        why = f"a layer network is shrunk by local steps only ({n} free values)"
    notes: list[str] = []
    try:
        run.run()
    except OutOfBudget as e:
        notes.append(str(e))
    except (KeyboardInterrupt, SolverDisagreement):
        raise
    except Exception as e:  # best effort: a failed step keeps the best confirmed witness
        notes.append(f"a shrink step failed ({type(e).__name__}: {e})")
    achieved = run.achieved()
    if achieved:
        head = [f"{why}: simplified locally, each step decided by the exact re-check: " + ", ".join(achieved)]
    else:
        head = [f"kept the solver's witness: {why} and no local step simplified it"]
    best = run.outcome(outcome)
    return ShrinkResult(best, (), tuple(head + notes), time.monotonic() - started, run.checks)


class Exhaustive:
    """The exhaustive shrink of a small problem: integer bounds, denominators, then fewer non-zero values.

    Its state (the best confirmed witness, what was proven) is kept on the object, so that
    whatever ends a step early leaves the best witness found so far.
    """

    def __init__(self, problem: Problem, outcome: Outcome, options: SearchOptions, deadline: float) -> None:
        self.problem, self.options, self.deadline = problem, options, deadline
        self.best = outcome
        self.proven: list[str] = []
        self.notes: list[str] = []
        self.steps = 0
        self.optimal = False  # best is the simplest witness in its whole grid (decided by exhaustion)

    def exhaustive(self, trial: Problem) -> Outcome | None:
        """Every point of a small grid decided exactly; None when the grid search declines."""
        try:  # declines grids above grid.MAX_POINTS, and anything it cannot decide exactly
            answer = grid.search_grid(trial, deadline=self.deadline)
        except grid.Declined:
            return None
        total = raw_pattern_count(trial)
        stats = SearchStats("exhaustive grid", total, tried=total, elapsed=answer.elapsed)
        if answer.best is None:
            return Outcome("none", trial, stats,
                           audit=(("*", f"all {answer.points} grid points decided exactly, none a witness", total),))
        # The grid's point assigns the trial's free values only: its fixed values (the person's,
        # and a greedy step's pins) complete it, for the trial and for the person's problem alike.
        values = {**trial.fixed.as_dict(), **answer.best}
        out = confirm(trial, values, stats)  # the exact re-check, with the tighter limits too
        if trial.fixed != self.problem.fixed:  # a greedy step's pins: confirmed against the person's problem too
            return confirm(self.problem, values, stats)
        self.optimal = True  # the simplest witness of the whole grid: greedy steps cannot improve it
        return replace(out, problem=self.problem)

    def solve(self, trial: Problem, rlimit: int | None) -> Outcome | None:
        """The grid when it fits, else one serial enumeration under a resource budget; None when the time is up."""
        if time.monotonic() >= self.deadline:
            return None
        self.steps += 1
        by_grid = self.exhaustive(trial)
        if by_grid is not None:
            return by_grid
        if time.monotonic() >= self.deadline:  # the grid search declined at the time limit
            return None
        total = raw_pattern_count(trial)
        if total > SMALL_PATTERNS:  # never refused: an enumeration out of reach is an unknown step
            return Outcome("unknown", trial, SearchStats("enumerate", total),
                           reason=f"{pattern_count_text(total)} activation patterns, too many for a shrink step")
        out = Enumeration(trial, replace(self.options, rlimit=rlimit, timeout=None), deadline=self.deadline,
                          report=self.problem).run()
        if out.interrupted:
            raise KeyboardInterrupt
        if out.verdict == "found":
            # confirmed against the person's problem (report=), with the trial's fixed values merged in
            return replace(out, problem=self.problem)
        return out

    def attempt(self, domain: Domain) -> Outcome | None:
        """A search under tighter limits; None when the time is up."""
        return self.solve(replace(self.problem, domain=domain), self.options.rlimit)

    def attempt_pinned(self, pins: dict, domain: Domain) -> Outcome | None:
        """A search with some free values pinned, confirmed against the person's problem."""
        extra = FixedValues(tuple(sorted((n, i, v) for (n, i), v in pins.items())))
        trial = replace(self.problem, domain=domain, fixed=self.problem.fixed.merged(extra))
        # An undecided step (its resource budget ran out) is skipped.
        return self.solve(trial, min(self.options.rlimit or GREEDY_RLIMIT, GREEDY_RLIMIT))

    def out_of_time(self) -> None:
        self.notes.append("best found within the time limit")

    def size(self, w: Assignment) -> tuple[int, Fraction]:
        vals = _free_values(self.problem, w)
        return (sum(v != 0 for v in vals), sum((abs(v) for v in vals), Fraction(0)))

    def run(self) -> None:
        problem, proven, notes = self.problem, self.proven, self.notes
        user = problem.domain
        values = _free_values(problem, self.best.witness)  # type: ignore[arg-type]
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
            out = self.attempt(replace(user, denominator=1, max_abs=b))
            if out is None:
                self.out_of_time()
                break
            if out.verdict == "found":
                self.best, upper = out, b
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
                out = self.attempt(replace(user, denominator=d))
                if out is None:
                    self.out_of_time()
                    break
                if out.verdict == "found":
                    self.best = out
                    grid_domain = replace(user, denominator=d)
                    break
                if out.verdict == "none":
                    proven.append(f"no witness with every free value a multiple of 1/{d}")
        if grid_domain is None:
            return
        # 3 and 4. fewer non-zero values, then a smaller sum of absolute values, greedily: fix one more
        # free value to 0 (or one step closer to 0) and search again within the same limits.  Greedy,
        # so nothing is claimed minimal here; a cardinality constraint instead made qfnia time out.
        values = _free_values(problem, self.best.witness)  # type: ignore[arg-type]
        base = replace(grid_domain, max_abs=max(abs(v) for v in values))
        if not self.optimal and time.monotonic() < self.deadline:
            # one exhaustive pass over the whole grid, when it is small, instead of the greedy steps
            out = self.exhaustive(replace(problem, domain=base))
            if out is not None:
                self.steps += 1
                if out.verdict != "found":  # the confirmed witness lies in this grid: a bug, never a claim
                    raise SolverDisagreement("the exhaustive grid search found no witness in a grid that holds the "
                                             f"confirmed witness {[str(v) for v in values]}")
                self.best = out
        if self.optimal:
            # The grid's witness has the fewest non-zero values, then the smallest sum of absolute values,
            # of every witness within these limits: no greedy step can improve it.
            return
        step = Fraction(1, base.denominator or 1)
        pinned: dict[tuple[str, Index], Fraction] = {}
        improved = True
        while improved:
            improved = False
            fixed = problem.fixed.as_dict()
            for name, index, value in self.best.witness.items():  # type: ignore[union-attr]
                if (name, index) in fixed or (name, index) in pinned or value == 0:
                    continue
                closer = value - step if value > 0 else value + step
                for target in (Fraction(0),) + ((closer,) if closer != 0 and abs(closer) < abs(value) else ()):
                    out = self.attempt_pinned({**pinned, (name, index): target}, base)
                    if out is None:
                        self.out_of_time()
                        return
                    if out.verdict == "found" and self.size(out.witness) < self.size(self.best.witness):  # type: ignore[arg-type]
                        self.best = out
                        if target == 0:
                            pinned[(name, index)] = target
                        improved = True
                        break

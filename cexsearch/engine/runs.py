"""Witnesses of training problems by sampling: concrete runs, replayed exactly.

A claim about K steps of training is polynomial in the free values, of a degree that grows
with K (every step multiplies lr by a gradient of the step before), and Z3's nonlinear
solver can take long to find even an easy witness.  A concrete run, with every value and
lr fixed, is only exact arithmetic: this strategy draws small values (most of them 0, so
that conditions such as ``W2 == 0`` are met by chance), replays the run with the exact
re-check and keeps the first that satisfies every condition.  Seeded, so the same command
gives the same witness.  It can only find, never prove.
"""

from __future__ import annotations

import random
import time
from fractions import Fraction

from ..model.problem import Assignment, Problem
from ..semantics import numeric
from .options import SearchOptions
from .outcome import Outcome, SearchStats, confirm, raw_pattern_count

LEARNING_RATES = (Fraction(1, 2), Fraction(1), Fraction(1, 4), Fraction(1, 10), Fraction(2))
SAMPLE_TRIES = 200


class RunSampling:
    name = "sample runs"

    def __init__(self, problem: Problem, options: SearchOptions, deadline: float | None,
                 tries: int = SAMPLE_TRIES) -> None:
        self.problem, self.options, self.deadline, self.tries = problem, options, deadline, tries

    def _value(self, rng: random.Random, zeros: float) -> Fraction:
        if rng.random() < zeros:
            return Fraction(0)
        bound = self.problem.domain.bound
        v = Fraction(rng.choice((-2, -1, 1, 2, 3, -3)))
        return max(min(v, bound), -bound) if bound is not None else v

    def run(self) -> Outcome:
        started = time.monotonic()
        problem = self.problem
        rng = random.Random(self.options.seed)
        keys = problem.free_keys()
        fixed = problem.fixed.as_dict()
        targets = numeric.loss_targets(problem.network)
        training = problem.training
        tried = 0
        for tried in range(1, self.tries + 1):
            if self.deadline is not None and time.monotonic() >= self.deadline:
                break
            zeros = (0.3, 0.5, 0.7)[tried % 3]
            values = dict(fixed)
            for key in keys:
                values[key] = rng.choice(targets) if key[0] == "y" and targets else self._value(rng, zeros)
            lr = rng.choice(LEARNING_RATES) if training is not None and training.lr is None else None
            if lr is not None:
                values[("lr", ())] = lr
            if numeric.satisfies(problem, Assignment.from_entries(problem.network, problem.samples, values)):
                free = {k: v for k, v in values.items() if k not in fixed}
                stats = SearchStats(self.name, raw_pattern_count(problem), tried=tried,
                                    elapsed=time.monotonic() - started)
                return confirm(problem, free, stats)
        return Outcome("unknown", problem, SearchStats(self.name, raw_pattern_count(problem),
                                                       elapsed=time.monotonic() - started),
                       reason=f"{tried} sampled runs met no witness (sampling can only find, not prove)")

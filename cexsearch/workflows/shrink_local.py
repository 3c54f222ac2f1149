"""Local shrinking: simpler witnesses for problems far too large to shrink exhaustively.

With hundreds of free values (10-10-1 at 64 samples has 825) no grid can be
enumerated and no "every integer witness in [-1, 1]" can be decided, so the
shrinker moves from the confirmed witness in small steps instead, each one
decided by the exact re-check (:func:`cexsearch.semantics.numeric.satisfies`) with every
other value kept:

1. samples with a zero residual are dropped, as one block: their free ``x`` set to 0
   and their free ``y`` to the network's output there, so they stay out of every gradient;
2. when a free value is not an integer and ``y`` is free, everything but the
   targets is fixed (rounded to integers first, when that keeps the witness) and
   the targets re-solved as integers: with weights and inputs fixed every
   gradient is linear in the residuals, so one Z3 check (simplex) decides it;
3. hidden units are removed in blocks (their free incoming weights, bias and
   outgoing weights set to 0); then the other samples are dropped in blocks
   (halves, quarters, ...), and single values are set to 0.

A step is kept only when the witness gets simpler (fewer non-integer values, a
smaller largest absolute value, fewer non-zero values, a smaller sum of
absolute values, in that order).  The work is counted, not timed: each re-check
costs the problem's size in multiply-adds and each Z3 check a fixed share, and
the shrink stops when its :class:`Budget` runs out, so the same command gives the
same witness on every run.  The result is confirmed by
:func:`cexsearch.engine.search.confirm` like any other witness.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

import numpy as np

from ..engine.options import SearchOptions
from ..engine.search import Enumeration, Outcome, confirm
from ..model.network import Index, Network, entries
from ..model.problem import Assignment, FixedValues, Problem
from ..semantics import numeric

Key = tuple[str, Index]
RESOLVE_RLIMIT = 300_000  # one linear re-solve of the targets
RESOLVE_CHECKS = 16  # what one re-solve is charged, in re-checks of the whole problem


class OutOfBudget(Exception):
    """The shrink's work budget (or its time limit, a safety net) is spent."""


@dataclass
class Budget:
    """Work left for shrinking, in multiply-adds of the exact re-check; ``deadline`` is the wall-clock safety net."""

    units: int
    deadline: float
    spent: int = 0

    def spend(self, units: int) -> None:
        if time.monotonic() >= self.deadline:
            raise OutOfBudget("the time limit (--shrink-time) cut shrinking short")
        if units > self.units:
            raise OutOfBudget("the shrink budget ran out (a count of exact re-checks and Z3 work, the same on every "
                              "run)")
        self.units -= units
        self.spent += units

    def affords(self, units: int) -> bool:
        return units <= self.units


CHECK_OVERHEAD = 2_000  # a re-check's fixed cost (building arrays, reading conditions), in multiply-adds


def cost(problem: Problem) -> int:
    """What one exact re-check of ``problem`` is charged: its multiply-adds plus a fixed share.

    A layer model is charged its parameter count per sample (a convolution's weights are
    used at every position, so this undercounts it; the count only has to be the same on every run).
    """
    net = problem.network
    if not isinstance(net, Network):
        return CHECK_OVERHEAD + problem.samples * max(1, net.parameter_count())
    w = net.widths
    return CHECK_OVERHEAD + problem.samples * sum(a * (b + 1) for a, b in zip(w[1:], w))


def _per_sample(network: Any, name: str, samples: int) -> list[list[Index]]:
    """The indices of ``x`` (or ``y``), sample by sample."""
    out: list[list[Index]] = [[] for _ in range(samples)]
    for index in entries(network.shape(name, samples)):
        out[index[0]].append(index)
    return out


def simplicity(keys: list[Key], values: dict[Key, Fraction]) -> tuple[int, Fraction, int, Fraction]:
    """Smaller is simpler: (non-integer values, largest absolute value, non-zero values, sum of absolute values)."""
    fractions: list[Fraction] = []
    largest = Fraction(0)
    nonzero = whole = 0
    for k in keys:
        v = values[k]
        if v == 0:
            continue
        nonzero += 1
        if v.denominator == 1:
            whole += abs(v.numerator)  # integers summed as ints: Fraction sums dominated the run time
        else:
            fractions.append(abs(v))
        if abs(v) > largest:
            largest = abs(v)
    return (len(fractions), largest, nonzero, sum(fractions, Fraction(whole)))


class LocalShrink:
    """The witness being simplified, the steps tried on it and what they achieved."""

    def __init__(self, problem: Problem, outcome: Outcome, budget: Budget, options: SearchOptions) -> None:
        assert outcome.witness is not None
        self.problem, self.budget, self.options = problem, budget, options
        self.net, self.M = problem.network, problem.samples
        self.keys = problem.free_keys()
        self.free = set(self.keys)
        self.values: dict[Key, Fraction] = {(n, i): v for n, i, v in outcome.witness.items()}
        if outcome.witness.lr is not None:  # a free learning rate: kept as found (it is no free key)
            self.values[("lr", ())] = outcome.witness.lr
        self.first = dict(self.values)
        self.cost = cost(problem)
        self.checks = 0
        self.dropped: list[int] = []
        self.resolved = ""
        self._outputs: dict[tuple, tuple[Fraction, ...]] = {}  # yhat of one sample by its x (parameters fixed)
        self.x_of = _per_sample(self.net, "x", self.M)  # x's indices, sample by sample (any input shape)
        self.y_of = _per_sample(self.net, "y", self.M)

    # -- the oracle ---------------------------------------------------------
    def holds(self, values: dict[Key, Fraction]) -> bool:
        self.budget.spend(self.cost)
        self.checks += 1
        return numeric.satisfies(self.problem, Assignment.from_entries(self.net, self.M, values))

    def accept(self, candidate: dict[Key, Fraction] | None) -> bool:
        """Keep ``candidate`` when it is simpler and every condition holds."""
        if candidate is None or candidate == self.values:
            return False
        if simplicity(self.keys, candidate) >= simplicity(self.keys, self.values):
            return False
        if not self.holds(candidate):
            return False
        self.values = candidate
        return True

    @property
    def residuals(self) -> list[tuple[Fraction, ...]]:
        """yhat - y of every sample of the current witness (one pass, charged as a re-check)."""
        self.budget.spend(self.cost)
        ev = numeric.evaluate(Assignment.from_entries(self.net, self.M, self.values))
        return [tuple(np.asarray(ev.residual[m], dtype=object).reshape(-1)) for m in range(self.M)]

    def blocks(self, items: list, make, kept: list | None = None,  # type: ignore[no-untyped-def]
               whole: bool = False) -> list:
        """Greedy chunked elimination: try ``make(values, chunk)`` for halves, quarters, ... of ``items``.

        The items whose step was kept are added to ``kept`` as they are (so they stay counted when the
        budget ends the elimination), which is returned.
        """
        kept = [] if kept is None else kept
        left = list(items)
        size = max(1, len(left) if whole else len(left) // 2)
        while left:
            i = 0
            while i < len(left):
                part = left[i:i + size]
                if self.accept(make(self.values, part)):
                    kept += part
                    del left[i:i + size]
                else:
                    i += size
            if size == 1:
                break
            size = max(1, size // 2)
        return kept

    # -- the steps ----------------------------------------------------------
    def _output_at(self, values: dict[Key, Fraction], m: int) -> tuple[Fraction, ...]:
        """yhat of sample m alone (a one-sample pass), remembered by its x: the parameters do not change meanwhile."""
        row = tuple(values[("x", i)] for i in self.x_of[m])
        if row not in self._outputs:
            self.budget.spend(max(1, self.cost // self.M))
            one = {k: v for k, v in values.items() if k[0] not in ("x", "y")}
            for i, v in zip(self.x_of[0], row):
                one[("x", i)] = v
            for o in self.y_of[0]:
                one[("y", o)] = Fraction(0)
            ev = numeric.evaluate(Assignment.from_entries(self.net, 1, one))
            self._outputs[row] = tuple(np.asarray(ev.yhat[0], dtype=object).reshape(-1))
        return self._outputs[row]

    def drop(self, values: dict[Key, Fraction], samples: list[int]) -> dict[Key, Fraction] | None:
        out = dict(values)
        for m in samples:
            for i in self.x_of[m]:
                if ("x", i) in self.free:
                    out[("x", i)] = Fraction(0)
            yhat = self._output_at(out, m)
            for o, v in zip(self.y_of[m], yhat):
                if ("y", o) in self.free:
                    out[("y", o)] = v
        return out

    def zero(self, values: dict[Key, Fraction], items: list) -> dict[Key, Fraction]:  # type: ignore[type-arg]
        """Every key in ``items`` set to 0 (an item is a key, or a list of keys: a hidden unit's)."""
        out = dict(values)
        for item in items:
            for k in (item if isinstance(item, list) else [item]):
                out[k] = Fraction(0)
        return out

    def resolve_targets(self) -> None:
        """Every value but the targets fixed (rounded first), the targets re-solved as integers: a linear system."""
        targets = {k for k in self.keys if k[0] == "y" and k[1][0] not in self.dropped}
        if not targets or all(v.denominator == 1 for k, v in self.values.items() if k in self.free):
            return
        bound = self.problem.domain.bound
        rounded = {k: (Fraction(round(v)) if k in self.free and k[0] != "y" and (bound is None or abs(round(v)) <= bound)
                       else v) for k, v in self.values.items()}
        for base, how in ((rounded, "rounded the other values to integers and "), (self.values, "")):
            if not self.budget.affords(self.cost * RESOLVE_CHECKS):
                return  # optional: the budget goes to the zeroing steps instead
            self.budget.spend(self.cost * RESOLVE_CHECKS)
            pins = FixedValues(tuple(sorted((n, i, v) for (n, i), v in base.items() if (n, i) not in targets)))
            domain = replace(self.problem.domain, denominator=1)
            trial = replace(self.problem, fixed=self.problem.fixed.merged(pins), domain=domain)
            options = replace(self.options, rlimit=RESOLVE_RLIMIT, timeout=None)
            out = Enumeration(trial, options, use_symmetry=False, solver_kind="smt", report=self.problem,
                              deadline=self.budget.deadline).run()
            if out.interrupted:
                raise KeyboardInterrupt
            if out.verdict == "found" and out.witness is not None:
                candidate = {(n, i): v for n, i, v in out.witness.items()}
                if simplicity(self.keys, candidate) < simplicity(self.keys, self.values):
                    self.values = candidate  # confirmed by the re-check inside the enumeration
                    self.resolved = f"{how}re-solved the targets y as integers (a linear system)"
                    return

    def rounded(self, values: dict[Key, Fraction], items: list[Key]) -> dict[Key, Fraction]:
        """Every key in ``items`` rounded to the nearest integer (within the bound)."""
        bound = self.problem.domain.bound
        out = dict(values)
        for k in items:
            r = Fraction(round(values[k]))
            if bound is None or abs(r) <= bound:
                out[k] = r
        return out

    def run(self) -> None:
        """The steps in order; :class:`OutOfBudget` may end any of them (what was kept stays kept)."""
        samples = [m for m in range(self.M)
                   if any(("x", i) in self.free and self.values[("x", i)] != 0 for i in self.x_of[m])]
        # Samples with a zero residual are in no gradient: dropping them rarely changes a verdict,
        # so they go first, as one block (the linear strategy leaves most samples so).
        residual = self.residuals
        quiet = [m for m in samples if all(r == 0 for r in residual[m])]
        self.blocks(quiet, self.drop, self.dropped, whole=True)
        if isinstance(self.net, Network):  # the re-solve and the units read an MLP's widths
            self.resolve_targets()
        else:  # a layer model: its fractions rounded, in blocks, each step decided by the exact re-check
            self.blocks([k for k in self.keys if self.values[k].denominator != 1], self.rounded)
        # Hidden units next (a dead unit's weights go as one block), before the samples that do
        # carry a residual, which rarely drop and would spend a large problem's budget first.
        net = self.net
        units: list[list[Key]] = []
        for k in range(1, net.depth if isinstance(net, Network) else 1):
            for j in range(net.widths[k]):
                keys: list[Key] = [("W" + str(k), (j, i)) for i in range(net.widths[k - 1])]
                keys += [("b" + str(k), (j,))] if net.bias else []
                keys += [("W" + str(k + 1), (o, j)) for o in range(net.widths[k + 1])]
                keys = [key for key in keys if key in self.free and self.values[key] != 0]
                if keys:
                    units.append(keys)
        self.blocks(units, self.zero)
        self._outputs = {}  # the parameters may have changed: outputs are computed afresh
        self.blocks([m for m in samples if m not in quiet], self.drop, self.dropped)
        singles = [k for k in self.keys if self.values[k] != 0]
        self.blocks(singles, self.zero)

    def achieved(self) -> list[str]:
        first = simplicity(self.keys, self.first)
        now = simplicity(self.keys, self.values)
        out = []
        if self.dropped:
            out.append(f"{len(self.dropped)} of {self.M} samples dropped (free x set to 0, free y to the output: a zero residual)")
        if self.resolved:
            out.append(self.resolved)
        if now[2] < first[2]:
            out.append(f"non-zero free values {first[2]} -> {now[2]}")
        if now[1] < first[1]:
            out.append(f"largest absolute value {first[1]} -> {now[1]}")
        return out

    def outcome(self, template: Outcome) -> Outcome:
        if self.values == self.first:
            return template
        return replace(confirm(self.problem, self.values, template.stats), shrink=template.shrink)

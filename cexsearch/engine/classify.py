"""The search for a classification loss (bce, ce): verdicts with the numbers they are about.

Three queries, each one If-encoded formula over the probabilities' variables (:mod:`.z3links`):

1. **Rational witnesses** (the split encoding): every equation of sigmoids replaced by what it
   means at rational logits.  A model is a rational network; the exact re-check
   (:func:`cexsearch.semantics.numeric.recheck`, exact in Q(exp(1/q))) decides it, so a confirmed
   model is *found* with ``domain = "rational"``.  Unsat (with every equation split exactly, or
   on the relaxation, which only weakens it) proves there is *none over the rationals*.
2. **Real proofs** (the relaxation alone): unsat proves *none over the reals*.
3. **Real witnesses**: a model of the relaxation is a start for the numerical search with
   certification (:mod:`.realsearch`), which returns a certified box (``domain = "real"``).

A model the re-check does not confirm (the relaxation let an inequality through that the true
sigmoid breaks) is never shown: it is blocked and the query re-solved a few times.
"""

from __future__ import annotations

import time
from dataclasses import replace
from fractions import Fraction
from typing import Any

import z3

from ..model.problem import Assignment, Problem
from ..semantics import numeric
from .encoding import Encoding
from .options import SearchOptions
from .outcome import Outcome, SearchStats, raw_pattern_count
from .solver import AlgebraicModel, PatternSolver, Sat, Unsat, value_of
from .symmetry import detect
from .z3algebra import to_z3
from .z3links import point_cuts

RETRIES = 8  # models of one query tried against the exact re-check


class _Query:
    """One If-encoded query (split or not) and its models."""

    def __init__(self, problem: Problem, options: SearchOptions, split: bool) -> None:
        self.problem = problem
        self.enc = Encoding(problem, split=split)
        self.ps = PatternSolver(self.enc, seed=options.seed, rlimit=options.rlimit, kind="smt")
        bits = [[None] * len(self.enc.units) for _ in range(problem.samples)]
        self.ps.add(*self.enc.domain)
        self.ps.add(*self.enc.pattern_constraints(bits))
        self.ps.add(self.enc.conditions(bits))
        self.ps.add(*logit_order(problem, self.enc))
        self.exact = getattr(self.enc, "split_exact", False)

    def models(self, deadline: float | None) -> Any:
        """Yield ("unsat", None), ("unknown", reason) or ("model", Assignment) answers."""
        for _ in range(RETRIES):
            answer = self.ps.check(deadline)
            if isinstance(answer, Unsat):
                yield "unsat", None
                return
            if not isinstance(answer, Sat):
                yield "unknown", getattr(answer, "reason", "undecided")
                return
            try:
                values = self.ps.rational_model(deadline)
            except AlgebraicModel as e:
                yield "unknown", "only an irrational model: " + str(e)
                return
            full = dict(self.problem.fixed.as_dict())
            full.update(values)
            yield "model", Assignment.from_entries(self.problem.network, self.problem.samples, full)
            # rejected: cut it off, around its logits (the true functions' monotonicity), and exactly
            self.ps.add(*self._cuts(values))
            free = [v != z3.RealVal(str(values[k])) for k, v in self.enc.free.items() if k in values]
            if not free:
                return
            self.ps.add(z3.Or(free))

    def _cuts(self, values: dict[Any, Fraction]) -> list[Any]:
        if self.enc.links is None:
            return []
        pairs = [(v, z3.RealVal(str(values[k]))) for k, v in self.enc.free.items() if k in values]

        def at(logit: Any) -> Fraction | None:
            return value_of(z3.simplify(z3.substitute(to_z3(logit), *pairs) if pairs else to_z3(logit)))

        return point_cuts(self.enc.links, at)


def logit_order(problem: Problem, enc: Encoding) -> list[Any]:
    """The samples' first logits in order, z[0] <= z[1] <= ...: when permuting the samples maps witnesses to
    witnesses (engine/symmetry.py), some permutation of any witness sorts them so, and the query need look
    at no other (a smaller logit structure for the split to search)."""
    if enc.links is None or problem.samples < 2 or not detect(problem).samples:
        return []
    logits = list(enc.links.sigmoid.values())
    per = len(logits) // problem.samples
    if per == 0 or len(logits) % problem.samples:
        return []
    first = [to_z3(logits[m * per]) for m in range(problem.samples)]
    return [first[m] <= first[m + 1] for m in range(problem.samples - 1)]


#: each stage's cap in seconds (also without --timeout: nonlinear real arithmetic may not end)
SPLIT_CAP = 120.0
SPLIT_SHARE = 20.0  # the split's share when the question is about the reals
RELAX_SLICE = 2.0
REAL_CAP = 30.0
RELAX_CAP = 60.0


def search_classification(problem: Problem, options: SearchOptions, deadline: float | None) -> Outcome:
    """Decide a problem with a classification loss: found/none with ``Outcome.domain``, or unknown.

    Over the rationals: the split, then the relaxation (none over the reals is none over the
    rationals).  Over the reals: the split for a rational witness, a slice of the relaxation for
    a proof, the certified numerical search, and the relaxation again with what is left."""
    started = time.monotonic()
    total = raw_pattern_count(problem)
    checks = 0
    notes: list[str] = []
    starts: list[Assignment] = []
    queries: dict[bool, _Query] = {}

    def stats(name: str, tried: int = 0) -> SearchStats:
        return SearchStats(name, total, tried=tried, solver_checks=checks, elapsed=time.monotonic() - started)

    def until(seconds: float) -> float:
        t = time.monotonic() + seconds
        return t if deadline is None else min(t, deadline)

    rational_none = False
    real = problem.over == "real"
    stages: list[tuple[bool | None, float]] = [(True, SPLIT_SHARE if real else SPLIT_CAP),
                                              (False, RELAX_SLICE if real else RELAX_CAP)]
    if real:
        stages += [(None, REAL_CAP), (False, RELAX_CAP)]
    for split, cap in stages:
        if deadline is not None and time.monotonic() >= deadline:
            notes.append("the time limit was reached")
            break
        if split is None:
            found = _real(problem, starts, until(cap))
            if found is not None:  # the centre's exact values, shown beside the box (the box is the proof)
                centre = numeric.recheck(problem, found.witness) if found.witness is not None else None
                return replace(found, recheck=centre, stats=replace(found.stats, solver_checks=checks,
                                                                    elapsed=time.monotonic() - started))
            notes.append("the certified numerical search found no real witness")
            continue
        if split and rational_none:
            continue
        name = "rational split" if split else "relaxation"
        query = queries.get(split) or queries.setdefault(split, _Query(problem, options, split))
        for kind, item in query.models(until(cap)):
            checks += 1
            if kind == "unsat" and split:
                rational_none = True
                if not real:
                    return Outcome("none", problem, stats(name, total), domain="rational",
                                   audit=(("*", "unsat: the exact split for rational logits", total),))
            elif kind == "unsat":
                return Outcome("none", problem, stats(name, total), domain="real",
                               audit=(("*", "unsat: the sigmoid/softmax relaxation", total),))
            elif kind == "unknown":
                notes.append(f"{name}: {item}")
            else:
                check = numeric.recheck(problem, item)
                if check.confirmed:
                    return Outcome("found", problem, stats(name, 1), witness=item, recheck=check, domain="rational")
                notes += [f"the exact re-check cannot decide {c.text!r} ({c.undecided})"
                          for c in check.conditions if c.undecided and not any(c.text in n for n in notes)]
                starts.append(item)
    reason = "; ".join(dict.fromkeys(notes)) or "no model passed the exact re-check"
    if rational_none:
        return Outcome("unknown", problem, stats("rational split", total), domain="rational",
                       reason="no rational witness exists (proven by the exact split); over the reals it is "
                              "undecided: " + reason)
    return Outcome("unknown", problem, stats("classification"), reason=reason)


def _real(problem: Problem, starts: list[Assignment], deadline: float) -> Outcome | None:
    """A certified real witness from the relaxation's models (engine/realsearch.py), if it is there."""
    try:
        from .realsearch import search_real
    except ImportError:
        return None
    for start in starts or [None]:  # type: ignore[list-item]
        out = search_real(problem, deadline, start)
        if out is not None:
            return out
    return None

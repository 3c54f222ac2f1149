"""The ``ifencode`` and ``linear`` strategies (see :mod:`cexsearch.engine.search`), and the whole
question as one If-encoded formula for a second solver."""

from __future__ import annotations

import random
import time
from dataclasses import replace
from fractions import Fraction

from ..model.network import Index, entries
from ..model.problem import Assignment, FixedValues, Problem
from ..semantics import numeric
from .encoding import Encoding
from .enumerate import Enumeration
from .options import SearchOptions
from .outcome import Outcome, SearchStats, confirm, raw_pattern_count
from .solver import AlgebraicModel, PatternSolver, Sat, Unknown, Unsat


def if_encoded_constraints(problem: Problem) -> list:
    """The whole question as one If-encoded formula (for a second solver to re-decide)."""
    enc = Encoding(problem)
    bits = [[None] * len(enc.units) for _ in range(problem.samples)]
    return list(enc.domain) + enc.pattern_constraints(bits) + [enc.conditions(bits)]


class IfEncoding:
    """One query with every ReLU branch left to Z3 (``If`` terms)."""

    name = "ifencode"

    def __init__(self, problem: Problem, options: SearchOptions, deadline: float | None) -> None:
        self.problem, self.options, self.deadline = problem, options, deadline

    def run(self) -> Outcome:
        started = time.monotonic()
        enc = Encoding(self.problem)
        total = raw_pattern_count(self.problem)
        ps = PatternSolver(enc, seed=self.options.seed, rlimit=self.options.rlimit, kind="smt")
        bits = [[None] * len(enc.units) for _ in range(self.problem.samples)]
        ps.add(*enc.pattern_constraints(bits))
        ps.add(enc.conditions(bits))
        try:
            answer = ps.check(self.deadline)
        except KeyboardInterrupt:
            return Outcome("unknown", self.problem, SearchStats(self.name, total, elapsed=time.monotonic() - started),
                           reason="interrupted", interrupted=True)
        if isinstance(answer, Unsat):
            return Outcome("none", self.problem, SearchStats(self.name, total, tried=total, solver_checks=1,
                                                             elapsed=time.monotonic() - started),
                           audit=(("*", "unsat: one If-encoded query", total),))
        if isinstance(answer, Sat):
            try:
                values = ps.rational_model(self.deadline)
            except AlgebraicModel as e:
                return Outcome("unknown", self.problem, SearchStats(self.name, total, solver_checks=ps.checks,
                                                                    elapsed=time.monotonic() - started),
                               reason="only an irrational witness was found: " + str(e), algebraic=tuple(e.values))
            return confirm(self.problem, values, SearchStats(self.name, total, tried=1, solver_checks=ps.checks,
                                                             elapsed=time.monotonic() - started))
        assert isinstance(answer, Unknown)
        return Outcome("unknown", self.problem, SearchStats(self.name, total, solver_checks=1,
                                                            elapsed=time.monotonic() - started),
                       reason=f"the If-encoded query was not decided ({answer.reason})")


class LinearStrategy:
    """Fix weights and inputs to small or structured values and let Z3 solve for the rest.

    With every parameter and ``x`` fixed, each pre-activation is a constant, so
    the pattern is decided without search, and with ``y`` free the residuals
    ``yhat - y`` are free: every gradient is linear in them (dL/dW_k sums
    delta_k a_{k-1}^T over samples, and delta_k is the residual times constants),
    so Z3 decides each try at once.  The tries, from a seeded generator: a few
    live units with the others dead (zero weights, negative bias), which lowers
    the rank of the upper layer's features when the batch is small; repeated
    units; then plain small integers.  For a layer model a unit is an output feature of a Linear
    or a channel of a convolution (the first axis of its W and b).  It can only find, never prove.
    """

    name = "linear"

    def __init__(self, problem: Problem, options: SearchOptions, deadline: float | None,
                 max_tries: int | None = None) -> None:
        self.problem, self.options, self.deadline = problem, options, deadline
        self.max_tries = max_tries

    def _value(self, rng: random.Random, lo: int, hi: int, nonzero: bool = False) -> Fraction:
        bound = self.problem.domain.bound
        while True:
            v = Fraction(rng.randint(lo, hi))
            if bound is not None and abs(v) > bound:
                v = Fraction(0) if not nonzero else (bound if v > 0 else -bound)
            if not nonzero or v != 0:
                return v

    def candidates(self, rng: random.Random):  # type: ignore[no-untyped-def]
        net = self.problem.network
        fixed = self.problem.fixed.as_dict()
        names = [n for n in net.parameter_names()] + ["x"]
        # W_k, b_k: the k-th layer with parameters (a Linear or a convolution; unit = output feature
        # or channel), the last one the output layer; a dead unit has zero weights and a negative bias
        depth = max(int(n[1:]) for n in net.parameter_names())
        live_options = [1, 2, 3] if depth > 1 else [0]
        attempt = 0
        while True:
            family = (0, 3, 1, 2)[attempt % 4]  # dead units, random, dead with non-zero weights, repeated
            live = live_options[(attempt // 4) % len(live_options)]
            attempt += 1
            vals: dict[tuple[str, Index], Fraction] = {}
            for name in names:
                for idx in entries(net.shape(name, self.problem.samples)):
                    if (name, idx) in fixed:
                        continue
                    if name == "x":
                        vals[(name, idx)] = self._value(rng, -3, 3)
                        continue
                    k = int(name[1:])
                    unit = idx[0]
                    dead = family in (0, 1) and k < depth and unit >= live
                    if name.startswith("W"):
                        if dead:
                            vals[(name, idx)] = Fraction(0)
                        elif family == 2 and k < depth and unit > 0:
                            vals[(name, idx)] = vals.get((name, (0,) + idx[1:]), self._value(rng, -2, 2))
                        else:
                            vals[(name, idx)] = self._value(rng, -2, 2, nonzero=family == 1)
                    else:
                        if dead:
                            bound = self.problem.domain.bound
                            vals[(name, idx)] = Fraction(-1) if bound is None or bound >= 1 else -bound
                        elif family == 2 and k < depth and unit > 0:
                            vals[(name, idx)] = vals.get((name, (0,)), self._value(rng, -2, 2))
                        else:
                            vals[(name, idx)] = self._value(rng, -2, 2)
            if self.problem.domain.integers is False or all(v.denominator == 1 for v in vals.values()):
                yield vals

    def _yhat(self, vals: dict[tuple[str, Index], Fraction]) -> numeric.np.ndarray:
        """The network's outputs for fixed weights and inputs (they do not depend on y)."""
        full = {**self.problem.fixed.as_dict(), **vals}
        for idx in entries(self.problem.shape("y")):
            full.setdefault(("y", idx), Fraction(0))
        return numeric.evaluate(Assignment.from_entries(self.problem.network, self.problem.samples, full)).yhat

    def run(self) -> Outcome:
        started = time.monotonic()
        total = raw_pattern_count(self.problem)
        rng = random.Random(self.options.seed)
        tries = checks = 0
        per_try = replace(self.options, timeout=None)
        user_fixed = self.problem.fixed.as_dict()
        M = self.problem.samples
        targets = numeric.loss_targets(self.problem.network)
        for vals in self.candidates(rng):
            left = None if self.deadline is None else self.deadline - time.monotonic()
            if left is not None and left <= 0:
                break
            tries += 1
            # Every other try leaves only the first few samples' targets free and gives the rest a
            # zero residual (y = yhat), which drops them from every gradient: the solver then sees
            # a handful of unknowns instead of M (a 64-sample system took Z3 seconds).
            # (Under hinge, a target of yhat's sign where |yhat| > 1: the margin is met.)
            free_samples = M if tries % 2 == 0 else min(M, 8)
            if free_samples < M:
                vals = dict(vals)
                yhat = self._yhat(vals)
                for idx in entries(self.problem.shape("y")):
                    if idx[0] < free_samples or ("y", idx) in user_fixed:
                        continue
                    quiet = _quiet_target(Fraction(yhat[idx]), targets)
                    if quiet is not None:
                        vals[("y", idx)] = quiet
            fixed = FixedValues(tuple(sorted((n, i, v) for (n, i), v in vals.items())))
            trial = replace(self.problem, fixed=self.problem.fixed.merged(fixed))
            # Linear in the free values: the SMT core's simplex, not nlsat.
            out = Enumeration(trial, per_try, use_symmetry=False, deadline=self.deadline, solver_kind="smt",
                              report=self.problem).run()
            checks += out.stats.solver_checks
            if out.verdict == "found":
                stats = SearchStats(self.name, total, tried=tries, solver_checks=checks,
                                    elapsed=time.monotonic() - started)
                return replace(out, stats=stats)
            if out.interrupted:
                return Outcome("unknown", self.problem, SearchStats(self.name, total, elapsed=time.monotonic() - started),
                               reason="interrupted", interrupted=True)
            if (self.max_tries is not None and tries >= self.max_tries) or (self.deadline is None and tries >= 200):
                break
        return Outcome("unknown", self.problem, SearchStats(self.name, total, solver_checks=checks,
                                                            elapsed=time.monotonic() - started),
                       reason=f"the linear strategy tried {tries} fixings without a witness (it can only find, not prove)")


def _quiet_target(yhat: Fraction, targets: tuple[Fraction, ...]) -> Fraction | None:
    """A target that drops the sample from every gradient: yhat itself (a zero residual), or for a
    loss with targets (hinge: -1 or 1) yhat's sign once the margin is met (|yhat| > 1); else None."""
    if not targets:
        return yhat
    if abs(yhat) > 1:
        sign = Fraction(1 if yhat > 0 else -1)
        return sign if sign in targets else None
    return None

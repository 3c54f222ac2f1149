"""The search over the real numbers: a certified box instead of a rational witness.

For a loss with exp (bce, ce) the conditions may hold only at irrational points.
:func:`search_real` moves a start (a relaxation's model, or a few random rational
points) by Newton's method until the equalities nearly hold
(:func:`cexsearch.semantics.certify.refine`), and asks
:func:`cexsearch.semantics.certify.certify` for a box proven to hold an exact solution.
Its "found" carries the box (``Outcome.certificate``) and the rational centre
(``Outcome.witness``, which the exact re-check would usually refute: the witness is a
real point of the box, not the centre), with ``domain="real"``.
"""

from __future__ import annotations

import random
import time
from fractions import Fraction

import numpy as np

from ..model.network import entries
from ..model.problem import Assignment, Problem
from ..semantics.certify import certify, check_certificate, refine
from .outcome import Outcome, SearchStats

F = Fraction
#: random starts tried when no start is given (or after it fails)
STARTS = 8


def random_start(problem: Problem, rng: random.Random) -> Assignment:
    """A random rational point: the fixed values, labels of the loss's kind, small values elsewhere."""
    net = problem.network
    fixed = problem.fixed.as_dict()
    loss = getattr(net, "loss", None)
    bound = problem.domain.bound
    values: dict = {}
    for name in net.variable_names():
        shape = net.shape(name, problem.samples)
        for index in entries(shape):
            if name == "y" and getattr(loss, "targets", None):
                v = rng.choice(list(loss.targets))  # type: ignore[union-attr]
            elif name == "y" and getattr(loss, "target_range", None) is not None:
                v = F(rng.randint(1, 7), 8)
            else:
                v = F(rng.randint(-8, 8), 4)
                if problem.domain.integers:
                    v = F(round(v))
                if bound is not None and abs(v) > bound:
                    v = F(0)
            values[(name, index)] = v
    if getattr(loss, "rows_sum_to_one", False):
        shape = net.shape("y", problem.samples)
        rows = np.arange(int(np.prod(shape))).reshape(shape[0], -1)
        for row in rows:
            weights = [rng.randint(1, 4) for _ in row]
            if loss.labels == "hard":  # type: ignore[union-attr]
                hot = rng.randrange(len(row))
                weights = [int(j == hot) for j in range(len(row))]
            for pos, w in zip(row, weights):
                values[("y", tuple(int(i) for i in np.unravel_index(pos, shape)))] = F(w, sum(weights))
    values.update(fixed)
    if problem.training is not None and problem.training.lr is None:
        values[("lr", ())] = F(1, 10)
    return Assignment.from_entries(net, problem.samples, values)


def search_real(problem: Problem, deadline: float | None, start: Assignment | None = None,
                starts: int = STARTS, seed: int = 0) -> Outcome | None:
    """A certified real witness near ``start`` or near a few random starts; None when none was proven in time."""
    if problem.domain.grid is not None or problem.over != "real":
        return None  # integers, a grid, or rational witnesses asked for: no box of reals
    started = time.monotonic()
    rng = random.Random(seed)
    free = problem.free_keys()
    tried = 0
    candidates = ([start] if start is not None else []) + [None] * starts
    for candidate in candidates:
        if deadline is not None and time.monotonic() > deadline:
            break
        point = candidate if candidate is not None else random_start(problem, rng)
        tried += 1
        try:
            centre = refine(problem, point, free, deadline)
            cert = certify(problem, centre, free, deadline=deadline) if centre is not None else None
        except (ArithmeticError, ValueError, np.linalg.LinAlgError):
            continue
        if cert is None:
            continue
        check = check_certificate(problem, cert, deadline)
        if not check.ok:  # certify proves what check_certificate re-proves: a disagreement is a bug, never a witness
            raise AssertionError(f"a certificate fails its own re-check: {check.reasons}")
        stats = SearchStats("real", 1, tried=tried, elapsed=time.monotonic() - started)
        return Outcome("found", problem, stats, witness=cert.center, recheck=None, domain="real", certificate=cert)
    return None

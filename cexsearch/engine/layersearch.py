"""Searching a layer model (:class:`cexsearch.model.Model`): one If-encoded query over its trace.

The question is the trace of :func:`cexsearch.semantics.trace` in the ``If`` form of
:class:`~cexsearch.engine.z3algebra.Z3Algebra` (every piece an activation, a max pool or
the loss takes is left to Z3), the conditions read over its environment, the fixed
values and the domain.  Z3's answer becomes a verdict like every strategy's: *found* only
after the exact re-check (:func:`cexsearch.numeric.recheck`) confirms the model's values,
*none* only when Z3 says unsat, *unknown* otherwise (timeout, ``--rlimit``, an
irrational model).  Enumeration and the linear strategy do not read layer models yet.
"""

from __future__ import annotations

import time
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import numpy as np
import z3

from .. import conditions as C
from .. import numeric
from ..errors import TooLarge
from ..solver import AlgebraicModel, PatternSolver, Sat, Unknown, Unsat
from ..spec import Index, Problem, SearchOptions, entries
from .encoding import Z3Backend
from .z3algebra import Z3Algebra, to_z3

if TYPE_CHECKING:  # search imports this module lazily
    from ..search import Outcome

# auto has no enumeration to fall back on for layer models yet, so its one query gets a default
# budget instead of running unbounded (an explicit --timeout, --rlimit or --strategy ifencode wins)
AUTO_SECONDS = 60.0


class LayerEncoding:
    """Z3 variables for a layer problem's free values (what :class:`PatternSolver` reads)."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        model = problem.network
        fixed = problem.fixed.as_dict()
        dom = problem.domain
        grid = dom.grid
        targets = numeric.loss_targets(model)
        self.free: dict[tuple[str, Index], Any] = {}
        self.domain: list[Any] = []
        self.values: dict[str, np.ndarray] = {}
        for name in model.variable_names():
            shape = model.shape(name, problem.samples)
            arr = np.empty(shape, dtype=object)
            for idx in entries(shape):
                if (name, idx) in fixed:
                    arr[idx] = fixed[(name, idx)]
                    continue
                label = name + "".join(f"_{i}" for i in idx)
                v = z3.Real(label) if grid is None else z3.ToReal(z3.Int(label))
                if grid is not None and grid != 1:
                    v = v / grid
                self.free[(name, idx)] = v
                arr[idx] = v
                for limit in (dom.bound, dom.max_abs):
                    if limit is not None:
                        self.domain += [v >= to_z3(-limit), v <= to_z3(limit)]
                if name == "y" and targets:  # hinge: each target is -1 or 1
                    self.domain.append(z3.Or([v == to_z3(t) for t in targets]))
            self.values[name] = arr
        if dom.max_nonzero is not None or dom.max_abs_sum is not None:
            raise TooLarge("shrinking limits are not supported for layer models yet")

    def query(self) -> list[Any]:
        """The trace's constraints and every condition, over the If form."""
        model = self.problem.network
        params = {p: self.values[p] for p in model.parameter_names()}
        t = _trace(model, params, self.values["x"], self.values["y"])
        env = dict(t.environment())
        env.update(self.values)
        backend = Z3Backend()
        return list(t.constraints) + [backend.and_([C.holds(c, env, backend) for c in self.problem.conditions])]


def _trace(model: Any, params: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray) -> Any:
    from ..semantics import trace

    return trace(model, params, x, y, Z3Algebra())


def confirm_layers(problem: Problem, values: dict[tuple[str, Index], Fraction], stats: Any) -> Outcome:
    """Replay a Z3 model through the exact re-check (:func:`cexsearch.search.confirm`): never an unconfirmed witness."""
    from ..search import confirm

    return confirm(problem, values, stats)


def search_layers(problem: Problem, options: SearchOptions, deadline: float | None) -> Outcome:
    """Decide a layer problem with one If-encoded query (strategies auto and ifencode)."""
    from ..search import Outcome, SearchStats

    if options.strategy not in ("auto", "ifencode"):
        raise TooLarge(f"--strategy {options.strategy} is not yet supported for layer models",
                       hint="use --strategy auto")
    name = "ifencode" if options.strategy == "ifencode" else "auto: ifencode"
    started = time.monotonic()
    capped = options.strategy == "auto" and deadline is None and options.rlimit is None
    if capped:
        deadline = started + AUTO_SECONDS
    total = problem.network.pattern_count(problem.samples)  # type: ignore[attr-defined]
    enc = LayerEncoding(problem)
    ps = PatternSolver(enc, seed=options.seed, rlimit=options.rlimit, kind="smt")  # type: ignore[arg-type]
    ps.add(*enc.query())

    def stats(**kw: int) -> SearchStats:
        return SearchStats(name, total, solver_checks=ps.checks, elapsed=time.monotonic() - started, **kw)

    try:
        answer = ps.check(deadline)
    except KeyboardInterrupt:
        return Outcome("unknown", problem, stats(), reason="interrupted", interrupted=True)
    if isinstance(answer, Unsat):
        return Outcome("none", problem, stats(tried=total), audit=(("*", "unsat: one If-encoded query", total),))
    if isinstance(answer, Sat):
        try:
            values = ps.rational_model(deadline)
        except AlgebraicModel as e:
            return Outcome("unknown", problem, stats(), reason="only an irrational witness was found: " + str(e),
                           algebraic=tuple(e.values))
        return confirm_layers(problem, values, stats(tried=1))
    assert isinstance(answer, Unknown)
    why = answer.reason
    if capped and answer.reason == "timeout":
        why = f"auto's default budget of {AUTO_SECONDS:g} s for a layer model; give --timeout SECONDS to allow longer"
    return Outcome("unknown", problem, stats(), reason=f"the If-encoded query was not decided ({why})")

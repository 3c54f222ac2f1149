"""Search for a witness: strategies behind one interface, and their scheduling.

Every strategy answers *found* (with a witness confirmed by
:func:`cexsearch.semantics.numeric.recheck`), *none* (proven: every activation pattern
decided unsatisfiable) or *unknown* (with the reason), and all are driven by
the same :class:`cexsearch.engine.encoding.Encoding`:

``enumerate``
    Activation patterns as a tree, sample by sample and unit by unit, on one
    incremental solver (each node pushes one sign constraint; a leaf pushes the
    gradient conditions).  A constant pre-activation leaves one branch only; a
    sample whose sign constraints are infeasible cuts its whole subtree; and
    when units or samples are interchangeable (:mod:`cexsearch.engine.symmetry`) one
    pattern per orbit is visited.  Subtrees can be spread over processes.
``enumerate-plain``
    Every pattern separately, no pruning, no symmetry: the reference the
    others are tested against.
``ifencode``
    One query in which Z3 splits on the ReLUs itself (``If`` terms); settles
    many UNSAT cases at once.
``linear``
    Fix weights and inputs to small or structured values; with targets ``y``
    free every gradient is then linear in the residuals and Z3 decides at once.
    Incomplete: it can only ever say *found*.
``auto``
    The portfolio: ``ifencode`` and ``linear`` in short time slices, then
    ``enumerate`` for the rest; the first definitive answer wins.

The engine never prints: it reports through a ``progress`` callback.
"""


from __future__ import annotations

import math
import time
from dataclasses import replace

from ..errors import SpecError, TooLarge
from ..model.network import Network
from ..model.problem import Problem
from .decompose import unit_relaxation
from .encoding import sites_of
from .enumerate import Enumeration
from .options import SearchOptions
from .outcome import (
    AUDIT_LIMIT,
    Outcome,
    PatternBits,
    Progress,
    SearchStats,
    Verdict,
    confirm,
    pattern_count_text,
    raw_pattern_count,
)
from .parallel import parallel_enumeration, run_subtree
from .runs import RunSampling
from .strategies import IfEncoding, LinearStrategy, if_encoded_constraints
from .symmetry import detect

__all__ = ["AUDIT_LIMIT", "STRATEGIES", "Enumeration", "IfEncoding", "LinearStrategy", "Outcome", "PatternBits",
           "Progress", "SearchStats", "Verdict", "confirm", "if_encoded_constraints", "parallel_enumeration",
           "pattern_count_text", "raw_pattern_count", "run_subtree", "search", "search_or_unknown"]

STRATEGIES = ("auto", "enumerate", "enumerate-plain", "ifencode", "linear")
# Beyond this many patterns, even one per symmetry orbit, an exhaustive enumeration is refused up front
# (unless forced).
REACHABLE_PATTERNS = 2**40
IF_SLICE_RLIMIT = 700_000  # about a second of Z3 work on this project's machines
LINEAR_SLICE_TRIES = 32  # 10-10-1 at 2 samples needed 15 in one seed


def orbit_bound(problem: Problem) -> int:
    """The raw patterns over the order of the symmetry group the enumeration breaks: it visits at least
    one pattern an orbit, so at least this many.  1-16-1 x 4 has 2^64 raw patterns, which the old
    refusal turned away, and about 2^15 orbits, enumerated in half a minute."""
    total = raw_pattern_count(problem)
    if total <= REACHABLE_PATTERNS:
        return total
    symmetry = detect(problem)
    order = math.factorial(problem.samples) if symmetry.samples else 1
    net = problem.network
    for k in symmetry.layers:  # k: an enumerated activation, 1-based; its channels are interchangeable
        order *= math.factorial(net.widths[k] if isinstance(net, Network) else sites_of(net)[k - 1].shape[0])
    return -(-total // order)


def _enumerate(problem: Problem, options: SearchOptions, progress: Progress | None, deadline: float | None,
               plain: bool = False) -> Outcome:
    if plain:
        return Enumeration(problem, options, progress, use_symmetry=False, prune=False, deadline=deadline).run()
    if (options.jobs > 1 or options.cluster is not None) and raw_pattern_count(problem) > 64:
        return parallel_enumeration(problem, options, progress, deadline)
    return Enumeration(problem, options, progress, deadline=deadline).run()


def _portfolio(problem: Problem, options: SearchOptions, progress: Progress | None, deadline: float | None) -> Outcome:
    """ifencode and linear in short slices, then enumeration with what is left; first definitive answer wins."""
    started = time.monotonic()
    total = raw_pattern_count(problem)
    notes: list[str] = []

    def until(seconds: float) -> float:
        t = time.monotonic() + seconds
        return t if deadline is None else min(t, deadline)

    def finish(out: Outcome) -> Outcome:
        return replace(out, stats=replace(out.stats, elapsed=time.monotonic() - started,
                                          strategy=f"auto: {out.stats.strategy}"))

    hopeless = not options.force and orbit_bound(problem) > REACHABLE_PATTERNS  # enumeration cannot finish
    if problem.training is not None:  # Z3's nonlinear search is slow to find runs: concrete ones first
        out = RunSampling(problem, options, until(2.0)).run()
        if out.verdict == "found" or out.interrupted:
            return finish(out)
    if total > 1 and not hopeless:  # past reach, Z3 splitting on every ReLU is hopeless too
        # Slices are Z3 resource budgets (and try counts), not seconds, so the portfolio takes the
        # same path on a loaded machine as on an idle one: the same command gives the same witness.
        # The wall-clock caps are only a safety net.
        sliced = replace(options, rlimit=min(options.rlimit or IF_SLICE_RLIMIT, IF_SLICE_RLIMIT))
        out = IfEncoding(problem, sliced, until(10.0)).run()
        if out.verdict != "unknown" or out.interrupted:
            return finish(out)
        notes.append(out.reason or "")
    if total > 1 and problem.training is None:  # with training the linear strategy's system is not linear
        if any(name == "y" for name, _ in problem.free_keys()) or hopeless:
            # With enumeration out of reach the linear strategy gets the whole budget.
            out = LinearStrategy(problem, options, deadline if hopeless else until(30.0),
                                 max_tries=None if hopeless else LINEAR_SLICE_TRIES).run()
            if out.verdict == "found" or out.interrupted:
                return finish(out)
    if hopeless:
        return finish(Outcome("unknown", problem, SearchStats("enumerate", total, elapsed=time.monotonic() - started),
                              reason=f"{pattern_count_text(total)} activation patterns are beyond exhaustive search, even "
                                     "one per symmetry orbit, "
                                     "and the quick strategies found no witness; use fewer samples, fix values, "
                                     "or --force"))
    out = _enumerate(problem, options, progress, deadline)
    return finish(out)


DECOMPOSE_PATTERNS = 2**16  # the single-unit problem is tried first only while it is this small


def _decomposed(problem: Problem, options: SearchOptions) -> Outcome | None:
    """'none' from the single-unit relaxation's proof (engine/decompose.py), or None: not that form, or
    the relaxation has a witness or was not decided (then the search runs as usual)."""
    small = unit_relaxation(problem)
    if small is None or raw_pattern_count(small) > DECOMPOSE_PATTERNS:
        return None
    started = time.monotonic()
    out = search(small, replace(options, strategy="enumerate", jobs=1, cluster=None, decompose=False))
    if out.verdict != "none" or out.interrupted:
        return None
    total = raw_pattern_count(problem)
    how = (f"unit by unit: a witness would give one of the single-unit network {small.network.text} (unit j's "
           f"parameters, the same residuals), and that has none: all {pattern_count_text(out.stats.total_patterns)}"
           f" of its patterns decided unsatisfiable ({out.stats.tried} by the solver)")
    stats = SearchStats("decompose", total, solver_checks=out.stats.solver_checks,
                        elapsed=time.monotonic() - started, by_decomposition=total)
    return Outcome("none", problem, stats, audit=(("*", how, total),))


def search(problem: Problem, options: SearchOptions = SearchOptions(), progress: Progress | None = None) -> Outcome:
    """Decide whether a witness exists for ``problem``: the engine's entry point."""
    deadline = None if options.timeout is None else time.monotonic() + options.timeout
    strategy = options.strategy
    if strategy not in STRATEGIES:
        raise TooLarge(f"unknown strategy {strategy!r}", hint=f"use one of {', '.join(STRATEGIES)}")
    if not isinstance(problem.network, Network):
        from .bridge import mlp_twin, restate

        twin = mlp_twin(problem.network)
        if twin is not None:  # an MLP written as layers: the MLP engine decides it, the model's trace re-checks
            return restate(search(replace(problem, network=twin), options, progress), problem)
    link_loss = getattr(problem.network, "loss", None)
    if getattr(link_loss, "link", ""):
        if strategy not in ("auto", "ifencode"):
            raise SpecError(f"the {link_loss.name} loss is searched by --strategy auto",  # type: ignore[union-attr]
                           hint="drop --strategy (its probabilities are encoded in one query, not by pattern)")
        from .classify import search_classification
        return search_classification(problem, options, deadline)
    # before the size check: a relaxation's proof holds at any width
    if strategy in ("auto", "enumerate") and options.decompose:
        proved = _decomposed(problem, options)
        if proved is not None:
            return proved
    exhaustive = strategy in ("enumerate", "enumerate-plain") and not options.force
    orbits = strategy == "enumerate"  # enumerate-plain visits every pattern, symmetric or not
    if exhaustive and (orbit_bound(problem) if orbits else raw_pattern_count(problem)) > REACHABLE_PATTERNS:
        raise TooLarge(
            f"{problem.network.text} with {problem.samples} samples has "
            f"{pattern_count_text(raw_pattern_count(problem))} activation patterns, far beyond exhaustive "
            "enumeration" + (" even one per symmetry orbit" if orbits else ""),
            hint="use fewer samples, fix some values with --fix, --strategy auto, or --force to try anyway")
    if strategy == "auto":
        return _portfolio(problem, options, progress, deadline)
    if strategy == "ifencode":
        return IfEncoding(problem, options, deadline).run()
    if strategy == "linear":
        return LinearStrategy(problem, options, deadline).run()
    return _enumerate(problem, options, progress, deadline, plain=strategy == "enumerate-plain")


def search_or_unknown(problem: Problem, options: SearchOptions = SearchOptions(),
                      progress: Progress | None = None) -> Outcome:
    """:func:`search` for one case among many (a claim's sizes, a sweep's cells): a pattern space
    refused for its size is an *unknown* case with the reason, never an error that ends the run."""
    try:
        return search(problem, options, progress)
    except TooLarge as e:
        if options.strategy not in STRATEGIES:  # a bad option, not a size
            raise
        return Outcome("unknown", problem, SearchStats(options.strategy, raw_pattern_count(problem)),
                       reason=e.message)

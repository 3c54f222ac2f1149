"""Search for a witness: strategies behind one interface, and their scheduling.

Every strategy answers *found* (with a witness confirmed by
:func:`cexsearch.numeric.recheck`), *none* (proven: every activation pattern
decided unsatisfiable) or *unknown* (with the reason), and all are driven by
the same :class:`cexsearch.engine.encoding.Encoding`:

``enumerate``
    Activation patterns as a tree, sample by sample and unit by unit, on one
    incremental solver (each node pushes one sign constraint; a leaf pushes the
    gradient conditions).  A constant pre-activation leaves one branch only; a
    sample whose sign constraints are infeasible cuts its whole subtree; and
    when units or samples are interchangeable (:mod:`cexsearch.symmetry`) one
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
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any, Literal

from . import numeric
from .engine.encoding import Encoding, sites_of
from .engine.options import SearchOptions
from .errors import SolverDisagreement, TooLarge
from .model.network import Index, Network, entries
from .model.problem import Assignment, FixedValues, Problem
from .solver import AlgebraicModel, AlgebraicValue, PatternSolver, Sat, Unknown, Unsat
from .symmetry import Symmetry, detect

Verdict = Literal["found", "none", "unknown"]
PatternBits = tuple[tuple[bool, ...], ...]
STRATEGIES = ("auto", "enumerate", "enumerate-plain", "ifencode", "linear")
# Beyond this many raw patterns an exhaustive enumeration is refused up front (unless forced).
REACHABLE_PATTERNS = 2**40
IF_SLICE_RLIMIT = 700_000  # about a second of Z3 work on this project's machines
LINEAR_SLICE_TRIES = 32  # 10-10-1 at 2 samples needed 15 in one seed
AUDIT_LIMIT = 10_000  # audit records kept per search; the counts stay exact beyond it


@dataclass(frozen=True)
class SearchStats:
    strategy: str
    total_patterns: int
    tried: int = 0
    pruned: int = 0
    undecided: int = 0
    solver_checks: int = 0
    elapsed: float = 0.0
    by_symmetry: int = 0

    @property
    def remaining(self) -> int:
        return max(self.total_patterns - self.tried - self.pruned - self.undecided - self.by_symmetry, 0)

    def plus(self, other: SearchStats) -> SearchStats:
        return replace(self, tried=self.tried + other.tried, pruned=self.pruned + other.pruned,
                       undecided=self.undecided + other.undecided, solver_checks=self.solver_checks + other.solver_checks,
                       by_symmetry=self.by_symmetry + other.by_symmetry)


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
    symmetry: Symmetry | None = None
    # How each part of the pattern space was decided, for a 'none' verdict a reviewer can re-run
    audit: tuple[tuple[str, str, int], ...] = field(default_factory=tuple)  # (pattern prefix, how, patterns)
    shrink: tuple[str, ...] = field(default_factory=tuple)  # what shrinking proved or left open
    cross_checks: tuple[str, ...] = field(default_factory=tuple)


Progress = Callable[[SearchStats], None]


def pattern_count_text(n: int) -> str:
    """A pattern count a person can read: exact when short, a power of two as 2^k, else about 2^x (never rounded down)."""
    if n < 10**9:
        return str(n)
    if n & (n - 1) == 0:
        return f"2^{n.bit_length() - 1}"
    if n < 10**12:
        return str(n)
    return f"about 2^{math.log2(n):.2f}"  # never rounded down to a power of two: 2^30 - 3 is not 2^29


def raw_pattern_count(problem: Problem) -> int:
    net = problem.network
    if not isinstance(net, Network):  # a layer model: the patterns of its enumerated activations
        return 2 ** (problem.samples * sum(site.width for site in sites_of(net)))
    return 2 ** (problem.samples * net.hidden_units) if net.has_patterns else 1


def confirm(problem: Problem, values: dict[tuple[str, Index], Fraction], stats: SearchStats,
            bits: PatternBits | None = None, symmetry: Symmetry | None = None) -> Outcome:
    """Replay a model through the exact re-check; a disagreement is a loud error, never a witness."""
    full = dict(problem.fixed.as_dict())
    full.update(values)
    witness = Assignment.from_entries(problem.network, problem.samples, full)
    check = numeric.recheck(problem, witness)
    actual = tuple(tuple(bool(v) for layer in check.evaluation.pattern for v in layer[m])
                   for m in range(problem.samples)) if isinstance(problem.network, Network) and problem.network.has_patterns else None
    if not check.confirmed or (bits is not None and actual is not None and actual != bits):
        raise SolverDisagreement(
            "the solver's model fails the exact re-check: "
            + (f"conditions {check.failures()} do not hold" if not check.confirmed else
               f"activation pattern {actual} differs from the solver's {bits}")
            + f"; values: {dict((f'{n}{list(i)}', str(v)) for n, i, v in witness.items())}")
    return Outcome("found", problem, stats, witness=witness, recheck=check, pattern=actual, symmetry=symmetry)


class _Stop(Exception):
    pass


class _Found(Exception):
    def __init__(self, values: dict, bits: PatternBits) -> None:
        self.values = values
        self.bits = bits


class Enumeration:
    """Explicit pattern enumeration as a tree, on one incremental solver.

    ``prefix`` forces the first bits (row-major over samples x units): how a
    worker process runs one subtree.  Branches outside the prefix are not
    counted; the parent counted them.
    """

    name = "enumerate"

    def __init__(self, problem: Problem, options: SearchOptions, progress: Progress | None = None,
                 use_symmetry: bool = True, prune: bool = True, prefix: tuple[bool, ...] = (),
                 deadline: float | None = None, solver_kind: str = "nlsat", report: Problem | None = None) -> None:
        self.problem = problem
        self.report_problem = report or problem  # the problem a witness is confirmed against
        self.options = options
        self.progress = progress
        self.prune = prune
        self.prefix = prefix
        self.encoding = Encoding(problem)
        self.solver = PatternSolver(self.encoding, seed=options.seed, rlimit=options.rlimit, kind=solver_kind)
        self.H = len(self.encoding.units)
        self.M = problem.samples
        self.total = 2 ** (self.M * self.H)
        self.symmetry = detect(problem) if use_symmetry and self.H else Symmetry(False, frozenset())
        # symmetric[u] is True when unit u-1 and unit u are interchangeable (same symmetric layer)
        self.col_pair = [False] * self.H
        for u in range(1, self.H):
            a, b = self.encoding.units[u - 1], self.encoding.units[u]
            self.col_pair[u] = a.layer == b.layer and a.layer in self.symmetry.layers
        self.tried = self.pruned = self.undecided = self.by_symmetry = 0
        self.audit: list[tuple[str, str, int]] = []
        self.reasons: list[str] = []
        self.algebraic: list[AlgebraicValue] = []
        self.deadline = deadline
        self.started = 0.0
        self._last_report = 0.0
        if not prune:
            self.name = "enumerate-plain"

    def stats(self) -> SearchStats:
        return SearchStats(self.name, self.total, self.tried, self.pruned, self.undecided, self.solver.checks,
                           time.monotonic() - self.started, self.by_symmetry)

    def _report(self, force: bool = False) -> None:
        if self.progress is None:
            return
        now = time.monotonic()
        if force or now - self._last_report > 0.1:
            self._last_report = now
            self.progress(self.stats())

    def run(self) -> Outcome:
        self.started = time.monotonic()
        if self.deadline is None and self.options.timeout is not None:
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
            self.tried += 1
            self._report(force=True)
            values = {**self.problem.fixed.as_dict(), **f.values}
            return confirm(self.report_problem, values, self.stats(), f.bits, self.symmetry)
        except _Stop:
            pass
        except KeyboardInterrupt:
            return Outcome("unknown", self.problem, self.stats(), reason="interrupted", interrupted=True)
        self._report(force=True)
        return self._verdict()

    def _verdict(self) -> Outcome:
        stats = self.stats()
        if self.prefix:  # a subtree: its own counts only
            stats = replace(stats, total_patterns=stats.tried + stats.pruned + stats.undecided + stats.by_symmetry)
        if self.undecided or self.reasons:
            why = "; ".join(sorted(set(self.reasons))) or "timeout"
            left = stats.undecided + stats.remaining
            reason = f"{pattern_count_text(left)} of {pattern_count_text(self.total)} patterns undecided ({why})"
            if self.algebraic:
                reason += "; only irrational witnesses were found: " + "; ".join(a.describe() for a in self.algebraic)
            return Outcome("unknown", self.problem, stats, reason=reason, algebraic=tuple(self.algebraic),
                           symmetry=self.symmetry)
        return Outcome("none", self.problem, stats, symmetry=self.symmetry, audit=tuple(self.audit))

    def _record(self, bits: list[list[bool | None]], upto: int, how: str, patterns: int) -> None:
        if len(self.audit) < AUDIT_LIMIT:
            flat = "".join("1" if b else "0" for row in bits for b in row[: self.H] if b is not None)[: upto + 1]
            rows = "|".join(flat[i:i + self.H] for i in range(0, len(flat), self.H)) if self.H else ""
            self.audit.append((rows, how, patterns))

    def stop(self) -> None:
        """Make the search stop soon, from another thread: what is left stays undecided."""
        self.deadline = time.monotonic()
        self.solver.interrupt()

    def _timed_out(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def canonical(self, bits: list[list[bool | None]], m: int, u: int, choice: bool) -> bool:
        """Whether setting bit (m, u) keeps rows and symmetric columns in lexicographic order."""
        if self.col_pair[u] and not choice and bits[m][u - 1]:
            # columns u-1 and u equal on rows < m: need bit(m, u-1) <= bit(m, u)
            if all(bits[r][u - 1] == bits[r][u] for r in range(m)):
                return False
        if self.symmetry.samples and m > 0 and not choice and bits[m - 1][u]:
            # rows m-1 and m equal on units < u: need bit(m-1, u) <= bit(m, u)
            if all(bits[m - 1][v] == bits[m][v] for v in range(u)):
                return False
        return True

    def _node(self, pos: int, bits: list[list[bool | None]], dirty: bool) -> None:
        if self._timed_out():
            self.reasons.append("timeout")
            raise _Stop
        if pos == self.M * self.H:
            self._leaf(bits)
            return
        m, u = divmod(pos, self.H)
        below = 2 ** (self.M * self.H - pos - 1)
        choices = (self.prefix[pos],) if pos < len(self.prefix) else (True, False)
        for choice in choices:
            if not self.canonical(bits, m, u, choice):
                self.by_symmetry += below
                self._record(bits, pos - 1, f"covered by symmetry (next bit {int(choice)})", below)
                continue
            constraint = self.encoding.unit_sign(m, u, bits[m], choice)
            if constraint is False:
                self.pruned += below
                self._record(bits, pos - 1, f"fixed values decide the sign (next bit {int(choice)} impossible)", below)
                continue
            bits[m][u] = choice
            self.solver.push()
            try:
                added = dirty
                if constraint is not True:
                    self.solver.add(constraint)
                    added = True
                sample_done = u == self.H - 1 and pos + 1 < self.M * self.H
                if self.prune and sample_done and added:
                    answer = self.solver.check(self.deadline)
                    if isinstance(answer, Unsat):
                        self.pruned += below
                        self._record(bits, pos, "sign constraints unsat", below)
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
            self.solver.add(self.encoding.conditions(bits), *self.encoding.definitions(bits))
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
                self._record(bits, self.M * self.H, "unsat", 1)
            else:
                assert isinstance(answer, Unknown)
                self.undecided += 1
                self.reasons.append(answer.reason)
                if answer.reason == "timeout":
                    raise _Stop
        finally:
            self.solver.pop()

    def prefixes(self, depth: int) -> list[tuple[bool, ...]]:
        """Subtree roots at ``depth`` bits that survive symmetry and constant pruning (no solver calls).

        The leaves cut on the way are counted here, so parent and workers together count every pattern once.
        """
        out: list[tuple[bool, ...]] = []
        bits: list[list[bool | None]] = [[None] * self.H for _ in range(self.M)]

        def walk(pos: int, path: tuple[bool, ...]) -> None:
            if pos == depth:
                out.append(path)
                return
            m, u = divmod(pos, self.H)
            below = 2 ** (self.M * self.H - pos - 1)
            for choice in (True, False):
                if not self.canonical(bits, m, u, choice):
                    self.by_symmetry += below
                    continue
                if self.encoding.unit_sign(m, u, bits[m], choice) is False:
                    self.pruned += below
                    continue
                bits[m][u] = choice
                walk(pos + 1, path + (choice,))
                bits[m][u] = None

        walk(0, ())
        return out


def _worker_init() -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops the workers


SubtreeAnswer = tuple[str, dict | None, SearchStats, list[str], list[tuple[str, str, int]]]


def run_subtree(problem: Problem, options: SearchOptions, prefix: tuple[bool, ...], wall_deadline: float | None,
                started: Callable[[Enumeration], None] | None = None) -> SubtreeAnswer:
    """One subtree, in a worker: rebuilt from the frozen problem, answered as plain data.

    ``wall_deadline`` is a ``time.time()`` instant, which means the same in every
    process; ``started`` receives the enumeration so that a watcher can stop it.
    """
    deadline = None if wall_deadline is None else time.monotonic() + (wall_deadline - time.time())
    e = Enumeration(problem, options, use_symmetry=True, prefix=prefix, deadline=deadline)
    if started is not None:
        started(e)
    out = e.run()
    values = None
    if out.verdict == "found" and out.witness is not None:
        values = {(n, i): v for n, i, v in out.witness.items()}
    # The enumeration's own reasons, not out.reason: that one is "N of M patterns undecided (reasons)",
    # which the collector would nest inside its own count of the same kind.
    why = list(e.reasons)
    if out.verdict == "unknown" and not why:
        why.append("timeout")
    if e.algebraic:
        why.append("only irrational witnesses were found: " + "; ".join(a.describe() for a in e.algebraic))
    return out.verdict, values, out.stats, why, e.audit


class LocalPool:
    """Subtrees on worker processes of this machine."""

    lost: tuple[type[BaseException], ...]

    def __init__(self, jobs: int) -> None:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor
        from concurrent.futures.process import BrokenProcessPool

        self.workers = jobs
        self.lost = (BrokenProcessPool,)
        ctx = mp.get_context("forkserver")
        # The fork server imports the engine once and forks workers that have it: each worker
        # no longer imports Z3 and numpy itself (0.2-0.3 s per search saved on two cores).
        ctx.set_forkserver_preload(["cexsearch.search"])
        self.pool = ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_worker_init)

    def submit(self, problem: Problem, options: SearchOptions, prefix: tuple[bool, ...],
               wall_deadline: float | None) -> Any:
        return self.pool.submit(run_subtree, problem, options, prefix, wall_deadline)

    def close(self) -> None:
        for proc in list(getattr(self.pool, "_processes", {}).values()):
            proc.terminate()
        self.pool.shutdown(wait=False, cancel_futures=True)


def parallel_enumeration(problem: Problem, options: SearchOptions, progress: Progress | None,
                         deadline: float | None) -> Outcome:
    """Enumerate with subtrees spread over ``options.jobs`` processes, or a Dask cluster.

    Subtrees are answered in order, so the first witness in enumeration order wins
    and the answer is the same as with one process.  A worker that dies makes the
    verdict unknown, never 'none'.
    """
    started = time.monotonic()
    root = Enumeration(problem, options)
    if root.H == 0:
        return root.run()
    if options.cluster is not None:
        from .engine.cluster import DaskPool

        pool: LocalPool | DaskPool = DaskPool(options.cluster)
    else:
        pool = LocalPool(options.jobs)
    try:
        depth = 0
        roots: list[tuple[bool, ...]] = [()]
        while depth < root.M * root.H and len(roots) < 8 * pool.workers:
            depth = min(depth + max(1, root.H // 2), root.M * root.H)
            root.by_symmetry = root.pruned = 0
            roots = root.prefixes(depth)
        if len(roots) <= 1:
            return Enumeration(problem, options, progress, deadline=deadline).run()
        return _collect(problem, options, progress, deadline, pool, root, roots, started)
    finally:
        pool.close()


def _collect(problem: Problem, options: SearchOptions, progress: Progress | None, deadline: float | None,
             pool: Any, root: Enumeration, roots: list[tuple[bool, ...]], started: float) -> Outcome:
    """Submit every subtree, then read the answers in enumeration order."""
    wall_deadline = None if deadline is None else time.time() + (deadline - time.monotonic())
    stats = SearchStats("enumerate", root.total, pruned=root.pruned, by_symmetry=root.by_symmetry)
    reasons: list[str] = []
    audit: list[tuple[str, str, int]] = []
    try:
        futures = [pool.submit(problem, options, p, wall_deadline) for p in roots]
        for fut in futures:
            verdict, values, sub, why, records = fut.result()
            stats = stats.plus(sub)
            reasons += why
            audit += records[: max(AUDIT_LIMIT - len(audit), 0)]
            if progress is not None:
                progress(replace(stats, elapsed=time.monotonic() - started))
            if verdict == "found" and values is not None:
                stats = replace(stats, elapsed=time.monotonic() - started)
                return confirm(problem, values, stats, symmetry=root.symmetry)
    except pool.lost as e:
        stats = replace(stats, elapsed=time.monotonic() - started)
        return Outcome("unknown", problem, stats, symmetry=root.symmetry,
                       reason=f"a worker process died ({type(e).__name__}); the patterns it held are undecided")
    except KeyboardInterrupt:
        return Outcome("unknown", problem, replace(stats, elapsed=time.monotonic() - started), reason="interrupted",
                       interrupted=True, symmetry=root.symmetry)
    stats = replace(stats, elapsed=time.monotonic() - started)
    if reasons or stats.undecided or stats.remaining:
        summary = "; ".join(sorted(set(reasons))) or "timeout"
        return Outcome("unknown", problem, stats, symmetry=root.symmetry,
                       reason=f"{pattern_count_text(stats.undecided + stats.remaining)} of {pattern_count_text(stats.total_patterns)} patterns undecided ({summary})")
    return Outcome("none", problem, stats, symmetry=root.symmetry, audit=tuple(audit))


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
    units; then plain small integers.  It can only find, never prove.
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
        live_options = [1, 2, 3] if net.hidden_units else [0]
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
                    dead = family in (0, 1) and k < net.depth and unit >= live
                    if name.startswith("W"):
                        if dead:
                            vals[(name, idx)] = Fraction(0)
                        elif family == 2 and k < net.depth and unit > 0:
                            vals[(name, idx)] = vals.get((name, (0,) + idx[1:]), self._value(rng, -2, 2))
                        else:
                            vals[(name, idx)] = self._value(rng, -2, 2, nonzero=family == 1)
                    else:
                        if dead:
                            bound = self.problem.domain.bound
                            vals[(name, idx)] = Fraction(-1) if bound is None or bound >= 1 else -bound
                        elif family == 2 and k < net.depth and unit > 0:
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
        for vals in self.candidates(rng):
            left = None if self.deadline is None else self.deadline - time.monotonic()
            if left is not None and left <= 0:
                break
            tries += 1
            # Every other try leaves only the first few samples' targets free and gives the rest a
            # zero residual (y = yhat), which drops them from every gradient: the solver then sees
            # a handful of unknowns instead of M (a 64-sample system took Z3 seconds).
            free_samples = M if tries % 2 == 0 else min(M, 8)
            if free_samples < M:
                vals = dict(vals)
                yhat = self._yhat(vals)
                for m in range(free_samples, M):
                    for o in range(self.problem.network.widths[-1]):
                        if ("y", (m, o)) not in user_fixed:
                            vals[("y", (m, o))] = yhat[m, o]
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

    hopeless = total > REACHABLE_PATTERNS and not options.force  # enumeration cannot finish
    if total > 1 and not hopeless:  # past reach, Z3 splitting on every ReLU is hopeless too
        # Slices are Z3 resource budgets (and try counts), not seconds, so the portfolio takes the
        # same path on a loaded machine as on an idle one: the same command gives the same witness.
        # The wall-clock caps are only a safety net.
        sliced = replace(options, rlimit=min(options.rlimit or IF_SLICE_RLIMIT, IF_SLICE_RLIMIT))
        out = IfEncoding(problem, sliced, until(10.0)).run()
        if out.verdict != "unknown" or out.interrupted:
            return finish(out)
        notes.append(out.reason or "")
    if total > 1:
        linear_reads = isinstance(problem.network, Network)  # the linear strategy is written for MLPs
        if linear_reads and (any(name == "y" for name, _ in problem.free_keys()) or hopeless):
            # With enumeration out of reach the linear strategy gets the whole budget.
            out = LinearStrategy(problem, options, deadline if hopeless else until(30.0),
                                 max_tries=None if hopeless else LINEAR_SLICE_TRIES).run()
            if out.verdict == "found" or out.interrupted:
                return finish(out)
    if hopeless:
        return finish(Outcome("unknown", problem, SearchStats("enumerate", total, elapsed=time.monotonic() - started),
                              reason=f"{pattern_count_text(total)} activation patterns are beyond exhaustive search "
                                     "and the quick strategies found no witness; use fewer samples, fix values, "
                                     "or --force"))
    out = _enumerate(problem, options, progress, deadline)
    return finish(out)


def search(problem: Problem, options: SearchOptions = SearchOptions(), progress: Progress | None = None) -> Outcome:
    """Decide whether a witness exists for ``problem``: the engine's entry point."""
    deadline = None if options.timeout is None else time.monotonic() + options.timeout
    strategy = options.strategy
    if strategy not in STRATEGIES:
        raise TooLarge(f"unknown strategy {strategy!r}", hint=f"use one of {', '.join(STRATEGIES)}")
    if not isinstance(problem.network, Network):
        from .engine.bridge import mlp_twin, restate

        twin = mlp_twin(problem.network)
        if twin is not None:  # an MLP written as layers: the MLP engine decides it, the model's trace re-checks
            return restate(search(replace(problem, network=twin), options, progress), problem)
        if strategy == "linear":
            raise TooLarge("--strategy linear is not yet supported for layer models", hint="use --strategy auto")
    total = raw_pattern_count(problem)
    if strategy in ("enumerate", "enumerate-plain") and total > REACHABLE_PATTERNS and not options.force:
        raise TooLarge(
            f"{problem.network.text} with {problem.samples} samples has {pattern_count_text(total)} activation "
            "patterns, far beyond exhaustive enumeration",
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

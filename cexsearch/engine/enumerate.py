"""The ``enumerate`` strategy: activation patterns as a tree on one incremental solver (see
:mod:`cexsearch.engine.search`)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace

from ..interrupt import check as check_interrupt
from ..model.problem import Problem
from .encoding import Encoding
from .learn import Core, Cores, Literal, close, describe
from .options import SearchOptions
from .outcome import AUDIT_LIMIT, Outcome, PatternBits, Progress, SearchStats, confirm, pattern_count_text
from .solver import AlgebraicModel, AlgebraicValue, PatternSolver, Sat, Unknown, Unsat
from .stackpad import padded
from .symmetry import Symmetry, detect

PRUNE_RLIMIT = 2_000_000  # about three seconds of Z3 work: a sample's sign constraints usually take milliseconds


@dataclass
class Kept:
    """What a worker keeps between subtrees of one search: the encoding (its term caches: a subtree's
    first leaves no longer rebuild them), the solver at its base frame, and the learned cores."""

    encoding: Encoding
    solver: PatternSolver
    cores: Cores | None


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
                 deadline: float | None = None, solver_kind: str = "nlsat", report: Problem | None = None,
                 cores: Iterable[Core] = (), kept: Kept | None = None) -> None:
        self.problem = problem
        self.report_problem = report or problem  # the problem a witness is confirmed against
        self.options = options
        self.progress = progress
        self.prune = prune
        self.prefix = prefix
        learn = options.learn and prune  # the plain reference never learns
        if kept is not None:  # ``kept``: from an earlier subtree of the same search (a worker's)
            self.encoding, self.solver = kept.encoding, kept.solver
        else:
            self.encoding = Encoding(problem)
            self.solver = PatternSolver(self.encoding, seed=options.seed, rlimit=options.rlimit, kind=solver_kind,
                                        cores=learn)
        self.checks_before = self.solver.checks
        self.H = len(self.encoding.units)
        self.M = problem.samples
        self.total = 2 ** (self.M * self.H)
        self.symmetry = detect(problem) if use_symmetry and self.H else Symmetry(False, frozenset())
        # partner[u]: the unit at the same position one channel (an MLP: one unit) back, when the
        # channels of u's activation are interchangeable; block[u]: the channel's size in units
        self.partner: list[int | None] = [None] * self.H
        self.block = [1] * self.H
        for u, unit in enumerate(self.encoding.units):
            site = self.encoding.sites[unit.layer - 1]
            size = site.width // site.shape[0]
            self.block[u] = size
            if unit.layer in self.symmetry.layers and unit.index >= size:
                self.partner[u] = u - size
        self.tried = self.pruned = self.undecided = self.by_symmetry = self.blocked = 0
        # below[u]: the units before unit u's activation, whose bits u's pre-activation reads
        starts: dict[int, int] = {}
        for u, unit in enumerate(self.encoding.units):
            starts.setdefault(unit.layer, u)
        self.below = [starts[unit.layer] for unit in self.encoding.units]
        self.cores: Cores | None = None
        if learn and self.H:
            # each interchangeable activation's channels, as lists of units (an MLP's hidden units: one each)
            channels = [[[starts[k] + c * size + q for q in range(size)]
                         for c in range(self.encoding.sites[k - 1].width // size)]
                        for k in sorted(self.symmetry.layers) for size in [self.block[starts[k]]]]
            self.cores = kept.cores if kept is not None and kept.cores is not None else \
                Cores(self.M, self.H, self.symmetry.samples, channels)
            for core in cores:  # learned elsewhere (another subtree): valid everywhere, see learn.py
                self.cores.add(core)
        self.shared = len(self.cores) if self.cores is not None else 0  # learned cores 1..shared came from elsewhere
        self.audit: list[tuple[str, str, int]] = []
        self.reasons: list[str] = []
        self.algebraic: list[AlgebraicValue] = []
        self.deadline = deadline
        self.started = 0.0
        self._last_report = 0.0
        if not prune:
            self.name = "enumerate-plain"

    def stats(self) -> SearchStats:
        return SearchStats(self.name, self.total, self.tried, self.pruned, self.undecided,
                           self.solver.checks - self.checks_before,
                           time.monotonic() - self.started, self.by_symmetry, self.blocked)

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
            stats = replace(stats, total_patterns=stats.tried + stats.pruned + stats.undecided + stats.by_symmetry
                            + stats.blocked)
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

    def kept(self) -> Kept:
        return Kept(self.encoding, self.solver, self.cores)

    def stop(self) -> None:
        """Make the search stop soon, from another thread: what is left stays undecided."""
        self.deadline = time.monotonic()
        self.solver.interrupt()

    def _timed_out(self) -> bool:
        check_interrupt()
        return self.deadline is not None and time.monotonic() >= self.deadline

    def canonical(self, bits: list[list[bool | None]], m: int, u: int, choice: bool) -> bool:
        """Whether setting bit (m, u) keeps rows and symmetric columns in lexicographic order."""
        p = self.partner[u]
        if p is not None and not choice and bits[m][p]:
            # channels c-1 and c (an MLP's units u-1 and u) equal on rows < m and on row m before this
            # position: need bit(m, p) <= bit(m, u)
            size = self.block[u]
            first = u - (self.encoding.units[u].index % size)  # channel c's first unit
            before = first - size
            if all(bits[r][before + q] == bits[r][first + q] for r in range(m) for q in range(size)) and \
                    all(bits[m][before + q] == bits[m][first + q] for q in range(u - first)):
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
            padded(self._leaf, bits, dirty)  # its term building on a stack chunk of its own (stackpad.py)
            return
        m, u = divmod(pos, self.H)
        # the patterns a cut here removes: inside a subtree's prefix, only the subtree's own (its siblings
        # under the same node belong to other workers)
        below = 2 ** (self.M * self.H - max(pos + 1, len(self.prefix)))
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
            hit = self.cores.blocking(bits, m, u, choice) if self.cores is not None else None
            if hit is not None:
                self.blocked += below
                self._record(bits, pos - 1, f"blocked by learned core #{hit[0]}: {describe(hit[1])} "
                                            f"(next bit {int(choice)})", below)
                continue
            bits[m][u] = choice
            self.solver.push()
            try:
                added = dirty
                if constraint is not True:
                    if self.cores is not None:
                        self.solver.add_tracked(f"sign_{m}_{u}_{int(choice)}", constraint)
                    else:
                        self.solver.add(constraint)
                    added = True
                sample_done = u == self.H - 1 and pos + 1 < self.M * self.H
                if self.prune and sample_done and added:
                    # Pruning is optional, so its check gets a budget: one that does not settle
                    # within it (nlsat can stall on a feasible sign system) only means going deeper.
                    answer = self.solver.check(self.deadline, budget=PRUNE_RLIMIT)
                    if isinstance(answer, Unsat):
                        self.pruned += below
                        how = "sign constraints unsat"
                        if self.cores is not None:
                            number = self._learn(bits)
                            how += f", learned core #{number}" if number else ""
                        self._record(bits, pos, how, below)
                        continue
                    added = False
                if sample_done:  # the next sample's levels on a stack chunk of their own (stackpad.py)
                    padded(self._node, pos + 1, bits, added)
                else:
                    self._node(pos + 1, bits, added)
            finally:
                self.solver.pop()
                bits[m][u] = None
            self._report()

    def _learn(self, bits: list[list[bool | None]]) -> int | None:
        """Turn the last unsat sign check's core into a learned core; its number, or None if known."""
        assert self.cores is not None
        names = [n for n in self.solver.core() if n.startswith("sign_")]
        # Shrink it, one literal at a time (last decided first): a smaller core blocks more patterns, and
        # each try is one sign check of milliseconds.  A try that does not settle keeps the literal.
        for name in sorted(names, key=lambda n: -self._position(n)):
            if len(names) > 1 and name in names:
                rest = [n for n in names if n != name]
                if isinstance(self.solver.check(self.deadline, budget=PRUNE_RLIMIT, only=rest), Unsat):
                    used = set(self.solver.core())
                    names = [n for n in rest if n in used] or rest
        literals: list[Literal] = []
        for name in names:
            _, m, u, b = name.split("_")
            literals.append((int(m), int(u), b == "1"))
        core = close(literals, bits, self.below)
        return len(self.cores) if self.cores.add(core) else None

    def _position(self, name: str) -> int:
        _, m, u, _ = name.split("_")
        return int(m) * self.H + int(u)

    def _leaf(self, bits: list[list[bool | None]], dirty: bool) -> None:
        frozen = tuple(tuple(bool(b) for b in row[: self.H]) for row in bits)
        self.solver.push()
        try:
            # Asserted plainly, the sign constraints with them: nlsat can stall for a minute on a leaf in
            # the tracked form (implications under assumptions) that it decides in milliseconds plainly.
            if self.cores is not None:
                self.solver.assert_tracked()
            self.solver.add(self.encoding.conditions(bits), *self.encoding.definitions(bits))
            answer = self.solver.check(self.deadline, only=())
            if isinstance(answer, Sat):
                try:
                    values = self.solver.rational_model(self.deadline)
                except AlgebraicModel as e:
                    self.algebraic.extend(e.values)
                    self.undecided += 1
                    self.reasons.append("irrational model")
                    return
                raise _Found(values, frozen)
        finally:
            self.solver.pop()
        if isinstance(answer, Unsat):
            learned = None
            if self.cores is not None and dirty:
                # The last sample's sign constraints were not checked on their own (pruning checks a
                # sample when the next starts): a conflict among them is a core valid everywhere
                # (learn.py); one that needs the conditions reads the whole pattern and teaches nothing.
                if isinstance(self.solver.check(self.deadline, budget=PRUNE_RLIMIT), Unsat):
                    learned = self._learn(bits)
            self.tried += 1
            self._record(bits, self.M * self.H, "unsat" + (f", learned core #{learned}" if learned else ""), 1)
        else:
            assert isinstance(answer, Unknown)
            self.undecided += 1
            self.reasons.append(answer.reason)
            if answer.reason == "timeout":
                raise _Stop

    def prefixes(self, depth: int, under: tuple[bool, ...] = ()) -> list[tuple[bool, ...]]:
        """Subtree roots at ``depth`` bits that survive symmetry and constant pruning (no solver calls),
        all of them or those extending the root ``under`` (to split one subtree further).

        The leaves cut on the way are counted (and recorded in the audit) here, so parent and workers
        together count every pattern once.
        """
        out: list[tuple[bool, ...]] = []
        bits: list[list[bool | None]] = [[None] * self.H for _ in range(self.M)]
        for pos, b in enumerate(under):
            bits[pos // self.H][pos % self.H] = b

        def walk(pos: int, path: tuple[bool, ...]) -> None:
            if pos == depth:
                out.append(path)
                return
            m, u = divmod(pos, self.H)
            below = 2 ** (self.M * self.H - pos - 1)
            for choice in (True, False):
                if not self.canonical(bits, m, u, choice):
                    self.by_symmetry += below
                    self._record(bits, pos - 1, f"covered by symmetry (next bit {int(choice)})", below)
                    continue
                if self.encoding.unit_sign(m, u, bits[m], choice) is False:
                    self.pruned += below
                    self._record(bits, pos - 1, f"fixed values decide the sign (next bit {int(choice)} impossible)",
                                 below)
                    continue
                bits[m][u] = choice
                walk(pos + 1, path + (choice,))
                bits[m][u] = None

        walk(len(under), under)
        return out


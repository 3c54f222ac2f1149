"""Enumeration with its subtrees spread over local processes or a Dask cluster, answered in order."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from ..model.problem import Problem
from .enumerate import Enumeration, Kept
from .learn import Core
from .options import SearchOptions
from .outcome import AUDIT_LIMIT, Outcome, Progress, SearchStats, confirm, pattern_count_text

POLL_SECONDS = 0.01  # how often the collector looks for answers that arrived out of order
# Times the last root is split again.  Measured on 1-10-1 x 4 (no bias, learning only, 2 workers): wall
# 5.4 s with 2 splits, 4.4 s with 4, 4.2 s with 6; past that its last root is a few leaves.
LAST_ROOT_SPLITS = 6


def _worker_init(parent: int | None = None) -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops the workers
    if parent is not None:
        import threading

        threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()


def _exit_with(parent: int) -> None:
    """A worker ends when the search that started it is gone: a parent killed outright (SIGTERM,
    SIGKILL) cannot stop its workers, which then ran on for hours at full CPU (a Z3 check
    releases the GIL, so this thread still runs during one)."""
    import os
    import time

    while True:
        time.sleep(1.0)
        try:
            os.kill(parent, 0)
        except ProcessLookupError:
            os._exit(1)
        except PermissionError:  # the pid belongs to another user's process now: the parent is gone
            os._exit(1)


# verdict, witness values, counts, reasons, audit records, and the cores it learned itself
SubtreeAnswer = tuple[str, dict | None, SearchStats, list[str], list[tuple[str, str, int]], list[Core]]


# In a worker process: the encoding, solver and learned cores of the search it last ran a subtree of, by
# the search's token, so that the next subtree starts from them (its terms and the cores' images are not
# built again: on 1-10-1 x 4 the workers' time went from 9.6 s to 8.2 s).
_kept: dict[str, Kept] = {}


def run_subtree(problem: Problem, options: SearchOptions, prefix: tuple[bool, ...], wall_deadline: float | None,
                started: Callable[[Enumeration], None] | None = None, cores: Sequence[Core] = (),
                token: str | None = None) -> SubtreeAnswer:
    """One subtree, in a worker: rebuilt from the frozen problem, answered as plain data.

    ``wall_deadline`` is a ``time.time()`` instant, which means the same in every
    process; ``started`` receives the enumeration so that a watcher can stop it; ``cores`` were
    learned in other subtrees (valid in every subtree: see :mod:`cexsearch.engine.learn`).
    """
    deadline = None if wall_deadline is None else time.monotonic() + (wall_deadline - time.time())
    kept = _kept.get(token) if token is not None else None
    e = Enumeration(problem, options, use_symmetry=True, prefix=prefix, deadline=deadline, cores=cores, kept=kept)
    if started is not None:
        started(e)
    out = e.run()
    _kept.clear()
    if token is not None and e.solver.depth == 0:  # a solver left mid-frame (a crash) is not kept
        _kept[token] = e.kept()
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
    learned = e.cores.learned[e.shared:] if e.cores is not None else []
    return out.verdict, values, out.stats, why, e.audit, learned


class LocalPool:
    """Subtrees on worker processes of this machine."""

    lost: tuple[type[BaseException], ...]

    def __init__(self, jobs: int) -> None:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor
        from concurrent.futures.process import BrokenProcessPool

        self.workers = jobs
        self.token = uuid.uuid4().hex  # this search's, for the cores a worker keeps between its subtrees
        self.lost = (BrokenProcessPool,)
        ctx = mp.get_context("forkserver")
        # The fork server imports the engine once and forks workers that have it: each worker
        # no longer imports Z3 and numpy itself (0.2-0.3 s per search saved on two cores).
        ctx.set_forkserver_preload(["cexsearch.engine.search"])
        self.pool = ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_worker_init,
                                        initargs=(os.getpid(),))

    def submit(self, problem: Problem, options: SearchOptions, prefix: tuple[bool, ...],
               wall_deadline: float | None, cores: Sequence[Core] = ()) -> Any:
        return self.pool.submit(run_subtree, problem, options, prefix, wall_deadline, None, cores, self.token)

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
        from .cluster import DaskPool

        pool: LocalPool | DaskPool = DaskPool(options.cluster)
    else:
        pool = LocalPool(options.jobs)
    try:
        depth = 0
        roots: list[tuple[bool, ...]] = [()]
        while depth < root.M * root.H and len(roots) < 8 * pool.workers:
            depth = min(depth + max(1, root.H // 2), root.M * root.H)
            root.by_symmetry = root.pruned = 0
            root.audit.clear()
            roots = root.prefixes(depth)
        # With rows and columns in lexicographic order the last root, the least constrained, holds the
        # most patterns (measured: on 1-10-1 x 4 it took 3 s of 5, after every other had finished), so it
        # is split further into roots that extend it, and so is the last of those.
        for _ in range(LAST_ROOT_SPLITS):
            if len(roots) < 2 or depth >= root.M * root.H:
                break
            deeper = min(depth + max(1, root.H // 2), root.M * root.H)
            roots = roots[:-1] + root.prefixes(deeper, under=roots[-1])
            depth = deeper
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
    audit: list[tuple[str, str, int]] = list(root.audit)  # what the split itself cut
    # Subtrees are submitted a few at a time, each with the cores the answers so far have taught
    # (learned cores are valid in every subtree), so a conflict is learned once, not once a subtree.
    # At most two unfinished subtrees a worker: a subtree submitted later carries more cores.  Answers
    # are read in order, but every answer that arrives is harvested at once and a new subtree submitted
    # in its place (polled: local and Dask futures both say whether they are done).
    window = 2 * pool.workers
    futures: list[Any] = []
    known: set[Core] = set()
    shared: list[Core] = []
    harvested: set[int] = set()

    def harvest(i: int) -> None:
        if i in harvested or not futures[i].done():
            return
        try:
            answer = futures[i].result()
        except Exception:  # a lost subtree is reported when it is read, in order
            return
        harvested.add(i)
        for core in answer[5]:
            if core not in known:
                known.add(core)
                shared.append(core)

    def pump(i: int) -> None:
        for j in range(i, len(futures)):
            harvest(j)
        waiting = sum(1 for f in futures[i:] if not f.done())
        while len(futures) < len(roots) and waiting < window:
            futures.append(pool.submit(problem, options, roots[len(futures)], wall_deadline, tuple(shared)))
            waiting += 1

    try:
        for i in range(len(roots)):
            pump(i)
            while not futures[i].done():
                time.sleep(POLL_SECONDS)
                pump(i)
            verdict, values, sub, why, records, _ = futures[i].result()
            harvest(i)
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


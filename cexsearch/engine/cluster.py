"""Enumeration subtrees on an existing Dask cluster (the optional extra ``cexsearch[dask]``).

The parent process splits the pattern tree into subtrees, as for ``--jobs``, and
sends each one to the cluster as plain data: the frozen problem (exact
Fractions) and a prefix of activation bits.  A worker rebuilds the encoding
from the problem, so no Z3 object ever crosses the network, and answers with
plain data that the parent confirms with the exact re-check as always.

Z3's default context is shared by every thread of a process and is not
thread-safe, so a worker process runs one subtree at a time whatever its
``--nthreads``; start workers with ``dask worker ADDRESS --nthreads 1`` and one
worker process per core.

Stopping: a subtree stops at the search's deadline (a ``time.time()`` instant,
so worker clocks must agree to within the timeout's precision), and when the
parent is interrupted it sets a Dask ``Event`` that a watcher thread beside
each running subtree polls; the watcher stops the enumeration and interrupts
Z3.  Unstarted subtrees are cancelled.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

from .. import __version__
from ..errors import InputError
from ..model.problem import Problem
from .options import SearchOptions

CONNECT_SECONDS = 10
POLL_SECONDS = 0.2

_z3_lock = threading.Lock()  # one subtree per worker process: Z3's default context is not thread-safe
_clients: dict[str, Any] = {}


def versions() -> tuple[str, str]:
    """cexsearch's and Z3's versions in this process (run on every worker at connection)."""
    from .solver import z3_version

    return __version__, z3_version()


def client_for(address: str) -> Any:
    """A connected Dask client for ``address`` (one per address per process), checked for versions."""
    if address in _clients:
        return _clients[address]
    try:
        from distributed import Client
    except ImportError:
        raise InputError("--cluster needs Dask, which is not installed",
                         hint="pip install 'cexsearch[dask]'") from None
    from distributed.comm import resolve_address

    try:
        resolve_address(address)
    except (ValueError, OSError) as e:
        raise InputError(f"--cluster {address!r} is not a scheduler address ({e})",
                         hint="write tcp://HOST:PORT as 'dask scheduler' prints it, e.g. tcp://10.0.0.5:8786") from None
    try:
        client = Client(address, timeout=CONNECT_SECONDS, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as e:
        raise InputError(f"--cluster {address!r}: no Dask scheduler answered there ({e})",
                         hint="start one with 'dask scheduler' and workers with 'dask worker ADDRESS --nthreads 1', "
                              "or correct the address (e.g. tcp://10.0.0.5:8786)") from None
    try:
        if not client.nthreads():
            client.wait_for_workers(1, timeout=CONNECT_SECONDS)
    except TimeoutError:
        client.close()
        raise InputError(f"--cluster {address!r}: the scheduler has no workers (none joined within "
                         f"{CONNECT_SECONDS} s)", hint="start some with 'dask worker ADDRESS --nthreads 1'") from None
    try:
        found = client.run(versions)
    except Exception as e:  # workers that cannot import cexsearch fail here, not mid-search
        client.close()
        raise InputError(f"--cluster {address!r}: the workers cannot run cexsearch ({type(e).__name__}: {e})",
                         hint="install the same cexsearch and z3-solver on every worker") from None
    mine = versions()
    wrong = sorted(w for w, v in found.items() if tuple(v) != mine)
    if wrong:
        client.close()
        raise InputError(f"--cluster {address!r}: workers {', '.join(wrong)} run cexsearch/Z3 "
                         f"{tuple(found[wrong[0]])}, this process {mine}",
                         hint="install the same versions everywhere, so every subtree is decided alike")
    _clients[address] = client
    return client


def _subtree_on_worker(problem: Problem, options: SearchOptions, prefix: tuple[bool, ...],
                       wall_deadline: float | None, stop_name: str, cores: tuple = ()) -> Any:
    from distributed import Event, get_client

    from .search import Enumeration, run_subtree

    stop = Event(stop_name, client=get_client())
    with _z3_lock:
        if stop.is_set():
            raise InterruptedError("the search was stopped")
        running: list[Enumeration] = []
        done = threading.Event()

        def watch() -> None:
            # Until the subtree ends: an enumeration still being built when the stop is seen is stopped once it starts.
            stopped = False
            while not done.wait(POLL_SECONDS):
                try:
                    stopped = stopped or stop.is_set()
                except Exception:  # the scheduler is gone: the deadline still stops the subtree
                    return
                if stopped:
                    for e in running:
                        e.stop()

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            return run_subtree(problem, options, prefix, wall_deadline, started=running.append, cores=cores)
        finally:
            done.set()


class DaskPool:
    """Subtrees on a Dask cluster, with the interface of :class:`cexsearch.engine.search.LocalPool`."""

    def __init__(self, address: str) -> None:
        from distributed import Event, KilledWorker

        self.client = client_for(address)
        self.workers = max(1, sum(self.client.nthreads().values()))
        self.lost: tuple[type[BaseException], ...] = (KilledWorker, OSError)  # OSError: the connection dropped
        self.stop_name = f"cexsearch-stop-{uuid.uuid4().hex}"
        self.stop = Event(self.stop_name, client=self.client)
        self.futures: list[Any] = []

    def submit(self, problem: Problem, options: SearchOptions, prefix: tuple[bool, ...],
               wall_deadline: float | None, cores: tuple = ()) -> Any:
        # earlier subtrees first: answers are read in order, so a witness early in the tree ends the search early;
        # cores: those learned in the subtrees answered so far (see parallel._collect)
        fut = self.client.submit(_subtree_on_worker, problem, options, prefix, wall_deadline, self.stop_name,
                                 cores, pure=False, priority=-len(self.futures))
        self.futures.append(fut)
        return fut

    def close(self) -> None:
        try:
            self.stop.set()
            self.client.cancel(self.futures)
        except Exception:  # a closed connection has nothing left to stop
            pass

"""Calls that run a hot loop on a Python stack of their own, past CPython 3.11's stack-chunk thrashing.

CPython 3.11 and 3.12 keep frames in 16 KiB chunks, allocated with ``mmap`` and freed with ``munmap`` the
moment the last frame in one returns (python/cpython#142183, fixed in 3.13 and 3.14 by caching a chunk).
A loop whose calls cross a chunk boundary at the same depth maps and unmaps a chunk on every call.
Which depth that is depends on everything below it (a worker process's stack differs from the CLI's).
Measured on 1-10-1 x 4: the same 311 leaves cost twice as much per leaf in a worker's subtrees as in
one process, with 670,000 ``mmap``/``munmap`` pairs where one process had none; in a VM each page
fault costs microseconds.

:func:`padded` calls ``fn`` under a frame of 32 KiB of locals, which no current chunk has room for: the
frame starts a fresh 64 KiB chunk, and ``fn``'s calls (a leaf's term building, a few dozen frames) stay
inside the rest of it.  One chunk per call, not one per inner call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
SLOTS = 4096  # locals of the padding frame: 8 bytes each, 32 KiB, over any chunk's room (16 KiB by default)


def _padding() -> Callable[..., Any]:
    names = " = ".join(f"_{i}" for i in range(SLOTS))
    namespace: dict[str, Any] = {}
    # The assignment never runs; it only gives the frame its locals.
    exec(f"def padded(fn, *args):\n    if fn is None:\n        {names} = None\n    return fn(*args)\n", namespace)
    return namespace["padded"]  # type: ignore[no-any-return]


_padded = _padding()


def padded(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)``, its calls on a stack chunk of their own."""
    return _padded(fn, *args)  # type: ignore[no-any-return]

"""A Ctrl-C that cannot be lost.

Python raises ``KeyboardInterrupt`` at whatever bytecode runs when SIGINT arrives; during a
search that is often a Z3 object's ``__del__``, where Python prints "Exception ignored" and goes
on, so the interrupt would be lost and a long proof would run to its end.  The console script
installs :func:`handler`, which also records the request (and keeps Python from printing the
swallowed one as an ignored exception); the engine calls :func:`check` at
every step it takes (each node of an enumeration, after each solver call), which raises
``KeyboardInterrupt`` again wherever the first one was swallowed.  In-process use (tests, the
pytest plugin) keeps Python's own handler and never sees a request.
"""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType
from typing import Any

_requested = threading.Event()


def handler(signum: int, frame: FrameType | None) -> None:
    _requested.set()
    raise KeyboardInterrupt


def install() -> None:
    signal.signal(signal.SIGINT, handler)
    default = sys.unraisablehook

    def quiet(unraisable: Any) -> None:  # the swallowed Ctrl-C is raised again by check(): no traceback
        if not isinstance(unraisable.exc_value, KeyboardInterrupt):
            default(unraisable)

    sys.unraisablehook = quiet


def check() -> None:
    """Raise ``KeyboardInterrupt`` if Ctrl-C was pressed (even if its first raise was swallowed)."""
    if _requested.is_set():
        raise KeyboardInterrupt

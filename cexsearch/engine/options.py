"""How to search: the options object every stage takes, and the timeout's bounds.

Standard library only, so the pytest plugin can read its options without loading the engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

MAX_TIMEOUT = 10**9  # seconds: far past any search, and within what a solver's millisecond count holds


def valid_timeout(seconds: object) -> bool:
    """Whether a timeout is a number of seconds in (0, MAX_TIMEOUT]: not NaN, not infinite, not a bool."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float, Decimal, Fraction)):
        return False
    try:
        return 0 < float(seconds) <= MAX_TIMEOUT  # NaN compares False
    except (OverflowError, ValueError):  # an integer beyond float range; a signalling NaN
        return False


@dataclass(frozen=True)
class SearchOptions:
    """How to search: one frozen object instead of flags threaded through calls."""

    timeout: float | None = None
    seed: int = 0
    strategy: str = "auto"
    jobs: int = 1
    cluster: str | None = None  # a Dask scheduler address: enumeration subtrees go there
    rlimit: int | None = None
    max_patterns: int = 2**22
    force: bool = False
    learn: bool = True  # enumeration learns cores of sign decisions from its unsat checks (engine/learn.py)
    decompose: bool = True  # a claim that separates unit by unit is proved on one unit (engine/decompose.py)

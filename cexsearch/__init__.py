"""cexsearch: settle claims about neural-network gradients mechanically.

The names below are imported on first use (PEP 562), not with the package, so that
importing a light submodule (the pytest plugin, the error types) does not load the
engine (Z3, numpy).
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Claim", "ClaimOutcome", "Outcome", "check_claim", "search", "__version__"]

if TYPE_CHECKING:
    from .engine.search import Outcome, search
    from .workflows.claim import Claim
    from .workflows.claims import ClaimOutcome, check_claim

_LAZY = {"Claim": "workflows.claim", "ClaimOutcome": "workflows.claims", "check_claim": "workflows.claims",
         "Outcome": "search"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _Package(types.ModuleType):
    """``cexsearch.engine.search`` is the search function, as it was when the package imported it eagerly.

    The import system sets a package's attribute to each submodule it imports; this property keeps
    the function there when ``cexsearch.engine.search`` (the module) is imported, by whatever imports it.
    """

    @property
    def search(self) -> Any:
        from .engine.search import search

        return search

    @search.setter
    def search(self, module: Any) -> None:  # the submodule stays reachable as sys.modules["cexsearch.engine.search"]
        pass


sys.modules[__name__].__class__ = _Package

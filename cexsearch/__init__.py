"""cexsearch: settle claims about neural-network gradients mechanically."""

__version__ = "0.1.0"

from .claims import Claim, ClaimOutcome, check_claim  # noqa: E402
from .search import Outcome, search  # noqa: E402

__all__ = ["Claim", "ClaimOutcome", "Outcome", "check_claim", "search", "__version__"]

"""Second opinions that share no code with the solver path.

* :mod:`.torch`: any :class:`~cexsearch.model.Model` rebuilt as a PyTorch ``nn.Sequential``
  with the same weights, differentiated by autograd in float64 (PyTorch imported lazily).
* :mod:`.exact`: a forward pass in Fractions written from the layers' descriptions alone,
  used only to tell the torch oracle where a value sits exactly on a breakpoint.

Neither reads :mod:`cexsearch.semantics` or the encoding: they see the model's layer
descriptions (sizes, kernels, piece tables, the loss) and the exact values.
"""

from ..errors import CexsearchError


class OracleError(CexsearchError):
    """A model the oracle cannot rebuild (a layer, activation or loss it does not know): a bug to report."""

"""Test helper: the torch oracle of the package, under the names the tests have always imported.

The builder lives in :mod:`cexsearch.oracles.torch` (PyTorch's own modules, sharing nothing
with cexsearch's trace), so the tests and ``--cross-check torch`` use one and the same.
"""

from cexsearch.oracles.torch import activation_module, torch_loss, torch_pass, torch_trace

__all__ = ["activation_module", "torch_loss", "torch_pass", "torch_trace"]

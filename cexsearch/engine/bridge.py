"""A layer model that is an MLP, searched as one.

``Sequential(Linear(2, 3), ReLU(), Linear(3, 1))`` on input (2,) with mse is, entry for
entry, the network ``2-3-1``: the same parameter names and shapes, the same x and y, and
(since :mod:`cexsearch.semantics.numeric` reads :func:`cexsearch.semantics.trace` of
:meth:`Model.from_network`) the same semantics.  :func:`mlp_twin` finds that network and
proves the match by rebuilding the model from it and comparing layer by layer (an
activation by its piece table, so ``LeakyReLU(0.5)`` matches ``LeakyReLU(1/2)``); anything
that does not match exactly stays a layer model.  The MLP engine (enumeration with
symmetry breaking, the linear strategy, exhaustive shrinking) then decides it, and
:func:`restate` gives the answer back in the model's terms, a witness re-checked
against the model's own trace.
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from ..errors import CexsearchError
from ..model.layers import Activation, Linear
from ..model.network import Network
from ..model.problem import Problem

if TYPE_CHECKING:
    from .search import Outcome

MLP_LOSSES = ("mse", "sse")


def _same(a: Any, b: Any) -> bool:
    """Layer by layer the same model; activations compared by piece table (their labels may differ)."""
    if (len(a.layers), a.input_shape, a.loss, a.settings) != (len(b.layers), b.input_shape, b.loss, b.settings):
        return False
    return all(x.table == y.table if isinstance(x, Activation) and isinstance(y, Activation) else x == y
               for x, y in zip(a.layers, b.layers))


def mlp_twin(model: Any) -> Network | None:
    """The :class:`Network` whose model is ``model``, or None when no MLP matches it exactly."""
    from ..model import Model

    if model.loss.name not in MLP_LOSSES or model.loss.settings:
        return None
    linears = [layer for layer in model.layers if isinstance(layer, Linear)]
    if not linears or len(model.input_shape) != 1:
        return None
    acts = [layer for layer in model.layers if isinstance(layer, Activation)]
    widths = (linears[0].in_features, *(layer.out_features for layer in linears))
    slope = acts[0].table.pieces[0].slope if acts else Fraction(1, 100)
    for activation in ("relu", "leaky_relu", "linear"):
        try:
            twin = Network(widths, activation=activation, leaky_slope=slope if activation == "leaky_relu"
                           else Fraction(1, 100), bias=linears[0].bias, loss=model.loss.name,
                           relu_grad_at_zero=model.settings.relu_grad_at_zero)
        except (CexsearchError, ValueError):  # beyond the MLP's limits: it stays a layer model
            return None
        if _same(Model.from_network(twin), model):
            return twin
    return None


def restate(outcome: Outcome, problem: Problem) -> Outcome:
    """``outcome`` about ``problem``, the twin's or the model's: a witness is re-checked exactly there."""
    from .search import confirm

    if outcome.witness is None:
        return replace(outcome, problem=problem)
    confirmed = confirm(problem, {(n, i): v for n, i, v in outcome.witness.items()}, outcome.stats)
    return replace(outcome, problem=problem, witness=confirmed.witness, recheck=confirmed.recheck,
                   pattern=confirmed.pattern, symmetry=None)

"""A layer model that is an MLP, searched as one.

``Sequential(Linear(2, 3), ReLU(), Linear(3, 1))`` on input (2,) with mse is, entry for
entry, the network ``2-3-1``: the same parameter names and shapes, the same x and y, and
(since :mod:`cexsearch.numeric` reads :func:`cexsearch.semantics.trace` of
:meth:`Model.from_network`) the same semantics.  :func:`mlp_twin` finds that network and
proves the match by rebuilding the model from it and comparing layer by layer (an
activation by its piece table, so ``LeakyReLU(0.5)`` matches ``LeakyReLU(1/2)``); anything
that does not match exactly stays a layer model.  The MLP engine (enumeration with
symmetry breaking, the linear strategy, exhaustive shrinking) then decides it, and
:func:`as_layers` gives the answer back in the model's terms, a witness re-checked
against the model's own trace.
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from ..errors import CexsearchError
from ..model.layers import Activation, Linear
from ..spec import Network, Problem

if TYPE_CHECKING:
    from ..search import Outcome

MLP_LOSSES = ("mse", "sse")


def _same(a: Any, b: Any) -> bool:
    if len(a.layers) != len(b.layers) or a.input_shape != b.input_shape or a.loss != b.loss:
        return False
    if a.settings != b.settings:
        return False
    for x, y in zip(a.layers, b.layers):
        if isinstance(x, Activation) and isinstance(y, Activation):
            if x.table != y.table:
                return False
        elif x != y:
            return False
    return True


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
            if _same(Model.from_network(twin), model):
                return twin
        except (CexsearchError, ValueError):
            return None
    return None


def as_mlp(problem: Problem, twin: Network) -> Problem:
    """The same question about the twin network: fixed values, conditions and domain keep their names."""
    return replace(problem, network=twin)


def to_twin(outcome: Outcome, problem: Problem) -> Outcome:
    """A layer model's outcome restated about the twin network (for the MLP shrinker)."""
    from ..search import confirm

    assert outcome.witness is not None
    values = {(n, i): v for n, i, v in outcome.witness.items()}
    return replace(confirm(problem, values, outcome.stats), reason=outcome.reason, shrink=outcome.shrink)


def as_layers(outcome: Outcome, problem: Problem) -> Outcome:
    """The twin's answer about ``problem``'s layer model; a witness is re-checked against the model's trace."""
    from ..search import confirm

    if outcome.witness is None:
        return replace(outcome, problem=problem)
    values = {(n, i): v for n, i, v in outcome.witness.items()}
    confirmed = confirm(problem, values, outcome.stats)
    return replace(outcome, problem=problem, witness=confirmed.witness, recheck=confirmed.recheck, pattern=None,
                   symmetry=None)

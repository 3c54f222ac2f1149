"""Decomposition: a claim about a one-hidden-layer network that separates unit by unit is decided on one unit.

For an MLP ``n-H-1`` (one hidden layer, one linear output unit) write ``r_m = yhat_m - y_m`` for
sample m's residual and ``c`` for the loss's factor (2/M for mse with one output, 2 for sse).  Hidden
unit j's gradients read only its own parameters (row j of W1, b1[j], W2[0, j]), the inputs and the
residuals::

    grad(W2)[0, j] = c sum_m r_m s(z_mj)          grad(b1)[j]   = c sum_m r_m W2[0, j] s'(z_mj)
    grad(W1)[j, :] = c sum_m r_m W2[0, j] s'(z_mj) x_m      grad(b2) = c sum_m r_m

with ``z_mj = W1[j, :] x_m + b1[j]``.  When y is free and unbounded (no fixed values, no domain
limits), r is as free as y: any residuals are reached by ``y_m = yhat_m - r_m``.

**The relaxation.**  Let the conditions be ``grad(P) == 0`` or ``grad(P) != 0`` (a whole tensor
against 0, outside all/any), with at most one ``!=`` on a hidden unit's tensor (W1, b1, W2).  Take a
witness of the n-H-1 problem and a unit j where that one ``!=`` holds (some entry of unit j's part is
non-zero; any unit when there is no ``!=``).  The n-1-1 network with unit j's parameters, any b2, the
same x, and ``y'_m = yhat'_m - r_m`` has the same residuals, so its gradients are exactly unit j's
and the same grad(b2): every ``== 0`` on a unit tensor holds (all units' entries are 0, unit j's among
them), the ``!=`` holds (unit j was chosen for it), and grad(b2) is the same number.  So a witness of
n-H-1 gives one of n-1-1, and **n-1-1 having none proves n-H-1 has none**.  (Two ``!=`` could hold at
different units, so they are refused; a witness of n-1-1 proves nothing about n-H-1, and the search
then runs as usual.)  tests/engine/test_decompose.py compares it with plain enumeration.
"""

from __future__ import annotations

from dataclasses import replace

from .. import lang as C
from ..model.network import Network
from ..model.problem import Domain, Problem

UNIT_TENSORS = ("W1", "b1", "W2")


def unit_relaxation(problem: Problem) -> Problem | None:
    """The single-unit problem whose 'none' proves the problem's (see the module's argument), or None
    when the problem is not of the form the argument covers."""
    net = problem.network
    if not isinstance(net, Network) or len(net.widths) != 3 or net.widths[2] != 1 or net.widths[1] < 2:
        return None
    if net.names is not None or net.loss not in ("mse", "sse") or problem.fixed.as_dict() or problem.domain != Domain():
        return None
    if problem.training is not None:  # a training run couples the units through the output's residuals
        return None
    differs = 0
    for cond in problem.conditions:
        root, negated = cond.root, False
        if isinstance(root, C.Not):  # a claim's "not (grad(W1) == 0)": "grad(W1) != 0"
            root, negated = root.operand, True
        if not (isinstance(root, C.Compare) and root.op in ("==", "!=") and isinstance(root.left, C.Grad)
                and isinstance(root.right, C.Num) and root.right.value == 0):
            return None
        if root.left.param not in (*UNIT_TENSORS, "b2") or root.left.step is not None:
            return None
        if (root.op == "!=") != negated and root.left.param in UNIT_TENSORS:
            differs += 1
    if differs > 1:
        return None
    small = replace(net, widths=(net.widths[0], 1, 1))
    return Problem(small, problem.samples, tuple(problem.conditions))

"""``samples = "all"``: claims decided for every batch size by deciding one sample.

**Why one sample decides every batch size.**  The loss of a batch of M samples is the mean
(``mse``; ``sse``: the sum) of the losses of its samples, each of which depends on the
parameters and on that sample alone.  So the batch gradient is ``g = (1/M) Σ_m g_m`` (the
sum for ``sse``), where ``g_m`` is the gradient of the one-sample problem on sample m, at the
same parameters.  Take a claim whose ``given`` (and fixed values) read only the parameters
θ, and whose ``then`` conditions are equalities ``a(θ)·g = d(θ)``, affine in the gradients
with coefficients that depend on θ only (``grad(W1) == 0``; ``grad(b1)[0] == grad(b1)[1]``):

* if it holds for one sample, then at every θ allowed each ``g_m`` satisfies it, and
  ``a·g = (1/M) Σ a·g_m = (1/M) Σ d = d``: it holds for every M.  (For a sum the last
  step needs ``d = 0``, so ``sse`` claims must be homogeneous in the gradients.)
* if it fails for one sample, that sample is a batch of size 1 that refutes it.

An ``invariant`` of linear equalities ``A θ = c`` over the parameters alone is decided the
same way: a step keeps it exactly when ``A v = 0`` for the step's direction v (lr > 0), and v
is a sum of batch gradients (with momentum too), each a mean of one-sample gradients; the
base case reads no data.  Neither argument holds for a condition outside these forms (a
``!=``, an inequality, a product of gradients, the data, ``yhat``, a training step's
gradient, which depends on every sample through the run), so such a claim is refused.
"""

from __future__ import annotations

from typing import Any

from .. import lang as C
from ..errors import ClaimFileError, InputError
from ..lang.syntax import Arith, Compare, Expr, Grad, Logic, Neg, Num, Reduce, Subscript, Var
from ..model.network import Network

SCOPE = {"holds": "for every batch size (decided at one sample: the batch gradient is the mean of one-sample ones)",
         "refuted": "for some batch size: a batch of one sample refutes it"}


class _Outside(Exception):
    def __init__(self, why: str) -> None:
        self.why = why


def _degree(node: Expr, params: tuple[str, ...]) -> tuple[int, bool]:
    """(degree in the gradients, whether a gradient-free part that is not 0 is left)."""
    if isinstance(node, Num):
        return 0, node.value != 0
    if isinstance(node, Var):
        if node.name in params and node.step is None:
            return 0, True
        raise _Outside(f"it reads {node.key}, which is not a parameter at step 0")
    if isinstance(node, Grad):
        if node.step is not None:
            raise _Outside(f"it reads {node.key}, a gradient of the training run (every sample moves it)")
        return 1, False
    if isinstance(node, (Subscript, Neg)):
        return _degree(node.base if isinstance(node, Subscript) else node.operand, params)
    if isinstance(node, Arith):
        (da, ca), (db, cb) = _degree(node.left, params), _degree(node.right, params)
        if node.op in "+-":
            return max(da, db), ca or cb
        return da + db, ca and cb
    raise _Outside("it is not an equation of values")


def _equalities(node: Expr, params: tuple[str, ...], homogeneous: bool) -> None:
    if isinstance(node, Logic) and node.op == "and":
        for o in node.operands:
            _equalities(o, params, homogeneous)
        return
    if isinstance(node, Reduce) and node.op == "all":
        return _equalities(node.operand, params, homogeneous)
    if not isinstance(node, Compare) or node.op != "==":
        raise _Outside("it is not an equality (==), or several joined by and")
    sides = [_degree(node.left, params), _degree(node.right, params)]
    if any(d > 1 for d, _ in sides):
        raise _Outside("it multiplies gradients together")
    if homogeneous and any(c for _, c in sides):
        raise _Outside("the loss sums over samples (sse), so each side must be a gradient term or 0")


def check_form(claim: Any, network: Network) -> None:
    """Refuse a ``samples = "all"`` claim outside the forms the argument above covers, naming the condition."""
    params = tuple(network.parameter_names())
    where = claim.where

    def refuse(key: str, text: str, why: str, hint: str) -> None:
        raise ClaimFileError(f'samples = "all" needs {key} {text!r} in another form: {why}', where=where, hint=hint)

    for cond in claim.given_conditions():
        outside = C.names_used(cond.root) - set(params)
        if outside:
            refuse("given", cond.text, f"it reads {', '.join(sorted(outside))}, not only the parameters",
                   "given may constrain the parameters only; list the batch sizes instead, e.g. samples = \"1..4\"")
    data = [k for k in claim.fix if str(k).split("[")[0] in ("x", "y")] if claim.torch_network is None else []
    if data:
        refuse("fix", data[0], "it fixes data, which differ between batch sizes", "fix parameters only")
    from ..semantics.numeric import model_of

    model = model_of(network) if isinstance(network, Network) else network
    mean = bool(model.loss.mean)
    if claim.invariant:
        from .invariant import parse_invariant

        for cond in parse_invariant(claim):
            try:
                if C.names_used(cond.root) - set(params):
                    raise _Outside("it reads more than the parameters")
                _equalities(cond.root, params, homogeneous=False)
            except _Outside as e:
                refuse("invariant", cond.text, e.why, "an invariant for every batch size is linear equations over "
                       "the parameters, e.g. W1[0, :] == W1[1, :]")
        return
    if claim.steps is not None:
        raise ClaimFileError('samples = "all" decides one gradient, not a training run: drop steps, or write the '
                             "claim as an invariant", where=where, hint='e.g. invariant = ["W2 == 0"]')
    for cond in claim.then_conditions():
        try:
            _equalities(cond.root, params, homogeneous=not mean)
        except _Outside as e:
            refuse("then", cond.text, e.why, "then must be equations affine in the gradients, e.g. grad(W1) == 0; "
                   "list the batch sizes instead, e.g. samples = \"1..4\"")


FIND_SCOPE = {"found": "a batch of one sample: a witness for some batch size",
              "none": "no batch size has a witness (decided at one sample: the batch gradient is the mean of "
                      "one-sample ones)"}


def check_find_form(conditions: Any, network: Network) -> None:
    """Refuse ``find --samples all`` outside its form: conditions on the parameters, and at most one
    negated equation affine in the gradients (``grad(W1) != 0``): "some batch breaks the equation"
    is "some sample does", by the argument above, read backwards."""
    params = tuple(network.parameter_names())
    from ..semantics.numeric import model_of

    model = model_of(network) if isinstance(network, Network) else network
    negated = []
    for cond in conditions:
        if C.names_used(cond.root) <= set(params):
            continue
        root = cond.root
        try:
            if isinstance(root, Compare) and root.op == "!=":
                _equalities(Compare("==", root.left, root.right, root.col), params, homogeneous=not model.loss.mean)
            elif isinstance(root, C.Not):
                _equalities(root.operand, params, homogeneous=not model.loss.mean)
            elif isinstance(root, Compare) and root.op == "==":
                raise _Outside("an equation on the gradients can hold for a batch whose samples each break it "
                               "(seed 001: zero upper gradients at 3 samples, never at 1)")
            else:
                raise _Outside("it is neither a condition on the parameters nor a != of gradient terms")
        except _Outside as e:
            raise InputError(f"--samples all needs --require {cond.text!r} in another form: {e.why}",
                             hint="conditions on the parameters, and one such as grad(W1) != 0; or give --samples M") from None
        negated.append(cond.text)
    if len(negated) > 1:
        raise InputError(f"--samples all takes one condition on the gradients, got {len(negated)}: "
                         f"{', '.join(map(repr, negated))}",
                         hint="a batch can meet two of them through different samples: give --samples M")

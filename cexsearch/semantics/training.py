"""A training run, written once over any algebra: K steps of :class:`~cexsearch.model.training.Training`.

Each step is one :func:`cexsearch.semantics.trace` of its batch at the current parameters (so
each step has its own activation pattern), then the update::

    v_1 = g_0,  v_{t+1} = μ v_t + g_t,  θ_{t+1} = θ_t - lr v_{t+1}

The exact re-check replays a run with Fractions, the encoding builds it as Z3 terms (``lr``
then may be a free value), the torch cross-check compares it with a PyTorch training loop.

What a condition reads (:meth:`Run.environment`): ``P@t`` the parameters after t steps,
``grad@t(P)`` the gradient step t uses (at t = K, the one the next step would use),
``yhat@t`` and ``loss@t`` over the whole dataset at ``θ_t`` (for ``gd`` the step's own
trace; for ``sgd`` a forward pass of its own), and ``lr``.  Step 0's names need no ``@``.

>>> from fractions import Fraction as F
>>> from cexsearch.model import Model
>>> from cexsearch.model.training import Training
>>> from cexsearch.semantics import EXACT
>>> m = Model.from_mlp("1-1", bias=False)
>>> run = unroll(m, {"W1": [[0]]}, [[1]], [[1]], Training(2, lr=F(1, 4)), F(1, 4), EXACT)
>>> [str(p["W1"][0, 0]) for p in run.params]
['0', '1/2', '3/4']
>>> str(run.environment()["loss@2"])
'1/16'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..model.model import Model
from ..model.training import Training
from .algebra import Algebra
from .trace import Trace, trace

#: (step, "batch" | "full") -> the algebra that step's trace runs in (a symbolic one per step)
AlgebraFor = Callable[[int, str], Algebra]


@dataclass(frozen=True)
class Run:
    """A training run: the parameters at every step and the traces that moved them."""

    training: Training
    lr: Any
    params: tuple[Mapping[str, np.ndarray], ...]  # θ_0 .. θ_K by parameter name
    traces: tuple[Trace | None, ...]  # step t's batch trace, t = 0 .. K (None where nothing reads it)
    full: tuple[Trace | None, ...]  # the whole dataset at θ_t (the batch trace itself for gd)

    @property
    def steps(self) -> int:
        return self.training.steps

    def environment(self) -> dict[str, Any]:
        """``P@t``, ``grad@t(P)``, ``yhat@t``, ``loss@t`` and ``lr`` by name, for the condition language."""
        env: dict[str, Any] = {"lr": np.array(self.lr, dtype=object)}
        for t, theta in enumerate(self.params):
            for name, value in theta.items():
                env[f"{name}@{t}"] = value
        for t, tr in enumerate(self.traces):
            if tr is not None:
                env.update({f"grad@{t}({p})": g for p, g in tr.gradients.items()})
        for t, tr in enumerate(self.full):
            if tr is not None:
                env[f"yhat@{t}"] = tr.yhat
                env[f"loss@{t}"] = np.array(tr.loss, dtype=object)
        return env


def unroll(model: Model, params: Mapping[str, Any], x: Any, y: Any, training: Training, lr: Any,
           algebra: Algebra | AlgebraFor, last: bool = True, full: bool = True, output_gradients: bool = False) -> Run:
    """Run ``training`` from ``params`` on the dataset (x, y), in the algebra's numbers.

    ``algebra`` is one algebra, or a function giving each step's (symbolic algebras keep
    each step's choices apart).  Without ``last`` the trace at θ_K is skipped (nothing
    reads ``grad@K``, ``yhat@K`` or ``loss@K``); without ``full`` so are sgd's whole-dataset passes.
    With ``output_gradients`` each step's batch trace keeps what backprop handed every layer (for
    explanations).
    """
    of: AlgebraFor = algebra if callable(algebra) else (lambda t, kind: algebra)  # type: ignore[assignment,return-value]
    xs = np.asarray(x, dtype=object)
    ys = np.asarray(y, dtype=object)
    samples = xs.shape[0]
    theta: dict[str, np.ndarray] = {}
    for p in model.parameters():
        theta[p.name] = np.asarray(params[p.name], dtype=object).reshape(p.shape)
    thetas = [theta]
    traces: list[Trace | None] = []
    fulls: list[Trace | None] = []
    velocity: dict[str, np.ndarray] | None = None
    for t in range(training.steps + 1):
        if t == training.steps and not last:
            traces.append(None)
            fulls.append(None)
            break
        batch = list(training.batch(t, samples))
        tr = trace(model, theta, xs[batch], ys[batch], of(t, "batch"), output_gradients=output_gradients)
        traces.append(tr)
        if training.batch_size is None:
            fulls.append(tr)
        else:
            fulls.append(trace(model, theta, xs, ys, of(t, "full")) if full else None)
        if t == training.steps:
            break
        g = {name: np.asarray(v, dtype=object) for name, v in tr.gradients.items()}
        if velocity is None or training.momentum == 0:
            velocity = g
        else:
            mu = _number(training.momentum)
            velocity = {name: _array(mu * velocity[name] + g[name]) for name in g}
        theta = {name: _array(theta[name] - lr * velocity[name]) for name in theta}
        thetas.append(theta)
    return Run(training, lr, tuple(thetas), tuple(traces), tuple(fulls))


def _number(v: Any) -> Any:
    return v.numerator if getattr(v, "denominator", None) == 1 else v


def _array(a: Any) -> np.ndarray:
    return np.asarray(a, dtype=object)

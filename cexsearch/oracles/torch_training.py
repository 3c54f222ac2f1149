"""The torch oracle for a training run: a PyTorch training loop with ``torch.optim.SGD``, in float64.

From the witness's initial values, step t = 0 .. K builds the model's PyTorch modules around
the same ``nn.Parameter`` objects (so the optimizer's state carries over), takes PyTorch's
loss of step t's batch (the samples :meth:`~cexsearch.model.training.Training.batch` names,
in order), calls ``backward()`` and, before the last step, ``optimizer.step()`` of
``torch.optim.SGD(lr, momentum)``.  PyTorch's heavy ball (buf = g on the first step, then
buf = μ buf + g; p -= lr buf, no dampening) is the run's ``v_1 = g_0, v_{t+1} = μ v_t + g_t,
θ_{t+1} = θ_t - lr v_{t+1}``, and plain SGD for μ = 0.

The parameters are PyTorch's own throughout: nothing exact flows into them after step 0.
What the exact run gives each step is where it sits on a breakpoint (an activation's kink,
a max-pool tie, a loss kink), which the builder of :mod:`.torch` pins there (see its
docstring), so that float64 rounding of θ_t cannot put a value the exact run has at 0 on
another piece.  Imported only when a function here is called (torch is optional).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from ..model.model import Model
from ..model.training import Training
from .exact import as_exact, exact_forward
from .torch import _Builder, _pin_loss, magnitudes
from .torch_modules import floats, import_torch, to_float, torch_loss


@dataclass(frozen=True)
class TorchTraining:
    """What the PyTorch loop computed at every step t = 0 .. K, in float64.

    ``params[t]`` θ_t, ``gradients[t]`` the gradient of step t's batch loss at θ_t (at K the
    one a next step would use), ``losses[t]`` that batch loss.  ``grad_scale[t]`` and
    ``loss_scale[t]`` are the sums of the absolute values of the terms of each gradient entry
    and of the loss at the exact θ_t (what a tolerance is scaled by, as in
    :func:`.torch.magnitudes`); the counts are over all steps, as :class:`.torch.TorchPass`'s.
    """

    params: tuple[dict[str, np.ndarray], ...]
    gradients: tuple[dict[str, np.ndarray], ...]
    losses: tuple[float, ...]
    grad_scale: tuple[dict[str, np.ndarray], ...]
    loss_scale: tuple[float, ...]
    at_breakpoint: int = 0
    custom_at_breakpoint: int = 0
    rounded_off: int = 0
    flips: int = 0
    ties: int = 0
    moved_maxima: int = 0
    loss_kinks: int = 0


def _loss_scale(torch: Any, model: Model, values: Mapping[str, Any], exact: Any) -> float:
    """The loss with every term by its absolute value: PyTorch's loss of |yhat|'s terms against -|y|."""
    builder = _Builder(torch, model, values, exact, "magnitude")
    net = builder.sequential(model.layers, "")
    samples = np.asarray(values["x"], dtype=object).shape[0]
    yhat = net(builder.tensor(values["x"], model.shape("x", samples)))
    y = -np.abs(floats(as_exact(values["y"], model.shape("y", samples))))
    return float(torch_loss(torch, model, yhat, torch.tensor(y, dtype=torch.float64)).detach())


def torch_training(model: Model, x: Any, y: Any, training: Training, lr: Fraction,
                   exact_params: Sequence[Mapping[str, Any]]) -> TorchTraining:
    """Train ``model`` with ``torch.optim.SGD`` for ``training.steps`` steps from ``exact_params[0]``.

    ``exact_params`` are the exact run's θ_0 .. θ_K: θ_0 is where the loop starts, and each
    θ_t says only where step t's exact pass sits on a breakpoint (for pinning).
    Raises InputError without PyTorch.
    """
    torch = import_torch()
    f64 = torch.float64
    xs, ys = np.asarray(x, dtype=object), np.asarray(y, dtype=object)
    samples = xs.shape[0]
    names = [p.name for p in model.parameters()]
    shared = {p.name: torch.nn.Parameter(torch.tensor(floats(as_exact(exact_params[0][p.name], p.shape)), dtype=f64))
              for p in model.parameters()}
    optimizer = torch.optim.SGD([shared[n] for n in names], lr=to_float(lr), momentum=to_float(training.momentum))
    params, grads, losses, grad_scale, loss_scale = [], [], [], [], []
    counts: dict[str, int] = {}
    for t in range(training.steps + 1):
        batch = list(training.batch(t, samples))
        values = {**{n: exact_params[t][n] for n in names}, "x": xs[batch], "y": ys[batch]}
        exact = exact_forward(model, values)
        builder = _Builder(torch, model, values, exact, "value", shared=shared)
        net = builder.sequential(model.layers, "")
        y_exact = as_exact(values["y"], model.shape("y", len(batch)))
        optimizer.zero_grad()
        out = net(builder.tensor(values["x"], model.shape("x", len(batch))))
        loss = torch_loss(torch, model, _pin_loss(torch, model, exact, y_exact, out, builder.counts),
                          torch.tensor(floats(y_exact), dtype=f64))
        params.append({n: shared[n].detach().numpy().copy() for n in names})
        loss.backward()
        grads.append({n: (np.zeros(tuple(shared[n].shape)) if shared[n].grad is None
                          else shared[n].grad.detach().numpy().copy()) for n in names})
        losses.append(float(loss.detach()))
        grad_scale.append(magnitudes(model, values, exact=exact))
        loss_scale.append(_loss_scale(torch, model, values, exact))
        for key, value in vars(builder.counts).items():
            if isinstance(value, int):
                counts[key] = counts.get(key, 0) + value
        if t < training.steps:
            optimizer.step()
    return TorchTraining(tuple(params), tuple(grads), tuple(losses), tuple(grad_scale), tuple(loss_scale), **counts)

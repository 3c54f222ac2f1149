"""The torch oracle: any :class:`~cexsearch.model.Model` as a PyTorch ``nn.Sequential``, and its autograd.

Every layer is PyTorch's own module (``nn.Linear``, ``nn.Conv1d``, ``nn.MaxPool2d``,
``nn.ReLU``, ``nn.Hardtanh``, ...), loaded with the exact values rounded to float64,
and the loss is PyTorch's (``nn.MSELoss``, ``nn.L1Loss``, ``nn.HuberLoss``, the hinge
as ``relu(1 - y yhat).mean()``).  The oracle reads the model's layer descriptions and
the exact values only; torch is imported when a function here is called.

Two things are not PyTorch's own, each for a stated reason:

* **relu_grad_at_zero = 1.**  PyTorch's ``relu`` and ``leaky_relu`` use the derivative
  of the negative piece at 0 (cexsearch's ``relu_grad_at_zero = 0``).  When a ReLU or
  LeakyReLU's piece table puts 0 in the positive piece, a small ``torch.autograd.Function``
  with the same forward values and derivative 1 at 0 stands in for the built-in one, so
  torch computes the *same* convention (``native=True`` uses the built-in one anyway).
* **Pinning exact breakpoints.**  A value that is exactly on a breakpoint (an activation's
  kink, a tie between maxima of a max-pool window, a loss's kink) can come out of float64
  as +-1e-17 (1/100 has no binary form), on a piece the exact semantics never takes.  The
  exact forward pass of :mod:`.exact` finds those entries, and there alone the float value
  is replaced by the breakpoint's float with the gradient passed through unchanged
  (``z - z.detach() + b``), so PyTorch's module sees the kink and applies its convention.
  :class:`TorchPass` counts them, and the entries that rounding moved to another piece.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from ..model.activations import PiecewiseLinear
from ..model.conv import ConvNd
from ..model.layers import Activation, Flatten, Layer, Linear
from ..model.model import Model
from ..model.pool import AvgPoolNd, MaxPoolNd, PoolNd
from ..model.residual import Residual
from . import OracleError
from .exact import ExactPass, as_exact, exact_forward, pool_windows
from .torch_modules import (
    TORCH_HINT,
    activation_module,
    floats,
    import_torch,
    lambda_module,
    to_float,
    torch_available,
    torch_loss,
    uses_custom_function,
)

__all__ = ["TORCH_HINT", "TorchPass", "activation_module", "import_torch", "magnitudes", "torch_available", "torch_loss",
           "torch_pass", "torch_trace", "uses_custom_function"]


@dataclass
class _Counts:
    at_breakpoint: int = 0
    custom_at_breakpoint: int = 0
    kept_at: set[Fraction] = field(default_factory=set)
    rounded_off: int = 0
    flips: int = 0
    ties: int = 0
    moved_maxima: int = 0
    loss_kinks: int = 0


@dataclass(frozen=True)
class TorchPass:
    """One torch forward pass and autograd, with what the float64 pass met on the way.

    ``at_breakpoint`` counts activation inputs exactly at a breakpoint of their table
    (``custom_at_breakpoint`` those at an activation computed by the custom Function);
    ``rounded_off`` those that float64 put off it (pinned back to the breakpoints
    ``kept_at``); ``flips`` activation inputs off every breakpoint exactly that float64
    put on another piece; ``ties`` max-pool windows whose maximum is reached twice
    exactly (kept tied); ``moved_maxima`` windows without a tie whose float64 maximum
    is elsewhere; ``loss_kinks`` output entries exactly at a kink of the loss (pinned).
    """

    loss: float
    yhat_gradient: np.ndarray
    gradients: dict[str, np.ndarray]
    at_breakpoint: int = 0
    custom_at_breakpoint: int = 0
    kept_at: tuple[Fraction, ...] = ()
    rounded_off: int = 0
    flips: int = 0
    ties: int = 0
    moved_maxima: int = 0
    loss_kinks: int = 0


def _pieces(table: PiecewiseLinear, arr: np.ndarray) -> np.ndarray:
    out = np.zeros(arr.shape, dtype=np.int64)
    for idx in np.ndindex(arr.shape):
        out[idx] = table.index(arr[idx])
    return out


def _max_masks(layer: PoolNd, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(first maximum of every window, entries tied for a window's maximum) as input-shaped masks."""
    first = np.zeros(a.shape, dtype=bool)
    tied = np.zeros(a.shape, dtype=bool)
    m, c = a.shape[:2]
    for _, window in pool_windows(layer.kernel_size, a.shape[2:]):
        for i, j in np.ndindex(m, c):
            block = a[(i, j, *window)]
            top = max(block.reshape(-1))
            at = np.zeros(block.shape, dtype=bool)
            at.reshape(-1)[list(block.reshape(-1)).index(top)] = True  # scan order: PyTorch's choice on ties
            first[(i, j, *window)] = at
            if sum(1 for v in block.reshape(-1) if v == top) > 1:
                tied[(i, j, *window)] = block == top
    return first, tied


class _Builder:
    """Builds the torch modules of a model, in one of two modes.

    ``"value"``: PyTorch's modules with the values, pinned at exact breakpoints (see the
    module docstring).  ``"magnitude"``: every parameter and input by its absolute value
    and every piecewise choice fixed to the exact one, by |slope| and |intercept|, so that
    autograd sums the absolute values of the terms that make up each gradient entry.
    """

    def __init__(self, torch: Any, model: Model, values: Mapping[str, Any], exact: ExactPass,
                 mode: str = "value", native: bool = False, shared: Mapping[str, Any] | None = None) -> None:
        self.torch, self.model, self.exact, self.mode, self.native = torch, model, exact, mode, native
        self.names = {(p.path, p.role): p.name for p in model.parameters()}
        self.values = values
        self.shared = shared or {}  # parameters that outlive the modules (a training loop's), used as they are
        self.tensors: dict[str, Any] = {}
        self.counts = _Counts()

    def tensor(self, value: Any, shape: tuple[int, ...]) -> Any:
        arr = floats(as_exact(value, shape))
        return self.torch.tensor(np.abs(arr) if self.mode == "magnitude" else arr, dtype=self.torch.float64)

    def load(self, module: Any, path: str) -> Any:
        for role, attr in (("W", "weight"), ("b", "bias")):
            name = self.names.get((path, role))
            if name is not None and name in self.shared:
                setattr(module, attr, self.shared[name])
                self.tensors[name] = self.shared[name]
            elif name is not None:
                param = getattr(module, attr)
                param.data = self.tensor(self.values[name], tuple(param.shape))
                self.tensors[name] = param
        return module

    def sequential(self, layers: tuple[Layer, ...], prefix: str) -> Any:
        return self.torch.nn.Sequential(*[self.module(layer, f"{prefix}{i}") for i, layer in enumerate(layers)])

    def module(self, layer: Layer, path: str) -> Any:
        nn, f64 = self.torch.nn, self.torch.float64
        if isinstance(layer, Linear):
            return self.load(nn.Linear(layer.in_features, layer.out_features, bias=layer.bias, dtype=f64), path)
        if isinstance(layer, ConvNd):
            cls = getattr(nn, layer.kind)
            return self.load(cls(layer.in_channels, layer.out_channels, layer.kernel_size, stride=layer.stride,
                                 padding=layer.padding, bias=layer.bias, dtype=f64), path)
        if isinstance(layer, Flatten):
            return nn.Flatten()
        if isinstance(layer, Activation):
            return self.activation(layer.table, path)
        if isinstance(layer, AvgPoolNd):
            return getattr(nn, layer.kind)(layer.kernel_size)
        if isinstance(layer, MaxPoolNd):
            return self.max_pool(layer, path)
        if isinstance(layer, Residual):
            inner = self.sequential(layer.block, path + ".")
            Module: Any = nn.Module

            class Res(Module):
                def __init__(self) -> None:
                    super().__init__()
                    self.inner = inner

                def forward(self, z: Any) -> Any:
                    return z + self.inner(z)
            return Res()
        raise OracleError(f"the torch oracle does not know the layer {layer.notation()}")

    def activation(self, table: PiecewiseLinear, path: str) -> Any:
        torch = self.torch
        z = self.exact.inputs[path]
        pieces = _pieces(table, z)
        if self.mode == "magnitude":
            slope = torch.tensor(np.abs(floats(np.array([table.pieces[i].slope for i in pieces.reshape(-1)],
                                                         dtype=object))).reshape(z.shape), dtype=torch.float64)
            icpt = torch.tensor(np.abs(floats(np.array([table.pieces[i].intercept for i in pieces.reshape(-1)],
                                                        dtype=object))).reshape(z.shape), dtype=torch.float64)
            return lambda_module(torch, lambda v: v * slope + icpt)
        breaks = set(table.breakpoints)
        at = np.vectorize(lambda v: v in breaks, otypes=[bool])(z) if z.size else np.zeros(z.shape, bool)
        counts = self.counts
        counts.at_breakpoint += int(at.sum())
        if uses_custom_function(table):
            counts.custom_at_breakpoint += int(at.sum())
        mask = torch.tensor(at)
        pinned = torch.tensor(np.where(at, floats(z), 0.0), dtype=torch.float64)
        inner = activation_module(torch, table, self.native)

        def pin(v: Any) -> Any:
            vd = v.detach()
            off = (mask & (vd != pinned)).numpy()
            counts.rounded_off += int(off.sum())
            counts.kept_at |= set(z[off].tolist())
            moved = _pieces(table, vd.numpy()) != pieces
            counts.flips += int((moved & ~at).sum())
            return inner(torch.where(mask, v - vd + pinned, v) if at.any() else v)
        return lambda_module(torch, pin)

    def max_pool(self, layer: MaxPoolNd, path: str) -> Any:
        torch = self.torch
        pool = getattr(torch.nn, layer.kind)(layer.kernel_size)
        a = self.exact.inputs[path]
        first, tied = _max_masks(layer, a)
        if self.mode == "magnitude":  # the exact maximum's entry alone, summed over its window
            keep = torch.tensor(first.astype(np.float64))
            size = float(np.prod(layer.kernel_size))
            avg = getattr(torch.nn, layer.kind.replace("Max", "Avg"))(layer.kernel_size)
            return lambda_module(torch, lambda v: avg(v * keep) * size)
        counts = self.counts
        counts.ties += int(first[tied].sum())
        mask = torch.tensor(tied)
        pinned = torch.tensor(np.where(tied, floats(a), 0.0), dtype=torch.float64)
        untied = first & ~tied

        def pin(v: Any) -> Any:
            vd = v.detach()
            float_first = _max_masks(layer, vd.numpy())[0]
            counts.moved_maxima += int((untied & ~float_first).sum())
            return pool(torch.where(mask, v - vd + pinned, v) if tied.any() else v)
        return lambda_module(torch, pin)


def _pin_loss(torch: Any, model: Model, exact: ExactPass, y: np.ndarray, yhat: Any, counts: _Counts) -> Any:
    """yhat with the entries whose exact loss argument is at a kink pinned so that float64 has it there too."""
    breaks = set(model.loss.derivative.breakpoints)
    if not breaks:
        return yhat
    at = np.zeros(y.shape, dtype=bool)
    target = np.zeros(y.shape, dtype=np.float64)
    for idx in np.ndindex(y.shape):
        t = exact.loss_argument[idx]
        if t in breaks:
            if model.loss.argument == "residual":
                at[idx], target[idx] = True, to_float(y[idx] + t)
            elif y[idx] != 0:
                at[idx], target[idx] = True, to_float(Fraction(t) / Fraction(y[idx]))  # type: ignore[call-overload]
    counts.loss_kinks += int(at.sum())
    if not at.any():
        return yhat
    return torch.where(torch.tensor(at), yhat - yhat.detach() + torch.tensor(target, dtype=torch.float64), yhat)


def torch_pass(model: Model, values: Mapping[str, Any], native: bool = False,
               exact: ExactPass | None = None) -> TorchPass:
    """Forward pass and autograd of the batch loss in torch (float64), pinned at exact breakpoints.

    ``values``: every parameter name of the model, ``x`` and ``y`` (exact numbers, nested
    lists or arrays).  ``native`` uses PyTorch's built-in ReLU/LeakyReLU also where the
    model's table says relu_grad_at_zero = 1.  ``exact`` is :func:`.exact.exact_forward` of the
    same values when the caller has it already.  Raises InputError without PyTorch.
    """
    torch = import_torch()
    exact = exact if exact is not None else exact_forward(model, values)
    builder = _Builder(torch, model, values, exact, "value", native)
    net = builder.sequential(model.layers, "")
    samples = np.asarray(values["x"], dtype=object).shape[0]
    x = builder.tensor(values["x"], model.shape("x", samples)).requires_grad_(True)
    y_exact = as_exact(values["y"], model.shape("y", samples))
    y = torch.tensor(floats(y_exact), dtype=torch.float64)
    out = net(x)
    yhat = _pin_loss(torch, model, exact, y_exact, out, builder.counts)
    loss = torch_loss(torch, model, yhat, y)
    params = [builder.tensors[p.name] for p in model.parameters()]
    grads = torch.autograd.grad(loss, params + [out], allow_unused=True)
    gradients = {p.name: (np.zeros(p.shape) if g is None else g.detach().numpy().astype(np.float64))
                 for p, g in zip(model.parameters(), grads)}
    dyhat = np.zeros(tuple(out.shape)) if grads[-1] is None else grads[-1].detach().numpy()
    c = builder.counts
    return TorchPass(float(loss.detach()), dyhat, gradients, c.at_breakpoint, c.custom_at_breakpoint,
                     tuple(sorted(c.kept_at)), c.rounded_off, c.flips, c.ties,
                     c.moved_maxima, c.loss_kinks)


def torch_trace(model: Model, params: Mapping[str, Any], x: Any, y: Any) -> tuple[float, np.ndarray, dict[str, np.ndarray]]:
    """(loss, dL/dyhat, gradients) by torch autograd in float64: :func:`torch_pass` in short."""
    run = torch_pass(model, {**params, "x": x, "y": y})
    return run.loss, run.yhat_gradient, run.gradients


def magnitudes(model: Model, values: Mapping[str, Any], exact: ExactPass | None = None) -> dict[str, np.ndarray]:
    """Per gradient entry, the sum of the absolute values of the terms that make it up.

    Backprop through the model with every parameter, input and target by its absolute
    value and every piece fixed to the exact one (|slope| z + |intercept|, a max-pool's
    exact maximum), and dL/dyhat by |g| of its exact piece on |yhat| + |y|.  Rounding
    error of a float64 gradient entry is a small multiple of 2^-53 times this number,
    also when the terms cancel to an exact 0: it is what the tolerance is scaled by.
    """
    torch = import_torch()
    exact = exact if exact is not None else exact_forward(model, values)
    builder = _Builder(torch, model, values, exact, "magnitude")
    net = builder.sequential(model.layers, "")
    samples = np.asarray(values["x"], dtype=object).shape[0]
    x = builder.tensor(values["x"], model.shape("x", samples))
    y_exact = as_exact(values["y"], model.shape("y", samples))
    y = torch.tensor(np.abs(floats(y_exact)), dtype=torch.float64)
    table = model.loss.derivative
    pieces = _pieces(table, exact.loss_argument)
    slope = torch.tensor(np.abs(floats(np.array([table.pieces[i].slope for i in pieces.reshape(-1)],
                                                dtype=object))).reshape(y.shape), dtype=torch.float64)
    icpt = torch.tensor(np.abs(floats(np.array([table.pieces[i].intercept for i in pieces.reshape(-1)],
                                               dtype=object))).reshape(y.shape), dtype=torch.float64)
    yhat = net(x)
    outputs = int(np.prod(model.output_shape))
    scale = to_float(model.loss.gradient_scale(samples, outputs))
    if model.loss.link:  # bce, ce: dL/dyhat = s (p - y), its terms p in [0, 1] and |y|
        delta = scale * (1 + y)
    elif model.loss.argument == "residual":
        delta = scale * (slope * (yhat.detach() + y) + icpt)
    else:
        delta = scale * (slope * y * yhat.detach() + icpt) * y
    params = [builder.tensors[p.name] for p in model.parameters()]
    if not params:
        return {}
    grads = torch.autograd.grad((yhat * delta).sum(), params, allow_unused=True)
    return {p.name: (np.zeros(p.shape) if g is None else g.detach().numpy().astype(np.float64))
            for p, g in zip(model.parameters(), grads)}

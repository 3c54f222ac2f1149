"""PyTorch's own modules for the pieces of a model: activations, losses, the custom Function.

Imported by :mod:`.torch`; torch itself is imported only when a function here is called.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError
from ..model.activations import PiecewiseLinear
from ..model.model import Model
from . import OracleError

TORCH_HINT = "pip install 'cexsearch[torch]' (on these machines: pip install torch==2.13.0)"


def import_torch() -> Any:
    try:
        import torch
    except ImportError as e:
        raise InputError("--cross-check torch needs PyTorch", hint=TORCH_HINT) from e
    return torch


def torch_available() -> bool:
    """Whether the torch oracle can run here (PyTorch importable)."""
    try:
        import_torch()
    except InputError:
        return False
    return True


def to_float(v: Any) -> float:
    try:
        return float(v)
    except OverflowError:
        return float("inf") if v > 0 else float("-inf")


def floats(arr: np.ndarray) -> np.ndarray:
    out = np.array([to_float(v) for v in np.asarray(arr, dtype=object).reshape(-1)], dtype=np.float64)
    return out.reshape(np.shape(arr))


def uses_custom_function(table: PiecewiseLinear) -> bool:
    """A ReLU or LeakyReLU whose table puts 0 in the positive piece (relu_grad_at_zero = 1)."""
    return table.name in ("relu", "leaky_relu") and table.pieces[1].lo_closed


def _zero_active(torch: Any) -> Any:
    """relu / leaky_relu with derivative 1 at exactly 0: z where z >= 0, slope z below, either way."""

    class ZeroActive(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, z: Any, slope: float) -> Any:  # type: ignore[override]
            on = z >= 0
            ctx.save_for_backward(on)
            ctx.slope = slope
            return torch.where(on, z, z * slope)

        @staticmethod
        def backward(ctx: Any, grad: Any) -> Any:  # type: ignore[override]
            (on,) = ctx.saved_tensors
            return torch.where(on, grad, grad * ctx.slope), None

    return ZeroActive


def activation_module(torch: Any, table: PiecewiseLinear, native: bool = False) -> Any:
    """PyTorch's module for an activation's piece table (the custom Function for relu_grad_at_zero = 1)."""
    nn = torch.nn
    Module: Any = nn.Module
    name = table.name
    if uses_custom_function(table) and not native:
        fn, slope = _zero_active(torch), float(table.pieces[0].slope)

        class ZeroActiveModule(Module):
            def forward(self, z: Any) -> Any:
                return fn.apply(z, slope)
        return ZeroActiveModule()
    if name == "relu":
        return nn.ReLU()
    if name == "leaky_relu":
        return nn.LeakyReLU(float(table.pieces[0].slope))
    if name == "identity":
        return nn.Identity()
    if name == "hardtanh":
        return nn.Hardtanh(float(table.breakpoints[0]), float(table.breakpoints[-1]))
    if name == "relu6":
        return nn.ReLU6()
    if name == "abs":
        class Abs(Module):
            def forward(self, z: Any) -> Any:
                return torch.abs(z)
        return Abs()
    raise OracleError(f"the torch oracle does not know the activation {name!r}")


def torch_loss(torch: Any, model: Model, yhat: Any, y: Any) -> Any:
    """The batch loss by PyTorch's own loss modules."""
    loss = model.loss
    if loss.name == "mse":
        return torch.nn.MSELoss()(yhat, y)
    if loss.name == "sse":
        return ((yhat - y) ** 2).sum()
    if loss.name == "l1":
        return torch.nn.L1Loss()(yhat, y)
    if loss.name == "huber":
        return torch.nn.HuberLoss(delta=float(dict(loss.settings)["delta"]))(yhat, y)
    if loss.name == "hinge":
        return torch.relu(1 - y * yhat).mean()
    if loss.name == "bce":  # sigmoid and binary cross-entropy on the logits, soft or hard targets
        return torch.nn.BCEWithLogitsLoss()(yhat, y)
    if loss.name == "ce":  # softmax over each sample's outputs, probability targets (one-hot when hard)
        samples = yhat.shape[0]
        return torch.nn.CrossEntropyLoss()(yhat.reshape(samples, -1), y.reshape(samples, -1))
    raise OracleError(f"the torch oracle does not know the loss {loss.name!r}")


def lambda_module(torch: Any, fn: Any) -> Any:
    """A parameterless module from a function (defined here: torch.nn is imported only when called)."""
    Module: Any = torch.nn.Module

    class Fn(Module):
        def forward(self, z: Any) -> Any:
            return fn(z)
    return Fn()

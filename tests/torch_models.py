"""Test helper: the same network as a torch ``nn.Sequential`` with the same weights, and its autograd.

Written from PyTorch's own modules only (nn.Linear, nn.ReLU, nn.Conv1d, ...), sharing nothing
with cexsearch's trace, so the comparison is a second opinion.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cexsearch.model import Model
from cexsearch.model import layers as L


def activation_module(torch: Any, table: Any) -> Any:
    nn = torch.nn
    name = table.name
    if name == "relu":
        return nn.ReLU()
    if name == "leaky_relu":
        return nn.LeakyReLU(float(table.pieces[0].slope))
    if name == "identity":
        return nn.Identity()
    if name == "hardtanh":
        return nn.Hardtanh(float(table.pieces[0].hi), float(table.pieces[-1].lo))
    if name == "relu6":
        return nn.ReLU6()
    if name == "abs":
        class Abs(nn.Module):
            def forward(self, z: Any) -> Any:
                return torch.abs(z)
        return Abs()
    raise KeyError(name)


def torch_module(torch: Any, layer: L.Layer, params: dict[str, Any], path: str, names: dict) -> Any:
    nn = torch.nn

    def load(module: Any) -> Any:
        for role, attr in (("W", "weight"), ("b", "bias")):
            name = names.get((path, role))
            if name is not None:
                getattr(module, attr).data = torch.tensor(
                    np.asarray(params[name], dtype=object).astype(float), dtype=torch.float64)
        return module

    kind = type(layer).__name__
    if isinstance(layer, L.Linear):
        return load(nn.Linear(layer.in_features, layer.out_features, bias=layer.bias, dtype=torch.float64))
    if isinstance(layer, L.Activation):
        return activation_module(torch, layer.table)
    if isinstance(layer, L.Flatten):
        return nn.Flatten()
    if kind in ("Conv1d", "Conv2d"):
        cls = getattr(nn, kind)
        return load(cls(layer.in_channels, layer.out_channels, layer.kernel_size, stride=layer.stride,
                        padding=layer.padding, bias=layer.bias, dtype=torch.float64))
    if kind in ("AvgPool1d", "AvgPool2d", "MaxPool1d", "MaxPool2d"):
        return getattr(nn, kind)(layer.kernel_size)
    if kind == "Residual":
        inner = nn.Sequential(*[torch_module(torch, sub, params, f"{path}.{i}", names)
                                for i, sub in enumerate(layer.block)])

        class Res(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.inner = inner

            def forward(self, z: Any) -> Any:
                return z + self.inner(z)
        return Res()
    raise KeyError(kind)


def torch_loss(torch: Any, model: Model, yhat: Any, y: Any) -> Any:
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
    raise KeyError(loss.name)


def torch_trace(model: Model, params: dict[str, Any], x: Any, y: Any) -> tuple[Any, Any, dict[str, np.ndarray]]:
    """(loss, dL/dyhat, gradients) by torch autograd in float64."""
    import torch

    names = {(p.path, p.role): p.name for p in model.parameters()}
    net = torch.nn.Sequential(*[torch_module(torch, layer, params, str(i), names)
                                for i, layer in enumerate(model.layers)])
    xt = torch.tensor(np.asarray(x, dtype=object).astype(float), dtype=torch.float64, requires_grad=True)
    yt = torch.tensor(np.asarray(y, dtype=object).astype(float), dtype=torch.float64)
    yhat = net(xt)
    yhat.retain_grad()
    loss = torch_loss(torch, model, yhat, yt)
    loss.backward()
    # nn.Sequential lists its parameters depth first, weight before bias: the model's order
    grads = {}
    for p, t in zip(model.parameters(), net.parameters()):
        assert tuple(t.shape) == p.shape, (p, t.shape)
        grads[p.name] = np.zeros(tuple(t.shape)) if t.grad is None else t.grad.detach().numpy()
    return float(loss.detach()), yhat.grad.detach().numpy(), grads

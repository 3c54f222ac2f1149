"""An exact forward pass written from the layers' descriptions alone, for the torch oracle.

It answers one question the float64 pass cannot: which values sit *exactly* on a
breakpoint (an activation's kink, a tie in a max-pool window, a loss's kink), where
rounding by 1e-17 would put float64 on another piece than the exact semantics.
Nothing of :mod:`cexsearch.semantics` is used: each layer is recomputed here in the
plainest way (a loop over output positions for a convolution or a pool), in Python
ints and Fractions.  No backward pass: the gradients are torch's.

>>> from fractions import Fraction as F
>>> from cexsearch.model import Model
>>> m = Model.from_mlp("1-1-1")
>>> p = exact_forward(m, {"W1": [[1]], "b1": [-2], "W2": [[1]], "b2": [0], "x": [[2], [3]], "y": [[0], [0]]})
>>> p.inputs["1"].reshape(-1).tolist() == [0, 1], p.yhat.reshape(-1).tolist() == [0, 1]
(True, True)
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from ..model.conv import ConvNd
from ..model.layers import Activation, Flatten, Layer, Linear
from ..model.model import Model
from ..model.pool import AvgPoolNd, MaxPoolNd, PoolNd
from ..model.residual import Residual
from . import OracleError


def as_exact(value: Any, shape: tuple[int, ...]) -> np.ndarray:
    """An object array of ints and Fractions of ``shape`` (integers as ints: exact and fast)."""
    flat = np.asarray(value, dtype=object).reshape(-1)
    out = np.empty(len(flat), dtype=object)
    out[:] = [_whole(Fraction(v)) for v in flat]
    return out.reshape(shape)


def _whole(v: Fraction) -> Fraction | int:
    return v.numerator if v.denominator == 1 else v


@dataclass(frozen=True)
class ExactPass:
    """Every layer's exact input by path, and the exact output and loss argument per entry."""

    inputs: Mapping[str, np.ndarray]
    yhat: np.ndarray
    loss_argument: np.ndarray


def exact_forward(model: Model, values: Mapping[str, Any]) -> ExactPass:
    """The forward pass of ``model`` on ``values`` (parameter names, ``x`` and ``y``), exactly."""
    x = np.asarray(values["x"], dtype=object)
    samples = x.shape[0]
    x = as_exact(x, model.shape("x", samples))
    y = as_exact(values["y"], model.shape("y", samples))
    params = {p.name: as_exact(values[p.name], p.shape) for p in model.parameters()}
    owned = {(p.path, p.role): params[p.name] for p in model.parameters()}
    inputs: dict[str, np.ndarray] = {}
    yhat = _run(model.layers, x, "", owned, inputs)
    t = yhat - y if model.loss.argument == "residual" else y * yhat
    return ExactPass(inputs, yhat, t)


def _run(layers: tuple[Layer, ...], a: np.ndarray, prefix: str, owned: Mapping[tuple[str, str], np.ndarray],
         inputs: dict[str, np.ndarray]) -> np.ndarray:
    for i, layer in enumerate(layers):
        path = f"{prefix}{i}"
        inputs[path] = a
        a = _layer(layer, a, path, owned, inputs)
    return a


def _layer(layer: Layer, a: np.ndarray, path: str, owned: Mapping[tuple[str, str], np.ndarray],
           inputs: dict[str, np.ndarray]) -> np.ndarray:
    W, b = owned.get((path, "W")), owned.get((path, "b"))
    if isinstance(layer, Linear):
        assert W is not None
        z = a.dot(W.T)
        return z + b if b is not None else z
    if isinstance(layer, Activation):
        out = np.empty(a.shape, dtype=object)
        for idx in np.ndindex(a.shape):
            out[idx] = layer.table.value(a[idx])
        return out
    if isinstance(layer, Flatten):
        return a.reshape(a.shape[0], -1)
    if isinstance(layer, ConvNd):
        assert W is not None
        return _conv(layer, a, W, b)
    if isinstance(layer, PoolNd):
        return _pool(layer, a)
    if isinstance(layer, Residual):
        return a + _run(layer.block, a, path + ".", owned, inputs)
    raise OracleError(f"the exact pass of the torch oracle does not know the layer {layer.notation()}")


def _conv(layer: ConvNd, a: np.ndarray, W: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    """``y[m, f, o] = Σ_{c, j} W[f, c, j] x_p[m, c, o * stride + j] + b[f]``, one output position at a time."""
    d = layer.dims
    pads = [(0, 0), (0, 0)] + [(p, p) for p in layer.padding]
    xp = np.pad(a, pads, mode="constant", constant_values=0)
    outs = [(n - k) // s + 1 for n, k, s in zip(xp.shape[2:], layer.kernel_size, layer.stride)]
    y = np.empty((a.shape[0], layer.out_channels, *outs), dtype=object)
    axes = list(range(1, 2 + d))
    for o in itertools.product(*(range(n) for n in outs)):
        window = tuple(slice(oi * s, oi * s + k) for oi, s, k in zip(o, layer.stride, layer.kernel_size))
        patch = xp[(slice(None), slice(None), *window)]  # (M, C, *kernel)
        z = np.tensordot(patch, W, axes=(axes, axes))  # (M, out_channels)
        y[(slice(None), slice(None), *o)] = z + b if b is not None else z  # type: ignore[index]
    return y


def pool_windows(kernel: tuple[int, ...], spatial: tuple[int, ...]) -> list[tuple[tuple[int, ...], tuple[slice, ...]]]:
    """(output position, the slices of its window) of a pool with stride = kernel, in row-major order."""
    outs = [n // k for n, k in zip(spatial, kernel)]
    return [(o, tuple(slice(oi * k, (oi + 1) * k) for oi, k in zip(o, kernel)))
            for o in itertools.product(*(range(n) for n in outs))]


def _pool(layer: PoolNd, a: np.ndarray) -> np.ndarray:
    m, c = a.shape[:2]
    windows = pool_windows(layer.kernel_size, a.shape[2:])
    outs = tuple(n // k for n, k in zip(a.shape[2:], layer.kernel_size))
    y = np.empty((m, c, *outs), dtype=object)
    size = int(np.prod(layer.kernel_size))
    for o, window in windows:
        entries = a[(slice(None), slice(None), *window)].reshape(m, c, size)
        for i, j in np.ndindex(m, c):
            row = list(entries[i, j])
            if isinstance(layer, MaxPoolNd):
                y[(i, j, *o)] = max(row)
            elif isinstance(layer, AvgPoolNd):
                y[(i, j, *o)] = _whole(Fraction(sum(row)) / size)
            else:
                raise OracleError(f"the exact pass of the torch oracle does not know the pool {layer.notation()}")
    return y

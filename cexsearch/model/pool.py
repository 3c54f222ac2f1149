"""Pooling: AvgPool1d/2d and MaxPool1d/2d with kernel k and stride k (PyTorch's default), no padding.

Windows ``w[m, c, o] = (x[m, c, o * k + j])_j`` (see :mod:`.windows`); entries past the
last whole window are dropped, as PyTorch does (floor).

* Average: ``y = (1/|k|) Σ_j w_j``; backward ``dx[o * k + j] += dy[o] / |k|``.
* Maximum: ``y = w_{j*}`` with ``j*`` the window's argmax, chosen by the algebra
  (``ops.argmax``) and recorded in the pattern (one index per window, row-major
  over the window for 2-d).  Backward ``dx[o * k + j*] += dy[o]``, nothing to the
  other entries.  **On ties the gradient goes to the first maximum in scan order**
  (row-major within the window), which is where PyTorch 2.13's CPU max-pool sends
  it (checked in ``tests/model/test_layers.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any, ClassVar

import numpy as np

from ..errors import SpecError
from . import windows as win
from .layers import Layer, LayerSettings, Ops, Shape, register, shape_text, sizes


@dataclass(frozen=True)
class PoolNd(Layer):
    kernel_size: Shape
    dims: ClassVar[int] = 1
    kind: ClassVar[str] = "PoolNd"

    def out_shape(self, in_shape: Shape) -> Shape:
        if len(in_shape) != 1 + self.dims:
            want = "(channels, L)" if self.dims == 1 else "(channels, H, W)"
            raise SpecError(f"{self.notation()} expects an input of shape {want}, got {shape_text(in_shape)}")
        outs = tuple(n // k for n, k in zip(in_shape[1:], self.kernel_size))
        if any(o < 1 for o in outs):
            raise SpecError(f"{self.notation()}: the window does not fit the input {shape_text(in_shape)}")
        return (in_shape[0], *outs)

    def _windows(self, x: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
        used = tuple((n // k) * k for n, k in zip(x.shape[2:], self.kernel_size))
        index = win.window_index(used, self.kernel_size, self.kernel_size)
        patches = win.gather(x, index)  # (M, C, *out, *k)
        return patches.reshape(*patches.shape[: 2 + self.dims], -1), index

    def _scatter(self, ops: Ops, shape: Shape, index: tuple[np.ndarray, ...], dwin: np.ndarray) -> np.ndarray:
        return win.scatter(ops, shape, index, dwin.reshape(*dwin.shape[:-1], *self.kernel_size))

    def notation(self) -> str:
        k = self.kernel_size
        return f"{self.kind}({k[0] if len(set(k)) == 1 else k})"


@dataclass(frozen=True)
class AvgPoolNd(PoolNd):
    def forward(self, ops: Ops, x: np.ndarray, path: str) -> tuple[np.ndarray, Any]:
        windows, index = self._windows(x)
        inv = ops.constant(Fraction(1, windows.shape[-1]))
        return ops.sum(windows, -1 % windows.ndim) * inv, (index, x.shape, inv)

    def backward(self, ops: Ops, cache: Any, dy: np.ndarray, path: str) -> np.ndarray:
        index, shape, inv = cache
        size = int(np.prod(self.kernel_size))
        dwin = np.repeat((dy * inv)[..., None], size, axis=-1)
        return self._scatter(ops, shape, index, dwin)


@dataclass(frozen=True)
class MaxPoolNd(PoolNd):
    def forward(self, ops: Ops, x: np.ndarray, path: str) -> tuple[np.ndarray, Any]:
        windows, index = self._windows(x)
        size = windows.shape[-1]
        chosen = ops.argmax(path, windows)
        onehot = np.stack([chosen.pick([Fraction(int(i == j)) for i in range(size)]) for j in range(size)], axis=-1)
        return ops.sum(windows * onehot, windows.ndim - 1), (index, x.shape, onehot)

    def backward(self, ops: Ops, cache: Any, dy: np.ndarray, path: str) -> np.ndarray:
        index, shape, onehot = cache
        return self._scatter(ops, shape, index, dy[..., None] * onehot)


@dataclass(frozen=True)
class AvgPool1d(AvgPoolNd):
    dims: ClassVar[int] = 1
    kind: ClassVar[str] = "AvgPool1d"


@dataclass(frozen=True)
class AvgPool2d(AvgPoolNd):
    dims: ClassVar[int] = 2
    kind: ClassVar[str] = "AvgPool2d"


@dataclass(frozen=True)
class MaxPool1d(MaxPoolNd):
    dims: ClassVar[int] = 1
    kind: ClassVar[str] = "MaxPool1d"


@dataclass(frozen=True)
class MaxPool2d(MaxPoolNd):
    dims: ClassVar[int] = 2
    kind: ClassVar[str] = "MaxPool2d"


def _builder(cls: type[PoolNd]) -> Any:
    def build(settings: LayerSettings, kernel_size: object) -> Layer:
        return cls(sizes(cls.kind, "kernel_size", kernel_size, cls.dims))

    return build


for _cls in (AvgPool1d, AvgPool2d, MaxPool1d, MaxPool2d):
    register(_cls.kind, _builder(_cls))

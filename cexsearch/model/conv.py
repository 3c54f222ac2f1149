"""Convolutions: Conv1d and Conv2d with stride, zero padding and bias, as PyTorch computes them.

With ``x_p`` the zero-padded input (M, C, *spatial), the windows
``X[m, o, (c, j)] = x_p[m, c, o * stride + j]`` (im2col) and ``W`` of shape
(out_ch, in_ch, *kernel) read as a matrix (out_ch, C * |kernel|)::

    y[m, f, o] = Σ_{c, j} W[f, c, j] x_p[m, c, o * stride + j] + b[f]     (cross-correlation)

Backward, with ``dY`` (M * |out|, out_ch) the output gradient flattened the same way:

    dW = dY^T X                     (summed over samples and positions)
    db[f] = Σ_{m, o} dy[m, f, o]     (a bias is shared over positions)
    dx_p[m, c, o * stride + j] += (dY W)[m, o, (c, j)],   dx = dx_p without its padding
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..errors import SpecError
from . import windows as win
from .layers import Layer, LayerSettings, Ops, Shape, flag, positive_int, register, shape_text, sizes


def _text(values: Shape) -> str:
    return str(values[0]) if len(set(values)) == 1 else "(" + ", ".join(map(str, values)) + ")"


@dataclass(frozen=True)
class ConvNd(Layer):
    """A convolution over ``dims`` spatial axes (see the module docstring for the maths)."""

    in_channels: int
    out_channels: int
    kernel_size: Shape
    stride: Shape
    padding: Shape
    bias: bool = True
    dims: ClassVar[int] = 1
    kind: ClassVar[str] = "ConvNd"

    def param_shapes(self) -> tuple[tuple[str, Shape], ...]:
        w = (("W", (self.out_channels, self.in_channels, *self.kernel_size)),)
        return w + ((("b", (self.out_channels,)),) if self.bias else ())

    def out_shape(self, in_shape: Shape) -> Shape:
        want = "(in_channels, " + ", ".join("HW"[: self.dims] if self.dims == 2 else "L") + ")"
        if len(in_shape) != 1 + self.dims or in_shape[0] != self.in_channels:
            raise SpecError(f"{self.notation()} expects an input of shape {want} with in_channels = "
                            f"{self.in_channels}, got {shape_text(in_shape)}")
        outs = tuple(win.out_size(n, k, s, p) for n, k, s, p in
                     zip(in_shape[1:], self.kernel_size, self.stride, self.padding))
        if any(o < 1 for o in outs):
            raise SpecError(f"{self.notation()}: the kernel does not fit the input {shape_text(in_shape)}",
                            hint="use a smaller kernel, more padding or a larger input")
        return (self.out_channels, *outs)

    def _windows(self, ops: Ops, x: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, ...], Shape]:
        xp = win.pad(ops, x, self.padding)
        index = win.window_index(xp.shape[2:], self.kernel_size, self.stride)
        patches = win.gather(xp, index)  # (M, C, *out, *k)
        d = self.dims
        order = (0, *range(2, 2 + d), 1, *range(2 + d, 2 + 2 * d))
        cols = patches.transpose(order).reshape(-1, self.in_channels * int(np.prod(self.kernel_size)))
        return cols, index, xp.shape

    def forward(self, ops: Ops, x: np.ndarray, path: str) -> tuple[np.ndarray, Any]:
        p = ops.params(path)
        cols, index, padded = self._windows(ops, x)
        W = p["W"].reshape(self.out_channels, -1)
        z = ops.matmul(cols, W.T)  # (M * |out|, out_ch)
        if self.bias:
            z = z + p["b"]
        m, outs = x.shape[0], tuple(index[a].shape[a] for a in range(self.dims))
        y = z.reshape(m, *outs, self.out_channels).transpose(0, self.dims + 1, *range(1, self.dims + 1))
        return y, (cols, index, padded, x.shape)

    def backward(self, ops: Ops, cache: Any, dy: np.ndarray, path: str) -> np.ndarray:
        cols, index, padded, in_shape = cache
        d = self.dims
        W = ops.params(path)["W"]
        dY = dy.transpose(0, *range(2, 2 + d), 1).reshape(-1, self.out_channels)
        ops.gradient(path, "W", ops.matmul(dY.T, cols).reshape(W.shape))
        if self.bias:
            ops.gradient(path, "b", ops.sum(dY, 0))
        if not ops.input_gradient_needed(path):
            return dy
        dcols = ops.matmul(dY, W.reshape(self.out_channels, -1))
        m, outs = in_shape[0], dy.shape[2:]
        dpatches = dcols.reshape(m, *outs, self.in_channels, *self.kernel_size)
        dpatches = dpatches.transpose(0, d + 1, *range(1, d + 1), *range(d + 2, 2 * d + 2))
        dxp = win.scatter(ops, padded, index, dpatches)
        return win.unpad(dxp, self.padding, in_shape[2:])

    def notation(self) -> str:
        extra = ""
        if any(s != 1 for s in self.stride):
            extra += f", stride={_text(self.stride)}"
        if any(self.padding):
            extra += f", padding={_text(self.padding)}"
        if not self.bias:
            extra += ", bias=False"
        return f"{self.kind}({self.in_channels}, {self.out_channels}, {_text(self.kernel_size)}{extra})"


@dataclass(frozen=True)
class Conv1d(ConvNd):
    dims: ClassVar[int] = 1
    kind: ClassVar[str] = "Conv1d"


@dataclass(frozen=True)
class Conv2d(ConvNd):
    dims: ClassVar[int] = 2
    kind: ClassVar[str] = "Conv2d"


def _builder(cls: type[ConvNd]) -> Any:
    name = cls.kind

    def build(settings: LayerSettings, in_channels: object, out_channels: object, kernel_size: object,
              stride: object = 1, padding: object = 0, bias: object = True) -> Layer:
        return cls(positive_int(name, "in_channels", in_channels), positive_int(name, "out_channels", out_channels),
                   sizes(name, "kernel_size", kernel_size, cls.dims, 1), sizes(name, "stride", stride, cls.dims, 1),
                   sizes(name, "padding", padding, cls.dims, 0), flag(name, "bias", bias))

    return build


register("Conv1d", _builder(Conv1d))
register("Conv2d", _builder(Conv2d))

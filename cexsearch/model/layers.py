"""Layers: parameter shapes, output shape, forward map and backward map, each written once.

A layer computes on batch-first arrays (shape ``(M, *shape)``) through :class:`Ops`,
the small interface the semantics (:mod:`cexsearch.semantics.trace`) hands it:
array products and sums of the chosen algebra (Fraction, float64, Z3 terms), the
choice of a linear piece, and the parameters and gradients of the layer's path.
A layer never compares values itself: every branch goes through ``ops.choose`` or
``ops.argmax``, so the same code is the exact pass, the float pass and the encoding.

Backward maps receive ``dy = dL/d(output)`` (unscaled, see :mod:`.losses`) and
return ``dx = dL/d(input)``, reporting ``dL/dW`` and ``dL/db`` through ``ops.gradient``.

A new layer is one class (here or in its own module) and one ``register`` line.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, ClassVar, Protocol

import numpy as np

from ..errors import SpecError
from .activations import PiecewiseLinear
from .activations import activation as make_activation

Shape = tuple[int, ...]


class Chosen(Protocol):
    """The piece taken at every entry of a site; ``pick`` maps per-piece constants to an array."""

    def pick(self, values: Sequence[Fraction]) -> np.ndarray: ...
    def times(self, values: Sequence[Fraction], t: np.ndarray, backward: bool = False) -> np.ndarray: ...


class Ops(Protocol):
    """What a layer may ask of the semantics while it runs."""

    def constant(self, value: Fraction) -> Any: ...
    def zeros(self, shape: Shape) -> np.ndarray: ...
    def matmul(self, a: np.ndarray, b: np.ndarray) -> np.ndarray: ...
    def sum(self, a: np.ndarray, axis: int) -> np.ndarray: ...
    def choose(self, path: str, table: PiecewiseLinear, z: np.ndarray) -> Chosen: ...
    def argmax(self, path: str, windows: np.ndarray) -> Chosen: ...
    def params(self, path: str) -> Mapping[str, np.ndarray]: ...
    def gradient(self, path: str, role: str, value: np.ndarray) -> None: ...
    def input_gradient_needed(self, path: str) -> bool: ...
    def forward(self, layers: Sequence[Layer], x: np.ndarray, path: str) -> tuple[np.ndarray, Any]: ...
    def backward(self, layers: Sequence[Layer], cache: Any, dy: np.ndarray, path: str) -> np.ndarray: ...


class BadArgument(SpecError):
    """A layer argument out of range; ``argument`` names it (keyword or position) for the caret."""

    def __init__(self, message: str, argument: str, hint: str | None = None) -> None:
        self.argument = argument
        super().__init__(message, hint=hint)


def positive_int(layer: str, name: str, value: object, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadArgument(f"{layer}: {name} must be an integer, got {value!r}", name)
    if value < minimum:
        raise BadArgument(f"{layer}: {name} must be at least {minimum}, got {value}", name)
    return value


def sizes(layer: str, name: str, value: object, dims: int, minimum: int = 1) -> Shape:
    """A per-axis size argument (``kernel_size=3`` or ``(2, 3)``) as one integer per spatial axis."""
    if isinstance(value, tuple):
        if len(value) != dims:
            raise BadArgument(f"{layer}: {name} needs {dims} sizes, got {len(value)}", name)
        return tuple(positive_int(layer, name, v, minimum) for v in value)
    return (positive_int(layer, name, value, minimum),) * dims


def flag(layer: str, name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise BadArgument(f"{layer}: {name} must be True or False, got {value!r}", name)
    return value


def number(layer: str, name: str, value: object) -> Fraction:
    if isinstance(value, bool) or not isinstance(value, (int, Fraction)):
        raise BadArgument(f"{layer}: {name} must be a number, got {value!r}", name)
    return Fraction(value)


def shape_text(shape: Shape) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


class Layer:
    """Base of every layer (subclasses are frozen dataclasses)."""

    kind: ClassVar[str] = "layer"

    def param_shapes(self) -> tuple[tuple[str, Shape], ...]:
        """(role, shape) of each parameter, roles ``W`` then ``b``; empty for a layer without any."""
        return ()

    def out_shape(self, in_shape: Shape) -> Shape:
        """The shape of one sample's output; SpecError naming the expected shape on a mismatch."""
        raise NotImplementedError

    def forward(self, ops: Ops, x: np.ndarray, path: str) -> tuple[np.ndarray, Any]:
        """(output, cache for backward) for the batch x of shape (M, *in_shape)."""
        raise NotImplementedError

    def backward(self, ops: Ops, cache: Any, dy: np.ndarray, path: str) -> np.ndarray:
        """dL/dx from dL/dy; parameter gradients go to ``ops.gradient``.

        A layer with parameters may skip dL/dx (returning ``dy``, unread) where
        ``ops.input_gradient_needed(path)`` is False: the first layer, whose input is x.
        """
        raise NotImplementedError

    def sublayers(self) -> tuple[Layer, ...]:
        return ()

    def notation(self) -> str:
        """The layer in PyTorch's notation."""
        raise NotImplementedError


@dataclass(frozen=True)
class Linear(Layer):
    """``y = x W^T + b`` with W of shape (out, in).

    Backward: ``dW = dy^T x``, ``db = sum_m dy[m]``, ``dx = dy W``.
    """

    in_features: int
    out_features: int
    bias: bool = True
    kind: ClassVar[str] = "Linear"

    def param_shapes(self) -> tuple[tuple[str, Shape], ...]:
        w = (("W", (self.out_features, self.in_features)),)
        return w + ((("b", (self.out_features,)),) if self.bias else ())

    def out_shape(self, in_shape: Shape) -> Shape:
        if in_shape != (self.in_features,):
            hint = "put Flatten() before it" if len(in_shape) > 1 else None
            raise SpecError(f"{self.notation()} expects an input of shape ({self.in_features},), "
                            f"got {shape_text(in_shape)}", hint=hint)
        return (self.out_features,)

    def forward(self, ops: Ops, x: np.ndarray, path: str) -> tuple[np.ndarray, Any]:
        p = ops.params(path)
        z = ops.matmul(x, p["W"].T)
        if self.bias:
            z = z + p["b"]
        return z, x

    def backward(self, ops: Ops, cache: Any, dy: np.ndarray, path: str) -> np.ndarray:
        x = cache
        W = ops.params(path)["W"]
        ops.gradient(path, "W", ops.matmul(dy.T, x))
        if self.bias:
            ops.gradient(path, "b", ops.sum(dy, 0))
        return ops.matmul(dy, W) if ops.input_gradient_needed(path) else dy

    def notation(self) -> str:
        return f"Linear({self.in_features}, {self.out_features}{'' if self.bias else ', bias=False'})"


@dataclass(frozen=True)
class Activation(Layer):
    """An elementwise piecewise-linear activation: ``y = s_p z + c_p`` on the piece p holding z.

    Backward: ``dx = s_p dy``, the slope of the piece chosen in the forward pass
    (so the derivative at a breakpoint is the table's, see :mod:`.activations`).
    """

    table: PiecewiseLinear
    label: str = ""
    kind: ClassVar[str] = "Activation"

    def out_shape(self, in_shape: Shape) -> Shape:
        return in_shape

    def forward(self, ops: Ops, x: np.ndarray, path: str) -> tuple[np.ndarray, Any]:
        if self.table.is_linear:
            p = self.table.pieces[0]
            if p.slope == 1 and p.intercept == 0:
                return x, None
        chosen = ops.choose(path, self.table, x)
        slopes = [p.slope for p in self.table.pieces]
        y = chosen.times(slopes, x)
        if any(p.intercept != 0 for p in self.table.pieces):
            y = y + chosen.pick([p.intercept for p in self.table.pieces])
        return y, (chosen, slopes)

    def backward(self, ops: Ops, cache: Any, dy: np.ndarray, path: str) -> np.ndarray:
        if cache is None:
            return dy
        chosen, slopes = cache
        return chosen.times(slopes, dy, backward=True)

    def notation(self) -> str:
        return self.label or self.table.name


@dataclass(frozen=True)
class Flatten(Layer):
    """``(M, *shape) -> (M, prod(shape))`` row-major, as ``nn.Flatten()``; backward reshapes back."""

    kind: ClassVar[str] = "Flatten"

    def out_shape(self, in_shape: Shape) -> Shape:
        return (int(np.prod(in_shape, dtype=np.int64)),)

    def forward(self, ops: Ops, x: np.ndarray, path: str) -> tuple[np.ndarray, Any]:
        return x.reshape(x.shape[0], -1), x.shape

    def backward(self, ops: Ops, cache: Any, dy: np.ndarray, path: str) -> np.ndarray:
        return dy.reshape(cache)

    def notation(self) -> str:
        return "Flatten()"


@dataclass(frozen=True)
class LayerSettings:
    """Model-wide settings a layer builder reads: the derivative of ReLU/LeakyReLU at 0."""

    relu_grad_at_zero: int = 0


#: PyTorch name -> builder(settings, *args, **kwargs) -> Layer
LAYERS: dict[str, Callable[..., Layer]] = {}


def register(name: str, builder: Callable[..., Layer]) -> None:
    LAYERS[name] = builder


def _linear(settings: LayerSettings, in_features: object, out_features: object, bias: object = True) -> Layer:
    return Linear(positive_int("Linear", "in_features", in_features),
                  positive_int("Linear", "out_features", out_features), flag("Linear", "bias", bias))


def _relu(settings: LayerSettings) -> Layer:
    return Activation(make_activation("relu", grad_at_zero=settings.relu_grad_at_zero), "ReLU()")


def _leaky(settings: LayerSettings, negative_slope: object = Fraction(1, 100)) -> Layer:
    s = number("LeakyReLU", "negative_slope", negative_slope)
    return Activation(make_activation("leaky_relu", negative_slope=s, grad_at_zero=settings.relu_grad_at_zero),
                      f"LeakyReLU({s})")


def _identity(settings: LayerSettings) -> Layer:
    return Activation(make_activation("identity"), "Identity()")


def _hardtanh(settings: LayerSettings, min_val: object = -1, max_val: object = 1) -> Layer:
    lo, hi = number("Hardtanh", "min_val", min_val), number("Hardtanh", "max_val", max_val)
    if not lo < hi:
        raise BadArgument(f"Hardtanh: min_val must be below max_val, got {lo} and {hi}", "max_val")
    return Activation(make_activation("hardtanh", min_val=lo, max_val=hi), f"Hardtanh({lo}, {hi})")


def _relu6(settings: LayerSettings) -> Layer:
    return Activation(make_activation("relu6"), "ReLU6()")


def _abs(settings: LayerSettings) -> Layer:
    return Activation(make_activation("abs"), "Abs()")


def _flatten(settings: LayerSettings) -> Layer:
    return Flatten()


register("Linear", _linear)
register("ReLU", _relu)
register("LeakyReLU", _leaky)
register("Identity", _identity)
register("Hardtanh", _hardtanh)
register("ReLU6", _relu6)
register("Abs", _abs)
register("Flatten", _flatten)

"""A network as a frozen sequence of layers, with its input shape, loss and parameter names.

Parameters are named by the order of the layers that have them, depth first
(a residual block's layers count where they stand): the k-th such layer owns
``Wk`` and, unless built with ``bias=False``, ``bk``, in PyTorch's shapes
(Linear (out, in), Conv1d (out_ch, in_ch, k), Conv2d (out_ch, in_ch, kh, kw)).
The data are ``x`` of shape (M, *input_shape) and ``y`` of shape (M, *output_shape).

Every layer has a *path*: its position, ``"0"``, ``"1"``, ... at the top and
``"2.0"``, ``"2.1"`` inside the block at position 2.  Patterns and traces are
keyed by path; the loss's pieces by ``"loss"``.

>>> m = Model.from_mlp("1-2-1")
>>> m.parameter_names(), m.shape("W1", 3), m.shape("x", 3)
(('W1', 'b1', 'W2', 'b2'), (2, 1), (3, 1))
>>> [layer.notation() for layer in m.layers]
['Linear(1, 2)', 'ReLU()', 'Linear(2, 1)']
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cached_property
from typing import Any

import numpy as np

from ..errors import SpecError, TooLarge
from .layers import LAYERS, Activation, Layer, LayerSettings, Linear, Shape
from .losses import Loss
from .losses import loss as make_loss

MAX_VALUES = 10**6  # the same limit as spec.MAX_VALUES: parameters plus data entries

#: spec.Network's activation names -> the layer builder's name
MLP_ACTIVATIONS = {"relu": "ReLU", "leaky_relu": "LeakyReLU", "linear": "Identity", "identity": "Identity",
                   "hardtanh": "Hardtanh", "relu6": "ReLU6", "abs": "Abs"}


@dataclass(frozen=True)
class Parameter:
    """One parameter tensor: its name (W3), the path of its layer, its role (W or b), its shape."""

    name: str
    path: str
    role: str
    shape: Shape


@dataclass(frozen=True)
class Site:
    """Where a pattern chooses: ``path`` (a layer's, or ``"loss"``), the kind, the shape of the
    choices over the batch, and how many pieces each entry chooses among."""

    path: str
    kind: str
    shape: Shape
    pieces: int


@dataclass(frozen=True)
class LayerInfo:
    """A layer as a document shows it: path, PyTorch notation, kind, shapes, its parameters' names."""

    path: str
    notation: str
    kind: str
    input_shape: Shape
    output_shape: Shape
    parameters: tuple[str, ...]


def _walk(layers: tuple[Layer, ...], in_shape: Shape, prefix: str) -> Iterator[tuple[str, Layer, Shape, Shape]]:
    shape = in_shape
    for i, layer in enumerate(layers):
        path = f"{prefix}{i}"
        out = layer.out_shape(shape)
        yield path, layer, shape, out
        if layer.sublayers():
            yield from _walk(layer.sublayers(), shape, path + ".")
        shape = out


@dataclass(frozen=True)
class Model:
    """A network: layers applied in order to x of shape (M, *input_shape), then the loss."""

    layers: tuple[Layer, ...]
    input_shape: Shape
    loss: Loss = field(default_factory=lambda: make_loss("mse"))
    settings: LayerSettings = field(default_factory=LayerSettings)

    def __post_init__(self) -> None:
        if not self.layers:
            raise SpecError("a network needs at least one layer", hint="e.g. Sequential(Linear(1, 1))")
        if not self.input_shape or any(s < 1 for s in self.input_shape):
            raise SpecError(f"the input shape must be one or more positive sizes, got {self.input_shape}",
                            hint="e.g. --input-shape 1,8")
        self.walk()  # every layer's shape is checked here, once
        if self.parameter_count() > MAX_VALUES:
            raise TooLarge(f"the network has {self.parameter_count()} parameters, above the limit of {MAX_VALUES}",
                           hint="use a smaller network")

    # -- structure ---------------------------------------------------------
    def walk(self) -> tuple[tuple[str, Layer, Shape, Shape], ...]:
        """(path, layer, input shape, output shape) of every layer, nested ones after their container."""
        return self._walked

    @cached_property
    def _walked(self) -> tuple[tuple[str, Layer, Shape, Shape], ...]:
        return tuple(_walk(self.layers, self.input_shape, ""))

    @cached_property
    def output_shape(self) -> Shape:
        last = str(len(self.layers) - 1)
        return next(out for path, _, _, out in self.walk() if path == last)

    def parameters(self) -> tuple[Parameter, ...]:
        return self._parameters

    @cached_property
    def _parameters(self) -> tuple[Parameter, ...]:
        out: list[Parameter] = []
        k = 0
        for path, layer, _, _ in self.walk():
            shapes = layer.param_shapes()
            if shapes:
                k += 1
                out.extend(Parameter(f"{role}{k}", path, role, shape) for role, shape in shapes)
        return tuple(out)

    def parameter_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parameters())

    def variable_names(self) -> tuple[str, ...]:
        """Everything a witness assigns: parameters, then x and y."""
        return self.parameter_names() + ("x", "y")

    def parameter_count(self) -> int:
        total = 0
        for p in self.parameters():
            size = 1
            for s in p.shape:
                size *= s
            total += size
        return total

    def shape(self, name: str, samples: int) -> Shape:
        if name == "x":
            return (samples, *self.input_shape)
        if name in ("y", "yhat") or (name == "p" and self.loss.link):
            return (samples, *self.output_shape)
        for p in self.parameters():
            if p.name == name:
                return p.shape
        raise SpecError(f"unknown name {name!r}", hint=f"the network has {', '.join(self.variable_names())}")

    @property
    def text(self) -> str:
        """The network in PyTorch's notation (parse_model reads it back)."""
        return "Sequential(" + ", ".join(layer.notation() for layer in self.layers) + ")"

    # -- what Problem, Assignment and the condition checker ask of a network --
    names = None  # no alias table: a layer model's parameters are W1, b1, ... to everyone

    def label(self, name: str) -> str:
        return name

    def labels(self) -> dict[str, str]:
        return {n: n for n in self.value_names()}

    def value_names(self) -> tuple[str, ...]:
        """Every name a condition may use as a value (not counting grad(...))."""
        return self.variable_names() + ("yhat",) + (("p",) if self.loss.link else ())

    @property
    def bias(self) -> bool:
        """Whether any layer has a bias (the condition checker's hint when a ``bK`` is missing)."""
        return any(p.role == "b" for p in self.parameters())

    @property
    def has_patterns(self) -> bool:
        return bool(self.sites(1))

    def pattern_count(self, samples: int) -> int:
        """How many patterns the sites of a batch of ``samples`` choose among."""
        total = 1
        for site in self.sites(samples):
            total *= site.pieces ** int(np.prod(site.shape, dtype=object))
        return total

    def check_samples(self, samples: int, label: str = "--samples") -> None:
        """Refuse a batch size below 1, or one whose data make the problem too large."""
        if samples < 1:
            raise SpecError(f"{label} must be at least 1, got {samples}", hint="a batch has one sample or more")
        data = int(np.prod(self.input_shape, dtype=object)) + int(np.prod(self.output_shape, dtype=object))
        values = self.parameter_count() + samples * data
        if values > MAX_VALUES:
            raise TooLarge(f"this network with {label} {samples} has {values} parameters and data entries, above "
                           f"the limit of {MAX_VALUES}", hint="use a smaller batch or a smaller network")

    def sites(self, samples: int) -> tuple[Site, ...]:
        """Every place a value chooses a piece, in the order the forward pass meets them: the
        pattern space.  Activation units (shape (M, *in)), max-pool windows ((M, C, *out), one
        choice of |kernel| positions each) and, for a piecewise loss, the output entries."""
        out: list[Site] = []
        for path, layer, in_shape, out_shape in self.walk():
            table = getattr(layer, "table", None)
            if isinstance(layer, Activation) and table is not None and not table.is_linear:
                out.append(Site(path, "activation", (samples, *in_shape), len(table.pieces)))
            elif layer.kind.startswith("MaxPool"):
                size = 1
                for k in layer.kernel_size:  # type: ignore[attr-defined]
                    size *= k
                out.append(Site(path, "max", (samples, *out_shape), size))
        if self.loss.is_piecewise:
            out.append(Site("loss", "loss", (samples, *self.output_shape), len(self.loss.derivative.pieces)))
        return tuple(out)

    def summary(self) -> tuple[LayerInfo, ...]:
        """One row per layer (nested ones after their block): for documents, tables and explanations."""
        owners: dict[str, list[str]] = {}
        for p in self.parameters():
            owners.setdefault(p.path, []).append(p.name)
        return tuple(LayerInfo(path, layer.notation(), layer.kind, i, o, tuple(owners.get(path, ())))
                     for path, layer, i, o in self.walk())

    def describe(self) -> str:
        return f"{self.text} on input {self.input_shape}, {self.loss.describe()} loss"

    # -- the MLP shorthand ---------------------------------------------------
    @classmethod
    def from_network(cls, network: Any) -> Model:
        """The model of a :class:`cexsearch.model.network.Network` (same names, shapes and semantics)."""
        return cls.from_mlp(network.text, activation=network.activation, bias=network.bias, loss=network.loss,
                            relu_grad_at_zero=network.relu_grad_at_zero, leaky_slope=network.leaky_slope)

    def values_of(self, assignment: Any) -> dict[str, np.ndarray]:
        """name -> object array of Fractions, from a :class:`cexsearch.model.problem.Assignment` of this model's names."""
        out = {}
        for name in self.variable_names():
            flat = assignment.flat(name)
            arr = np.empty(len(flat), dtype=object)
            arr[:] = list(flat)
            out[name] = arr.reshape(self.shape(name, assignment.samples))
        return out

    @classmethod
    def from_mlp(cls, text: str, activation: str = "relu", bias: bool = True, loss: str = "mse",
                 relu_grad_at_zero: int = 0, leaky_slope: Fraction = Fraction(1, 100),
                 huber_delta: Fraction = Fraction(1)) -> Model:
        """``1-10-1`` widths with one hidden activation: the network of ``spec.Network.parse``."""
        raw = text.strip()
        parts = raw.split("-")
        column = 0
        widths = []
        for part in parts:
            if not re.fullmatch(r"\s*[0-9]+\s*", part) or int(part) < 1:
                raise SpecError(f"bad --net {raw!r}: {part.strip()!r} is not a positive width", source=raw,
                                column=column, hint="widths are positive integers joined by '-', e.g. 2-3-1")
            widths.append(int(part))
            column += len(part) + 1
        if len(widths) < 2:
            raise SpecError(f"bad --net {raw!r}: one layer only", hint="give the input and output widths, e.g. 1-1-1")
        if activation not in MLP_ACTIVATIONS:
            raise SpecError(f"unknown activation {activation!r}", hint=f"use one of {', '.join(MLP_ACTIVATIONS)}")
        settings = LayerSettings(relu_grad_at_zero)
        if relu_grad_at_zero not in (0, 1):
            raise SpecError(f"relu_grad_at_zero must be 0 or 1, got {relu_grad_at_zero!r}")
        builder = LAYERS[MLP_ACTIVATIONS[activation]]
        act: Layer = builder(settings, Fraction(leaky_slope)) if activation == "leaky_relu" else builder(settings)
        assert isinstance(act, Activation)
        layers: list[Layer] = []
        for k, (w_in, w_out) in enumerate(zip(widths, widths[1:])):
            if k:
                layers.append(act)
            layers.append(Linear(w_in, w_out, bias))
        settings_kw = {"delta": Fraction(huber_delta)} if loss == "huber" else {}
        return cls(tuple(layers), (widths[0],), make_loss(loss, **settings_kw), settings)

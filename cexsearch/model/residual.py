"""A residual block: ``y = x + block(x)``, the block's output of the input's shape.

Backward: ``dx = dy + (backward of the block at dy)``: the skip passes the gradient
unchanged and the block adds its own.  The block's layers have paths ``<path>.0``,
``<path>.1``, ... and own parameters in the global order where they stand.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..errors import SpecError
from .layers import BadArgument, Layer, LayerSettings, Ops, Shape, register, shape_text


@dataclass(frozen=True)
class Residual(Layer):
    block: tuple[Layer, ...]
    kind: ClassVar[str] = "Residual"

    def sublayers(self) -> tuple[Layer, ...]:
        return self.block

    def out_shape(self, in_shape: Shape) -> Shape:
        shape = in_shape
        for i, layer in enumerate(self.block):
            try:
                shape = layer.out_shape(shape)
            except SpecError as e:
                raise SpecError(f"in {self.kind} (layer {i + 1} of its block): {e.message}", hint=e.hint) from None
        if shape != in_shape:
            raise SpecError(f"{self.kind}: the block maps {shape_text(in_shape)} to {shape_text(shape)}; its output "
                            f"must have the input's shape {shape_text(in_shape)} to be added to it")
        return in_shape

    def forward(self, ops: Ops, x: np.ndarray, path: str) -> tuple[np.ndarray, Any]:
        y, cache = ops.forward(self.block, x, path + ".")
        return x + y, cache

    def backward(self, ops: Ops, cache: Any, dy: np.ndarray, path: str) -> np.ndarray:
        return dy + ops.backward(self.block, cache, dy, path + ".")

    def notation(self) -> str:
        return f"Residual({', '.join(layer.notation() for layer in self.block)})"


def _residual(settings: LayerSettings, *layers: object) -> Layer:
    if not layers:
        raise BadArgument("Residual needs at least one layer in its block", "layers", hint="e.g. Residual(Linear(2, 2))")
    for layer in layers:
        if not isinstance(layer, Layer):
            raise BadArgument(f"Residual takes layers, got {layer!r}", "layers")
    return Residual(tuple(layers))  # type: ignore[arg-type]


register("Residual", _residual)

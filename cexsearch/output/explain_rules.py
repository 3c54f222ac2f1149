"""The chain rule of each layer kind, written as the lines of a derivation.

For a layer at path p with input a (x, or the previous layer's output) and output
a^{(p)}, :func:`forward_lines` writes how a^{(p)} is computed and :func:`backward_lines`
how the loss's delta at its input follows from the delta at its output,
``δ = (1/s) ∂L/∂a`` with s the loss's scale.  Layers are numbered from 1 as a
person counts them (path ``"1.0"``, the first layer in the block of the second
layer, is layer 2.1); indices start at 0 as in cexsearch's names.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from ..model.activations import Piece, PiecewiseLinear
from ..model.conv import ConvNd
from ..model.layers import Activation, Flatten, Layer, Linear, shape_text
from ..model.pool import AvgPoolNd, MaxPoolNd, PoolNd
from ..model.residual import Residual
from .explain_format import Format


def number(path: str) -> str:
    """A layer's number as a person counts: path "3" is layer 4, "1.0" layer 2.1."""
    return ".".join(str(int(part) + 1) for part in path.split("."))


def act(path: str | None) -> str:
    return "x" if path is None else f"a^{{({number(path)})}}"


def delta(path: str) -> str:
    return f"\\delta^{{({number(path)})}}"


def block_delta(path: str) -> str:
    """The delta at the input of a residual block's first layer: the block's share only."""
    return f"\\bar\\delta^{{({number(path)})}}"


@dataclass(frozen=True)
class Place:
    """A layer in the explanation: its path, the layer, where its input comes from and its parameters."""

    path: str
    layer: Layer
    source: str | None  # the path whose output is the input; None for x
    input_delta: str | None  # the symbol of the delta at the input; None where x is the input
    params: tuple[str, ...]  # W3, b3, ...

    @property
    def k(self) -> str:
        return self.params[0][1:] if self.params else ""


def places(layers: Sequence[Layer], params: dict[str, tuple[str, ...]], prefix: str = "",
           source: str | None = None, input_delta: str | None = None) -> list[Place]:
    """Every layer in forward order (a residual's block before its sum), with its input."""
    out: list[Place] = []
    for i, layer in enumerate(layers):
        path = f"{prefix}{i}"
        if isinstance(layer, Residual):
            inner = None if source is None and input_delta is None else block_delta(path)
            out += places(layer.block, params, path + ".", source, inner)
        out.append(Place(path, layer, source, input_delta, params.get(path, ())))
        source, input_delta = path, delta(path)
    return out


def _spatial(dims: int, letter: str) -> str:
    return letter if dims == 1 else ",".join(f"{letter}_{{{d + 1}}}" for d in range(dims))


def position(stride: int, offset: int | str, o: str = "o") -> str:
    """stride·o + offset as text: "o + 1", "2o - 1", "o + t"."""
    head = o if stride == 1 else f"{stride}{o}"
    if isinstance(offset, str):
        return f"{head} + {offset}"
    return head if offset == 0 else f"{head} + {offset}" if offset > 0 else f"{head} - {-offset}"


def conv_positions(layer: ConvNd, taps: Sequence[int | str] | None = None) -> str:
    """The input position under output position o and kernel tap t, per spatial axis."""
    d = layer.dims
    out = []
    for axis in range(d):
        o = "o" if d == 1 else f"o_{{{axis + 1}}}"
        t = ("t" if d == 1 else f"t_{{{axis + 1}}}") if taps is None else taps[axis]
        pad = layer.padding[axis]
        if isinstance(t, str):
            out.append(position(layer.stride[axis], f"{t} - {pad}" if pad else t, o))
        else:
            out.append(position(layer.stride[axis], t - pad, o))
    return ",".join(out)


def _pool_positions(layer: PoolNd, tap: str) -> str:
    d = layer.dims
    return ",".join(position(layer.kernel_size[a], tap if d == 1 else f"{tap}_{{{a + 1}}}",
                             "o" if d == 1 else f"o_{{{a + 1}}}") for a in range(d))


def _interval(fmt: Format, p: Piece, var: str) -> str:
    le, ge = "\\le", "\\ge"
    if p.lo is None and p.hi is None:
        return "\\text{all } " + var
    if p.lo is None:
        return f"{var} {le if p.hi_closed else '<'} {fmt.num(p.hi)}"  # type: ignore[arg-type]
    if p.hi is None:
        return f"{var} {ge if p.lo_closed else '>'} {fmt.num(p.lo)}"
    return f"{fmt.num(p.lo)} {le if p.lo_closed else '<'} {var} {le if p.hi_closed else '<'} {fmt.num(p.hi)}"


def affine(fmt: Format, slope: Fraction, intercept: Fraction, var: str) -> str:
    if slope == 0:
        return fmt.num(intercept)
    head = var if slope == 1 else f"-{var}" if slope == -1 else f"{fmt.factor(slope)}\\, {var}"
    if intercept == 0:
        return head
    return f"{head} {'+' if intercept > 0 else '-'} {fmt.num(abs(intercept))}"


def pieces_lines(fmt: Format, name: str, table: PiecewiseLinear, var: str = "t", value: bool = True) -> list[str]:
    """``name(t) = ...`` piece by piece with its interval (value), or its derivative ``name'(t)``."""
    if table.is_linear:
        p = table.pieces[0]
        return [f"{name}({var}) &= {affine(fmt, p.slope, p.intercept, var)}" if value
                else f"{name}'({var}) &= {fmt.num(p.slope)}"]
    parts = [f"{affine(fmt, p.slope, p.intercept, var) if value else fmt.num(p.slope)} \\text{{ for }} "
             f"{_interval(fmt, p, var)}" for p in table.pieces]
    return [f"{name}{'' if value else chr(39)}({var}) &= " + ", \\quad ".join(parts)]


def forward_lines(fmt: Format, place: Place, in_shape: tuple[int, ...]) -> list[str]:
    layer, p, x = place.layer, place.path, act(place.source)
    y, k = act(p), place.k
    bias = f" + b_{{{k}}}[{{j}}]" if "b" + k in place.params else ""
    if isinstance(layer, Linear):
        return [f"{y}_{{m,j}} &= \\sum_{{i=0}}^{{{layer.in_features - 1}}} W_{{{k}}}[j,i]\\, {x}_{{m,i}}"
                + bias.replace("{j}", "j")]
    if isinstance(layer, ConvNd):
        o, t = _spatial(layer.dims, "o"), _spatial(layer.dims, "t")
        taps = " ".join(f"\\sum_{{{'t' if layer.dims == 1 else f't_{{{a + 1}}}'}=0}}^{{{n - 1}}}"
                        for a, n in enumerate(layer.kernel_size))
        line = (f"{y}_{{m,f,{o}}} &= \\sum_{{c=0}}^{{{layer.in_channels - 1}}} {taps} W_{{{k}}}[f,c,{t}]\\, "
                f"{x}_{{m,c,{conv_positions(layer)}}}" + bias.replace("{j}", "f"))
        return [line + (" \\quad (\\text{outside the input: the zero padding})" if any(layer.padding) else "")]
    if isinstance(layer, Activation):
        name = f"\\sigma_{{{number(p)}}}"
        return [f"{y}_{{m,e}} &= {name}({x}_{{m,e}}) \\quad (\\text{{every entry }} e)",
                *pieces_lines(fmt, name, layer.table, "z"), *pieces_lines(fmt, name, layer.table, "z", value=False)]
    if isinstance(layer, Flatten):
        return [f"{y}_{{m}} &= {x}_{{m}} \\text{{ read row by row: }} {shape_text(in_shape)} \\to "
                f"({math.prod(in_shape)},)"]
    if isinstance(layer, PoolNd):
        o, size = _spatial(layer.dims, "o"), 1
        for n in layer.kernel_size:
            size *= n
        window = f"{x}_{{m,c,{_pool_positions(layer, 't')}}}"
        t = _spatial(layer.dims, "t")
        if isinstance(layer, AvgPoolNd):
            return [f"{y}_{{m,c,{o}}} &= \\frac{{1}}{{{size}}} \\sum_{{{t}}} {window}"]
        return [f"{y}_{{m,c,{o}}} &= \\max_{{{t}}} {window} = {x}_{{m,c,{_pool_positions(layer, 't^*')}}}"
                " \\quad (t^* \\text{ the first maximum, row by row})"]
    if isinstance(layer, Residual):
        return [f"{y} &= {x} + {act(f'{p}.{len(layer.block) - 1}')}"]
    return [f"{y} &= \\text{{{layer.notation()}}}({x})"]


def residual_sum_line(place: Place) -> list[str]:
    """A residual's delta at its input: the skip's plus the block's (after the block's own lines)."""
    if place.input_delta is None:
        return []
    return [f"{place.input_delta} &= {delta(place.path)} + {block_delta(place.path)} \\quad (\\text{{the skip, plus "
            f"the block's}})"]


def backward_lines(fmt: Format, place: Place, in_shape: tuple[int, ...]) -> list[str]:
    """How the delta at the layer's input follows from the delta at its output (nothing for x)."""
    layer, p, d_in = place.layer, place.path, place.input_delta
    d_out, k = delta(p), place.k
    if isinstance(layer, Residual):
        last = f"{p}.{len(layer.block) - 1}"
        return [f"{delta(last)} &= {d_out} \\quad (\\text{{the block's output is added to the sum}})"]
    if d_in is None:
        return []
    if isinstance(layer, Linear):
        return [f"{d_in}_{{m,i}} &= \\sum_{{j=0}}^{{{layer.out_features - 1}}} {d_out}_{{m,j}}\\, W_{{{k}}}[j,i]"]
    if isinstance(layer, ConvNd):
        o, t, q = _spatial(layer.dims, "o"), _spatial(layer.dims, "t"), _spatial(layer.dims, "q")
        return [f"{d_in}_{{m,c,{q}}} &= \\sum_{{f}} \\sum_{{{o},{t}:\\ ({conv_positions(layer)}) = ({q})}} "
                f"{d_out}_{{m,f,{o}}}\\, W_{{{k}}}[f,c,{t}]"]
    if isinstance(layer, Activation):
        return [f"{d_in}_{{m,e}} &= \\sigma_{{{number(p)}}}'\\bigl({act(place.source)}_{{m,e}}\\bigr)\\, "
                f"{d_out}_{{m,e}} \\quad (\\text{{the slope of the piece taken}})"]
    if isinstance(layer, Flatten):
        return [f"{d_in}_{{m}} &= {d_out}_{{m}} \\text{{ read back into the input's shape}}"]
    if isinstance(layer, PoolNd):
        o, size = _spatial(layer.dims, "o"), 1
        for n in layer.kernel_size:
            size *= n
        where = f"{d_in}_{{m,c,{_pool_positions(layer, 't')}}}"
        ragged = any(n % k for n, k in zip(in_shape[1:], layer.kernel_size))
        rest = " \\quad (0 \\text{ for entries past the last whole window})" if ragged else ""
        if isinstance(layer, MaxPoolNd):
            return [f"{where} &= {d_out}_{{m,c,{o}}} \\text{{ if }} t = t^*_{{m,c,{o}}}, \\text{{ else }} 0" + rest]
        return [f"{where} &= \\frac{{1}}{{{size}}}\\, {d_out}_{{m,c,{o}}}" + rest]
    return []

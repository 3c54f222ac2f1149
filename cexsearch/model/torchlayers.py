"""A PyTorch module's traced ``forward()`` read as cexsearch layers (:mod:`cexsearch.model`).

:func:`trace` walks the ``torch.fx`` graph of the module and gives the steps it
computes, in order: each leaf module or function that maps onto one layer of the
model (:data:`SUPPORTED`), and residual blocks.  A residual is recognised in the
dataflow, not guessed from names: every value of the graph is known as the sequence
of steps that computes it from the input, and ``a + b`` (``operator.add``,
``torch.add``, ``x += ...``) is a block when one operand's sequence continues the
other's, ``x + block(x)``.  Anything else (another module or function, a constant, a
branch whose result is not used, two branches added, a module called twice) is
refused, naming the module path and the attribute or operation.

The module types are matched exactly (``type(m) is nn.Conv1d``), never by subclass, so
a subclass with its own ``forward`` is traced into rather than misread.
:mod:`cexsearch.model.torchnet` builds the network of the steps.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from ..errors import InputError

SUPPORTED = ("nn.Linear; nn.Conv1d, nn.Conv2d (stride, zero padding; no dilation or groups); nn.Flatten() or "
             "torch.flatten(x, 1); nn.AvgPool1d/2d, nn.MaxPool1d/2d (stride = kernel_size, no padding); "
             "nn.ReLU, nn.LeakyReLU, nn.Hardtanh, nn.ReLU6, nn.Identity, torch.abs (and F.relu, F.leaky_relu, "
             "F.hardtanh, F.relu6, x.relu(), x.abs()); x + block(x) as a residual block")


class TorchModelError(InputError):
    """A module, file or name that cannot be read as a cexsearch network."""


def import_torch(what: str = "--torch") -> Any:
    try:
        import torch
    except ImportError:
        raise InputError(f"{what} needs PyTorch, which is not installed",
                         hint="install the extra: pip install 'cexsearch[torch]'") from None
    return torch


@dataclass(eq=False)  # compared by identity: a value's history is the steps of the nodes that computed it
class Step:
    kind: str  # a layer name of cexsearch.model.LAYERS ("Linear", "Conv1d", "ReLU", ...) or "Residual"
    name: str  # the module's qualified name, or how the operation is written
    args: tuple[Any, ...] = ()  # the layer builder's arguments
    module: Any = None  # the nn.Linear / nn.Conv1d / nn.Conv2d holding the parameters
    block: tuple[Step, ...] = ()  # a residual's layers


def function_name(target: Any) -> str:
    mod = getattr(target, "__module__", None) or ""
    name = getattr(target, "__name__", repr(target))
    mod = {"_operator": "operator", "torch._C._nn": "F", "torch.nn.functional": "F",
           "torch._C._VariableFunctions": "torch"}.get(mod, mod)
    return f"{mod}.{name}" if mod else name


def decimal(value: Any, where: str, what: str) -> Fraction:
    """A setting a person typed (a slope, a clamp): the shortest decimal of its float (0.01 is 1/100)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise TorchModelError(f"{where}: {what} {value!r} is not a finite number")
    return Fraction(repr(float(value)))


def _refuse(where: str, attribute: str, value: Any, fix: str) -> TorchModelError:
    return TorchModelError(f"{where}: {attribute}={value!r} is not supported", hint=fix)


def _sizes(value: Any, dims: int) -> tuple[int, ...]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * dims


def _conv(sub: Any, target: str, dims: int, where: str) -> Step:
    if sub.padding_mode != "zeros":
        raise _refuse(where, "padding_mode", sub.padding_mode, "cexsearch pads with zeros only (padding_mode='zeros')")
    if _sizes(sub.dilation, dims) != (1,) * dims:
        raise _refuse(where, "dilation", sub.dilation, "cexsearch's convolutions have dilation 1")
    if sub.groups != 1:
        raise _refuse(where, "groups", sub.groups, "cexsearch's convolutions have groups=1")
    kernel = _sizes(sub.kernel_size, dims)
    padding = sub.padding
    if padding == "valid":
        padding = (0,) * dims
    elif padding == "same":
        if any(k % 2 == 0 for k in kernel):
            raise _refuse(where, "padding", padding, f"with the even kernel {kernel} PyTorch pads one side more; "
                          "give padding as numbers")
        padding = tuple(k // 2 for k in kernel)
    return Step(f"Conv{dims}d", target, (sub.in_channels, sub.out_channels, kernel, _sizes(sub.stride, dims),
                                         _sizes(padding, dims), sub.bias is not None), sub)


def _pool(sub: Any, target: str, kind: str, where: str) -> Step:
    dims = int(kind[-2])
    kernel = _sizes(sub.kernel_size, dims)
    stride = _sizes(sub.stride if sub.stride is not None else sub.kernel_size, dims)
    if stride != kernel:
        raise _refuse(where, "stride", sub.stride, "cexsearch's pooling has stride = kernel_size (PyTorch's default)")
    if _sizes(sub.padding, dims) != (0,) * dims:
        raise _refuse(where, "padding", sub.padding, "cexsearch's pooling has no padding")
    if sub.ceil_mode:
        raise _refuse(where, "ceil_mode", sub.ceil_mode, "cexsearch's pooling drops a partial window (ceil_mode=False)")
    if kind.startswith("Max"):
        if _sizes(sub.dilation, dims) != (1,) * dims:
            raise _refuse(where, "dilation", sub.dilation, "cexsearch's max pooling has dilation 1")
        if sub.return_indices:
            raise _refuse(where, "return_indices", sub.return_indices, "return the pooled tensor only")
    elif getattr(sub, "divisor_override", None) is not None:
        raise _refuse(where, "divisor_override", sub.divisor_override, "cexsearch divides by the window's size")
    return Step(kind, target, (kernel,))


def _flatten(start: Any, end: Any, where: str, attributes: tuple[str, str] = ("start_dim", "end_dim")) -> None:
    if start != 1:
        raise _refuse(where, attributes[0], start, "cexsearch flattens each sample: start_dim=1")
    if end != -1:
        raise _refuse(where, attributes[1], end, "cexsearch flattens each sample to the end: end_dim=-1")


def module_step(sub: Any, target: str, torch: Any, label: str) -> Step | None:
    """The step of one leaf module (None for nn.Identity); refuse what has no layer."""
    nn = torch.nn
    kind = type(sub)
    where = f"{label}: {target or 'the module'} (nn.{kind.__name__})"
    if kind is nn.Identity:
        return None
    if kind is nn.Linear:
        return Step("Linear", target, (sub.in_features, sub.out_features, sub.bias is not None), sub)
    if kind in (nn.Conv1d, nn.Conv2d):
        return _conv(sub, target, 1 if kind is nn.Conv1d else 2, where)
    if kind in (nn.AvgPool1d, nn.AvgPool2d, nn.MaxPool1d, nn.MaxPool2d):
        return _pool(sub, target, kind.__name__, where)
    if kind is nn.Flatten:
        _flatten(sub.start_dim, sub.end_dim, where)
        return Step("Flatten", target)
    if kind in (nn.ReLU, nn.ReLU6):
        return Step(kind.__name__, target)
    if kind is nn.LeakyReLU:
        return Step("LeakyReLU", target, (decimal(sub.negative_slope, where, "negative_slope"),))
    if kind is nn.Hardtanh:
        return Step("Hardtanh", target, (decimal(sub.min_val, where, "min_val"), decimal(sub.max_val, where, "max_val")))
    raise TorchModelError(f"{label}: unsupported module nn.{kind.__name__} ({target or 'the module'})",
                          hint=f"supported: {SUPPORTED}")


def _arg(node: Any, position: int, key: str, default: Any) -> Any:
    return node.kwargs.get(key, node.args[position] if len(node.args) > position else default)


def _function_step(node: Any, torch: Any, label: str) -> Step | None:
    F, target = torch.nn.functional, node.target
    shown = function_name(target) if node.op == "call_function" else f".{target}()"
    where = f"{label}: {shown}"
    if node.op == "call_method":
        if target in ("relu", "abs"):
            return Step("ReLU" if target == "relu" else "Abs", shown)
        if target == "flatten":
            _flatten(_arg(node, 1, "start_dim", 0), _arg(node, 2, "end_dim", -1), where)
            return Step("Flatten", shown)
        hint = " (write nn.Flatten() or torch.flatten(x, 1))" if target in ("view", "reshape", "size") else ""
        raise TorchModelError(f"{label}: unsupported operation .{target}() in forward(){hint}",
                              hint=f"supported: {SUPPORTED}")
    if target in (torch.relu, F.relu):
        return Step("ReLU", shown)
    if target in (torch.abs, operator.abs):
        return Step("Abs", shown)
    if target is F.relu6:
        return Step("ReLU6", shown)
    if target is F.leaky_relu:
        return Step("LeakyReLU", shown, (decimal(_arg(node, 1, "negative_slope", 0.01), where, "negative_slope"),))
    if target is F.hardtanh:
        return Step("Hardtanh", shown, (decimal(_arg(node, 1, "min_val", -1.0), where, "min_val"),
                                        decimal(_arg(node, 2, "max_val", 1.0), where, "max_val")))
    if target is torch.flatten:
        _flatten(_arg(node, 1, "start_dim", 0), _arg(node, 2, "end_dim", -1), where)
        return Step("Flatten", shown)
    symbol = {"operator.mul": " (*)", "operator.sub": " (-)", "operator.getitem": " (indexing)"}.get(shown, "")
    raise TorchModelError(f"{label}: unsupported operation {shown}{symbol} in forward()", hint=f"supported: {SUPPORTED}")


def _describe(steps: tuple[Step, ...]) -> str:
    return "the input" if not steps else f"the output of {steps[-1].name}"


def _residual(node: Any, values: dict[Any, tuple[Step, ...]], torch: Any, label: str) -> tuple[Step, ...]:
    """``a + b`` where one operand is computed from the other: the shorter, then a Residual of the rest."""
    shown = function_name(node.target)
    operands = node.args[:2]
    if node.kwargs or len(node.args) != 2 or not all(isinstance(a, torch.fx.Node) and a in values for a in operands):
        raise TorchModelError(f"{label}: {shown} of {node.args!r:.60} in forward(): only x + block(x) of two tensors "
                              "maps onto a residual block", hint=f"supported: {SUPPORTED}")
    a, b = (values[o] for o in operands)
    for base, longer in ((a, b), (b, a)):
        if len(longer) > len(base) and all(x is y for x, y in zip(base, longer)):
            return base + (Step("Residual", f"{shown} (residual)", block=longer[len(base):]),)
    raise TorchModelError(f"{label}: {shown} adds {_describe(a)} and {_describe(b)}, neither computed from the other: "
                          "only x + block(x) maps onto a residual block", hint=f"supported: {SUPPORTED}")


def trace(module: Any, label: str) -> tuple[Step, ...]:
    """The steps forward() computes from its input to its output, residual blocks nested."""
    torch = import_torch(label)
    if torch.fx.Tracer().is_leaf_module(module, ""):  # a bare layer: fx would trace it into F.linear on attributes
        step = module_step(module, "", torch, label)
        return (step,) if step is not None else ()
    try:
        graph_module = torch.fx.symbolic_trace(module)
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise TorchModelError(f"{label}: torch.fx cannot trace forward(): {type(e).__name__}: {first}",
                              hint="forward() must not branch on values; supported: " + SUPPORTED) from None
    nodes = list(graph_module.graph.nodes)
    inputs = [n for n in nodes if n.op == "placeholder"]
    if len(inputs) != 1:
        raise TorchModelError(f"{label}: forward() takes {len(inputs)} inputs; a network here takes one, x",
                              hint=f"supported: {SUPPORTED}")
    values: dict[Any, tuple[Step, ...]] = {inputs[0]: ()}  # node -> the steps computing it from the input
    called: set[str] = set()
    owners: dict[int, str] = {}  # id of a parameter -> the module that holds it: tied weights are refused
    for node in nodes:
        if node.op == "placeholder":
            continue
        if node.op == "output":
            if not isinstance(node.args[0], torch.fx.Node) or node.args[0] not in values:
                raise TorchModelError(f"{label}: forward() returns {node.args[0]!r:.60}, not one tensor",
                                      hint=f"return one tensor; supported: {SUPPORTED}")
            return values[node.args[0]]
        if node.op == "get_attr":
            raise TorchModelError(f"{label}: forward() reads {node.target} directly, outside a layer",
                                  hint=f"supported: {SUPPORTED}")
        if node.op == "call_function" and node.target in (operator.add, torch.add):
            step_values = _residual(node, values, torch, label)
            shown = step_values[-1].name
        else:
            if node.op == "call_module":
                step = module_step(graph_module.get_submodule(node.target), str(node.target), torch, label)
                if node.target in called:
                    raise TorchModelError(f"{label}: the layer {node.target} is used twice (shared weights)",
                                          hint="give each call its own module; supported: " + SUPPORTED)
                called.add(str(node.target))
                for attribute, p in graph_module.get_submodule(node.target).named_parameters(recurse=False):
                    if owners.setdefault(id(p), f"{node.target}.{attribute}") != f"{node.target}.{attribute}":
                        raise TorchModelError(f"{label}: {node.target}.{attribute} is the same tensor as "
                                              f"{owners[id(p)]} (tied weights)", hint="give each layer its own "
                                              "parameters: cexsearch's layers do not share them")
            elif node.op in ("call_function", "call_method"):
                step = _function_step(node, torch, label)
            else:
                raise TorchModelError(f"{label}: unsupported graph node {node.op} {node.target}",
                                      hint=f"supported: {SUPPORTED}")
            shown = step.name if step is not None else str(node.target)
            reads = node.all_input_nodes
            if len(reads) != 1 or reads[0] not in values:
                what = ", ".join(str(n.target) for n in reads) or "nothing"
                raise TorchModelError(f"{label}: {shown} reads {what}: only layers reading one tensor map onto "
                                      "cexsearch's layers", hint=f"supported: {SUPPORTED}")
            step_values = values[reads[0]] + ((step,) if step is not None else ())
        if not node.users:
            raise TorchModelError(f"{label}: the result of {shown} is computed but not used: forward() must be "
                                  "one chain of layers (with x + block(x) residuals) from the input to its output",
                                  hint=f"drop the unused branch; supported: {SUPPORTED}")
        values[node] = step_values
    raise TorchModelError(f"{label}: forward() returns nothing")

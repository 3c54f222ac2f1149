"""Networks from PyTorch: an ``nn.Module`` traced with ``torch.fx`` and read as a :class:`Network`.

What maps onto cexsearch's network today (:data:`SUPPORTED`): a chain of ``nn.Linear``
layers with one hidden activation between every two of them, the same everywhere --
``nn.ReLU`` / ``torch.relu`` / ``F.relu`` / ``x.relu()``, ``nn.LeakyReLU`` /
``F.leaky_relu`` with one negative slope, or none at all (``nn.Identity`` is skipped)
-- biases in every layer or in none, and no activation after the last layer.

The forward pass is *traced* (``torch.fx.symbolic_trace``), not read from
``.children()``: what counts is what ``forward`` does, so a layer that is defined
but skipped, layers called in another order, a residual add or a branch are all
seen -- and what does not map is refused, naming the module or the operation.

The parameters keep the module's names (``fc1.weight``, ``0.bias``): the returned
network carries a :class:`ParameterNames` alias table for ``W1, b1, ...``.  Shapes
are PyTorch's, which are cexsearch's: ``nn.Linear(in, out).weight`` is (out, in).

:func:`module_weights` reads the module's current parameters exactly: a float32 or
float64 value is a dyadic rational, and ``Fraction(float(v))`` is that rational with
no rounding (float32 widens to float64 exactly).  A leaky slope is a setting a person
typed, so it is read as the shortest decimal of its float (``0.01`` is 1/100), as
numbers in claim files are.

Nothing here is imported unless a network comes from PyTorch; torch itself is imported
inside the functions, and its absence is an :class:`InputError` naming the extra.
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
import sys
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from .errors import InputError
from .model.network import Network, ParameterNames, entries
from .model.problem import FixedValues

SUPPORTED = ("nn.Linear layers with the same hidden activation between every two: nn.ReLU, torch.relu, "
             "F.relu or x.relu(); nn.LeakyReLU or F.leaky_relu (one negative_slope); or none (nn.Identity); "
             "biases in every layer or in none; no activation after the last layer")
TORCH_HINT = "install the extra: pip install 'cexsearch[torch]'"


class TorchModelError(InputError):
    """A module, file or name that cannot be read as a cexsearch network."""


def import_torch(what: str = "--torch") -> Any:
    try:
        import torch
    except ImportError:
        raise InputError(f"{what} needs PyTorch, which is not installed", hint=TORCH_HINT) from None
    return torch


@dataclass(frozen=True)
class TorchNetwork:
    """A network read from a module: the network (with the module's names) and its current weights."""

    network: Network
    weights: FixedValues  # every parameter at the module's current value, exactly
    source: str  # what it was read from: PATH.py:NAME, or the module's class

    def digest(self) -> str:
        """A short hash of the architecture, names and weights: what a claim's verdict depends on."""
        body = repr((self.network.widths, self.network.activation, self.network.leaky_slope, self.network.bias,
                     self.network.names, [(n, i, str(v)) for n, i, v in self.weights.items]))
        return hashlib.sha256(body.encode()).hexdigest()[:16]


# --------------------------------------------------------------------------
# PATH.py:NAME -> an nn.Module


def split_reference(reference: str, option: str = "--torch") -> tuple[str, str]:
    path, sep, name = reference.rpartition(":")
    if not sep or not path.strip() or not name.strip():
        raise TorchModelError(f"{option} {reference!r} must be PATH.py:NAME",
                              hint=f"e.g. {option} model.py:Net (a module instance, an nn.Module class or a function "
                              "returning one)")
    return path.strip(), name.strip()


def load_module_file(path: Path, label: str) -> Any:
    """Import a user's Python file under a private module name; any failure is an InputError."""
    if not path.is_file():
        raise TorchModelError(f"{label}: no such file {str(path)!r}", hint="check the path")
    if path.suffix != ".py":
        raise TorchModelError(f"{label}: {str(path)!r} is not a Python file", hint="give PATH.py:NAME")
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(f"_cexsearch_user_{digest}", path)
    if spec is None or spec.loader is None:
        raise TorchModelError(f"{label}: cannot import {str(path)!r}")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses and pickling look a class's module up here
    folder = str(path.resolve().parent)
    sys.path.insert(0, folder)  # as when Python runs the file: its neighbours import by name
    try:
        spec.loader.exec_module(mod)
    except (Exception, SystemExit) as e:
        sys.modules.pop(spec.name, None)
        where = ""
        tb = e.__traceback__
        while tb is not None:  # the last line of the user's file in the traceback
            if Path(tb.tb_frame.f_code.co_filename).resolve() == path.resolve():
                where = f" (line {tb.tb_lineno})"
            tb = tb.tb_next
        raise TorchModelError(f"{label}: importing {str(path)!r} failed{where}: {type(e).__name__}: {e}",
                              hint="fix the error in the file; it must import on its own") from None
    finally:
        if folder in sys.path:
            sys.path.remove(folder)
    return mod


def instantiate(obj: Any, label: str) -> Any:
    """An nn.Module from an instance, an nn.Module subclass (built with no arguments) or a function returning one."""
    torch = import_torch(label)
    nn = torch.nn
    if isinstance(obj, nn.Module):
        return obj
    what = "the class" if isinstance(obj, type) else "the function"
    if isinstance(obj, type) and not issubclass(obj, nn.Module):
        raise TorchModelError(f"{label}: {obj.__name__} is a class but not an nn.Module",
                              hint="name an nn.Module instance, subclass, or a function returning one")
    if not callable(obj):
        raise TorchModelError(f"{label}: {type(obj).__name__} {obj!r:.60} is not an nn.Module",
                              hint="name an nn.Module instance, subclass, or a function returning one")
    try:
        made = obj()
    except Exception as e:
        raise TorchModelError(f"{label}: calling {what} {getattr(obj, '__name__', obj)!s} with no arguments "
                              f"failed: {type(e).__name__}: {e}",
                              hint="give it defaults for every argument, or name a module instance") from None
    if not isinstance(made, nn.Module):
        raise TorchModelError(f"{label}: {what} {getattr(obj, '__name__', obj)!s} returned "
                              f"{type(made).__name__}, not an nn.Module")
    return made


def load_reference(reference: str, base: Path | None = None, option: str = "--torch") -> tuple[Any, str]:
    """The module named by ``PATH.py:NAME`` (PATH relative to ``base`` when given), and its label."""
    import_torch(option)
    path_text, name = split_reference(reference, option)
    path = Path(path_text)
    if base is not None and not path.is_absolute():
        path = base / path
    label = f"{option} {reference}"
    mod = load_module_file(path, label)
    if not hasattr(mod, name):
        import inspect

        torch = import_torch(option)
        offered = sorted(k for k, v in vars(mod).items() if not k.startswith("_") and (
            isinstance(v, torch.nn.Module) or (inspect.isclass(v) and issubclass(v, torch.nn.Module)
                                               and v.__module__ == mod.__name__)
            or (inspect.isfunction(v) and v.__module__ == mod.__name__)))
        raise TorchModelError(f"{label}: {str(path)!r} has no {name!r}",
                              hint=f"it defines {', '.join(offered)}" if offered else "define a module or a function "
                              "returning one in the file")
    return instantiate(getattr(mod, name), label), label


# --------------------------------------------------------------------------
# nn.Module -> Network


@dataclass(frozen=True)
class _Step:
    kind: str  # "linear" | "relu" | "leaky_relu"
    name: str  # the module's qualified name, or how the operation is written
    module: Any = None  # the nn.Linear
    slope: Fraction | None = None


def _function_name(target: Any) -> str:
    mod = getattr(target, "__module__", None) or ""
    name = getattr(target, "__name__", repr(target))
    mod = {"_operator": "operator", "torch._C._nn": "F", "torch.nn.functional": "F",
           "torch._C._VariableFunctions": "torch"}.get(mod, mod)
    return f"{mod}.{name}" if mod else name


def _slope(value: Any, where: str) -> Fraction:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise TorchModelError(f"{where}: negative_slope {value!r} is not a finite number")
    return Fraction(repr(float(value)))  # the shortest decimal: what the person typed


def _classify(node: Any, root: Any, torch: Any, label: str) -> _Step | None:
    """What one traced operation is, None for one that does nothing (nn.Identity); refuse the rest."""
    nn, F = torch.nn, torch.nn.functional
    if node.op == "call_module":
        sub = root.get_submodule(node.target)
        if isinstance(sub, nn.Linear):
            return _Step("linear", str(node.target), sub)
        if isinstance(sub, nn.ReLU):
            return _Step("relu", str(node.target))
        if isinstance(sub, nn.LeakyReLU):
            return _Step("leaky_relu", str(node.target), slope=_slope(sub.negative_slope, f"{label}: {node.target}"))
        if isinstance(sub, nn.Identity):
            return None
        raise TorchModelError(f"{label}: unsupported module nn.{type(sub).__name__} ({node.target})",
                              hint=f"supported: {SUPPORTED}")
    if node.op == "call_function":
        if node.target in (torch.relu, F.relu):
            return _Step("relu", _function_name(node.target))
        if node.target is F.leaky_relu:
            slope = node.kwargs.get("negative_slope", node.args[1] if len(node.args) > 1 else 0.01)
            return _Step("leaky_relu", "F.leaky_relu", slope=_slope(slope, f"{label}: F.leaky_relu"))
        shown = _function_name(node.target)
        symbol = {"operator.add": " (+, e.g. a residual connection)", "operator.mul": " (*)",
                  "operator.sub": " (-)", "operator.getitem": " (indexing)"}.get(shown, "")
        raise TorchModelError(f"{label}: unsupported operation {shown}{symbol} in forward()",
                              hint=f"supported: {SUPPORTED}")
    if node.op == "call_method":
        if node.target == "relu":
            return _Step("relu", ".relu()")
        raise TorchModelError(f"{label}: unsupported operation .{node.target}() in forward()",
                              hint=f"supported: {SUPPORTED}")
    if node.op == "get_attr":
        raise TorchModelError(f"{label}: forward() reads {node.target} directly, outside an nn.Linear",
                              hint=f"supported: {SUPPORTED}")
    raise TorchModelError(f"{label}: unsupported graph node {node.op} {node.target}", hint=f"supported: {SUPPORTED}")


def trace_steps(module: Any, label: str) -> list[_Step]:
    """The chain of layers and activations forward() computes, in the order it computes them."""
    torch = import_torch(label)
    if isinstance(module, torch.nn.Linear):  # traced as a root it is F.linear on its own attributes
        return [_Step("linear", "", module)]
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
    current, current_name = inputs[0], "the input"
    steps: list[_Step] = []
    for node in nodes:
        if node.op == "placeholder":
            continue
        if node.op == "output":
            if node.args[0] is not current:
                raise TorchModelError(f"{label}: forward() returns {node.args[0]!r:.60}, not the output of "
                                      f"{current_name} alone", hint=f"return one tensor; supported: {SUPPORTED}")
            break
        step = _classify(node, graph_module, torch, label)
        reads = node.all_input_nodes
        if reads != [current]:  # a skipped result, a branch, a residual, a constant
            shown = ", ".join(str(n.target) if n.op != "placeholder" else "the input" for n in reads) or "nothing"
            what = step.name if step is not None else str(node.target)
            raise TorchModelError(f"{label}: {what} reads {shown}, not the output of {current_name}: only a chain of "
                                  "layers, each reading the one before, maps onto cexsearch's network",
                                  hint=f"supported: {SUPPORTED}")
        if step is not None:
            steps.append(step)
            current_name = step.name
        current = node
    return steps


def network_from_module(module: Any, label: str = "--torch", loss: str = "mse",
                        relu_grad_at_zero: int = 0) -> TorchNetwork:
    """Read an ``nn.Module`` as a cexsearch network with the module's parameter names and weights."""
    steps = trace_steps(module, label)
    linears = [s for s in steps if s.kind == "linear"]
    if not linears:
        raise TorchModelError(f"{label}: forward() has no nn.Linear layer", hint=f"supported: {SUPPORTED}")
    if steps[0].kind != "linear":
        raise TorchModelError(f"{label}: forward() starts with {steps[0].name} ({steps[0].kind}), not an nn.Linear",
                              hint=f"supported: {SUPPORTED}")
    if steps[-1].kind != "linear":
        raise TorchModelError(f"{label}: {steps[-1].name} ({steps[-1].kind}) after the last layer: the output layer "
                              "of cexsearch's network is linear", hint=f"drop it; supported: {SUPPORTED}")
    gaps: list[_Step | None] = []  # the activation between each two layers, None for none
    pending: _Step | None = None
    for prev, step in zip(steps, steps[1:]):
        if step.kind == "linear":
            if prev.kind == "linear":
                gaps.append(None)
            else:
                gaps.append(pending)
            pending = None
        elif prev.kind != "linear":
            raise TorchModelError(f"{label}: two activations in a row ({prev.name}, then {step.name})",
                                  hint=f"supported: {SUPPORTED}")
        else:
            pending = step
    kinds = {(g.kind, g.slope) if g is not None else ("linear", None) for g in gaps}
    if len(kinds) > 1:
        shown = ", ".join(f"{g.name} ({g.kind}{f' {g.slope}' if g.slope is not None else ''})" if g else "none"
                          for g in gaps)
        raise TorchModelError(f"{label}: the layers have different activations between them: {shown}",
                              hint=f"cexsearch's network has one hidden activation; supported: {SUPPORTED}")
    activation, slope = kinds.pop() if kinds else ("linear", None)
    seen: set[str] = set()
    for s in linears:
        if s.name in seen:
            raise TorchModelError(f"{label}: the layer {s.name} is used twice (shared weights)",
                                  hint=f"supported: {SUPPORTED}")
        seen.add(s.name)
    widths = [linears[0].module.in_features]
    for s in linears:
        if s.module.in_features != widths[-1]:
            raise TorchModelError(f"{label}: {s.name} takes {s.module.in_features} inputs but the layer before "
                                  f"gives {widths[-1]}", hint="make each in_features the out_features before it")
        widths.append(s.module.out_features)
    has_bias = {s.module.bias is not None for s in linears}
    if len(has_bias) > 1:
        shown = ", ".join(f"{s.name or 'the layer'} {'with' if s.module.bias is not None else 'without'} bias"
                          for s in linears)
        raise TorchModelError(f"{label}: some layers have a bias and some not ({shown})",
                              hint="cexsearch's network has biases in every layer or in none: "
                              f"give every nn.Linear bias=True, or every one bias=False; supported: {SUPPORTED}")
    bias = has_bias.pop()
    aliases: list[tuple[str, str]] = []
    for k, s in enumerate(linears, start=1):
        prefix = f"{s.name}." if s.name else ""
        aliases.append((f"W{k}", f"{prefix}weight"))
        if bias:
            aliases.append((f"b{k}", f"{prefix}bias"))
    network = Network(tuple(widths), activation=activation,  # type: ignore[arg-type]
                      leaky_slope=slope if slope is not None else Fraction(1, 100), bias=bias,
                      loss=loss, relu_grad_at_zero=relu_grad_at_zero,  # type: ignore[arg-type]
                      names=ParameterNames(tuple(aliases)))
    return TorchNetwork(network, module_weights(network, linears, label), label)


def module_weights(network: Network, linears: list[_Step], label: str) -> FixedValues:
    """Every parameter at the module's current value, each float read as the exact rational it is."""
    items: list[tuple[str, tuple[int, ...], Fraction]] = []
    for k, s in enumerate(linears, start=1):
        tensors = [(f"W{k}", s.module.weight)] + ([(f"b{k}", s.module.bias)] if network.bias else [])
        for name, tensor in tensors:
            try:
                flat = tensor.detach().to("cpu").double().reshape(-1).tolist()
            except Exception as e:  # a meta tensor, an unusual device
                raise TorchModelError(f"{label}: cannot read {network.label(name)}: {type(e).__name__}: {e}") from None
            for index, value in zip(entries(network.shape(name, 1)), flat):
                if not math.isfinite(value):
                    raise TorchModelError(f"{label}: {network.label(name)}{list(index)} is {value}, not a finite "
                                          "number", hint="--weights-from-module needs finite weights")
                items.append((name, index, Fraction(value)))
    return FixedValues(tuple(sorted(items)))


def load_torch_network(reference: str, base: Path | None = None, option: str = "--torch", loss: str = "mse",
                       relu_grad_at_zero: int = 0) -> TorchNetwork:
    """``PATH.py:NAME`` to a network with the module's names and weights (the entry point of ``--torch``)."""
    module, label = load_reference(reference, base, option)
    found = network_from_module(module, label, loss, relu_grad_at_zero)
    return found

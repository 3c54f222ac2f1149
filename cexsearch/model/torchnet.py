"""Networks from PyTorch: an ``nn.Module`` traced with ``torch.fx`` and read as a cexsearch network.

The forward pass is *traced* (``torch.fx.symbolic_trace``, walked by
:func:`cexsearch.model.torchlayers.trace`), not read from ``.children()``: what counts is what
``forward`` does, so a layer that is defined but skipped, layers called in another order,
a branch or a residual add are all seen -- and what does not map is refused, naming the
module or the operation.

A module that is an MLP (a chain of ``nn.Linear`` layers with the same ReLU / LeakyReLU
/ no activation between every two, biases in all or none, nothing after the last) is read
as a :class:`Network` that keeps the module's names (``fc1.weight``, ``0.bias``) through a
:class:`ParameterNames` alias table, with ``--loss`` mse or sse.  Every other module that
maps (:data:`SUPPORTED`: convolutions, pooling, flatten, more activations, residual blocks,
or an MLP with another loss) is read as a layer :class:`cexsearch.model.Model`, its
parameters named ``W1, b1, W2, ...`` by the order of the layers that have them, as the
layer notation names them; its input shape comes from a first ``nn.Linear`` or is given.
Shapes are PyTorch's, which are cexsearch's: ``nn.Linear(in, out).weight`` is (out, in).

The module's current parameters are read exactly: a float32 or float64 value is a dyadic
rational, and ``Fraction(float(v))`` is that rational with no rounding (float32 widens to
float64 exactly).  A leaky slope or a clamp is a setting a person typed, so it is read as
the shortest decimal of its float (``0.01`` is 1/100), as numbers in claim files are.

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

from ..errors import InputError, SpecError
from .network import Network, ParameterNames, entries
from .problem import FixedValues
from .torchlayers import SUPPORTED, Step, TorchModelError, import_torch, trace

__all__ = ["SUPPORTED", "TorchModelError", "TorchNetwork", "import_torch", "load_torch_network", "network_from_module"]


@dataclass(frozen=True)
class TorchNetwork:
    """A network read from a module: the network (with the module's names) and its current weights."""

    network: Any  # a Network (an MLP, with the module's names) or a cexsearch.model.Model (layers)
    weights: FixedValues  # every parameter at the module's current value, exactly
    source: str  # what it was read from: PATH.py:NAME, or the module's class

    def digest(self) -> str:
        """A short hash of the architecture, names and weights: what a claim's verdict depends on."""
        net = self.network
        shape = ((net.widths, net.activation, net.leaky_slope, net.bias, net.names) if isinstance(net, Network)
                 else (net.describe(), net.loss, net.settings))
        body = repr((shape, [(n, i, str(v)) for n, i, v in self.weights.items]))
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
# steps -> Model


def _first_shaped(steps: tuple[Step, ...]) -> Step | None:
    """The first step that fixes the input's shape (activations keep any shape)."""
    for s in steps:
        if s.kind == "Residual":
            inner = _first_shaped(s.block)
            if inner is not None:
                return inner
        elif s.kind not in ("ReLU", "LeakyReLU", "Hardtanh", "ReLU6", "Abs"):
            return s
    return None


def _shown(step: Step) -> str:
    """``0 (nn.Conv1d)`` for a module's step, ``torch.flatten`` for a function's."""
    if step.name.startswith(("torch.", "F.", ".", "operator.")):
        return step.name
    return f"{step.name or 'the module'} (nn.{step.kind})"


def implied_input_shape(steps: tuple[Step, ...], label: str, option: str) -> tuple[int, ...]:
    first = _first_shaped(steps)
    if first is not None and first.kind == "Linear":
        return (first.args[0],)
    if first is None:
        raise TorchModelError(f"{label}: the module has no layer that fixes its input's shape",
                              hint=f"give one sample's shape with {option}")
    what = {"Conv1d": "C,L", "Conv2d": "C,H,W", "Flatten": "of its sizes"}.get(first.kind, "of its sizes")
    example = {"Conv1d": f"{first.args[0]},8", "Conv2d": f"{first.args[0]},8,8"}.get(first.kind, "1,8")
    written = f"{option} {example}" if option.startswith("-") else f"{option} = [{example.replace(',', ', ')}]"
    raise TorchModelError(f"{label}: the module starts with {_shown(first)}, which takes "
                          f"inputs of any {'length' if first.kind == 'Conv1d' else 'size'}: the input shape is not "
                          f"known from the module", hint=f"give one sample's shape ({what}) with {option}, "
                          f"e.g. {written}")


def to_model(steps: tuple[Step, ...], label: str, input_shape: tuple[int, ...] | None = None, loss: Any = "mse",
             relu_grad_at_zero: int = 0, huber_delta: Fraction | None = None,
             option: str = "--input-shape") -> tuple[Any, dict[str, Step]]:
    """The layer model of ``steps`` and the step holding each parameterised layer's path."""
    from . import LAYERS, LOSSES, LayerSettings, Model
    from . import loss as make_loss
    from .layers import shape_text

    if not steps:
        raise TorchModelError(f"{label}: forward() computes no layer", hint=f"supported: {SUPPORTED}")
    if isinstance(loss, str) and loss not in LOSSES:  # else a Loss object (bce or ce with its labels)
        raise InputError(f"--loss {loss!r} is not known", hint=f"use one of {', '.join(LOSSES)}")
    if huber_delta is not None and loss != "huber":
        raise InputError("--huber-delta needs --loss huber", hint="add --loss huber or drop --huber-delta")
    settings = LayerSettings(relu_grad_at_zero)
    holders: dict[str, Step] = {}

    def build(chain: tuple[Step, ...], prefix: str) -> tuple[Any, ...]:
        layers = []
        for i, s in enumerate(chain):
            path = f"{prefix}{i}"
            try:
                if s.kind == "Residual":
                    layers.append(LAYERS["Residual"](settings, *build(s.block, path + ".")))
                else:
                    layers.append(LAYERS[s.kind](settings, *s.args))
            except TorchModelError:
                raise
            except SpecError as e:
                raise TorchModelError(f"{label}: {s.name or 'the module'}: {e.message}", hint=e.hint) from None
            if s.module is not None:
                holders[path] = s
        return tuple(layers)

    def check(chain: tuple[Step, ...], layers: tuple[Any, ...], shape: tuple[int, ...]) -> tuple[int, ...]:
        """Every layer's shape, a mismatch named by the module (Model would name only the notation)."""
        for s, layer in zip(chain, layers):
            if s.kind == "Residual":
                inner = check(s.block, layer.block, shape)
                if inner != shape:
                    raise TorchModelError(f"{label}: {s.name}: the block maps {shape_text(shape)} to "
                                          f"{shape_text(inner)}; x + block(x) needs the block to keep the shape")
                continue
            try:
                shape = layer.out_shape(shape)
            except SpecError as e:
                raise TorchModelError(f"{label}: {_shown(s)}: {e.message}",
                                      hint=e.hint or f"check {option} and the layers' sizes") from None
        return shape

    layers = build(steps, "")
    shape = tuple(input_shape) if input_shape is not None else implied_input_shape(steps, label, option)
    check(steps, layers, shape)
    settings_kw = {"delta": huber_delta} if huber_delta is not None else {}
    chosen = make_loss(loss, **settings_kw) if isinstance(loss, str) else loss
    return Model(layers, shape, chosen, settings), holders


def read_tensor(tensor: Any, name: str, shown: str, shape: tuple[int, ...], label: str) -> list[tuple[str, tuple[int, ...], Fraction]]:
    """A parameter's entries exactly: a float32/float64 value is a dyadic rational, read with no rounding."""
    try:
        flat = tensor.detach().to("cpu").double().reshape(-1).tolist()
    except Exception as e:  # a meta tensor, an unusual device
        raise TorchModelError(f"{label}: cannot read {shown}: {type(e).__name__}: {e}") from None
    out = []
    for index, value in zip(entries(shape), flat):
        if not math.isfinite(value):
            raise TorchModelError(f"{label}: {shown}{list(index)} is {value}, not a finite number",
                                  hint="--weights-from-module needs finite weights")
        out.append((name, index, Fraction(value)))
    return out


def model_weights(model: Any, holders: dict[str, Step], label: str) -> FixedValues:
    """Every parameter of the layer model at its module's current value, exactly."""
    items = []
    for p in model.parameters():
        holder = holders[p.path]
        attribute = "weight" if p.role == "W" else "bias"
        shown = f"{p.name} ({holder.name + '.' if holder.name else ''}{attribute})"
        items.extend(read_tensor(getattr(holder.module, attribute), p.name, shown, p.shape, label))
    return FixedValues(tuple(sorted(items)))


# --------------------------------------------------------------------------
# nn.Module -> Network (an MLP, with the module's names) or Model (layers)


def _mlp(steps: tuple[Step, ...], loss: Any, relu_grad_at_zero: int) -> Network | None:
    """The MLP network of ``steps`` with the module's parameter names, or None when they are not one."""
    if loss not in ("mse", "sse") or not steps or any(s.kind not in ("Linear", "ReLU", "LeakyReLU") for s in steps):
        return None
    if steps[0].kind != "Linear" or steps[-1].kind != "Linear":
        return None
    linears = [s for s in steps if s.kind == "Linear"]
    gaps = []  # the activation between each two layers
    for prev, step in zip(steps, steps[1:]):
        if step.kind != "Linear" and prev.kind != "Linear":
            return None  # two activations in a row
        if step.kind == "Linear":
            gaps.append((prev.kind, prev.args) if prev.kind != "Linear" else ("linear", ()))
    if len(set(gaps)) > 1 or len({s.args[2] for s in linears}) > 1:
        return None  # different activations between layers, or layers with and without bias
    widths = [linears[0].args[0]]
    for s in linears:
        if s.args[0] != widths[-1]:
            return None  # the layer model's shape check names it
        widths.append(s.args[1])
    kind, args = gaps[0] if gaps else ("linear", ())
    bias = linears[0].args[2]
    aliases: list[tuple[str, str]] = []
    for k, s in enumerate(linears, start=1):
        prefix = f"{s.name}." if s.name else ""
        aliases.extend([(f"W{k}", f"{prefix}weight")] + ([(f"b{k}", f"{prefix}bias")] if bias else []))
    activation = {"ReLU": "relu", "LeakyReLU": "leaky_relu"}.get(kind, "linear")
    return Network(tuple(widths), activation=activation,  # type: ignore[arg-type]
                   leaky_slope=args[0] if args else Fraction(1, 100), bias=bias, loss=loss,  # type: ignore[arg-type]
                   relu_grad_at_zero=relu_grad_at_zero, names=ParameterNames(tuple(aliases)))  # type: ignore[arg-type]


def network_from_module(module: Any, label: str = "--torch", loss: Any = "mse", relu_grad_at_zero: int = 0,
                        input_shape: tuple[int, ...] | None = None, huber_delta: Fraction | None = None,
                        shape_option: str = "--input-shape") -> TorchNetwork:
    """Read an ``nn.Module`` as a cexsearch network with its current weights, exactly.

    An MLP module (with mse or sse) is a :class:`Network` keeping the module's parameter names;
    any other module that maps is a layer :class:`cexsearch.model.Model` named ``W1, b1, ...``.
    ``input_shape`` is one sample's shape; it is needed when the first layer does not fix it (a
    convolution), and must agree with a first ``nn.Linear``.
    """
    steps = trace(module, label)
    network = _mlp(steps, loss, relu_grad_at_zero) if huber_delta is None else None
    if network is not None and input_shape in (None, (network.widths[0],)):
        items = []
        linears = [s for s in steps if s.kind == "Linear"]
        for k, s in enumerate(linears, start=1):
            for name, attribute in [(f"W{k}", "weight")] + ([(f"b{k}", "bias")] if network.bias else []):
                items.extend(read_tensor(getattr(s.module, attribute), name, network.label(name),
                                         network.shape(name, 1), label))
        return TorchNetwork(network, FixedValues(tuple(sorted(items))), label)
    model, holders = to_model(steps, label, input_shape, loss, relu_grad_at_zero, huber_delta, shape_option)
    return TorchNetwork(model, model_weights(model, holders, label), label)


def load_torch_network(reference: str, base: Path | None = None, option: str = "--torch", loss: Any = "mse",
                       relu_grad_at_zero: int = 0, input_shape: tuple[int, ...] | None = None,
                       huber_delta: Fraction | None = None) -> TorchNetwork:
    """``PATH.py:NAME`` to a network with the module's weights (the entry point of ``--torch``)."""
    module, label = load_reference(reference, base, option)
    return network_from_module(module, label, loss, relu_grad_at_zero, input_shape, huber_delta)

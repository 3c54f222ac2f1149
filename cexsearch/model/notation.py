"""PyTorch's notation for a network, read safely with :mod:`ast`.

``Sequential(Conv1d(1, 2, 3), ReLU(), Flatten(), Linear(12, 1))`` as pasted from
code (``nn.`` and ``torch.nn.`` prefixes are accepted).  Only the registered layer
names (:data:`cexsearch.model.layers.LAYERS`) and int, float, bool, negative
number and ``a/b`` fraction literals, positional or keyword, are read; nothing is evaluated.  A float
literal is read as the decimal it spells (``0.01`` is exactly 1/100).  Every error
is a :class:`~cexsearch.errors.SpecError` with the source and the column of the
bad token, and a shape mismatch names the shape the layer expects.

>>> m = parse_model("nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1, bias=False))", input_shape=(2,))
>>> m.output_shape, m.parameter_names()
((1,), ('W1', 'b1', 'W2'))
"""

from __future__ import annotations

import ast
import inspect
from fractions import Fraction
from typing import Any

from ..errors import SpecError
from .layers import LAYERS, BadArgument, Layer, LayerSettings
from .losses import Loss
from .losses import loss as make_loss
from .model import Model

_PREFIXES = ("nn.", "torch.nn.")


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return None if head is None else f"{head}.{node.attr}"
    return None


class _Reader:
    def __init__(self, source: str, settings: LayerSettings) -> None:
        self.source = source
        self.settings = settings

    def error(self, message: str, node: ast.AST | None, hint: str | None = None) -> SpecError:
        column = getattr(node, "col_offset", None)
        return SpecError(message, source=self.source, column=column, hint=hint)

    def name(self, call: ast.Call) -> str:
        dotted = _dotted(call.func)
        if dotted is None:
            raise self.error("expected a layer name such as Linear or ReLU", call.func)
        for prefix in _PREFIXES:
            if dotted.startswith(prefix):
                dotted = dotted[len(prefix):]
        return dotted

    def literal(self, node: ast.expr) -> Any:
        if isinstance(node, ast.Call):
            return self.layer(node)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            v = self.literal(node.operand)
            if isinstance(v, bool) or not isinstance(v, (int, Fraction)):
                raise self.error("a sign goes before a number only", node)
            return -v if isinstance(node.op, ast.USub) else v
        if isinstance(node, ast.Tuple):  # kernel_size=(2, 3)
            items = tuple(self.literal(n) for n in node.elts)
            if not items or any(isinstance(v, (tuple, Layer)) for v in items):
                raise self.error("a tuple holds numbers only, e.g. (2, 3)", node)
            return items
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):  # 1/3, as notation() writes it
            a, b = self.literal(node.left), self.literal(node.right)
            if any(isinstance(v, bool) or not isinstance(v, (int, Fraction)) for v in (a, b)) or b == 0:
                raise self.error("a fraction is a number over a non-zero number, e.g. 1/3", node)
            return Fraction(a) / Fraction(b)
        if isinstance(node, ast.Constant) and isinstance(node.value, (bool, int)):
            return node.value
        if isinstance(node, ast.Constant) and isinstance(node.value, float):
            text = ast.get_source_segment(self.source, node) or repr(node.value)
            try:
                return Fraction(text.replace("_", ""))
            except ValueError:
                raise self.error(f"{text} is not a finite number", node) from None
        raise self.error("a layer argument must be an int, a float, True/False or a layer", node)

    def layer(self, call: ast.Call) -> Layer:
        name = self.name(call)
        if name == "Sequential":
            raise self.error("Sequential(...) goes around the whole network only", call.func,
                             hint="inside a residual block write Residual(layer, layer, ...)")
        builder = LAYERS.get(name)
        if builder is None:
            from .network import nearest

            same_letters = [n for n in LAYERS if n.lower() == name.lower()]  # Relu -> ReLU before Residual
            guess = same_letters[0] if same_letters else nearest(name, list(LAYERS))
            hint = f"did you mean {guess}?" if guess else f"the layers are {', '.join(LAYERS)}"
            raise self.error(f"unknown layer {name!r}", call.func, hint=hint)
        sig = inspect.signature(builder)
        try:
            bound = sig.bind(self.settings, *call.args, **{k.arg: k.value for k in call.keywords if k.arg})
        except TypeError as e:
            usage = self.usage(name, sig)
            raise self.error(f"bad arguments to {name}: {e}", call, hint=f"write {usage}") from None
        if any(k.arg is None for k in call.keywords):
            raise self.error("**kwargs are not read", call)
        nodes: dict[str, ast.expr] = {}
        values: dict[str, Any] = {}
        for pname, given in list(bound.arguments.items())[1:]:
            param = sig.parameters[pname]
            if param.kind is param.VAR_POSITIONAL:  # *layers
                values[pname] = tuple(self.literal(n) for n in given)
                if given:
                    nodes[pname] = given[0]
            else:
                values[pname] = self.literal(given)
                nodes[pname] = given
        try:
            return builder(self.settings, *self._positional(sig, values), **self._keywords(sig, values))
        except BadArgument as e:
            raise self.error(e.message, nodes.get(e.argument, call), e.hint) from None
        except SpecError as e:
            raise self.error(e.message, call, e.hint) from None

    @staticmethod
    def _positional(sig: inspect.Signature, values: dict[str, Any]) -> list[Any]:
        out: list[Any] = []
        for p in list(sig.parameters.values())[1:]:
            if p.kind is p.VAR_POSITIONAL:
                out.extend(values.get(p.name, ()))
            elif p.kind is p.POSITIONAL_OR_KEYWORD and p.name in values:
                out.append(values[p.name])
            elif p.kind is p.POSITIONAL_OR_KEYWORD:
                break
        return out

    @staticmethod
    def _keywords(sig: inspect.Signature, values: dict[str, Any]) -> dict[str, Any]:
        params = list(sig.parameters.values())[1:]
        positional = []
        for p in params:
            if p.kind is p.POSITIONAL_OR_KEYWORD and p.name in values:
                positional.append(p.name)
            elif p.kind is p.POSITIONAL_OR_KEYWORD:
                break
        return {p.name: values[p.name] for p in params
                if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name in values and p.name not in positional}

    @staticmethod
    def usage(name: str, sig: inspect.Signature) -> str:
        parts = []
        for p in list(sig.parameters.values())[1:]:
            if p.kind is p.VAR_POSITIONAL:
                parts.append("layer, ...")
            elif p.default is p.empty:
                parts.append(p.name)
            else:
                parts.append(f"{p.name}={p.default}")
        return f"{name}({', '.join(parts)})"


def parse_model(text: str, input_shape: tuple[int, ...], loss: str | Loss = "mse", relu_grad_at_zero: int = 0,
                **loss_settings: Any) -> Model:
    """The model written in PyTorch's notation, on inputs of ``input_shape`` (one sample's shape)."""
    source = text.strip()
    if relu_grad_at_zero not in (0, 1):
        raise SpecError(f"relu_grad_at_zero must be 0 or 1, got {relu_grad_at_zero!r}")
    reader = _Reader(source, LayerSettings(relu_grad_at_zero))
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as e:
        column = max((e.offset or 1) - 1, 0)
        raise SpecError(f"bad --net {source!r}: {e.msg}", source=source, column=column,
                        hint='write PyTorch layers, e.g. "Sequential(Linear(2, 3), ReLU(), Linear(3, 1))"') from None
    body = tree.body
    if not isinstance(body, ast.Call):
        raise reader.error("expected Sequential(...) or a layer", body)
    if reader.name(body) == "Sequential":
        if body.keywords:
            raise reader.error("Sequential takes layers only", body.keywords[0].value)
        nodes = list(body.args)
        layers = [reader.layer(n) if isinstance(n, ast.Call) else _not_layer(reader, n) for n in nodes]
    else:
        nodes = [body]
        layers = [reader.layer(body)]
    chosen = loss if isinstance(loss, Loss) else make_loss(loss, **loss_settings)
    shape = tuple(input_shape)
    for node, layer in zip(nodes, layers):  # the first shape mismatch, at its layer's column
        try:
            shape = layer.out_shape(shape)
        except SpecError as e:
            raise reader.error(e.message, node, e.hint) from None
    return Model(tuple(layers), tuple(input_shape), chosen, reader.settings)


def _not_layer(reader: _Reader, node: ast.expr) -> Layer:
    raise reader.error("expected a layer such as Linear(2, 1) or ReLU()", node)

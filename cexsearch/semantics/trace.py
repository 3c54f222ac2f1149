"""One forward pass and backprop of the batch loss, written once, over any algebra.

For a model ``f = l_n ∘ ... ∘ l_1`` and a batch x (M, *input_shape)::

    a_0 = x,  a_i = l_i(a_{i-1}),  yhat = a_n
    t = yhat - y (residual losses) or y ⊙ yhat (margin losses)
    L = s Σ_e G(t_e),   dL/dyhat = s g(t) [⊙ y]         (see cexsearch.model.losses)
    δ_n = g(t) [⊙ y],   δ_{i-1} = backward of l_i at δ_i   (each layer's own rule)

    bce, ce: p = sigmoid(yhat) or softmax(yhat) per sample (``Algebra.link``),
    L = s (Σ log-partition - Σ y ⊙ yhat),  δ_n = p - y

Backprop is linear in δ_n, so it runs unscaled, and multiplied by the common
denominator of δ_n in the exact algebra (``Algebra.rescale``), so in integers
where the data are; every parameter gradient is multiplied by s (and 1/D) at the end.

Every piece a value takes (an activation's piece, a max-pool's argmax, a loss's
piece per output entry) goes through the algebra's ``choose``/``argmax``; the trace
keeps them as its pattern, keyed by layer path (``"loss"`` for the loss).

>>> from fractions import Fraction as F
>>> from cexsearch.model import Model
>>> from cexsearch.semantics import EXACT
>>> m = Model.from_mlp("1-1-1")
>>> t = trace(m, {"W1": [[1]], "b1": [-1], "W2": [[1]], "b2": [-1]}, [[0], [2], [3]], [[-2], [2], [0]], EXACT)
>>> [str(t.gradients[p].reshape(-1)[0]) for p in ("W1", "b1", "W2", "b2")]
['-2/3', '-2/3', '0', '0']
>>> t.pattern_of("1").reshape(-1).tolist()
[0, 1, 1]
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from ..errors import SpecError
from ..model.activations import PiecewiseLinear
from ..model.layers import Activation, Layer, Shape
from ..model.model import Model
from .algebra import Algebra, Selection


@dataclass(frozen=True)
class LayerTrace:
    """One layer's input and output over the batch (a residual block's, and then its layers')."""

    path: str
    layer: Layer
    input: np.ndarray
    output: np.ndarray


@dataclass(frozen=True)
class Trace:
    """Every intermediate value of one forward and backward pass, in the algebra's numbers.

    ``pattern`` holds (path, piece index per entry) for every site that chose a piece,
    in the order the forward pass met them; ``constraints`` what a symbolic algebra
    requires for that pattern (empty for Fraction and float64).
    """

    model: Model
    samples: int
    algebra: str
    layers: tuple[LayerTrace, ...]
    pattern: tuple[tuple[str, np.ndarray | None], ...]
    yhat: np.ndarray
    residual: np.ndarray
    loss_argument: np.ndarray
    loss: Any
    yhat_gradient: np.ndarray  # dL/dyhat = s g(t) [⊙ y]
    gradients: Mapping[str, np.ndarray]
    constraints: tuple[Any, ...] = ()
    #: (path, dL/d(output of that layer)) per layer, in backward order; only when asked (``output_gradients``)
    output_gradients: tuple[tuple[str, np.ndarray], ...] = ()
    #: p, the predicted probabilities (sigmoid or softmax of yhat) of a classification loss
    probabilities: np.ndarray | None = None

    def layer(self, path: str) -> LayerTrace:
        for lt in self.layers:
            if lt.path == path:
                return lt
        raise KeyError(path)

    def output_gradient(self, path: str) -> np.ndarray:
        """dL/d(output) of the layer at ``path``, from a trace taken with ``output_gradients=True``."""
        for p, arr in self.output_gradients:
            if p == path:
                return arr
        raise KeyError(path)

    def pattern_of(self, path: str) -> np.ndarray | None:
        for p, arr in self.pattern:
            if p == path:
                return arr
        raise KeyError(path)

    @property
    def pre_activations(self) -> tuple[np.ndarray, ...]:
        """The input of every activation layer, in order."""
        return tuple(lt.input for lt in self.layers if isinstance(lt.layer, Activation))

    def environment(self) -> dict[str, np.ndarray]:
        """yhat, loss and grad(P) by name, for the condition language."""
        env = {"yhat": self.yhat, "loss": np.array(self.loss, dtype=object)}
        if self.probabilities is not None:
            env["p"] = self.probabilities
        env.update({f"grad({p})": g for p, g in self.gradients.items()})
        return env


class _Context:
    """The :class:`~cexsearch.model.layers.Ops` of one trace: the algebra plus what it records."""

    def __init__(self, model: Model, algebra: Algebra, params: dict[str, dict[str, np.ndarray]]) -> None:
        self.alg = algebra
        self._params = params
        self._names = {(p.path, p.role): p.name for p in model.parameters()}
        self.grads: dict[str, np.ndarray] = {}
        self.pattern: list[tuple[str, np.ndarray | None]] = []
        self.constraints: list[Any] = []
        self.records: list[LayerTrace] = []
        self.output_gradients: list[tuple[str, np.ndarray]] | None = None  # a list when recorded

    # algebra
    def constant(self, value: Fraction) -> Any:
        return self.alg.constant(value)

    def zeros(self, shape: Shape) -> np.ndarray:
        return self.alg.zeros(shape)

    def matmul(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return self.alg.matmul(a, b)

    def sum(self, a: np.ndarray, axis: int) -> np.ndarray:
        return self.alg.sum(a, axis)

    def _record(self, path: str, sel: Selection) -> Selection:
        self.pattern.append((path, sel.pattern))
        self.constraints.extend(sel.constraints)
        return sel

    def choose(self, path: str, table: PiecewiseLinear, z: np.ndarray) -> Selection:
        return self._record(path, self.alg.choose(path, table, z))

    def argmax(self, path: str, windows: np.ndarray) -> Selection:
        return self._record(path, self.alg.argmax(path, windows))

    # parameters
    def params(self, path: str) -> Mapping[str, np.ndarray]:
        return self._params.get(path, {})

    def gradient(self, path: str, role: str, value: np.ndarray) -> None:
        name = self._names[(path, role)]
        self.grads[name] = value if name not in self.grads else self.grads[name] + value

    def input_gradient_needed(self, path: str) -> bool:
        return path != "0"  # dL/dx of the first layer is dL/d(data): no condition reads it

    # sequences of layers
    def forward(self, layers: Sequence[Layer], x: np.ndarray, path: str) -> tuple[np.ndarray, Any]:
        caches = []
        for i, layer in enumerate(layers):
            where = f"{path}{i}"
            y, cache = layer.forward(self, x, where)
            self.records.append(LayerTrace(where, layer, x, y))
            caches.append(cache)
            x = y
        return x, caches

    def backward(self, layers: Sequence[Layer], cache: Any, dy: np.ndarray, path: str) -> np.ndarray:
        for i in range(len(layers) - 1, -1, -1):
            if self.output_gradients is not None:
                self.output_gradients.append((f"{path}{i}", dy))
            dy = layers[i].backward(self, cache[i], dy, f"{path}{i}")
        return dy


def _const(v: Fraction) -> Any:
    return v.numerator if v.denominator == 1 else v


def _linear_in(sel: Selection | None, a: Sequence[Fraction], b: Sequence[Fraction], t: np.ndarray) -> Any:
    """``a_p t + b_p`` on the chosen pieces p (the only piece when ``sel`` is None), skipping zero parts."""
    if sel is None:
        out = t if a[0] == 1 else t * _const(a[0])
        return out + _const(b[0]) if b[0] != 0 else out
    parts = []
    if any(v != 0 for v in a):
        parts.append(sel.pick(a) * t)
    if any(v != 0 for v in b) or not parts:
        parts.append(sel.pick(b))
    return parts[0] if len(parts) == 1 else parts[0] + parts[1]


def _array(model: Model, algebra: Algebra, name: str, value: Any, samples: int) -> np.ndarray:
    shape = model.shape(name, samples)
    arr = np.asarray(value, dtype=object)
    if arr.size != math.prod(shape):
        raise SpecError(f"{name} needs shape {shape}, got {arr.shape}")
    return algebra.asarray(arr.reshape(shape))


def parameters(model: Model, params: Mapping[str, Any], algebra: Algebra) -> dict[str, dict[str, np.ndarray]]:
    """The parameters by layer path and role (``{"0": {"W": ..., "b": ...}}``), in the algebra's numbers."""
    missing = [n for n in model.parameter_names() if n not in params]
    if missing:
        raise SpecError(f"no value for {', '.join(missing)}")
    by_path: dict[str, dict[str, np.ndarray]] = {}
    for p in model.parameters():
        by_path.setdefault(p.path, {})[p.role] = _array(model, algebra, p.name, params[p.name], 0)
    return by_path


def forward_layer(model: Model, params: dict[str, dict[str, np.ndarray]], index: int, x: np.ndarray,
                  algebra: Algebra) -> tuple[np.ndarray, tuple[Any, ...]]:
    """Layer ``index`` of the model alone on ``x`` (params from :func:`parameters`): its output,
    and the constraints its pieces add.  What an enumeration extends one layer at a time."""
    ctx = _Context(model, algebra, params)
    y, _ = model.layers[index].forward(ctx, x, str(index))
    return y, tuple(ctx.constraints)


def trace(model: Model, params: Mapping[str, Any], x: Any, y: Any, algebra: Algebra,
          output_gradients: bool = False) -> Trace:
    """The forward pass, the loss and the gradient of every parameter, in ``algebra``.

    ``params`` maps ``W1``, ``b1``, ... to arrays (or nested lists) of Fractions in the
    model's shapes; ``x`` is (M, *input_shape), ``y`` (M, *output_shape).  With
    ``output_gradients`` the trace also keeps what backprop handed every layer,
    dL/d(its output) (for explanations; the encoding does not ask for it).
    """
    samples = int(np.asarray(x, dtype=object).shape[0]) if np.ndim(np.asarray(x, dtype=object)) else 0
    by_path = parameters(model, params, algebra)
    xs = _array(model, algebra, "x", x, samples)
    ys = _array(model, algebra, "y", y, samples)
    ctx = _Context(model, algebra, by_path)
    if output_gradients:
        ctx.output_gradients = []
    yhat, caches = ctx.forward(model.layers, xs, "")

    loss = model.loss
    residual = yhat - ys
    probabilities = None
    if loss.link:  # bce, ce: L = s (Σ log-partition - Σ y yhat), dL/dyhat = s (p - y)
        t = yhat
        link = getattr(algebra, "link", None)
        if link is None:
            raise SpecError(f"the {algebra.name} algebra has no {loss.link}", hint="use the exact or the float pass")
        out = link(loss.link, yhat)  # (p, partition[, the constraints a symbolic algebra adds])
        probabilities, partition = out[0], out[1]
        ctx.constraints.extend(out[2] if len(out) > 2 else ())
        G = np.concatenate([partition.reshape(-1), (-(ys * yhat)).reshape(-1)])
        delta = probabilities - ys
    else:
        t = residual if loss.argument == "residual" else ys * yhat
        table = loss.derivative
        sel = None if table.is_linear else ctx.choose("loss", table, t)
        slopes = [p.slope for p in table.pieces]
        intercepts = [p.intercept for p in table.pieces]
        g = _linear_in(sel, slopes, intercepts, t)
        # L = s Σ G(t), G = (slope/2 t + intercept) t + constant on the chosen piece
        G = _linear_in(sel, [v / 2 for v in slopes], intercepts, t) * t
        if any(c != 0 for c in loss.constants):
            G = G + (sel.pick(loss.constants) if sel is not None else _const(loss.constants[0]))
        delta = g if loss.argument == "residual" else g * ys
    outputs = math.prod(model.output_shape)
    scale = loss.gradient_scale(max(samples, 1), outputs)
    total = algebra.sum(G.reshape(-1), 0) if G.size else algebra.constant(Fraction(0))
    loss_value = algebra.constant(scale) * total

    # Backprop is linear in delta: run it on D delta (whole numbers in the exact algebra) and divide by D.
    seed, inverse = algebra.rescale(delta) if delta.size and not loss.link else (delta, Fraction(1))
    ctx.backward(model.layers, caches, seed, "")
    c = algebra.constant(scale)
    c_grad = algebra.constant(scale * inverse)
    grads = {}
    for p in model.parameters():
        grad = ctx.grads.get(p.name)
        grads[p.name] = algebra.finish(algebra.zeros(p.shape) if grad is None else grad * c_grad)
    finished: dict[int, np.ndarray] = {}

    def f(a: np.ndarray) -> np.ndarray:  # a layer's output is the next one's input: convert it once
        if id(a) not in finished:
            finished[id(a)] = algebra.finish(a)
        return finished[id(a)]

    layers = tuple(LayerTrace(r.path, r.layer, f(r.input), f(r.output)) for r in ctx.records)
    pattern = tuple(ctx.pattern)
    outputs_dy = tuple((p, algebra.finish(dy * c_grad)) for p, dy in ctx.output_gradients or ())
    return Trace(model, samples, algebra.name, layers, pattern, f(yhat), f(residual), f(t),
                 algebra.finish_scalar(loss_value), f(delta * c), grads, tuple(ctx.constraints), outputs_dy,
                 None if probabilities is None else f(probabilities))

"""A witness of a layer model written out as the chain rule, layer by layer.

:func:`explain_model` is :func:`cexsearch.output.explain.explain` for a
:class:`cexsearch.model.Model` (``--net "Sequential(...)"``).  Every number is read
from one exact trace (:func:`cexsearch.semantics.trace` with ``output_gradients``):
each layer's input and output, the piece every activation entry took, the argmax of
every max-pool window, and what backprop handed every layer, written as
``δ = (1/s) ∂L/∂a`` (s the loss's scale, so the deltas of mse start at the residual).
The document has the layers and their rules (:mod:`cexsearch.output.explain_rules`), the
parameters, the forward pass and the deltas per sample, and then every entry of the
gradients the conditions read as its chain-rule sum::

    Linear:   ∂L/∂W_k[j,i]   = s Σ_m δ_{m,j} a_{m,i}                ∂L/∂b_k[j] = s Σ_m δ_{m,j}
    Conv:     ∂L/∂W_k[f,c,t] = s Σ_m Σ_o δ_{m,f,o} a_{m,c,o·stride+t-pad}   ∂L/∂b_k[f] = s Σ_m Σ_o δ_{m,f,o}

each term's factors, each term's value and the total, which must equal the trace's
gradient exactly before anything is returned (taps on the zero padding add nothing
and are left out).
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np

from .. import lang as C
from ..model.conv import ConvNd
from ..model.layers import Activation, Linear, shape_text
from ..model.model import Model
from ..model.network import entries
from ..model.pool import MaxPoolNd
from ..model.problem import Assignment, Problem
from ..model.residual import Residual
from ..semantics import EXACT, Trace, trace
from ..semantics.numeric import recheck
from ..semantics.transcendental import Value
from .explain_format import Format, Term, condition_blocks, derivation, grad_label, grad_lhs, gradient_summary, matrix
from .explain_format import product_term as product
from .explain_rules import (
    Place,
    act,
    backward_lines,
    conv_positions,
    delta,
    forward_lines,
    number,
    pieces_lines,
    places,
    residual_sum_line,
)

Totals = dict[tuple[str, tuple[int, ...]], Fraction]


def model_trace(a: Assignment) -> Trace:
    """The exact trace of a layer model's assignment, with every layer's output gradient."""
    model: Model = a.network  # type: ignore[assignment]
    values = model.values_of(a)
    params = {p: values[p] for p in model.parameter_names()}
    return trace(model, params, values["x"], values["y"], EXACT, output_gradients=True)


def _nested(fmt: Format, arr: Any) -> str:
    """One sample's array as nested tuples of exact numbers."""
    if not isinstance(arr, np.ndarray) or arr.ndim == 0:
        return fmt.num(_exact(arr))
    return "(" + ", ".join(_nested(fmt, v) for v in arr) + ")"


def _cell(fmt: Format, arr: np.ndarray) -> str:
    text = _nested(fmt, arr.reshape(-1)[0] if arr.size == 1 else arr)
    return text if fmt.name == "markdown" else f"${text}$"


def _symbol(fmt: Format, plain: str, tex: str) -> str:
    return plain if fmt.name == "markdown" else f"${tex}$"


def _plain(path: str | None) -> str:
    return "x" if path is None else f"a({number(path)})"


def _rows_table(fmt: Format, rows: list[tuple[str, str, np.ndarray]], samples: int) -> str:
    """A table with one row per value (plain name, LaTeX name, array over the batch), one column per sample."""
    header = [("value", "\\text{value}")] + [(f"m = {m}", f"m = {m}") for m in range(samples)]
    return fmt.table(header, [[_symbol(fmt, plain, tex)] + [_cell(fmt, arr[m]) for m in range(samples)]
                              for plain, tex, arr in rows])


def _exact(v: Any) -> Any:
    """An exact trace's entry as a Fraction, or as it is when it has exp in it (bce, ce)."""
    return v if isinstance(v, Value) else Fraction(v)


def _scaled(arr: np.ndarray, factor: Fraction) -> np.ndarray:
    out = np.empty(arr.shape, dtype=object)
    for idx in np.ndindex(arr.shape):
        out[idx] = _exact(arr[idx]) * factor  # a Fraction of the exact trace, or a Value (bce, ce)
    return out


class _LayerExplainer:
    """Builds every block of one layer model's explanation in one format, from one trace."""

    def __init__(self, problem: Problem, a: Assignment, fmt: Format, step: Trace | None = None) -> None:
        """``step``: a training run's exact trace of ``a`` (θ_t on its batch), read instead of a trace of its own."""
        self.problem, self.a, self.fmt = problem, a, fmt
        self.model: Model = a.network  # type: ignore[assignment]
        self.t = step if step is not None else model_trace(a)
        self.section = ""  # put before the headings of the pass ("Step 1: "), for a training run's steps
        self.M = a.samples
        self.s = self.model.loss.gradient_scale(self.M, math.prod(self.model.output_shape))
        owners: dict[str, tuple[str, ...]] = {}
        for p in self.model.parameters():
            owners[p.path] = owners.get(p.path, ()) + (p.name,)
        self.places = places(self.model.layers, owners)
        self.in_shapes = {path: i for path, _, i, _ in self.model.walk()}

    def d(self, path: str) -> np.ndarray:
        """δ at the output of the layer at ``path``: the trace's dL/d(output), divided by s."""
        return _scaled(self.t.output_gradient(path), 1 / self.s)

    def slopes(self, place: Place) -> np.ndarray:
        """σ' of every input entry of an activation: the slope of the piece the trace chose there."""
        layer = place.layer
        assert isinstance(layer, Activation)
        shape = self.t.layer(place.path).input.shape
        try:
            chosen = self.t.pattern_of(place.path)
        except KeyError:  # the identity records no choice: its only piece
            chosen = None
        out = np.empty(shape, dtype=object)
        for idx in np.ndindex(shape):
            out[idx] = layer.table.pieces[0 if chosen is None else int(chosen[idx])].slope
        return out

    # -- blocks --------------------------------------------------------
    def network_blocks(self) -> list[str]:
        fmt, model = self.fmt, self.model
        blocks = [fmt.heading("Network")]
        m = fmt.name != "markdown"
        shape = ", ".join(map(str, model.input_shape))
        kinds = {type(p.layer) for p in self.places}
        text = [f"Layers applied in order to {f'$x$ of shape $(M, {shape})$' if m else f'x of shape (M, {shape})'}, "
                f"{_symbol(fmt, f'M = {self.M}', f'M = {self.M}')}; {_symbol(fmt, 'a(i)', 'a^{(i)}')} is the output "
                f"of layer i" + (" (layer i.j: the j-th layer of the residual block of layer i)"
                                 if Residual in kinds else "") + f", then the {model.loss.describe()} loss. "
                "Indices start at 0 as in cexsearch's names"]
        if any(isinstance(p.layer, ConvNd) for p in self.places):
            text.append(f"{fmt.code('W1[f,c,t]')} is a convolution's output channel f, input channel c, kernel tap t")
        if Linear in kinds:
            text.append(f"{fmt.code('W1[j,i]')} is a linear layer's output j, input i")
        text.append("samples are " + ("$m = 0, \\ldots, M-1$." if m else "m = 0, ..., M-1."))
        blocks.append(": ".join(text[:1]) + ": " + "; ".join(text[1:]))
        info = {row.path: row for row in model.summary()}
        blocks.append(fmt.table(
            [("layer", "\\text{layer}"), ("PyTorch", "\\text{PyTorch}"), ("input", "\\text{input}"),
             ("output", "\\text{output}"), ("parameters", "\\text{parameters}")],
            [[number(row.path), fmt.code(row.notation), shape_text(row.input_shape), shape_text(row.output_shape),
              ", ".join(fmt.code(n) for n in row.parameters) or "-"] for row in info.values()]))
        lines: list[str] = []
        for p in self.places:
            lines += forward_lines(fmt, p, self.in_shapes[p.path])
        blocks.append(fmt.math(lines))
        blocks.append(fmt.math(self._loss_lines()))
        return blocks

    def _loss_lines(self) -> list[str]:
        fmt, loss = self.fmt, self.model.loss
        if loss.link:
            return self._link_lines()
        n = math.prod(self.model.output_shape)
        margin = loss.argument == "margin"
        t = "u" if margin else "r"
        lines = [f"L &= s \\sum_{{m=0}}^{{M-1}} \\sum_{{e}} G({t}_{{m,e}}), \\qquad "
                 + ("u = y \\odot \\hat y" if margin else "r = \\hat y - y") + ", \\quad g = G'"
                 + f", \\quad \\hat y = {act(self.places[-1].path)}",
                 f"s &= {fmt.num(self.s)}" + (f" \\quad (\\frac{{{fmt.num(loss.factor)}}}{{M n}}, n = {n})"
                                              if loss.mean else ""),
                 *pieces_lines(fmt, "g", loss.derivative, t)]
        last = self.places[-1].path
        lines.append(f"{delta(last)}_{{m,e}} &= \\frac{{1}}{{s}} \\frac{{\\partial L}}{{\\partial \\hat y_{{m,e}}}} = "
                     + ("g(u_{m,e})\\, y_{m,e}" if margin else "g(r_{m,e})"))
        return lines

    def _link_lines(self) -> list[str]:
        """bce: L = s Σ (softplus(ŷ) - y ŷ), p = σ(ŷ); ce: L = s Σ_m (logsumexp(ŷ_m) - Σ_e y ŷ); δ = p - y."""
        fmt, loss = self.fmt, self.model.loss
        n = math.prod(self.model.output_shape)
        last = self.places[-1].path
        if loss.link == "sigmoid":
            lines = ["L &= s \\sum_{m=0}^{M-1} \\sum_{e} \\bigl(\\operatorname{softplus}(\\hat y_{m,e}) - y_{m,e} "
                     f"\\hat y_{{m,e}}\\bigr), \\quad \\hat y = {act(last)}",
                     f"s &= {fmt.num(self.s)} \\quad (\\frac{{1}}{{M n}}, n = {n})",
                     "p_{m,e} &= \\sigma(\\hat y_{m,e}) = \\frac{1}{1 + e^{-\\hat y_{m,e}}}"]
        else:
            lines = ["L &= s \\sum_{m=0}^{M-1} \\bigl(\\operatorname{logsumexp}_e(\\hat y_{m,e}) - \\sum_e y_{m,e} "
                     f"\\hat y_{{m,e}}\\bigr), \\quad \\hat y = {act(last)}",
                     f"s &= {fmt.num(self.s)} \\quad (\\frac{{1}}{{M}})",
                     "p_{m,e} &= \\operatorname{softmax}(\\hat y_m)_e = \\frac{e^{\\hat y_{m,e}}}{\\sum_{e'} e^{\\hat y_{m,e'}}}"]
        lines.append(f"{delta(last)}_{{m,e}} &= \\frac{{1}}{{s}} \\frac{{\\partial L}}{{\\partial \\hat y_{{m,e}}}} = "
                     "p_{m,e} - y_{m,e}")
        return lines

    def parameter_blocks(self, heading: str = "Parameters") -> list[str]:
        fmt, lines = self.fmt, []
        values = self.model.values_of(self.a)
        for name in self.model.parameter_names():
            arr = values[name]
            sym = f"{name[0]}_{{{name[1:]}}}"
            if arr.ndim == 1:
                lines.append(f"{sym} &= {matrix(fmt, [list(arr)], transpose_mark=arr.size > 1)}")
            elif arr.ndim == 2:
                lines.append(f"{sym} &= {matrix(fmt, [list(r) for r in arr])}")
            else:
                for lead in np.ndindex(arr.shape[:-2]):
                    sub = arr[lead]
                    idx = ",".join(map(str, lead))
                    lines.append(f"{sym}[{idx},:,:] &= {matrix(fmt, [list(r) for r in sub])}")
        return [fmt.heading(heading), fmt.math(lines)]

    def forward_blocks(self) -> list[str]:
        fmt, t = self.fmt, self.t
        rows: list[tuple[str, str, np.ndarray]] = [("x", "x", t.layers[0].input)]
        for p in self.places:
            lt = t.layer(p.path)
            if isinstance(p.layer, Activation):
                rows.append((f"σ'({_plain(p.source)})", f"\\sigma_{{{number(p.path)}}}'({act(p.source)})",
                             self.slopes(p)))
            if isinstance(p.layer, MaxPoolNd):
                chosen = t.pattern_of(p.path)
                assert chosen is not None
                rows.append((f"t* of a({number(p.path)})", f"t^* \\text{{ of }} {act(p.path)}", chosen))
            rows.append((_plain(p.path), act(p.path), lt.output))
        margin = self.model.loss.argument == "margin"
        rows.append(("y", "y", self.model.values_of(self.a)["y"]))
        if t.probabilities is not None:  # bce, ce: p = sigmoid or softmax of the logits
            rows.append((f"p = {self.model.loss.link}(yhat)", "p", t.probabilities))
        else:
            rows.append(("u = y yhat" if margin else "r = yhat - y", "u" if margin else "r", t.loss_argument))
        last = self.places[-1].path
        rows.append((f"δ({number(last)})", f"{delta(last)}", self.d(last)))
        blocks = [fmt.heading(self.section + "Data and forward pass"), "One column per sample m, every entry exact"
                  + ("; t* is the entry each max-pool window passes on, counted row by row within the window."
                     if any(isinstance(p.layer, MaxPoolNd) for p in self.places) else "."), _rows_table(fmt, rows, self.M),
                  fmt.math([f"L &= {fmt.num(_exact(t.loss))}"])]
        return blocks

    def backward_blocks(self) -> list[str]:
        fmt = self.fmt
        lines: list[str] = []
        pending: dict[str, list[str]] = {}  # a block's first layer -> its residual's sum, written after it
        for p in reversed(self.places):
            lines += backward_lines(fmt, p, self.in_shapes[p.path]) + pending.pop(p.path, [])
            if isinstance(p.layer, Residual):
                pending[f"{p.path}.0"] = residual_sum_line(p)
        text = ("From the output back, δ(i) = (1/s) ∂L/∂a(i), as backprop hands it to layer i:"
                if fmt.name == "markdown" else
                "From the output back, $\\delta^{(i)} = \\frac{1}{s} \\partial L / \\partial a^{(i)}$, "
                "as backprop hands it to layer $i$:")
        rows = [(f"δ({number(path)})", delta(path), self.d(path)) for path, _ in self.t.output_gradients]
        blocks = [fmt.heading(self.section + "Backprop deltas"), text]
        if lines:
            blocks.append(fmt.math(lines))
        blocks.append(_rows_table(fmt, rows, self.M))
        return blocks

    # -- gradient entries ------------------------------------------------
    def _terms(self, place: Place, role: str, index: tuple[int, ...]) -> tuple[str, list[Term]]:
        fmt, layer, M = self.fmt, place.layer, self.M
        d, x = self.d(place.path), self.t.layer(place.path).input
        dsym, xsym, j = delta(place.path), act(place.source), index[0]
        if isinstance(layer, Linear):
            if role == "b":
                return f"s \\sum_{{m=0}}^{{M-1}} {dsym}_{{m,{j}}}", [product(fmt, [d[m, j]]) for m in range(M)]
            i = index[1]
            return (f"s \\sum_{{m=0}}^{{M-1}} {dsym}_{{m,{j}}}\\, {xsym}_{{m,{i}}}",
                    [product(fmt, [d[m, j], x[m, i]]) for m in range(M)])
        assert isinstance(layer, ConvNd)
        outs = d.shape[2:]
        names = ["o"] if layer.dims == 1 else [f"o_{{{a + 1}}}" for a in range(layer.dims)]
        o = ",".join(names)
        sums = "\\sum_{m=0}^{M-1} " + " ".join(f"\\sum_{{{n}=0}}^{{{size - 1}}}" for n, size in zip(names, outs))
        if role == "b":
            return (f"s {sums} {dsym}_{{m,{j},{o}}}",
                    [product(fmt, [d[(m, j, *pos)]]) for m in range(M) for pos in np.ndindex(outs)])
        c, taps = index[1], index[2:]
        terms = []
        for m in range(M):
            for pos in np.ndindex(outs):
                q = tuple(p * s + t - pad for p, s, t, pad in zip(pos, layer.stride, taps, layer.padding))
                if all(0 <= v < n for v, n in zip(q, x.shape[2:])):  # a tap on the zero padding adds nothing
                    terms.append(product(fmt, [d[(m, j, *pos)], x[(m, c, *q)]]))
        return (f"s {sums} {dsym}_{{m,{j},{o}}}\\, {xsym}_{{m,{c},{conv_positions(layer, taps)}}}",
                terms or [Term(("0",), Fraction(0))])

    def gradient_blocks(self) -> tuple[list[str], Totals]:
        fmt, blocks, totals = self.fmt, [], {}
        used: set[str] = set()
        for cond in self.problem.conditions:
            used |= C.names_used(cond.root)
        read = [n for n in self.model.parameter_names() if f"grad({n})" in used]
        names = read or list(self.model.parameter_names())
        by_name = {p.name: p for p in self.model.parameters()}
        where = {p.path: p for p in self.places}
        for name in names:
            param = by_name[name]
            expected = self.t.gradients[name]
            for index in entries(param.shape):
                symbolic, terms = self._terms(where[param.path], param.role, index)
                lines, total = derivation(fmt, grad_lhs(name, index), symbolic, self.s, terms)
                if total != expected[index]:
                    raise AssertionError(f"explain: {grad_label(name, index)} sums to {total}, "
                                         f"the trace says {expected[index]}")
                totals[(name, index)] = total
                blocks += [fmt.label(grad_label(name, index)), fmt.math(lines)]
        intro = (f"Every entry of the gradients {'the conditions read' if read else 'of the network'}, as its chain-rule sum over the samples"
                 + (" and output positions" if any(isinstance(p.layer, ConvNd) for p in self.places) else "")
                 + ": each term's factors, each term's value, and the total"
                 + ("; a kernel tap on the zero padding adds nothing and is left out."
                    if any(isinstance(p.layer, ConvNd) and any(p.layer.padding) for p in self.places) else "."))
        return [fmt.heading(self.section + "Gradients"), intro, *blocks], totals

    def render(self) -> tuple[str, Totals]:
        fmt, model, M = self.fmt, self.model, self.M
        title = (f"Witness: {model.text}, input shape {shape_text(model.input_shape)}, "
                 f"M = {M} sample{'s' if M != 1 else ''}")
        blocks = self.network_blocks() + self.parameter_blocks() + self.forward_blocks() + self.backward_blocks()
        grad_blocks, totals = self.gradient_blocks()
        blocks += grad_blocks
        blocks.append(gradient_summary(fmt, totals))
        blocks += condition_blocks(fmt, recheck(self.problem, self.a))
        return fmt.document(title, blocks), totals


def explain_model(problem: Problem, assignment: Assignment, fmt: Format) -> str:
    """The derivation of a layer model's witness (the format already chosen by :func:`cexsearch.output.explain.explain`)."""
    return _LayerExplainer(problem, assignment, fmt).render()[0]


def explained_gradients(problem: Problem, assignment: Assignment, fmt: Format) -> Totals:
    """The total of every gradient entry the explanation writes, as its sums give it (for tests)."""
    return _LayerExplainer(problem, assignment, fmt).render()[1]

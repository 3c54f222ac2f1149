"""A witness written out as a derivation a person can check by hand.

:func:`explain` turns a problem and an assignment into Markdown (math in
``$$`` blocks, tables in GitHub style, as StackExchange and GitHub render them)
or into a standalone LaTeX document (``article`` + ``amsmath`` only, so a basic
TeX install compiles it).  The layout follows a worked answer by hand: the
network's equations, the parameters, a table of every sample's forward pass
(x, pre-activations z, slopes σ'(z), activations a, predictions, targets,
residuals r = yhat - y), then every gradient entry as its chain-rule sum over
the samples, each term's exact value, and the total.

For networks with one or two weight layers the chain rule is written out in
full, with the loss scale c factored out (c = 2/(M n_L) for mse, 2 for sse)::

    dL/dW1[j,i] = c Σ_m (Σ_o r[m,o] W2[o,j]) σ'(z1[m,j]) x[m,i]

Deeper networks get a table of backprop deltas per layer and sample,
δ_L = c r and δ_{k-1} = (δ_k W_k) ⊙ σ'(z_{k-1}), and each gradient is written as
Σ_m δ_k[m,j] a_{k-1}[m,i].

Every number comes from :func:`cexsearch.semantics.numeric.evaluate` (the reference
semantics), every value is an exact :class:`~fractions.Fraction`, and every total
is compared with numeric's gradient before anything is returned.

>>> from fractions import Fraction as F
>>> from cexsearch.api import NetworkSettings, build_problem
>>> from cexsearch.model.problem import Assignment
>>> net = NetworkSettings().network("1-1-1")
>>> problem = build_problem(net, 3, ["grad(W2) == 0", "grad(W1) != 0"])
>>> a = Assignment(net, 3, (("W1", (F(1),)), ("b1", (F(-1),)), ("W2", (F(1),)), ("b2", (F(-1),)),
...                         ("x", (F(0), F(2), F(3))), ("y", (F(-2), F(2), F(0)))))
>>> text = explain(problem, a, "markdown")
>>> "&= 2/3 \\\\cdot (-1) = -2/3" in text
True
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

import numpy as np

from ..errors import InputError
from ..model.network import Network, entries
from ..model.problem import Assignment, Problem
from ..semantics import EXACT, Trace, trace
from ..semantics.numeric import Evaluation, mlp_evaluation, model_of, recheck
from .explain_format import (
    FORMATS,
    LATEX_ESCAPE_RE,
    Format,
    Term,
    condition_blocks,
    derivation,
    formatter,
    grad_label,
    grad_lhs,
    gradient_summary,
    latex_escape,
    latex_unescape,
    matrix,
    product_term,
    signed,
    visible_width,
)

__all__ = ["FORMATS", "LATEX_ESCAPE_RE", "explain", "latex_escape", "latex_unescape", "visible_width"]

# --------------------------------------------------------------------------
# The pieces of the derivation


def _w(k: int) -> str:
    return f"W_{{{k}}}"


def _act(k: int) -> str:
    """a^{(k)}, with a^{(0)} = x."""
    return "x" if k == 0 else f"a^{{({k})}}"


def _sigma_text(fmt: Format, net: Network) -> list[str]:
    """The hidden activation and its derivative, including the convention at 0."""
    on, off = net.slopes()
    if net.activation == "linear":
        return ["\\sigma(t) &= t, \\qquad \\sigma'(t) = 1"]
    if net.activation == "relu":
        sigma = "\\max(0, t)"
    else:
        sigma = f"t \\text{{ for }} t \\ge 0, \\quad {fmt.factor(off)}\\, t \\text{{ for }} t < 0"
    at_zero = on if net.relu_grad_at_zero == 1 else off
    return [
        f"\\sigma(t) &= {sigma}",
        f"\\sigma'(t) &= {fmt.num(on)} \\text{{ for }} t > 0, \\quad {fmt.num(off)} \\text{{ for }} t < 0, "
        f"\\quad \\sigma'(0) = {fmt.num(at_zero)}",
    ]


def _network_lines(net: Network, samples: int) -> list[str]:
    L = net.depth
    b = lambda k, j: f" + b_{{{k}}}[{j}]" if net.bias else ""  # noqa: E731
    lines = []
    for k in range(1, L + 1):
        z = "\\hat y_{m,j}" if k == L else f"z^{{({k})}}_{{m,j}}"
        if net.widths[k - 1] == 1:
            product = f"{_w(k)}[j,0]\\, {_act(k - 1)}_{{m,0}}"
        else:
            product = f"\\sum_{{i=0}}^{{{net.widths[k - 1] - 1}}} {_w(k)}[j,i]\\, {_act(k - 1)}_{{m,i}}"
        lines.append(f"{z} &= {product}{b(k, 'j')}")
        if k < L:
            lines.append(f"{_act(k)}_{{m,j}} &= \\sigma\\bigl(z^{{({k})}}_{{m,j}}\\bigr)")
    nL = net.widths[-1]
    # One output: write r_{m,0} and no sum over j.
    outputs = "r_{m,0}^2" if nL == 1 else f"\\sum_{{j=0}}^{{{nL - 1}}} r_{{m,j}}^2"
    if net.loss == "mse":
        lines.append(f"L &= \\frac{{1}}{{M n_{{{L}}}}} \\sum_{{m=0}}^{{M-1}} {outputs}, "
                     f"\\qquad r_{{m,j}} = \\hat y_{{m,j}} - y_{{m,j}}, \\quad M = {samples},\\ n_{{{L}}} = {nL}")
        lines.append(f"\\frac{{\\partial L}}{{\\partial \\hat y_{{m,j}}}} &= c\\, r_{{m,j}}, \\qquad "
                     f"c = \\frac{{2}}{{M n_{{{L}}}}}")
    else:
        lines.append(f"L &= \\sum_{{m=0}}^{{M-1}} {outputs}, "
                     f"\\qquad r_{{m,j}} = \\hat y_{{m,j}} - y_{{m,j}}, \\quad M = {samples}")
        lines.append("\\frac{\\partial L}{\\partial \\hat y_{m,j}} &= c\\, r_{m,j}, \\qquad c = 2")
    return lines


def _parameter_lines(fmt: Format, a: Assignment) -> list[str]:
    net = a.network
    lines = []
    for name in net.parameter_names():
        shape = net.shape(name, a.samples)
        flat = a.flat(name)
        k = name[1:]
        if name[0] == "W":
            rows = [list(flat[r * shape[1]:(r + 1) * shape[1]]) for r in range(shape[0])]
            lines.append(f"W_{{{k}}} &= {matrix(fmt, rows)}")
        else:
            lines.append(f"b_{{{k}}} &= {matrix(fmt, [list(flat)], transpose_mark=len(flat) > 1)}")
    return lines


def _slope_arrays(net: Network, ev: Evaluation) -> list[np.ndarray]:
    """σ'(z_k) per hidden layer and sample, exactly, from numeric's activation pattern."""
    on, off = net.slopes()
    out = []
    for pattern in ev.pattern:
        arr = np.empty(pattern.shape, dtype=object)
        for idx in np.ndindex(pattern.shape):
            arr[idx] = on if pattern[idx] else off
        out.append(arr)
    return out


def _sample_table(fmt: Format, a: Assignment, ev: Evaluation, slopes: Sequence[np.ndarray]) -> str:
    net = a.network
    L = net.depth
    y = np.array(a.flat("y"), dtype=object).reshape(net.shape("y", a.samples))
    header = [("m", "m"), ("x", "x_m")]
    for k in range(1, L):
        header += [(f"z({k})", f"z^{{({k})}}_m"), (f"σ'(z({k}))", f"\\sigma'(z^{{({k})}}_m)"), (f"a({k})", f"a^{{({k})}}_m")]
    header += [("yhat", "\\hat y_m"), ("y", "y_m"), ("r = yhat - y", "r_m = \\hat y_m - y_m")]
    rows = []
    for m in range(a.samples):
        row = [str(m), fmt.vector(list(ev.activations[0][m]))]
        for k in range(1, L):
            row += [fmt.vector(list(ev.pre_activations[k - 1][m])), fmt.vector(list(slopes[k - 1][m])),
                    fmt.vector(list(ev.activations[k][m]))]
        row += [fmt.vector(list(ev.yhat[m])), fmt.vector(list(y[m])), fmt.vector(list(ev.residual[m]))]
        rows.append(row)
    return fmt.table(header, rows)


def _delta_table(fmt: Format, deltas: Sequence[np.ndarray], samples: int) -> str:
    L = len(deltas) - 1
    header = [("m", "m")] + [(f"δ({k})", f"\\delta^{{({k})}}_m") for k in range(L, 0, -1)]
    rows = [[str(m)] + [fmt.vector(list(deltas[k][m])) for k in range(L, 0, -1)] for m in range(samples)]
    return fmt.table(header, rows)


class _Explainer:
    """Builds every block of one explanation in one format."""

    def __init__(self, problem: Problem, a: Assignment, fmt: Format, step: Trace | None = None) -> None:
        """``step``: a training run's exact trace of ``a`` (θ_t on its batch), read instead of a trace of its own."""
        self.problem, self.a, self.fmt, self.net = problem, a, fmt, a.network
        values = {name: np.array(a.flat(name), dtype=object).reshape(self.net.shape(name, a.samples))
                  for name in self.net.variable_names()}
        self.W = {k: values[f"W{k}"] for k in range(1, self.net.depth + 1)}
        # dL/d(output) of every layer, from the one backprop: layer k's Linear is the model's
        # layer 2(k-1), its activation 2k-1 (Model.from_mlp)
        self.t = step if step is not None else trace(
            model_of(self.net), {p: values[p] for p in self.net.parameter_names()}, values["x"], values["y"], EXACT,
            output_gradients=True)
        self.ev = mlp_evaluation(self.t)
        self.slopes = _slope_arrays(self.net, self.ev)
        self.c = self.net.loss_gradient_scale(a.samples)
        self.section = ""  # put before the headings of the pass ("Step 1: "), for a training run's steps

    @property
    def reads_deltas(self) -> bool:
        """Whether the derivation reads backprop's per-layer deltas (deep, or more than one output)."""
        return self.net.depth > 2 or self.net.widths[-1] > 1

    # -- gradient entries, two layouts ----------------------------------
    def _shallow_terms(self, name: str, index: tuple[int, ...]) -> tuple[str, list[Term]]:
        """Seed layout for L <= 2: the full chain rule with c factored out."""
        fmt, net, ev, M = self.fmt, self.net, self.ev, self.a.samples
        L, k = net.depth, int(name[1:])
        r = ev.residual
        j = index[0]
        a_prev = ev.activations[k - 1]
        if k == L:
            if name[0] == "b":
                return f"c \\sum_{{m=0}}^{{M-1}} r_{{m,{j}}}", [product_term(fmt, [r[m, j]]) for m in range(M)]
            i = index[1]
            symbolic = f"c \\sum_{{m=0}}^{{M-1}} r_{{m,{j}}}\\, {_act(k - 1)}_{{m,{i}}}"
            return symbolic, [product_term(fmt, [r[m, j], a_prev[m, i]]) for m in range(M)]
        # k == 1 and L == 2: dL/dz1[m,j] = c (Σ_o r[m,o] W2[o,j]) σ'(z1[m,j])
        W2 = self.W[2]
        nL = net.widths[-1]
        tail = "" if name[0] == "b" else f"\\, x_{{m,{index[1]}}}"
        if nL == 1:
            symbolic = f"c \\sum_{{m=0}}^{{M-1}} r_{{m,0}}\\, W_{{2}}[0,{j}]\\, \\sigma'(z^{{(1)}}_{{m,{j}}}){tail}"
        else:
            symbolic = (f"c \\sum_{{m=0}}^{{M-1}} \\Bigl(\\sum_{{o=0}}^{{{nL - 1}}} r_{{m,o}}\\, W_{{2}}[o,{j}]\\Bigr)"
                        f"\\, \\sigma'(z^{{(1)}}_{{m,{j}}}){tail}")
        terms = []
        for m in range(M):
            rest = [self.slopes[0][m, j]] + ([] if name[0] == "b" else [a_prev[m, index[1]]])
            if nL == 1:
                terms.append(product_term(fmt, [r[m, 0], W2[0, j], *rest]))
            else:
                inner = [product_term(fmt, [r[m, o], W2[o, j]]) for o in range(nL)]
                back = self.t.output_gradient("1")[m, j] / self.c  # Σ_o r[m,o] W2[o,j], from the trace
                text = "(" + signed([(t.negative_lead, " \\cdot ".join(t.factors)) for t in inner], None)[0] + ")"
                terms.append(product_term(fmt, [back, *rest], first_text=text))
        return symbolic, terms

    def _delta_terms(self, name: str, index: tuple[int, ...], deltas: Sequence[np.ndarray]) -> tuple[str, list[Term]]:
        """Deep layout: Σ_m δ_k[m,j] a_{k-1}[m,i], δ from the table."""
        fmt, M = self.fmt, self.a.samples
        k, j = int(name[1:]), index[0]
        d = deltas[k]
        if name[0] == "b":
            return (f"\\sum_{{m=0}}^{{M-1}} \\delta^{{({k})}}_{{m,{j}}}",
                    [product_term(fmt, [d[m, j]]) for m in range(M)])
        i = index[1]
        a_prev = self.ev.activations[k - 1]
        return (f"\\sum_{{m=0}}^{{M-1}} \\delta^{{({k})}}_{{m,{j}}}\\, {_act(k - 1)}_{{m,{i}}}",
                [product_term(fmt, [d[m, j], a_prev[m, i]]) for m in range(M)])

    def gradient_blocks(self) -> tuple[list[str], dict[tuple[str, tuple[int, ...]], Fraction]]:
        net, fmt = self.net, self.fmt
        deep = net.depth > 2
        deltas = self._deltas() if deep else []
        blocks: list[str] = []
        totals: dict[tuple[str, tuple[int, ...]], Fraction] = {}
        for name in net.parameter_names():
            expected = self.ev.gradients[name]
            for index in entries(net.shape(name, self.a.samples)):
                if deep:
                    symbolic, terms = self._delta_terms(name, index, deltas)
                    scale = None
                else:
                    symbolic, terms = self._shallow_terms(name, index)
                    scale = self.c
                lines, total = derivation(fmt, grad_lhs(name, index), symbolic, scale, terms)
                if total != expected[index]:
                    raise AssertionError(
                        f"explain: {grad_label(name, index)} sums to {total}, numeric says {expected[index]}")
                totals[(name, index)] = total
                blocks += [fmt.label(grad_label(name, index)), fmt.math(lines)]
        return blocks, totals

    def _deltas(self) -> list[np.ndarray]:
        """δ_k = dL/dz_k for k = 1..L (δ_L = c r), read from the trace's backprop."""
        L = self.net.depth
        return [np.empty((0, 0), dtype=object)] + [self.t.output_gradient(str(2 * (k - 1))) for k in range(1, L + 1)]

    # -- the whole text -------------------------------------------------
    def network_blocks(self) -> list[str]:
        fmt, net = self.fmt, self.net
        sigma = "σ" if fmt.name == "markdown" else "$\\sigma$"
        hidden = "no hidden layer" if net.depth == 1 else f"hidden units use {sigma}"
        blocks = [fmt.heading("Network"),
                  f"Widths {net.text} (input first), {hidden}, linear output, "
                  f"{'with' if net.bias else 'without'} biases, {net.loss} loss. "
                  "Indices start at 0 as in cexsearch's names: "
                  f"{fmt.code('W1[j,i]')} is row j (unit j of layer 1), column i (input i); samples are m = 0, ..., M-1."]
        if net.names is not None:  # a network from PyTorch: say which module parameter each symbol is
            blocks.append("The parameters as the PyTorch module calls them: " + ", ".join(
                f"{fmt.code(i)} is {fmt.code(e)}" for i, e in net.names.aliases) + ".")
        lines = _network_lines(net, self.a.samples)
        if net.depth > 1:
            lines += _sigma_text(fmt, net)
        blocks.append(fmt.math(lines))
        return blocks

    def parameter_blocks(self, heading: str = "Parameters") -> list[str]:
        return [self.fmt.heading(heading), self.fmt.math(_parameter_lines(self.fmt, self.a))]

    def pass_blocks(self) -> tuple[list[str], dict[tuple[str, tuple[int, ...]], Fraction]]:
        """The forward pass, the loss, backprop's deltas (deep networks) and every gradient entry."""
        fmt, net, a, ev = self.fmt, self.net, self.a, self.ev
        M = a.samples
        blocks = [fmt.heading(self.section + "Data and forward pass"), _sample_table(fmt, a, ev, self.slopes)]
        scale = net.loss_scale(M)
        sq = sum((v * v for v in ev.residual.reshape(-1)), Fraction(0))
        blocks.append(fmt.math([
            f"c &= {fmt.num(self.c)}",
            f"L &= {fmt.num(scale)} \\cdot {fmt.factor(sq)} = {fmt.num(ev.loss)}" if scale != 1 else f"L &= {fmt.num(ev.loss)}",
        ]))
        if Fraction(ev.loss) != scale * sq:
            raise AssertionError(f"explain: loss {scale} * {sq} differs from numeric's {ev.loss}")

        if net.depth > 2:
            blocks.append(fmt.heading(self.section + "Backprop deltas"))
            blocks.append("Per sample and layer, δ(k) = ∂L/∂z(k) with z(L) = yhat:" if fmt.name == "markdown"
                          else "Per sample and layer, $\\delta^{(k)} = \\partial L / \\partial z^{(k)}$ with "
                               "$z^{(L)} = \\hat y$:")
            blocks.append(fmt.math([
                f"\\delta^{{({net.depth})}}_{{m,j}} &= c\\, r_{{m,j}}",
                "\\delta^{(k-1)}_{m,i} &= \\sigma'\\bigl(z^{(k-1)}_{m,i}\\bigr) "
                "\\sum_{j} \\delta^{(k)}_{m,j}\\, W_{k}[j,i]",
                "\\frac{\\partial L}{\\partial W_k[j,i]} &= \\sum_{m=0}^{M-1} \\delta^{(k)}_{m,j}\\, a^{(k-1)}_{m,i}"
                + (", \\qquad \\frac{\\partial L}{\\partial b_k[j]} = \\sum_{m=0}^{M-1} \\delta^{(k)}_{m,j}"
                   if net.bias else ""),
            ]))
            blocks.append(_delta_table(fmt, self._deltas(), M))

        blocks.append(fmt.heading(self.section + "Gradients"))
        blocks.append("Each entry as its chain-rule sum over the samples, each sample's term, and the total.")
        grad_blocks, totals = self.gradient_blocks()
        return blocks + grad_blocks, totals

    def render(self) -> str:
        net, M = self.net, self.a.samples
        title = f"Witness: {net.describe()}, M = {M} sample{'s' if M != 1 else ''}"
        blocks = self.network_blocks() + self.parameter_blocks()
        pass_blocks, totals = self.pass_blocks()
        blocks += pass_blocks
        blocks.append(gradient_summary(self.fmt, totals))
        blocks += condition_blocks(self.fmt, recheck(self.problem, self.a))
        return self.fmt.document(title, blocks)


def explain(problem: Problem, assignment: Assignment, fmt: str) -> str:
    """The witness as a derivation to check by hand: ``fmt`` is ``"markdown"`` or ``"latex"``.

    A witness of a layer model (``--net "Sequential(...)"``) is written layer by layer by
    :func:`cexsearch.output.explain_layers.explain_model`, from the trace; an MLP as here; a
    witness of a training problem step by step by :func:`cexsearch.output.explain_training.explain_training`.

    Raises :class:`~cexsearch.errors.InputError` for another format or for an
    assignment of another network or batch size than the problem's.  Raises
    :class:`AssertionError` if a written total ever differs from
    :func:`cexsearch.semantics.numeric.evaluate`'s gradient (a bug, never expected).
    """
    chosen = formatter(fmt)
    if assignment.network != problem.network or assignment.samples != problem.samples:
        raise InputError(
            f"the witness is for {assignment.network.text} with {assignment.samples} samples, "
            f"the problem for {problem.network.text} with {problem.samples}",
            hint="explain a witness of the same network and batch size",
        )
    if problem.training is not None:  # a training run: one derivation per step, then its update
        from .explain_training import explain_training

        return explain_training(problem, assignment, chosen)
    if not isinstance(problem.network, Network):  # a layer model: the chain rule layer by layer
        from .explain_layers import explain_model

        return explain_model(problem, assignment, chosen)
    return _Explainer(problem, assignment, chosen).render()

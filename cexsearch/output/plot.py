"""A picture of a witness for a network with one input and one output.

:func:`plot` draws, in an upper panel, the network's function over an x range
that covers the data, the data points (x, y) with each residual as a vertical
segment to (x, yhat), and the kink of every first-hidden-layer unit
(x = -b1[j] / W1[j,0] for ReLU, (k - b1[j]) / W1[j,0] at each breakpoint k of
the activation) as a dotted vertical line; in a lower panel, a bar chart of
every gradient entry.  It applies to the MLP shorthand with widths 1-...-1 and
to a layer model whose input and output are one number each (input shape (1,),
output shape (1,), e.g. ``Sequential(Linear(1, 4), ReLU(), Linear(4, 1))``).  The curve is evaluated by
:func:`cexsearch.semantics.numeric.evaluate` (float64 on a dense grid that contains the
data and the first layer's kinks exactly), so the picture shows the same
function the exact re-check decided on.

matplotlib is an optional extra (``pip install 'cexsearch[plot]'``), imported
only when a plot is drawn, and only through its object-oriented API with the
Agg canvas: no pyplot, no global backend switch.
"""

from __future__ import annotations

import io
import math
from fractions import Fraction
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..files import atomic_open
from ..model.layers import Activation, Linear, shape_text
from ..model.network import Network, entries
from ..model.problem import Assignment, Problem
from ..semantics.numeric import evaluate, model_of
from ..semantics.written import exact_text

SUFFIXES: tuple[str, ...] = (".png", ".svg")
GRID_POINTS = 801  # points of the dense grid the curve is drawn through


def first_layer_kinks(assignment: Assignment) -> list[Fraction]:
    """x where a first-hidden-layer unit's pre-activation reaches a breakpoint of its activation, exactly, sorted.

    Only networks whose first layer is linear and followed by an activation that
    bends have kinks; a unit with W1[j,0] = 0 is constant in x and has none.
    """
    net = assignment.network
    model = model_of(net) if isinstance(net, Network) else net
    layers = model.layers
    if (len(layers) < 2 or not isinstance(layers[0], Linear) or layers[0].in_features != 1
            or not isinstance(layers[1], Activation)):
        return []
    kinks: set[Fraction] = set()
    for j in range(layers[0].out_features):
        w = assignment.entry("W1", (j, 0))
        if w != 0:
            b = assignment.entry("b1", (j,)) if layers[0].bias else Fraction(0)
            kinks.update((k - b) / w for k in layers[1].table.breakpoints)
    return sorted(kinks)


def one_in_one_out(network: object) -> bool:
    """Whether the plot applies: one input number and one output number per sample."""
    if isinstance(network, Network):
        return network.widths[0] == 1 and network.widths[-1] == 1
    return tuple(getattr(network, "input_shape", ())) == (1,) and tuple(getattr(network, "output_shape", ())) == (1,)


def require_plottable(network: object) -> None:
    """InputError (exit 2) naming the network and the shape a plot needs, unless it has one input and one output."""
    if one_in_one_out(network):
        return
    if isinstance(network, Network):
        raise InputError(f"plots need width_0 = width_L = 1, the network is {network.text}",
                         where="--plot", hint="plot a network with one input and one output, e.g. 1-2-1")
    shape = getattr(network, "input_shape", ())
    out = getattr(network, "output_shape", ())
    raise InputError(f"plots need one input and one output number per sample (input shape (1,), output shape (1,)); "
                     f"{getattr(network, 'text', network)} takes input shape {shape_text(shape)} and gives "
                     f"{shape_text(out)}", where="--plot",
                     hint="plot a network like \"Sequential(Linear(1, 4), ReLU(), Linear(4, 1))\" --input-shape 1, "
                          "or drop --plot")


def x_range(xs: list[Fraction]) -> tuple[Fraction, Fraction]:
    """The data's x range with a margin of a tenth of its span on each side (at least 1/2)."""
    lo, hi = min(xs), max(xs)
    margin = max((hi - lo) / 10, Fraction(1, 2))
    return lo - margin, hi + margin


def _curve(assignment: Assignment, grid: list[Fraction]) -> list[float]:
    """yhat over the grid through numeric's float64 pass, with the witness's parameters."""
    net = assignment.network
    values = [(n, assignment.flat(n)) for n in net.parameter_names()]
    values += [("x", tuple(grid)), ("y", tuple(Fraction(0) for _ in grid))]
    probe = Assignment(net, len(grid), tuple(values))
    return [float(v) for v in evaluate(probe, exact=False).yhat[:, 0]]


def _exact_text(v: Any) -> str:
    return exact_text(v)  # a Value of bce as its symbolic form


def _link(net: object) -> str:
    """"sigmoid" for bce (the plot then shows p = sigmoid(yhat) against y), else ""."""
    return str(getattr(getattr(net, "loss", None), "link", "") or "")


def _shown(net: object, logits: list[float]) -> list[float]:
    if _link(net) != "sigmoid":
        return logits
    return [1 / (1 + math.exp(-v)) if v >= 0 else math.exp(v) / (1 + math.exp(v)) for v in logits]


def _gradient_bars(assignment: Assignment) -> tuple[list[str], list[Fraction]]:
    """Labels like grad(W1)[0,0] and the exact gradient entries, in parameter order."""
    grads = evaluate(assignment, exact=True).gradients
    labels, values = [], []
    for name in assignment.network.parameter_names():
        g = grads[name]
        for index in entries(g.shape):
            labels.append(f"grad({assignment.network.label(name)})[{','.join(str(i) for i in index)}]")
            values.append(g[index])  # a Fraction, or a Value with exp (bce)
    return labels, values


def _figure(problem: Problem, assignment: Assignment) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    net = assignment.network
    xs = list(assignment.flat("x"))
    ys = list(assignment.flat("y"))
    ev = evaluate(assignment, exact=True)
    yhat = _shown(net, [float(v) for v in ev.yhat[:, 0]])
    kinks = first_layer_kinks(assignment)
    lo, hi = x_range(xs)
    step = (hi - lo) / (GRID_POINTS - 1)
    grid = sorted({lo + step * i for i in range(GRID_POINTS)} | set(xs) | {k for k in kinks if lo <= k <= hi})
    curve = _shown(net, _curve(assignment, grid))
    what = "p" if _link(net) == "sigmoid" else "yhat"
    curve_label = "network p(x) = sigmoid(yhat(x))" if what == "p" else "network yhat(x)"

    fig = Figure(figsize=(7.5, 6.5), layout="constrained")
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, height_ratios=[3, 1.4])

    top.plot([float(g) for g in grid], curve, color="tab:blue", linewidth=1.6, label=curve_label)
    for i, (x, y, p) in enumerate(zip(xs, ys, yhat, strict=True)):
        top.plot([float(x), float(x)], [float(y), float(p)], color="tab:red", linewidth=1.2,
                 label=f"residual {what} - y" if i == 0 else None)
    top.scatter([float(x) for x in xs], [float(p) for p in yhat], s=28, facecolors="white", edgecolors="tab:blue",
                zorder=3, label=f"prediction (x, {what})")
    top.scatter([float(x) for x in xs], [float(y) for y in ys], s=30, color="black", zorder=4, label="data (x, y)")
    shown = [k for k in kinks if lo <= k <= hi]
    for i, k in enumerate(shown):
        top.axvline(float(k), color="gray", linestyle=":", linewidth=1.2,
                    label=_kink_label(net) if i == 0 else None)
    top.set_xlim(float(lo), float(hi))
    top.set_xlabel("x")
    top.set_ylabel("y")
    samples = assignment.samples
    title = f"{net.describe()}, M = {samples} sample{'s' if samples != 1 else ''}"
    if problem.conditions:
        title += "\n" + "; ".join(c.text for c in problem.conditions)
    top.set_title(title, fontsize=9)
    top.legend(fontsize=7, loc="best")
    top.grid(True, alpha=0.3)

    labels, exact = _gradient_bars(assignment)
    heights = [float(v) for v in exact]
    positions = list(range(len(labels)))
    colors = ["tab:gray" if v == 0 else ("tab:green" if v > 0 else "tab:orange") for v in exact]
    bars = bottom.bar(positions, heights, color=colors)
    # The exact value on each bar, so a zero gradient is visible too.
    bottom.bar_label(bars, labels=[_exact_text(v) for v in exact], fontsize=6, padding=2,
                     rotation=90 if len(exact) > 8 else 0)
    reach = max((abs(h) for h in heights), default=0.0) or 1.0
    bottom.set_ylim(min(min(heights, default=0.0), 0.0) - 0.25 * reach, max(max(heights, default=0.0), 0.0) + 0.25 * reach)
    bottom.axhline(0, color="black", linewidth=0.8)
    bottom.set_xticks(positions)
    bottom.set_xticklabels(labels, rotation=45 if len(labels) > 4 else 0, ha="right" if len(labels) > 4 else "center",
                           fontsize=7)
    bottom.set_ylabel("gradient", fontsize=8)
    bottom.set_title("gradients of the batch loss", fontsize=9)
    bottom.grid(True, axis="y", alpha=0.3)
    return fig


def png_bytes(problem: Problem, assignment: Assignment) -> bytes:
    """The same picture as :func:`plot` draws, as PNG bytes (for embedding); needs matplotlib.

    Raises :class:`~cexsearch.errors.InputError` where :func:`plot` would.
    """
    _check(problem, assignment)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise InputError("a plot needs matplotlib", hint="pip install 'cexsearch[plot]'") from None
    buffer = io.BytesIO()
    _figure(problem, assignment).savefig(buffer, format="png", dpi=120, metadata={"Software": None})
    return buffer.getvalue()


def _kink_label(net: object) -> str:
    model = model_of(net) if isinstance(net, Network) else net
    table = model.layers[1].table  # type: ignore[attr-defined]  # kinks come only after a first activation
    if table.breakpoints == (Fraction(0),):
        return "first-layer kink x = -b1[j]/W1[j,0]"
    return "first-layer kink x = (k - b1[j])/W1[j,0], k a breakpoint"


def _check(problem: Problem, assignment: Assignment) -> None:
    net = assignment.network
    require_plottable(net)
    if assignment.network != problem.network or assignment.samples != problem.samples:
        raise InputError(
            f"the witness is for {net.text} with {assignment.samples} samples, "
            f"the problem for {problem.network.text} with {problem.samples}",
            hint="plot a witness of the same network and batch size",
        )


def plot(problem: Problem, assignment: Assignment, path: str) -> None:
    """Draw the witness to ``path`` (.png or .svg), written atomically.

    Raises :class:`~cexsearch.errors.InputError` for a network without exactly
    one input and one output, another file suffix, or a missing matplotlib.
    """
    _check(problem, assignment)
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in SUFFIXES:
        raise InputError(f"cannot tell the image format of {str(path)!r}", where="--plot",
                         hint=f"end the file name in {' or '.join(SUFFIXES)}")
    try:
        import matplotlib
    except ImportError:
        raise InputError("--plot needs matplotlib", hint="pip install 'cexsearch[plot]'") from None

    fig = _figure(problem, assignment)
    # Fixed metadata keeps repeated renders of one witness byte-identical.
    metadata = {"Date": None} if suffix == ".svg" else {"Software": None}
    with atomic_open(target, binary=True) as f, matplotlib.rc_context({"svg.hashsalt": "cexsearch"}):
        fig.savefig(f, format=suffix[1:], dpi=120, metadata=metadata)

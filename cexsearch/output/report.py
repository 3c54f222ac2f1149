"""Rich renderables for outcomes.  Built apart from printing, so tests can render them to text."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from .. import lang as C
from ..engine.search import Outcome, pattern_count_text
from ..model.network import Network, entries
from ..semantics.written import decimal_text, exact_text, is_rational
from .export import witness_summary
from .verdicts import certificate_text, claim_phrase, domain_phrase

if TYPE_CHECKING:
    from ..workflows.claims import ClaimOutcome
    from ..workflows.sweep import SweepResult

STYLE = {"found": "bold green", "none": "bold red", "unknown": "bold yellow"}
WORD = {"found": "FOUND", "none": "NONE", "unknown": "UNKNOWN"}


def fmt_exact(v: Any) -> str:
    """A rational as ``n/d``; a value with exp (bce, ce) in its exact symbolic form."""
    return exact_text(v)


def fmt_float(v: Any) -> str:
    """Six digits; a value with exp from its certified interval; inf beyond float64's range (--fix x=1e400)."""
    return decimal_text(v, 6)


def index_text(index: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(i) for i in index) + "]" if index else ""


def problem_line(outcome: Outcome) -> str:
    p = outcome.problem
    line = f"{p.network.describe()}, {p.samples} sample{'s' if p.samples != 1 else ''}"
    if getattr(getattr(p.network, "loss", None), "link", ""):  # bce, ce: the numbers a witness ranges over
        line += "; witnesses over the reals" if p.over == "real" else "; rational witnesses only"
    return line + (f"; {p.training.describe()}" if p.training is not None else "")


def verdict_line(outcome: Outcome) -> Text:
    """One line that says the answer, first in every report."""
    s = outcome.stats
    p = outcome.problem
    t = Text()
    t.append(WORD[outcome.verdict], style=STYLE[outcome.verdict])
    phrase = domain_phrase(outcome.verdict, outcome.domain)
    if phrase:  # a loss with exp: the numbers the verdict covers
        t.append(" " + phrase.split(" ", 1)[1], style=STYLE[outcome.verdict])
    t.append("  ")
    size = f"{p.network.text} with {p.samples} sample{'s' if p.samples != 1 else ''}"
    if outcome.verdict == "found" and outcome.domain == "real" and outcome.certificate is not None:
        t.append(f"a box of the reals for {size} holding a witness, certified by interval arithmetic")
    elif outcome.verdict == "found":
        t.append(f"a witness for {size}, confirmed by the exact re-check")
    elif outcome.verdict == "none":
        what = "the one pattern" if s.total_patterns == 1 else f"all {pattern_count_text(s.total_patterns)} activation patterns"
        if p.training is not None and p.training.steps:
            what += " of step 0 (each later step's split by the solver)"
        over = {"rational": "no rational witness", "real": "no witness over the reals"}.get(outcome.domain,
                                                                                          "no witness")
        t.append(f"{over} exists for {size}: {what} decided unsatisfiable")
        if s.pruned:
            t.append(f" ({s.pruned} pruned)")
    else:
        t.append(f"inconclusive for {size}: {outcome.reason or 'not every pattern was decided'}")
    return t


def stats_line(outcome: Outcome) -> Text:
    s = outcome.stats
    n = pattern_count_text
    if s.strategy.endswith("linear"):  # it counts fixings of weights and inputs, not patterns
        tries = "fixing" if s.tried == 1 else "fixings"
        parts = [f"patterns: {n(s.total_patterns)} in all, not enumerated: {s.tried} {tries} of the weights and "
                 "inputs tried"]
    elif s.strategy.endswith("sample runs"):  # it counts concrete training runs replayed
        parts = [f"patterns: {n(s.total_patterns)} in all, not enumerated: {s.tried} concrete "
                 f"run{'s' if s.tried != 1 else ''} replayed exactly"]
    else:
        parts = [f"patterns: {n(s.total_patterns)} in all", f"{n(s.tried)} decided by the solver",
                 f"{n(s.pruned)} pruned"]
        if s.by_symmetry:
            parts.append(f"{n(s.by_symmetry)} covered by symmetry")
        if s.blocked:
            parts.append(f"{n(s.blocked)} blocked by learned cores")
        if s.by_decomposition:
            parts.append(f"{n(s.by_decomposition)} covered by decomposition")
        parts += [f"{n(s.undecided)} undecided", f"{n(s.remaining)} not reached"]
    return Text(", ".join(parts) + f"; {s.solver_checks} solver checks; {s.elapsed:.3f} s ({s.strategy})", style="dim")


def _table(title: str, *columns: str) -> Table:
    t = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for c in columns:
        t.add_column(c, justify="right" if c not in ("name", "conditions", "pattern") else "left")
    return t


def parameter_table(outcome: Outcome) -> Table:
    w = outcome.witness
    assert w is not None
    t = _table("parameters" + (" (box centre)" if outcome.certificate is not None else ""),
               "name", "exact", "float")
    for name in w.network.parameter_names():
        shape = w.network.shape(name, w.samples)
        for idx, v in zip(entries(shape), w.flat(name)):
            t.add_row(f"{w.network.label(name)}{index_text(idx)}", fmt_exact(v), fmt_float(v))
    return t


def _row_text(row: Any, decimals: bool = False) -> str:
    """A sample's entries, exact (with a value's decimal beside it when ``decimals``: p of bce, ce)."""
    vals = list(np.asarray(row, dtype=object).reshape(-1))
    inner = ", ".join(fmt_exact(v) + (f" ~ {fmt_float(v)}" if decimals and not is_rational(v) else "")
                      for v in vals)
    return inner if len(vals) == 1 else f"({inner})"


def dataset_table(outcome: Outcome) -> Table:
    w, chk = outcome.witness, outcome.recheck
    assert w is not None and chk is not None
    ev = chk.evaluation
    probs = ev.trace.probabilities if ev.trace is not None else None
    cols = ["m", "x", "y", "yhat", "residual"] if probs is None else ["m", "x", "y", "yhat (logits)", "p", "p - y"]
    if ev.pattern:
        cols.append("pattern")
    t = _table("dataset", *cols)
    first = "residual = yhat - y" if probs is None else f"p = {getattr(w.network.loss, 'link', '')}(yhat), exact ~ decimal"
    t.caption = (f"{first}; pattern: 1 = active unit, one group per hidden layer"
                 if isinstance(w.network, Network) else
                 f"{first}; pattern: one group per activation layer with pieces, its entries in "
                 "row-major order; 1 = the positive piece of a two-piece table (ReLU active), else the piece's index")
    t.caption_justify = "left"
    x = np.array(w.flat("x"), dtype=object).reshape(w.network.shape("x", w.samples))
    y = np.array(w.flat("y"), dtype=object).reshape(w.network.shape("y", w.samples))
    for m in range(w.samples):
        row = [str(m), _row_text(x[m]), _row_text(y[m]), _row_text(ev.yhat[m])]
        row += [_row_text(ev.residual[m])] if probs is None else [_row_text(probs[m], True),
                                                                   _row_text(probs[m] - y[m], True)]
        if ev.pattern:
            row.append(" ".join("".join(_piece_text(b) for b in np.asarray(layer[m]).reshape(-1))
                                for layer in ev.pattern))
        t.add_row(*row)
    return t


def _piece_text(b: Any) -> str:
    return ("1" if b else "0") if isinstance(b, (bool, np.bool_)) else str(b)


def layer_table(outcome: Outcome) -> Table | None:
    """The layers of a network in PyTorch's notation with their shapes and parameters (None for an MLP)."""
    net = outcome.problem.network
    if not hasattr(net, "summary"):
        return None
    t = _table("layers", "path", "layer", "input", "output", "parameters")
    t.columns[1].justify = t.columns[0].justify = t.columns[4].justify = "left"
    for info in net.summary():
        params = ", ".join(f"{p} {shape_text(net.shape(p, outcome.problem.samples))}" for p in info.parameters)
        t.add_row(info.path, info.notation, shape_text(info.input_shape), shape_text(info.output_shape), params)
    t.caption = (f"x has shape {shape_text(net.shape('x', outcome.problem.samples))}, y and yhat "
                 f"{shape_text(net.shape('y', outcome.problem.samples))} (samples first)")
    t.caption_justify = "left"
    return t


def shape_text(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def gradient_table(outcome: Outcome) -> Table:
    chk = outcome.recheck
    assert chk is not None
    t = _table("gradients of the batch loss", "name", "exact", "float", "conditions")
    conds = outcome.problem.conditions
    for name in outcome.problem.network.parameter_names():
        g = chk.evaluation.gradients[name]
        met = ", ".join(c.text for c in conds if f"grad({name})" in C.names_used(c.root))
        first = True
        for idx in entries(g.shape):
            shown = outcome.problem.network.label(name)
            t.add_row(f"grad({shown}){index_text(idx)}", fmt_exact(g[idx]), fmt_float(g[idx]), met if first else "")
            first = False
    return t


def training_table(outcome: Outcome, shown: int = 6) -> Table | None:
    """A found training run, step by step: its batch, the loss on the dataset, and what moved."""
    chk = outcome.recheck
    training = outcome.problem.training
    if chk is None or chk.run is None or training is None:
        return None
    run, net = chk.run, outcome.problem.network
    lr = f"lr {fmt_exact(run.lr)}" + (" (free: the witness's)" if training.lr is None else "")
    t = _table(f"training run: {training.schedule}, {lr}", "step", "batch", "loss", "moved by the step before")
    for step, theta in enumerate(run.params):
        moved = []
        if step:
            before = run.params[step - 1]
            for name in net.parameter_names():
                for idx in entries(theta[name].shape):
                    if theta[name][idx] != before[name][idx]:
                        moved.append(f"{net.label(name)}{index_text(idx)} {fmt_exact(before[name][idx])} -> "
                                     f"{fmt_exact(theta[name][idx])}")
        more = f" and {len(moved) - shown} more" if len(moved) > shown else ""
        full = run.full[step]
        loss = fmt_exact(full.loss) if full is not None else ""
        batch = ",".join(map(str, training.batch(step, outcome.problem.samples))) if step < run.steps else ""
        t.add_row(str(step), batch, loss, "; ".join(moved[:shown]) + more if step else "(the initial values)")
    return t


def check_line(outcome: Outcome) -> Text:
    chk = outcome.recheck
    assert chk is not None
    n = len(chk.conditions)
    if not chk.confirmed:  # the centre of a certified box need not meet the conditions exactly
        boxed = outcome.certificate is not None
        where, proof = ("the box centre", "; the certificate above is the verdict's proof") if boxed else ("these values", "")
        return Text(f"exact re-check at {where}: {len(chk.failures())} of {n} conditions not confirmed "
                    f"({'; '.join(chk.failures())}){proof}", style="yellow")
    return Text(
        f"exact re-check: {'the condition holds' if n == 1 else f'all {n} conditions hold'}; float64 re-check: "
        "largest deviation "
        f"{chk.float_deviation:.3g}",
        style="green",
    )


def outcome_renderable(outcome: Outcome) -> RenderableType:
    """The whole report of a ``find``: verdict first, then the witness, then counts."""
    parts: list[RenderableType] = [verdict_line(outcome), Text(problem_line(outcome), style="dim")]
    if outcome.scope:
        parts.insert(1, Text(outcome.scope, style=STYLE[outcome.verdict].replace("bold ", "")))
    if outcome.problem.conditions:
        parts.append(Text("conditions: " + "; ".join(c.text for c in outcome.problem.conditions), style="dim"))
    layers = layer_table(outcome)
    if layers is not None:
        parts += [Text(""), layers]
    if outcome.certificate is not None:
        parts += [Text(""), Text(certificate_text(outcome.certificate, outcome.problem.network.label))]
    if outcome.verdict == "found" and outcome.witness is not None and outcome.recheck is not None:
        parts += [Text(""), parameter_table(outcome), dataset_table(outcome), gradient_table(outcome)]
        run = training_table(outcome)
        parts += [run] if run is not None else []
        parts.append(check_line(outcome))
    if outcome.shrink:
        parts.append(Text("shrinking: " + "; ".join(outcome.shrink), style="cyan"))
    for note in outcome.cross_checks:
        parts.append(Text("cross-check " + note, style="cyan"))
    parts.append(stats_line(outcome))
    return Group(*parts)


def claims_table(results: Sequence[ClaimOutcome]) -> RenderableType:
    """The table of ``cexsearch check``: one row per claim, witnesses of refuted claims below."""
    t = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for c, j in (("", "left"), ("claim", "left"), ("verdict", "left"), ("expected", "left"), ("size", "left"),
                 ("time", "right")):
        t.add_column(c, justify=j)  # type: ignore[arg-type]
    notes: list[RenderableType] = []
    for r in results:
        mark = Text("ok", style="green") if r.as_expected else Text(
            "??" if r.verdict == "unknown" else "FAIL", style="yellow" if r.verdict == "unknown" else "bold red")
        phrase = claim_phrase(r)
        verdict = Text(r.verdict + (f" ({phrase})" if phrase else ""), style=CLAIM_STYLE[r.verdict])
        t.add_row(mark, r.claim.name, verdict, r.expected, claim_size_text(r), f"{r.elapsed:.2f} s")
        if r.verdict == "refuted":
            notes.append(Text(f"  {r.claim.name}: {witness_summary(r)}", style="dim"))
            run = r.witness.recheck.run if r.witness is not None and r.witness.recheck is not None else None
            if run is not None:
                losses = ", ".join(fmt_exact(f.loss) if f is not None else "-" for f in run.full)
                notes.append(Text(f"    training run: lr={fmt_exact(run.lr)}; loss at steps 0..{run.steps}: {losses}",
                                  style="dim"))
        elif r.verdict == "unknown" and r.reason:
            notes.append(Text(f"  {r.claim.name}: {r.reason}", style="yellow"))
        if r.scope:
            notes.append(Text(f"  {r.claim.name}: {r.scope}", style=CLAIM_STYLE[r.verdict]))
        cti = r.counterexample
        if cti is not None and cti.witness is not None:
            notes.append(Text(f"  counterexample to induction: {cti_text(cti)}", style="yellow"))
    return Group(t, *notes, claims_summary(results))


def cti_text(outcome: Outcome) -> str:
    """A counterexample to induction in one line: the state, and the invariant it breaks after one step."""
    w = outcome.witness
    assert w is not None
    values = ", ".join(f"{outcome.problem.network.label(n)}{index_text(i)}={fmt_exact(v)}" for n, i, v in w.items())
    lr = f", lr={fmt_exact(w.lr)}" if w.lr is not None else ""
    return f"{values}{lr}"


def claim_size_text(r: ClaimOutcome) -> str:
    """The sizes a claim was decided at, or the refuting witness's size (smallest of several, replayed)."""
    size = r.size_text
    if r.verdict == "refuted" and r.witness is not None:
        size += " (smallest)" if r.smallest and (len(r.claim.samples) > 1 or len(r.claim.net) > 1) else ""
        if any(c.replayed for c in r.cases):
            size += " (replayed)"
    return size


def claims_summary(results: Sequence[ClaimOutcome]) -> Text:
    """How many claims are as expected, not as expected and inconclusive; green, red or yellow."""
    n_ok = sum(r.as_expected for r in results)
    n_unknown = sum(r.verdict == "unknown" for r in results)
    n_bad = len(results) - n_ok - n_unknown
    return Text(f"{n_ok} of {len(results)} claims as expected, {n_bad} not as expected, {n_unknown} inconclusive",
                style="bold green" if n_ok == len(results) else "bold red" if n_bad else "bold yellow")


CLAIM_STYLE = {"holds": "green", "refuted": "red", "unknown": "yellow"}


def sweep_table(result: SweepResult) -> RenderableType:
    """The grid of a sweep: networks down, sizes across, each cell's verdict and time."""
    t = Table(box=box.SIMPLE_HEAD, pad_edge=False, title="sweep (found / none / unknown, seconds)",
              title_justify="left")
    t.add_column("net")
    for m in result.sizes:
        t.add_column(f"M={m}", justify="right")
    for net in result.nets:
        row = []
        for m in result.sizes:
            c = result.cell(net, m)
            if c is None:
                row.append(Text("-", style="dim"))
                continue
            word = {"found": "found", "none": "none", "unknown": "unknown"}[c.verdict]
            mark = "*" if c.extended else ""
            row.append(Text(f"{word}{mark} {c.elapsed:.2f}", style=STYLE[c.verdict].replace("bold ", "")))
        t.add_row(net, *row)
    smallest = result.smallest
    line = Text(f"smallest size with a witness: {smallest.net} x {smallest.samples}" if smallest else
                "no witness at any size in the sweep", style="bold")
    parts: list[RenderableType] = [t, line]
    covered = sorted({f"{c.verdict} {domain_phrase(c.verdict, c.outcome.domain).split(' ', 1)[1]}" for c in result.cells
                      if c.outcome is not None and domain_phrase(c.verdict, c.outcome.domain)})
    if covered:  # bce, ce: what the cells' verdicts cover
        parts.append(Text("verdicts: " + "; ".join(covered), style="dim"))
    if any(c.extended for c in result.cells):
        parts.append(Text("* the witness of the size before, extended by a sample with zero residual", style="dim"))
    return Group(*parts)

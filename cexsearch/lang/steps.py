"""Training steps in conditions: ``W1@2``, ``grad@1(W1)``, ``yhat@K``, ``loss@(K-1)``.

Python reads ``W1@2[0, 0]`` as ``W1 @ (2[0, 0])`` and ``2 * W1@1`` as ``(2 * W1) @ 1``, so the
step is taken off the text before Python parses it: each ``NAME@STEP`` becomes one
identifier of the same length (columns in messages stay right), which the parser reads back
through the table :func:`mark` returns.  Only the identifiers in that table are read as
steps, so a name such as ``W1_2`` typed by a person is never taken for one.

>>> text, table = mark("grad@1(W1)[0, 0] == 2 * W1@(K-1)")
>>> text
'grad_1(W1)[0, 0] == 2 * W1_K_1__'
>>> table["W1_K_1__"]
('W1', 1, True)
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from ..errors import ConditionError
from .syntax import Condition, Expr, Grad, Var

_STEP = re.compile(r"\b([A-Za-z_]\w*)@(?:([0-9]+)|(K)\b|\(\s*K\s*-\s*([0-9]+)\s*\))")
#: the names that change during training, and may be read at a step
STEPPED = ("yhat", "loss")
STEP_HINT = "write a step after @: W1@2, grad@1(W1), yhat@K (the last step) or loss@(K-1)"


def mark(text: str) -> tuple[str, dict[str, tuple[str, int, bool]]]:
    """The text with each ``NAME@STEP`` as one identifier, and identifier -> (name, step, from the end)."""
    table: dict[str, tuple[str, int, bool]] = {}

    def replace(m: re.Match) -> str:
        name, number, k, back = m.groups()
        end = number is None
        step = int(number) if number is not None else int(back) if back is not None else 0
        code = f"{name}_{number}" if number is not None else f"{name}_K" + (f"_{back}" if back is not None else "")
        ident = code.ljust(len(m.group(0)), "_")
        table[ident] = (name, step, end)
        return ident

    return _STEP.sub(replace, text), table


def _walk(node: Any, change: Any) -> Any:
    """``node`` with ``change`` applied to every Var and Grad in it (a rebuilt tree)."""
    if isinstance(node, (Var, Grad)):
        return change(node)
    if not dataclasses.is_dataclass(node) or isinstance(node, type):
        return node
    updates = {}
    for f in dataclasses.fields(node):
        v = getattr(node, f.name)
        if isinstance(v, tuple) and any(dataclasses.is_dataclass(c) for c in v):
            updates[f.name] = tuple(_walk(c, change) for c in v)
        elif dataclasses.is_dataclass(v):
            updates[f.name] = _walk(v, change)
    return dataclasses.replace(node, **updates) if updates else node


def resolve(cond: Condition, steps: int) -> Condition:
    """The condition with every step counted from the start, checked against ``steps`` (K)."""

    def change(n: Var | Grad) -> Var | Grad:
        if n.step is None:
            return n
        at = ("K" if not n.step else f"(K-{n.step})") if n.end else str(n.step)
        shown = f"{n.name}@{at}" if isinstance(n, Var) else f"grad@{at}({n.param})"
        if steps == 0:
            raise ConditionError(f"{shown} reads a training step, but there are none",
                                 source=cond.text, column=n.col, hint="add --steps K (claim key steps)")
        step = steps - n.step if n.end else n.step
        if not 0 <= step <= steps:
            raise ConditionError(f"step {'K-' + str(n.step) if n.end else n.step} is outside the run of {steps} "
                                 f"step{'s' if steps != 1 else ''}", source=cond.text, column=n.col,
                                 hint=f"use a step from 0 to {steps} (K is {steps})")
        return dataclasses.replace(n, step=step, end=False)

    return Condition(cond.text, _walk(cond.root, change))


def at_step(root: Expr, step: int, data: tuple[str, ...] = ("x", "y")) -> Expr:
    """``root`` read at training step ``step``: every value but the data (and ``lr``) and every
    gradient without a step of its own moves there (an invariant's reading at step t)."""

    def change(n: Var | Grad) -> Var | Grad:
        if n.step is not None or (isinstance(n, Var) and n.name in data + ("lr",)):
            return n
        return dataclasses.replace(n, step=step)

    return _walk(root, change)

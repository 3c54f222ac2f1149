"""Fixed values: ``--fix NAME=VALUE``, ``NAME[i,j]=VALUE``, and claim-file tables."""

from __future__ import annotations

import ast
import itertools
import math
import re
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

from ..errors import ConditionError, SpecError, TooLarge
from ..model.network import Index, Network, nearest
from ..model.problem import FixedValues
from .parse import Parser, syntax_tree
from .shapes import selection, shape_text
from .syntax import MAX_DEPTH, MAX_DIGITS, SIZE_HINT, brief, parse_number

# --------------------------------------------------------------------------
# Fixed values: --fix NAME=VALUE, NAME[i,j]=VALUE, and claim-file tables

_TARGET_RE = re.compile(r"^\s*([A-Za-z0-9_][A-Za-z0-9_.]*)\s*(\[[^\]]*\])?\s*=(?!=)\s*(.*)$", re.S)


def value_tree(raw: Any, where: str, depth: int = 0) -> Any:
    """A number or nested list (from text, TOML or JSON) as nested lists of Fractions."""
    if depth > MAX_DEPTH:
        raise SpecError(f"{where}: the value is nested too deeply", hint="give a number or a nested list of the shape")
    if isinstance(raw, bool):
        raise SpecError(f"{where}: {raw!r} is not a number", hint="write a number such as 0, 1/3 or 0.5")
    if isinstance(raw, (list, tuple)):
        return [value_tree(r, where, depth + 1) for r in raw]
    if isinstance(raw, int):
        digits = int(abs(raw).bit_length() * math.log10(2)) + 1
        if digits > MAX_DIGITS:
            raise TooLarge(f"{where}: an integer of about {digits} digits is more than the {MAX_DIGITS} cexsearch "
                           "reads", hint=SIZE_HINT)
        return Fraction(raw)
    if isinstance(raw, float):
        # A float can only arrive from a TOML float; its shortest repr is what the person typed.
        raw = repr(raw)
    elif hasattr(raw, "as_tuple"):  # decimal.Decimal from an exact TOML reader
        if not raw.is_finite():
            shown = "nan" if raw.is_nan() else "-inf" if raw < 0 else "inf"
            raise SpecError(f"{where}: {shown} is not a finite number", hint="write a number such as 0, -2/3 or 0.1")
        raw = str(raw)
    if isinstance(raw, str):
        text = raw.strip()
        if text.startswith("["):
            return value_tree(_literal_list(text, where), where, depth + 1)
        try:
            return parse_number(text)
        except TooLarge as e:
            raise e.located(where) from None
        except SpecError:
            raise SpecError(f"{where}: {brief(raw)} is not a number",
                            hint="write a number such as 0, -2/3 or 0.1, or a nested list such as [[0],[2],[3]]") from None
    raise SpecError(f"{where}: {brief(raw)} is not a number or a list of numbers")


def _literal_list(text: str, where: str) -> Any:
    try:
        tree = syntax_tree(text, SpecError, f"{where}: the list")
    except SyntaxError as e:
        raise SpecError(f"{where}: {brief(text)} is not a list of numbers ({e.msg})", source=text,
                        column=max((e.offset or 1) - 1, 0), hint="e.g. [[0],[2],[3]]") from None

    def conv(n: ast.AST) -> Any:
        if isinstance(n, (ast.List, ast.Tuple)):
            return [conv(e) for e in n.elts]
        seg = ast.get_source_segment(text, n)
        if seg is None:
            raise SpecError(f"{where}: bad value in {brief(text)}")
        return seg

    return conv(tree)


def regular(tree: Any, max_depth: int) -> tuple[tuple[int, ...], list] | None:
    """The shape and row-major entries of a nested list (a non-list is a scalar, shape ()).

    None when the list is ragged or nested more than ``max_depth`` levels.
    """
    if not isinstance(tree, list):
        return (), [tree]
    if max_depth <= 0:
        return None
    parts: list[tuple[tuple[int, ...], list]] = []
    for t in tree:
        part = regular(t, max_depth - 1)
        if part is None or (parts and part[0] != parts[0][0]):
            return None
        parts.append(part)
    inner = parts[0][0] if parts else ()
    return (len(tree), *inner), [v for _, flat in parts for v in flat]


def _item_text(item: int | tuple) -> str:
    if not isinstance(item, tuple):
        return str(item)
    start, stop, step = ("" if i is None else str(i) for i in item)
    return f"{start}:{stop}" + (f":{step}" if step else "")


def _index_text(index: Index | tuple) -> str:
    return "[" + ", ".join(_item_text(i) for i in index) + "]" if index else ""


def fixed_values(name: str, index_items: tuple, raw: Any, network: Network, samples: int, where: str) -> FixedValues:
    """Fix ``name[index_items]`` to ``raw`` (a scalar fills the whole selection).

    ``name`` is as a person writes it: the module's parameter name for a network read from PyTorch.
    """
    valid = tuple(network.label(n) for n in network.variable_names())
    if name not in valid:
        guess = nearest(name, valid)
        extra = " (yhat and gradients follow from the others and cannot be fixed)" if name == "yhat" else ""
        raise SpecError(f"{where}: cannot fix unknown name {name!r}{extra}",
                        hint=f"did you mean {guess!r}?" if guess else f"names: {', '.join(valid)}")
    internal = network.names.internal(name) if network.names is not None else None
    shape = network.shape(internal or name, samples)
    target = f"{name}{_index_text(index_items)}"
    try:
        axes = selection(index_items, shape)
    except IndexError:
        raise SpecError(f"{where}: index {_index_text(index_items)} is out of range for {name} of shape "
                        f"{shape_text(shape)}", hint=f"{name} has shape {shape_text(shape)}") from None
    sel_shape = tuple(len(a) for a in axes if isinstance(a, range))
    if 0 in sel_shape:  # fixing nothing would be silently ignored
        raise SpecError(f"{where}: {target} selects no entries of {name} (shape {shape_text(shape)})",
                        hint="check the slice bounds, e.g. W1[0:2, :] rather than W1[2:0, :]")
    tree = value_tree(raw, where)
    found = regular(tree, len(sel_shape))
    if found is None:
        raise SpecError(f"{where}: {brief(raw)} is not a nested list of {target}'s shape {shape_text(sel_shape)}",
                        hint="give a nested list of that shape, or one number to fill it")
    value_shape, flat = found
    if value_shape != sel_shape and len(flat) != 1:
        raise SpecError(f"{where}: {target} has shape {shape_text(sel_shape)} but the value has shape "
                        f"{shape_text(value_shape)}", hint="give a nested list of that shape, or one number to fill it")
    targets = list(itertools.product(*(a if isinstance(a, range) else (a,) for a in axes)))
    values = flat if len(flat) == len(targets) else flat[:1] * len(targets)
    return FixedValues(tuple((internal or name, index, value) for index, value in zip(targets, values)))


def parse_fix(text: str, network: Network, samples: int) -> FixedValues:
    """Read one ``--fix NAME=VALUE`` or ``--fix NAME[i,j]=VALUE``."""
    m = _TARGET_RE.match(text)
    if not m:
        raise SpecError(f"--fix {brief(text)}: expected NAME=VALUE", hint='e.g. --fix W1=1 or --fix "x=[[0],[2],[3]]"')
    name, index_text, value_text = m.group(1), m.group(2), m.group(3).strip()
    where = f"--fix {brief(text)}"
    if not value_text:
        raise SpecError(f"{where}: the value is missing", hint="e.g. --fix W1=1")
    items: tuple = ()
    if index_text:
        subscript = f"_{index_text}"  # an index alone is no expression: parse it as the subscript of a name
        try:
            node = syntax_tree(subscript, SpecError, f"{where}: the index")
        except SyntaxError:
            raise SpecError(f"{where}: bad index {index_text}", hint="e.g. W1[0, 1]=2") from None
        assert isinstance(node, ast.Subscript)
        try:
            items = Parser(subscript).index_items(node.slice)
        except ConditionError as e:
            raise SpecError(f"{where}: {e.message}", hint=e.hint) from None
    return fixed_values(name, items, value_text, network, samples, where)


def combine_fixed(parts: Sequence[FixedValues], network: Network | None = None) -> FixedValues:
    """Merge fixes; a later fix of the same entry with another value is a conflict (named as ``network`` calls it)."""
    merged: dict[tuple[str, Index], Fraction] = {}
    for part in parts:
        for name, index, value in part.items:
            key = (name, index)
            if key in merged and merged[key] != value:
                shown = network.label(name) if network is not None else name
                raise SpecError(f"{shown}{_index_text(index)} is fixed twice, to {merged[key]} and to {value}",
                                hint="drop one of the two --fix options (or --weights-from-module)"
                                if network is not None and network.names is not None else
                                "drop one of the two --fix options")
            merged[key] = value
    return FixedValues(tuple(sorted((n, i, v) for (n, i), v in merged.items())))

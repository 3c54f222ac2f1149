"""What a claim's keys read: sizes, condition lists, fix tables, and the classification keys
(``labels``, ``domain``) with the loss they build."""

from __future__ import annotations

import re
from typing import Any

from .. import lang as C
from ..errors import ClaimFileError
from ..model.network import MAX_SAMPLES

LABELS = ("hard", "soft")
DOMAINS = ("real", "rational")
CLASSIFICATION = ("bce", "ce")


def parse_sizes(raw: Any, where: str) -> tuple[int, ...]:
    """``3``, ``"1..4"``, ``[1, 2, 5]`` -> sizes in increasing order (``"all"`` is decided at 1: see
    :mod:`cexsearch.workflows.allsizes`)."""
    if raw == "all":
        return (1,)
    if isinstance(raw, bool):
        raise ClaimFileError(f"samples must be an integer or a range such as \"1..4\", got {raw!r}", where=where)
    if isinstance(raw, int):
        bounds = [raw]
    elif isinstance(raw, str):
        m = re.fullmatch(r"\s*([0-9]+)\s*(?:\.\.\s*([0-9]+)\s*)?", raw)
        if not m:
            raise ClaimFileError(f"samples {C.brief(raw)} is not a size or a range", where=where,
                                 hint='e.g. 3, "1..4" or "all"')
        # more digits than the limit has is beyond it (and int() of thousands of digits fails)
        bounds = [int(g) if len(g.lstrip("0")) <= len(str(MAX_SAMPLES)) else MAX_SAMPLES + 1
                  for g in m.groups() if g is not None]
        if len(bounds) == 2 and bounds[0] > bounds[1]:
            raise ClaimFileError(f"samples range {raw!r} is empty", where=where,
                                 hint=f"write \"{bounds[1]}..{bounds[0]}\"")
    elif isinstance(raw, (list, tuple)) and raw and all(isinstance(s, int) and not isinstance(s, bool) for s in raw):
        bounds = list(raw)
    else:
        raise ClaimFileError(f"samples must be an integer, a range such as \"1..4\" or a list, got {C.brief(raw)}",
                             where=where)
    for s in bounds:
        if s < 1:
            raise ClaimFileError(f"samples must be at least 1, got {s}", where=where)
        if s > MAX_SAMPLES:  # before a range is expanded
            raise ClaimFileError(f"samples {C.brief(raw)} goes above the limit of {MAX_SAMPLES}", where=where,
                                 hint="use smaller batches")
    if isinstance(raw, str) and len(bounds) == 2:
        return tuple(range(bounds[0], bounds[1] + 1))
    return tuple(sorted(set(bounds)))


def _strings(raw: Any, key: str, where: str, allow_empty: bool = True) -> tuple[str, ...]:
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, (list, tuple)) or not all(isinstance(r, str) for r in raw):
        raise ClaimFileError(f"{key} must be a list of condition strings, got {raw!r}", where=where,
                             hint=f'e.g. {key} = ["grad(W1) == 0"]')
    if not raw and not allow_empty:
        raise ClaimFileError(f"{key} is empty: a claim needs at least one condition to conclude", where=where,
                             hint=f'e.g. {key} = ["grad(W1) == 0"]')
    return tuple(raw)


def _dotted(table: dict, prefix: str = "") -> dict:
    """A fix table with nested tables flattened: TOML reads ``fix.fc1.weight = 1`` as {"fc1": {"weight": 1}}."""
    out: dict = {}
    for k, v in table.items():
        if isinstance(v, dict):
            out.update(_dotted(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _jsonable(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return str(v)


def classification_keys(labels: Any, domain: Any, loss: str, where: str) -> None:
    """``labels = "hard" | "soft"`` and ``domain = "real" | "rational"``: their values, and a loss with exp."""
    for key, value, choices in (("labels", labels, LABELS), ("domain", domain, DOMAINS)):
        if value is not None and value not in choices:
            raise ClaimFileError(f"{key} must be {' or '.join(repr(c) for c in choices)}, got {C.brief(value)}",
                                 where=where, hint=f"e.g. {key} = \"{choices[0]}\"")
        if value is not None and loss not in CLASSIFICATION:
            raise ClaimFileError(f"{key} needs a classification loss, and loss is {loss!r}", where=where,
                                 hint=f'add loss = "bce" or loss = "ce", or drop {key}')


def claim_loss(loss: str, labels: str | None) -> Any:
    """The loss a claim's networks are built with: its name, or with labels the Loss of those labels."""
    if labels is None:
        return loss
    from ..model.losses import loss as make_loss

    return make_loss(loss, labels=labels)

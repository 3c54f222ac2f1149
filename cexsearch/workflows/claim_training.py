"""A claim's training keys: ``steps``, ``optimizer``, ``batch_size``, ``lr``, ``momentum`` (and ``invariant``'s depth)."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from .. import lang as C
from ..errors import ClaimFileError, InputError
from ..model.training import Training

DEFAULT_INVARIANT_STEPS = 3  # how long a training run that breaks an invariant is looked for


def check_training_keys(claim: Any, where: str) -> None:
    """The training keys: numbers exact, the optimizer known; ``steps`` needed by the others."""
    for key in ("steps", "batch_size"):
        v = getattr(claim, key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int)):
            raise ClaimFileError(f"{key} must be a whole number, got {C.brief(v)}", where=where,
                                 hint=f"e.g. {key} = 2")
    for key in ("lr", "momentum"):
        v = getattr(claim, key)
        if v is not None:
            try:
                object.__setattr__(claim, key, C.value_tree(v, key))
            except InputError as e:
                raise ClaimFileError(e.message, where=where, hint=e.hint) from None
            if not isinstance(getattr(claim, key), Fraction):
                raise ClaimFileError(f"{key} must be one number, got {C.brief(v)}", where=where)
    if claim.optimizer is not None and not isinstance(claim.optimizer, str):
        raise ClaimFileError(f"optimizer must be \"gd\" or \"sgd\", got {C.brief(claim.optimizer)}", where=where)
    others = [k for k in ("optimizer", "batch_size", "lr", "momentum") if getattr(claim, k) is not None]
    if claim.steps is None and others and not claim.invariant:
        raise ClaimFileError(f"{others[0]} sets up training steps, and steps is not given", where=where,
                             hint="add steps = K, e.g. steps = 2")
    try:
        claim.training()
    except InputError as e:
        raise ClaimFileError(_keys(e.message), where=where, hint=_keys(e.hint) if e.hint else None) from None
    if claim.invariant and claim.momentum and not claim.all_sizes:
        # a step with momentum moves by the velocity too, which the invariant does not constrain (see .allsizes
        # for the linear invariants where it is sound all the same)
        raise ClaimFileError("an invariant with momentum is not proven by induction: the velocity is part of the state",
                             where=where, hint='drop momentum, or unroll the steps with then = [...] and steps = K')


def training_of(claim: Any, steps: int | None = None) -> Training | None:
    """The training run a case's conditions read: ``steps`` (this claim's by default) of its optimizer."""
    k = claim.steps if steps is None else steps
    if k is None:
        if not claim.invariant:
            return None
        k = DEFAULT_INVARIANT_STEPS
    optimizer = claim.optimizer or ("sgd" if claim.batch_size is not None else "gd")
    return Training(k, optimizer, claim.batch_size, claim.lr, claim.momentum or Fraction(0))


def _keys(text: str) -> str:
    """An option's words as a claim file's keys: --batch-size -> batch_size."""
    for option in ("--steps", "--optimizer", "--batch-size", "--lr", "--momentum"):
        text = text.replace(option, option[2:].replace("-", "_"))
    return text

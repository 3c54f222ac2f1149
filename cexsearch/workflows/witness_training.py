"""The training part of a witness document: the spec, the witness's lr, and the trajectory.

A witness of a training problem (``--steps K``) records, beside the initial values::

    "training":   {"steps": 2, "optimizer": "sgd", "batch_size": 1, "lr": null, "momentum": "0", "first": 0}
    "lr":         {"exact": "1/10", "float": 0.1}          the run's learning rate (the witness's when free)
    "trajectory": [{"step": t, "batch": [...], "parameters": {...}, "gradients": {...},
                    "batch_loss": {...}, "loss": {...}}, ...]

``training.lr`` is the problem's (null: free, any lr > 0); the top-level ``lr`` is the one
the run used.  The trajectory has one entry per step t = 0 .. K, read from the exact replay
(:func:`cexsearch.semantics.numeric.replay`): θ_t, the batch step t trains on, the gradient
``grad@t`` of the batch loss at θ_t (at t = K the one a next step would use), the batch
loss, and ``loss@t`` over the whole dataset.  ``verify`` rebuilds the training problem from
``training`` and replays the run from the initial values; the trajectory is for a reader.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from ..errors import SpecError, WitnessFileError
from ..lang import brief
from ..model.training import OPTIMIZERS, Training
from ..semantics.training import Run

KEYS = ("steps", "optimizer", "batch_size", "lr", "momentum", "first")


def training_doc(training: Training) -> dict[str, Any]:
    """The spec of a training problem, every number exact (lr null when free)."""
    from .witness import exact_text

    return {"steps": training.steps, "optimizer": training.optimizer, "batch_size": training.batch_size,
            "lr": exact_text(training.lr) if training.lr is not None else None,
            "momentum": exact_text(training.momentum), "first": training.first}


def run_doc(run: Run, network: Any, samples: int) -> dict[str, Any]:
    """``lr`` and ``trajectory`` of a replayed run (every value exact, its float beside it)."""
    from .witness import exact_text, float_or_none, tensor_doc

    def scalar(v: Any) -> dict[str, Any]:
        return {"exact": exact_text(v), "float": float_or_none(v)}

    steps = []
    for t, theta in enumerate(run.params):
        tr, full = run.traces[t], run.full[t]
        entry: dict[str, Any] = {"step": t, "batch": list(run.training.batch(t, samples)),
                                 "parameters": {network.label(p): tensor_doc(theta[p]) for p in network.parameter_names()}}
        if tr is not None:
            entry["gradients"] = {network.label(p): tensor_doc(tr.gradients[p]) for p in network.parameter_names()}
            entry["batch_loss"] = scalar(tr.loss)
        if full is not None:
            entry["loss"] = scalar(full.loss)
        steps.append(entry)
    return {"lr": scalar(run.lr), "trajectory": steps}


def _fields(text: str | None) -> str | None:
    """A Training message with its CLI options named as the document's fields (--batch-size: training.batch_size)."""
    if text is None:
        return None
    for option in ("batch-size", "optimizer", "steps", "momentum", "lr"):
        text = text.replace(f"--{option}", f"training.{option.replace('-', '_')}")
    return text


def read_training(doc: dict[str, Any], samples: int, where: str) -> Training | None:
    """The :class:`Training` of a document's ``training`` section (None without one); malformed: WitnessFileError."""
    from .witness import _number

    raw = doc.get("training")
    if raw is None:
        for key in ("lr", "trajectory"):
            if key in doc:
                raise WitnessFileError(f"field {key!r} belongs to a training run, and the document has no 'training'",
                                       where=where, hint="add the training section find --steps writes, or drop "
                                       f"{key!r}")
        return None
    here = f"{where}: training"
    if not isinstance(raw, dict):
        raise WitnessFileError(f"field 'training' should be an object, got {brief(raw)}", where=where,
                               hint='e.g. {"steps": 2, "optimizer": "gd", "batch_size": null, "lr": null, '
                               '"momentum": "0", "first": 0}')
    unknown = sorted(set(raw) - set(KEYS))
    if unknown:
        raise WitnessFileError(f"training has an unknown field {unknown[0]!r}", where=where,
                               hint=f"a training section has {', '.join(KEYS)}")
    missing = [k for k in KEYS if k not in raw]
    if missing:
        raise WitnessFileError(f"training has no field {missing[0]!r}", where=where,
                               hint=f"a training section has {', '.join(KEYS)}")
    steps, optimizer, size, first = raw["steps"], raw["optimizer"], raw["batch_size"], raw["first"]
    for key, value, nullable in (("steps", steps, False), ("batch_size", size, True), ("first", first, False)):
        if not (nullable and value is None) and (type(value) is not int or value < 0):
            raise WitnessFileError(f"training.{key} should be a whole number of at least 0"
                                   + (" or null" if nullable else "") + f", got {brief(value)}", where=where)
    if optimizer not in OPTIMIZERS:
        raise WitnessFileError(f"training.optimizer should be {' or '.join(OPTIMIZERS)}, got {brief(optimizer)}",
                               where=where)
    lr = None if raw["lr"] is None else _number(raw["lr"], f"{here}.lr")
    momentum = _number(raw["momentum"], f"{here}.momentum")
    try:
        training = Training(steps, optimizer, size, lr, momentum, first)
        training.check_samples(samples)
    except SpecError as e:  # the spec's own checks: steps beyond the limit, lr <= 0, a batch larger than the data
        raise WitnessFileError(_fields(e.message) or e.message, where=here, hint=_fields(e.hint)) from None
    return training


def read_lr(doc: dict[str, Any], training: Training, where: str) -> Fraction | None:
    """The witness's learning rate: the document's ``lr``, which a fixed ``training.lr`` must equal."""
    from .witness import _number

    raw = doc.get("lr")
    if not isinstance(raw, dict) or "exact" not in raw:
        raise WitnessFileError("a training witness needs the run's learning rate, field 'lr' with 'exact'", where=where,
                               hint='e.g. "lr": {"exact": "1/10", "float": 0.1}, as find --steps writes it')
    lr = _number(raw["exact"], f"{where}: lr")
    if lr <= 0:
        raise WitnessFileError(f"lr should be positive, got {lr}", where=where, hint="a learning rate is > 0")
    if training.lr is not None and lr != training.lr:
        raise WitnessFileError(f"lr is {lr}, but training.lr fixes it to {training.lr}", where=where,
                               hint="the run's lr is the problem's when the problem fixes one")
    return lr if training.lr is None else None

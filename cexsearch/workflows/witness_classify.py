"""The parts of a witness document that only a loss with exp (bce, ce) has.

* Values with exp: p, the gradients and the loss of a bce or ce witness are exact elements of
  Q(exp(1/q)) (:class:`~cexsearch.semantics.transcendental.Value`); a document writes each as its
  exact symbolic form (``"-1/2 + 1/2*sigmoid(1)"``) with its ``decimal`` (from a certified
  interval) and its float beside it.  The logits yhat of a rational witness stay rational.
* The loss's labels (``network.labels``: "hard" or "soft") and the numbers a witness ranges over
  (``domain.over``: "real" or "rational"), read back by :func:`read_labels` and :func:`read_over`.
* The verdict's domain (``verdict_domain``) and, for a witness found over the reals, its
  certificate: ``{"method": ..., "box": [{"name", "index", "lo", "hi"}], "centre": [...]}``
  (:func:`certificate_doc`, from any object with those attributes, and :func:`read_certificate`).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from ..errors import WitnessFileError
from ..semantics.written import box_rows, centre_rows, decimal_text, exact_text, float_or_none, is_rational

LABELS = ("hard", "soft")
OVER = ("real", "rational")


def _nested(arr: Any, conv: Any) -> Any:
    a = np.asarray(arr, dtype=object)
    if a.ndim == 0:
        return conv(a.item())
    return [_nested(sub, conv) for sub in a]


def all_rational(arr: Any) -> bool:
    return all(is_rational(v) for v in np.asarray(arr, dtype=object).reshape(-1))


def symbolic_tensor_doc(arr: Any) -> dict[str, Any]:
    """A tensor with exp in it: shape, the exact symbolic forms, their decimals and floats."""
    return {"shape": list(np.asarray(arr, dtype=object).shape), "exact": _nested(arr, exact_text),
            "decimal": _nested(arr, decimal_text), "float": _nested(arr, float_or_none)}


def scalar_doc(v: Any) -> dict[str, Any]:
    """One value (the loss): exact and float, and its decimal when it has exp in it."""
    doc: dict[str, Any] = {"exact": exact_text(v), "float": float_or_none(v)}
    if not is_rational(v):
        doc["decimal"] = decimal_text(v)
    return doc


def loss_keys(loss: Any) -> dict[str, Any]:
    """What a network document adds for a classification loss: its labels."""
    return {"labels": loss.labels} if getattr(loss, "link", "") else {}


def read_labels(nd: dict[str, Any], where: str) -> str | None:
    labels = nd.get("labels")
    if labels is not None and labels not in LABELS:
        raise WitnessFileError(f"network.labels should be 'hard' or 'soft', got {labels!r}", where=where)
    return labels


def read_over(dom: dict[str, Any], where: str) -> str:
    over = dom.get("over", "real")
    if over not in OVER:
        raise WitnessFileError(f"domain.over should be 'real' or 'rational', got {over!r}", where=where)
    return str(over)


def _index_list(index: Any) -> list[int]:
    return [int(i) for i in index]


def certificate_doc(certificate: Any, label: Any = str) -> dict[str, Any]:
    """The JSON of a certificate (:class:`cexsearch.semantics.certify.Certificate`, or any object with
    ``method`` and ``box``): the box's exact ends with decimals beside, the centre's values, and the
    re-proof's data (``equations``, ``labels``, ``preconditioner``, ``bits``) where it has them."""
    doc: dict[str, Any] = {"method": str(getattr(certificate, "method", "") or "")}
    doc["box"] = [{"name": label(n), "index": list(i), "lo": exact_text(lo), "hi": exact_text(hi),
                   "lo_decimal": decimal_text(lo), "hi_decimal": decimal_text(hi)}
                  for n, i, lo, hi in box_rows(certificate)]
    centre = centre_rows(certificate)
    if centre:
        doc["centre"] = [{"name": label(n), "index": list(i), "value": exact_text(v)} for n, i, v in centre]
    for key in ("equations", "labels"):
        if getattr(certificate, key, None) is not None:
            doc[key] = [int(v) if key == "equations" else str(v) for v in getattr(certificate, key)]
    if getattr(certificate, "preconditioner", None) is not None:
        doc["preconditioner"] = [[exact_text(v) for v in row] for row in certificate.preconditioner]  # type: ignore[attr-defined]
    if isinstance(getattr(certificate, "bits", None), int):
        doc["bits"] = certificate.bits  # type: ignore[attr-defined]
    return doc


@dataclass(frozen=True)
class CertificateRecord:
    """A certificate as a document gives it back, field by field (:func:`as_certificate` makes it the
    build's :class:`cexsearch.semantics.certify.Certificate`)."""

    method: str
    box: tuple[tuple[str, tuple[int, ...], Fraction, Fraction], ...]
    centre: tuple[tuple[str, tuple[int, ...], Fraction], ...] = ()
    equations: tuple[int, ...] = ()
    labels: tuple[str, ...] = ()
    preconditioner: tuple[tuple[Fraction, ...], ...] = ()
    bits: int | None = None


def _entries(raw: Any, keys: tuple[str, ...], what: str, where: str) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not all(isinstance(e, dict) and all(k in e for k in keys) for e in raw):
        raise WitnessFileError(f"certificate.{what} should be a list of objects with {', '.join(keys)}", where=where)
    return raw


def read_certificate(raw: Any, internal: Any, number: Any, where: str) -> CertificateRecord:
    """A document's certificate; ``internal`` maps a shown name to the internal one, ``number`` reads a value."""
    if not isinstance(raw, dict) or not isinstance(raw.get("box"), list):
        raise WitnessFileError("field 'certificate' should be an object with a 'box' list", where=where,
                               hint='{"method": ..., "box": [{"name": "W1", "index": [0, 0], "lo": "0", "hi": "1"}]}')
    box = []
    for entry in _entries(raw["box"], ("name", "index", "lo", "hi"), "box", where):
        lo, hi = number(entry["lo"], f"{where}: certificate"), number(entry["hi"], f"{where}: certificate")
        if lo > hi:
            raise WitnessFileError(f"certificate box entry {entry['name']}{entry['index']} has lo > hi", where=where)
        box.append((internal(str(entry["name"])), tuple(_index_list(entry["index"])), lo, hi))
    centre = tuple((internal(str(e["name"])), tuple(_index_list(e["index"])), number(e["value"], f"{where}: centre"))
                   for e in _entries(raw.get("centre", []), ("name", "index", "value"), "centre", where))
    try:
        equations = tuple(int(v) for v in raw.get("equations", ()))
        labels = tuple(str(v) for v in raw.get("labels", ()))
        rows = tuple(tuple(number(v, f"{where}: certificate.preconditioner") for v in row)
                     for row in raw.get("preconditioner", ()))
    except (TypeError, ValueError):
        raise WitnessFileError("certificate.equations, labels or preconditioner is malformed", where=where) from None
    bits = raw.get("bits")
    if bits is not None and (type(bits) is not int or bits < 1):
        raise WitnessFileError(f"certificate.bits should be a positive integer, got {bits!r}", where=where)
    return CertificateRecord(str(raw.get("method", "")), tuple(box), centre, equations, labels, rows, bits)


def as_certificate(record: CertificateRecord, problem: Any, certify: Any) -> Any:
    """The build's ``certify.Certificate`` of a record (its fields by name: ``center`` the full
    assignment of the centre), or the record itself when the module has no such class."""
    import dataclasses

    from ..model.problem import Assignment

    cls: Any = getattr(certify, "Certificate", None)
    if cls is None or not dataclasses.is_dataclass(cls):
        return record
    known = {f.name for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {"method": record.method, "box": record.box, "equations": record.equations, "labels": record.labels,
              "preconditioner": record.preconditioner}
    if record.bits is not None:
        values["bits"] = record.bits
    centre = dict(problem.fixed.as_dict()) | {(n, i): v for n, i, v in record.centre}
    for name in ("center", "centre"):
        if name in known:
            values[name] = Assignment.from_entries(problem.network, problem.samples, centre)
    build: Any = cls  # a dataclass type (is_dataclass narrows it to an instance's type)
    return build(**{k: v for k, v in values.items() if k in known})


def check_certificate(problem: Any, record: CertificateRecord) -> tuple[bool, str]:
    """(verdict, reasons) of :func:`cexsearch.semantics.certify.check_certificate` on a document's certificate."""
    from ..semantics import certify

    try:
        certificate = as_certificate(record, problem, certify)
    except (TypeError, ValueError, KeyError) as e:
        return False, f"the document's certificate does not fit this build's Certificate: {e}"
    result = certify.check_certificate(problem, certificate)
    return bool(getattr(result, "ok", result)), "; ".join(map(str, result.reasons))

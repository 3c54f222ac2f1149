"""The JSON Schemas (draft 2020-12) of the documents cexsearch writes, shipped as package data.

Every document names its schema in its ``schema`` field; :data:`SCHEMAS` maps that name
to the file in ``cexsearch/schemas/`` and to the schema's ``$id``:

>>> sorted(SCHEMAS)
['cexsearch.check/1', 'cexsearch.sweep/1', 'cexsearch.witness/1']
>>> load("cexsearch.witness/1")["$id"]
'urn:cexsearch:witness:1'

The ``$id`` is a URN rather than the ``schema`` name itself because ``$ref`` resolves a
relative id against the referring schema's: with ``"$id": "cexsearch.check/1"``, a
``"$ref": "cexsearch.witness/1"`` would mean ``cexsearch.check/cexsearch.witness/1``.
A URN is absolute and names no host. The check report and the sweep grid refer to the
witness schema by its ``$id``, so a validator needs the witness schema loaded beside them
(:func:`validator` does this).

Reading the files needs nothing beyond the standard library; :func:`validator` and
:func:`problems` need the ``jsonschema`` package (in the ``dev`` extra).
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from ..errors import InputError, WitnessFileError

SCHEMAS: dict[str, tuple[str, str]] = {
    # document "schema" value: (file in cexsearch/schemas/, the schema's $id)
    "cexsearch.witness/1": ("witness.schema.json", "urn:cexsearch:witness:1"),
    "cexsearch.check/1": ("check.schema.json", "urn:cexsearch:check:1"),
    "cexsearch.sweep/1": ("sweep.schema.json", "urn:cexsearch:sweep:1"),
}


def _known(name: str) -> tuple[str, str]:
    try:
        return SCHEMAS[name]
    except (KeyError, TypeError):
        raise InputError(f"no schema named {name!r}", hint=f"cexsearch writes {', '.join(sorted(SCHEMAS))}") from None


def path(name: str) -> Any:
    """The shipped schema file for a document's ``schema`` value (a Traversable, usually a Path)."""
    return resources.files("cexsearch").joinpath("schemas", _known(name)[0])


def load(name: str) -> dict[str, Any]:
    """The schema for a document's ``schema`` value, as a dict."""
    return json.loads(path(name).read_text(encoding="utf-8"))


def validator(name: str) -> Any:
    """A ``jsonschema.Draft202012Validator`` for one document kind, every shipped schema registered."""
    try:
        from jsonschema import Draft202012Validator
        from referencing import Registry
        from referencing.jsonschema import DRAFT202012
    except ImportError:
        raise InputError("validating a document needs the jsonschema package",
                         hint="pip install 'cexsearch[schema]' (jsonschema)") from None
    registry: Any = Registry().with_resources(
        (sid, DRAFT202012.create_resource(load(n))) for n, (_, sid) in SCHEMAS.items())
    return Draft202012Validator(load(name), registry=registry)


def problems(doc: Any) -> list[str]:
    """Every way ``doc`` breaks the schema its ``schema`` field names, each led by the JSON path of the bad field.

    An empty list means the document is valid.
    """
    name = doc.get("schema") if isinstance(doc, dict) else None
    if name not in SCHEMAS:
        return [f"$.schema: {name!r} names no schema cexsearch writes ({', '.join(sorted(SCHEMAS))})"]
    check = validator(name)  # first: it says what to install when jsonschema is missing
    from jsonschema.exceptions import best_match

    # best_match descends into anyOf branches (a witness or null), so the path reaches the bad field itself
    errors = [best_match([e]) for e in check.iter_errors(doc)]
    errors.sort(key=lambda e: [(0, p, "") if isinstance(p, int) else (1, 0, str(p)) for p in e.absolute_path])
    return [f"{e.json_path}: {_message(e)}" for e in errors]


def _message(error: Any) -> str:
    # a field forbidden by {"not": {}} (jsonschema loses the path of a false schema): say why, not "not valid under {}"
    if error.validator == "not" and error.validator_value == {}:
        why = error.schema.get("description") if isinstance(error.schema, dict) else None
        return f"not allowed here ({why})" if why else "not allowed here"
    return str(error.message)


def require_valid(doc: Any, where: str) -> None:
    """Raise :class:`WitnessFileError` naming the JSON path of the first field that breaks the document's schema."""
    found = problems(doc)
    if not found:
        return
    first = found[0] if len(found[0]) <= 300 else found[0][:300] + "..."
    more = f"; {len(found) - 1} more problem{'s' if len(found) > 2 else ''}" if len(found) > 1 else ""
    raise WitnessFileError(f"{first}{more}", where=where,
                           hint=f"the document breaks the schema {doc.get('schema')!r}: cexsearch writes documents "
                           "that meet it; was this one edited?")

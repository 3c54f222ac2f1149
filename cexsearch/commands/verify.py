"""``cexsearch verify``: re-check a witness document exactly, without Z3."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from ..errors import InputError
from .common import EXIT_INCONCLUSIVE, EXIT_NEGATIVE, EXIT_OK, out_console, run_command
from .extras import Extras


def verify(
    witness: Annotated[str, typer.Argument(help="A witness document written by find or check.")],
    explain: Annotated[str | None, typer.Option(help="Also print the witness as a derivation: markdown or latex.")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="First validate the document against its shipped JSON Schema "
                                         "(needs jsonschema).")] = False,
) -> None:
    """Re-check a witness document exactly, without Z3: exit 0 when every condition holds, 1 when one fails."""

    def body() -> int:
        from ..semantics.numeric import recheck
        from ..workflows.witness import load_document

        try:
            text = open(witness, encoding="utf-8").read() if witness != "-" else sys.stdin.read()
        except OSError as e:
            raise InputError(f"cannot read {witness!r}: {e.strerror}", hint="check the path") from None
        except UnicodeDecodeError as e:
            raise InputError(f"cannot read {witness!r}: byte {e.object[e.start]:#04x} at offset {e.start} is not "
                             "UTF-8", hint="a witness document is UTF-8 JSON, as find and check write it") from None
        Extras.parse(explain, None, None, None, None)  # validates the format before reading
        problem, assignment, doc = load_document(text, where=witness)
        if strict:
            from ..output.schema import require_valid

            require_valid(doc, where=witness)
        console = out_console()
        if "certificate" in doc:  # a witness found over the reals: its box is the proof
            return verify_certificate(problem, doc, witness, console)
        if assignment is None:
            raise InputError(f"{witness}: the document holds no values to check (its verdict was not 'found')")
        check = recheck(problem, assignment)
        if explain is not None:
            from ..output.explain import explain as derivation

            sys.stdout.write(derivation(problem, assignment, explain).rstrip("\n") + "\n")
        if check.confirmed:
            over = " (a rational witness, exact)" if doc.get("verdict_domain") == "rational" else ""
            console.print(f"VERIFIED{over}  every condition holds exactly ({len(check.conditions)} checked); "
                          f"float64 deviation {check.float_deviation:.3g}", markup=False)
            for c in check.conditions:
                console.print(f"  holds: {c.text}", markup=False)
            return EXIT_OK
        undecided = all(c.holds or c.undecided for c in check.conditions)  # nothing decided false
        console.print("UNDECIDED  the exact arithmetic cannot settle every condition" if undecided else
                      "FAILED  the witness does not meet its conditions", markup=False)
        for c in check.conditions:
            word = "holds" if c.holds else f"UNDECIDED ({c.undecided})" if c.undecided else "FAILS"
            console.print(f"  {word}: {c.text}", markup=False)
        from ..output.report import fmt_exact

        console.print("the values the failing conditions read:", markup=False)
        shown: set[str] = set()
        for c in check.conditions:
            for label, values in c.reads if not c.holds else ():
                if label not in shown:
                    shown.add(label)
                    flat = ", ".join(fmt_exact(v) for v in values.reshape(-1))
                    console.print(f"  {label} = {flat if values.ndim == 0 else f'[{flat}]'}", markup=False,
                                  soft_wrap=True)  # an exact value stays on one line, however long
        return EXIT_INCONCLUSIVE if undecided else EXIT_NEGATIVE

    run_command(body)


def verify_certificate(problem: Any, doc: dict[str, Any], where: str, console: Any) -> int:
    """Re-check a document's certificate (a box over the reals) with cexsearch.semantics.certify."""
    from ..workflows.witness import _number
    from ..workflows.witness_classify import check_certificate, read_certificate

    net = problem.network
    names = getattr(net, "names", None)

    def internal(shown: str) -> str:
        return (names.internal(shown) if names is not None else None) or shown

    cert = read_certificate(doc["certificate"], internal, _number, where)
    ok, message = check_certificate(problem, cert)
    extra = f": {message}" if message else ""
    if ok:
        console.print(f"VERIFIED over the reals  the certificate ({cert.method or 'unstated method'}) holds for its "
                      f"box of {len(cert.box)} value{'s' if len(cert.box) != 1 else ''}{extra}", markup=False)
        return EXIT_OK
    console.print(f"FAILED  the certificate ({cert.method or 'unstated method'}) does not hold{extra}", markup=False)
    return EXIT_NEGATIVE

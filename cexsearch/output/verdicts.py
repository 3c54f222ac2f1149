"""What a verdict of a loss with exp (bce, ce) covers: the numbers it is about (Outcome.domain),
and the certified box of a witness found over the reals (Outcome.certificate).

=========  ============  ==============================================
verdict    domain        said
=========  ============  ==============================================
found      rational      found (a rational witness, exact)
found      real          found over the reals (a certified box)
none       rational      none over the rationals
none       real          none over the reals
=========  ============  ==============================================

An outcome without a domain (every loss without exp) says nothing more; unknown stays unknown.

>>> domain_phrase("none", "rational")
'none over the rationals'
>>> domain_phrase("found", "")
''
"""

from __future__ import annotations

from typing import Any

from ..semantics.written import box_rows, decimal_text, exact_text

PHRASES = {
    ("found", "rational"): "found (a rational witness, exact)",
    ("found", "real"): "found over the reals (a certified box)",
    ("none", "rational"): "none over the rationals",
    ("none", "real"): "none over the reals",
}


def domain_phrase(verdict: str, domain: str) -> str:
    """The verdict with the numbers it covers, or "" when the outcome has no domain (or is unknown)."""
    return PHRASES.get((verdict, domain or ""), "")


def box_lines(certificate: Any, label: Any = str) -> list[str]:
    """One line per box entry: ``W1[0, 0] in [lo, hi]`` with the decimals beside."""
    out = []
    for name, index, lo, hi in box_rows(certificate):
        where = f"{label(name)}[{', '.join(map(str, index))}]" if index else label(name)
        out.append(f"{where} in [{exact_text(lo)}, {exact_text(hi)}]  (~[{decimal_text(lo, 8)}, {decimal_text(hi, 8)}])")
    return out


def certificate_text(certificate: Any, label: Any = str) -> str:
    """The certificate in a few lines: its method and its box."""
    method = getattr(certificate, "method", "") or "unstated"
    lines = [f"certificate ({method}): a witness over the reals lies in this box"]
    lines += ["  " + line for line in box_lines(certificate, label)]
    return "\n".join(lines)


def claim_phrase(result: Any) -> str:
    """What a claim's verdict covers, from its cases' outcomes: refuted by a witness "found (a rational
    witness, exact)", holds with every case "none over the reals", ...; "" without a domain."""
    if result.verdict == "refuted" and result.witness is not None:
        return {"rational": "a rational witness, exact", "real": "over the reals, a certified box"}.get(
            result.witness.domain or "", "")
    if result.verdict == "holds":
        domains = {c.outcome.domain for c in result.cases if c.outcome is not None} - {""}
        # none over the reals implies none over the rationals: mixed cases prove the weaker
        return domain_phrase("none", "rational" if "rational" in domains else domains.pop()) if domains else ""
    return ""

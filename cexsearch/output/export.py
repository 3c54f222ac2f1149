"""Machine formats for claim outcomes: JUnit XML, the JSON report, CI annotations."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import Any

from ..workflows.claims import ClaimOutcome, claim_document
from ..workflows.witness import SCHEMA, exact_text, tool_doc
from .verdicts import claim_phrase


def witness_summary(result: ClaimOutcome) -> str:
    """A compact one-paragraph witness: every value exact, then the gradients."""
    w = result.witness
    if w is None or w.witness is None or w.recheck is None:
        return ""
    a = w.witness
    label = a.network.label  # the module's names for a network from PyTorch
    parts = [_compact(label(name), [exact_text(v) for v in a.flat(name)]) for name in a.network.variable_names()]
    grads = [_compact(f"grad({label(p)})", [exact_text(v) for v in w.recheck.evaluation.gradients[p].reshape(-1)])
             for p in a.network.parameter_names()]
    return f"witness at {a.network.text} x {a.samples}: " + "; ".join(parts) + " | " + "; ".join(grads)


def _compact(name: str, values: list[str]) -> str:
    if len(values) == 1:
        return f"{name}={values[0]}"
    if len(set(values)) == 1:
        return f"{name}={values[0]} (all {len(values)})"
    return f"{name}=[{', '.join(values)}]"


def verdict_message(result: ClaimOutcome) -> str:
    phrase = claim_phrase(result)
    msg = f"{result.claim.name}: {result.verdict}{f' ({phrase})' if phrase else ''}, expected {result.expected}"
    if result.verdict == "refuted":
        msg += f" ({witness_summary(result)})"
    elif result.verdict == "unknown" and result.reason:
        msg += f" ({result.reason})"
    return msg


def junit_xml(results: Sequence[ClaimOutcome], suite_name: str = "cexsearch") -> str:
    """One testcase per claim and size; a failure where the verdict differs from ``expect``."""
    suite = ET.Element("testsuite", name=suite_name)
    tests = failures = errors = skipped = 0
    total_time = 0.0
    for r in results:
        for case in r.cases:
            tests += 1
            total_time += case.elapsed
            tc = ET.SubElement(suite, "testcase", classname=r.claim.file or "claims",
                               name=f"{r.claim.name} [{case.net} x {case.samples}]", time=f"{case.elapsed:.3f}")
            if r.claim.file:
                tc.set("file", r.claim.file)
            if r.claim.line:
                tc.set("line", str(r.claim.line))
            if case.verdict == "skipped":
                skipped += 1
                ET.SubElement(tc, "skipped", message="a smaller size already refutes the claim")
            elif case.verdict == "unknown":
                errors += 1
                reason = case.outcome.reason if case.outcome is not None and case.outcome.reason else "not decided"
                ET.SubElement(tc, "error", message=f"inconclusive: {reason}", type="inconclusive")
            elif case.verdict == "refuted" and r.expected == "holds":
                failures += 1
                f = ET.SubElement(tc, "failure", message="refuted, expected holds", type="refuted")
                f.text = witness_summary(r)
            elif case.verdict == "holds" and r.expected == "refuted" and r.verdict != "refuted":
                failures += 1
                ET.SubElement(tc, "failure", message="holds (no witness at this size), expected refuted", type="holds")
            out = ET.SubElement(tc, "system-out")
            out.text = f"verdict at this size: {case.verdict}; claim verdict: {r.verdict}" + (
                " (replayed stored witness)" if case.replayed else "")
    suite.set("tests", str(tests))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    suite.set("skipped", str(skipped))
    suite.set("time", f"{total_time:.3f}")
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def report_document(results: Sequence[ClaimOutcome]) -> dict[str, Any]:
    return {
        "schema": "cexsearch.check/1",
        "witness_schema": SCHEMA,
        "tool": tool_doc(),
        "claims": [
            {
                "name": r.claim.name,
                "file": r.claim.file,
                "line": r.claim.line,
                "expect": r.expected,
                "verdict": r.verdict,
                "as_expected": r.as_expected,
                "smallest_size": r.smallest if r.verdict == "refuted" else None,
                "reason": r.reason,
                "elapsed_seconds": round(r.elapsed, 6),
                "cases": [{"net": c.net, "samples": c.samples, "verdict": c.verdict, "replayed": c.replayed,
                           "elapsed_seconds": round(c.elapsed, 6)}
                          | ({"domain": c.outcome.domain} if c.outcome is not None and c.outcome.domain else {})
                          for c in r.cases],
                "witness": claim_document(r) if r.witness is not None else None,
            }
            for r in results
        ],
    }


def github_annotation(result: ClaimOutcome) -> str:
    """An ``::error`` workflow command for a claim whose verdict is not the expected one."""
    props = []
    if result.claim.file:
        props.append(f"file={result.claim.file}")
    if result.claim.line:
        props.append(f"line={result.claim.line}")
    msg = verdict_message(result).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return f"::error {','.join(props)}::{msg}" if props else f"::error::{msg}"

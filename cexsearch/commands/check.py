"""``cexsearch check``: decide every claim in claim files."""

from __future__ import annotations

import glob
import os
import sys
from typing import Annotated

import typer

from ..engine.search import SearchStats
from ..errors import InputError
from .common import (
    EXIT_INCONCLUSIVE,
    EXIT_INTERRUPTED,
    EXIT_NEGATIVE,
    EXIT_OK,
    Cluster,
    emit_json,
    out_console,
    progress_reporter,
    run_command,
)
from .extras import Extras
from .options import html_option, number_option, search_options, timeout_option, writable


def check(
    files: Annotated[list[str], typer.Argument(help="Claim files (TOML).")],
    junit: Annotated[str | None, typer.Option("--junit", help="Write JUnit XML here.")] = None,
    json_path: Annotated[str | None, typer.Option("--json", help="Write every outcome with its witness ('-' for stdout).")] = None,
    timeout: Annotated[str | None, typer.Option(help="Seconds per claim.")] = None,
    store: Annotated[str, typer.Option(help="Where refuting witnesses are kept and replayed from.")] = ".cexsearch/witnesses",
    no_store: Annotated[bool, typer.Option("--no-store", help="Neither replay nor save witnesses.")] = False,
    seed: Annotated[str, typer.Option(help="Solver seed.")] = "0",
    jobs: Annotated[str | None, typer.Option(help="Worker processes for each claim's enumeration.")] = "1",
    cluster: Cluster = None,
    shrink: Annotated[bool, typer.Option("--shrink/--no-shrink", help="Shrink refuting witnesses (default on).")] = True,
    shrink_time: Annotated[str, typer.Option(help="Seconds for shrinking each refuting witness.")] = "10",
    explain: Annotated[str | None, typer.Option(help="Print each refuting witness as a derivation: markdown or latex.")] = None,
    html: Annotated[str | None, typer.Option("--html", help="Write a self-contained HTML report to DIR/index.html (needs the html extra).")] = None,
) -> None:
    """Decide every claim in the files: exit 0 when all are as expected, 1 when one is not, 3 when some are unknown."""

    def body() -> int:
        from ..files import write_atomic
        from ..output.export import github_annotation, junit_xml, report_document
        from ..output.report import claims_table
        from ..workflows.claimfile import load_claims
        from ..workflows.claims import check_claim

        seconds = timeout_option(timeout)
        options = search_options(None, seed, "auto", jobs, None, False, cluster)
        extras = Extras.parse(explain, None, None, None, json_path)
        shrink_seconds = float(number_option(shrink_time, "--shrink-time") or 0) if shrink else 0.0
        for path, option in ((junit, "--junit"), (json_path, "--json")):
            writable(path, option)
        html_option(html, "--html", directory=True)
        if not no_store:
            writable(store, "--store", directory=True)
        claims = [c for f in claim_paths(files) for c in load_claims(f)]  # all validated before any search
        json_to_stdout = json_path == "-"
        console = out_console(to_stderr=json_to_stdout)
        results = []
        interrupted = False
        with progress_reporter(True, "claims") as progress:
            for i, claim in enumerate(claims):
                if progress is not None:
                    progress(SearchStats("claims", len(claims), tried=i))
                result = check_claim(claim, timeout=seconds, store=None if no_store else store,
                                     options=options, shrink_time=shrink_seconds)
                results.append(result)
                if result.interrupted:
                    interrupted = True
                    break
        console.print(claims_table(results))
        for r in results:
            if r.witness is not None:
                extras.write(r.witness)
        if os.environ.get("GITHUB_ACTIONS") == "true":
            for r in results:
                if not r.as_expected:
                    print(github_annotation(r), file=sys.stderr if json_to_stdout else sys.stdout)
        if junit:
            write_atomic(junit, junit_xml(results))
        if json_path:
            emit_json(json_path, report_document(results))
        if html:
            from ..output.html_report import write_check_report

            console.print(f"HTML report written to {write_check_report(html, results, files)}", style="dim")
        if interrupted:
            return EXIT_INTERRUPTED
        if any(r.verdict != "unknown" and not r.as_expected for r in results):
            return EXIT_NEGATIVE
        if any(r.verdict == "unknown" for r in results):
            return EXIT_INCONCLUSIVE
        return EXIT_OK

    run_command(body)


def claim_paths(files: list[str]) -> list[str]:
    """The claim files: a directory stands for its ``*.toml`` files, in name order."""
    out = []
    for f in files:
        if not os.path.isdir(f):
            out.append(f)
            continue
        found = sorted(glob.glob(os.path.join(f, "*.toml")))
        if not found:
            raise InputError(f"no claim files (*.toml) in the directory {f}", hint="give claim files, e.g. examples/*.toml")
        out += found
    return out

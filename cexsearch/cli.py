"""The command line: the Typer app the console script and ``python -m cexsearch`` run.

Exit codes: 0 success (a witness found, every claim as expected), 1 the
negative answer (no witness exists at this size, a claim not as expected, a
witness that fails), 2 bad input, 3 inconclusive (or solver and re-check
disagree), 130 interrupted.  Each command (:mod:`cexsearch.commands`) parses,
calls the library, renders and sets the exit code: the only code that prints or exits.
"""

from __future__ import annotations

import sys

import typer

from . import __version__
from .commands.check import check
from .commands.common import EXIT_INTERRUPTED
from .commands.find import find
from .commands.sweep import sweep
from .commands.verify import verify

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Settle claims about neural-network gradients: search weights and datasets with Z3, "
    "re-check every witness exactly.\n\nExit codes: 0 success, 1 negative answer, 2 bad input, "
    "3 inconclusive, 130 interrupted.",
)

# the commands, in the order --help lists them; each lives in cexsearch/commands/
app.command()(find)
app.command()(verify)
app.command()(check)
app.command()(sweep)


@app.command()
def version() -> None:
    """Print the versions of cexsearch and Z3."""
    from .engine.solver import z3_version

    print(f"cexsearch {__version__} (z3 {z3_version()})")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        # Ctrl-C outside a command body: while Typer parses the arguments or imports what it needs
        # to print a usage error (Rich's markdown and Pygments take a second on a loaded machine).
        sys.stderr.write("interrupted\n")
        sys.exit(EXIT_INTERRUPTED)

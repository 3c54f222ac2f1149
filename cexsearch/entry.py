"""The console script's entry point: the CLI imported inside a Ctrl-C guard.

Importing the CLI loads Z3, numpy, Typer and Rich (most of a second on a loaded machine);
a Ctrl-C in that time is exit 130 with one line, like a Ctrl-C anywhere later
(:func:`cexsearch.cli.main`), never a traceback.  Nothing heavy is imported here.
"""

from __future__ import annotations

import sys

EXIT_INTERRUPTED = 130


def main() -> None:
    try:
        from .cli import main as cli_main
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(EXIT_INTERRUPTED)
    cli_main()

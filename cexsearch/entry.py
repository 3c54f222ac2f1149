"""The console script's entry point: the CLI imported inside a Ctrl-C guard.

Importing the CLI loads Z3, numpy, Typer and Rich (most of a second on a loaded machine);
a Ctrl-C in that time is exit 130 with one line, like a Ctrl-C anywhere later
(:func:`cexsearch.cli.main`), never a traceback.  Nothing heavy is imported here.

Once a command has chosen its exit code (:func:`settle`), Ctrl-C is ignored for the rest of the
process: a signal landing while Click unwinds or Python frees Z3's objects would otherwise turn
a printed verdict into Click's "Aborted!" and exit 1.
"""

from __future__ import annotations

import signal
import sys

EXIT_INTERRUPTED = 130

_console_script = False  # True in the process the console script runs, never in-process (tests, the plugin)


def settle() -> None:
    """The command's answer is final: from now on Ctrl-C cannot change its exit code."""
    if _console_script:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def main() -> None:
    global _console_script
    _console_script = True
    from . import interrupt

    interrupt.install()
    try:
        from .cli import main as cli_main
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(EXIT_INTERRUPTED)
    try:
        cli_main()
    finally:
        settle()

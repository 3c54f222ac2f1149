"""Every error cexsearch raises on purpose.

All of them derive from :class:`CexsearchError`, so a caller (the CLI, a test
suite, a notebook) can catch one type.  Each carries the bad value and, for
text input, where it stands, and its message says how to fix it.  The CLI maps
:class:`InputError` to exit code 2; everything else that escapes is a bug.

This module imports nothing from the package.
"""

from __future__ import annotations


class CexsearchError(Exception):
    """Root of every error raised by cexsearch."""


class InputError(CexsearchError):
    """Bad input from a person: an option, a condition, a claim file, a witness file.

    ``source`` is the text that was being read (an expression, an option value),
    ``column`` the 0-based offset of the bad part within it, ``where`` a label
    for the place (``--require``, ``claims.toml:12``).  ``str()`` renders all of
    it on one line plus, when a column is known, a caret line.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        column: int | None = None,
        where: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.source = source
        self.column = column
        self.where = where
        self.hint = hint
        super().__init__(self.render())

    def render(self) -> str:
        head = f"{self.where}: " if self.where else ""
        text = head + self.message
        if self.hint:
            text += f" ({self.hint})"
        if self.source is not None and self.column is not None:
            text += f"\n    {self.source}\n    {' ' * self.column}^"
        elif self.source is not None:
            text += f"\n    {self.source}"
        return text

    def located(self, where: str) -> InputError:
        """The same error with a place label put in front (keeps the first label)."""
        if self.where:
            where = f"{where}: {self.where}"
        return type(self)(self.message, source=self.source, column=self.column, where=where, hint=self.hint)


class ConditionError(InputError):
    """A condition that does not parse or does not fit the network."""


class SpecError(InputError):
    """A network, dataset, fixed value or option that is not valid."""


class ClaimFileError(InputError):
    """A claim file that is malformed or names an unknown key."""


class WitnessFileError(InputError):
    """A witness document that is not JSON, of an unknown version, or incomplete."""


class SolverDisagreement(CexsearchError):
    """The solver's model failed the exact re-check: a bug in the encoding or in Z3.

    Never swallowed: the CLI shows it loudly and exits 3.
    """


class TooLarge(InputError):
    """A size far beyond reach, refused up front: a search's pattern count, a network's width or
    parameter count, a batch, a number with too many digits or too large an exponent."""

"""The commands of :mod:`cexsearch.cli`, one module each, and what they share.

Each command parses its options, calls the library, renders, and returns an exit code through
:func:`.common.run_command`: the only code that prints or exits.
"""

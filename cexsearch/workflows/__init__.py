"""Workflows: what a command does with the engine, from a claim or a grid of sizes to an outcome.

* :mod:`.claim`, :mod:`.claimfile`, :mod:`.claims`: a claim, claim files, deciding claims.
* :mod:`.shrink`, :mod:`.shrink_local`: simpler witnesses, each one confirmed.
* :mod:`.sweep`: a grid of networks and batch sizes.
* :mod:`.witness`: the witness store: the JSON document a witness is kept in and read back from.
"""

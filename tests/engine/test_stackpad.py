"""padded(fn, ...) is fn(...), called under a frame larger than any stack chunk's room (engine/stackpad.py)."""

from __future__ import annotations

import pytest

from cexsearch.engine import stackpad


def test_padded_returns_and_raises_what_the_call_does():
    assert stackpad.padded(lambda a, b: a + b, 2, 3) == 5

    def fails() -> None:
        raise KeyError("x")

    with pytest.raises(KeyError):
        stackpad.padded(fails)


def test_the_padding_frame_is_larger_than_a_stack_chunk():
    # CPython 3.11 keeps frames in 16 KiB chunks: a frame of more locals than that always starts a fresh
    # chunk, which is what keeps a leaf's calls off the boundary of the chunk below
    code = stackpad._padded.__code__
    assert code.co_nlocals * 8 > 2 * 16 * 1024

"""A Ctrl-C swallowed by a finalizer is raised again at the engine's next step."""

from __future__ import annotations

import gc

import pytest

from cexsearch import interrupt


class _Swallows:
    def __del__(self) -> None:  # where SIGINT often lands during a search: a Z3 object's finalizer
        interrupt.handler(2, None)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_swallowed_ctrl_c_is_raised_again_by_check(monkeypatch):
    monkeypatch.setattr(interrupt, "_requested", type(interrupt._requested)())
    interrupt.check()  # nothing pressed yet
    obj = _Swallows()
    del obj  # Python prints "Exception ignored in ... __del__" and goes on
    gc.collect()
    with pytest.raises(KeyboardInterrupt):
        interrupt.check()


def test_the_enumeration_stops_at_its_next_node_once_ctrl_c_was_requested(monkeypatch):
    from cexsearch.api import NetworkSettings, build_problem
    from cexsearch.engine.options import SearchOptions
    from cexsearch.engine.search import search

    monkeypatch.setattr(interrupt, "_requested", type(interrupt._requested)())
    interrupt._requested.set()
    problem = build_problem(NetworkSettings(bias=False).network("1-3-1"), 2, ["grad(W2) == 0", "grad(W1) != 0"])
    out = search(problem, SearchOptions(strategy="enumerate"))
    assert out.verdict == "unknown" and out.interrupted

"""Training steps in the condition language: W1@2, grad@1(W1), yhat@K, loss@(K-1), lr."""

from __future__ import annotations

import pytest

from cexsearch import lang as C
from cexsearch.api import NetworkSettings
from cexsearch.errors import ConditionError
from cexsearch.lang.syntax import Grad, Var

NET = NetworkSettings().network("1-2-1")


def keys(text: str, steps: int = 3) -> set[str]:
    return C.names_used(C.check(C.parse(text), NET, 2, steps).root)


def test_steps_are_read_where_python_would_not():
    # Python alone reads these as W1 @ (2[0, 0]) and (2 * W1) @ 1
    assert keys("W1@2[0, 0] == 0") == {"W1@2"}
    assert keys("2 * W1@1 == W1") == {"W1@1", "W1"}
    assert keys("grad@1(W1)[0, :] != 0") == {"grad@1(W1)"}
    assert keys("loss@K > loss@(K-1)") == {"loss@3", "loss@2"}
    assert keys("yhat@(K - 2)[0] == yhat@K[1]") == {"yhat@1", "yhat@3"}
    assert keys("lr <= 1") == {"lr"}


def test_at_step_moves_everything_but_the_data():
    root = C.parse("W1[0, 0] * x[0, 0] + b1[0] < y[0, 0] + grad(W2)[0, 0] + lr").root
    moved = C.names_used(C.at_step(root, 2))
    assert moved == {"W1@2", "x", "b1@2", "y", "grad@2(W2)", "lr"}


def test_relative_steps_resolve_once_K_is_known():
    cond = C.parse("W1@(K-1) == 0")
    assert isinstance(cond.root.left, Var) and cond.root.left.end
    resolved = C.check(cond, NET, 1, 4)
    assert resolved.root.left == Var("W1", 0, 3, False)
    assert isinstance(C.check(C.parse("grad@K(b1) == 0"), NET, 1, 2).root.left, Grad)


@pytest.mark.parametrize("text, steps, message", [
    ("W1@1 == 0", 0, "reads a training step, but there are none"),
    ("W1@5 == 0", 2, "outside the run of 2 steps"),
    ("W1@(K-3) == 0", 2, "outside the run of 2 steps"),
    ("x@1 == 0", 2, "x is the data: it does not change during training"),
    ("lr@1 == 0", 2, "the learning rate"),
    ("lr == 1", 0, "lr is the learning rate of training steps, and there are none"),
    ("W1 @ W1 == 0", 2, "@ marks a training step"),
    ("zz@1 == 0", 2, "unknown name 'zz'"),
])
def test_bad_steps_are_refused_with_the_fix(text, steps, message):
    with pytest.raises(ConditionError, match=message) as e:
        C.check(C.parse(text), NET, 2, steps)
    assert e.value.hint


def test_a_typed_name_is_never_taken_for_a_step():
    with pytest.raises(ConditionError, match="unknown name 'W1_2'"):
        C.parse("W1_2 == 0")


def test_the_message_shows_the_step_as_written():
    with pytest.raises(ConditionError, match=r"grad@\(K-1\)\(W1\) reads a training step, but there are none"):
        C.check(C.parse("grad@(K-1)(W1) == 0"), NET, 1, 0)
    with pytest.raises(ConditionError, match="W1@2 reads a training step"):
        C.check(C.parse("W1@2 == 0"), NET, 1, 0)

"""The pytest plugin on claims about a PyTorch module (torch = "model.py:Net"): the module's names and weights."""

from __future__ import annotations

import pytest

from cexsearch.workflows.claimfile import load_claims
from cexsearch.workflows.claims import check_claim

pytest.importorskip("torch")
pytest_plugins = ["pytester"]

PLUGIN = ("-p", "no:cexsearch", "-p", "cexsearch.pytest_plugin", "--cexsearch-shrink-time=0", "--cexsearch-no-store")

MODEL = '''
import torch
from torch import nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(1, 2)
        self.fc2 = nn.Linear(2, 1)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


def dead():
    net = Net()
    with torch.no_grad():
        net.fc2.weight.zero_()
    return net
'''

CLAIMS = '''
[[claim]]
name = "module names"
torch = "model.py:Net"
samples = "1..2"
given = ["grad(fc2.weight) == 0", "grad(fc2.bias) == 0"]
then = ["grad(fc1.weight) == 0"]
expect = "refuted"

[[claim]]
name = "module weights"
torch = "model.py:dead"
weights_from_module = true
samples = 2
then = ["grad(fc1.weight) == 0"]
expect = "holds"

[[claim]]
name = "fixed by module name"
torch = "model.py:Net"
samples = 1
fix = { "fc2.weight" = "0" }
then = ["grad(fc1.weight) == 0"]
expect = "holds"
'''


def test_torch_claims_run_as_items_with_the_verdicts_of_check(pytester):
    pytester.makepyfile(model=MODEL)
    pytester.makefile(".toml", my_claims=CLAIMS)
    # what check decides for them, as the plugin must
    verdicts = [check_claim(c).verdict for c in load_claims(str(pytester.path / "my_claims.toml"))]
    assert verdicts == ["refuted", "holds", "holds"]
    result = pytester.runpytest(*PLUGIN, "-v")
    out = result.stdout.str()
    # before: each item failed with "grad(...) takes a parameter name, got 'fc2.weight'" or
    # "cannot fix unknown name 'fc1.weight' (names: W1, b1, W2, b2, x, y)": the widths' network, not the module's
    assert "takes a parameter name" not in out and "unknown name" not in out, out
    result.assert_outcomes(passed=4)

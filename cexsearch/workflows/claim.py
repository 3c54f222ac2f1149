"""A claim: "for every weight and dataset allowed, if every `given` holds then every `then` holds".

The :class:`Claim` object validates itself when built, as a claim file or Python gives it;
:mod:`.claims` decides it, :mod:`.claimfile` reads claim files.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

from .. import lang as C
from ..api import NetworkSettings, build_problem, is_layer_notation, layer_network, parse_conditions, parse_input_shape
from ..engine.options import MAX_TIMEOUT, valid_timeout
from ..errors import ClaimFileError, InputError
from ..model.network import Network, nearest
from ..model.problem import Problem
from ..model.training import Training
from .claim_parse import _dotted, _jsonable, _strings, claim_loss, classification_keys
from .claim_parse import parse_sizes as parse_sizes  # where sweep and older callers find it
from .claim_training import check_training_keys, training_of

ClaimVerdict = Literal["holds", "refuted", "unknown"]
EXPECTS = ("holds", "refuted")
CLAIM_KEYS = ("name", "net", "samples", "given", "then", "fix", "integers", "bound", "expect", "note",
              "activation", "loss", "bias", "relu_grad_at_zero", "leaky_slope", "timeout", "markers", "torch",
              "weights_from_module", "input_shape", "huber_delta", "steps", "optimizer", "batch_size", "lr",
              "momentum", "invariant", "labels", "domain")
TORCH_DECIDES = ("net", "activation", "bias", "leaky_slope")  # keys a claim with torch = ... takes from the module
DEFAULT_KEYS = tuple(k for k in CLAIM_KEYS if k != "name")


@dataclass(frozen=True)
class Claim:
    """One claim.  ``net`` and ``samples`` accept what a claim file does (a list, a range).

    The network is ``net`` (widths and the settings below), or a PyTorch module: ``model``
    (an ``nn.Module``, an ``nn.Module`` class or a function returning one) in Python,
    ``torch = "PATH.py:NAME"`` (relative to the claim file) in a file.  Then conditions and
    ``fix`` use the module's parameter names, and ``weights_from_module`` fixes every
    parameter to the module's current values.
    """

    name: str
    net: Any = None
    samples: Any = None
    then: Any = ()
    expect: str = ""
    given: Any = ()
    fix: Any = field(default_factory=dict)
    integers: bool = False
    bound: Any = None
    note: str = ""
    activation: str = "relu"
    loss: str = "mse"
    bias: bool = True
    relu_grad_at_zero: int = 0
    leaky_slope: Any = "1/100"
    timeout: float | None = None
    markers: Any = ()  # pytest markers for the claim's test items (the pytest plugin); no effect on the verdict
    file: str | None = None
    line: int | None = None
    model: Any = None
    torch: str | None = None
    weights_from_module: bool = False
    input_shape: Any = None  # one sample's shape, for a net in PyTorch's notation: [1, 8] or "1,8"
    huber_delta: Any = None
    steps: Any = None  # training steps: then may read W1@t, grad@t(W1), ...; an invariant's search depth
    optimizer: str | None = None
    batch_size: Any = None
    lr: Any = None
    momentum: Any = None
    invariant: Any = ()  # conditions that hold at every step (proven by induction: see .invariant)
    labels: Any = None  # bce, ce: "hard" or "soft" targets (default: bce soft, ce hard)
    domain: Any = None  # bce, ce: the numbers a counterexample ranges over, "real" (default) or "rational"
    torch_network: Any = field(default=None, init=False, repr=False, compare=False)  # a torchnet.TorchNetwork
    all_sizes: bool = field(default=False, init=False)  # samples = "all": decided for every batch size

    def __post_init__(self) -> None:
        where = self.where
        if not isinstance(self.name, str) or not self.name.strip():
            raise ClaimFileError(f"name must be a non-empty string, got {self.name!r}", where=where)
        classification_keys(self.labels, self.domain, self.loss, where)
        if not isinstance(self.weights_from_module, bool):
            raise ClaimFileError(f"weights_from_module must be true or false, got {self.weights_from_module!r}",
                                 where=where)
        if self.model is not None or self.torch is not None:
            self._read_module(where)
        elif self.weights_from_module:
            raise ClaimFileError("weights_from_module needs a module", where=where,
                                 hint='add torch = "PATH.py:NAME" (or model= in Python)')
        nets = [self.net] if isinstance(self.net, str) else self.net
        if not isinstance(nets, (list, tuple)) or not nets or not all(isinstance(n, str) for n in nets):
            raise ClaimFileError(f"net must be a string such as \"1-1-1\" or a list of them, got {self.net!r}", where=where)
        object.__setattr__(self, "net", tuple(nets))
        object.__setattr__(self, "all_sizes", self.samples == "all")
        object.__setattr__(self, "samples", parse_sizes(self.samples, where))
        object.__setattr__(self, "given", _strings(self.given, "given", where))
        object.__setattr__(self, "invariant", _strings(self.invariant, "invariant", where))
        object.__setattr__(self, "then", _strings(self.then, "then", where, allow_empty=bool(self.invariant)))
        if self.invariant and self.then:
            raise ClaimFileError("a claim has then or invariant, not both", where=where,
                                 hint="write two claims: one for a step, one for every step")
        check_training_keys(self, where)
        if self.expect not in EXPECTS:
            guess = nearest(str(self.expect), EXPECTS)
            raise ClaimFileError(f"expect must be \"holds\" or \"refuted\", got {self.expect!r}", where=where,
                                 hint=f"did you mean {guess!r}?" if guess else None)
        if not isinstance(self.fix, dict):
            raise ClaimFileError(f"fix must be a table such as {{ W1 = \"1\" }}, got {self.fix!r}", where=where)
        # TOML reads fix.fc1.weight = 1 as a nested table: a module's names are dotted
        object.__setattr__(self, "fix", _dotted(self.fix) if self.torch_network is not None else dict(self.fix))
        for key, kind in (("integers", bool), ("bias", bool), ("note", str), ("activation", str), ("loss", str)):
            if not isinstance(getattr(self, key), kind):
                raise ClaimFileError(f"{key} must be a {kind.__name__}, got {getattr(self, key)!r}", where=where)
        marks = [self.markers] if isinstance(self.markers, str) else self.markers
        if not isinstance(marks, (list, tuple)) or not all(isinstance(m, str) and m.isidentifier() for m in marks):
            raise ClaimFileError(f"markers must be a list of pytest marker names, got {C.brief(self.markers)}",
                                 where=where, hint='e.g. markers = ["slow"]')
        object.__setattr__(self, "markers", tuple(marks))
        if self.relu_grad_at_zero not in (0, 1) or isinstance(self.relu_grad_at_zero, bool):
            raise ClaimFileError(f"relu_grad_at_zero must be 0 or 1, got {self.relu_grad_at_zero!r}", where=where)
        if self.timeout is not None and not valid_timeout(self.timeout):
            raise ClaimFileError(f"timeout must be a positive number of seconds, got {self.timeout!r}", where=where,
                                 hint=f"e.g. timeout = 60, at most {MAX_TIMEOUT}")
        try:
            for key in ("bound", "leaky_slope"):
                raw = getattr(self, key)
                if raw is not None:
                    if isinstance(raw, (list, tuple, dict)):
                        raise ClaimFileError(f"{key} must be a number, got {C.brief(raw)}", where=where,
                                             hint=f'write one number, e.g. {key} = "1/100"')
                    object.__setattr__(self, key, C.value_tree(raw, key))
            self._check_layer_settings(where)
            if not self.layer_nets and self.torch_network is None:
                self.settings().network("1-1")  # validates activation, loss
            self.networks()  # a bad layer, argument or input shape fails here, with its column
            self.given_conditions()
            self.then_conditions()
            parse_conditions(self.invariant, "invariant", self.names)
            if self.all_sizes:
                from .allsizes import check_form

                for network in self.networks():
                    check_form(self, network)
        except ClaimFileError:
            raise
        except InputError as e:
            raise ClaimFileError(e.message, source=e.source, column=e.column, where=where, hint=e.hint) from None

    @property
    def where(self) -> str:
        place = f"{self.file}:{self.line}" if self.file and self.line else (self.file or "")
        label = f"claim {self.name!r}" if isinstance(self.name, str) else "claim"
        return f"{place}: {label}" if place else label

    def _read_module(self, where: str) -> None:
        """Read the network from ``model`` or ``torch = "PATH.py:NAME"``."""
        from ..model.torchnet import instantiate, load_reference, network_from_module

        if self.model is not None and self.torch is not None:
            raise ClaimFileError("model and torch both give the module", where=where, hint="give one of them")
        if self.net is not None:
            raise ClaimFileError("net and a module both give the network", where=where,
                                 hint="drop net: the module's layers decide the widths")
        if self.relu_grad_at_zero not in (0, 1) or isinstance(self.relu_grad_at_zero, bool):
            raise ClaimFileError(f"relu_grad_at_zero must be 0 or 1, got {self.relu_grad_at_zero!r}", where=where)
        try:
            if self.torch is not None:
                if not isinstance(self.torch, str):
                    raise ClaimFileError(f"torch must be a string \"PATH.py:NAME\", got {self.torch!r}", where=where)
                base = Path(self.file).parent if self.file else None
                module, label = load_reference(self.torch, base, "torch =")
            else:
                label = "model"
                module = instantiate(self.model, label)
            shape = self.input_shape  # normalised again (and checked) by _check_layer_settings
            shape = parse_input_shape(shape, "input_shape") if isinstance(shape, str) else shape
            delta = C.value_tree(self.huber_delta, "huber_delta") if self.huber_delta is not None else None
            found = network_from_module(module, label, claim_loss(self.loss, self.labels), self.relu_grad_at_zero,
                                        tuple(shape) if shape is not None else None, delta, "input_shape")
        except ClaimFileError:
            raise
        except InputError as e:
            raise ClaimFileError(e.message, where=where, hint=e.hint) from None
        object.__setattr__(self, "torch_network", found)
        object.__setattr__(self, "net", found.network.text)

    @property
    def over(self) -> str:
        """The numbers a counterexample ranges over (Problem.over): the ``domain`` key, real by default."""
        return str(self.domain or "real")

    @property
    def names(self) -> Any:
        """The module's parameter names (a :class:`ParameterNames`), or None for a network of widths."""
        return self.torch_network.network.names if self.torch_network is not None else None

    @property
    def layer_nets(self) -> bool:
        """Whether ``net`` is written in PyTorch's notation (every entry then is; see _check_layer_settings)."""
        return self.torch_network is None and any(is_layer_notation(n) for n in self.net)

    def _check_layer_settings(self, where: str) -> None:
        if self.input_shape is not None:
            shape = self.input_shape
            if isinstance(shape, str):
                shape = [int(p) if p.strip().isdigit() else p for p in shape.strip().strip("()[]").split(",")]
            if not (isinstance(shape, (list, tuple)) and shape
                    and all(isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in shape)):
                raise ClaimFileError(f"input_shape must be one sample's sizes, positive integers, got "
                                     f"{C.brief(self.input_shape)}", where=where,
                                     hint="e.g. input_shape = [1, 8] for Conv1d(1, ...) on length 8")
            object.__setattr__(self, "input_shape", tuple(shape))
        if not self.layer_nets:
            for key in ("input_shape", "huber_delta") if self.torch_network is None else ():
                if getattr(self, key) is not None:
                    raise ClaimFileError(f"{key} needs a net in PyTorch's notation", where=where,
                                         hint=f'drop {key}, or write net as layers, e.g. "Sequential(Linear(1, 1))"')
            return
        if not all(is_layer_notation(n) for n in self.net):
            raise ClaimFileError("net mixes PyTorch's notation and widths", where=where,
                                 hint="write one claim for each, or every net as layers")
        if self.input_shape is None:
            raise ClaimFileError("a net in PyTorch's notation needs input_shape", where=where,
                                 hint="give one sample's shape, e.g. input_shape = [1, 8] for Conv1d(1, ...) on length 8")
        mlp = [k for k, default in (("activation", "relu"), ("bias", True), ("leaky_slope", Fraction(1, 100)))
               if getattr(self, k) != default]
        if mlp:
            raise ClaimFileError(f"{mlp[0]} conflicts with a net in PyTorch's notation: its layers decide it",
                                 where=where, hint=f"drop {mlp[0]} and write it in the layers, e.g. LeakyReLU(0.1) or bias=False")
        if self.huber_delta is not None:
            object.__setattr__(self, "huber_delta", C.value_tree(self.huber_delta, "huber_delta"))
            if not isinstance(self.huber_delta, Fraction):
                raise ClaimFileError(f"huber_delta must be a number, got {C.brief(self.huber_delta)}", where=where)

    def _layer_model(self, text: str) -> Any:
        shape = ",".join(str(d) for d in self.input_shape)
        try:
            return layer_network(text, shape, claim_loss(self.loss, self.labels), self.relu_grad_at_zero,
                                 self.huber_delta)
        except InputError as e:  # the CLI's words for these settings are the claim file's keys here
            def keys(text: str) -> str:
                for option in ("--input-shape", "--loss", "--huber-delta"):
                    text = text.replace(option, option[2:].replace("-", "_"))
                return text

            raise ClaimFileError(keys(e.message), source=e.source, column=e.column, where=self.where,
                                 hint=keys(e.hint) if e.hint else e.hint) from None

    def training(self, steps: int | None = None) -> Training | None:
        """The training run a case's conditions read: ``steps`` (this claim's by default) of its optimizer."""
        return training_of(self, steps)

    def settings(self) -> NetworkSettings:
        return NetworkSettings(self.activation, Fraction(self.leaky_slope), self.bias, self.loss, self.relu_grad_at_zero)

    def network_for(self, text: str) -> Network:
        """The network of one of ``net``'s widths (the module's, for a claim about a module)."""
        if self.torch_network is not None:
            return self.torch_network.network
        if self.layer_nets:
            return self._layer_model(text)
        return self.settings().network(text)

    def networks(self) -> list[Network]:
        if self.torch_network is not None:
            return [self.torch_network.network]
        if self.layer_nets:
            return [self._layer_model(n) for n in self.net]
        try:
            return [self.settings().network(n) for n in self.net]
        except InputError as e:
            raise ClaimFileError(e.message, where=self.where, hint=e.hint) from None

    def given_conditions(self) -> tuple[C.Condition, ...]:
        return parse_conditions(self.given, "given", self.names)

    def then_conditions(self) -> tuple[C.Condition, ...]:
        return parse_conditions(self.then, "then", self.names)

    def negation_text(self) -> str:
        """The condition a refuting witness meets: not (then_1 and then_2 and ...)."""
        return "not (" + " and ".join(f"({t})" for t in self.then) + ")"

    def problem(self, network: Network, samples: int, conditions: Any = None, training: Any = None) -> Problem:
        """The search problem at one size: given and not-then (or ``conditions``, with ``training``),
        with this claim's fixed values and domain."""
        conds = list(self.given) + [self.negation_text()] if conditions is None else list(conditions)
        try:
            from ..model.problem import FixedValues

            network.check_samples(samples, "samples")  # before a fixed value fills x or y
            parts = [C.fixed_values(name, (), raw, network, samples, f"fix.{name}") for name, raw in self.fix.items()]
            if self.weights_from_module:
                parts.insert(0, self.torch_network.weights)
            fixed = C.combine_fixed(parts, network) if parts else FixedValues()
            return build_problem(network, samples, conds, fixed=fixed, integers=self.integers,
                                 bound=Fraction(self.bound) if self.bound is not None else None,
                                 training=training if conditions is not None else self.training(), over=self.over)
        except InputError as e:
            msg = e.message
            where = f"{self.where} at {network.text} x {samples}"
            raise ClaimFileError(msg, source=e.source, column=e.column, where=where, hint=e.hint) from None

    def validate(self) -> None:
        """Build every case's problem once, so a bad claim fails before any search runs."""
        for network in self.networks():
            for s in self.samples:
                if self.invariant:
                    from .invariant import problems

                    problems(self, network, s)
                else:
                    self.problem(network, s)

    def fingerprint(self) -> str:
        """What decides the claim's verdict (not its name, note or expectation)."""
        body = {
            "net": list(self.net), "samples": list(self.samples), "given": list(self.given), "then": list(self.then),
            "fix": {k: _jsonable(v) for k, v in sorted(self.fix.items())}, "integers": self.integers,
            "bound": str(self.bound) if self.bound is not None else None, "settings": repr(self.settings()),
        }
        if self.labels is not None or self.domain is not None:  # a loss with exp: its labels and numbers
            body.update(labels=self.labels, domain=self.over)
        if self.invariant or self.steps is not None or self.all_sizes:
            body.update(invariant=list(self.invariant), training=repr(self.training()), all_sizes=self.all_sizes)
        if self.layer_nets:  # the layers are in net; their input shape and the loss's delta decide it too
            body["input_shape"] = list(self.input_shape)
            body["huber_delta"] = str(self.huber_delta) if self.huber_delta is not None else None
        if self.torch_network is not None:  # the module's layers, names and (when fixed) weights decide it too
            body["module"] = self.torch_network.digest() if self.weights_from_module else repr(self.torch_network.network)
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]

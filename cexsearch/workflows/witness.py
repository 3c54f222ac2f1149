"""Witness documents: an outcome as JSON with every value exact, and back.

A document is self-contained: network, conditions as written, fixed values,
domain and every value, so :func:`load_document` plus
:func:`cexsearch.semantics.numeric.recheck` can re-decide it without Z3.  Exact values
are strings (``"-2/3"``) with their float beside them.
"""

from __future__ import annotations

import json
from fractions import Fraction
from typing import Any

import numpy as np

from .. import __version__
from .. import lang as C
from ..engine.search import Outcome
from ..errors import InputError, TooLarge, WitnessFileError
from ..files import write_atomic as write_atomic  # where claims.py and older callers find it
from ..model.network import Network, ParameterNames
from ..model.problem import Assignment, Domain, FixedValues, Problem
from ..semantics.numeric import Evaluation, Recheck
from ..semantics.written import exact_text as _exact_text
from ..semantics.written import float_or_none as _float_or_none
from . import witness_classify as CL
from .witness_training import read_lr, read_training, run_doc, training_doc

SCHEMA = "cexsearch.witness/1"
OTHER_DOCUMENTS = {"cexsearch.check/1": "a check report (check --json)", "cexsearch.sweep/1": "a sweep grid (sweep --json)"}


def exact_text(v: Any) -> str:
    """A rational as ``n/d``; a value with exp (bce, ce) as its symbolic form (:mod:`.witness_classify`)."""
    return _exact_text(v)


def _nested(arr: np.ndarray, conv: Any) -> Any:
    a = np.asarray(arr, dtype=object)
    if a.ndim == 0:
        return conv(a.item())
    return [_nested(sub, conv) for sub in a]


def float_or_none(v: Any) -> float | None:
    """The float64 nearest an exact value, or None (JSON null) beyond float64's range: JSON has no inf."""
    return _float_or_none(v)


def tensor_doc(arr: np.ndarray) -> dict[str, Any]:
    if not CL.all_rational(arr):  # p, gradients of bce, ce: symbolic forms with their decimals
        return CL.symbolic_tensor_doc(arr)
    return {
        "shape": list(np.asarray(arr, dtype=object).shape),
        "exact": _nested(arr, exact_text),
        "float": _nested(arr, float_or_none),
    }


def network_doc(net: Network) -> dict[str, Any]:
    if not isinstance(net, Network):
        return layer_network_doc(net)
    doc: dict[str, Any] = {
        "widths": list(net.widths),
        "activation": net.activation,
        "leaky_slope": exact_text(net.leaky_slope),
        "bias": net.bias,
        "loss": net.loss,
        "relu_grad_at_zero": net.relu_grad_at_zero,
    }
    if net.names is not None:  # a network from PyTorch: W1, b1, ... as the module calls them
        doc["parameter_names"] = dict(net.names.aliases)
    return doc


def problem_doc(problem: Problem) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "network": network_doc(problem.network),
        "samples": problem.samples,
        "conditions": [c.text for c in problem.conditions],
        "fixed": [{"name": problem.network.label(n), "index": list(i), "value": exact_text(v)}
                  for n, i, v in problem.fixed.items],
        "domain": {
            "integers": problem.domain.integers,
            "bound": exact_text(problem.domain.bound) if problem.domain.bound is not None else None,
        },
    }
    if getattr(getattr(problem.network, "loss", None), "link", ""):  # bce, ce: the numbers a witness ranges over
        doc["domain"]["over"] = problem.over
    if problem.training is not None:  # K steps of training: the spec (witness_training.py)
        doc["training"] = training_doc(problem.training)
    return doc


def tool_doc() -> dict[str, str]:
    from ..engine.solver import z3_version

    return {"name": "cexsearch", "version": __version__, "z3": z3_version()}


def evaluation_doc(a: Assignment, ev: Evaluation) -> dict[str, Any]:
    values = {}
    for name in a.network.variable_names():
        arr = np.empty(len(a.flat(name)), dtype=object)
        arr[:] = list(a.flat(name))
        values[a.network.label(name)] = tensor_doc(arr.reshape(a.network.shape(name, a.samples)))
    return {
        "values": values,
        "yhat": tensor_doc(ev.yhat),
        "residual": tensor_doc(ev.residual),
        "loss": CL.scalar_doc(ev.loss),
        "gradients": {a.network.label(p): tensor_doc(g)
                      for p, g in sorted(ev.gradients.items(), key=lambda kv: _param_key(kv[0]))},
        # an MLP's last pre-activation is yhat; a layer model lists the inputs of its activation layers
        "pre_activations": [tensor_doc(z) for z in (ev.pre_activations[:-1] if isinstance(a.network, Network)
                                                    else ev.pre_activations)],
        "activation_pattern": [[[_piece(v) for v in np.asarray(layer[m]).reshape(-1)] for layer in ev.pattern]
                               for m in range(a.samples)],
    } | ({"p": tensor_doc(ev.trace.probabilities)} if ev.trace is not None and ev.trace.probabilities is not None
         else {})


def _piece(v: Any) -> bool | int:
    """True for the active branch of a two-piece activation, else the index of the piece taken."""
    return bool(v) if isinstance(v, (bool, np.bool_)) else int(v)


def layer_network_doc(model: Any) -> dict[str, Any]:
    """A layer model (:class:`cexsearch.model.Model`): its notation, input shape, loss and every layer's shapes."""
    return {
        "notation": model.text,
        "input_shape": list(model.input_shape),
        "loss": model.loss.name,
        **CL.loss_keys(model.loss),
        "loss_settings": {k: exact_text(v) for k, v in model.loss.settings},
        "relu_grad_at_zero": model.settings.relu_grad_at_zero,
        "layers": [{"path": info.path, "notation": info.notation, "kind": info.kind,
                    "input_shape": list(info.input_shape), "output_shape": list(info.output_shape),
                    "parameters": [{"name": p, "shape": list(model.shape(p, 1))} for p in info.parameters]}
                   for info in model.summary()],
    }


def _layer_network(nd: dict[str, Any], where: str) -> Any:
    """The model of a document's layer network: parse_model of the stored notation, checked against its layers."""
    from ..model.notation import parse_model

    shape = _need(nd, "input_shape", list, where)
    if not shape or not all(type(s) is int and s >= 1 for s in shape):
        raise WitnessFileError(f"network.input_shape should be positive integers, got {C.brief(shape)}", where=where)
    from ..model.losses import loss as make_loss

    settings = _need(nd, "loss_settings", dict, where) if "loss_settings" in nd else {}
    labels = CL.read_labels(nd, where)
    loss = make_loss(_need(nd, "loss", str, where), **({"labels": labels} if labels else {}),
                     **{k: _number(v, f"{where}.loss_settings.{k}") for k, v in settings.items()})
    model = parse_model(_need(nd, "notation", str, where), tuple(shape), loss=loss,
                        relu_grad_at_zero=_need(nd, "relu_grad_at_zero", int, where))
    if "layers" in nd and nd["layers"] != layer_network_doc(model)["layers"]:
        raise WitnessFileError("network.layers do not match network.notation", where=where,
                               hint="the layer list is derived from the notation: was the file edited by hand?")
    return model


def _param_key(p: str) -> tuple[int, str]:
    return (int(p[1:]), p[0] == "b" and "b" or "A")


def recheck_doc(check: Recheck) -> dict[str, Any]:
    return {
        "exact": all(c.holds for c in check.conditions),
        "conditions": [{"text": c.text, "holds": c.holds} for c in check.conditions],
        "float_max_deviation": float_or_none(check.float_deviation),  # null: the float64 pass overflowed
    }


def outcome_document(outcome: Outcome, seed: int = 0, rlimit: int | None = None) -> dict[str, Any]:
    """The witness document of a search outcome (found, none or unknown)."""
    s = outcome.stats
    doc: dict[str, Any] = {"schema": SCHEMA, "tool": tool_doc()}
    doc.update(problem_doc(outcome.problem))
    doc["verdict"] = outcome.verdict
    doc["reason"] = outcome.reason
    if outcome.witness is not None and outcome.recheck is not None:
        doc.update(evaluation_doc(outcome.witness, outcome.recheck.evaluation))
        if outcome.recheck.run is not None:  # the run's lr and trajectory, from the exact replay
            doc.update(run_doc(outcome.recheck.run, outcome.problem.network, outcome.problem.samples))
        doc["check"] = recheck_doc(outcome.recheck)
    if outcome.domain:  # bce, ce: what the verdict covers; a witness found over the reals has a box
        doc["verdict_domain"] = outcome.domain
    if outcome.certificate is not None:
        doc["certificate"] = CL.certificate_doc(outcome.certificate, outcome.problem.network.label)
    if outcome.algebraic:
        doc["algebraic"] = [
            {"name": v.name, "polynomial": list(v.coefficients), "root_index": v.root_index, "decimal": v.decimal}
            for v in outcome.algebraic
        ]
    doc["search"] = {
        "strategy": s.strategy,
        "total_patterns": s.total_patterns,
        # a replayed or extended witness was tried by no solver: tried is 0 there, not 1
        "decided_unsat": max(s.tried - (1 if outcome.verdict == "found" else 0), 0),
        "pruned": s.pruned,
        "undecided": s.undecided,
        "remaining": s.remaining,
        "solver_checks": s.solver_checks,
        "covered_by_symmetry": s.by_symmetry,
        "blocked_by_learned_cores": s.blocked,
        "covered_by_decomposition": s.by_decomposition,
        "elapsed_seconds": round(s.elapsed, 6),
    }
    if outcome.symmetry is not None:
        doc["search"]["symmetry"] = {"samples": outcome.symmetry.samples,
                                     "hidden_layers": sorted(outcome.symmetry.layers)}
    if outcome.shrink:
        doc["shrink"] = list(outcome.shrink)
    if outcome.cross_checks:
        doc["cross_checks"] = list(outcome.cross_checks)
    if outcome.verdict == "none":
        # Enough to re-run any one decision: the solver, its settings, and each pattern prefix
        # (rows are samples, one character per hidden unit, 1 = active) with how it was decided.
        doc["audit"] = {
            "solver": f"z3 {tool_doc()['z3']}",
            "tactic": "simplify; qfnra-nlsat per pattern (qfnia with integer domains); smt for the If-encoding",
            "seed": seed,
            "rlimit": rlimit,
            "symmetry_breaking": "rows (samples) and columns of interchangeable hidden units in lexicographic order",
            "decisions": [{"pattern": p, "how": how, "patterns": n} for p, how, n in outcome.audit],
            "complete_list": len(outcome.audit) < 10_000,
        }
    return doc


def dumps(doc: Any) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


# --------------------------------------------------------------------------
# Reading documents back


def _need(doc: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in doc:
        raise WitnessFileError(f"missing field {key!r}", where=where, hint="was this file written by cexsearch find or check?")
    value = doc[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise WitnessFileError(f"field {key!r} should be {names}, got {value!r}", where=where)
    return value


def _number(v: Any, where: str) -> Fraction:
    if isinstance(v, bool) or not isinstance(v, (str, int)):
        raise WitnessFileError(f"{v!r} is not an exact number", where=where, hint='exact values are strings such as "-2/3"')
    try:
        return C.parse_number(str(v))
    except InputError as e:
        raise WitnessFileError(e.message, where=where, hint=e.hint if isinstance(e, TooLarge) else
                               'exact values are strings such as "-2/3"') from None


def _parameter_names(raw: Any, where: str) -> ParameterNames | None:
    """The alias table of a network from PyTorch, as ``network_doc`` writes it."""
    if raw is None:
        return None
    if not isinstance(raw, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in raw.items()):
        raise WitnessFileError(f"field 'network.parameter_names' should map W1, b1, ... to names, got {C.brief(raw)}",
                               where=where)
    return ParameterNames(tuple(raw.items()))


def _mlp_network(nd: dict[str, Any], where: str) -> Network:
    widths = _need(nd, "widths", list, f"{where}: network")
    if not all(isinstance(w, int) and not isinstance(w, bool) for w in widths):
        raise WitnessFileError(f"network widths must be integers, got {widths!r}", where=where)
    return Network(
        tuple(widths),
        names=_parameter_names(nd.get("parameter_names"), where),
        activation=_need(nd, "activation", str, f"{where}: network"),  # type: ignore[arg-type]
        leaky_slope=_number(nd.get("leaky_slope", "1/100"), f"{where}: network.leaky_slope"),
        bias=_need(nd, "bias", bool, f"{where}: network"),
        loss=_need(nd, "loss", str, f"{where}: network"),  # type: ignore[arg-type]
        relu_grad_at_zero=_need(nd, "relu_grad_at_zero", int, f"{where}: network"),
    )


def load_document(text: str, where: str = "witness") -> tuple[Problem, Assignment | None, dict[str, Any]]:
    """Parse a witness document into the problem it answers and its values."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise WitnessFileError(f"not JSON: {e.msg} at line {e.lineno} column {e.colno}", where=where) from None
    except RecursionError:
        raise WitnessFileError("not JSON cexsearch reads: nested too deeply", where=where,
                               hint="a witness document is nested a few levels; was it written by cexsearch?") from None
    except ValueError:  # an integer of more than 4300 digits
        raise WitnessFileError("not JSON cexsearch reads: an integer has too many digits", where=where,
                               hint='exact values are strings such as "-2/3"; was it written by cexsearch?') from None
    if not isinstance(doc, dict):
        raise WitnessFileError("a witness document is a JSON object", where=where)
    schema = _need(doc, "schema", str, where)
    if schema in OTHER_DOCUMENTS:  # a document cexsearch wrote, but not a witness: say what it is and where they are
        raise WitnessFileError(f"this is {OTHER_DOCUMENTS[schema]} ({schema!r}), not a witness document",
                               where=where, hint=f"verify reads {SCHEMA!r} documents: a claim's witness is in its "
                               "store (.cexsearch/witnesses/<claim>.json), a size's from find --json")
    if schema != SCHEMA:
        raise WitnessFileError(f"unknown schema version {schema!r}", where=where, hint=f"this cexsearch reads {SCHEMA!r}")
    nd = _need(doc, "network", dict, where)
    try:
        net = _layer_network(nd, f"{where}: network") if "notation" in nd else _mlp_network(nd, where)
        samples = _need(doc, "samples", int, where)
        net.check_samples(samples, "samples")
        training = read_training(doc, samples, where)
        steps = training.steps if training is not None else 0
        texts = _need(doc, "conditions", list, where)
        conds = []
        for t in texts:
            if not isinstance(t, str):
                raise WitnessFileError(f"condition {t!r} is not a string", where=where)
            conds.append(C.check(C.parse(t, net.names), net, samples, steps))
        fixed_items = []
        fixed = doc.get("fixed")
        if not isinstance(fixed, (list, type(None))):
            raise WitnessFileError(f"field 'fixed' should be a list, got {C.brief(fixed)}", where=where,
                                   hint='a list of objects such as {"name": "x", "index": [0, 0], "value": "1"}')
        for item in fixed or []:
            if not isinstance(item, dict):
                raise WitnessFileError(f"fixed entry {C.brief(item)} is not an object", where=where)
            shown = _need(item, "name", str, f"{where}: fixed")
            name = (net.names.internal(shown) if net.names is not None else None) or shown
            if shown != net.label(name) or name not in net.variable_names():
                raise WitnessFileError(f"fixed entry names {shown!r}, which cannot be fixed", where=where,
                                       hint=f"fix one of {', '.join(net.labels()[n] for n in net.variable_names())}; "
                                       "yhat and gradients "
                                       "follow from them")
            index = tuple(_need(item, "index", list, f"{where}: fixed"))
            shape = net.shape(name, samples)
            if len(index) != len(shape) or not all(type(i) is int and 0 <= i < s for i, s in zip(index, shape)):
                raise WitnessFileError(f"fixed index {C.brief(list(index))} does not fit {name} of shape {shape}",
                                       where=where)
            fixed_items.append((name, index, _number(item.get("value"), f"{where}: fixed {name}")))
        dom = doc.get("domain", {}) or {}
        if not isinstance(dom, dict):
            raise WitnessFileError("field 'domain' should be an object", where=where)
        integers = dom.get("integers", False)
        if not isinstance(integers, bool):
            raise WitnessFileError(f"field 'domain.integers' should be true or false, got {C.brief(integers)}",
                                   where=where, hint="write true or false")
        bound = dom.get("bound")
        problem = Problem(net, samples, tuple(conds), FixedValues(tuple(sorted(fixed_items))),
                          Domain(integers, _number(bound, where) if bound is not None else None), training,
                          over=CL.read_over(dom, where))
        values = doc.get("values")
        if values is None:
            return problem, None, doc
        if not isinstance(values, dict):
            raise WitnessFileError("field 'values' should be an object", where=where)
        entries_ = []
        for internal in net.variable_names():
            name = net.label(internal)
            if name not in values:
                raise WitnessFileError(f"values has no {name!r}", where=where)
            td = values[name]
            exact = _need(td, "exact", list, f"{where}: values.{name}") if isinstance(td, dict) else None
            if exact is None:
                raise WitnessFileError(f"values.{name} should be an object with 'exact'", where=where)
            shape = net.shape(internal, samples)
            found = C.regular(exact, len(shape))
            if found is None:
                raise WitnessFileError(f"values.{name} is not a nested list of shape {list(shape)}", where=where,
                                       hint="was this file written by cexsearch find or check?")
            if found[0] != shape:
                raise WitnessFileError(f"values.{name} has shape {list(found[0])}, the network needs {list(shape)}",
                                       where=where)
            entries_.append((internal, tuple(_number(v, f"{where}: values.{name}") for v in found[1])))
        lr = read_lr(doc, training, where) if training is not None else None
        return problem, Assignment(net, samples, tuple(entries_), lr), doc
    except WitnessFileError:
        raise
    except InputError as e:  # a network, condition or value that the shared readers refuse
        inner = f"{where}: {e.where}" if e.where else where
        raise WitnessFileError(e.message, source=e.source, column=e.column, where=inner, hint=e.hint) from None

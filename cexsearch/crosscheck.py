"""Cross-checks that share no code with the solver path: PyTorch autograd and cvc5.

Two second opinions, each optional and each imported only when asked for:

* :func:`torch_cross_check` rebuilds the network of a witness in PyTorch
  (float64 tensors, ``requires_grad``), lets autograd differentiate the batch
  loss and compares every gradient with the exact values of
  :func:`cexsearch.numeric.exact_gradients`.  Nothing of ``numeric.py`` or
  ``encode.py`` is used to compute the torch side: the layers, the loss and the
  activation are PyTorch's own (``torch.relu``, ``F.leaky_relu``,
  ``nn.MSELoss``), except where the chosen derivative at 0 is not PyTorch's.

  The derivative at exactly 0.  PyTorch's ``relu`` backward uses 0 there and
  ``leaky_relu``'s uses the negative slope: both are ``relu_grad_at_zero = 0``,
  so with that setting the built-in functions are used as they are.  With
  ``relu_grad_at_zero = 1`` a small ``torch.autograd.Function`` with the same
  forward values and derivative 1 at 0 stands in for them, so that torch
  computes the *same* convention; the report counts the hidden pre-activations
  that are exactly 0 (exactly, from the Fractions) and says whether PyTorch's
  built-in activation would have given other gradients there.  That difference
  is a choice of convention, never reported as a disagreement.

* :func:`cvc5_decide` decides an SMT-LIB 2 text with cvc5, and
  :func:`cvc5_cross_check_pattern` re-decides one activation pattern's
  constraints (written out by :func:`z3_to_smt2`) and compares with Z3.  cvc5
  reads the text with its own parser (``cvc5.InputParser`` and
  ``cvc5.SymbolManager``): no Z3 object crosses over, only the text.

Both raise :class:`cexsearch.errors.InputError` with an install hint when the
package is missing, so the CLI can map that to exit code 2.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from .errors import CexsearchError, InputError
from .spec import Assignment, Network

if TYPE_CHECKING:  # z3 is imported inside the functions that need it
    import z3

SolverAnswer = Literal["sat", "unsat", "unknown"]

#: Relative tolerance of the torch comparison; see :func:`torch_cross_check`.
TORCH_RTOL = 1e-9

TORCH_HINT = "pip install 'cexsearch[torch]' (on these machines: pip install torch==2.13.0)"
CVC5_HINT = "pip install 'cexsearch[cvc5]'"


class CrossCheckError(CexsearchError):
    """A cross-check could not run: e.g. cvc5 could not read the SMT-LIB text it was given."""


# ---------------------------------------------------------------------------
# PyTorch
# ---------------------------------------------------------------------------


def _import_torch() -> Any:
    try:
        import torch
    except ImportError as e:
        raise InputError("--cross-check torch needs PyTorch", hint=TORCH_HINT) from e
    return torch


def torch_available() -> bool:
    """Whether ``--cross-check torch`` can run here (PyTorch importable)."""
    try:
        _import_torch()
    except InputError:
        return False
    return True


def _matrix(a: Assignment, name: str) -> list[list[Fraction]]:
    """A 2-D value of the assignment as nested lists (a bias becomes one row)."""
    shape = a.network.shape(name, a.samples)
    flat = list(a.flat(name))
    if len(shape) == 1:
        return [flat]
    rows, cols = shape
    return [flat[r * cols:(r + 1) * cols] for r in range(rows)]


def _tensor(torch: Any, a: Assignment, name: str, requires_grad: bool) -> Any:
    shape = a.network.shape(name, a.samples)
    values = [float(v) for v in a.flat(name)]  # float(Fraction) rounds correctly
    t = torch.tensor(values, dtype=torch.float64).reshape(shape)
    return t.requires_grad_(requires_grad)


def _zero_active_activation(torch: Any) -> Any:
    """An autograd Function: relu / leaky_relu whose derivative at exactly 0 is 1.

    Forward: z where z >= 0, slope * z below (the value at 0 is 0 either way).
    Backward: the incoming gradient times 1 where z >= 0, times slope below.
    """

    class ZeroActive(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, z: Any, slope: float) -> Any:  # type: ignore[override]
            on = z >= 0
            ctx.save_for_backward(on)
            ctx.slope = slope
            return torch.where(on, z, z * slope)

        @staticmethod
        def backward(ctx: Any, grad: Any) -> Any:  # type: ignore[override]
            (on,) = ctx.saved_tensors
            return torch.where(on, grad, grad * ctx.slope), None

    return ZeroActive


def _torch_activation(torch: Any, net: Network, native: bool) -> Any:
    """The hidden activation as a torch callable, honouring relu_grad_at_zero unless ``native``."""
    import torch.nn.functional as F

    if net.activation == "linear":
        return lambda z: z
    slope = 0.0 if net.activation == "relu" else float(net.leaky_slope)
    if net.relu_grad_at_zero == 0 or native:
        # PyTorch's own backward: relu' (0) = 0, leaky_relu' (0) = negative slope,
        # which is exactly relu_grad_at_zero = 0 in cexsearch's terms.
        if net.activation == "relu":
            return torch.relu
        return lambda z: F.leaky_relu(z, negative_slope=slope)
    fn = _zero_active_activation(torch)
    return lambda z: fn.apply(z, slope)


@dataclass(frozen=True)
class _TorchPass:
    gradients: dict[str, np.ndarray]
    rounded_off_zero: int  # exact 0, float64 not 0 (snapped back to 0)
    sign_flips: int  # exact value non-zero, float64 on the other side of 0 (or at 0)


def _torch_pass(assignment: Assignment, native: bool) -> _TorchPass:
    """Forward pass and autograd in torch.

    A hidden pre-activation that is exactly 0 can come out of float64 as
    +-1e-17 (1/100 has no binary form), which puts it on a branch the exact
    semantics never takes: for those entries alone the float value is replaced
    by an exact 0.0 with the gradient passed through unchanged (``z - z.detach()``),
    so that the activation, PyTorch's own or the one above, sees the 0 and applies
    its convention there.  Nothing else of the exact pass enters torch.
    """
    torch = _import_torch()
    net = assignment.network
    act = _torch_activation(torch, net, native)
    params = {p: _tensor(torch, assignment, p, requires_grad=True) for p in net.parameter_names()}
    x = _tensor(torch, assignment, "x", requires_grad=False)
    y = _tensor(torch, assignment, "y", requires_grad=False)
    exact_z = _hidden_pre_activations(assignment)
    rounded = flips = 0
    a = x
    for k in range(1, net.depth + 1):
        z = a @ params[f"W{k}"].T
        if net.bias:
            z = z + params[f"b{k}"]
        if k == net.depth:
            a = z
            break
        signs = torch.tensor([[(v > 0) - (v < 0) for v in row] for row in exact_z[k - 1]], dtype=torch.int64)
        float_signs = torch.sign(z.detach()).to(torch.int64)
        zero = signs == 0
        rounded += int((zero & (float_signs != 0)).sum())
        flips += int((~zero & (float_signs != signs)).sum())
        if bool(zero.any()):
            z = torch.where(zero, z - z.detach(), z)
        a = act(z)
    yhat = a
    if net.loss == "mse":
        loss = torch.nn.MSELoss()(yhat, y)  # mean over all M x width_L entries
    else:
        loss = ((yhat - y) ** 2).sum()
    grads = torch.autograd.grad(loss, [params[p] for p in net.parameter_names()], allow_unused=True)
    out: dict[str, np.ndarray] = {}
    for p, g in zip(net.parameter_names(), grads):
        out[p] = np.zeros(tuple(params[p].shape), dtype=np.float64) if g is None else g.detach().numpy().astype(np.float64)
    return _TorchPass(out, rounded, flips)


def torch_gradients(assignment: Assignment) -> dict[str, np.ndarray]:
    """The gradient of the batch loss for every parameter, by PyTorch autograd in float64.

    Keys ``W1, b1, ...``; ``Wk`` has shape (width_k, width_{k-1}).  The
    derivative at 0 follows ``assignment.network.relu_grad_at_zero``; hidden
    pre-activations that are exactly 0 are kept at 0.0 in float64 (see ``_torch_pass``).
    """
    return _torch_pass(assignment, native=False).gradients


def _hidden_pre_activations(a: Assignment) -> list[list[list[Fraction]]]:
    """Exact pre-activations of every hidden layer, [layer][sample][unit], by plain Fractions.

    Written out here (not taken from numeric.py) so the cross-check stays independent.
    """
    net = a.network
    rows = _matrix(a, "x")
    out = []
    for k in range(1, net.depth):
        W = _matrix(a, f"W{k}")
        b = _matrix(a, f"b{k}")[0] if net.bias else [Fraction(0)] * net.widths[k]
        z = [[sum((Wj[i] * r[i] for i in range(len(r))), Fraction(0)) + b[j] for j, Wj in enumerate(W)] for r in rows]
        out.append(z)
        on, off = net.slopes()
        rows = [[v * (on if net.is_active(v) else off) for v in zr] for zr in z]
    return out


def _magnitudes(a: Assignment) -> dict[str, np.ndarray]:
    """Per gradient entry, the sum of the absolute values of the terms that make it up.

    Backprop run on absolute values (|W|, |x|, |b|, |residual|, |slopes|) in
    float64.  Rounding error of a float64 gradient entry is a small multiple of
    2^-53 times this number, also when the terms cancel to an exact 0, so it is
    the magnitude the tolerance is scaled by.
    """
    net = a.network
    M = a.samples
    f = {n: np.abs(np.array([float(v) for v in a.flat(n)], dtype=np.float64).reshape(net.shape(n, M)))
         for n in net.variable_names()}
    zs = _hidden_pre_activations(a)
    on, off = net.slopes()
    acts = [f["x"]]
    slopes = []
    for k in range(1, net.depth + 1):
        z = acts[-1] @ f[f"W{k}"].T + (f[f"b{k}"] if net.bias else 0.0)
        if k < net.depth:
            s = np.array([[float(on if net.is_active(v) else off) for v in row] for row in zs[k - 1]],
                         dtype=np.float64).reshape(M, net.widths[k])
            slopes.append(s)
            acts.append(z * s)
        else:
            acts.append(z)
    delta = float(net.loss_gradient_scale(M)) * (acts[-1] + f["y"])
    mags: dict[str, np.ndarray] = {}
    for k in range(net.depth, 0, -1):
        mags[f"W{k}"] = delta.T @ acts[k - 1]
        if net.bias:
            mags[f"b{k}"] = delta.sum(axis=0)
        if k > 1:
            delta = (delta @ f[f"W{k}"]) * slopes[k - 2]
    return mags


@dataclass(frozen=True)
class TorchReport:
    """PyTorch autograd's gradients against the exact ones.

    ``agrees`` when every entry satisfies ``|torch - exact| <= 1e-9 * magnitude``,
    the magnitude being the sum of absolute values of the entry's terms (so an
    exact 0 reached by cancellation gets a tolerance that fits its terms).
    ``max_abs_deviation`` is the largest ``|torch - exact|``.
    ``zero_pre_activations`` counts hidden pre-activations that are exactly 0,
    where the derivative convention matters; ``native_autograd_agrees`` says,
    when it could matter (``relu_grad_at_zero = 1`` and some exact 0), whether
    PyTorch's built-in activation would have agreed too (None otherwise).
    A report is only returned when PyTorch is installed, so ``available`` is
    True; without PyTorch :func:`torch_cross_check` raises InputError.
    """

    available: bool
    max_abs_deviation: float
    agrees: bool
    zero_pre_activations: int
    note: str
    native_autograd_agrees: bool | None = None
    elapsed_seconds: float = 0.0


def _compare(exact: dict[str, np.ndarray], approx: dict[str, np.ndarray],
             mags: dict[str, np.ndarray]) -> tuple[float, bool, list[str]]:
    worst = 0.0
    ok = True
    bad: list[str] = []
    for p, e in exact.items():
        if p not in approx:
            ok = False
            bad.append(f"{p} missing")
            continue
        ev = np.asarray(e, dtype=object).reshape(-1)
        tv = np.asarray(approx[p], dtype=np.float64).reshape(-1)
        mv = np.asarray(mags.get(p, np.zeros(len(ev))), dtype=np.float64).reshape(-1)
        if len(ev) != len(tv):
            ok = False
            bad.append(f"{p} has {len(tv)} entries, not {len(ev)}")
            continue
        for i, (x, t, m) in enumerate(zip(ev, tv, mv)):
            if not np.isfinite(t):
                ok = False
                bad.append(f"{p}[{i}] = {t}")
                continue
            dev = abs(float(Fraction(x) - Fraction(float(t))))
            worst = max(worst, dev)
            scale = max(float(m), abs(float(x)))
            if dev > TORCH_RTOL * scale:
                ok = False
                bad.append(f"{p}[{i}]: torch {t!r}, exact {x}")
    return worst, ok, bad


def torch_cross_check(assignment: Assignment, exact_gradients: dict[str, np.ndarray]) -> TorchReport:
    """Recompute every gradient with PyTorch autograd (float64) and compare with ``exact_gradients``.

    Raises :class:`InputError` when PyTorch is not installed.
    """
    started = time.monotonic()
    net = assignment.network
    torch_pass = _torch_pass(assignment, native=False)
    mags = _magnitudes(assignment)
    worst, ok, bad = _compare(exact_gradients, torch_pass.gradients, mags)
    zeros = sum(1 for layer in _hidden_pre_activations(assignment) for row in layer for v in row if v == 0)
    notes: list[str] = []
    native_agrees: bool | None = None
    if net.activation == "linear":
        notes.append("linear activation: no derivative convention at 0 involved")
    elif net.relu_grad_at_zero == 1:
        notes.append(f"relu_grad_at_zero = 1 computed by a custom autograd.Function (PyTorch's built-in "
                     f"{net.activation} uses {'0' if net.activation == 'relu' else 'the negative slope'} at 0)")
        if zeros:
            _, native_agrees, _ = _compare(exact_gradients, _torch_pass(assignment, native=True).gradients, mags)
            notes.append(f"{zeros} hidden pre-activation(s) exactly 0: PyTorch's built-in {net.activation} "
                         + ("would give the same gradients here" if native_agrees else
                            "would give other gradients here (a different convention, not a disagreement)"))
    else:
        notes.append(f"PyTorch's built-in {net.activation} (its derivative at 0 is relu_grad_at_zero = 0)")
    if zeros and not (net.activation != "linear" and net.relu_grad_at_zero == 1):
        notes.append(f"{zeros} hidden pre-activation(s) exactly 0")
    if torch_pass.rounded_off_zero:
        notes.append(f"{torch_pass.rounded_off_zero} of them came out of float64 as non-zero and were kept at 0")
    if torch_pass.sign_flips:
        notes.append(f"{torch_pass.sign_flips} hidden pre-activation(s) on the other side of 0 in float64 than "
                     "exactly: rounding changed their branch")
    if not ok:
        notes.append("disagreement: " + "; ".join(bad[:5]) + (f"; and {len(bad) - 5} more" if len(bad) > 5 else ""))
    return TorchReport(True, worst, ok, zeros, "; ".join(notes), native_agrees, time.monotonic() - started)


# ---------------------------------------------------------------------------
# cvc5
# ---------------------------------------------------------------------------


def _import_cvc5() -> Any:
    try:
        import cvc5
    except ImportError as e:
        raise InputError("--cross-check cvc5 needs cvc5", hint=CVC5_HINT) from e
    return cvc5


def cvc5_available() -> bool:
    """Whether ``--cross-check cvc5`` can run here (cvc5 importable)."""
    try:
        _import_cvc5()
    except InputError:
        return False
    return True


def _uses_integers(constraints: list[Any]) -> bool:
    """Whether any constant in the constraints is of sort Int (``--integers``)."""
    import z3

    seen: set[int] = set()
    stack = list(constraints)
    while stack:
        t = stack.pop()
        key = t.get_id()
        if key in seen:
            continue
        seen.add(key)
        if z3.is_const(t) and t.sort() == z3.IntSort() and not z3.is_int_value(t):
            return True
        stack.extend(t.children())
    return False


def z3_to_smt2(constraints: list[z3.BoolRef]) -> str:
    """A self-contained SMT-LIB 2 script asserting ``constraints``, with (set-logic) and (check-sat).

    The logic is QF_NRA, or QF_NIRA when a variable is an integer.  Pass every
    constraint of the question: for one pattern that is the encoding's domain
    constraints, ``encoding.pattern_constraints(bits)`` and
    ``encoding.conditions(bits)``.
    """
    import z3

    solver = z3.Solver()
    solver.add(*constraints)
    logic = "QF_NIRA" if _uses_integers(list(constraints)) else "QF_NRA"
    body = solver.to_smt2()  # declarations, asserts and a final (check-sat)
    return f"(set-logic {logic})\n{body}"


@dataclass(frozen=True)
class Cvc5Decision:
    """cvc5's answer to one script, with why it is unknown and which configuration decided."""

    answer: SolverAnswer
    reason: str | None
    configuration: str | None
    elapsed_seconds: float


# cvc5's configurations, tried in order until one decides.  For real arithmetic
# (QF_NRA, or ALL when the script sets no logic) the first is
# cylindrical algebraic coverings alone (nl-cov, a complete decision procedure),
# without incremental linearization (nl-ext), which on one seed-001 pattern runs
# for minutes where coverings alone answers in 10 ms.  Coverings can end in
# "unknown (INCOMPLETE)" after preprocessing has eliminated variables (another
# seed-001 pattern), which the second configuration avoids; the default strategy
# comes last.  Any of them answering sat or unsat is a sound answer.
_NRA_CONFIGURATIONS: tuple[tuple[str, dict[str, str]], ...] = (
    ("coverings", {"nl-ext": "none", "nl-cov": "true"}),
    ("coverings without preprocessing", {"nl-ext": "none", "nl-cov": "true", "simplification": "none"}),
    ("default", {}),
)
_DEFAULT_CONFIGURATIONS: tuple[tuple[str, dict[str, str]], ...] = (("default", {}),)


def _logic_of(smt2: str) -> str | None:
    marker = "(set-logic"
    at = smt2.find(marker)
    if at < 0:
        return None
    end = smt2.find(")", at)
    return smt2[at + len(marker):end].strip() if end > 0 else None


def _has_integers(logic: str | None) -> bool:
    """Whether a logic has integer arithmetic (QF_NIA, QF_NIRA, QF_LIA, ...), where coverings do not apply."""
    return logic is not None and any(part in logic for part in ("IA", "IRA", "IDL"))


def _run_cvc5(cvc5: Any, smt2: str, options: dict[str, str], timeout_ms: int | None) -> tuple[SolverAnswer, str | None]:
    # cvc5 >= 1.2 has a TermManager that the solver must be built on; 1.1 builds its own
    term_manager = cvc5.TermManager() if hasattr(cvc5, "TermManager") else None
    solver = cvc5.Solver(term_manager) if term_manager is not None else cvc5.Solver()
    if timeout_ms is not None:
        solver.setOption("tlimit-per", str(max(1, int(timeout_ms))))
    for key, value in options.items():
        solver.setOption(key, value)
    if _logic_of(smt2) is None:
        solver.setLogic("ALL")
    parser = cvc5.InputParser(solver)
    parser.setStringInput(cvc5.InputLanguage.SMT_LIB_2_6, smt2, "cexsearch")
    symbols = parser.getSymbolManager()
    result = None
    while True:
        try:
            command = parser.nextCommand()
        except RuntimeError as e:
            raise CrossCheckError(f"cvc5 cannot read the SMT-LIB text: {e}") from e
        if command.isNull():
            break
        if command.getCommandName() == "check-sat":
            result = solver.checkSat()  # the same as invoking it, but with a Result object
        else:
            try:
                command.invoke(solver, symbols)
            except RuntimeError as e:
                raise CrossCheckError(f"cvc5 rejects {command.getCommandName()}: {e}") from e
    if result is None:  # a script without (check-sat): decide what it asserted
        result = solver.checkSat()
    if result.isSat():
        return "sat", None
    if result.isUnsat():
        return "unsat", None
    return "unknown", str(result.getUnknownExplanation())


def cvc5_decide_detailed(smt2: str, timeout_ms: int | None = None) -> Cvc5Decision:
    """Like :func:`cvc5_decide`, with the reason for unknown and the deciding configuration.

    The answer is that of the script's last (check-sat).  ``timeout_ms`` bounds
    all configurations together, through cvc5's ``tlimit-per``, which cvc5
    checks only now and then: a check can overrun it (by up to 2.5 times
    measured on a hard nonlinear query).  A solver error is an unknown answer
    (never unsat); a text cvc5 cannot parse raises :class:`CrossCheckError`.
    """
    cvc5 = _import_cvc5()
    started = time.monotonic()
    logic = _logic_of(smt2)
    configurations = _DEFAULT_CONFIGURATIONS if _has_integers(logic) else _NRA_CONFIGURATIONS
    reasons: list[str] = []
    for name, options in configurations:
        left = None
        if timeout_ms is not None:
            left = timeout_ms - int((time.monotonic() - started) * 1000)
            if left <= 0:
                reasons.append("timeout")
                break
        try:
            answer, reason = _run_cvc5(cvc5, smt2, options, left)
        except CrossCheckError:
            raise
        except RuntimeError as e:  # a crash on one configuration is never a proof
            answer, reason = "unknown", f"cvc5 error: {e}"
        if answer != "unknown":
            return Cvc5Decision(answer, None, name, time.monotonic() - started)
        reasons.append(f"{name}: {reason}")
    return Cvc5Decision("unknown", "; ".join(reasons), None, time.monotonic() - started)


def cvc5_decide(smt2: str, timeout_ms: int | None) -> SolverAnswer:
    """Decide an SMT-LIB 2 script with cvc5: ``"sat"``, ``"unsat"`` or ``"unknown"``.

    cvc5 parses the text itself (``cvc5.InputParser`` with its ``SymbolManager``,
    command by command).  Without a ``(set-logic ...)`` the logic is ALL.
    Unless the logic has integers, cylindrical algebraic coverings decide first
    (see ``_NRA_CONFIGURATIONS``).  Raises :class:`InputError` when cvc5 is not installed.
    """
    return cvc5_decide_detailed(smt2, timeout_ms).answer


@dataclass(frozen=True)
class Cvc5Report:
    """Z3's and cvc5's answers to one question.

    ``agrees`` only when both decided and gave the same answer.  ``status``
    tells the other cases apart: ``"disagree"`` (one says sat, the other unsat:
    the verdict must become unknown, showing both answers) and
    ``"not confirmed"`` (either answered unknown: no evidence either way).
    """

    z3_answer: str
    cvc5_answer: str
    agrees: bool
    reason: str | None = None
    configuration: str | None = None
    elapsed_seconds: float = 0.0

    @property
    def status(self) -> Literal["agree", "disagree", "not confirmed"]:
        if self.agrees:
            return "agree"
        if "unknown" in (self.z3_answer, self.cvc5_answer):
            return "not confirmed"
        return "disagree"

    def describe(self) -> str:
        text = f"z3 {self.z3_answer}, cvc5 {self.cvc5_answer}: {self.status}"
        return text + (f" ({self.reason})" if self.reason else "")


def cvc5_cross_check_pattern(constraints: list[z3.BoolRef], z3_answer: str, timeout_ms: int | None) -> Cvc5Report:
    """Re-decide one question (a pattern's constraints, or the If-encoded problem) with cvc5.

    ``constraints`` must be all of it: domain, sign constraints and conditions.
    ``z3_answer`` is ``"sat"``, ``"unsat"`` or ``"unknown"``.  A text cvc5
    cannot read gives an unknown answer with the reason, never an agreement.
    """
    started = time.monotonic()
    try:
        decision = cvc5_decide_detailed(z3_to_smt2(constraints), timeout_ms)
    except CrossCheckError as e:
        return Cvc5Report(z3_answer, "unknown", False, str(e), None, time.monotonic() - started)
    agrees = decision.answer != "unknown" and decision.answer == z3_answer
    return Cvc5Report(z3_answer, decision.answer, agrees, decision.reason, decision.configuration,
                      time.monotonic() - started)

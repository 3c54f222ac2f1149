"""Conditions parsed from text: Python's own :mod:`ast` as the front end, a safe subset accepted."""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from fractions import Fraction

from ..errors import ConditionError, InputError
from ..model.network import ParameterNames, nearest
from .steps import STEP_HINT, mark
from .syntax import (
    MAX_DEPTH,
    MAX_DIGITS,
    NUMBER_HINT,
    SIZE_HINT,
    Arith,
    BoolConst,
    Compare,
    Condition,
    Expr,
    Grad,
    Logic,
    Neg,
    Not,
    Num,
    Reduce,
    Subscript,
    Var,
    brief,
    number_size_problem,
    too_large,
)

_NAME_RE = re.compile(r"^(W|b)[0-9]+$|^x$|^y$|^yhat$|^p$|^loss$|^lr$")
_COMPARE = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}
_ARITH = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
_OP_NAMES = {ast.Pow: "**", ast.MatMult: "@", ast.Mod: "%", ast.FloorDiv: "//", ast.BitAnd: "&", ast.BitOr: "|",
             ast.BitXor: "^", ast.LShift: "<<", ast.RShift: ">>"}
_KNOWN_WORDS = ("W1", "b1", "W2", "b2", "W3", "b3", "x", "y", "yhat", "p", "loss", "lr", "grad", "all", "any")


def syntax_tree(source: str, error: type[InputError], what: str) -> ast.expr:
    """``ast.parse`` of an expression, with every way it can fail as ``error``.

    A non-UTF-8 byte on the command line arrives as a lone surrogate, which
    ``ast.parse`` cannot encode; deep nesting overflows its stack (or, a little
    less deep, every later stage that walks the tree).
    """
    try:
        tree = ast.parse(source, mode="eval").body
    except UnicodeEncodeError as e:
        bad = e.object[e.start]
        raise error(f"{what} contains the character {bad!r}, which is not text", source=source, column=e.start,
                    hint="was a byte not in UTF-8 passed? write the text in UTF-8") from None
    except (RecursionError, MemoryError):
        raise error(f"{what} is nested too deeply", hint=f"simplify it: at most {MAX_DEPTH} levels of nesting") from None
    stack: list[tuple[ast.AST, int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise error(f"{what} is nested too deeply (more than {MAX_DEPTH} levels)", source=source,
                        column=getattr(node, "col_offset", 0), hint="simplify it, or split it into several")
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return tree


class Parser:
    def __init__(self, text: str, names: ParameterNames | None = None, placeholders: Mapping[str, str] = {},
                 stepped: Mapping[str, tuple[str, int, bool]] = {}) -> None:
        self.text = text
        self.names = names  # the module's parameter names, when the network has them
        self.placeholders = placeholders  # identifier standing for a module name in the parsed text -> internal
        self.stepped = stepped  # identifier standing for NAME@STEP -> (NAME, step, from the end)

    def at_step(self, node: ast.Name) -> Var:
        """``NAME@STEP`` (see :mod:`.steps`): a parameter, ``yhat`` or ``loss`` at a training step."""
        base, step, end = self.stepped[node.id]
        col = node.col_offset
        internal = self.placeholders.get(base)
        if internal is not None:
            return Var(internal, col, step, end)
        if base in ("x", "y", "lr"):
            what = "the data" if base != "lr" else "the learning rate"
            raise self.fail(f"{base} is {what}: it does not change during training", col, hint=f"write {base} without @")
        if base == "grad":
            raise self.fail("grad@t is a function", col, hint="call it, e.g. grad@1(W1)")
        if self.names is not None and re.fullmatch(r"[Wb][0-9]+", base):
            raise self.fail(f"{base!r}: this network's parameters go by the module's names", col,
                            hint=f"use one of {', '.join(self.names.externals())}")
        if re.fullmatch(r"[Wb][0-9]+", base) or base in ("yhat", "loss"):
            return Var(base, col, step, end)
        guess = nearest(base, _KNOWN_WORDS)
        raise self.fail(f"unknown name {base!r}", col,
                        hint=(f"did you mean {guess!r}? " if guess else "") + "parameters, yhat and loss have steps")

    def parameter(self, node: ast.AST) -> str | None:
        """The internal name of a parameter written by the module's name, or None."""
        return self.placeholders.get(node.id) if isinstance(node, ast.Name) else None

    def unknown_dotted(self, node: ast.AST) -> ConditionError:
        """A dotted name that is none of the module's parameters."""
        shown = ast.get_source_segment(self.text, node) or "?"
        known = self.names.externals() if self.names is not None else ()
        guess = nearest(shown, known) if known else None
        hint = (f"did you mean {guess!r}? " if guess else "") + (
            f"the module's parameters are {', '.join(known)}" if known else "names are W1, b1, ..., x, y, yhat")
        return self.fail(f"unknown name {shown!r}", getattr(node, "col_offset", 0), hint=hint)

    def fail(self, message: str, col: int, hint: str | None = None) -> ConditionError:
        return ConditionError(message, source=self.text, column=col, hint=hint)

    def number(self, node: ast.Constant) -> Num:
        segment = ast.get_source_segment(self.text, node) or repr(node.value)
        problem = number_size_problem(segment)
        if problem:
            raise self.fail(problem, node.col_offset, hint=SIZE_HINT)
        if isinstance(node.value, int):  # also 0x10, 0o7, 0b1, 1_000
            return Num(Fraction(node.value), node.col_offset)
        try:
            return Num(Fraction(segment.replace("_", "")), node.col_offset)
        except ValueError:
            raise self.fail(f"{segment!r} is not a number cexsearch reads", node.col_offset, hint=NUMBER_HINT) from None

    def expr(self, node: ast.AST) -> Expr:  # noqa: C901 - one case per syntax form
        col = getattr(node, "col_offset", 0)
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool):
                return BoolConst(node.value, col)
            if isinstance(node.value, (int, float)):
                return self.number(node)
            raise self.fail(f"{brief(node.value)} is not a number", col, hint="write a number such as 0, -2/3 or 0.1")
        if isinstance(node, ast.Attribute) and self.names is not None:
            raise self.unknown_dotted(node)
        if isinstance(node, ast.Name) and node.id in self.stepped:
            return self.at_step(node)
        if isinstance(node, ast.Name):
            internal = self.parameter(node)
            if internal is not None:
                return Var(internal, col)
            if self.names is not None and re.fullmatch(r"[Wb][0-9]+", node.id):
                raise self.fail(f"{node.id!r}: this network's parameters go by the module's names", col,
                                hint=f"use one of {', '.join(self.names.externals())}")
            if _NAME_RE.match(node.id):
                return Var(node.id, col)
            if node.id in ("grad", "all", "any"):
                raise self.fail(f"{node.id} is a function", col, hint=f"call it, e.g. {node.id}(...)")
            if node.id in ("True", "False"):
                return BoolConst(node.id == "True", col)
            guess = nearest(node.id, _KNOWN_WORDS)
            raise self.fail(
                f"unknown name {node.id!r}",
                col,
                hint=(f"did you mean {guess!r}? " if guess else "")
                + "names are W1, b1, ..., x, y, yhat, loss (p with --loss bce or ce, lr with --steps) and grad(P)",
            )
        if isinstance(node, ast.Call):
            fname = node.func.id if isinstance(node.func, ast.Name) else None
            step: tuple[int | None, bool] = (None, False)
            if fname is not None and fname in self.stepped and self.stepped[fname][0] == "grad":
                _, at_step, from_end = self.stepped[fname]
                fname, step = "grad", (at_step, from_end)
            if fname not in ("grad", "all", "any"):
                shown = fname or ast.get_source_segment(self.text, node.func) or "?"
                guess = nearest(shown, ("grad", "all", "any"))
                raise self.fail(
                    f"unknown function {shown!r}",
                    col,
                    hint=f"did you mean {guess!r}?" if guess else "the functions are grad, all and any",
                )
            if node.keywords or len(node.args) != 1:
                raise self.fail(f"{fname}(...) takes exactly one argument", col)
            arg = node.args[0]
            if fname == "grad":
                at, end = step
                internal = self.parameter(arg)
                if internal is not None:
                    return Grad(internal, col, at, end)
                if self.names is not None:
                    if isinstance(arg, (ast.Name, ast.Attribute)):
                        raise self.unknown_dotted(arg)
                    shown = ast.get_source_segment(self.text, arg) or "?"
                    raise self.fail(f"grad(...) takes a parameter name, got {shown!r}", arg.col_offset,
                                    hint=f"one of {', '.join(self.names.externals())}")
                if not isinstance(arg, ast.Name) or not re.fullmatch(r"[Wb][0-9]+", arg.id):
                    shown = ast.get_source_segment(self.text, arg) or "?"
                    raise self.fail(
                        f"grad(...) takes a parameter name, got {shown!r}",
                        arg.col_offset,
                        hint="e.g. grad(W1) or grad(b2); index the result: grad(W1)[0, 1]",
                    )
                return Grad(arg.id, col, at, end)
            return Reduce(fname, self.expr(arg), col)  # type: ignore[arg-type]
        if isinstance(node, ast.Subscript):
            return Subscript(self.expr(node.value), self.index_items(node.slice), col)
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub):
                inner = self.expr(node.operand)
                if isinstance(inner, Num):
                    return Num(-inner.value, col)
                return Neg(inner, col)
            if isinstance(node.op, ast.UAdd):
                return self.expr(node.operand)
            if isinstance(node.op, ast.Not):
                return Not(self.expr(node.operand), col)
            raise self.fail("operator ~ is not supported", col)
        if isinstance(node, ast.BinOp):
            op = _ARITH.get(type(node.op))
            if isinstance(node.op, ast.MatMult):
                raise self.fail("@ marks a training step here", node.left.end_col_offset or col, hint=STEP_HINT)
            if op is None:
                shown = _OP_NAMES.get(type(node.op), type(node.op).__name__)
                raise self.fail(f"operator {shown} is not supported", node.left.end_col_offset or col,
                                hint="use + - * / (multiply instead of **)")
            left, right = self.expr(node.left), self.expr(node.right)
            if isinstance(left, Num) and isinstance(right, Num):  # fold constants: 1/3 is one number
                if op == "/" and right.value == 0:
                    raise self.fail("division by zero", right.col, hint="divide by a non-zero number")
                folded = {"+": lambda: left.value + right.value, "-": lambda: left.value - right.value,
                          "*": lambda: left.value * right.value, "/": lambda: left.value / right.value}[op]()
                if too_large(folded):
                    raise self.fail("this constant has too many digits to print", col, hint=SIZE_HINT)
                return Num(folded, col)
            return Arith(op, left, right, col)
        if isinstance(node, ast.BoolOp):
            return Logic("and" if isinstance(node.op, ast.And) else "or",
                         tuple(self.expr(v) for v in node.values), col)
        if isinstance(node, ast.Compare):
            parts: list[Expr] = []
            left = self.expr(node.left)
            for op_node, right_node in zip(node.ops, node.comparators):
                op = _COMPARE.get(type(op_node))
                if op is None:
                    raise self.fail(f"comparison {type(op_node).__name__} is not supported", col,
                                    hint="use == != < <= > >=")
                right = self.expr(right_node)
                parts.append(Compare(op, left, right, col))
                left = right
            return parts[0] if len(parts) == 1 else Logic("and", tuple(parts), col)
        segment = ast.get_source_segment(self.text, node) or type(node).__name__
        raise self.fail(f"{segment!r} is not allowed in a condition", col,
                        hint="use names, grad(P), numbers, indexing, + - * /, comparisons, and/or/not, all/any")

    def index_items(self, node: ast.AST) -> tuple:
        elts = node.elts if isinstance(node, ast.Tuple) else [node]
        items: list = []
        for e in elts:
            if isinstance(e, ast.Slice):
                item = tuple(self.int_of(p) if p is not None else None for p in (e.lower, e.upper, e.step))
                if item[2] == 0:
                    raise self.fail("slice step cannot be zero", getattr(e.step, "col_offset", 0),
                                    hint="use a step of 1 or more (or -1 to reverse), e.g. x[::2]")
                items.append(item)
            else:
                items.append(self.int_of(e))
        return tuple(items)

    def int_of(self, node: ast.AST) -> int:
        sign = 1
        inner = node
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            sign, inner = -1, node.operand
        if isinstance(inner, ast.Constant) and type(inner.value) is int:
            return sign * inner.value
        shown = ast.get_source_segment(self.text, node)
        raise self.fail(f"index {shown!r} is not an integer", getattr(node, "col_offset", 0),
                        hint="indices are integers or slices such as 0, -1, 1:3, :")


def substitute_names(text: str, names: ParameterNames | None) -> tuple[str, dict[str, str]]:
    """The text with each module parameter name replaced by an identifier, and identifier -> internal name.

    Python's parser cannot read every module name (``0.weight`` of an ``nn.Sequential``), so
    each is replaced before parsing by an identifier of the same length (columns in error
    messages stay right), which the parser maps back to ``W1, b1, ...``.
    """
    if names is None or not names.aliases:
        return text, {}
    placeholders: dict[str, str] = {}
    by_external: dict[str, str] = {}
    for k, (internal, external) in enumerate(names.aliases):
        ident = f"_{k}_".ljust(len(external), "_")
        placeholders[ident] = internal
        by_external[external] = ident
    pattern = "|".join(re.escape(e) for e in sorted(by_external, key=len, reverse=True))
    return re.sub(rf"(?<![\w.])(?:{pattern})(?![\w])", lambda m: by_external[m.group(0)], text), placeholders


def _refuse_unknown_dotted(parsed: str, source: str, names: ParameterNames) -> None:
    """A dotted name left after substitution is none of the module's (Python cannot even read ``2.bais``)."""
    for m in re.finditer(r"(?<![\w.])\w+(?:\.\w+)*\.[A-Za-z_]\w*", parsed):
        try:
            float(m.group(0))  # 1.e5 is a number
            continue
        except ValueError:
            pass
        shown = source[m.start():m.end()] if len(parsed) == len(source) else m.group(0)
        guess = nearest(shown, names.externals())
        raise ConditionError(f"unknown name {shown!r}", source=source, column=m.start(),
                             hint=(f"did you mean {guess!r}? " if guess else "")
                             + f"the module's parameters are {', '.join(names.externals())}")


def parse(text: str, names: ParameterNames | None = None) -> Condition:
    """Parse a condition; raise :class:`ConditionError` with the column on bad syntax.

    With ``names`` (a network read from a PyTorch module), parameters are written by the
    module's names (``grad(fc1.weight)``) and read as ``W1, b1, ...``; the condition's
    text stays as written.
    """
    source = text.strip()
    if not source:
        raise ConditionError("empty condition", source=text, hint='write e.g. "grad(W1) != 0"')
    parsed, placeholders = substitute_names(source, names)
    if names is not None:
        _refuse_unknown_dotted(parsed, source, names)
    parsed, stepped = mark(parsed)
    try:
        tree = syntax_tree(parsed, ConditionError, "the condition")
    except SyntaxError as e:
        col = max((e.offset or 1) - 1, 0)
        msg = e.msg
        if msg.startswith("invalid syntax"):
            msg = "invalid syntax"
        if "digits" in msg:  # an integer literal beyond Python's 4300 digits
            msg, hint = f"a number has more than {MAX_DIGITS} digits", SIZE_HINT
        elif "'='" in msg or re.search(r"(?<![=!<>])=(?!=)", source):
            hint = "compare with ==, not ="
        elif "never closed" in msg or "does not match" in msg or "unmatched" in msg:
            hint = "balance the brackets"
        elif "nested" in msg:
            hint = "simplify it: fewer brackets"
        else:
            hint = None
        raise ConditionError(msg, source=source, column=min(col, len(source)), hint=hint) from None
    # segments (numbers, quoted parts of messages) are read from the text as written when the
    # substitution kept every column in place, which it does unless a name is shorter than its stand-in
    segments = source if len(parsed) == len(source) else parsed
    return Condition(source, Parser(segments, names, placeholders, stepped).expr(tree))

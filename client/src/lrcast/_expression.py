"""Safe arithmetic expressions in ``t``: torch ``LambdaLR`` as data, without shipping code.

An ``expression`` curve is a formula in the step ``t``, parsed once by :func:`compile_expression`
into a flat numpy program and evaluated on a whole array of steps at once. Documents come from
untrusted users, so the grammar is a whitelist checked node by node: there is no way to reach a
name, an attribute, a call or a literal outside it, every operation is a float64 numpy ufunc, and
the cost of an evaluation is bounded by the length of the source (at most
``MAX_EXPRESSION_LENGTH`` characters, nested at most 200 levels deep).

Grammar (Python syntax and precedence)::

    expr := number | "t" | "pi" | "e" | "(" expr ")"
          | expr ("+" | "-" | "*" | "/" | "//" | "%" | "**") expr
          | ("-" | "+") expr
          | expr cmp expr {cmp expr}          cmp: < <= > >= == !=
          | "where(" expr "," expr "," expr ")"
          | ("min" | "max") "(" expr "," expr {"," expr} ")"
          | fn "(" expr ")"                   fn: abs floor ceil sqrt exp log cos sin tanh

Semantics:

* Every number is a float64, integer literals included, so ``9 ** 9 ** 9`` is ``inf`` rather
  than a huge integer. Literals must be finite.
* A comparison is ``1.0`` where it holds and ``0.0`` elsewhere, so ``(t < 100) * 0.1`` works; a
  chain ``0 < t < 10`` means ``0 < t and t < 10``, as in Python.
* ``where(c, a, b)`` is ``a`` where ``c`` is non-zero and ``b`` elsewhere (``numpy.where``); both
  branches are computed everywhere.
* ``min`` and ``max`` are elementwise (``numpy.minimum``, ``numpy.maximum``) and propagate NaN.
* ``//`` and ``%`` follow Python (``numpy.floor_divide``, ``numpy.mod``).
* Division by zero, overflow and domain errors give ``inf`` or ``nan`` silently; the caller
  decides what a non-finite or negative learning rate means.

Example:

>>> import numpy as np
>>> lr = compile_expression("where(t < 100, 0.1 * t / 100, 0.1 * 0.5 ** ((t - 100) // 50))")
>>> lr(np.array([0.0, 50.0, 100.0, 149.0, 150.0]))
array([0.  , 0.05, 0.1 , 0.1 , 0.05])
>>> compile_expression("t.__class__")
Traceback (most recent call last):
  ...
lrcast._expression.ExpressionError: attribute access '.__class__' is not allowed
"""

from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass
from functools import partial, reduce
from typing import Any, Final

import numpy as np
import numpy.typing as npt

__all__ = ["MAX_EXPRESSION_LENGTH", "Expression", "ExpressionError", "compile_expression"]

MAX_EXPRESSION_LENGTH: Final = 1000
# Deeper trees only come from pathological input; the cap keeps any later recursive walk (and
# numpy's temporaries) small. Python's tokenizer already stops parentheses at 200.
_MAX_DEPTH: Final = 200
# Offending snippets are quoted in messages; long ones are cut to keep messages readable.
_MAX_SNIPPET: Final = 40

Values = npt.NDArray[np.float64]


class ExpressionError(ValueError):
    """The expression is refused; the message names the offending token."""


def _minimum(*values: Values) -> Values:
    result: Values = reduce(np.minimum, values)
    return result


def _maximum(*values: Values) -> Values:
    result: Values = reduce(np.maximum, values)
    return result


def _compare(ops: tuple[np.ufunc, ...], *values: Values) -> Values:
    # Every operand was computed once, as Python evaluates a chain; then the links are and-ed.
    holds = ops[0](values[0], values[1])
    for op, left, right in zip(ops[1:], values[1:], values[2:], strict=False):
        holds = np.logical_and(holds, op(left, right))
    # Floats, not bools: numpy refuses `-` and `-x` on bool arrays, Python does not.
    return np.asarray(holds, dtype=np.float64)


_BINARY: Final[dict[type[ast.operator], np.ufunc]] = {
    ast.Add: np.add,
    ast.Sub: np.subtract,
    ast.Mult: np.multiply,
    ast.Div: np.divide,
    ast.FloorDiv: np.floor_divide,
    ast.Mod: np.mod,
    ast.Pow: np.power,
}
_BINARY_REFUSED: Final[dict[type[ast.operator], str]] = {
    ast.BitAnd: "&",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.MatMult: "@",
}
_UNARY: Final[dict[type[ast.unaryop], np.ufunc]] = {ast.USub: np.negative, ast.UAdd: np.positive}
_COMPARE: Final[dict[type[ast.cmpop], np.ufunc]] = {
    ast.Lt: np.less,
    ast.LtE: np.less_equal,
    ast.Gt: np.greater,
    ast.GtE: np.greater_equal,
    ast.Eq: np.equal,
    ast.NotEq: np.not_equal,
}
_COMPARE_REFUSED: Final[dict[type[ast.cmpop], str]] = {
    ast.Is: "is",
    ast.IsNot: "is not",
    ast.In: "in",
    ast.NotIn: "not in",
}
_FUNCTIONS: Final[dict[str, np.ufunc]] = {
    "abs": np.absolute,
    "floor": np.floor,
    "ceil": np.ceil,
    "sqrt": np.sqrt,
    "exp": np.exp,
    "log": np.log,
    "cos": np.cos,
    "sin": np.sin,
    "tanh": np.tanh,
}
_CONSTANTS: Final[dict[str, np.float64]] = {"pi": np.float64(math.pi), "e": np.float64(math.e)}
_ALL_FUNCTIONS: Final = ("where", "min", "max", *_FUNCTIONS)
_REFUSED_NODES: Final[dict[type[ast.AST], str]] = {
    ast.Subscript: "subscript",
    ast.Slice: "slice",
    ast.List: "list",
    ast.Tuple: "tuple",
    ast.Set: "set",
    ast.Dict: "dict",
    ast.ListComp: "comprehension",
    ast.SetComp: "comprehension",
    ast.DictComp: "comprehension",
    ast.GeneratorExp: "generator",
    ast.JoinedStr: "f-string",
    ast.FormattedValue: "f-string",
    ast.Starred: "starred argument",
}
_REFUSED_KEYWORDS: Final[dict[type[ast.AST], str]] = {
    ast.Lambda: "lambda",
    ast.IfExp: "if ... else",
    ast.NamedExpr: ":=",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield from",
}


@dataclass(frozen=True)
class _Apply:
    """Pop ``arity`` values off the stack, push ``function(*values)``."""

    arity: int
    function: Any  # a ufunc or a partial of one: Callable[..., Values], loosely typed by numpy


class _Step:
    """Push the array of steps."""


_T: Final = _Step()
# One program item: a constant to push, the steps to push, or an operation.
_Item = np.float64 | _Step | _Apply


class Expression:
    """A compiled expression: call it with a float64 array of steps ``t``.

    Returns a new float64 array of ``t``'s shape (a constant expression is broadcast). Never
    warns or raises on the values: non-finite or negative results are returned as they are.
    """

    __slots__ = ("_program", "source")

    source: str

    def __init__(self, source: str, program: tuple[_Item, ...]) -> None:
        self.source = source
        self._program = program

    def __call__(self, t: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        steps = np.asarray(t, dtype=np.float64)
        stack: list[Any] = []
        # Postfix, one numpy operation per node: no per-step loop and no recursion at run time.
        with np.errstate(all="ignore"):
            for item in self._program:
                if isinstance(item, _Apply):
                    arguments = stack[len(stack) - item.arity :]
                    del stack[len(stack) - item.arity :]
                    stack.append(item.function(*arguments))
                elif isinstance(item, _Step):
                    stack.append(steps)
                else:
                    stack.append(item)
            (result,) = stack
            out = np.empty(steps.shape, dtype=np.float64)
            out[...] = result  # broadcasts constants, and never aliases the caller's ``t``
        return out

    def __repr__(self) -> str:
        return f"compile_expression({self.source!r})"

    # Equal sources compile to the same program: models holding expressions compare by value.
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Expression):
            return NotImplemented
        return self.source == other.source

    def __hash__(self) -> int:
        return hash(self.source)

    # Copies and pickles recompile rather than serialise ufuncs and closures.
    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return compile_expression, (self.source,)


def compile_expression(source: str) -> Expression:
    """Parse and check ``source`` once; raise :class:`ExpressionError` naming what is refused."""
    if not isinstance(source, str):
        raise ExpressionError(f"an expression must be a string, not {type(source).__name__}")
    if len(source) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(
            f"the expression has {len(source)} characters; at most {MAX_EXPRESSION_LENGTH} "
            "are allowed"
        )
    if "\0" in source:
        raise ExpressionError(
            f"a null character (at column {source.index(chr(0)) + 1}) is not allowed"
        )
    _refuse_what_the_parser_would_warn_about(source)
    # Like `eval`, forgive leading blanks, which `ast.parse` calls an "unexpected indent".
    text = source.lstrip(" \t")
    indent = len(source) - len(text)
    if not text.strip():
        raise ExpressionError("the expression is empty")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as error:
        raise ExpressionError(_syntax_message(error, text, indent)) from None
    except UnicodeEncodeError as error:  # a lone surrogate, which no source file can hold
        column = error.start + indent + 1
        raise ExpressionError(
            f"character {text[error.start]!r} (at column {column}) is not allowed"
        ) from None
    except (RecursionError, MemoryError, ValueError, OverflowError):
        # The parser's own guards against pathological input; the length cap makes them rare.
        raise ExpressionError("the expression is too complex to parse") from None
    return Expression(source, _compile(tree.body, text))


# A Python number literal (the tokenizer's forms), not part of a name.
_NUMBER = re.compile(
    r"(?<!\w)(?:0[xX](?:_?[0-9a-fA-F])+|0[bB](?:_?[01])+|0[oO](?:_?[0-7])+"
    r"|(?:\d(?:_?\d)*(?:\.(?:\d(?:_?\d)*)?)?|\.\d(?:_?\d)*)(?:[eE][+-]?\d(?:_?\d)*)?[jJ]?)"
)


def _refuse_what_the_parser_would_warn_about(source: str) -> None:
    # `ast.parse` warns (SyntaxWarning, DeprecationWarning) on `1if`, `0x1for` and `'\d'`, with no
    # once-only registry: untrusted input could fill the server's log. `warnings.catch_warnings`
    # is not thread-safe, so such input is refused before it reaches the parser instead.
    for number in _NUMBER.finditer(source):
        end = number.end()
        if end < len(source) and (source[end].isalnum() or source[end] == "_"):
            token = re.match(r"[\w.]*", source[number.start() :])
            text = token.group() if token else number.group()
            raise ExpressionError(
                f"invalid number '{text[:_MAX_SNIPPET]}' at column {number.start() + 1}"
            )
    backslash = re.search(r"\\(?!\r?\n|\r)", source)  # only a line continuation may use one
    if backslash is not None:
        raise ExpressionError(f"character '\\' (at column {backslash.start() + 1}) is not allowed")


def _compile(root: ast.expr, source: str) -> tuple[_Item, ...]:
    # An explicit stack, not recursion, so no input can exhaust Python's stack while checking.
    program: list[_Item] = []
    todo: list[tuple[ast.expr, int] | _Item] = [(root, 1)]
    while todo:
        entry = todo.pop()
        if not isinstance(entry, tuple):  # an operation whose operands are now in the program
            program.append(entry)
            continue
        node, depth = entry
        if depth > _MAX_DEPTH:
            raise ExpressionError(f"the expression nests deeper than {_MAX_DEPTH} levels")
        item, operands = _translate(node, source)
        if not operands:
            program.append(item)
            continue
        todo.append(item)
        todo.extend((operand, depth + 1) for operand in reversed(operands))
    return tuple(program)


def _translate(node: ast.expr, source: str) -> tuple[_Item, list[ast.expr]]:
    """The program item for ``node`` and its operands in evaluation order, or an error."""
    if isinstance(node, ast.BinOp):
        binary = _BINARY.get(type(node.op))
        if binary is None:
            token = _BINARY_REFUSED.get(type(node.op), type(node.op).__name__)
            hint = " (use ** for powers)" if token == "^" else ""
            raise ExpressionError(f"operator '{token}' is not allowed{hint}")
        return _Apply(2, binary), [node.left, node.right]
    if isinstance(node, ast.UnaryOp):
        unary = _UNARY.get(type(node.op))
        if unary is not None:
            return _Apply(1, unary), [node.operand]
        if isinstance(node.op, ast.Not):
            raise ExpressionError("'not' is not allowed, use where(...)")
        raise ExpressionError("operator '~' is not allowed")
    if isinstance(node, ast.Compare):
        ops = []
        for op in node.ops:
            compare = _COMPARE.get(type(op))
            if compare is None:
                token = _COMPARE_REFUSED.get(type(op), type(op).__name__)
                raise ExpressionError(f"operator '{token}' is not allowed")
            ops.append(compare)
        operands = [node.left, *node.comparators]
        return _Apply(len(operands), partial(_compare, tuple(ops))), operands
    if isinstance(node, ast.Call):
        return _call(node, source)
    if isinstance(node, ast.Name):
        if not isinstance(node.ctx, ast.Load):  # unreachable from "eval" mode; checked anyway
            raise ExpressionError(f"assigning to '{node.id}' is not allowed")
        if node.id == "t":
            return _T, []
        if node.id in _CONSTANTS:
            return _CONSTANTS[node.id], []
        if node.id in _ALL_FUNCTIONS:
            raise ExpressionError(f"function '{node.id}' must be called, as in {node.id}(...)")
        raise ExpressionError(f"name '{node.id}' is not allowed (the only variable is t)")
    if isinstance(node, ast.Constant):
        return _number(node, source), []
    if isinstance(node, ast.Attribute):
        raise ExpressionError(f"attribute access '.{node.attr}' is not allowed")
    if isinstance(node, ast.BoolOp):
        token = "and" if isinstance(node.op, ast.And) else "or"
        raise ExpressionError(f"'{token}' is not allowed, use where(...)")
    keyword = _REFUSED_KEYWORDS.get(type(node))
    if keyword is not None:
        hint = ", use where(c, a, b)" if isinstance(node, ast.IfExp) else ""
        raise ExpressionError(f"'{keyword}' is not allowed{hint}")
    kind = _REFUSED_NODES.get(type(node), type(node).__name__)
    raise ExpressionError(f"{kind} {_snippet(source, node)} is not allowed")


def _call(node: ast.Call, source: str) -> tuple[_Item, list[ast.expr]]:
    if not isinstance(node.func, ast.Name):
        if not isinstance(node.func, ast.Call):  # `f()()()...` must not recurse here
            _translate(node.func, source)  # names what is refused in it: a lambda, an attribute...
        raise ExpressionError(
            f"calling {_snippet(source, node.func)} is not allowed; "
            f"the functions are {', '.join(_ALL_FUNCTIONS)}"
        )
    name = node.func.id
    if name == "t" or name in _CONSTANTS:
        raise ExpressionError(f"'{name}' is not a function")
    if name not in _ALL_FUNCTIONS:
        raise ExpressionError(f"function '{name}' is not allowed")
    for keyword in node.keywords:
        if keyword.arg is None:
            raise ExpressionError(f"'**' arguments to {name}(...) are not allowed")
        raise ExpressionError(f"keyword argument '{keyword.arg}=' to {name}(...) is not allowed")
    for argument in node.args:
        if isinstance(argument, ast.Starred):
            raise ExpressionError(f"starred argument {_snippet(source, argument)} is not allowed")
    count = len(node.args)
    if name == "where":
        if count != 3:
            raise ExpressionError(f"function 'where' takes 3 arguments (c, a, b), got {count}")
        return _Apply(3, np.where), node.args
    if name in ("min", "max"):
        if count < 2:
            raise ExpressionError(f"function '{name}' takes 2 or more arguments, got {count}")
        return _Apply(count, _minimum if name == "min" else _maximum), node.args
    if count != 1:
        raise ExpressionError(f"function '{name}' takes 1 argument, got {count}")
    return _Apply(1, _FUNCTIONS[name]), node.args


def _number(node: ast.Constant, source: str) -> np.float64:
    value = node.value
    # `bool` is an `int`; `True + 1` is not a schedule.
    if isinstance(value, bool) or not isinstance(value, int | float):
        token = "'...'" if value is Ellipsis else _snippet(source, node)
        kind = {str: "string", bytes: "bytes", complex: "complex number"}.get(type(value))
        raise ExpressionError(f"{kind or 'constant'} {token} is not allowed")
    try:
        # Integers become floats here, so no arithmetic on Python ints ever happens.
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise ExpressionError(f"number {_snippet(source, node)} is not finite")
    constant: np.float64 = np.float64(number)
    return constant


def _snippet(source: str, node: ast.AST) -> str:
    text = ast.get_source_segment(source, node)
    if text is None:
        return type(node).__name__
    if len(text) > _MAX_SNIPPET:
        text = text[: _MAX_SNIPPET - 3] + "..."
    return f"'{text}'" if "'" not in text else f'"{text}"'


_TOKEN = re.compile(r"[ \t]*(\*\*|//|[<>=!]=|\w+|.)")


def _syntax_message(error: SyntaxError, text: str, indent: int) -> str:
    lines = text.splitlines() or [""]
    lineno = min(max(error.lineno or 1, 1), len(lines))
    line = lines[lineno - 1]
    # Python reports an offset of 0 (or none) when the input ended too early.
    column = error.offset if error.offset and error.offset > 0 else len(line) + 1
    token = _TOKEN.match(line, min(column - 1, len(line)))
    if lineno == 1:
        column += indent
    where = f"column {column}" if len(lines) == 1 else f"line {lineno}, column {column}"
    message = f"invalid syntax at {where}"
    if token is not None:
        message += f" near {token.group(1)!r}"
    else:
        message += ": the expression ends too early"
    detail = error.msg
    if detail and not detail.startswith("invalid syntax"):
        message += f" ({detail})"
    return message

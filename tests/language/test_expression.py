"""The ``expression`` curve: a whitelisted grammar in ``t``, checked once, evaluated with numpy.

Values are compared with Python's own arithmetic and ``math`` on scalar floats, never with a copy
of the numpy code under test.
"""

from __future__ import annotations

import ast
import copy
import functools
import itertools
import math
import pickle
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from lrcast._expression import (
    MAX_EXPRESSION_LENGTH,
    Expression,
    ExpressionError,
    compile_expression,
)

STEPS = [0.0, 1.0, 7.0, 1000.0, 1e9]
T = np.array(STEPS)

FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def evaluate(source: str, t: Any = T) -> np.ndarray[Any, np.dtype[np.float64]]:
    return compile_expression(source)(np.asarray(t, dtype=np.float64))


def refusal(source: str) -> str:
    with pytest.raises(ExpressionError) as info:
        compile_expression(source)
    return str(info.value)


# Python's arithmetic on floats ----------------------------------------------------------------


class _PythonFloats(ast.NodeTransformer):
    """Python semantics on floats: integer literals become floats, ``**`` becomes ``math.pow``.

    Without this Python would compute ``9 ** 9 ** 9`` exactly (forever) and give complex numbers
    for ``(-8) ** (1 / 3)``; with it, it raises where the float result is undefined.
    """

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        if type(node.value) is int:
            return ast.copy_location(ast.Constant(float(node.value)), node)
        return node

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.op, ast.Pow):
            power = ast.Call(ast.Name("pow", ast.Load()), [node.left, node.right], [])
            return ast.copy_location(power, node)
        return node


def _nan_min(*xs: float) -> float:
    return math.nan if any(math.isnan(x) for x in xs) else min(xs)


def _nan_max(*xs: float) -> float:
    return math.nan if any(math.isnan(x) for x in xs) else max(xs)


def _python_namespace(nudge: Callable[[float], float]) -> dict[str, Any]:
    # `nudge` perturbs the results of the functions libm and numpy may round differently.
    def rounded(function: Callable[..., float]) -> Callable[..., float]:
        return lambda *args: nudge(function(*args))

    return {
        "__builtins__": {},
        "pi": math.pi,
        "e": math.e,
        "abs": abs,
        "floor": lambda x: float(math.floor(x)),
        "ceil": lambda x: float(math.ceil(x)),
        "sqrt": math.sqrt,
        "exp": rounded(math.exp),
        "log": rounded(math.log),
        "cos": rounded(math.cos),
        "sin": rounded(math.sin),
        "tanh": rounded(math.tanh),
        "pow": rounded(math.pow),
        "where": lambda c, a, b: a if c else b,
        "min": _nan_min,
        "max": _nan_max,
    }


def _exact(x: float) -> float:
    return x


def _alternating() -> Callable[[float], float]:
    signs = itertools.cycle((1.0, -1.0))
    return lambda x: x * (1 + next(signs) * 1e-14)


def python_value(source: str, t: float, nudge: Callable[[float], float] = _exact) -> float | None:
    """``source`` evaluated by Python on the float ``t``, or None where Python raises."""
    tree = ast.fix_missing_locations(_PythonFloats().visit(ast.parse(source, mode="eval")))
    namespace = {**_python_namespace(nudge), "t": t}
    try:
        value = eval(compile(tree, "<reference>", "eval"), namespace)
    except (OverflowError, ZeroDivisionError, ValueError):
        return None
    return float(value)


def same(actual: float, expected: float, rel: float = 0.0) -> bool:
    if math.isnan(expected):
        return math.isnan(actual)
    return actual == expected or math.isclose(actual, expected, rel_tol=rel)


def stable_python_value(source: str, t: float) -> float | None:
    """The Python value where it is well conditioned, or None.

    numpy's exp, log, tanh and power may differ from libm in the last bit. Where a result
    depends on that bit (``floor(exp(x))`` at an integer, ``exp(1) - e``) no tolerance can
    compare them, so such points are skipped: the value must survive perturbing every such
    function's result by 1e-14, fifty times what the two libraries can disagree by.
    """
    value = python_value(source, t)
    if value is None:
        return None
    for nudge in (lambda x: x * (1 + 1e-14), lambda x: x * (1 - 1e-14), _alternating()):
        perturbed = python_value(source, t, nudge)
        if perturbed is None or not same(perturbed, value, rel=1e-12):
            return None
    return value


# Grammar strategies ---------------------------------------------------------------------------

numbers = st.one_of(
    st.integers(0, 10_000).map(str),
    st.floats(0, 1e6, allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(["0.5", "0.1", "1e-3", "1e3", "1E2", "1_000", "0x10", ".25", "2.", "10"]),
)
leaves = st.one_of(numbers, st.sampled_from(["t", "t", "pi", "e"]))
COMPARISONS = ["<", "<=", ">", ">=", "==", "!="]
EXACT_OPERATORS = ["+", "-", "*", "/", "//", "%", *COMPARISONS]
EXACT_FUNCTIONS = ["abs", "floor", "ceil", "sqrt"]
ROUNDED_FUNCTIONS = ["exp", "log", "cos", "sin", "tanh"]


def expressions(operators: list[str], functions: list[str]) -> st.SearchStrategy[str]:
    """Valid expressions over the grammar; operators are sometimes left unparenthesised, so
    precedence and comparison chains come out of Python's own parser on both sides."""

    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.one_of(
            st.builds(
                lambda a, op, b, wrap: f"({a} {op} {b})" if wrap else f"{a} {op} {b}",
                inner,
                st.sampled_from(operators),
                inner,
                st.booleans(),
            ),
            st.builds(lambda sign, a: f"{sign}{a}", st.sampled_from(["-", "+", "- "]), inner),
            st.builds(lambda f, a: f"{f}({a})", st.sampled_from(functions), inner),
            st.builds(lambda c, a, b: f"where({c}, {a}, {b})", inner, inner, inner),
            st.builds(
                lambda f, args: f"{f}({', '.join(args)})",
                st.sampled_from(["min", "max"]),
                st.lists(inner, min_size=2, max_size=4),
            ),
        )

    return st.recursive(leaves, extend, max_leaves=12)


exact_expressions = expressions(EXACT_OPERATORS, EXACT_FUNCTIONS)
all_expressions = expressions([*EXACT_OPERATORS, "**"], EXACT_FUNCTIONS + ROUNDED_FUNCTIONS)
steps = st.floats(0, 1e9, allow_nan=False)


def _words(text: str) -> list[str]:
    return text.split()


TOKENS = [
    *_words("t t 1 0 2.5 1e999 ( ( ) ) , + - * / // % ** < <= > >= == != = . [ ] : ; ' \" j 0x _"),
    *_words("pi e where min max abs floor ceil sqrt exp log cos sin tanh x __import__ os"),
    *_words("lambda if else and or not is in for & | ^ ~ @ << >> True None ... := { } \\ #"),
    *[" ", " ", "\n", "\t"],
]
token_soup = st.lists(st.sampled_from(TOKENS), max_size=40).flatmap(
    lambda tokens: st.sampled_from(["".join(tokens), " ".join(tokens)])
)


def _mutate(source: str, at: int, token: str, cut: int) -> str:
    at %= len(source) + 1
    return source[:at] + token + source[at + cut :]


# Valid expressions with a token spliced in or a few characters cut out: almost valid.
near_misses = st.builds(
    _mutate,
    all_expressions,
    st.integers(0, 1000),
    st.sampled_from(["", *TOKENS]),
    st.integers(0, 3),
)


# Values ---------------------------------------------------------------------------------------

PYTHON_TWINS: list[tuple[str, Callable[[float], float]]] = [
    ("t + 2.5", lambda t: t + 2.5),
    ("t - 2.5", lambda t: t - 2.5),
    ("t * 0.1", lambda t: t * 0.1),
    ("t / 3", lambda t: t / 3),
    ("t // 3", lambda t: t // 3),
    ("(t - 500) // -7", lambda t: (t - 500) // -7),
    ("t % 3", lambda t: t % 3),
    ("(t - 500) % 7", lambda t: (t - 500) % 7),
    ("t % -7", lambda t: t % -7),
    ("(t + 1) ** 0.5", lambda t: (t + 1) ** 0.5),
    ("0.9 ** (t // 30)", lambda t: 0.9 ** (t // 30)),
    ("2 ** -t", lambda t: 2.0**-t),
    ("-t", lambda t: -t),
    ("+t", lambda t: +t),
    ("- -t", lambda t: t),
    ("1 + 2 * t ** 2 / 4 - 1", lambda t: 1 + 2 * t**2 / 4 - 1),
    ("abs(t - 500)", lambda t: abs(t - 500)),
    ("floor(t / 3)", lambda t: math.floor(t / 3)),
    ("ceil(t / 3)", lambda t: math.ceil(t / 3)),
    ("sqrt(t)", math.sqrt),
    ("exp(-t / 1000)", lambda t: math.exp(-t / 1000)),
    ("log(t + 1)", lambda t: math.log(t + 1)),
    ("cos(t)", math.cos),
    ("sin(t)", math.sin),
    ("tanh(t / 100)", lambda t: math.tanh(t / 100)),
    ("pi * t", lambda t: math.pi * t),
    ("e ** (t / 1e9)", lambda t: math.e ** (t / 1e9)),
    ("t < 7", lambda t: t < 7),
    ("t <= 7", lambda t: t <= 7),
    ("t > 7", lambda t: t > 7),
    ("t >= 7", lambda t: t >= 7),
    ("t == 7", lambda t: t == 7),
    ("t != 7", lambda t: t != 7),
    ("where(t < 7, 1, 2)", lambda t: 1 if t < 7 else 2),
    ("where(t, t, -1)", lambda t: t if t else -1),
    ("min(t, 7)", lambda t: min(t, 7)),
    ("min(t, 1000, 7.5, 900)", lambda t: min(t, 1000, 7.5, 900)),
    ("max(t, 7)", lambda t: max(t, 7)),
    ("max(1, t / 10, 50)", lambda t: max(1, t / 10, 50)),
    ("0.1 * min(1, (t + 1) / 500)", lambda t: 0.1 * min(1, (t + 1) / 500)),
    (
        "0.5 * (1 + cos(pi * min(t, 1000) / 1000))",
        lambda t: 0.5 * (1 + math.cos(math.pi * min(t, 1000) / 1000)),
    ),
]


@pytest.mark.parametrize(("source", "python"), PYTHON_TWINS, ids=[s for s, _ in PYTHON_TWINS])
def test_every_operator_and_function_agrees_with_python_math_on_floats(
    source: str, python: Callable[[float], float]
) -> None:
    actual = evaluate(source)
    assert actual.dtype == np.float64
    assert actual.shape == T.shape
    expected = [float(python(t)) for t in STEPS]
    np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=0)


def test_an_expression_remembers_its_source() -> None:
    expression = compile_expression(" 0.1 * t")
    assert isinstance(expression, Expression)
    assert expression.source == " 0.1 * t"


def test_leading_blanks_are_forgiven_as_eval_forgives_them() -> None:
    np.testing.assert_array_equal(evaluate(" \t t + 1"), T + 1)
    np.testing.assert_array_equal(evaluate("(t\n + 1)  # comments are fine too"), T + 1)


def test_chained_comparisons_hold_where_every_link_holds() -> None:
    np.testing.assert_array_equal(evaluate("0 < t < 10"), [0, 1, 1, 0, 0])
    np.testing.assert_array_equal(evaluate("1 <= t <= 1000 != t + 993"), [0, 1, 0, 1, 0])
    np.testing.assert_array_equal(evaluate("(0 < t) < 10"), [1, 1, 1, 1, 1])
    for source in ("0 < t < 10", "7 >= t > 0 == 0", "t == t == t != 1"):
        np.testing.assert_array_equal(evaluate(source), [python_value(source, t) for t in STEPS])


def test_comparisons_are_floats_usable_in_arithmetic() -> None:
    np.testing.assert_array_equal(evaluate("(t < 100) * 0.1"), [0.1, 0.1, 0.1, 0, 0])
    np.testing.assert_array_equal(evaluate("-(t < 7)"), [-1, -1, 0, 0, 0])
    np.testing.assert_array_equal(evaluate("(t < 7) - (t < 1000)"), [0, 0, -1, 0, 0])
    np.testing.assert_array_equal(evaluate("(t > 1) // (t > 0)"), [np.nan, 0, 1, 1, 1])


def test_where_computes_both_branches_but_keeps_the_chosen_one_without_a_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(evaluate("where(t > 0, 1 / t, 0)"), [0, 1, 1 / 7, 1e-3, 1e-9])


def test_min_and_max_are_elementwise_and_propagate_nan() -> None:
    np.testing.assert_array_equal(evaluate("min(t, 7, 100)"), [0, 1, 7, 7, 7])
    np.testing.assert_array_equal(evaluate("max(t, 7, 100)"), [100, 100, 100, 1000, 1e9])
    assert np.isnan(evaluate("min(sqrt(-1), 1)")).all()
    assert np.isnan(evaluate("max(1, sqrt(-1 - t))")).all()


def test_constants_broadcast_to_the_shape_of_t() -> None:
    expression = compile_expression("0.1 + pi - pi")
    for shape in [(5,), (2, 3), (0,), ()]:
        values = expression(np.zeros(shape))
        assert values.shape == shape
        assert values.dtype == np.float64
        np.testing.assert_allclose(values, 0.1)


def test_the_result_is_a_new_array_not_a_view_of_t() -> None:
    t = np.array([1.0, 2.0])
    values = compile_expression("t")(t)
    values[0] = 99.0
    assert t[0] == 1.0


def test_steps_of_other_dtypes_are_read_as_float64() -> None:
    expression = compile_expression("t / 2")
    np.testing.assert_array_equal(expression(np.arange(3, dtype=np.int64)), [0, 0.5, 1])  # type: ignore[arg-type]


def test_integer_literals_are_floats_so_huge_powers_are_infinite_at_once() -> None:
    start = time.perf_counter()
    np.testing.assert_array_equal(evaluate("9 ** 9 ** 9"), np.inf)
    np.testing.assert_array_equal(evaluate("2 ** 1024 - 2 ** 1024"), np.nan)
    np.testing.assert_array_equal(
        evaluate("(10 ** 200) * (10 ** 200) * t"), [np.nan, *[np.inf] * 4]
    )
    np.testing.assert_array_equal(evaluate("7 // 2 + 2 ** -1 + 7 / 2"), 7.0)
    np.testing.assert_array_equal(evaluate("99999999999999999 - 99999999999999998"), 0.0)
    assert time.perf_counter() - start < 1.0


def test_division_by_zero_and_domain_errors_give_inf_or_nan_without_a_warning() -> None:
    zero = np.array([0.0])
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        for source, expected in [
            ("1 / t", np.inf),
            ("-1 / t", -np.inf),
            ("0 / t", np.nan),
            ("1 // t", np.inf),
            ("1 % t", np.nan),
            ("t ** -1", np.inf),
            ("log(t)", -np.inf),
            ("log(t - 1)", np.nan),
            ("sqrt(t - 1)", np.nan),
            ("exp(1000 - t)", np.inf),
            ("(1000 + t) ** 1000", np.inf),
            ("(t - 8) ** 0.5", np.nan),
        ]:
            np.testing.assert_array_equal(compile_expression(source)(zero), [expected], source)


def test_negative_and_non_finite_values_are_returned_for_the_caller_to_judge() -> None:
    np.testing.assert_array_equal(evaluate("0.1 - t"), 0.1 - T)
    assert np.isinf(evaluate("1 / (t - 7)")[2])


# Refusals -------------------------------------------------------------------------------------

REFUSED = [
    ("__import__('os')", "__import__"),
    ("exec('1')", "exec"),
    ("open(t)", "open"),
    ("t.__class__", ".__class__"),
    ("().__class__", ".__class__"),
    ("t.__class__.__mro__[1].__subclasses__()", "__subclasses__"),
    ("(lambda: 1)()", "lambda"),
    ("[t]", "[t]"),
    ("(t, t)", "(t, t)"),
    ("{t}", "{t}"),
    ("{1: t}", "{1: t}"),
    ("t[0]", "t[0]"),
    ("[x for x in t]", "for"),
    ("lambda: 1", "lambda"),
    ("x", "'x'"),
    ("T", "'T'"),
    ("True", "True"),
    ("'s'", "'s'"),
    ("b'x'", "b'x'"),
    ("1j", "1j"),
    ("...", "..."),
    ("None", "None"),
    ("t and 1", "'and'"),
    ("t or 1", "'or'"),
    ("not t", "'not'"),
    ("t & 1", "'&'"),
    ("t | 1", "'|'"),
    ("t ^ 2", "'^'"),
    ("t << 1", "'<<'"),
    ("t >> 1", "'>>'"),
    ("t @ t", "'@'"),
    ("~t", "'~'"),
    ("t is t", "'is'"),
    ("t is not t", "'is not'"),
    ("t in t", "'in'"),
    ("t not in t", "'not in'"),
    ("1 if t else 2", "if"),
    ("(y := 1)", ":="),
    ("f'{t}'", "f'"),
    ("await t", "await"),
    ("exp(t, 1)", "'exp'"),
    ("sqrt()", "'sqrt'"),
    ("where(t)", "'where'"),
    ("where(t, 1, 2, 3)", "'where'"),
    ("min(t)", "'min'"),
    ("max()", "'max'"),
    ("exp(x=t)", "x="),
    ("min(t, **t)", "**"),
    ("exp(*t)", "*t"),
    ("exp", "'exp'"),
    ("t(1)", "'t'"),
    ("pi()", "'pi'"),
    ("(t + 1)(2)", "t + 1"),
    ("exp(t)(2)", "exp(t)"),
    ("1e999", "1e999"),
    ("1" * 400, "1111"),
]


@pytest.mark.parametrize(("source", "token"), REFUSED, ids=[s for s, _ in REFUSED])
def test_every_construct_outside_the_grammar_is_refused_with_the_token_named(
    source: str, token: str
) -> None:
    message = refusal(source)
    assert token in message, message


def test_the_messages_read_plainly() -> None:
    assert refusal("x + 1") == "name 'x' is not allowed (the only variable is t)"
    assert refusal("exec(t)") == "function 'exec' is not allowed"
    assert refusal("t.__class__") == "attribute access '.__class__' is not allowed"
    assert refusal("t & 1") == "operator '&' is not allowed"
    assert refusal("t and 1") == "'and' is not allowed, use where(...)"
    assert refusal("exp(t, 1)") == "function 'exp' takes 1 argument, got 2"
    assert refusal("1e999") == "number '1e999' is not finite"


def test_an_expression_error_is_a_value_error() -> None:
    assert issubclass(ExpressionError, ValueError)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("t +", "invalid syntax at column 4"),
        ("1 +* 2", "invalid syntax at column 4 near '*'"),
        ("  1 +* 2", "invalid syntax at column 6 near '*'"),
        ("t)", "invalid syntax at column 2 near ')'"),
        ("t = 1", "invalid syntax at column 3 near '='"),
        ("exp(t) exp(t)", "invalid syntax at column 8 near 'exp'"),
        ("(t\n+ )", "invalid syntax at line 2, column 3 near ')'"),
        ("'", "invalid syntax at column 1"),
        ("\xa0t", "invalid syntax at column 1"),
    ],
)
def test_syntax_errors_name_the_column(source: str, message: str) -> None:
    assert refusal(source).startswith(message)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("", "the expression is empty"),
        (" \t ", "the expression is empty"),
        ("t\x00", "a null character (at column 2) is not allowed"),
        ("t + \ud800", "character '\\ud800' (at column 5) is not allowed"),
    ],
)
def test_empty_and_unencodable_sources_are_refused(source: str, message: str) -> None:
    assert refusal(source) == message


@pytest.mark.parametrize(
    ("source", "token"),
    [
        ("1if t else 2", "'1if'"),
        ("t * 0x1for", "'0x1for'"),
        ("1and t", "'1and'"),
        ("t.5if 1 else 2", "'5if'"),
        ("1e5or 2", "'1e5or'"),
        ("'\\d'", "'\\'"),
    ],
)
def test_input_the_parser_would_warn_about_is_refused_without_a_warning(
    source: str, token: str
) -> None:
    # The parser's warnings bypass the once-per-location registry: they would flood a log.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert token in refusal(source)
    assert not caught


def test_numbers_in_every_python_form_and_line_continuations_are_accepted() -> None:
    source = "0x1F + 0b1 + 0o7 + 1_000.5 + 1e3 + 2.5E-1 + .5 + 1. + 1e+1 \\\n + t"
    np.testing.assert_array_equal(
        evaluate(source), 31 + 1 + 7 + 1000.5 + 1000 + 0.25 + 0.5 + 1 + 10 + T
    )


def test_a_source_that_is_not_a_string_is_refused() -> None:
    with pytest.raises(ExpressionError, match="must be a string"):
        compile_expression(b"t")  # type: ignore[arg-type]


# Limits ---------------------------------------------------------------------------------------


def test_expressions_of_up_to_a_thousand_characters_are_accepted() -> None:
    source = "max(t" + ", 0" * 331 + ") "
    assert len(source) == MAX_EXPRESSION_LENGTH == 1000
    np.testing.assert_array_equal(evaluate(source), T)
    np.testing.assert_array_equal(evaluate("0" * 1000), 0.0)


def test_expressions_longer_than_a_thousand_characters_are_refused() -> None:
    assert refusal("0" * 1001) == ("the expression has 1001 characters; at most 1000 are allowed")


@pytest.mark.parametrize(
    "source",
    [
        "(" * 1000 + "t" + ")" * 1000,
        "(" * 499 + "t" + ")" * 499,
        "exp(" * 500 + "t" + ")" * 500,
        "-" * 2000 + "t",
        "-" * 999 + "t",
        "~" * 999 + "t",
        "not " * 249 + "t",
        "t" + "**t" * 333,
        "t" + "+t" * 499,
        "exp(t)" + "()" * 497,
        "[" * 499 + "]" * 499,
        "-" * 200 + "t",
    ],
    ids=lambda s: f"{s[:8]}...x{len(s)}",
)
def test_deep_nesting_is_an_expression_error_not_a_recursion_error(source: str) -> None:
    with pytest.raises(ExpressionError):
        compile_expression(source)


def test_nesting_up_to_two_hundred_levels_is_accepted() -> None:
    np.testing.assert_array_equal(evaluate("-" * 199 + "t"), -T)
    np.testing.assert_array_equal(evaluate("exp(" * 199 + "t" + ")" * 199), np.inf)
    assert "nests deeper than 200 levels" in refusal("-" * 200 + "t")


def _frames() -> int:
    frame, count = sys._getframe(), 0
    while frame is not None:
        frame, count = frame.f_back, count + 1  # type: ignore[assignment]
    return count


def _with_frames_to_spare(spare: int, function: Callable[[], Any]) -> Any:
    if sys.getrecursionlimit() - _frames() <= spare:
        return function()
    return _with_frames_to_spare(spare, function)


def test_checking_and_evaluating_need_no_python_recursion() -> None:
    # The deepest nesting allowed, with half as many frames left before Python's limit as there
    # are levels: only the parser's own C-level guard may use that room, nothing per node here.
    deepest = "-" * 199 + "t"
    values = _with_frames_to_spare(100, lambda: compile_expression(deepest)(T))
    np.testing.assert_array_equal(values, -T)


def test_deep_nesting_right_at_the_recursion_limit_is_never_a_recursion_error() -> None:
    # Too deep is an expression error wherever it is compiled.
    with pytest.raises(ExpressionError):
        _with_frames_to_spare(20, functools.partial(compile_expression, "-" * 999 + "t"))
    # Allowed nesting near the limit: Python 3.11's parser counts against the recursion limit
    # and then refuses it as too complex; 3.10's and 3.12's parse it. Either is an answer.
    for source in ["-" * 199 + "t", "exp(" * 199 + "t" + ")" * 199]:
        try:
            _with_frames_to_spare(20, functools.partial(compile_expression, source))
            outcome = "compiled"
        except ExpressionError as error:
            outcome = str(error)
        assert outcome in ("compiled", "the expression is too complex to parse")


# Identity ---------------------------------------------------------------------------------------


def test_expressions_compare_and_hash_by_source() -> None:
    assert compile_expression("t + 1") == compile_expression("t + 1")
    assert compile_expression("t + 1") != compile_expression("1 + t")
    assert len({compile_expression("t"), compile_expression("t")}) == 1


def test_copies_and_pickles_recompile_from_the_source() -> None:
    expression = compile_expression("where(t < 7, t, 0.5 ** t)")
    for clone in (copy.deepcopy(expression), pickle.loads(pickle.dumps(expression))):
        assert clone == expression
        np.testing.assert_array_equal(clone(T), expression(T))


# Fuzzing ----------------------------------------------------------------------------------------


def _check_any_outcome(source: str) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            expression = compile_expression(source)
        except ExpressionError:
            return
        finally:
            assert not caught, [str(warning.message) for warning in caught]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        values = expression(T)
    assert values.dtype == np.float64
    assert values.shape == T.shape


@FUZZ
@given(st.text(max_size=200))
def test_arbitrary_text_compiles_or_is_refused_and_then_evaluates_cleanly(source: str) -> None:
    _check_any_outcome(source)


@FUZZ
@given(st.one_of(token_soup, near_misses))
def test_any_soup_of_tokens_or_near_miss_compiles_or_is_refused_and_then_evaluates_cleanly(
    source: str,
) -> None:
    _check_any_outcome(source)


@FUZZ
@given(exact_expressions, steps)
def test_valid_expressions_of_exactly_rounded_operations_equal_python_to_the_bit(
    source: str, step: float
) -> None:
    # + - * / // % sqrt floor ceil, comparisons, min, max, where: numpy and Python both round
    # exactly, so every value Python can compute must be identical.
    t = np.array([*STEPS, step])
    values = compile_expression(source)(t)
    assert values.dtype == np.float64
    assert values.shape == t.shape
    for value, point in zip(values.tolist(), t.tolist(), strict=True):
        expected = python_value(source, point)
        if expected is not None:
            assert same(value, expected), (source, point, value, expected)


@FUZZ
@given(all_expressions, steps)
def test_valid_expressions_equal_python_math_to_twelve_digits(source: str, step: float) -> None:
    t = np.array([*STEPS, step])
    values = compile_expression(source)(t)
    assert values.dtype == np.float64
    assert values.shape == t.shape
    compared = 0
    for value, point in zip(values.tolist(), t.tolist(), strict=True):
        expected = stable_python_value(source, point)
        if expected is not None:
            compared += 1
            assert same(value, expected, rel=1e-12), (source, point, value, expected)
    event(f"points compared: {compared} of {len(t)}")

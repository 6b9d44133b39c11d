"""The routing-rule condition language: what it accepts, what it refuses (and where),
how it evaluates, and that it never runs the text as Python."""

from __future__ import annotations

import contextlib
import dataclasses
import operator
import pickle
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routing import conditions
from routing.conditions import (
    MAX_DEPTH,
    MAX_SOURCE_LENGTH,
    VOCABULARY,
    CompiledCondition,
    ConditionError,
    ConditionEvalError,
    check_condition,
    compile_condition,
)

# A full context with dull values; each case overrides what it is about.
BASE_CONTEXT: dict[str, object] = {
    "task.id": "t-1",
    "task.type": "code_generation",
    "task.complexity": 5,
    "task.complexity_level": "moderate",
    "task.classification": "routine",
    "task.privacy_level": "low",
    "task.critical": False,
    "task.requires_reasoning": False,
    "task.involves_ui_design": False,
    "task.tags": ["backend"],
    "task.estimated_tokens": 1200,
    "data.contains_pii": False,
    "data.pii_types": [],
    "model.key": "llama3",
    "model.type": "local",
    "model.provider": "ollama",
    "model.tier": "local",
    "model.rate_limit_approaching": False,
    "model.cost_per_1k_input": 0.0,
    "model.cost_per_1k_output": 0.0,
    "model.context_window": 8192,
    "model.capabilities": ["code"],
    "agent.key": "coder",
    "budget_mode": False,
    "cost_limit_reached": False,
    "daily_cost": 1.0,
    "budget": 10.0,
    "session_tokens": 0,
    "warning_level": "normal",
    "force_local": False,
    "strategy": "balanced",
}


def context(overrides: dict[str, object] | None = None) -> dict[str, object]:
    return {**BASE_CONTEXT, **(overrides or {})}


def test_the_base_context_covers_exactly_the_vocabulary() -> None:
    assert set(BASE_CONTEXT) == set(VOCABULARY)


def test_the_vocabulary_has_every_name_rules_need() -> None:
    required = {
        "task.id", "task.type", "task.complexity", "task.complexity_level",
        "task.classification", "task.privacy_level", "task.critical",
        "task.requires_reasoning", "task.involves_ui_design", "task.tags",
        "task.estimated_tokens", "data.contains_pii", "data.pii_types", "model.key",
        "model.type", "model.provider", "model.tier", "model.rate_limit_approaching",
        "model.cost_per_1k_input", "model.cost_per_1k_output", "model.context_window",
        "model.capabilities", "agent.key", "budget_mode", "cost_limit_reached",
        "daily_cost", "budget", "session_tokens", "warning_level", "force_local", "strategy",
    }  # fmt: skip
    assert required <= set(VOCABULARY)
    assert all(isinstance(text, str) and text for text in VOCABULARY.values())


# ------------------------------------------------------------------- seed examples

COMPLEX = '(task.complexity + 2) / 2 >= 5 or task.privacy_level != "low"'
PII_REVIEW = "task.type in ['code_review', 'debug'] and not data.contains_pii"
CRITICAL_LOCAL = "task.critical and model.type == 'local'"

SEED_CASES = [
    ("task.privacy_level == 'high'", {"task.privacy_level": "high"}, True),
    ("task.privacy_level == 'high'", {"task.privacy_level": "medium"}, False),
    ("task.complexity > 8", {"task.complexity": 9}, True),
    ("task.complexity > 8", {"task.complexity": 8}, False),
    ("task.type == 'code_generation'", {}, True),
    ("task.type == 'code_generation'", {"task.type": "debug"}, False),
    ("cost_limit_reached", {"cost_limit_reached": True}, True),
    ("cost_limit_reached", {}, False),
    ("budget_mode == true", {"budget_mode": True}, True),
    ("budget_mode == true", {}, False),
    ("data.contains_pii", {"data.contains_pii": True}, True),
    ("data.contains_pii", {}, False),
    ("model.rate_limit_approaching", {"model.rate_limit_approaching": True}, True),
    ("model.rate_limit_approaching", {}, False),
    ("daily_cost > budget * 0.8", {"daily_cost": 8.5, "budget": 10.0}, True),
    ("daily_cost > budget * 0.8", {"daily_cost": 8.0, "budget": 10.0}, False),
    (CRITICAL_LOCAL, {"task.critical": True}, True),
    (CRITICAL_LOCAL, {"task.critical": True, "model.type": "cloud"}, False),
    (CRITICAL_LOCAL, {"task.critical": False}, False),
    ("task.involves_ui_design", {"task.involves_ui_design": True}, True),
    ("task.involves_ui_design", {}, False),
    (PII_REVIEW, {"task.type": "debug"}, True),
    (PII_REVIEW, {"task.type": "debug", "data.contains_pii": True}, False),
    (PII_REVIEW, {"task.type": "code_generation"}, False),
    ("'urgent' in task.tags", {"task.tags": ["backend", "urgent"]}, True),
    ("'urgent' in task.tags", {}, False),
    (COMPLEX, {"task.complexity": 8}, True),
    (COMPLEX, {"task.complexity": 7, "task.privacy_level": "high"}, True),
    (COMPLEX, {"task.complexity": 7}, False),
]


@pytest.mark.parametrize(("source", "overrides", "expected"), SEED_CASES)
def test_every_seed_example_compiles_and_evaluates_as_expected(
    source: str, overrides: dict[str, object], expected: bool
) -> None:
    assert compile_condition(source).evaluate(context(overrides)) is expected


SEMANTICS_CASES = [
    ("true", {}, True),
    ("false", {}, False),
    ("null", {}, False),
    ("True and not False and None == null", {}, True),
    ("1 < task.complexity < 10", {"task.complexity": 5}, True),
    ("1 < task.complexity < 10", {"task.complexity": 10}, False),
    ("1 + 2 * 3 == 7", {}, True),
    ("10 - 4 - 3 == 3", {}, True),
    ("task.complexity % 3 == 2", {"task.complexity": 5}, True),
    ("-task.complexity < 0 and +task.complexity == 5", {}, True),
    ("not task.critical == true", {"task.critical": False}, True),
    ("task.critical or budget_mode and force_local", {"budget_mode": True}, False),
    ("task.complexity == true", {"task.complexity": 1}, False),
    ("task.complexity != true", {"task.complexity": 1}, True),
    ("task.complexity in [1, 2]", {"task.complexity": 1}, True),
    ("task.complexity in [true]", {"task.complexity": 1}, False),
    ("task.complexity in [-1, 2]", {"task.complexity": -1}, True),
    ("task.type not in ('debug', 'code_review')", {}, True),
    ("task.type in [model.type, agent.key]", {"task.type": "coder"}, True),
    ("'code' in task.type", {}, True),
    ("'rust' in model.capabilities", {}, False),
    ("'email' in data.pii_types", {"data.pii_types": {"email", "phone"}}, True),
    ("task.privacy_level < 'm'", {}, True),
    ("task.id == null", {"task.id": None}, True),
    ("model.capabilities == ['code']", {}, True),
    ("task.tags", {}, True),
    ("task.tags", {"task.tags": []}, False),
    ("daily_cost", {"daily_cost": 0}, False),
    ("daily_cost > budget * 0.8", {"daily_cost": Decimal("9"), "budget": Decimal("10")}, True),
    ("daily_cost / budget == 0.5", {"daily_cost": Decimal("5"), "budget": 10}, True),
    (
        "cost_limit_reached or daily_cost / budget > 1",
        {"cost_limit_reached": True, "budget": 0},
        True,
    ),
    ("force_local and daily_cost / budget > 1", {"budget": 0}, False),
    ("(task.critical\n  and force_local)", {"task.critical": True, "force_local": True}, True),
    ("  task.critical  # a comment\n", {"task.critical": True}, True),
]


@pytest.mark.parametrize(("source", "overrides", "expected"), SEMANTICS_CASES)
def test_operators_follow_python_except_that_bools_are_not_numbers(
    source: str, overrides: dict[str, object], expected: bool
) -> None:
    assert compile_condition(source).evaluate(context(overrides)) is expected


def test_a_name_on_a_short_circuited_branch_is_never_read() -> None:
    condition = compile_condition("force_local and strategy == 'x'")
    assert condition.evaluate({"force_local": False}) is False


def test_one_compiled_condition_serves_many_contexts() -> None:
    condition = compile_condition("task.complexity > 8")
    results = [condition.evaluate({"task.complexity": n}) for n in range(1, 11)]
    assert results == [False] * 8 + [True] * 2


def test_compiling_the_same_source_twice_gives_an_equal_frozen_condition() -> None:
    first, second = compile_condition("budget_mode"), compile_condition("budget_mode")
    assert first == second
    assert isinstance(first, CompiledCondition)
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.source = "true"  # type: ignore[misc]


# ---------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("source", "names"),
    [
        (CRITICAL_LOCAL, {"task.critical", "model.type"}),
        ("budget_mode == true", {"budget_mode"}),
        ("true or null == None", set()),
        ("daily_cost > budget * 0.8 and daily_cost > 1", {"daily_cost", "budget"}),
        ("task.type in ['a', task.id]", {"task.type", "task.id"}),
        (PII_REVIEW, {"task.type", "data.contains_pii"}),
    ],
)
def test_names_lists_each_dotted_name_the_condition_reads(source: str, names: set[str]) -> None:
    assert compile_condition(source).names == frozenset(names)


# ------------------------------------------------------------------------ rejections

DATA_NAMES = "the data names are data.contains_pii, data.pii_types"

REJECTIONS = [
    # syntax errors, with hints for the usual slips
    ("task.complexity > > 3", 1, 19, "invalid syntax"),
    ("task.complexity >", 1, 18, "unexpected end of condition"),
    ("task.type = 'debug'", 1, 11, "invalid syntax: use '==' to compare values"),
    ("budget_mode && force_local", 1, 14, "invalid syntax: use 'and'"),
    (
        "task.critical and\nforce_local",
        1,
        18,
        "invalid syntax: a condition spanning lines must be in parentheses",
    ),
    ("(task.critical and force_local", 1, 1, "'(' was never closed"),
    ("task.type == 'debug", 1, 14, "unterminated string literal (detected at line 1)"),
    # Python only warns about these; a rule refuses them
    ("1in task.tags", 1, 1, "invalid decimal literal"),
    ("'\\d' in task.type", 1, 1, "invalid escape sequence '\\d'"),
    # the closed vocabulary
    (
        "task.complexty > 3",
        1,
        1,
        "unknown name 'task.complexty'; did you mean 'task.complexity' or 'task.complexity_level'?",
    ),
    ("budget_mode and data.pii", 1, 17, f"unknown name 'data.pii'; {DATA_NAMES}"),
    ("budgetmode", 1, 1, "unknown name 'budgetmode'; did you mean 'budget_mode' or 'budget'?"),
    ("nonsense", 1, 1, "unknown name 'nonsense'"),
    (
        "task == 'x'",
        1,
        1,
        "unknown name 'task'; it is a group, use one of its names, "
        "e.g. task.id, task.type, task.complexity",
    ),
    # outside the language
    ("len(task.tags) > 1", 1, 1, "function calls are not allowed"),
    ("__import__('os')", 1, 1, "function calls are not allowed"),
    ("task.tags[0] == 'x'", 1, 1, "indexing and slicing (x[...]) are not allowed"),
    ("task.__class__", 1, 1, "names starting with '__' are not allowed ('task.__class__')"),
    ("'abc'.upper", 1, 1, "attribute access is only allowed on names"),
    ("true and (lambda: true)", 1, 11, "lambda is not allowed"),
    ("task.complexity ** 2 > 10", 1, 1, "'**' is not allowed"),
    ("task.complexity // 2 > 1", 1, 1, "'//' is not allowed; use '/'"),
    ("task.id is null", 1, 1, "'is' is not allowed; use '=='"),
    ("task.id is not null", 1, 1, "'is not' is not allowed; use '!='"),
    ("budget_mode & force_local", 1, 1, "bitwise '&' is not allowed; use 'and'"),
    ("~task.complexity", 1, 1, "'~' is not allowed; use 'not'"),
    ("f'{task.type}' == 'x'", 1, 1, "f-strings are not allowed"),
    ("(x := 1)", 1, 2, "':=' is not allowed"),
    ("[t for t in task.tags]", 1, 1, "comprehensions are not allowed"),
    ("task.type in {'a', 'b'}", 1, 14, "set literals are not allowed; use a list [...]"),
    ("{'a': 1}", 1, 1, "dict literals are not allowed"),
    ("'x' in [*task.tags]", 1, 9, "'*' unpacking is not allowed"),
    (
        "budget_mode if force_local else true",
        1,
        1,
        "'x if c else y' is not allowed; use 'and'/'or'",
    ),
    ("b'x' in task.tags", 1, 1, "bytes literals are not allowed"),
    ("task.complexity == 1j", 1, 20, "complex literals are not allowed"),
    # positions: later lines, characters rather than bytes, stripped indentation
    ("(task.critical and\n    len(task.tags) > 1)", 2, 5, "function calls are not allowed"),
    ("'é' == data.pii", 1, 8, f"unknown name 'data.pii'; {DATA_NAMES}"),
    (
        "'日本語' == task.type and task.tags[0]",
        1,
        24,
        "indexing and slicing (x[...]) are not allowed",
    ),
    ("'éé' ==== task.type", 1, 8, "invalid syntax"),
    ("  data.pii", 1, 3, f"unknown name 'data.pii'; {DATA_NAMES}"),
    ("\n\n  budget_mode and data.pii", 3, 19, f"unknown name 'data.pii'; {DATA_NAMES}"),
    ("task.critical\x00", 1, 14, "invalid character '\\x00'"),
    # limits
    ("", 1, 1, "condition is empty"),
    (" \n\t\n ", 1, 1, "condition is empty"),
    ("-" * 60 + "1", 1, MAX_DEPTH + 1, f"condition is nested too deeply (over {MAX_DEPTH} levels)"),
]


@pytest.mark.parametrize(("source", "line", "column", "message"), REJECTIONS)
def test_a_rejected_condition_reports_its_line_column_and_reason(
    source: str, line: int, column: int, message: str
) -> None:
    with pytest.raises(ConditionError) as caught:
        compile_condition(source)
    assert (caught.value.line, caught.value.column, caught.value.message) == (line, column, message)
    assert str(caught.value) == f"line {line}, column {column}: {message}"


def test_a_condition_over_the_length_limit_is_refused() -> None:
    source = "true or " * 300 + "true"
    assert len(source) > MAX_SOURCE_LENGTH
    error = check_condition(source)
    assert error is not None
    assert error.message == f"condition is too long ({len(source)} characters, limit 2000)"


def test_deeply_nested_parentheses_are_refused_not_a_crash() -> None:
    assert check_condition("(" * 300 + "true" + ")" * 300) is not None
    assert check_condition("not " * 400 + "true") is not None


def test_a_condition_that_is_not_text_is_refused() -> None:
    with pytest.raises(ConditionError, match="condition must be text, not bool"):
        compile_condition(True)  # type: ignore[arg-type]


def test_check_condition_returns_none_or_the_error() -> None:
    assert check_condition(PII_REVIEW) is None
    error = check_condition("task.nope")
    assert isinstance(error, ConditionError)
    assert (error.line, error.column) == (1, 1)


def test_a_condition_error_is_a_value_error_that_survives_pickling() -> None:
    error = ConditionError("unknown name 'x'", 2, 7)
    assert isinstance(error, ValueError)
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own object
    assert (copy.message, copy.line, copy.column) == ("unknown name 'x'", 2, 7)
    assert str(copy) == "line 2, column 7: unknown name 'x'"


# ------------------------------------------------------------------ evaluation errors

EVALUATION_ERRORS = [
    ("strategy == 'x'", {}, "no value for 'strategy' in the context"),
    ("task.privacy_level > 1", BASE_CONTEXT, "cannot compare str and int with '>'"),
    ("'a' > 1", {}, "cannot compare str and int with '>'"),
    ("task.critical < 1", BASE_CONTEXT, "cannot compare bool and int with '<'"),
    ("task.id >= null", {"task.id": None}, "cannot compare null and null with '>='"),
    ("true + 1 == 2", {}, "'+' needs two numbers, got bool and int"),
    ("budget_mode * 2", BASE_CONTEXT, "'*' needs two numbers, got bool and int"),
    ("task.tags - 1", BASE_CONTEXT, "'-' needs two numbers, got list and int"),
    ("'a' + 'b' == 'ab'", {}, "'+' needs two numbers, got str and str"),
    ("-task.type", BASE_CONTEXT, "unary '-' needs a number, got str"),
    ("daily_cost / budget > 1", context({"budget": 0}), "division by zero in '/'"),
    ("task.complexity % 0 == 1", BASE_CONTEXT, "division by zero in '%'"),
    (
        "daily_cost / budget > 1",
        {"daily_cost": Decimal(1), "budget": Decimal(0)},
        "division by zero in '/'",
    ),
    ("1 in task.type", BASE_CONTEXT, "'in' on a string needs a string on the left, got int"),
    ("'x' in task.complexity", BASE_CONTEXT, "'in' needs a list or a string on the right, got int"),
]


@pytest.mark.parametrize(("source", "values", "message"), EVALUATION_ERRORS)
def test_an_evaluation_problem_raises_instead_of_returning_false(
    source: str, values: dict[str, object], message: str
) -> None:
    condition = compile_condition(source)
    with pytest.raises(ConditionEvalError) as caught:
        condition.evaluate(values)
    assert (caught.value.source, caught.value.message) == (source, message)
    assert str(caught.value) == f"{message} (in condition {source!r})"


def test_division_by_zero_keeps_the_arithmetic_error_as_its_cause() -> None:
    with pytest.raises(ConditionEvalError) as caught:
        compile_condition("daily_cost / budget > 1").evaluate(context({"budget": 0}))
    assert isinstance(caught.value.__cause__, ZeroDivisionError)


# ------------------------------------------- property: agrees with a reference model

NUMERIC_NAMES = (
    "task.complexity",
    "daily_cost",
    "budget",
    "session_tokens",
    "model.context_window",
)
ARITHMETIC = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "%": operator.mod,
}
COMPARISONS = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}

numbers = st.one_of(
    st.integers(-1000, 1000),
    st.floats(-1000, 1000, allow_nan=False, allow_infinity=False),
)
numeric_leaves = st.one_of(
    numbers.map(lambda value: ("number", value)),
    st.sampled_from(NUMERIC_NAMES).map(lambda name: ("name", name)),
)
numeric_trees = st.recursive(
    numeric_leaves,
    lambda inner: st.one_of(
        st.tuples(st.just("negate"), inner),
        st.tuples(st.just("arithmetic"), st.sampled_from(sorted(ARITHMETIC)), inner, inner),
    ),
    max_leaves=6,
)
comparison_trees = st.integers(1, 3).flatmap(
    lambda count: st.tuples(
        st.just("compare"),
        st.lists(st.sampled_from(sorted(COMPARISONS)), min_size=count, max_size=count),
        st.lists(numeric_trees, min_size=count + 1, max_size=count + 1),
    )
)
boolean_trees = st.recursive(
    st.one_of(comparison_trees, st.booleans().map(lambda value: ("bool", value))),
    lambda inner: st.one_of(
        st.tuples(st.just("not"), inner),
        st.tuples(st.sampled_from(["and", "or"]), st.lists(inner, min_size=2, max_size=3)),
    ),
    max_leaves=5,
)
numeric_contexts = st.fixed_dictionaries(dict.fromkeys(NUMERIC_NAMES, numbers))


def render(tree: tuple) -> str:
    """Source text for a tree, fully parenthesised so precedence can't differ."""
    kind = tree[0]
    if kind == "number":
        return f"({tree[1]!r})"
    if kind == "name":
        return tree[1]
    if kind == "bool":
        return "true" if tree[1] else "false"
    if kind == "negate":
        return f"(-{render(tree[1])})"
    if kind == "arithmetic":
        return f"({render(tree[2])} {tree[1]} {render(tree[3])})"
    if kind == "compare":
        text = render(tree[2][0])
        for symbol, operand in zip(tree[1], tree[2][1:], strict=True):
            text += f" {symbol} {render(operand)}"
        return f"({text})"
    if kind == "not":
        return f"(not {render(tree[1])})"
    return "(" + f" {kind} ".join(render(part) for part in tree[1]) + ")"


def reference(tree: tuple, values: dict[str, object]) -> object:
    """An independent tree-walking interpreter built on the operator module."""
    kind = tree[0]
    if kind in ("number", "bool"):
        return tree[1]
    if kind == "name":
        return values[tree[1]]
    if kind == "negate":
        return operator.neg(reference(tree[1], values))
    if kind == "arithmetic":
        return ARITHMETIC[tree[1]](reference(tree[2], values), reference(tree[3], values))
    if kind == "compare":
        left = reference(tree[2][0], values)
        for symbol, operand in zip(tree[1], tree[2][1:], strict=True):
            right = reference(operand, values)
            if not COMPARISONS[symbol](left, right):
                return False
            left = right
        return True
    if kind == "not":
        return not reference(tree[1], values)
    result: object = None
    for part in tree[1]:  # "and" / "or", short-circuiting like Python
        result = reference(part, values)
        if bool(result) is (kind == "or"):
            return result
    return result


def names_in(tree: tuple) -> set[str]:
    if tree[0] == "name":
        return {tree[1]}
    found: set[str] = set()
    for part in tree[1:]:
        for item in part if isinstance(part, list) else [part]:
            if isinstance(item, tuple):
                found |= names_in(item)
    return found


@settings(max_examples=300, deadline=None)
@given(tree=st.one_of(boolean_trees, numeric_trees), values=numeric_contexts)
def test_evaluation_agrees_with_a_reference_interpreter(tree: tuple, values: dict) -> None:
    condition = compile_condition(render(tree))
    assert condition.names == names_in(tree)
    try:
        expected = bool(reference(tree, values))
    except (ZeroDivisionError, OverflowError):
        with pytest.raises(ConditionEvalError):
            condition.evaluate(values)
    else:
        assert condition.evaluate(values) is expected


# ----------------------------------------- property: any text fails only in known ways

TOKENS = [
    "task.complexity", "task.type", "task.tags", "budget_mode", "daily_cost", "task",
    "task.nope", "true", "false", "null", "None", "'x'", "'é'", "1", "2.5", "0", "(", ")",
    "[", "]", ",", "+", "-", "*", "/", "%", "**", "==", "!=", "<", ">=", "in", "not", "and",
    "or", "is", ".", "=", "\n", "#", "len", "lambda", ":", "__class__", "{", "}", "if",
    "else", "'", '"', "\\", "\t", "日本",
]  # fmt: skip
sources = st.one_of(
    st.lists(st.sampled_from(TOKENS), max_size=25).map(" ".join),
    st.lists(st.sampled_from(TOKENS), max_size=25).map("".join),
    st.text(max_size=60),
)


@settings(max_examples=500, deadline=None)
@given(source=sources)
def test_any_text_either_compiles_or_fails_with_a_position_inside_it(source: str) -> None:
    error = check_condition(source)  # anything but a ConditionError propagates and fails
    if error is not None:
        lines = re.split(r"\r\n|\r|\n", source)
        assert 1 <= error.line <= len(lines)
        assert 1 <= error.column <= len(lines[error.line - 1]) + 1
        return
    # A valid condition gives a bool or a ConditionEvalError, never another exception.
    with contextlib.suppress(ConditionEvalError):
        assert isinstance(compile_condition(source).evaluate(BASE_CONTEXT), bool)


# ----------------------------------------------------------------- module hygiene

MODULE_SOURCE = Path(conditions.__file__).read_text(encoding="utf-8")
# Spelled in pieces so this file does not contain the words it looks for.
FORBIDDEN = ["import django", "from django", "ev" + "al(", "ex" + "ec(", "com" + "pile("]


@pytest.mark.parametrize("text", FORBIDDEN)
def test_the_module_source_never_contains(text: str) -> None:
    assert text not in MODULE_SOURCE


def test_the_module_starts_with_a_docstring_then_future_annotations() -> None:
    assert MODULE_SOURCE.startswith('"""')
    assert "from __future__ import annotations" in MODULE_SOURCE


def test_the_module_imports_and_works_without_django() -> None:
    script = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('conditions', {conditions.__file__!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "sys.modules['conditions'] = module\n"
        "spec.loader.exec_module(module)\n"
        "assert module.compile_condition('budget_mode').evaluate({'budget_mode': True})\n"
        "assert not any(name.split('.')[0] == 'django' for name in sys.modules)\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)

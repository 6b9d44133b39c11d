"""The condition language of routing rules, and its safe evaluator.

A condition such as ``task.type in ['code_review', 'debug'] and not data.contains_pii``
is a subset of Python expression syntax. The stdlib parser (``ast.parse``, "eval" mode)
does tokenising and precedence; the text itself is never handed to Python to run.

* Whitelist: every node type, operator and literal type must be listed here, so what a
  later Python adds is refused by default. Refusals are ``ConditionError``s carrying a
  1-based line and column (in characters, not bytes).
* Closed vocabulary: every dotted name must be in ``VOCABULARY``, so a typo such as
  ``task.complexty`` fails when the rule is saved, not silently when it is routed.
* Closures: each node becomes a plain function capturing its children's functions, so
  evaluation is a few calls and dict look-ups; the AST is not kept.
* Loud evaluation: a missing value, a type mismatch (``'a' > 1``, ``true + 1``) or a
  division by zero raises ``ConditionEvalError``, never a quiet False: a rule that
  silently stops matching is worse than one that fails visibly. ``and``/``or``
  short-circuit as in Python, so only the names actually reached are read.

Pure Python (no Django, settings or clock) so validators, the router and offline tools
can all use it.
"""

from __future__ import annotations

import ast
import difflib
import functools
import operator
import re
import warnings
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType

# Both limits keep a hostile or runaway condition from exhausting the stack or memory.
MAX_SOURCE_LENGTH = 2000
MAX_DEPTH = 50

VOCABULARY: Mapping[str, str] = MappingProxyType(
    {
        "task.id": "str: the task's identifier",
        "task.type": "str: task type, e.g. code_generation, code_review, debug",
        "task.complexity": "number: 1-10",
        "task.complexity_level": "str: simple | moderate | complex | critical",
        "task.classification": "str: routine | creative | critical",
        "task.privacy_level": "str: low | medium | high",
        "task.critical": "bool: the task is critical",
        "task.requires_reasoning": "bool: the task needs multi-step reasoning",
        "task.involves_ui_design": "bool: the task involves UI design",
        "task.tags": "list of str: free-form tags",
        "task.estimated_tokens": "int: estimated tokens for the task",
        "data.contains_pii": "bool: the payload contains personal data",
        "data.pii_types": "list of str: kinds of personal data found, e.g. email",
        "model.key": "str: the candidate model's key",
        "model.type": "str: cloud | local",
        "model.provider": "str: the model's provider key",
        "model.tier": "str: local | fast_cloud | premium",
        "model.rate_limit_approaching": "bool: the model is near its rate limit",
        "model.cost_per_1k_input": "number: USD per 1,000 input tokens",
        "model.cost_per_1k_output": "number: USD per 1,000 output tokens",
        "model.context_window": "int: context window in tokens",
        "model.capabilities": "list of str: capabilities, e.g. vision, tools",
        "agent.key": "str: the calling agent's key",
        "budget_mode": "bool: budget mode is on",
        "cost_limit_reached": "bool: a cost limit has been reached",
        "daily_cost": "number: USD spent today",
        "budget": "number: the daily budget in USD",
        "session_tokens": "int: tokens used in this session",
        "warning_level": "str: normal | warning | critical",
        "force_local": "bool: only local models may be used",
        "strategy": "str: the routing strategy in effect",
    }
)

# The seeds write JSON/YAML-style literals; Python's True/False/None are ast.Constant.
_LITERAL_NAMES: Mapping[str, object] = {"true": True, "false": False, "null": None}


class ConditionError(ValueError):
    """A condition that does not parse or uses something outside the language."""

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(message, line, column)  # all three, so it survives pickling
        self.message = message
        self.line = line
        self.column = column

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}: {self.message}"


class ConditionEvalError(Exception):
    """Raised when a valid condition cannot be evaluated against a context (missing
    value, type mismatch, division by zero). Carries .source and .message. Never
    swallowed by this module."""

    def __init__(self, source: str, message: str) -> None:
        super().__init__(source, message)
        self.source = source
        self.message = message

    def __str__(self) -> str:
        return f"{self.message} (in condition {self.source!r})"


class _Problem(Exception):
    """Raised by the closures, which do not know the source text; evaluate() turns it
    into a ConditionEvalError."""


_Fn = Callable[[Mapping[str, object]], object]
_BinaryFn = Callable[[object, object], object]


@dataclass(frozen=True)
class CompiledCondition:
    """A checked condition, ready to evaluate any number of times. Build it with
    compile_condition(); ``_run`` is the closure tree."""

    source: str
    names: frozenset[str]  # dotted names the condition reads
    _run: _Fn = field(repr=False, compare=False)

    def evaluate(self, context: Mapping[str, object]) -> bool:
        """Evaluate against ``context`` (dotted name -> value, e.g. {"task.complexity": 9})."""
        try:
            return bool(self._run(context))
        except _Problem as exc:
            raise ConditionEvalError(self.source, str(exc)) from exc.__cause__
        except (TypeError, ArithmeticError) as exc:  # exotic values, e.g. Decimal('NaN') < 1
            raise ConditionEvalError(self.source, f"{type(exc).__name__}: {exc}") from exc


# --- run-time operators: each checks its operand types, so mistakes fail loudly


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__


_NUMBER_TYPES = (int, float, Decimal)


def _is_number(value: object) -> bool:
    # bool is an int subclass; excluding it is what makes `true + 1` an error. Decimal
    # is accepted because Django DecimalFields are a natural source of costs. Plain ints
    # and floats are tested first: this runs for every comparison a rule makes.
    kind = type(value)
    if kind is int or kind is float:
        return True
    return isinstance(value, _NUMBER_TYPES) and not isinstance(value, bool)


def _equal(a: object, b: object) -> bool:
    # Without this, `task.complexity == true` would hold for a complexity of 1.
    return isinstance(a, bool) is isinstance(b, bool) and a == b


def _arithmetic(symbol: str, op: _BinaryFn) -> _BinaryFn:
    def apply(a: object, b: object) -> object:
        if not (_is_number(a) and _is_number(b)):
            raise _Problem(f"'{symbol}' needs two numbers, got {_kind(a)} and {_kind(b)}")
        try:
            if isinstance(a, float) or isinstance(b, float):  # Decimal + float: TypeError
                a, b = float(a), float(b)  # type: ignore[arg-type]
            return op(a, b)
        except ZeroDivisionError as exc:
            raise _Problem(f"division by zero in '{symbol}'") from exc
        except ArithmeticError as exc:
            raise _Problem(f"arithmetic error in '{symbol}': {exc}") from exc

    return apply


def _ordering(symbol: str, op: _BinaryFn) -> _BinaryFn:
    def apply(a: object, b: object) -> object:
        # Python would also order bools and lists; in a routing rule that is a mistake.
        if (_is_number(a) and _is_number(b)) or (isinstance(a, str) and isinstance(b, str)):
            return op(a, b)
        raise _Problem(f"cannot compare {_kind(a)} and {_kind(b)} with '{symbol}'")

    return apply


def _contains(item: object, container: object) -> bool:
    if isinstance(container, str):
        if not isinstance(item, str):
            raise _Problem(f"'in' on a string needs a string on the left, got {_kind(item)}")
        return item in container
    # A list (what rules read) is tested first: the Collection check is slow.
    if type(container) is list or (
        isinstance(container, Collection) and not isinstance(container, bytes | bytearray)
    ):
        return any(_equal(item, member) for member in container)  # _equal: no 1 == true
    raise _Problem(f"'in' needs a list or a string on the right, got {_kind(container)}")


_BINARY_OPS: Mapping[type[ast.AST], _BinaryFn] = {
    ast.Add: _arithmetic("+", operator.add),
    ast.Sub: _arithmetic("-", operator.sub),
    ast.Mult: _arithmetic("*", operator.mul),
    ast.Div: _arithmetic("/", operator.truediv),
    ast.Mod: _arithmetic("%", operator.mod),
}
_COMPARE_OPS: Mapping[type[ast.AST], _BinaryFn] = {
    ast.Eq: _equal,
    ast.NotEq: lambda a, b: not _equal(a, b),
    ast.Lt: _ordering("<", operator.lt),
    ast.LtE: _ordering("<=", operator.le),
    ast.Gt: _ordering(">", operator.gt),
    ast.GtE: _ordering(">=", operator.ge),
    ast.In: _contains,
    ast.NotIn: lambda a, b: not _contains(a, b),
}

_SIGNS: Mapping[type[ast.AST], tuple[str, Callable[[object], object]]] = {
    ast.USub: ("-", operator.neg),
    ast.UAdd: ("+", operator.pos),
}

# Friendly messages for what people actually try; anything else gets a generic one.
_REJECTED: Mapping[type[ast.AST], str] = {
    ast.Call: "function calls are not allowed",
    ast.Subscript: "indexing and slicing (x[...]) are not allowed",
    ast.Lambda: "lambda is not allowed",
    ast.IfExp: "'x if c else y' is not allowed; use 'and'/'or'",
    ast.NamedExpr: "':=' is not allowed",
    ast.JoinedStr: "f-strings are not allowed",
    **dict.fromkeys(
        (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp),
        "comprehensions are not allowed",
    ),
    ast.Dict: "dict literals are not allowed",
    ast.Set: "set literals are not allowed; use a list [...]",
    ast.Starred: "'*' unpacking is not allowed",
    ast.Pow: "'**' is not allowed",
    ast.FloorDiv: "'//' is not allowed; use '/'",
    ast.BitAnd: "bitwise '&' is not allowed; use 'and'",
    ast.BitOr: "bitwise '|' is not allowed; use 'or'",
    ast.Invert: "'~' is not allowed; use 'not'",
    ast.Is: "'is' is not allowed; use '=='",
    ast.IsNot: "'is not' is not allowed; use '!='",
}

# Exactly Python's line breaks: str.splitlines() also splits on form feeds and Unicode
# separators, which would throw line numbers off.
_LINE_BREAK = r"\r\n|\r|\n"
_NOT_LITERAL = object()


def _position_at(text: str, index: int) -> tuple[int, int]:
    """1-based (line, column) of the character at ``index``."""
    lines = re.split(_LINE_BREAK, text[:index])
    return len(lines), len(lines[-1]) + 1


class _Builder:
    """Checks the AST against the whitelist and turns it into closures in one pass."""

    def __init__(self, body: str, line_shift: int, column_shift: int) -> None:
        self.lines = re.split(_LINE_BREAK, body)
        self.line_shift = line_shift  # leading whitespace stripped before parsing
        self.column_shift = column_shift
        self.names: set[str] = set()

    def fail(self, node: ast.AST, message: str) -> ConditionError:
        line: int = node.lineno  # type: ignore[attr-defined]
        # col_offset counts UTF-8 bytes; people count characters.
        prefix = self.lines[line - 1].encode("utf-8")[: node.col_offset]  # type: ignore[attr-defined]
        column = len(prefix.decode("utf-8", "replace")) + 1
        return ConditionError(
            message, line + self.line_shift, column + (self.column_shift if line == 1 else 0)
        )

    def reject(self, node: ast.AST, kind: ast.AST) -> ConditionError:
        default = f"{type(kind).__name__} is not allowed"
        return self.fail(node, _REJECTED.get(type(kind), default))

    def build(self, node: ast.AST, depth: int) -> _Fn:
        if depth > MAX_DEPTH:
            raise self.fail(node, f"condition is nested too deeply (over {MAX_DEPTH} levels)")
        depth += 1
        value = self.literal(node)
        if value is not _NOT_LITERAL:
            return lambda ctx: value
        if isinstance(node, ast.BoolOp):
            return self.boolean(node, depth)
        if isinstance(node, ast.UnaryOp):
            return self.unary(node, depth)
        if isinstance(node, ast.BinOp):
            op = _BINARY_OPS.get(type(node.op))
            if op is None:
                raise self.reject(node, node.op)
            left, right = self.build(node.left, depth), self.build(node.right, depth)
            return lambda ctx: op(left(ctx), right(ctx))
        if isinstance(node, ast.Compare):
            return self.compare(node, depth)
        if isinstance(node, ast.Name | ast.Attribute):
            return self.name(node)
        if isinstance(node, ast.List | ast.Tuple):
            return self.sequence(node, depth)
        raise self.reject(node, node)

    def literal(self, node: ast.AST) -> object:
        """The constant value of ``node``, or _NOT_LITERAL. Also vets constant types."""
        if isinstance(node, ast.Name):
            return _LITERAL_NAMES.get(node.id, _NOT_LITERAL)
        if isinstance(node, ast.Constant):
            if node.value is None or isinstance(node.value, bool | int | float | str):
                return node.value
            raise self.fail(node, f"{_kind(node.value)} literals are not allowed")
        return _NOT_LITERAL

    def boolean(self, node: ast.BoolOp, depth: int) -> _Fn:
        parts = [self.build(value, depth) for value in node.values]
        # As in Python: `and` stops at the first falsy operand, `or` at the first truthy
        # one, and the result is the deciding operand itself.
        stop_when = isinstance(node.op, ast.Or)

        def run(ctx: Mapping[str, object]) -> object:
            for part in parts:
                value = part(ctx)
                if bool(value) is stop_when:
                    return value
            return value

        return run

    def unary(self, node: ast.UnaryOp, depth: int) -> _Fn:
        operand = self.build(node.operand, depth)
        if isinstance(node.op, ast.Not):
            return lambda ctx: not operand(ctx)
        if type(node.op) not in _SIGNS:
            raise self.reject(node, node.op)
        symbol, apply = _SIGNS[type(node.op)]

        def run(ctx: Mapping[str, object]) -> object:
            value = operand(ctx)
            if not _is_number(value):
                raise _Problem(f"unary '{symbol}' needs a number, got {_kind(value)}")
            return apply(value)

        return run

    def compare(self, node: ast.Compare, depth: int) -> _Fn:
        for op_node in node.ops:
            if type(op_node) not in _COMPARE_OPS:
                raise self.reject(node, op_node)
        ops = [_COMPARE_OPS[type(op_node)] for op_node in node.ops]
        first = self.build(node.left, depth)
        rest = [self.build(value, depth) for value in node.comparators]
        if len(ops) == 1:  # the common case: no loop
            op, second = ops[0], rest[0]
            return lambda ctx: op(first(ctx), second(ctx))
        steps = list(zip(ops, rest, strict=True))

        def run(ctx: Mapping[str, object]) -> bool:
            # a < b < c: each operand is evaluated once; stop at the first failure.
            left = first(ctx)
            for check, part in steps:
                right = part(ctx)
                if not check(left, right):
                    return False
                left = right
            return True

        return run

    def sequence(self, node: ast.List | ast.Tuple, depth: int) -> _Fn:
        make = list if isinstance(node, ast.List) else tuple
        values = [self.literal(element) for element in node.elts]
        if _NOT_LITERAL not in values:
            # Built once and shared: it never escapes (evaluate returns a bool).
            constant = make(values)
            return lambda ctx: constant
        parts = [self.build(element, depth) for element in node.elts]
        return lambda ctx: make(part(ctx) for part in parts)

    def name(self, node: ast.Name | ast.Attribute) -> _Fn:
        parts: list[str] = []
        link: ast.AST = node
        while isinstance(link, ast.Attribute):  # a loop: a long chain cannot recurse
            parts.append(link.attr)
            link = link.value
        if not isinstance(link, ast.Name):
            raise self.fail(node, "attribute access is only allowed on names")
        name = ".".join([link.id, *reversed(parts)])
        if any(part.startswith("__") for part in name.split(".")):
            raise self.fail(node, f"names starting with '__' are not allowed ({name!r})")
        if name not in VOCABULARY:
            raise self.fail(node, _unknown_name_message(name))
        self.names.add(name)

        def read(ctx: Mapping[str, object]) -> object:
            try:
                return ctx[name]
            except KeyError:
                raise _Problem(f"no value for {name!r} in the context") from None

        return read


def _unknown_name_message(name: str) -> str:
    message = f"unknown name {name!r}"
    group = [known for known in VOCABULARY if known.startswith(name + ".")]
    if group:  # a prefix such as `task` on its own
        return f"{message}; it is a group, use one of its names, e.g. {', '.join(group[:3])}"
    # Within a known group compare only the last part: every `task.*` name shares the
    # prefix, which would make any `task.x` look "close" to all of them.
    head, _, leaf = name.rpartition(".")
    siblings = {k.rpartition(".")[2]: k for k in VOCABULARY if k.rpartition(".")[0] == head}
    if head and siblings:
        close = [siblings[m] for m in difflib.get_close_matches(leaf, siblings, n=3, cutoff=0.6)]
    else:
        close = difflib.get_close_matches(name, VOCABULARY, n=3, cutoff=0.6)
    if close:
        return f"{message}; did you mean {' or '.join(repr(c) for c in close)}?"
    if head and siblings:
        return f"{message}; the {head} names are {', '.join(siblings.values())}"
    return message


_SYNTAX_HINTS = {
    "=": "use '==' to compare values",
    "&": "use 'and'",
    "|": "use 'or'",
    "!": "use 'not', or '!=' to compare",
}


def _syntax_error(exc: SyntaxError, body: str, shift: tuple[int, int]) -> ConditionError:
    lines = re.split(_LINE_BREAK, body)
    line = min(max(exc.lineno or 1, 1), len(lines))
    column = max(exc.offset or 1, 1)  # for str input Python counts characters here
    message = exc.msg.replace("unexpected EOF while parsing", "unexpected end of condition")
    if message == "invalid syntax":
        text = lines[line - 1]
        rest = text[column - 1 :].strip()
        at_line_end = not rest or rest.startswith("#")
        if at_line_end and not "".join(lines[line:]).strip():
            message = "unexpected end of condition"
        elif at_line_end:
            message = "invalid syntax: a condition spanning lines must be in parentheses"
        elif rest[0] in _SYNTAX_HINTS and not (
            rest[0] == "=" and text[column - 2 : column - 1] in "=<>!"
        ):
            message = f"invalid syntax: {_SYNTAX_HINTS[rest[0]]}"
    return ConditionError(message, line + shift[0], column + (shift[1] if line == 1 else 0))


@functools.lru_cache(maxsize=1024)
def _compile_cached(source: str) -> CompiledCondition:
    # Rules are compiled far more often than they change; CompiledCondition is
    # immutable and its closures hold no state, so sharing instances is safe.
    if len(source) > MAX_SOURCE_LENGTH:
        message = f"condition is too long ({len(source)} characters, limit {MAX_SOURCE_LENGTH})"
        raise ConditionError(message, 1, 1)
    if not source.strip():
        raise ConditionError("condition is empty", 1, 1)
    bad = re.search(r"[\x00\ud800-\udfff]", source)  # the parser cannot take these
    if bad:
        raise ConditionError(
            f"invalid character {bad.group()!r}", *_position_at(source, bad.start())
        )
    # The parser rejects leading indentation; strip it, but report positions in the
    # text as written.
    body = source.lstrip(" \t\f\r\n")
    start_line, start_column = _position_at(source, len(source) - len(body))
    shift = (start_line - 1, start_column - 1)
    try:
        # Python merely warns about sloppy text such as `1in x` or '\d'; for a rule we
        # refuse it (the warning becomes a SyntaxError with a position). The trailing
        # newline gives errors at the very end a real column ("eval" mode says 0).
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            tree = ast.parse(body + "\n", mode="eval")
    except SyntaxError as exc:
        raise _syntax_error(exc, body, shift) from None
    except (RecursionError, MemoryError):
        raise ConditionError("condition is too complex", 1, 1) from None
    builder = _Builder(body, *shift)
    run = builder.build(tree.body, 1)
    return CompiledCondition(source=source, names=frozenset(builder.names), _run=run)


def compile_condition(source: str) -> CompiledCondition:
    """Parse and check ``source``; raise ConditionError (with its position) if invalid."""
    if not isinstance(source, str):  # e.g. YAML turned `when: true` into a bool
        raise ConditionError(f"condition must be text, not {_kind(source)}", 1, 1)
    return _compile_cached(source)


def check_condition(source: str) -> ConditionError | None:
    """The error ``compile_condition`` would raise, or None if ``source`` is valid."""
    try:
        compile_condition(source)
    except ConditionError as exc:
        return exc
    return None

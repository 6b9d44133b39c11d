"""Request features: token estimates, complexity (seed 000's classifier as a 1-10 score
with reasons), task types in our vocabulary, the text of chat messages, and the purity of
the engine's feature modules. Pure functions: no database."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routing.engine import features, pii
from routing.engine.features import (
    COMPLEXITY_LEVELS,
    COMPLEXITY_VALUE_ERROR,
    LEVEL_SCORES,
    TASK_TYPE_ALIASES,
    TASK_TYPE_EMPTY_ERROR,
    TASK_TYPES,
    Complexity,
    RequestFeatures,
    classify_complexity,
    complexity_from_given,
    estimate_tokens,
    extract_features,
    infer_task_type,
    level_for_score,
    messages_text,
    normalize_task_type,
    token_counter_name,
)
from routing.engine.pii import PiiFinding

PROSE = (
    "The quarterly report shows that the support team handled more requests than last "
    "year, and the average response time improved by several minutes. Please read the "
    "notes, look at the results for the previous period, and suggest where we should "
    "focus next. We also need a short overview of the main risks: staffing, tooling and "
    "the new ticket system, which arrives in spring. "
)

LONG_DESIGN_PROMPT = (
    "Design a new event ingestion service for our analytics platform. First, describe "
    "the data model, then the public interface, then the storage layout.\n"
    "1. List the components and what each one is responsible for.\n"
    "2. Show how the components talk to each other and recover from failures.\n"
    "3. Describe how the service grows when traffic grows tenfold.\n\n"
    + (
        "Our platform receives events from mobile apps, web browsers and partner systems. "
        "Each event carries a type, a timestamp, a user identifier and a small payload. "
        "Traffic is uneven during the day and peaks in the evening hours. "
    )
    * 25
)


def classify(text: str) -> Complexity:
    return classify_complexity(text, estimate_tokens(text))


# ------------------------------------------------------------------------ complexity


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("Write a fibonacci function", "moderate"),
        ("Audit production deployment for security vulnerabilities", "critical"),
        ("hello", "simple"),
        ("summarize this paragraph", "simple"),
        (LONG_DESIGN_PROMPT, "complex"),
    ],
)
def test_seed_000s_examples_get_seed_000s_levels(text: str, level: str) -> None:
    assert classify(text).level == level


@pytest.mark.parametrize(
    ("text", "reasons"),
    [
        ("Audit production deployment for security vulnerabilities", {"keyword:production"}),
        ("Write a fibonacci function", {"code_request"}),
        ("hello", {"keyword:hello"}),
        ("What is a monad?", {"keyword:what is"}),
        (LONG_DESIGN_PROMPT, {"keyword:design", "multi_step"}),
        ("```python\nprint(1)\n```\nWhy does this fail?", {"code_block"}),
        ("Refactor this:\nimport os\ndef main(x):\n    return x", {"code_syntax"}),
        ("Explain it step by step.", {"multi_step"}),
        ("Why does it fail? What did I miss?", {"several_questions"}),
    ],
)
def test_the_reasons_name_what_drove_the_score(text: str, reasons: set[str]) -> None:
    assert reasons <= set(classify(text).reasons)


def test_a_long_prompt_reason_carries_its_token_count() -> None:
    text = PROSE * 30
    tokens = estimate_tokens(text)
    assert f"long_prompt:{tokens}_tokens" in classify(text).reasons
    assert "long_prompt:2400_tokens" in classify_complexity("hi", 2400).reasons


@pytest.mark.parametrize(
    "keyword",
    ["deploy", "production", "delete", "admin", "payment", "credential", "secret"],
)
def test_a_critical_keyword_alone_makes_a_task_critical(keyword: str) -> None:
    result = classify(f"please {keyword} it")
    assert result.score >= 9
    assert result.level == "critical"
    assert f"keyword:{keyword}" in result.reasons


@pytest.mark.parametrize(
    "keyword", ["research", "analyze", "compare", "design", "architect", "security", "audit"]
)
def test_a_complex_keyword_makes_a_task_at_least_complex(keyword: str) -> None:
    result = classify(f"please {keyword} it")
    assert result.level == "complex"
    assert f"keyword:{keyword}" in result.reasons


@pytest.mark.parametrize(
    ("text", "keyword"),
    [
        ("We are analyzing the logs", "analyze"),
        ("Two designs were proposed", "design"),
        ("The deployment failed", "deploy"),
        ("Show me the payments", "payment"),
        ("Rotate the credentials", "credential"),
        ("Which architecture fits?", "architect"),
        ("Deleting old rows", "delete"),
    ],
)
def test_keywords_match_their_inflected_forms(text: str, keyword: str) -> None:
    assert f"keyword:{keyword}" in classify(text).reasons


@pytest.mark.parametrize(
    "text",
    [
        "I admire your admiration",  # not "admin"
        "The productivity is great",  # not "production"
        "A redesign-free release",  # "redesign" is another word
        "Classify these",  # not code's "class"
    ],
)
def test_keywords_match_whole_words_only(text: str) -> None:
    assert not any(reason.startswith("keyword:") for reason in classify(text).reasons)


def test_two_critical_keywords_score_ten() -> None:
    assert classify("delete the admin account").score == 10


@pytest.mark.parametrize(
    "text",
    [
        "hello",
        "Write a fibonacci function",
        "Audit production deployment for security vulnerabilities",
        LONG_DESIGN_PROMPT,
        PROSE * 40,
        "```js\nconst x = () => { return 1; };\n```",
        "",
    ],
)
def test_the_level_always_follows_from_the_score(text: str) -> None:
    result = classify(text)
    assert 1 <= result.score <= 10
    assert result.level == level_for_score(result.score)
    assert result.level in COMPLEXITY_LEVELS


@pytest.mark.parametrize(
    ("score", "level"),
    [(1, "simple"), (3, "simple"), (4, "moderate"), (6, "moderate"), (7, "complex"),
     (8, "complex"), (9, "critical"), (10, "critical")],
)  # fmt: skip
def test_levels_are_bands_of_the_score(score: int, level: str) -> None:
    assert level_for_score(score) == level


def test_a_complexity_whose_level_contradicts_its_score_cannot_be_made() -> None:
    with pytest.raises(ValueError, match="does not match"):
        Complexity(level="simple", score=9, reasons=())


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=400))
def test_classification_is_deterministic_and_consistent(text: str) -> None:
    first = classify(text)
    features._lexicon.cache_clear()
    features._stats.cache_clear()
    again = classify("".join(list(text)))
    assert first == again
    assert first.level == level_for_score(first.score)


@pytest.mark.parametrize(
    "text", ["SELECT " * 5000, "func (" * 5000, "def " * 5000, "\n1. " * 5000, "first then " * 3000]
)
def test_repetitive_text_is_classified_in_linear_time(text: str) -> None:
    # Bounded patterns keep these to milliseconds; a regression shows as a crawling test.
    assert classify(text).level in COMPLEXITY_LEVELS
    assert infer_task_type(text) in TASK_TYPES


# ------------------------------------------------------------------ given complexity


@pytest.mark.parametrize(
    ("value", "level", "score"),
    [
        (1, "simple", 1),
        (5, "moderate", 5),
        (10, "critical", 10),
        ("medium", "moderate", LEVEL_SCORES["moderate"]),
        ("critical", "critical", LEVEL_SCORES["critical"]),
        (" Complex ", "complex", LEVEL_SCORES["complex"]),
        ("simple", "simple", LEVEL_SCORES["simple"]),
    ],
)
def test_a_given_complexity_is_taken_as_given(value: int | str, level: str, score: int) -> None:
    assert complexity_from_given(value) == Complexity(level=level, score=score, reasons=("given",))


@pytest.mark.parametrize("value", [0, 11, -3, "huge", "", "7", True, 5.5, None])
def test_an_impossible_given_complexity_is_refused_clearly(value: object) -> None:
    message = COMPLEXITY_VALUE_ERROR.format(value=value)
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        complexity_from_given(value)  # type: ignore[arg-type]


def test_each_level_stands_for_a_score_inside_its_band() -> None:
    for level, score in LEVEL_SCORES.items():
        assert level_for_score(score) == level


# ------------------------------------------------------------------------ task types


@pytest.mark.parametrize(
    ("text", "task_type"),
    [
        ("Write a Python function that parses a CSV file into rows", "code_generation"),
        ("Implement a binary search in Rust", "code_generation"),
        ("Please review this diff before I merge it", "code_review"),
        ("Why does this stack trace mention a NullPointerException?", "debug"),
        ("The build fails with an error on line 12, can you fix it?", "debug"),
        ("Classify the sentiment of these tweets as positive or negative", "classification"),
        ("Summarize this article in three bullet points", "summarization"),
        ("tl;dr of the thread below please", "summarization"),
        ("Plan the migration from MySQL to PostgreSQL", "planning"),
        ("Write unit tests for the payment module", "test_generation"),
        ("Generate pytest cases for the parser", "test_generation"),
        ("Embed these sentences for semantic search", "embedding"),
        ("Compute an embedding for each product title", "embedding"),
        ("Translate this paragraph into French", "translation"),
        ("Extract the names and dates from this email", "extraction"),
        ("Write the docstrings and a README for this module", "documentation"),
        ("Write a haiku about autumn", "creative_writing"),
        ("Prove that the square root of two is irrational", "reasoning"),
        ("Analyze these sales figures and the trends they show", "analysis"),
        ("hi! how are you today?", "chat"),
        ("thanks, that was helpful", "chat"),
        ("What's the capital of Australia?", "chat"),
        ("", "chat"),
    ],
)
def test_the_task_type_is_inferred_from_the_text(text: str, task_type: str) -> None:
    assert infer_task_type(text) == task_type


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=300))
def test_an_inferred_task_type_is_always_in_the_vocabulary(text: str) -> None:
    assert infer_task_type(text) in TASK_TYPES


@pytest.mark.parametrize(
    ("given_type", "canonical"),
    [
        ("summarize", "summarization"),
        ("simple_question", "chat"),
        ("code_scan", "code_review"),
        ("vulnerability_detection", "code_review"),
        ("problem_solving", "reasoning"),
        ("file_analysis", "analysis"),
        ("code_review", "code_review"),
        ("debug", "debug"),
        (" Summarize ", "summarization"),
        ("Code Review", "code_review"),
        ("code-generation", "code_generation"),
        ("Testing", "test_generation"),
        ("Docs", "documentation"),
        ("Code Gen", "code_generation"),
        ("ui_design", "ui_design"),  # an agent's own type is kept
        ("  My-Custom Type ", "my-custom type"),
    ],
)
def test_task_types_are_normalized_to_our_vocabulary(given_type: str, canonical: str) -> None:
    assert normalize_task_type(given_type) == canonical


def test_every_alias_points_into_the_vocabulary() -> None:
    assert set(TASK_TYPE_ALIASES.values()) <= set(TASK_TYPES)
    assert not set(TASK_TYPE_ALIASES) & set(TASK_TYPES)


@pytest.mark.parametrize("value", ["", "   "])
def test_an_empty_task_type_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match=TASK_TYPE_EMPTY_ERROR):
        normalize_task_type(value)


# --------------------------------------------------------------------------- tokens


def test_token_counting_is_the_documented_estimate() -> None:
    assert token_counter_name() == "estimate:chars"


def test_eight_thousand_characters_of_prose_are_about_two_thousand_tokens() -> None:
    text = (PROSE * 30)[:8000]
    assert 1600 <= estimate_tokens(text) <= 2400


@pytest.mark.parametrize(("text", "tokens"), [("", 0), ("a", 1), ("hello world", 3)])
def test_small_texts_have_small_estimates(text: str, tokens: int) -> None:
    assert estimate_tokens(text) == tokens


def test_cjk_text_counts_about_a_token_a_character() -> None:
    text = "自然言語処理は面白い" * 50  # 500 characters
    assert 400 <= estimate_tokens(text) <= 600


def test_code_counts_more_tokens_per_character_than_prose() -> None:
    code = "def f(x):\n    return {'a': [x, x + 1]};\n" * 50
    prose = (PROSE * 10)[: len(code)]
    assert estimate_tokens(code) > estimate_tokens(prose)


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=300), more=st.text(max_size=300))
def test_adding_text_never_lowers_the_estimate(text: str, more: str) -> None:
    assert estimate_tokens(text + more) >= estimate_tokens(text)
    assert estimate_tokens(more + text) >= estimate_tokens(text)


def test_lone_surrogates_do_not_break_the_estimate() -> None:
    assert estimate_tokens("abc\ud800def") >= 2


# ------------------------------------------------------------------------- messages


def test_messages_text_joins_string_contents_with_newlines() -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hello there"},
    ]
    assert messages_text(messages) == "Be brief.\nHello there"


def test_messages_text_takes_text_parts_and_ignores_images() -> None:
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in this picture?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                {"type": "text", "text": "Answer in French."},
            ],
        },
        {"role": "assistant", "content": None, "tool_calls": []},
        {"role": "user", "content": ""},
    ]
    assert messages_text(messages) == "What is in this picture?\nAnswer in French."


def test_messages_text_of_no_messages_is_empty() -> None:
    assert messages_text([]) == ""


# ------------------------------------------------------------------- all at once


def test_extract_features_reads_everything_from_the_text() -> None:
    result = extract_features("Write a Python function to email jane@example.com a report")
    assert result == RequestFeatures(
        estimated_tokens=result.estimated_tokens,
        complexity=Complexity(level="moderate", score=4, reasons=("code_request",)),
        task_type="code_generation",
        pii=(PiiFinding("email", 1),),
    )
    assert result.contains_pii
    assert result.pii_types == ("email",)
    assert result.estimated_tokens == estimate_tokens(
        "Write a Python function to email jane@example.com a report"
    )


def test_extract_features_prefers_what_the_caller_gave() -> None:
    result = extract_features("hello", task_type="Code Scan", complexity="medium")
    assert result.task_type == "code_review"
    assert result.complexity == Complexity(level="moderate", score=5, reasons=("given",))
    assert not result.contains_pii
    assert result.pii_types == ()


# ------------------------------------------------------------- purity and determinism

MODULES = {
    f"{package.__name__.rsplit('.', 1)[-1]}/{path.name}": path
    for package in (features, pii)
    for path in sorted(Path(package.__file__).parent.glob("*.py"))
}
FORBIDDEN_MODULES = {"django", "time", "datetime", "random", "secrets", "uuid", "socket", "os"}


def imported_roots(tree: ast.AST) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("name", sorted(MODULES))
def test_the_module_imports_nothing_impure(name: str) -> None:
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    assert not imported_roots(tree) & FORBIDDEN_MODULES
    referenced = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    assert not referenced & {"time", "datetime", "random"}


@pytest.mark.parametrize("name", sorted(MODULES))
def test_the_module_starts_with_a_docstring_then_future_annotations(name: str) -> None:
    source = MODULES[name].read_text(encoding="utf-8")
    assert source.startswith('"""')
    assert "from __future__ import annotations" in source


SAMPLES = [
    "Write a fibonacci function",
    "Audit production deployment for security vulnerabilities",
    "hello",
    LONG_DESIGN_PROMPT,
    "Call +44 20 7946 0958 or mail jane@example.com; card 4111 1111 1111 1111",
    "自然言語処理は面白い。Translate this into English.",
]


@pytest.mark.parametrize("hash_seed", ["1", "12345"])
def test_features_are_the_same_in_a_fresh_process_without_django(hash_seed: str) -> None:
    # Loaded straight from the files, so neither the package nor Django is imported;
    # another hash seed changes set order, which must not change any result.
    script = f"""
import importlib.util, json, sys
def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
pii = load("routing.engine.pii", {str(Path(pii.__file__))!r})
features = load("routing.engine.features", {str(Path(features.__file__))!r})
assert not any(name.split(".")[0] == "django" for name in sys.modules), "django imported"
samples = json.loads(sys.stdin.read())
out = []
for text in samples:
    r = features.extract_features(text)
    out.append([r.estimated_tokens, r.complexity.level, r.complexity.score,
                list(r.complexity.reasons), r.task_type,
                [[f.type, f.count] for f in r.pii], pii.mask_pii(text)])
print(json.dumps(out))
"""
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    completed = subprocess.run(
        [sys.executable, "-c", script],
        input=json.dumps(SAMPLES),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env=env,
    )
    here = [
        [
            r.estimated_tokens,
            r.complexity.level,
            r.complexity.score,
            list(r.complexity.reasons),
            r.task_type,
            [[f.type, f.count] for f in r.pii],
            pii.mask_pii(text),
        ]
        for text, r in ((text, extract_features(text)) for text in SAMPLES)
    ]
    assert json.loads(completed.stdout) == here

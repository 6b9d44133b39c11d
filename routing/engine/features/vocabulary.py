"""The words and phrases the classifiers look for: seed 000's keyword sets, the words
that ask for code or for several steps, and the weighted triggers of each task type.

Data only. Words are whole, lowercase, ASCII, each keyword with the inflected forms that
count for it; phrases are matched with punctuation turned into spaces.
"""

from __future__ import annotations

from collections.abc import Mapping

# Seed 000's keyword sets, each keyword with the forms that count for it.
_CRITICAL_KEYWORDS: Mapping[str, tuple[str, ...]] = {
    "deploy": ("deploy", "deploys", "deployed", "deploying", "deployment", "deployments"),
    "production": ("production", "prod"),
    "delete": ("delete", "deletes", "deleted", "deleting", "deletion", "deletions"),
    "admin": ("admin", "admins", "administrator", "administrators"),
    "payment": ("payment", "payments"),
    "credential": ("credential", "credentials"),
    "secret": ("secret", "secrets"),
}
_COMPLEX_KEYWORDS: Mapping[str, tuple[str, ...]] = {
    "research": ("research", "researches", "researched", "researching"),
    "analyze": (
        "analyze",
        "analyzes",
        "analyzed",
        "analyzing",
        "analyse",
        "analyses",
        "analysed",
        "analysing",
        "analysis",
    ),
    "compare": ("compare", "compares", "compared", "comparing", "comparison", "comparisons"),
    "design": ("design", "designs", "designed", "designing"),
    "architect": (
        "architect",
        "architects",
        "architecting",
        "architecture",
        "architectures",
        "architectural",
    ),
    "security": ("security",),
    "audit": ("audit", "audits", "audited", "auditing"),
}
_SIMPLE_KEYWORDS: Mapping[str, tuple[str, ...]] = {
    "summarize": ("summarize", "summarizes", "summarizing", "summarise", "summary"),
    "translate": ("translate", "translates", "translating", "translation"),
    "hello": ("hello",),
    "define": ("define", "defines", "definition"),
    "explain": ("explain", "explains", "explaining", "explanation"),
}
_SIMPLE_PHRASES: Mapping[str, tuple[str, ...]] = {"what is": ("what is", "what s")}

# Asking for code makes a task at least moderate (seed 000: "code", "function").
_CODE_REQUEST_WORDS = frozenset(
    {
        "code", "coding", "function", "functions", "implement", "implements", "implementing",
        "implementation", "script", "scripts", "program", "programming", "refactor",
        "refactoring", "algorithm", "algorithms", "regex", "snippet", "bug", "bugs",
        "compile", "endpoint",
    }
)  # fmt: skip
_SEQUENCE_WORDS = frozenset({"then", "finally", "afterwards"})  # after "first"

# Task-type triggers: words (whole, lowercase) and their weights. The type with the most
# weight wins; ties go to the earlier type in `_TASK_PRIORITY`; no trigger means chat.
_TASK_WORDS: Mapping[str, Mapping[str, int]] = {
    "test_generation": {
        "pytest": 3, "unittest": 3, "unittests": 3, "jest": 2, "test": 1, "tests": 1,
        "testing": 1, "coverage": 1, "mock": 1, "mocks": 1, "fixtures": 1,
    },
    "code_review": {
        "review": 3, "reviewing": 3, "diff": 2, "vulnerability": 2, "vulnerabilities": 2,
        "lint": 2, "linter": 1, "feedback": 1, "audit": 1,
    },
    "debug": {
        "debug": 3, "debugging": 3, "traceback": 3, "stacktrace": 3, "segfault": 3,
        "error": 2, "errors": 1, "exception": 2, "bug": 2, "bugs": 1, "crash": 2,
        "crashes": 2, "crashing": 2, "fail": 2, "fails": 2, "failing": 2, "failed": 1,
        "broken": 1, "fix": 2,
    },
    "code_generation": {
        "implement": 3, "function": 2, "code": 2, "script": 2, "snippet": 2, "refactor": 2,
        "regex": 2, "class": 1, "method": 1, "program": 1, "python": 1, "javascript": 1,
        "typescript": 1, "rust": 1, "java": 1, "golang": 1, "sql": 1, "endpoint": 1,
        "api": 1, "algorithm": 1,
    },
    "classification": {
        "classify": 3, "classification": 3, "categorize": 3, "categorise": 3,
        "sentiment": 3, "label": 2, "labels": 1, "category": 1, "categories": 2,
        "intent": 1, "spam": 1,
    },
    "embedding": {
        "embed": 3, "embedding": 3, "embeddings": 3, "vectorize": 3, "vector": 1, "vectors": 1,
    },
    "summarization": {
        "summarize": 3, "summarise": 3, "summary": 3, "summarization": 3, "tldr": 3,
        "condense": 2, "recap": 2, "gist": 2, "shorten": 1,
    },
    "translation": {
        "translate": 3, "translation": 3, "translating": 3, "french": 1, "german": 1,
        "spanish": 1, "english": 1, "japanese": 1, "chinese": 1, "italian": 1,
        "portuguese": 1,
    },
    "extraction": {"extract": 3, "extraction": 3, "parse": 2, "entities": 2, "fields": 1},
    # Seed 003 counts architecture design with multi-step planning: deciding how to
    # build something before building it.
    "planning": {
        "design": 2, "architecture": 2, "architect": 2,
        "plan": 3, "planning": 3, "roadmap": 3, "milestones": 2, "schedule": 2,
        "timeline": 2, "migration": 1, "strategy": 1,
    },
    "analysis": {
        "analyze": 3, "analyse": 3, "analysis": 3, "compare": 2, "comparison": 2,
        "evaluate": 2, "assess": 2, "trends": 2, "insights": 2, "metrics": 1,
        "statistics": 1,
    },
    "reasoning": {
        "prove": 3, "proof": 3, "puzzle": 3, "riddle": 3, "reasoning": 2, "logic": 2,
        "solve": 2, "calculate": 2, "math": 2, "equation": 2, "derive": 2, "probability": 2,
    },
    "documentation": {
        "documentation": 3, "docstring": 3, "docstrings": 3, "readme": 3, "docs": 2,
        "document": 1, "comments": 1,
    },
    "creative_writing": {
        "poem": 3, "story": 3, "haiku": 3, "lyrics": 3, "limerick": 3, "fiction": 3,
        "novel": 2, "song": 2, "slogan": 2, "tagline": 2, "essay": 2, "joke": 2, "creative": 2,
    },
    "chat": {"hi": 2, "hello": 2, "hey": 2, "thanks": 2, "thank": 2},
}  # fmt: skip
# Phrases are matched on the text with punctuation turned into spaces ("tl;dr" -> "tl dr").
_TASK_PHRASES: tuple[tuple[str, str, int], ...] = (
    ("stack trace", "debug", 3),
    ("not working", "debug", 2),
    ("doesn t work", "debug", 2),
    ("unit test", "test_generation", 4),
    ("unit tests", "test_generation", 4),
    ("test cases", "test_generation", 3),
    ("write tests", "test_generation", 4),
    ("write a test", "test_generation", 4),
    ("pull request", "code_review", 3),
    ("code review", "code_review", 3),
    ("tl dr", "summarization", 3),
    ("key points", "summarization", 2),
    ("named entities", "extraction", 2),
    ("yes or no", "classification", 2),
    ("how are you", "chat", 3),
)
_TASK_PRIORITY = (
    "test_generation", "code_review", "debug", "embedding", "classification", "translation",
    "summarization", "extraction", "documentation", "creative_writing", "planning",
    "code_generation", "analysis", "reasoning", "chat",
)  # fmt: skip
_MULTI_STEP_PHRASES = ("step by step",)

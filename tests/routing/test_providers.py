"""The provider adapters against a real fake upstream over real sockets.

Slow faults wait in the server's threads (at most 0.3 s); clients give up after ~0.1 s.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from email.utils import formatdate
from typing import Any

import pytest

from routing.providers import (
    ChatChunk,
    ChatRequest,
    ProviderError,
    Target,
    complete,
    embed,
    http_pool,
    stream,
)
from routing.providers.anthropic import JSON_INSTRUCTION
from routing.providers.transport import clean_message, parse_retry_after
from tests.fake_upstream import FakeUpstream, echo_text, estimate_tokens, vector

WIRE_KINDS = ["openai_compatible", "anthropic", "ollama"]
PROMPT = "What is the capital of France?"
CHAT_PATHS = {
    "openai_compatible": "/v1/chat/completions",
    "anthropic": "/v1/messages",
    "ollama": "/api/chat",
}


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream() as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh_requests(upstream: FakeUpstream) -> None:
    upstream.reset()


@pytest.fixture
def target(upstream: FakeUpstream) -> Any:
    def make(kind: str, model: str = "m", api_key: str | None = None, **kw: Any) -> Target:
        return Target(kind, upstream.url, model, api_key, **kw)

    return make


def ask(text: str = PROMPT, **kw: Any) -> ChatRequest:
    return ChatRequest(({"role": "user", "content": text},), **kw)


def drain(chunks: Iterator[ChatChunk]) -> list[ChatChunk]:
    return list(chunks)


def sent(upstream: FakeUpstream, kind: str) -> dict[str, Any]:
    [request] = [r for r in upstream.requests if r.path == CHAT_PATHS[kind]]
    return request.json


def error_of(call: Any) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        call()
    return caught.value


# -- answers --


@pytest.mark.parametrize("kind", WIRE_KINDS)
def test_it_completes_with_the_text_and_usage(kind: str, target: Any) -> None:
    result = complete(target(kind, "model-a"), ask())
    assert result.text == echo_text(PROMPT)
    assert result.finish_reason == "stop"
    assert result.prompt_tokens == estimate_tokens(PROMPT)
    assert result.completion_tokens == estimate_tokens(echo_text(PROMPT))
    assert result.upstream_model == "model-a"
    assert result.latency_ms >= 0


@pytest.mark.parametrize("kind", WIRE_KINDS)
def test_streamed_chunks_join_into_the_text_and_end_with_usage(
    kind: str, target: Any, upstream: FakeUpstream
) -> None:
    chunks = drain(stream(target(kind), ask()))
    *content, last = chunks
    assert len(content) > 1
    assert "".join(c.text for c in content) == echo_text(PROMPT)
    assert all(c.finish_reason is None for c in content)
    assert (last.text, last.finish_reason) == ("", "stop")
    assert last.prompt_tokens == estimate_tokens(PROMPT)
    assert last.completion_tokens == estimate_tokens(echo_text(PROMPT))
    assert sent(upstream, kind)["stream"] is True


@pytest.mark.parametrize("kind", WIRE_KINDS)
def test_it_reports_a_token_limit_finish_as_length(kind: str, target: Any) -> None:
    assert complete(target(kind, "m@length"), ask()).finish_reason == "length"
    assert drain(stream(target(kind, "m@length"), ask()))[-1].finish_reason == "length"


@pytest.mark.parametrize("kind", WIRE_KINDS)
def test_missing_usage_is_none_not_zero(kind: str, target: Any) -> None:
    result = complete(target(kind, "m@no_usage"), ask())
    last = drain(stream(target(kind, "m@no_usage"), ask()))[-1]
    assert (result.prompt_tokens, result.completion_tokens) == (None, None)
    assert (last.prompt_tokens, last.completion_tokens) == (None, None)


@pytest.mark.parametrize("kind", WIRE_KINDS)
def test_the_answer_text_passes_through_untouched(kind: str, target: Any) -> None:
    assert complete(target(kind, "m@refuse"), ask()).text == "I cannot help with that."
    assert complete(target(kind, "m@empty"), ask()).text == "   "
    assert complete(target(kind, "m@invalid_json"), ask()).text == '{"action": '


def test_openai_stream_asks_for_usage(target: Any, upstream: FakeUpstream) -> None:
    drain(stream(target("openai_compatible"), ask()))
    assert sent(upstream, "openai_compatible")["stream_options"] == {"include_usage": True}


# -- the API key --


@pytest.mark.parametrize(
    ("kind", "header", "value"),
    [
        ("openai_compatible", "authorization", "Bearer sk-test"),
        ("anthropic", "x-api-key", "sk-test"),
        ("ollama", "authorization", "Bearer sk-test"),
    ],
)
def test_it_sends_the_api_key_only_when_there_is_one(
    kind: str, header: str, value: str, target: Any, upstream: FakeUpstream
) -> None:
    complete(target(kind, api_key="sk-test"), ask())
    complete(target(kind), ask())
    with_key, without_key = upstream.requests
    assert with_key.headers[header] == value
    assert "authorization" not in without_key.headers
    assert "x-api-key" not in without_key.headers


def test_a_target_never_shows_its_key() -> None:
    assert "sk-secret" not in repr(Target("openai_compatible", "http://x", "m", "sk-secret"))


def test_an_upstream_message_echoing_the_key_is_redacted() -> None:
    message = clean_message("Incorrect API key provided: sk-secret.", "sk-secret")
    assert message == "Incorrect API key provided: [redacted]."


# -- request bodies --


def test_openai_json_mode_max_tokens_and_temperature(target: Any, upstream: FakeUpstream) -> None:
    complete(target("openai_compatible"), ask(json_mode=True, max_tokens=50, temperature=0.2))
    body = sent(upstream, "openai_compatible")
    assert body["response_format"] == {"type": "json_object"}
    assert (body["max_tokens"], body["temperature"]) == (50, 0.2)
    assert body["messages"] == [{"role": "user", "content": PROMPT}]


def test_openai_max_tokens_field_is_configurable(target: Any, upstream: FakeUpstream) -> None:
    options = {"max_tokens_field": "max_completion_tokens"}
    complete(target("openai_compatible", options=options), ask(max_tokens=50))
    body = sent(upstream, "openai_compatible")
    assert body["max_completion_tokens"] == 50
    assert "max_tokens" not in body


def test_anthropic_moves_system_messages_to_the_top_level(
    target: Any, upstream: FakeUpstream
) -> None:
    request = ChatRequest(
        (
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": PROMPT}]},
        )
    )
    result = complete(target("anthropic"), request)
    body = sent(upstream, "anthropic")
    assert body["system"] == "Be brief."
    assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": PROMPT}]}]
    assert body["max_tokens"] == 1024  # Anthropic requires it
    assert upstream.requests[0].headers["anthropic-version"] == "2023-06-01"
    assert result.text == echo_text(PROMPT)


def test_anthropic_json_mode_asks_in_the_system_prompt(target: Any, upstream: FakeUpstream) -> None:
    complete(target("anthropic"), ask(json_mode=True, max_tokens=50))
    body = sent(upstream, "anthropic")
    assert body["system"] == JSON_INSTRUCTION
    assert body["max_tokens"] == 50


def test_ollama_maps_max_tokens_and_json_mode(target: Any, upstream: FakeUpstream) -> None:
    complete(target("ollama"), ask(json_mode=True, max_tokens=64, temperature=0.0))
    body = sent(upstream, "ollama")
    assert body["options"] == {"num_predict": 64, "temperature": 0.0}
    assert body["format"] == "json"
    assert body["stream"] is False


def test_a_base_url_with_a_version_is_not_given_another(upstream: FakeUpstream) -> None:
    for kind, base in [("openai_compatible", "/v1"), ("anthropic", "/v1/"), ("ollama", "/api")]:
        complete(Target(kind, upstream.url + base, "m", None), ask())
    assert [r.path for r in upstream.requests] == list(CHAT_PATHS.values())


# -- faults --


@pytest.mark.parametrize("kind", WIRE_KINDS)
def test_a_slow_upstream_times_out(kind: str, target: Any) -> None:
    error = error_of(lambda: complete(target(kind, "m@slow=0.3", timeout=0.1), ask()))
    assert error.kind == "timeout"
    assert error.retryable


@pytest.mark.parametrize("kind", WIRE_KINDS)
def test_a_stream_without_content_in_time_hits_the_first_token_timeout(
    kind: str, target: Any
) -> None:
    late = target(kind, "m@ttft=0.3", first_token_timeout=0.1, timeout=5)
    assert error_of(lambda: drain(stream(late, ask()))).kind == "first_token_timeout"
    slow_headers = target(kind, "m@slow=0.3", first_token_timeout=0.1, timeout=5)
    assert error_of(lambda: drain(stream(slow_headers, ask()))).kind == "first_token_timeout"


@pytest.mark.parametrize("kind", WIRE_KINDS)
def test_after_the_first_token_the_normal_timeout_applies(kind: str, target: Any) -> None:
    gaps = target(kind, "m@chunks=2,gap=0.15,ttft=0.02", first_token_timeout=0.1, timeout=2)
    assert "".join(c.text for c in stream(gaps, ask())) == echo_text(PROMPT)


@pytest.mark.parametrize("kind", WIRE_KINDS)
@pytest.mark.parametrize(
    ("fault", "error_kind", "status"),
    [
        ("status=500", "http_5xx", 500),
        ("status=503", "http_5xx", 503),
        ("status=400", "http_4xx", 400),
        ("status=401", "http_4xx", 401),
        ("drop", "connect", None),
    ],
)
def test_upstream_failures_map_to_error_kinds(
    kind: str, fault: str, error_kind: str, status: int | None, target: Any
) -> None:
    for call in (complete, lambda t, r: drain(stream(t, r))):
        error = error_of(lambda call=call: call(target(kind, f"m@{fault}"), ask()))
        assert (error.kind, error.status) == (error_kind, status)
        assert PROMPT not in error.message


@pytest.mark.parametrize("kind", WIRE_KINDS)
def test_a_429_carries_retry_after(kind: str, target: Any) -> None:
    error = error_of(lambda: complete(target(kind, "m@status=429,retry_after=7"), ask()))
    assert (error.kind, error.status, error.retry_after) == ("http_429", 429, 7.0)
    assert "fake upstream fault" in error.message
    streamed = error_of(lambda: drain(stream(target(kind, "m@status=429,retry_after=7"), ask())))
    assert streamed.retry_after == 7.0


@pytest.mark.parametrize("kind", WIRE_KINDS)
def test_a_stream_dropped_midway_fails_after_the_first_chunks(kind: str, target: Any) -> None:
    chunks = stream(target(kind, "m@fail_after=2"), ask())
    received = [next(chunks).text, next(chunks).text]
    with pytest.raises(ProviderError) as caught:
        next(chunks)
    assert caught.value.kind == "connect"
    assert "".join(received) == "Echo: What "


@pytest.mark.parametrize("kind", WIRE_KINDS)
def test_a_closed_port_is_a_connect_error(kind: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    closed = Target(kind, f"http://127.0.0.1:{port}", "m", None, connect_timeout=0.5)
    assert error_of(lambda: complete(closed, ask())).kind == "connect"
    assert error_of(lambda: drain(stream(closed, ask()))).kind == "connect"


def test_an_unknown_kind_is_a_protocol_error() -> None:
    target = Target("carrier_pigeon", "http://x", "m", None)
    assert error_of(lambda: complete(target, ask())).kind == "protocol"


@pytest.mark.parametrize("kind", WIRE_KINDS)
def test_a_body_that_is_not_the_wire_format_is_a_protocol_error(kind: str, target: Any) -> None:
    assert error_of(lambda: complete(target(kind, "m@garbage"), ask())).kind == "protocol"
    assert error_of(lambda: drain(stream(target(kind, "m@garbage"), ask()))).kind == "protocol"


def test_a_wrong_path_is_a_4xx(upstream: FakeUpstream) -> None:
    wrong = Target("openai_compatible", upstream.url + "/nowhere", "m", None)
    assert error_of(lambda: complete(wrong, ask())).kind == "http_4xx"


# -- Retry-After --


def test_retry_after_reads_seconds_dates_and_milliseconds() -> None:
    assert parse_retry_after({"retry-after": "7"}) == 7.0
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "7"}) == 1.5
    date = formatdate(1_000_030, usegmt=True)
    assert parse_retry_after({"retry-after": date}, now=1_000_000) == 30.0
    assert parse_retry_after({"retry-after": date}, now=2_000_000) == 0.0
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None


# -- embeddings --


@pytest.mark.parametrize("kind", ["openai_compatible", "ollama"])
def test_it_embeds_texts_in_order(kind: str, target: Any, upstream: FakeUpstream) -> None:
    assert embed(target(kind, "embedder"), ["a", "b"]) == [vector("a"), vector("b")]
    assert upstream.requests[0].json == {"model": "embedder", "input": ["a", "b"]}
    assert embed(target(kind), []) == []


def test_anthropic_cannot_embed(target: Any) -> None:
    assert error_of(lambda: embed(target("anthropic"), ["a"])).kind == "protocol"


def test_embedding_failures_map_like_chat_failures(target: Any) -> None:
    error = error_of(lambda: embed(target("ollama", "e@status=503"), ["a"]))
    assert (error.kind, error.status) == ("http_5xx", 503)


# -- the simulated provider --


def simulated(model: str = "sim", **options: Any) -> Target:
    return Target("simulated", "", model, None, options=options)


def test_the_simulated_provider_is_deterministic_and_labelled() -> None:
    first, again = complete(simulated(), ask()), complete(simulated(), ask())
    assert (first.text, first.prompt_tokens) == (again.text, again.prompt_tokens)
    assert first.text != complete(simulated("other"), ask()).text
    assert first.upstream_model == "simulated/sim"
    assert first.text.startswith("[simulated sim] ")
    assert first.prompt_tokens == estimate_tokens(PROMPT)
    assert first.completion_tokens == estimate_tokens(first.text)
    chunks = drain(stream(simulated(), ask()))
    assert "".join(c.text for c in chunks) == first.text
    assert chunks[-1].finish_reason == "stop"


def test_the_simulated_provider_answers_json_in_json_mode() -> None:
    answer = json.loads(complete(simulated(), ask(json_mode=True)).text)
    assert answer["simulated"] is True
    assert isinstance(answer["answer"], str)


def _outcome(target: Target, request: ChatRequest) -> tuple[str, int | None, str] | str:
    try:
        complete(target, request)
    except ProviderError as error:
        return (error.kind, error.status, error.message)
    return "ok"


def test_the_simulated_provider_fails_at_about_its_failure_rate() -> None:
    outcomes = [
        _outcome(simulated(failure_rate=0.25), ask(f"prompt number {n}")) for n in range(200)
    ]
    failures = [o for o in outcomes if o != "ok"]
    assert set(failures) == {("http_5xx", 503, "simulated failure")}
    assert 30 <= len(failures) <= 70
    # The same prompt gets the same outcome every time.
    assert len({_outcome(simulated(failure_rate=0.5), ask("prompt 1")) for _ in range(3)}) == 1


def test_the_simulated_provider_times_out_like_a_real_one() -> None:
    slow = Target("simulated", "", "sim", None, timeout=0.01, options={"latency_ms": 1000})
    assert error_of(lambda: complete(slow, ask())).kind == "timeout"


def test_simulated_embeddings_are_deterministic_unit_vectors() -> None:
    first, second = embed(simulated(), ["a", "b"])
    assert embed(simulated(), ["a"]) == [first]
    assert first != second
    assert len(first) == 16
    assert abs(sum(x * x for x in first) - 1) < 1e-9


# -- the client --


def test_there_is_one_connection_pool_per_process() -> None:
    assert http_pool() is http_pool()

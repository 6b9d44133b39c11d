"""The fake upstream server's own behaviour: fault parsing, answers, and the server."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.fake_upstream import (
    JSON_ANSWER,
    REFUSAL,
    FakeUpstream,
    Faults,
    answer_text,
    echo_text,
    estimate_tokens,
    parse_faults,
    split_chunks,
    split_model,
    vector,
)


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream() as server:
        yield server


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=2.0) as http:
        yield http


# -- parsing --


def test_a_model_name_splits_into_name_and_faults() -> None:
    assert split_model("gpt-4o@slow=2.5") == ("gpt-4o", "slow=2.5")
    assert split_model("llama3:8b") == ("llama3:8b", "")


def test_it_parses_every_kind_of_fault() -> None:
    faults = parse_faults("slow=2.5,status=429,retry_after=7,fail_after=2,chunks=5,drop,length")
    assert faults == Faults(
        slow=2.5, status=429, retry_after="7", fail_after=2, chunks=5, drop=True, length=True
    )
    assert parse_faults("ttft=1.5,gap=0.1,no_usage") == Faults(ttft=1.5, gap=0.1, no_usage=True)
    assert parse_faults("") == Faults()


def test_text_faults_decode_plus_and_percent_escapes() -> None:
    assert parse_faults("text=Hello+world").text == "Hello world"
    assert parse_faults("text=a%2Cb").text == "a,b"


def test_request_faults_add_to_the_server_defaults() -> None:
    faults = parse_faults("status=500", parse_faults("slow=0.01"))
    assert (faults.slow, faults.status) == (0.01, 500)


@pytest.mark.parametrize(
    "spec", ["nope", "drop=1", "slow", "slow=abc", "status=5.5", "fail_after=x"]
)
def test_a_malformed_fault_is_an_error(spec: str) -> None:
    with pytest.raises(ValueError, match=r"fault|could not convert|invalid literal"):
        parse_faults(spec)


# -- answers --


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("", echo_text("What is 2+2?")),
        ("refuse", REFUSAL),
        ("empty", "   "),
        ("invalid_json", '{"action": '),
        ("schema_break", '{"unexpected": true}'),
        ("json", JSON_ANSWER),
        ("fenced_json", f"```json\n{JSON_ANSWER}\n```"),
        ("text=Hi+there", "Hi there"),
    ],
)
def test_each_answer_fault_chooses_the_text(spec: str, expected: str) -> None:
    assert answer_text(parse_faults(spec), "What is 2+2?") == expected


def test_the_normal_answer_echoes_at_most_60_characters() -> None:
    assert echo_text("x" * 100) == "Echo: " + "x" * 60
    assert json.loads(JSON_ANSWER) == {"action": "proceed", "confidence": 0.9}


def test_chunks_join_back_to_the_text() -> None:
    text = "Echo: the quick brown fox"
    assert "".join(split_chunks(text, None)) == text
    assert len(split_chunks(text, None)) == 5
    assert len(split_chunks(text, 5)) == 5
    assert "".join(split_chunks(text, 5)) == text
    assert split_chunks("   ", None) == ["   "]
    assert split_chunks("", 3) == []


def test_token_estimates_are_about_four_characters_each() -> None:
    assert estimate_tokens("") == 1
    assert estimate_tokens("abcd") == 1
    assert estimate_tokens("abcde") == 2


# -- the server --


def test_it_lists_models_in_both_formats(upstream: FakeUpstream, client: httpx.Client) -> None:
    openai = client.get(f"{upstream.url}/v1/models").json()
    ollama = client.get(f"{upstream.url}/api/tags").json()
    assert [m["id"] for m in openai["data"]] == list(upstream.models)
    assert [m["name"] for m in ollama["models"]] == list(upstream.models)


def test_it_records_requests_until_reset(upstream: FakeUpstream, client: httpx.Client) -> None:
    upstream.reset()
    client.post(
        f"{upstream.url}/v1/embeddings",
        json={"model": "e", "input": "hi"},
        headers={"Authorization": "Bearer k"},
    )
    [seen] = upstream.requests
    assert (seen.method, seen.path, seen.model) == ("POST", "/v1/embeddings", "e")
    assert seen.headers["authorization"] == "Bearer k"
    upstream.reset()
    assert upstream.requests == []


def test_an_unknown_fault_is_a_400_naming_it(upstream: FakeUpstream, client: httpx.Client) -> None:
    body = {"model": "m@bogus", "messages": [{"role": "user", "content": "hi"}]}
    response = client.post(f"{upstream.url}/v1/chat/completions", json=body)
    assert response.status_code == 400
    assert "bogus" in response.json()["error"]["message"]


def test_a_status_fault_sends_the_wire_formats_error_and_retry_after(
    upstream: FakeUpstream, client: httpx.Client
) -> None:
    body = {"model": "m@status=429,retry_after=7", "max_tokens": 5, "messages": []}
    response = client.post(
        f"{upstream.url}/v1/messages", json=body, headers={"anthropic-version": "2023-06-01"}
    )
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    assert response.json()["error"]["type"] == "rate_limit_error"


def test_drop_closes_the_connection_without_an_answer(
    upstream: FakeUpstream, client: httpx.Client
) -> None:
    with pytest.raises(httpx.RemoteProtocolError):
        client.post(f"{upstream.url}/api/chat", json={"model": "m@drop", "messages": []})


def test_the_anthropic_endpoint_rejects_what_the_real_api_rejects(
    upstream: FakeUpstream, client: httpx.Client
) -> None:
    url = f"{upstream.url}/v1/messages"
    version = {"anthropic-version": "2023-06-01"}
    user = [{"role": "user", "content": "hi"}]
    system = [{"role": "system", "content": "be brief"}, *user]
    assert (
        client.post(url, json={"model": "c", "max_tokens": 5, "messages": user}).status_code == 400
    )
    assert (
        client.post(url, json={"model": "c", "messages": user}, headers=version).status_code == 400
    )
    body = {"model": "c", "max_tokens": 5, "messages": system}
    assert client.post(url, json=body, headers=version).status_code == 400
    body = {"model": "c", "max_tokens": 5, "messages": user}
    assert client.post(url, json=body, headers=version).status_code == 200


def test_ollama_streams_unless_told_not_to(upstream: FakeUpstream, client: httpx.Client) -> None:
    body = {"model": "llama3@chunks=2", "messages": [{"role": "user", "content": "hi"}]}
    lines = client.post(f"{upstream.url}/api/chat", json=body).text.splitlines()
    assert [json.loads(line)["done"] for line in lines] == [False, False, True]


def test_embeddings_are_deterministic(upstream: FakeUpstream, client: httpx.Client) -> None:
    body = {"model": "e", "input": ["a", "b"]}
    response = client.post(f"{upstream.url}/api/embed", json=body).json()
    assert response["embeddings"] == [vector("a"), vector("b")]
    assert vector("a") != vector("b")


def test_fail_rate_is_deterministic_per_request_number(client: httpx.Client) -> None:
    def statuses() -> list[int]:
        with FakeUpstream(fail_rate=0.1, seed=7) as server:
            body = {"model": "m", "input": "x"}
            return [
                client.post(f"{server.url}/v1/embeddings", json=body).status_code
                for _ in range(200)
            ]

    first = statuses()
    assert first == statuses()
    assert set(first) == {200, 500}
    assert 8 <= first.count(500) <= 35


def test_fail_with_mixes_the_given_faults_among_the_failing_requests(
    client: httpx.Client,
) -> None:
    with FakeUpstream(fail_rate=0.3, fail_with=("status=503", "refuse"), seed=3) as server:
        body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
        answers = [client.post(f"{server.url}/v1/chat/completions", json=body) for _ in range(120)]
    refused = [r for r in answers if r.status_code == 200 and REFUSAL in r.text]
    failed = [r for r in answers if r.status_code == 503]
    assert {r.status_code for r in answers} == {200, 503}
    assert refused
    assert failed
    assert 20 <= len(refused) + len(failed) <= 55


def test_fail_with_refuses_an_unknown_fault_at_once() -> None:
    with pytest.raises(ValueError, match="unknown fault 'sloow'"):
        FakeUpstream(fail_rate=0.1, fail_with=("sloow=1",))


def test_stopping_does_not_wait_for_a_slow_handler() -> None:
    server = FakeUpstream().start()
    body = {"model": "m@slow=5", "messages": []}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{server.url}/v1/chat/completions", json=body, timeout=0.1)
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 1.0
    with pytest.raises(RuntimeError):
        _ = server.url

"""The Anthropic-compatible API, with the official `anthropic` SDK as the client (unchanged
but for the base URL and key), Switchboard on a live server and the models on the fake
upstream."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import anthropic
import httpx
import pytest
from django.db import OperationalError

from routing.api import errors
from routing.api.anthropic_compat import STREAM_FAILED, StopScanner
from routing.models import Decision, SpendLedger
from routing.services import api_key_create
from tests.fake_upstream import FakeUpstream
from tests.upstream_registry import add_model

pytestmark = pytest.mark.django_db(transaction=True)

HELLO = [{"role": "user", "content": "hello there"}]


@pytest.fixture
def key(db: None) -> str:
    return api_key_create(name="sdk").plaintext


@pytest.fixture
def sdk(live_server: Any, key: str) -> anthropic.Anthropic:
    # The SDK appends /v1/messages to the base URL itself.
    return anthropic.Anthropic(base_url=live_server.url, api_key=key, max_retries=0, timeout=20)


def _ask(sdk: anthropic.Anthropic, **params: Any) -> Any:
    params.setdefault("model", "auto")
    params.setdefault("max_tokens", 256)
    params.setdefault("messages", HELLO)
    return sdk.messages.create(**params)


def _stream_text(sdk: anthropic.Anthropic, **params: Any) -> tuple[str, Any]:
    params.setdefault("model", "auto")
    params.setdefault("max_tokens", 256)
    params.setdefault("messages", HELLO)
    with sdk.messages.stream(**params) as stream:
        text = "".join(stream.text_stream)
        return text, stream.get_final_message()


def test_the_sdk_gets_an_anthropic_shaped_message_with_the_model_and_decision_in_headers(
    registry, sdk
) -> None:
    add_model(registry, "local-a", "local", "llama3@text=Hi+from+local")

    raw = sdk.messages.with_raw_response.create(model="auto", max_tokens=256, messages=HELLO)
    message = raw.parse()

    assert message.content[0].type == "text"
    assert message.content[0].text == "Hi from local"
    assert message.role == "assistant"
    assert message.model == "local-a"
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens > 0
    assert message.usage.output_tokens > 0
    assert raw.headers["x-switchboard-model"] == "local-a"
    decision_id = raw.headers["x-switchboard-decision-id"]
    assert message.id == f"msg_{uuid.UUID(decision_id).hex}"
    row = Decision.objects.get(public_id=decision_id)
    assert row.outcome == "success"
    assert (row.prompt_tokens, row.completion_tokens) == (
        message.usage.input_tokens,
        message.usage.output_tokens,
    )


def test_a_system_prompt_and_text_blocks_reach_the_upstream_as_plain_messages(
    registry, sdk, upstream: FakeUpstream
) -> None:
    add_model(registry, "local-a", "local", "llama3")

    _ask(
        sdk,
        system=[{"type": "text", "text": "Answer in French."}],
        messages=[{"role": "user", "content": [{"type": "text", "text": "hello there"}]}],
    )
    _ask(sdk, system="Be brief.")

    sent = [r.json["messages"] for r in upstream.requests if r.path == "/api/chat"]
    assert [(m["role"], m["content"]) for m in sent[0]] == [
        ("system", "Answer in French."),
        ("user", "hello there"),
    ]
    assert sent[1][0] == {"role": "system", "content": "Be brief."}


def test_a_registry_model_can_be_asked_for_by_name(registry, sdk) -> None:
    add_model(registry, "local-a", "local", "llama3")
    add_model(registry, "local-b", "local", "qwen@text=from+b")

    message = _ask(sdk, model="local-b")

    assert message.model == "local-b"
    assert message.content[0].text == "from b"


def test_routing_hints_come_from_metadata_and_headers(registry, sdk) -> None:
    add_model(registry, "local-a", "local", "llama3")

    _ask(
        sdk,
        metadata={"user_id": "u-1", "task_id": "T-9", "session_id": "s-9"},
        extra_headers={"X-Switchboard-Task-Type": "classification"},
    )

    row = Decision.objects.get()
    assert (row.task_id, row.session_id, row.task_type) == ("T-9", "s-9", "classification")


def test_a_stop_sequence_cuts_the_answer_and_is_reported(registry, sdk) -> None:
    add_model(registry, "local-a", "local", "llama3@text=one+two+STOP+three")

    message = _ask(sdk, stop_sequences=["STOP"])

    assert message.content[0].text == "one two "
    assert (message.stop_reason, message.stop_sequence) == ("stop_sequence", "STOP")


# -- streaming -------------------------------------------------------------------------------------


def test_a_stream_arrives_as_text_deltas_and_its_usage_is_accounted(registry, sdk) -> None:
    add_model(registry, "cloud-a", "cloud", "gpt-4o@text=one+two+three,chunks=3")

    text, final = _stream_text(sdk, model="cloud-a")

    assert text == "one two three"
    assert final.content[0].text == "one two three"
    assert final.model == "cloud-a"
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens > 0
    row = Decision.objects.get()
    assert final.id == f"msg_{row.public_id.hex}"
    assert row.outcome == "success"
    assert row.model_used == "cloud-a"
    assert (row.prompt_tokens, row.completion_tokens) == (
        final.usage.input_tokens,
        final.usage.output_tokens,
    )
    assert row.cost_usd > 0
    assert not row.usage_estimated
    assert (
        SpendLedger.objects.get(scope="model", key="cloud-a", period="day").cost_usd == row.cost_usd
    )


def test_the_stream_speaks_anthropic_events_in_order(registry, live_server, key) -> None:
    add_model(registry, "local-a", "local", "llama3@text=one+two,chunks=2")
    body = {"model": "auto", "max_tokens": 64, "messages": HELLO, "stream": True}

    with httpx.stream(
        "POST",
        f"{live_server.url}/v1/messages",
        json=body,
        headers={"x-api-key": key, "anthropic-version": "2023-06-01"},
        timeout=20,
    ) as response:
        events = [line[7:] for line in response.iter_lines() if line.startswith("event: ")]

    assert response.headers["x-switchboard-model"] == "local-a"
    assert events == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]


def test_a_stop_sequence_split_across_chunks_ends_the_stream_there(registry, sdk) -> None:
    # 18 characters in 7 chunks of 3: "one", " tw", "o S", "TOP", " th", "ree".
    add_model(registry, "local-a", "local", "llama3@text=one+two+STOP+three,chunks=7")

    text, final = _stream_text(sdk, stop_sequences=["STOP"])

    assert text == "one two "
    assert (final.stop_reason, final.stop_sequence) == ("stop_sequence", "STOP")
    row = Decision.objects.get()
    assert row.outcome == "success"
    assert "stop sequence" in row.attempts[0]["reason"]


def test_a_model_that_sends_no_first_token_in_time_gives_way_before_anything_is_sent(
    registry, sdk, settings
) -> None:
    settings.SWITCHBOARD_FIRST_TOKEN_TIMEOUT_SECONDS = 0.3
    add_model(registry, "local-a", "local", "llama3@ttft=2")
    add_model(registry, "local-b", "local", "qwen@text=fast+answer")

    text, final = _stream_text(sdk)

    assert text == "fast answer"
    assert final.model == "local-b"
    attempts = Decision.objects.get().attempts
    assert attempts[0]["model"] == "local-a"
    assert "first_token_timeout" in attempts[0]["reason"]


def test_a_stream_that_fails_after_its_first_token_ends_with_an_error_event(registry, sdk) -> None:
    add_model(registry, "local-a", "local", "llama3@fail_after=2,chunks=5")
    add_model(registry, "local-b", "local", "qwen")
    received: list[str] = []

    with (
        pytest.raises(anthropic.APIStatusError) as failed,
        sdk.messages.stream(model="auto", max_tokens=256, messages=HELLO) as stream,
    ):
        received.extend(stream.text_stream)

    assert len(received) == 2  # what the client had before the failure
    error = failed.value.body["error"]
    assert error["code"] == STREAM_FAILED
    assert failed.value.error_code == STREAM_FAILED
    row = Decision.objects.get(public_id=error["decision_id"])
    assert row.outcome == "failed"
    assert row.attempts[-1]["model"] == "local-a"
    assert "after the first token" in row.attempts[-1]["reason"]


def test_a_client_that_disconnects_mid_stream_still_leaves_its_audit_row(
    registry, live_server, key
) -> None:
    add_model(registry, "local-a", "local", "llama3@chunks=40,gap=0.05")
    body = {"model": "auto", "max_tokens": 256, "messages": HELLO, "stream": True}

    with httpx.stream(
        "POST",
        f"{live_server.url}/v1/messages",
        json=body,
        headers={"x-api-key": key},
        timeout=20,
    ) as response:
        for line in response.iter_lines():
            if line == "event: content_block_delta":
                break  # leave at the first text

    # The server learns of the disconnect at its next write; wait for its audit row.
    row = _wait_for_decision()
    assert row.attempts[0]["model"] == "local-a"
    assert row.attempts[0]["reason"] == "client disconnected mid-stream"


def _wait_for_decision() -> Decision:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            row = Decision.objects.first()
        except OperationalError:  # SQLite: the server thread is writing it right now
            row = None
        if row is not None:
            return row
        threading.Event().wait(0.05)
    raise AssertionError("no audit row after the client disconnected")


# -- errors -----------------------------------------------------------------------------------------


def test_an_unknown_model_is_a_not_found_error_with_our_code(registry, sdk) -> None:
    with pytest.raises(anthropic.NotFoundError) as not_found:
        _ask(sdk, model="no-such-model")

    error = not_found.value.body["error"]
    assert not_found.value.body["type"] == "error"
    assert error["type"] == "not_found_error"
    assert error["code"] == errors.UNKNOWN_MODEL
    assert not_found.value.error_code == errors.UNKNOWN_MODEL


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_when_every_model_fails_the_sdk_gets_a_502_with_the_attempts(registry, sdk, stream) -> None:
    add_model(registry, "local-a", "local", "llama3@status=500")
    add_model(registry, "local-b", "local", "qwen@status=500")

    ask = _stream_text if stream else _ask

    with pytest.raises(anthropic.APIStatusError) as failed:
        ask(sdk)

    assert failed.value.status_code == 502
    error = failed.value.body["error"]
    assert (error["type"], error["code"]) == ("api_error", errors.ALL_MODELS_FAILED)
    assert [a["model"] for a in error["details"]["attempts"]] == ["local-a", "local-b"]
    assert Decision.objects.get(public_id=error["decision_id"]).outcome == "failed"


def test_a_bad_key_is_an_authentication_error(live_server) -> None:
    client = anthropic.Anthropic(base_url=live_server.url, api_key="sb_nope_nope", max_retries=0)

    with pytest.raises(anthropic.AuthenticationError) as refused:
        _ask(client)

    assert refused.value.body["error"]["type"] == "authentication_error"
    assert refused.value.body["error"]["code"] == errors.UNAUTHENTICATED


def test_non_text_content_is_refused_with_a_clear_bad_request(
    registry, sdk, upstream: FakeUpstream
) -> None:
    add_model(registry, "local-a", "local", "llama3")
    image = {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": "AA=="},
    }

    with pytest.raises(anthropic.BadRequestError) as bad:
        _ask(sdk, messages=[{"role": "user", "content": [{"type": "text", "text": "hi"}, image]}])

    error = bad.value.body["error"]
    assert (error["type"], error["code"]) == ("invalid_request_error", errors.INVALID_REQUEST)
    assert "messages[0].content[1]: 'image' content is not supported" in error["message"]
    assert upstream.requests == []
    assert not Decision.objects.exists()


def test_a_request_without_max_tokens_is_refused_as_anthropic_would(client) -> None:
    response = client.post("/v1/messages", json={"model": "auto", "messages": HELLO})

    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "error"
    assert body["error"]["code"] == errors.INVALID_REQUEST
    assert "max_tokens" in body["error"]["details"]["fields"]


# -- privacy ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "stream"),
    [("message", False), ("system", True)],
    ids=["in-a-message", "in-the-system-prompt-streamed"],
)
def test_pii_never_reaches_a_cloud_model_on_any_hop(
    registry, sdk, upstream: FakeUpstream, where, stream
) -> None:
    add_model(registry, "local-a", "local", "llama3@status=500")
    add_model(registry, "cloud-a", "cloud", "gpt-4o")
    secret = "Mail jane.doe@example.com the contract"
    params: dict[str, Any] = (
        {"messages": [{"role": "user", "content": secret}]}
        if where == "message"
        else {"system": secret}
    )

    ask = _stream_text if stream else _ask

    with pytest.raises(anthropic.APIStatusError) as failed:
        ask(sdk, **params)

    assert failed.value.status_code == 502
    assert upstream.requests  # the local model was tried...
    assert all("/v1/" not in r.path for r in upstream.requests)  # ...and never the cloud
    assert failed.value.body["error"]["details"]["chain"] == ["local-a"]
    row = Decision.objects.get()
    assert row.pii_types == ["email"]
    assert row.local_only
    assert "jane.doe@example.com" not in row.prompt_excerpt


# -- stop sequences, piece by piece ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("pieces", "sent", "hit"),
    [
        (["one two three"], "one two three", None),
        (["one ST", "OP two"], "one ", "STOP"),
        (["one S", "TAR"], "one STAR", None),
        (["STOP now"], "", "STOP"),
        (["a\n\nHu", "man: b"], "a", "\n\nHuman:"),
    ],
)
def test_the_stop_scanner_holds_back_only_what_could_start_a_stop_sequence(
    pieces, sent, hit
) -> None:
    scanner = StopScanner(["STOP", "\n\nHuman:"])

    out = "".join(scanner.feed(p) for p in pieces)
    if scanner.hit is None:
        out += scanner.flush()

    assert (out, scanner.hit) == (sent, hit)

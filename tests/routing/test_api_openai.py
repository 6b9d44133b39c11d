"""The OpenAI-compatible API, with the official `openai` SDK as the client (unchanged
but for the base URL and key), Switchboard on a live server and the models on the fake
upstream."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import httpx
import openai
import pytest
from django.db import OperationalError

from routing.api import errors
from routing.models import Decision, SpendLedger
from routing.services import api_key_create
from routing.snapshot import clear_snapshot_cache
from tests.fake_upstream import FakeUpstream
from tests.upstream_registry import add_model

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def key(db: None) -> str:
    return api_key_create(name="sdk").plaintext


@pytest.fixture
def sdk(live_server: Any, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=key, max_retries=0, timeout=20)


@pytest.fixture
def async_sdk(live_server: Any, key: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=f"{live_server.url}/v1", api_key=key, max_retries=0, timeout=20
    )


HELLO = [{"role": "user", "content": "hello there"}]


def test_the_sdk_gets_an_openai_shaped_answer_with_the_model_and_decision_in_headers(
    registry, sdk
) -> None:
    add_model(registry, "local-a", "local", "llama3@text=Hi+from+local")

    raw = sdk.chat.completions.with_raw_response.create(model="auto", messages=HELLO)
    completion = raw.parse()

    assert completion.choices[0].message.content == "Hi from local"
    assert completion.model == "local-a"
    assert completion.usage.total_tokens > 0
    assert raw.headers["x-switchboard-model"] == "local-a"
    row = Decision.objects.get(public_id=raw.headers["x-switchboard-decision-id"])
    assert row.outcome == "success"


def test_a_registry_model_can_be_asked_for_by_name(registry, sdk) -> None:
    add_model(registry, "local-a", "local", "llama3")
    add_model(registry, "local-b", "local", "qwen@text=from+b")

    completion = sdk.chat.completions.create(model="local-b", messages=HELLO)

    assert completion.model == "local-b"


def test_routing_hints_come_from_metadata_and_headers(registry, sdk) -> None:
    add_model(registry, "local-a", "local", "llama3")

    sdk.chat.completions.create(
        model="auto",
        messages=HELLO,
        metadata={"task_id": "T-9", "session_id": "s-9"},
        extra_headers={"X-Switchboard-Task-Type": "classification"},
    )

    row = Decision.objects.get()
    assert (row.task_id, row.session_id, row.task_type) == ("T-9", "s-9", "classification")


def test_errors_are_openai_error_objects_with_our_codes(registry, sdk) -> None:
    with pytest.raises(openai.NotFoundError) as not_found:
        sdk.chat.completions.create(model="no-such-model", messages=HELLO)
    assert not_found.value.body["code"] == errors.UNKNOWN_MODEL

    add_model(registry, "local-a", "local", "llama3@status=500")
    clear_snapshot_cache()  # factories write rows directly, without a config revision bump
    with pytest.raises(openai.APIStatusError) as failed:
        sdk.chat.completions.create(model="auto", messages=HELLO)
    assert failed.value.status_code == 502
    assert failed.value.body["code"] == errors.ALL_MODELS_FAILED

    with pytest.raises(openai.BadRequestError) as bad:
        sdk.chat.completions.create(model="auto", messages=[])
    assert bad.value.body["code"] == errors.INVALID_REQUEST


def test_a_bad_key_is_an_authentication_error(live_server) -> None:
    client = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key="sb_nope_nope", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model="auto", messages=HELLO)


def test_the_async_client_works_too(registry, async_sdk) -> None:
    add_model(registry, "local-a", "local", "llama3@text=async+hi")

    async def ask() -> str:
        completion = await async_sdk.chat.completions.create(model="auto", messages=HELLO)
        await async_sdk.close()
        return completion.choices[0].message.content

    assert asyncio.run(ask()) == "async hi"


# -- streaming -------------------------------------------------------------------------------------


def test_a_stream_arrives_in_chunks_and_its_usage_is_accounted(registry, sdk) -> None:
    add_model(registry, "cloud-a", "cloud", "gpt-4o@text=one+two+three,chunks=3")

    stream = sdk.chat.completions.create(
        model="cloud-a", messages=HELLO, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three"
    assert chunks[-1].usage.total_tokens > 0
    row = Decision.objects.get()
    assert row.outcome == "success"
    assert row.model_used == "cloud-a"
    assert row.cost_usd > 0
    assert not row.usage_estimated
    assert (
        SpendLedger.objects.get(scope="model", key="cloud-a", period="day").cost_usd == row.cost_usd
    )


def test_a_model_that_sends_no_first_token_in_time_gives_way_before_anything_is_sent(
    registry, sdk, settings
) -> None:
    settings.SWITCHBOARD_FIRST_TOKEN_TIMEOUT_SECONDS = 0.3
    add_model(registry, "local-a", "local", "llama3@ttft=2")
    add_model(registry, "local-b", "local", "qwen@text=fast+answer")

    text = "".join(
        c.choices[0].delta.content or ""
        for c in sdk.chat.completions.create(model="auto", messages=HELLO, stream=True)
        if c.choices
    )

    assert text == "fast answer"
    attempts = Decision.objects.get().attempts
    assert attempts[0]["model"] == "local-a"
    assert "first_token_timeout" in attempts[0]["reason"]


def test_a_stream_that_fails_after_its_first_token_ends_with_an_error_event(
    registry, live_server, key
) -> None:
    add_model(registry, "local-a", "local", "llama3@fail_after=2,chunks=5")
    add_model(registry, "local-b", "local", "qwen")
    body = {"model": "auto", "messages": HELLO, "stream": True}

    with httpx.stream(
        "POST",
        f"{live_server.url}/v1/chat/completions",
        json=body,
        headers={"Authorization": f"Bearer {key}"},
        timeout=20,
    ) as response:
        lines = [line for line in response.iter_lines() if line.startswith("data: ")]

    assert '"code": "stream_failed"' in lines[-1]
    row = Decision.objects.get()
    assert row.attempts[-1]["model"] == "local-a"
    assert "after the first token" in row.attempts[-1]["reason"]
    assert row.outcome == "failed"


def test_a_client_that_disconnects_mid_stream_still_leaves_its_audit_row(
    registry, live_server, key
) -> None:
    add_model(registry, "local-a", "local", "llama3@chunks=40,gap=0.05")
    body = {"model": "auto", "messages": HELLO, "stream": True}

    with httpx.stream(
        "POST",
        f"{live_server.url}/v1/chat/completions",
        json=body,
        headers={"Authorization": f"Bearer {key}"},
        timeout=20,
    ) as response:
        for line in response.iter_lines():
            if line.startswith("data: "):
                break  # leave after the first chunk

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


# -- models and embeddings ----------------------------------------------------------------------


def test_models_lists_the_registry_in_openai_format(registry, sdk) -> None:
    add_model(registry, "local-a", "local", "llama3")

    ids = [m.id for m in sdk.models.list()]

    assert "auto" in ids
    assert "local-a" in ids


def test_embeddings_are_served_by_a_local_embedding_model(registry, sdk) -> None:
    add_model(registry, "embedder", "local", "nomic-embed-text", capabilities=["embedding"])

    result = sdk.embeddings.create(model="auto", input=["one", "two"])

    assert len(result.data) == 2
    assert len(result.data[0].embedding) > 0
    assert result.model == "embedder"


def test_embeddings_refuse_to_leave_the_machine(registry, sdk, upstream: FakeUpstream) -> None:
    add_model(
        registry, "cloud-embedder", "cloud", "text-embedding-3-small", capabilities=["embedding"]
    )
    upstream.reset()

    with pytest.raises(openai.UnprocessableEntityError) as refused:
        sdk.embeddings.create(model="auto", input="secret text")

    assert refused.value.body["code"] == errors.NO_ELIGIBLE_MODEL
    assert "locally" in refused.value.body["message"]
    assert upstream.requests == []

"""Health probes: is each enabled model's endpoint up, and does it serve that model?

One cheap GET per endpoint (not per model), all endpoints at once, each under
SWITCHBOARD_HEALTH_PROBE_TIMEOUT_SECONDS:

- Ollama: GET /api/tags; the model must be pulled.
- OpenAI-compatible: GET {base}/models with the provider's key; when the listing works,
  the model id must be in it.
- Anthropic: GET /v1/models; likewise.
- simulated: no call; healthy unless its failure_rate is 1 (it would fail every prompt).

Unhealthy: no connection, a timeout, a 5xx, a key rejected (401/403), the key's
environment variable unset, or a model the endpoint says it does not serve. A 429 or a
server without a model listing counts as up: the endpoint answered.

A failed probe cools the model down in the shared cache, under the key the circuit
breaker uses, so routing in every process skips it at once. The cooldown lasts two
probe intervals: the next probe renews or clears it, and if probes stop it ends by
itself. A passing probe clears only the cooldown a probe set; a 429's Retry-After or an
open circuit runs its course. Each model's ModelHealth row records what was seen.
"""

from __future__ import annotations

import logging
import os
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import F

from controlplane.lib.resilient_cache import cache_call
from routing.execution import breaker
from routing.models import LLMModel, ModelHealth
from routing.providers import ProviderError
from routing.providers.anthropic import API_VERSION as ANTHROPIC_VERSION
from routing.providers.openai_compatible import api_root
from routing.providers.transport import call_timeouts, decode_json, raise_for_status, send
from routing.snapshot import COOLDOWN_CACHE_KEY, PROBE_COOLDOWN_KEY

logger = logging.getLogger(__name__)

# PROBE_COOLDOWN_KEY holds what a probe's cooldown replaced, so a passing probe can tell
# its own cooldown from one set since (a 429, an open circuit) and put back one it had
# lengthened; routing reads it to call the model unhealthy rather than cooling down.
MAX_PARALLEL = 8
ERROR_CHARS = 300


@dataclass(frozen=True, slots=True)
class Endpoint:
    """What one GET tells about every model served behind it."""

    kind: str
    url: str
    headers: tuple[tuple[str, str], ...]
    api_key_env: str


@dataclass(frozen=True, slots=True)
class Seen:
    """What an endpoint answered. `listed` is None when it gave no usable model list."""

    up: bool
    latency_ms: int | None
    error: str = ""
    listed: frozenset[str] | None = None
    complete: bool = True  # False: the list has more pages than we read


@dataclass(frozen=True, slots=True)
class Verdict:
    healthy: bool
    latency_ms: int | None
    error: str = ""


@dataclass(frozen=True, slots=True)
class ProbeSummary:
    healthy: list[str]
    unhealthy: dict[str, str]  # model key -> why

    def as_dict(self) -> dict[str, Any]:
        return {"healthy": self.healthy, "unhealthy": self.unhealthy}


# -- where to probe ---------------------------------------------------------------------------


def _extra_headers(options: Mapping[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in dict(options.get("headers") or {}).items()}


def endpoint_for(model: LLMModel) -> Endpoint | None:
    """The GET that checks this model (None for the simulated provider)."""
    provider = model.provider
    base = (model.endpoint or provider.base_url).rstrip("/")
    headers = {"Accept": "application/json", **_extra_headers(provider.options)}
    if provider.kind == "ollama":
        url = base.removesuffix("/api") + "/api/tags"
    elif provider.kind == "openai_compatible":
        url = api_root(base) + "/models"
    elif provider.kind == "anthropic":
        # The largest page the API serves, so one call sees every model there is.
        url = base.removesuffix("/v1") + "/v1/models?limit=1000"
        headers["anthropic-version"] = str(provider.options.get("version", ANTHROPIC_VERSION))
    else:
        return None
    return Endpoint(provider.kind, url, tuple(sorted(headers.items())), provider.api_key_env)


# -- probing ----------------------------------------------------------------------------------


def _auth(endpoint: Endpoint, key: str | None) -> dict[str, str]:
    headers = dict(endpoint.headers)
    if key and endpoint.kind == "anthropic":
        headers["x-api-key"] = key
    elif key:
        headers["Authorization"] = f"Bearer {key}"
    return headers


def _listing(kind: str, data: Any) -> tuple[frozenset[str] | None, bool]:
    """Model names an endpoint listed, and whether that was the whole list."""
    if not isinstance(data, Mapping):
        return None, True
    if kind == "ollama":
        rows = data.get("models")
        names = ("name", "model")
    else:
        rows = data.get("data")
        names = ("id",)
    if not isinstance(rows, list):
        return None, True
    listed = {str(r[n]) for r in rows if isinstance(r, Mapping) for n in names if n in r}
    return frozenset(listed), not data.get("has_more")


def probe_endpoint(endpoint: Endpoint, timeout: float) -> Seen:
    """One GET. Never raises; error texts never hold the key (upstream text is cleaned)."""
    key = os.environ.get(endpoint.api_key_env) if endpoint.api_key_env else None
    if endpoint.api_key_env and not key:
        return Seen(
            False, None, f"no API key: environment variable {endpoint.api_key_env} is not set"
        )
    started = time.monotonic()
    try:
        response = send(
            b"GET",
            endpoint.url,
            _auth(endpoint, key),
            timeout=call_timeouts(timeout, connect=min(timeout, 5.0)),
        )
        latency = round((time.monotonic() - started) * 1000)
        raise_for_status(response, key)
    except ProviderError as exc:
        latency = round((time.monotonic() - started) * 1000)
        if exc.kind == "http_429" or (exc.kind == "http_4xx" and exc.status not in (401, 403)):
            # It answered: rate limited, or it has no model listing at this path.
            return Seen(True, latency)
        return Seen(False, latency, f"{exc.kind}: {exc.message}"[:ERROR_CHARS])
    try:
        data = decode_json(response.content)
    except ValueError:
        return Seen(True, latency)  # up, but the body is no listing we can read
    listed, complete = _listing(endpoint.kind, data)
    return Seen(True, latency, listed=listed, complete=complete)


def _served(kind: str, model_id: str, listed: frozenset[str]) -> bool:
    if model_id in listed:
        return True
    # Ollama names a model pulled without a tag "name:latest".
    return kind == "ollama" and ":" not in model_id and f"{model_id}:latest" in listed


def verdict_for(model: LLMModel, seen: Seen | None) -> Verdict:
    if seen is None:  # simulated: its failure_rate decides
        rate = float(model.provider.options.get("failure_rate", 0) or 0)
        if rate >= 1:
            return Verdict(False, None, "simulated provider fails every prompt (failure_rate 1)")
        return Verdict(True, None)
    if not seen.up:
        return Verdict(False, seen.latency_ms, seen.error)
    if (
        seen.listed is not None
        and seen.complete
        and not _served(model.provider.kind, model.model_id, seen.listed)
    ):
        what = "pulled" if model.provider.kind == "ollama" else "listed"
        return Verdict(False, seen.latency_ms, f"model {model.model_id!r} is not {what} there")
    return Verdict(True, seen.latency_ms)


# -- what routing sees ------------------------------------------------------------------------


def _cool_down(key: str, seconds: float, now: datetime) -> None:
    """Cool the model down unless a longer cooldown already runs; remember what the
    probe's cooldown replaced so that clearing it can put that back."""
    before = breaker.cooling_until(key, now)
    if before is not None and before >= now + timedelta(seconds=seconds):
        return
    marker = cache_call(cache.get, PROBE_COOLDOWN_KEY.format(model=key), default=None)
    if marker is not None and before is not None and before.isoformat() == marker["until"]:
        before = _until(marker["before"])  # renewing our own: keep what it replaced
    until = breaker.cool_down(key, seconds, now)
    marker = {"until": until.isoformat(), "before": before.isoformat() if before else None}
    cache_call(
        cache.set,
        PROBE_COOLDOWN_KEY.format(model=key),
        marker,
        timeout=int(seconds) + 1,
        default=None,
    )


def _until(raw: str | None) -> datetime | None:
    return datetime.fromisoformat(raw) if raw else None


def _clear(key: str, now: datetime) -> None:
    """Lift the cooldown a probe set; leave any other alone."""
    marker_key = PROBE_COOLDOWN_KEY.format(model=key)
    marker = cache_call(cache.get, marker_key, default=None)
    if marker is None:
        return
    current = cache_call(cache.get, COOLDOWN_CACHE_KEY.format(model=key), default=None)
    if current == marker["until"]:
        before = _until(marker["before"])
        if before is not None and before > now:
            # The probe had lengthened a 429's or the breaker's cooldown: restore it.
            breaker.cool_down(key, (before - now).total_seconds(), now)
        else:
            cache_call(cache.delete, COOLDOWN_CACHE_KEY.format(model=key), default=None)
    cache_call(cache.delete, marker_key, default=None)


def _save(model: LLMModel, verdict: Verdict, now: datetime) -> None:
    fields = {
        "healthy": verdict.healthy,
        "latency_ms": verdict.latency_ms,
        "error": verdict.error[:ERROR_CHARS],
        "checked_at": now,
    }
    failures = 0 if verdict.healthy else F("consecutive_failures") + 1
    rows = ModelHealth.objects.filter(model=model)
    if rows.update(consecutive_failures=failures, **fields):
        return
    try:
        with transaction.atomic():
            ModelHealth.objects.create(
                model=model, consecutive_failures=0 if verdict.healthy else 1, **fields
            )
    except IntegrityError:  # another probe run created it meanwhile
        rows.update(consecutive_failures=failures, **fields)


# -- the service ------------------------------------------------------------------------------


def _probe_all(endpoints: Iterable[Endpoint], timeout: float) -> dict[Endpoint, Seen]:
    todo = list(endpoints)
    if not todo:
        return {}
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(todo))) as pool:
        return dict(zip(todo, pool.map(lambda e: probe_endpoint(e, timeout), todo), strict=True))


def models_probe(now: datetime) -> ProbeSummary:
    """Probe every enabled model, record what was seen, and set or lift cooldowns."""
    models = list(LLMModel.objects.filter(enabled=True).select_related("provider"))
    by_endpoint: dict[Endpoint | None, list[LLMModel]] = defaultdict(list)
    for model in models:
        by_endpoint[endpoint_for(model)].append(model)
    seen = _probe_all(
        [e for e in by_endpoint if e is not None], settings.SWITCHBOARD_HEALTH_PROBE_TIMEOUT_SECONDS
    )
    cooldown = 2 * settings.SWITCHBOARD_HEALTH_PROBE_SECONDS
    summary = ProbeSummary(healthy=[], unhealthy={})
    for endpoint, group in by_endpoint.items():
        for model in group:
            verdict = verdict_for(model, None if endpoint is None else seen[endpoint])
            _save(model, verdict, now)
            if verdict.healthy:
                _clear(model.key, now)
                summary.healthy.append(model.key)
            else:
                _cool_down(model.key, cooldown, now)
                summary.unhealthy[model.key] = verdict.error
                logger.warning("model %s failed its health probe: %s", model.key, verdict.error)
    logger.info(
        "health probes: %d healthy, %d unhealthy",
        len(summary.healthy),
        len(summary.unhealthy),
        extra={"healthy": len(summary.healthy), "unhealthy": sorted(summary.unhealthy)},
    )
    return summary

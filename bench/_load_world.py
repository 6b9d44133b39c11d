"""The world of bench/load_test.py: the fake upstream's code (run in its own process),
the configuration it imports, and the requests it sends."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CLOUD_KEY_ENV = "LOAD_CLOUD_API_KEY"
AGENT = "support_agent"
CHAIN = ["local-llama", "cloud-gpt"]
FAULTS = ("status=500", "status=503", "slow=3", "drop", "refuse")  # the models time out at 1 s

UPSTREAM_CODE = textwrap.dedent(
    """
    import os, sys, threading
    from collections import Counter
    sys.path.insert(0, os.getcwd())
    from tests import fake_upstream
    from tests.fake_upstream import FakeUpstream

    fail_rate, seed, faults = float(sys.argv[1]), int(sys.argv[2]), sys.argv[3].split(";")
    stats = Counter()

    class Upstream(FakeUpstream):
        def _record(self, request):  # counts only: a request log would grow all run long
            with self._lock:
                self._count += 1
                if request.method == "POST":
                    stats["calls"] += 1
                return self._count

        def _drawn_failure(self, number):
            failure = super()._drawn_failure(number)
            with self._lock:
                stats[f"failed: {failure}" if failure else "answered"] += 1
            return failure

    def answer_stats(handler, name, body, faults):
        handler._send_json(200, dict(stats))

    fake_upstream._ROUTES[("GET", "/load/stats")] = ("openai", answer_stats)
    upstream = Upstream(fail_rate=fail_rate, fail_with=tuple(faults), seed=seed).start()
    print(upstream.url, flush=True)
    threading.Event().wait()
    """
)

MODELS_YAML = """\
models:
  local-llama:
    provider: load-ollama
    type: local
    model_id: llama3
    capabilities: [general_reasoning, summarization, code_generation, classification]
    cost_per_1k_tokens: {input: 0, output: 0}
    context_window: 32000
    timeout: 1
  cloud-gpt:
    provider: load-openai
    type: cloud
    model_id: gpt-4o
    capabilities: [general_reasoning, summarization, code_generation, complex_reasoning]
    cost_per_1k_tokens: {input: 0.0025, output: 0.01}
    rate_limits: {requests_per_minute: 100000, tokens_per_minute: 100000000}
    context_window: 128000
    timeout: 1
"""

AGENTS_YAML = """\
agents:
  support_agent:
    name: "Support Agent"
    description: "Answers customers"
    model_preferences:
      primary: local-llama
      fallback: cloud-gpt
      local_alternative: local-llama
    capabilities_required: [general_reasoning]
"""

LLM_ROUTING_YAML = """\
providers:
  local:
    load-ollama:
      kind: ollama
      base_url: "{url}"
      default_model: llama3
      models: [llama3]
  premium:
    load-openai:
      kind: openai_compatible
      base_url: "{url}/v1"
      api_key: "${{{key_env}}}"
      default_model: gpt-4o
      models: [gpt-4o]
cost_limits:
  daily_budget: 50000.0
  monthly_budget: 900000.0
  warning_threshold: 0.8
  session_tokens: {{warning: 100000000, switch_to_local: 200000000}}
fallback_chain: [load-ollama, load-openai]
"""

QUESTIONS = (
    "my order of three paperbacks arrived with a torn cover",
    "the parcel tracking page has not changed for four days",
    "I was charged twice for the same gift card",
    "the e-book I bought does not open on my reader",
    "can I change the delivery address of an order already shipped",
)


# -- the requests ---------------------------------------------------------------------------


def session_of(endpoint: str, index: int) -> str:
    return f"load/{endpoint}/{index}"


def request_for(index: int, endpoint: str) -> tuple[str, dict[str, Any]]:
    """The path and body of request `index`: a new prompt each time (no answer cache)."""
    question = QUESTIONS[index % len(QUESTIONS)]
    messages = [
        {"role": "system", "content": "You are the support assistant of a bookshop."},
        {"role": "user", "content": f"Customer {index} writes: {question}. Draft a reply."},
    ]
    session = session_of(endpoint, index)
    if endpoint == "route":
        return "/api/route", {
            "agent": AGENT,
            "session_id": session,
            "max_tokens": 128,
            "messages": messages,
        }
    body = {"model": AGENT, "messages": messages, "max_tokens": 128}
    body["metadata"] = {"session_id": session}
    if endpoint == "chat-stream":
        body["stream"] = True
    return "/v1/chat/completions", body


def write_config(directory: Path, upstream_url: str) -> None:
    directory.mkdir()
    (directory / "models.yaml").write_text(MODELS_YAML)
    (directory / "agents.yaml").write_text(AGENTS_YAML)
    (directory / "llm_routing.yaml").write_text(
        LLM_ROUTING_YAML.format(url=upstream_url, key_env=CLOUD_KEY_ENV)
    )
    shutil.copy(ROOT / "config" / "routing.yaml", directory / "routing.yaml")

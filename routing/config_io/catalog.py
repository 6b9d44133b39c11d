"""Well-known provider names, so seed 002's models.yaml (which names a provider but
never defines it) imports without a seed 003 providers section. Anything here can be
overridden in llm_routing.yaml; a provider name that is neither here nor defined
there is an import error."""

from __future__ import annotations

from dataclasses import dataclass

from routing.choices import ProviderKind, Tier


@dataclass(frozen=True)
class KnownProvider:
    kind: str
    tier: str
    base_url: str = ""
    api_key_env: str = ""


KNOWN_PROVIDERS: dict[str, KnownProvider] = {
    "simulated": KnownProvider(ProviderKind.SIMULATED, Tier.LOCAL),
    "local": KnownProvider(ProviderKind.OPENAI_COMPATIBLE, Tier.LOCAL),
    "ollama": KnownProvider(ProviderKind.OLLAMA, Tier.LOCAL, "http://localhost:11434"),
    "lmstudio": KnownProvider(
        ProviderKind.OPENAI_COMPATIBLE, Tier.LOCAL, "http://localhost:1234/v1"
    ),
    "localai": KnownProvider(
        ProviderKind.OPENAI_COMPATIBLE, Tier.LOCAL, "http://localhost:8080/v1"
    ),
    "vllm": KnownProvider(ProviderKind.OPENAI_COMPATIBLE, Tier.LOCAL, "http://localhost:8000/v1"),
    "groq": KnownProvider(
        ProviderKind.OPENAI_COMPATIBLE,
        Tier.FAST_CLOUD,
        "https://api.groq.com/openai/v1",
        "GROQ_API_KEY",
    ),
    "together": KnownProvider(
        ProviderKind.OPENAI_COMPATIBLE,
        Tier.FAST_CLOUD,
        "https://api.together.xyz/v1",
        "TOGETHER_API_KEY",
    ),
    "fireworks": KnownProvider(
        ProviderKind.OPENAI_COMPATIBLE,
        Tier.FAST_CLOUD,
        "https://api.fireworks.ai/inference/v1",
        "FIREWORKS_API_KEY",
    ),
    "openrouter": KnownProvider(
        ProviderKind.OPENAI_COMPATIBLE,
        Tier.PREMIUM,
        "https://openrouter.ai/api/v1",
        "OPENROUTER_API_KEY",
    ),
    "openai": KnownProvider(
        ProviderKind.OPENAI_COMPATIBLE, Tier.PREMIUM, "https://api.openai.com/v1", "OPENAI_API_KEY"
    ),
    "mistral": KnownProvider(
        ProviderKind.OPENAI_COMPATIBLE, Tier.PREMIUM, "https://api.mistral.ai/v1", "MISTRAL_API_KEY"
    ),
    "anthropic": KnownProvider(
        ProviderKind.ANTHROPIC, Tier.PREMIUM, "https://api.anthropic.com", "ANTHROPIC_API_KEY"
    ),
}


def inferred_kind(name: str) -> str:
    known = KNOWN_PROVIDERS.get(name)
    return known.kind if known else ProviderKind.OPENAI_COMPATIBLE

"""/v1/...: the OpenAI- and Anthropic-compatible endpoints."""

from django.urls import path

from routing.api import openai_compat

urlpatterns = [
    path(
        "chat/completions", openai_compat.ChatCompletionsView.as_view(), name="v1-chat-completions"
    ),
    path("models", openai_compat.ModelsView.as_view(), name="v1-models"),
    path("embeddings", openai_compat.EmbeddingsView.as_view(), name="v1-embeddings"),
]

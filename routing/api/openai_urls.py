"""/v1/...: the OpenAI- and Anthropic-compatible endpoints."""

from django.urls import path

from routing.api import anthropic_compat, openai_compat

urlpatterns = [
    path(
        "chat/completions", openai_compat.ChatCompletionsView.as_view(), name="v1-chat-completions"
    ),
    path("models", openai_compat.ModelsView.as_view(), name="v1-models"),
    path("embeddings", openai_compat.EmbeddingsView.as_view(), name="v1-embeddings"),
    path("messages", anthropic_compat.MessagesView.as_view(), name="v1-messages"),
]

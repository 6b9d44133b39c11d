"""The HTTP API (Django REST framework): one error envelope, API-key auth, one view per
operation."""

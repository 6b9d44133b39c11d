"""The operator dashboard: server-rendered pages with htmx and plotly."""

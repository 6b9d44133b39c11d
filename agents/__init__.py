"""Agents: the callers' personas, with their model preferences and rules."""

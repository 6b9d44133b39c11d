"""Routing: the registry, strategies, rules, overrides, budgets, decisions and audit."""

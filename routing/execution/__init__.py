"""Executing a decision: call the models of the chain in order until one gives a valid
answer, rejecting timeouts, errors, refusals, empty and schema-breaking output."""

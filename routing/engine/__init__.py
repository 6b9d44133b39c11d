"""The pure decision engine: no database, no network, no clock.

`decide(request, snapshot, state, now=...)` turns a request and an immutable snapshot of
the configuration and runtime state into an ordered candidate chain with reasons.
"""

from routing.engine.decide import decide
from routing.engine.inputs import RouteRequest, RuntimeState, Snapshot, build_snapshot
from routing.engine.result import Candidate, Decision, Elimination, Refusal, TraceStep

__all__ = [
    "Candidate",
    "Decision",
    "Elimination",
    "Refusal",
    "RouteRequest",
    "RuntimeState",
    "Snapshot",
    "TraceStep",
    "build_snapshot",
    "decide",
]

"""Re-running a stored decision: the inputs a decision keeps, and the re-run itself.

A decision row keeps `decision_inputs(...)` (the caller's fields, the runtime state and
the time) beside its features and config version. `rerun` feeds them back to decide()
with the features as stored, so the prompt itself need not be kept: on the same
snapshot the result is identical, on another it shows what would change.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from routing.engine.decide import decide
from routing.engine.inputs import RouteRequest, RuntimeState, Snapshot
from routing.engine.result import Decision


def decision_inputs(request: RouteRequest, state: RuntimeState, now: datetime) -> dict[str, Any]:
    return {"request": request.to_dict(), "state": state.to_dict(), "now": now.isoformat()}


def rerun(inputs: Mapping[str, Any], features: Mapping[str, Any], snapshot: Snapshot) -> Decision:
    request = RouteRequest.from_dict(inputs["request"], features=features)
    state = RuntimeState.from_dict(inputs["state"])
    return decide(request, snapshot, state, now=datetime.fromisoformat(inputs["now"]))

"""The engine's side of a ``workflow`` node: running another workflow as a child
execution. The application passes in something that satisfies ``WorkflowGateway``
(``webapp/runs/children.py``): it checks access, depth and recursion, records the
child as an execution of its own, and runs it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from .model_calls import Usage
from .stopping import Stopped, never

if TYPE_CHECKING:
    from .tools import WorkflowTool


@dataclass(frozen=True)
class ChildRun:
    execution_id: str
    status: str
    outputs: dict | None
    error: dict | None
    usage: Usage
    cost_usd: float


class WorkflowGateway(Protocol):
    def run(
        self, workflow_id: str, inputs: dict, *, deadline: float | None = None, stopped: Stopped = never
    ) -> ChildRun:
        """Run the workflow as a child execution and wait for it; ``NodeError`` with
        ``recursion`` (too deep, or already on the call stack), ``not_found`` (not
        readable by the running user) or ``invalid_input`` when it cannot start."""

    def tool(self, workflow_id: str) -> WorkflowTool:
        """The workflow as an agent's tool (its description, its input node's fields);
        ``NodeError`` ``not_found`` when the running user may not read it."""

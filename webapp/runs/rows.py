"""Writing a new execution: its row and one row per node, in the caller's transaction.

Every way an execution starts (the API, the UI, a retry, a workflow node's child run)
writes it here, with Core inserts: this is the hot path of every run. The database
counts each start itself (a trigger on ``executions``, migration 0006).
"""

from __future__ import annotations

from sqlalchemy import insert

from ..engine.status import NodeStatus, RunStatus, Trigger
from ..extensions import db
from ..models import Execution, NodeRun, utcnow

_executions, _nodes = Execution.__table__, NodeRun.__table__
# Built once: every start writes these (SQLAlchemy then skips building and keying them per call).
_INSERT_EXECUTION, _INSERT_NODES = insert(_executions), insert(_nodes)
_PENDING_NODE = {
    "status": NodeStatus.PENDING,
    "input": None,
    "output": None,
    "started_at": None,
    "finished_at": None,
    "prompt_tokens": None,
    "completion_tokens": None,
    "total_tokens": None,
    "cost_usd": 0.0,
    "cost_saved_usd": 0.0,
    "cached": False,
    "attempts": 0,
    "reused_from": None,
}


def add_node_rows(execution_id: str, nodes: list[tuple[str, str]], copied: dict[str, dict] | None = None) -> None:
    """One pending row per node (one INSERT for all), or a copy where ``copied`` has one."""
    copied = copied or {}
    db.session.execute(
        _INSERT_NODES,
        [
            {
                **_PENDING_NODE,
                "execution_id": execution_id,
                "position": position,
                "node_id": node_id,
                "type": kind,
                **copied.get(node_id, {}),
            }
            for position, (node_id, kind) in enumerate(nodes)
        ],
    )


QUEUED = {
    "status": RunStatus.QUEUED,
    "retry_of": None,
    "trigger": Trigger.API,
    "trigger_id": None,
    "parent_execution_id": None,
    "outputs": None,
    "error": None,
    "started_at": None,
    "finished_at": None,
    "runner": None,
    "prompt_tokens": 0,
    "completion_tokens": 0,
    "total_tokens": 0,
    "cost_usd": 0.0,
    "cost_saved_usd": 0.0,
}


def insert_execution(graph, execution_id: str, *, copied: dict[str, dict] | None = None, **fields) -> Execution:
    """A queued execution and its node rows (``copied``: node rows a retry reuses);
    the returned object holds what was written, as of now."""
    now = utcnow()
    values = {**QUEUED, "id": execution_id, "created_at": now, "heartbeat_at": now, **fields}
    db.session.execute(_INSERT_EXECUTION, values)
    add_node_rows(execution_id, [(n.id, n.type) for n in graph.nodes.values()], copied)
    return Execution(**values)

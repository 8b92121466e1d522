"""Writing a new execution: its row and one row per node, in the caller's transaction.

Every way an execution starts (the API, the UI, a retry, a workflow node's child run)
writes it here, with Core inserts: this is the hot path of every run. The database
counts each start itself (a trigger on ``executions``, migration 0006).
"""

from __future__ import annotations

from sqlalchemy import insert

from ..engine.status import NodeStatus
from ..extensions import db
from ..models import Execution, NodeRun, utcnow

_executions, _nodes = Execution.__table__, NodeRun.__table__
# Built once: every start writes these (SQLAlchemy then skips building and keying them per call).
_INSERT_EXECUTION, _INSERT_NODES = insert(_executions), insert(_nodes)
# What a row holds of itself when nothing says otherwise: the models' own column defaults
# (None where a column has none). One shape per table, whatever the row: every start
# writes its rows in one executemany, which needs the same keys for each.
_NODE_KEYS = {"id", "execution_id", "position", "node_id", "type"}


def _defaults(table, skip: set[str]) -> dict:
    found = {}
    for column in table.columns:
        if column.name in skip:
            continue
        default = column.default
        if default is not None and not default.is_scalar:
            continue  # computed at insert (ids, times): given by the caller
        found[column.name] = default.arg if default is not None else None
    return found


_PENDING_NODE = _defaults(_nodes, _NODE_KEYS)


def reused_node(row: NodeRun, original_id: str, now) -> dict:
    """A node that completed in ``original_id``, as its retry's row: its input and output,
    settled at once, no tokens counted again (``reused_from`` says where they came from)."""
    return {
        "status": NodeStatus.COMPLETED,
        "input": row.input,
        "output": row.output,
        "started_at": now,
        "finished_at": now,
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "total_tokens": 0,
        "reused_from": original_id,
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


QUEUED = _defaults(_executions, {"id", "workflow_id", "workflow_version", "user_id", "job_id"})


def insert_execution(graph, execution_id: str, *, copied: dict[str, dict] | None = None, **fields) -> Execution:
    """A queued execution and its node rows (``copied``: node rows a retry reuses);
    the returned object holds what was written, as of now."""
    now = utcnow()
    values = {**QUEUED, "id": execution_id, "created_at": now, "heartbeat_at": now, **fields}
    db.session.execute(_INSERT_EXECUTION, values)
    add_node_rows(execution_id, [(n.id, n.type) for n in graph.nodes.values()], copied)
    return Execution(**values)

"""Outputs pinned in the editor's Test panel (``workflow_drafts.pins``, node id → output).

A node's output from the last test run, kept with the draft, so that the next test runs
of the draft take it instead of running the node: no call, no tokens (a run's ``pinned``,
docs/api.md "Test runs"). Owner only, as the draft is; nothing that runs for real reads them.
"""

from __future__ import annotations

from ..engine.errors import Problem
from ..engine.status import NodeStatus
from ..errors import ValidationFailed
from ..extensions import db
from ..models import NodeRun, User, WorkflowDraft
from .definitions import refuse_oversized
from .drafts import own_workflow
from .executions import latest_test_run
from .versions import draft_of

# An input's output is what the inputs form gives; an output's is the run's own answer.
UNPINNABLE = frozenset({"input", "output"})


def pins_of(draft: WorkflowDraft) -> dict[str, dict]:
    return dict(draft.pins or {})


def pinnable(row: NodeRun) -> bool:
    """Whether a node's record from a test run can be pinned: it completed with an object."""
    return row.type not in UNPINNABLE and row.status == NodeStatus.COMPLETED and isinstance(row.output, dict)


def pin(user: User, workflow_id: str, node_id: str) -> dict[str, dict]:
    """Pin what ``node_id`` gave in the caller's last test run (422 if it gave nothing one
    could pin); the draft's pins after it."""
    workflow = own_workflow(user, workflow_id)
    last = latest_test_run(user, workflow.id)
    row = next((r for r in last.nodes if r.node_id == node_id), None) if last is not None else None
    if row is None or not pinnable(row):
        problem = Problem(f"pins.{node_id}", "invalid_value", "the last test run has no output of this node to pin")
        raise ValidationFailed(f"Nothing to pin for '{node_id}'", [problem])
    refuse_oversized(row.output, "MAX_NODE_OUTPUT_BYTES", f"pins.{node_id}", "A pinned output is too large", "it is")
    draft = draft_of(workflow)
    pins = {**pins_of(draft), node_id: row.output}  # a new object: the JSON column sees the change
    # Together no larger than a test run's request could carry them as ``pinned``.
    refuse_oversized(
        pins, "MAX_CONTENT_LENGTH", "pins", "The pinned outputs are too large", "the pinned outputs together are"
    )
    draft.pins = pins
    db.session.commit()
    return draft.pins


def unpin(user: User, workflow_id: str, node_id: str) -> bool:
    """Whether ``node_id`` had a pinned output (now gone)."""
    draft = draft_of(own_workflow(user, workflow_id))
    kept = pins_of(draft)
    if kept.pop(node_id, None) is None:
        return False
    draft.pins = kept or None
    db.session.commit()
    return True


def pins_for_run(user: User, workflow_id: str, node_ids) -> dict[str, dict]:
    """The pins a test run of the draft takes: those of nodes still in it (``node_ids``).
    The others are dropped for good, so a node added later under the same id starts unpinned."""
    draft = draft_of(own_workflow(user, workflow_id))
    pins = pins_of(draft)
    kept = {node_id: output for node_id, output in pins.items() if node_id in node_ids}
    if kept != pins:
        draft.pins = kept or None
        db.session.commit()
    return kept

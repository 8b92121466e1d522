"""What the editor draws around the graph: the Versions list (each published version
with what the draft changes against it) and the Test panel (the inputs form, the last
test run, and each node's input, output and observed fields beside its form)."""

from __future__ import annotations

from types import SimpleNamespace

from flask_login import current_user

from ..errors import ValidationFailed
from ..evaluations.gate import gate_problem
from ..services import drafts as draft_service
from ..services.definitions import compile_definition, graph_for
from ..services.executions import latest_test_run
from ..services.summaries import executed_definition
from ..services.versions import draft_of
from .graph import render_graph
from .run_form import run_fields

VERSIONS_SHOWN = 20


def gate_state(workflow) -> SimpleNamespace | None:
    """Beside Publish (and on the Tests tab): ``text``, why the draft may not be published
    yet in the gate's words, or "Tests passed"; None when the workflow requires no tests."""
    if not workflow.require_passing_tests:
        return None
    problem = gate_problem(workflow.id, draft_of(workflow).definition)
    text = "Tests passed" if problem is None else f"Publishing is held: {problem}."
    return SimpleNamespace(passed=problem is None, text=text)


def versions_shown(workflow, draft: dict) -> list[SimpleNamespace]:
    """The latest published versions, each with what the draft changes against it."""
    user = current_user._get_current_object()
    rows, _ = draft_service.list_versions(user, workflow.id, limit=VERSIONS_SHOWN)
    return [
        SimpleNamespace(row=row, changes=changes_text(draft_service.differences(row.definition, draft))) for row in rows
    ]


def changes_text(found: dict) -> str:
    """``services.drafts.differences`` in words, for the version list and a version's page."""
    words = [
        f"{verb} {', '.join(found[key])}"
        for key, verb in (("added", "adds"), ("removed", "removes"), ("changed", "changes"))
        if found[key]
    ]
    if found["rewired"]:
        words.append("rewires connections")
    return "The draft " + "; ".join(words) + "." if words else "Same as the draft."


def test_panel(workflow, definition: dict, values: dict | None, start_from: dict | None = None) -> dict:
    """The Test panel: the inputs form (the draft's input fields, filled as posted, else
    from ``start_from`` — an earlier run's inputs, "Debug in the editor" — else with the
    last test run's inputs: remembered for the workflow) and that run's node records,
    shown beside each node's form."""
    user = current_user._get_current_object()
    last = latest_test_run(user, workflow.id)
    try:
        graph = compile_definition(definition)
    except ValidationFailed:  # an unfinished draft: its inputs as published, for now
        graph = graph_for(workflow.id, workflow.version)
    remembered = last.inputs if last else None
    return {
        "test_fields": run_fields(graph, values, start_from if start_from is not None else remembered),
        "test_open": start_from is not None,
        "test_run": last,
        "test_nodes": {row.node_id: row for row in last.nodes} if last else {},
        "test_paths": {row.node_id: output_paths(row.node_id, row.output) for row in last.nodes} if last else {},
        "test_graph": render_graph(
            executed_definition(last),
            statuses={row.node_id: row.status for row in last.nodes},
            label=f"Last test run of {workflow.name}, each node by its status",
        )
        if last
        else None,
    }


MAX_PICKED_PATHS = 24


def output_paths(node_id: str, output, depth: int = 2) -> list[str]:
    """References into a node's last output (``node.text``, ``node.json.title``): what the
    field picker offers, from what the node really gave (objects only, two levels deep)."""
    found: list[str] = []
    stack = [(node_id, output, 0)]
    while stack and len(found) < MAX_PICKED_PATHS:
        path, value, level = stack.pop(0)
        if not isinstance(value, dict) or level >= depth:
            continue
        for key, inner in value.items():
            if isinstance(key, str) and key.isidentifier() and len(found) < MAX_PICKED_PATHS:
                found.append(f"{path}.{key}")
                stack.append((f"{path}.{key}", inner, level + 1))
    return found

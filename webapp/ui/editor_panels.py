"""What the editor draws around the graph: the Versions list (each published version
with what the draft changes against it) and the Test panel (the inputs form, the last
test run, each node's input, output and observed fields beside its form, and the outputs
pinned for the next test runs)."""

from __future__ import annotations

from types import SimpleNamespace

from flask_login import current_user

from ..engine.status import ACTIVE
from ..errors import ValidationFailed
from ..evaluations.gate import gate_problem
from ..runs.test_runs import pinned_problems
from ..services import drafts as draft_service
from ..services.definitions import compile_definition, graph_for
from ..services.executions import latest_test_run
from ..services.pins import pinnable, pins_of
from ..services.summaries import executed_definition
from ..services.versions import draft_of
from . import editor_schema
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
    last test run's inputs: remembered for the workflow), that run's node records, shown
    beside each node's form, and the draft's pinned outputs. A run still going is drawn as
    it stands, with the address of its events: static/live.js follows them."""
    user = current_user._get_current_object()
    last = latest_test_run(user, workflow.id)
    try:
        graph, drawn = compile_definition(definition), True
    except ValidationFailed:  # an unfinished draft: its inputs as published, for now
        graph, drawn = graph_for(workflow.id, workflow.version), False
    remembered = last.inputs if last else None
    return {
        "test_fields": run_fields(graph, values, start_from if start_from is not None else remembered),
        "test_open": start_from is not None,
        "test_run": last,
        "test_running": last is not None and last.status in ACTIVE,
        "test_nodes": {row.node_id: row for row in last.nodes} if last else {},
        "test_paths": {row.node_id: output_paths(row.node_id, row.output) for row in last.nodes} if last else {},
        "test_graph": render_graph(
            executed_definition(last),
            statuses={row.node_id: row.status for row in last.nodes},
            label=f"Last test run of {workflow.name}, each node by its status",
            pinned={row.node_id for row in last.nodes if row.pinned},
        )
        if last
        else None,
        **pins_shown(workflow, definition, graph if drawn else None, last),
    }


def pins_shown(workflow, definition: dict, graph, last) -> dict:
    """The draft's pins of nodes still in it (a test run drops the others), each pin that no
    longer fits its node with why (``graph``: the draft's, when it parses), and the nodes whose
    last test output could be pinned."""
    present = set(editor_schema.node_ids(definition))
    pins = {node_id: output for node_id, output in pins_of(draft_of(workflow)).items() if node_id in present}
    stale = {p.path.partition(".")[2]: p.message for p in pinned_problems(graph, pins)} if graph is not None else {}
    return {
        "test_pins": pins,
        "test_stale_pins": stale,
        "test_pinnable": {row.node_id for row in last.nodes if pinnable(row)} if last else set(),
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

"""A workflow's Tests tab (owner only): its test cases and their checks, adding and
changing them, running them all, the recent test runs with their pass rate over time,
and the publish gate's setting. A case from an execution: "Add to tests" on its page.

Every form posts as a plain form and works without JavaScript; htmx only spares the
reload of the add-check form when the kind changes.
"""

from __future__ import annotations

import hashlib
import json
from types import SimpleNamespace

from flask import flash, request, url_for
from flask_login import current_user

from ..engine import jsontext
from ..engine.errors import Problem
from ..errors import Conflict, NoTests, NotFound, ValidationFailed
from ..evaluations import cases as case_service
from ..evaluations import runs as run_service
from ..evaluations.checks import expected
from ..evaluations.records import Tally, tallies
from ..schemas.base import parse
from ..schemas.checks import MAX_CHECKS_PER_CASE
from ..schemas.evaluations import DRAFT, MAX_TEST_CASES, TestRunRequest
from ..schemas.workflows import NAME_MAX
from ..services import drafts as draft_service
from ..services import workflows as workflow_service
from ..services.definitions import compile_definition, graph_for
from ..services.drafts import own_workflow
from ..services.executions import own_execution
from ..services.providers import list_providers
from ..services.versions import draft_of
from . import bp
from .charts import pass_rate_chart
from .check_forms import check_form, chosen_kind, kind_choices, kind_label, read_check
from .editor import model_choices
from .editor_panels import gate_state
from .forms import PlainForm
from .rendering import redirect_to, respond
from .run_form import read_inputs, run_fields

RUNS_SHOWN = 20


def _user():
    return current_user._get_current_object()


# -- what the pages show ---------------------------------------------------------------------------


def input_graph(workflow):
    """The draft's input fields, or (an unfinished draft) the published version's."""
    try:
        return compile_definition(draft_of(workflow).definition)
    except ValidationFailed:
        return graph_for(workflow.id, workflow.version)


def output_names(workflow) -> list[str]:
    """The outputs the draft gives (a check's ``output`` is one of them)."""
    names: list[str] = []
    for node in draft_of(workflow).definition.get("nodes") or []:
        if not isinstance(node, dict) or node.get("type") != "output":
            continue
        config = node.get("config") if isinstance(node.get("config"), dict) else {}
        if isinstance(config.get("fields"), dict):
            names += [key for key in config["fields"] if isinstance(key, str)]
        elif config.get("template") is not None and isinstance(node.get("id"), str):
            names.append(node["id"])
    return names


def suggestions(workflow) -> dict[str, list[str]]:
    """What a check's free-text fields offer, by the field's name: the draft's outputs,
    and for a judge the models and providers one may name."""
    mine = list_providers(_user())
    models = {*model_choices(), *(model for provider in mine for model in provider.models)}
    return {"output": output_names(workflow), "model": sorted(models), "provider": [p.name for p in mine]}


def shown_checks(checks: list[dict]) -> list[SimpleNamespace]:
    return [
        SimpleNamespace(
            label=kind_label(check.get("kind")),
            output=check.get("output"),
            expected=expected(check),
            fingerprint=fingerprint(check),
        )
        for check in checks
    ]


def fingerprint(check: dict) -> str:
    """Which check a Remove button meant: a second click, or another tab's, finds its
    place taken by the next check and removes nothing."""
    text = json.dumps(check, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def run_rows(runs) -> list[SimpleNamespace]:
    counted = tallies([run.id for run in runs])
    return [SimpleNamespace(run=run, tally=counted.get(run.id, Tally())) for run in runs]


def version_label(run) -> str:
    return "the draft" if run.version is None else f"version {run.version}"


def _chart(rows: list[SimpleNamespace]):
    points = []
    for row in reversed(rows):
        rate = row.tally.pass_rate
        shown = "nothing scored" if rate is None else f"{rate:.0%}"
        when = f"{row.run.created_at:%d %b %H:%M} UTC"  # UTC, as every time the pages show
        points.append((when, rate, f"{when} · {version_label(row.run)} · {shown}"))
    return pass_rate_chart(points) if points else None


def _case_inputs_form(workflow, inputs: dict | None, values: dict | None = None, other: str | None = None):
    """The input node's widgets, and the inputs they do not cover as JSON (kept, not lost)."""
    fields = run_fields(input_graph(workflow), values, inputs or {})
    covered = {item.name for item in fields}
    if other is None:
        rest = {key: value for key, value in (inputs or {}).items() if key not in covered}
        other = json.dumps(rest, indent=2, ensure_ascii=False) if rest else ""
    return fields, other


def _read_case(workflow) -> tuple[str, dict, dict, list[Problem]]:
    """(name, inputs, raw input strings, problems) from a posted case form."""
    name = request.form.get("name", "").strip()
    inputs, raw, problems = read_inputs(input_graph(workflow), request.form)
    if not name:
        problems.append(Problem("name", "missing_field", "Give the case a name."))
    elif len(name) > NAME_MAX:
        problems.append(Problem("name", "invalid_value", f"At most {NAME_MAX} characters."))
    other = request.form.get("other_inputs", "")
    if other.strip():
        try:
            extra = jsontext.loads(other)
        except ValueError as exc:
            problems.append(Problem("other_inputs", "invalid_value", f"is not valid JSON: {exc}"))
        else:
            if isinstance(extra, dict):
                inputs = {**extra, **inputs}
            else:
                problems.append(Problem("other_inputs", "invalid_value", "must be a JSON object ({…})"))
    return name, inputs, raw, problems


def _placed(problems: list[Problem], fields) -> tuple[dict, list[Problem]]:
    slots = {f"inputs.{item.name}": item.slot for item in fields} | {"name": "pb-name", "other_inputs": "pb-other"}
    placed: dict[str, list[str]] = {}
    loose = []
    for problem in problems:
        if problem.path in slots:
            placed.setdefault(slots[problem.path], []).append(problem.message)
        else:
            loose.append(problem)
    return placed, loose


# -- the Tests tab ---------------------------------------------------------------------------------


def tests_page(workflow, *, status: int = 200, new_case: dict | None = None):
    user = _user()
    cases = case_service.cases_of(workflow.id)
    runs, run_total = run_service.list_test_runs(user, workflow.id, limit=RUNS_SHOWN)
    rows = run_rows(runs)
    versions, _ = draft_service.list_versions(user, workflow.id, limit=RUNS_SHOWN)
    fields, other = _case_inputs_form(workflow, None)
    last = {row.test_id: row.status for row in runs[0].cases} if runs else {}
    return respond(
        "workflows/tests.html",
        status=status,
        workflow=workflow,
        owner=True,
        cases=[SimpleNamespace(case=case, checks=shown_checks(case.checks), last=last.get(case.id)) for case in cases],
        last_run=runs[0] if runs else None,
        runs=rows,
        run_total=run_total,
        chart=_chart(rows),
        versions=versions,
        gate=gate_state(workflow),
        max_cases=MAX_TEST_CASES,
        name_max=NAME_MAX,
        new_case=new_case or {"name": "", "fields": fields, "other": other, "placed": {}, "loose": []},
        action_form=PlainForm(),
    )


@bp.get("/workflows/<workflow_id>/tests")
def workflow_tests(workflow_id: str):
    return tests_page(own_workflow(_user(), workflow_id))


@bp.post("/workflows/<workflow_id>/tests")
def workflow_test_add(workflow_id: str):
    workflow = own_workflow(_user(), workflow_id)
    name, inputs, raw, problems = _read_case(workflow)
    if not problems:
        try:
            case = case_service.create_case(_user(), workflow.id, name, inputs, [])
        except ValidationFailed as exc:
            problems = [Problem("other_inputs", p.code, p.message) for p in exc.details] or [
                Problem("other_inputs", "invalid_value", exc.message)
            ]
        except Conflict as exc:  # the workflow holds as many cases as it may
            problems = [Problem("", "conflict", exc.message)]
        else:
            flash(f"Added “{case.name}”. Now say what its outputs should be: add its checks.", "success")
            return redirect_to(url_for("ui.test_case", test_id=case.id) + "#add-check")
    fields, other = _case_inputs_form(workflow, None, raw, request.form.get("other_inputs", ""))
    placed, loose = _placed(problems, fields)
    new_case = {"name": name, "fields": fields, "other": other, "placed": placed, "loose": loose}
    return tests_page(workflow, status=422, new_case=new_case)


@bp.post("/workflows/<workflow_id>/tests/gate")
def workflow_test_gate(workflow_id: str):
    workflow = own_workflow(_user(), workflow_id)
    required = request.form.get("require_passing_tests") == "true"
    workflow_service.update_workflow(_user(), workflow.id, {"require_passing_tests": required})
    flash(
        "Publishing now requires a passing test run of the draft."
        if required
        else "Publishing no longer requires passing tests.",
        "success",
    )
    return redirect_to(url_for("ui.workflow_tests", workflow_id=workflow.id) + "#gate")


@bp.post("/workflows/<workflow_id>/test-runs")
def workflow_test_run(workflow_id: str):
    """Run all tests, against the draft or a chosen version; then watch the run."""
    workflow = own_workflow(_user(), workflow_id)
    chosen = request.form.get("version", DRAFT)
    try:
        version = parse(TestRunRequest, {"version": _version(chosen)}).version
    except ValidationFailed:
        flash(f"Not run: there is no version “{chosen[:20]}”.", "error")
        return redirect_to(url_for("ui.workflow_tests", workflow_id=workflow.id))
    try:
        run = run_service.start_test_run(_user(), workflow.id, version)
    except (NoTests, NotFound) as exc:  # no cases, or no such version
        flash(exc.message, "error")
        return redirect_to(url_for("ui.workflow_tests", workflow_id=workflow.id))
    except ValidationFailed as exc:
        listed = "; ".join(f"{p.path}: {p.message}" if p.path else p.message for p in exc.details[:3])
        flash(f"Not run: the draft has problems ({listed}). Fix them in the editor first.", "error")
        return redirect_to(url_for("ui.workflow_tests", workflow_id=workflow.id))
    return redirect_to(url_for("ui.test_run", test_run_id=run.id))


def _version(chosen: str) -> str | int:
    """A posted version as the API's body reads it: ``draft``, or a number (anything
    else stays text, for the body's schema to refuse)."""
    return int(chosen) if chosen.isdecimal() and len(chosen) < 12 else chosen


# -- one case --------------------------------------------------------------------------------------


def case_page(case, *, status: int = 200, form=None, check=None):
    """A case: its name and inputs (a form), its checks, and the add-check form."""
    workflow = own_workflow(_user(), case.workflow_id)
    if form is None:
        fields, other = _case_inputs_form(workflow, case.inputs)
        form = {"name": case.name, "fields": fields, "other": other, "placed": {}, "loose": []}
    return respond(
        "workflows/test_case.html",
        status=status,
        workflow=workflow,
        case=case,
        form=form,
        checks=shown_checks(case.checks),
        check=check or check_form(request.args.get("kind")),
        kinds=kind_choices(),
        suggestions=suggestions(workflow),
        max_checks=MAX_CHECKS_PER_CASE,
        name_max=NAME_MAX,
        action_form=PlainForm(),
    )


@bp.get("/tests/<test_id>")
def test_case(test_id: str):
    return case_page(case_service.own_case(_user(), test_id))


@bp.get("/tests/<test_id>/check-fields")
def test_case_check_fields(test_id: str):
    """The add-check form's fields for the chosen kind (htmx swaps them in)."""
    case = case_service.own_case(_user(), test_id)
    workflow = own_workflow(_user(), case.workflow_id)
    return respond(
        "partials/_check_fields.html",
        check=check_form(chosen_kind(request.args.get("kind"))),
        suggestions=suggestions(workflow),
    )


@bp.post("/tests/<test_id>")
def test_case_save(test_id: str):
    case = case_service.own_case(_user(), test_id)
    workflow = own_workflow(_user(), case.workflow_id)
    name, inputs, raw, problems = _read_case(workflow)
    if not problems:
        try:
            case_service.update_case(_user(), case.id, {"name": name, "inputs": inputs})
        except ValidationFailed as exc:
            problems = [Problem("other_inputs", p.code, p.message) for p in exc.details]
        else:
            flash("Saved.", "success")
            return redirect_to(url_for("ui.test_case", test_id=case.id))
    fields, other = _case_inputs_form(workflow, case.inputs, raw, request.form.get("other_inputs", ""))
    placed, loose = _placed(problems, fields)
    return case_page(
        case, status=422, form={"name": name, "fields": fields, "other": other, "placed": placed, "loose": loose}
    )


@bp.post("/tests/<test_id>/delete")
def test_case_delete(test_id: str):
    case = case_service.own_case(_user(), test_id)
    workflow_id, name = case.workflow_id, case.name
    case_service.delete_case(_user(), case.id)
    flash(f"Deleted “{name}”. Test runs that ran it keep their copy.", "info")
    return redirect_to(url_for("ui.workflow_tests", workflow_id=workflow_id))


@bp.post("/tests/<test_id>/checks")
def test_case_check_add(test_id: str):
    case = case_service.own_case(_user(), test_id)
    check, drawn = read_check(request.form.get("kind", ""), request.form)
    if check is not None and len(case.checks) >= MAX_CHECKS_PER_CASE:
        drawn.loose.append(f"A case holds at most {MAX_CHECKS_PER_CASE} checks; remove one first.")
        check = None
    if check is None:
        return case_page(case, status=422, check=drawn)
    try:
        case_service.update_case(_user(), case.id, {"checks": [*case.checks, check]})
    except ValidationFailed as exc:  # past the checks' size bound
        drawn.loose.append(exc.details[0].message if exc.details else exc.message)
        return case_page(case, status=422, check=drawn)
    flash(f"Added the check: {drawn.label.lower()} on {check['output']}.", "success")
    return redirect_to(url_for("ui.test_case", test_id=case.id, kind=drawn.kind) + "#add-check")


@bp.post("/tests/<test_id>/checks/<int:index>/delete")
def test_case_check_delete(test_id: str, index: int):
    case = case_service.own_case(_user(), test_id)
    meant = request.form.get("fingerprint", "")
    if index < len(case.checks) and fingerprint(case.checks[index]) == meant:
        case_service.update_case(_user(), case.id, {"checks": [c for i, c in enumerate(case.checks) if i != index]})
        flash("Check removed.", "info")
    else:
        flash("That check was removed or changed already: nothing removed.", "info")
    return redirect_to(url_for("ui.test_case", test_id=case.id) + "#checks")


# -- from an execution ------------------------------------------------------------------------------


@bp.post("/executions/<execution_id>/add-to-tests")
def execution_add_to_tests(execution_id: str):
    """Add to tests: the finished execution as a case of its (own) workflow — its inputs,
    and an ``equals`` check per output it gave."""
    execution = own_execution(_user(), execution_id)
    try:
        case = case_service.case_from_execution(_user(), execution.workflow_id, execution.id, None)
    except (Conflict, ValidationFailed) as exc:  # still running, or the workflow holds all the cases it may
        flash(f"Not added: {exc.message}", "error")
        return redirect_to(url_for("ui.execution", execution_id=execution.id))
    flash(f"Added “{case.name}” to the tests, with a check per output. Change them as you like.", "success")
    return redirect_to(url_for("ui.test_case", test_id=case.id))

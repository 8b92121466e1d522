"""Models as the JSON of their answer schemas (``webapp/schemas``; docs/api.md)."""

from __future__ import annotations

from types import SimpleNamespace

from ..engine.errors import Problem
from ..engine.status import TriggerType
from ..evaluations.records import SPENT, Tally, shown_outputs
from ..models import (
    AuditEvent,
    Execution,
    NodeRun,
    Provider,
    Template,
    TestCase,
    TestRun,
    TestRunCase,
    Trigger,
    Workflow,
    WorkflowDraft,
    WorkflowVersion,
    isoformat,
)
from ..schemas import catalogue, drafts, evaluations, providers, triggers
from ..schemas import executions as runs
from ..schemas import workflows as schemas
from ..schemas.evaluations import DRAFT
from ..services.triggers import hook_url


def workflow_summary(workflow: Workflow) -> schemas.WorkflowSummary:
    return {
        "id": workflow.id,
        "name": workflow.name,
        "description": workflow.description,
        "category": workflow.category,
        "public": workflow.public,
        "created_by": workflow.owner_id,
        "created_at": isoformat(workflow.created_at),
        "updated_at": isoformat(workflow.updated_at),
        "usage_count": workflow.usage_count,
        "rating": workflow.rating,
    }


def workflow_full(workflow: Workflow) -> schemas.Workflow:
    definition = workflow.definition
    return {
        **workflow_summary(workflow),
        "version": workflow.version,
        "require_passing_tests": workflow.require_passing_tests,
        "nodes": definition["nodes"],
        "connections": definition.get("connections") or [],  # a PATCH may have stored null
    }


def draft(row: WorkflowDraft, changed: bool, problems: list[Problem]) -> drafts.Draft:
    return {
        "nodes": row.definition.get("nodes") or [],
        "connections": row.definition.get("connections") or [],
        "based_on_version": row.based_on_version,
        "updated_at": isoformat(row.updated_at),
        "changed": changed,
        "problems": [p.as_dict() for p in problems],
    }


def version_summary(row: WorkflowVersion) -> drafts.VersionSummary:
    return {
        "version": row.version,
        "created_at": isoformat(row.created_at),
        "published_by": row.published_by,
        "note": row.note,
    }


def version_detail(row: WorkflowVersion) -> drafts.VersionDetail:
    return {
        **version_summary(row),
        "nodes": row.definition["nodes"],
        "connections": row.definition.get("connections") or [],
    }


def usage(row) -> dict:
    """Token counts and cost of an execution or a node (``None`` counts: unknown)."""
    return {
        "prompt_tokens": row.prompt_tokens,
        "completion_tokens": row.completion_tokens,
        "total_tokens": row.total_tokens,
        "cost_usd": round(row.cost_usd or 0.0, 10),
    }


def node_run(node: NodeRun) -> runs.NodeRun:
    return {
        "node_id": node.node_id,
        "type": node.type,
        "status": node.status,
        "started_at": isoformat(node.started_at),
        "finished_at": isoformat(node.finished_at),
        "duration_ms": node.duration_ms,
        "input": node.input,
        "output": node.output,
        "error": node.error,
        "usage": usage(node),
        "cost_saved_usd": round(node.cost_saved_usd or 0.0, 10),
        "cached": node.cached,
        "attempts": node.attempts,
        "reused_from": node.reused_from,
        "pinned": bool(node.pinned),
    }


def execution(execution: Execution, *, with_nodes: bool = True) -> runs.Execution | runs.ExecutionSummary:
    body = {
        "id": execution.id,
        "workflow_id": execution.workflow_id,
        "workflow_version": execution.workflow_version,
        "retry_of": execution.retry_of,
        "trigger": execution.trigger,
        "trigger_id": execution.trigger_id,
        "parent_execution_id": execution.parent_execution_id,
        "status": execution.status,
        "inputs": execution.inputs,
        "outputs": execution.outputs,
        "error": execution.error,
        "created_at": isoformat(execution.created_at),
        "started_at": isoformat(execution.started_at),
        "finished_at": isoformat(execution.finished_at),
        "duration_ms": execution.duration_ms,
        "usage": {**usage(execution), "cost_saved_usd": round(execution.cost_saved_usd or 0.0, 10)},
    }
    if with_nodes:
        body["nodes"] = [node_run(node) for node in execution.nodes]
    return body


def template(template: Template, *, with_definition: bool = True) -> catalogue.Template:
    body = {
        "id": template.id,
        "name": template.name,
        "description": template.description,
        "category": template.category,
        "how_to_use": template.how_to_use,
        "usage_count": template.usage_count,
        "example_inputs": template.example_inputs,
    }
    if with_definition:
        body["nodes"] = template.definition["nodes"]
        body["connections"] = template.definition.get("connections") or []
    return body


def audit_event(event: AuditEvent) -> catalogue.AuditEvent:
    return {
        "id": event.id,
        "at": isoformat(event.at),
        "actor": event.actor,
        "action": event.action,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "ip": event.ip,
    }


def trigger(item: Trigger) -> triggers.WebhookTrigger | triggers.ScheduleTrigger:
    body = {
        "id": item.id,
        "workflow_id": item.workflow_id,
        "type": item.type,
        "enabled": item.enabled,
        "created_at": isoformat(item.created_at),
    }
    if item.type == TriggerType.WEBHOOK:
        body["url"] = hook_url(item)
    else:
        body |= {
            "cron": item.cron,
            "interval_seconds": item.interval_seconds,
            "timezone": item.timezone,
            "inputs": item.inputs,
            "next_run_at": isoformat(item.next_run_at),
            "last_run_at": isoformat(item.last_run_at),
        }
    return body


def provider(item: Provider) -> providers.Provider:
    """A model provider: its key only as whether one is set and its last four characters."""
    return {
        "id": item.id,
        "name": item.name,
        "base_url": item.base_url,
        "api_key_set": item.api_key_encrypted is not None,
        "api_key_last4": item.api_key_last4,
        "models": item.models,
        "prices": item.prices,
        "created_at": isoformat(item.created_at),
    }


def test_case(row: TestCase) -> evaluations.TestCase:
    return {
        "id": row.id,
        "workflow_id": row.workflow_id,
        "name": row.name,
        "inputs": row.inputs,
        "checks": row.checks,
        "created_at": isoformat(row.created_at),
        "updated_at": isoformat(row.updated_at),
    }


def test_run_summary(run: TestRun, tally: Tally) -> evaluations.TestRunSummary:
    finished = run.finished_at
    return {
        "id": run.id,
        "workflow_id": run.workflow_id,
        "version": DRAFT if run.version is None else run.version,
        "status": run.status,
        "created_at": isoformat(run.created_at),
        "finished_at": isoformat(finished),
        "cases_total": tally.total,
        "passed": tally.passed,
        "failed": tally.failed,
        "errors": tally.errors,
        "pass_rate": tally.pass_rate,
        "duration_ms": round((finished - run.created_at).total_seconds() * 1000) if finished else None,
        "usage": _spent(tally),
    }


def test_run(run: TestRun, tally: Tally, executions: dict[str, Execution]) -> evaluations.TestRun:
    """With each case: its checks' results, and its execution's outputs, time and spend
    (``executions`` by id) with what its judges spent."""
    return {
        **test_run_summary(run, tally),
        "cases": [_case(row, executions.get(row.execution_id)) for row in run.cases],
    }


def _case(row: TestRunCase, ran: Execution | None) -> evaluations.CaseResult:
    spent = {key: getattr(row, key) + (getattr(ran, key) if ran is not None else 0) for key in SPENT}
    return {
        "test_id": row.test_id,
        "name": row.name,
        "execution_id": row.execution_id,
        "status": row.status,
        "detail": row.detail,
        "checks": row.results or [],
        "outputs": shown_outputs(ran),
        "duration_ms": ran.duration_ms if ran is not None else None,
        "usage": _spent(SimpleNamespace(**spent)),
    }


def _spent(row) -> evaluations.Usage:
    return {
        "prompt_tokens": int(row.prompt_tokens),
        "completion_tokens": int(row.completion_tokens),
        "total_tokens": int(row.total_tokens),
        "cost_usd": round(float(row.cost_usd), 10),
    }

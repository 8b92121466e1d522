"""Schemathesis against /api/v1/openapi.json, in process, plus the bugs fuzzing found.

The fuzzer loads the document from the Flask app itself (WSGI, no server) and
sends every operation its examples, the coverage phase's boundary cases and a
bounded number of generated requests, positive and negative, signed with a real
API key. A user who owns workflows and executions (and another user's public and
private workflows) makes real ids exist: most generated ids are swapped
for real ones, so requests get past "404" into validation and the happy paths.
Every check schemathesis has runs on every answer: not a 5xx, a documented status,
content type, headers and body; schema-invalid data refused and schema-valid data
accepted; 405 with an Allow header for a method the path lacks, OPTIONS naming the
path's methods; a missing key refused. A schema-valid body may be refused only by a
rule the document names for that operation (its ``x-refusals``): the allowance is read
from the document, and ``refusals_are_named`` checks that such a refusal carries only
the codes named. SQLite only; a few minutes.

The schema is loaded at import from an app without a database (serving the
document needs none) and every call goes to the fixture's app: schemathesis'
lazy ``from_fixture`` loader reads ``request.node._nodeid``, which pytest 9.2 no
longer has.

Below it, regression tests for the bugs fuzzing found.
"""

from __future__ import annotations

import json
import time
import zlib
from datetime import timedelta
from types import SimpleNamespace

import pytest
import schemathesis
from schemathesis.checks import CHECKS as REGISTERED
from schemathesis.checks import load_all_checks
from sqlalchemy import update

from tests.conftest import Api, close_app, make_app, make_user
from tests.definitions import echo_definition, model_definition, spec_example, template_file, workflow_body
from tests.waiting import eventually
from webapp import create_app
from webapp.config import TestConfig as AppTestConfig  # aliased: pytest would collect Test*
from webapp.extensions import db
from webapp.models import Execution, utcnow
from webapp.services import templates as template_service

EXAMPLES_PER_OPERATION = 30
# What schemathesis accepts for schema-valid data by default; an operation adds the
# statuses of the refusals its document names.
ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]
FAILING = {
    "nodes": [
        {"id": "gen", "type": "ai_model", "config": {"prompt": "[[status=500]] go", "retries": 0}},
        {"id": "out", "type": "output", "config": {"fields": {"answer": "{{ gen.text }}"}}},
    ],
    "connections": [{"from": "gen", "to": "out"}],
}


def _created(response) -> str:
    assert response.status_code in (200, 201), response.get_data(as_text=True)
    return response.json["id"]


@pytest.fixture(scope="module")
def world(tmp_path_factory, model_server):
    """An app on its own SQLite file, a user with things to fuzz, and their key."""
    model_server.reset()
    directory = tmp_path_factory.mktemp("fuzz")
    app = make_app(f"sqlite:///{directory / 'fuzz.db'}", model_server.base_url)
    (directory / "catalogue").mkdir()
    (directory / "catalogue" / "shouter.json").write_text(json.dumps(template_file()))
    with app.app_context():
        template_service.seed()  # the real catalogue
        template_service.seed(directory / "catalogue")
        templates, _ = template_service.list_templates(limit=100)
        template_ids = [template.id for template in templates]
        template_id = next(template.id for template in templates if template.name == "Shouter")
    user, key = make_user(app, "fuzz@example.com")
    other_user, other_key = make_user(app, "other@example.com")
    me, other = Api(app.test_client(), user, key), Api(app.test_client(), other_user, other_key)

    echo = _created(me.post("/workflows", json=workflow_body("Echo")))
    copy = _created(me.post("/workflows", json=workflow_body("Copy", definition=spec_example())))
    failing = _created(me.post("/workflows", json=workflow_body("Failing", definition=FAILING)))
    public = _created(other.post("/workflows", json=workflow_body("Public", public=True)))
    private = _created(other.post("/workflows", json=workflow_body("Private")))
    deleted = _created(me.post("/workflows", json=workflow_body("Deleted")))
    assert me.delete(f"/workflows/{deleted}").status_code == 204
    completed = _created(me.post(f"/workflows/{echo}/execute", json={"inputs": {"text": "hi"}}))
    priced = _created(me.post(f"/workflows/{copy}/execute", json={"inputs": {"product": "a lamp"}}))
    failed = _created(me.post(f"/workflows/{failing}/execute"))
    fails_later = model_definition("[[status=500]] {{ in.text }}", retries=0)  # its input node completes
    failing_later = _created(me.post("/workflows", json=workflow_body("Fails later", definition=fails_later)))
    failed_later = _created(me.post(f"/workflows/{failing_later}/execute", json={"inputs": {"text": "x"}}))
    theirs = _created(other.post(f"/workflows/{public}/execute", json={"inputs": {"text": "x"}}))

    hook = me.post(f"/workflows/{echo}/triggers", json={"type": "webhook"})
    assert hook.status_code == 201, hook.json
    schedule = {"type": "schedule", "interval_seconds": 3600, "inputs": {"text": "x"}}
    timed = me.post(f"/workflows/{echo}/triggers", json=schedule).json["id"]
    provider_body = {"name": "p", "base_url": model_server.base_url, "api_key": "sk-fuzz"}
    provider = _created(me.post("/providers", json=provider_body))
    shouts = {
        "name": "Shouts",
        "inputs": {"text": "hi"},
        "checks": [{"output": "result", "kind": "equals", "value": "HI"}],
    }
    case = _created(me.post(f"/workflows/{echo}/tests", json=shouts))
    scored = me.post(f"/workflows/{echo}/test-runs", json={}).json["id"]
    eventually(lambda: me.get(f"/test-runs/{scored}").json["status"] == "completed", what="the test run to end")
    hangs = {"name": "Hangs", "inputs": {"text": "[[hang]]"}}
    _created(me.post(f"/workflows/{failing_later}/tests", json=hangs))
    waiting = me.post(f"/workflows/{failing_later}/test-runs", json={}).json["id"]  # cancelled by the fuzzer, or not

    throwaways = {  # what a DELETE gets instead of a fixture (deleting one would leave the rest of the run 404)
        "workflows": lambda: _created(me.post("/workflows", json=workflow_body("Throwaway"))),
        "triggers": lambda: _created(me.post(f"/workflows/{echo}/triggers", json={"type": "webhook"})),
        "providers": lambda: _created(me.post("/providers", json={**provider_body, "name": f"p{time.monotonic_ns()}"})),
        "tests": lambda: _created(me.post(f"/workflows/{echo}/tests", json=shouts)),
    }
    ids = {
        "workflows": [echo, copy, failing, public, private, deleted],
        "executions": [completed, priced, failed, failed_later, theirs],
        "templates": [*template_ids[:5], template_id],
        "triggers": [hook.json["id"], timed],
        "providers": [provider, "default"],
        "tests": [case],
        "test-runs": [scored, waiting],
        "hooks": [hook.json["url"].rsplit("/hooks/", 1)[1]],
    }
    yield SimpleNamespace(
        app=app,
        headers={"Authorization": f"Bearer {key}"},
        ids=ids,
        throwaway=lambda kind: throwaways.get(kind, throwaways["workflows"])(),
    )
    close_app(app)


def _refusals(operation: dict) -> dict[int, set[str]]:
    """The rules past the schema the document names for an operation: status → detail codes."""
    named: dict[int, set[str]] = {}
    for refusal in operation.get("x-refusals", []):
        named.setdefault(refusal["status"], set()).add(refusal["code"])
    return named


@schemathesis.check
def refusals_are_named(ctx, response, case) -> bool | None:
    """A schema-valid body refused with 4xx: only by a rule the document names, each
    problem carrying one of the codes named for that status."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code not in (400, 422):
        return None
    named = _refusals(case.operation.definition.raw).get(response.status_code)
    if named is None:
        return None  # not promised; positive_data_acceptance reports it
    codes = {detail["code"] for detail in json.loads(response.content)["error"]["details"]}
    if not codes or not codes <= named:
        raise AssertionError(
            f"{case.operation.label}: a schema-valid body refused with {response.status_code} "
            f"for {sorted(codes - named) or 'no named rule'}; the document names {sorted(named)}"
        )
    return None


def _schema() -> schemathesis.BaseSchema:
    """The document as the app serves it (an app without a database is enough to serve it),
    with each operation's allowance for schema-valid bodies read from its named refusals."""
    config = AppTestConfig()
    config.SQLALCHEMY_DATABASE_URI = "sqlite://"
    app = create_app(config)
    document = app.test_client().get("/api/v1/openapi.json").json
    operations = [
        {
            "include-name": f"{method.upper()} {path}",
            "checks": {
                "positive_data_acceptance": {"expected-statuses": ACCEPTED + [str(s) for s in _refusals(operation)]}
            },
        }
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if _refusals(operation)
    ]
    settings = schemathesis.Config.from_dict(
        {
            "seed": 20250131,
            "suppress-health-check": ["too_slow", "filter_too_much", "data_too_large", "large_base_example"],
            "generation": {
                "mode": "all",
                "max-examples": EXAMPLES_PER_OPERATION,
                "deterministic": True,
                "database": "none",
                "with-security-parameters": False,
            },
            "phases": {"stateful": {"enabled": False}},
            "operations": operations,
        }
    )
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app, config=settings)


load_all_checks()
CHECKS = list(REGISTERED.get_all())  # every check schemathesis has, and refusals_are_named


schema = _schema()


def _pick(options: list[str], seed: str) -> str | None:
    """A real id for most generated ones (so bodies get past 404 to be checked), the
    generated one for the rest; which one follows from the generated value."""
    index = zlib.crc32(seed.encode("utf-8", "surrogatepass")) % (len(options) + 1)
    return options[index] if index < len(options) else None


def _use_real_ids(case, world) -> None:
    path, params = case.operation.path, case.path_parameters or {}
    if "id" in params and isinstance(params["id"], str):
        kind = path.split("/")[3]  # /api/v1/<kind>/{id}…
        real = _pick(world.ids[kind], f"{params['id']}|{case.query!r}|{case.body!r}")
        if real is not None and case.method.upper() == "DELETE":
            real = world.throwaway(kind)
        if real is not None:
            params["id"] = real
    if isinstance(params.get("token"), str):  # /hooks/{token}
        real = _pick(world.ids["hooks"], f"{params['token']}|{case.body!r}")
        if real is not None:
            params["token"] = real
    if path.endswith("/from-template") and isinstance(case.body, dict):
        generated = case.body.get("template_id")
        real = _pick(world.ids["templates"], generated) if isinstance(generated, str) else None
        if real is not None:
            case.body["template_id"] = real


@schema.parametrize()
def test_the_api_answers_as_documented(case, world):
    _use_real_ids(case, world)
    case.call_and_validate(app=world.app, headers=world.headers, checks=CHECKS)


# -- found while fuzzing, kept as regressions --------------------------------------------------


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
@pytest.mark.parametrize(
    "path",
    [
        "/workflows/wf%00",  # a path id → db.session.get(Workflow, "wf\x00")
        "/executions/exec%00",
        "/templates/tpl%00",
        "/workflows?category=a%00",  # a query filter compared in SQL
        "/templates?category=a%00",
        "/usage?workflow_id=wf%00",
    ],
)
def test_a_nul_character_in_the_url_is_a_4xx_on_postgresql(api, path):
    """psycopg refuses NUL in text parameters, so a path id or query value with %00
    once answered 500 on PostgreSQL; it is refused up front (webapp/security.py)."""
    response = api.get(path)
    assert 400 <= response.status_code < 500, response.get_data(as_text=True)


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_nul_character_in_the_idempotency_key_is_a_4xx_on_postgresql(api):
    """The Idempotency-Key header must be printable; NUL once reached PostgreSQL."""
    workflow = _created(api.post("/workflows", json=workflow_body()))
    response = api.post(
        f"/workflows/{workflow}/execute", json={"inputs": {"text": "x"}}, headers={"Idempotency-Key": "a\x00b"}
    )
    assert response.status_code == 422, response.get_data(as_text=True)


def test_retry_reuses_completed_nodes(api, model):
    """Found by the tour: ``_add_node_rows`` inserted rows with different keys in one
    executemany, so retrying an execution in which a node completed answered 500.
    Fixed in webapp/runs/rows.py (``_PENDING_NODE``); kept as a regression test."""
    definition = {
        "nodes": [
            {"id": "in", "type": "input", "config": {"fields": [{"name": "text", "type": "string"}]}},
            {"id": "gen", "type": "ai_model", "config": {"prompt": "[[status=500]] {{ in.text }}", "retries": 0}},
            {"id": "out", "type": "output", "config": {"fields": {"answer": "{{ gen.text }}"}}},
        ],
        "connections": [{"from": "in", "to": "gen"}, {"from": "gen", "to": "out"}],
    }
    workflow = _created(api.post("/workflows", json=workflow_body(definition=definition)))
    failed = api.post(f"/workflows/{workflow}/execute", json={"inputs": {"text": "x"}}).json
    assert failed["status"] == "failed" and failed["nodes"][0]["status"] == "completed"
    retried = api.post(f"/executions/{failed['id']}/retry")
    assert retried.status_code == 202, retried.get_data(as_text=True)
    assert retried.json["nodes"][0]["reused_from"] == failed["id"]


def test_export_after_clearing_connections_is_importable_as_documented(api):
    """PATCH {"connections": null} means "no connections"; export once wrote null."""
    lone = {"nodes": [{"id": "out", "type": "output", "config": {"template": "hello"}}]}
    workflow = _created(api.post("/workflows", json=workflow_body(definition=lone)))
    assert api.patch(f"/workflows/{workflow}", json={"connections": None}).status_code == 200
    assert api.get(f"/workflows/{workflow}/export").json["workflow"]["connections"] == []


def test_a_cancelled_execution_never_finishes_before_it_started(app, api, model):
    """A cancel racing a worker's claim once recorded finished_at before started_at
    (duration -6 ms): settling never finishes before the start. The claim's later
    clock reading is set directly, which makes the race deterministic."""
    slow = {
        "nodes": [
            {"id": "gen", "type": "ai_model", "config": {"prompt": "[[latency=1]] go"}},
            {"id": "out", "type": "output", "config": {"fields": {"answer": "{{ gen.text }}"}}},
        ],
        "connections": [{"from": "gen", "to": "out"}],
    }
    workflow = _created(api.post("/workflows", json=workflow_body(definition=slow)))
    execution_id = api.post(f"/workflows/{workflow}/execute", json={"async": True}).json["execution_id"]
    with app.app_context():
        later = utcnow() + timedelta(seconds=1)  # the claim read the clock after the cancel did
        db.session.execute(update(Execution).where(Execution.id == execution_id).values(started_at=later))
        db.session.commit()
    cancelled = api.post(f"/executions/{execution_id}/cancel").json
    assert cancelled["status"] == "cancelled"
    assert cancelled["finished_at"] >= cancelled["started_at"] and cancelled["duration_ms"] >= 0


@pytest.mark.parametrize("template", ["{{ " + "(" * 80 + "in.text" + ")" * 80 + " }}", "{{ not {[1]: 1} }}"])
def test_a_template_that_cannot_be_compiled_is_a_422(api, template):
    """Templates Python or Jinja cannot compile (too deep, a failing folded constant)
    once answered 500; they are syntax errors (tests/engine/test_fuzz_sandbox.py)."""
    definition = echo_definition()
    definition["nodes"][2]["config"]["fields"]["result"] = template
    response = api.post("/workflows", json=workflow_body(definition=definition))
    assert response.status_code == 422, response.get_data(as_text=True)[:300]
    assert response.json["error"]["details"][0]["code"] == "syntax_error"


def test_execution_outputs_are_strict_json(api):
    """``{{ 1e308 * 10 }}`` is inf, which is not JSON (and PostgreSQL's jsonb refuses
    it): the node fails, the API answers strict JSON."""
    definition = echo_definition()
    definition["nodes"][2]["config"]["fields"]["result"] = "{{ 1e308 * 10 }}"
    workflow = _created(api.post("/workflows", json=workflow_body(definition=definition)))
    response = api.post(f"/workflows/{workflow}/execute", json={"inputs": {"text": "x"}})

    def refuse(name):
        raise ValueError(f"{name} is not JSON")

    body = json.loads(response.get_data(as_text=True), parse_constant=refuse)
    assert response.status_code == 200 and body["status"] == "failed", body
    assert body["nodes"][2]["status"] == "failed"

"""GET /api/v1/openapi.json: it describes every path of docs/api.md, and the answers match it.

The tour drives the real API through every operation and most error statuses and
validates each JSON answer against the schema the document gives for that
operation and status (JSON Schema 2020-12, formats checked), with jsonschema-rs.
"""

from __future__ import annotations

import json
import re
from urllib.parse import quote, unquote

import jsonschema_rs
import pytest
from openapi_spec_validator import validate as validate_openapi

from tests.conftest import Api
from tests.definitions import (
    SUMMARY_FIELDS,
    model_definition,
    spec_example,
    template_file,
    workflow_body,
)
from tests.event_streams import parse
from tests.waiting import eventually, finished, node_reached
from webapp.schemas.base import json_schemas
from webapp.schemas.workflows import RatingRequest, WorkflowCreate
from webapp.services import templates as template_service

# Every operation docs/api.md names, as (method, path).
SPEC_OPERATIONS = {
    ("get", "/api/v1/workflows"),
    ("post", "/api/v1/workflows"),
    ("get", "/api/v1/workflows/{id}"),
    ("put", "/api/v1/workflows/{id}"),
    ("patch", "/api/v1/workflows/{id}"),
    ("delete", "/api/v1/workflows/{id}"),
    ("post", "/api/v1/workflows/{id}/rating"),
    ("post", "/api/v1/workflows/{id}/clone"),
    ("get", "/api/v1/workflows/{id}/export"),
    ("post", "/api/v1/workflows/import"),
    ("post", "/api/v1/workflows/{id}/execute"),
    ("get", "/api/v1/executions/{id}"),
    ("get", "/api/v1/executions/{id}/events"),
    ("get", "/api/v1/workflows/{id}/executions"),
    ("post", "/api/v1/executions/{id}/cancel"),
    ("post", "/api/v1/executions/{id}/retry"),
    ("get", "/api/v1/usage"),
    ("get", "/api/v1/templates"),
    ("get", "/api/v1/templates/{id}"),
    ("post", "/api/v1/workflows/from-template"),
    ("get", "/api/v1/audit"),
    ("get", "/api/v1/openapi.json"),
    ("post", "/api/v1/workflows/{id}/triggers"),
    ("get", "/api/v1/workflows/{id}/triggers"),
    ("patch", "/api/v1/triggers/{id}"),
    ("delete", "/api/v1/triggers/{id}"),
    ("post", "/hooks/{token}"),
    ("post", "/api/v1/providers"),
    ("get", "/api/v1/providers"),
    ("get", "/api/v1/providers/{id}"),
    ("patch", "/api/v1/providers/{id}"),
    ("delete", "/api/v1/providers/{id}"),
    ("get", "/api/v1/providers/{id}/models"),
    ("get", "/api/v1/workflows/{id}/draft"),
    ("put", "/api/v1/workflows/{id}/draft"),
    ("post", "/api/v1/workflows/{id}/publish"),
    ("get", "/api/v1/workflows/{id}/versions"),
    ("get", "/api/v1/workflows/{id}/versions/{n}"),
    ("post", "/api/v1/workflows/{id}/tests"),
    ("get", "/api/v1/workflows/{id}/tests"),
    ("put", "/api/v1/tests/{id}"),
    ("delete", "/api/v1/tests/{id}"),
    ("post", "/api/v1/workflows/{id}/test-runs"),
    ("get", "/api/v1/workflows/{id}/test-runs"),
    ("get", "/api/v1/test-runs/{id}"),
    ("post", "/api/v1/test-runs/{id}/cancel"),
}
NAMED_PATH_VALUES = {"token": "{token}", "number": "{n}"}  # every other path value is {id}
LONE_OUTPUT = {"nodes": [{"id": "out", "type": "output", "config": {"template": "hello"}}]}


def one_call(directive: str) -> dict:
    """One model call and no input node: runs with no inputs at all."""
    return {
        "nodes": [
            {"id": "gen", "type": "ai_model", "config": {"prompt": f"{directive} go", "retries": 0}},
            {"id": "out", "type": "output", "config": {"fields": {"answer": "{{ gen.text }}"}}},
        ],
        "connections": [{"from": "gen", "to": "out"}],
    }


@pytest.fixture
def document(client) -> dict:
    response = client.get("/api/v1/openapi.json")  # no key: the document is public
    assert response.status_code == 200 and response.mimetype == "application/json"
    return response.json


# -- the document ------------------------------------------------------------------------


def test_the_document_lists_every_spec_path_and_verb(document):
    assert document["openapi"].startswith("3.1")
    documented = {(method, path) for path, item in document["paths"].items() for method in item}
    assert documented == SPEC_OPERATIONS


def test_the_document_matches_the_routes_the_app_serves(app, document):
    served = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(("/api/v1", "/hooks")):
            path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: NAMED_PATH_VALUES.get(m[1], "{id}"), rule.rule)
            served |= {(method.lower(), path) for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert served == {(method, path) for path, item in document["paths"].items() for method in item}


def test_parameters_carry_spec_constraints(document):
    parameters = document["components"]["parameters"]
    assert parameters["limit"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}
    assert parameters["offset"]["schema"]["minimum"] == 0
    listing = {p.get("name") or p["$ref"]: p for p in document["paths"]["/api/v1/workflows"]["get"]["parameters"]}
    assert listing["public"]["schema"]["type"] == "boolean"
    executions = document["paths"]["/api/v1/workflows/{id}/executions"]["get"]["parameters"]
    status = next(p for p in executions if p.get("name") == "status")
    assert status["schema"]["enum"] == ["queued", "running", "completed", "failed", "cancelled"]
    days = next(p for p in document["paths"]["/api/v1/usage"]["get"]["parameters"] if p["name"] == "days")
    assert (days["schema"]["minimum"], days["schema"]["maximum"]) == (1, 366)
    execute = document["paths"]["/api/v1/workflows/{id}/execute"]["post"]
    assert {"$ref": "#/components/parameters/IdempotencyKey"} in execute["parameters"]
    assert set(execute["responses"]) >= {"200", "202", "400", "401", "404", "413", "415", "422", "429"}


def test_every_operation_is_secured_except_the_document_and_webhooks(document):
    scheme = document["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert document["security"] == [{"bearerAuth": []}]
    for path, item in document["paths"].items():
        for method, operation in item.items():
            public = operation.get("security") == []
            assert public == (path in ("/api/v1/openapi.json", "/hooks/{token}")), (method, path)
            assert public or "401" in operation["responses"]


def test_every_schema_is_valid_json_schema(document):
    for name, schema in document["components"]["schemas"].items():
        assert jsonschema_rs.meta.is_valid(schema), name
    summary = document["components"]["schemas"]["WorkflowSummary"]
    assert set(summary["required"]) == set(summary["properties"]) == SUMMARY_FIELDS
    assert summary["additionalProperties"] is False
    assert summary["properties"]["rating"]["type"] == ["number", "null"]


def test_every_error_status_uses_the_envelope(document):
    responses = document["components"]["responses"]
    for response in responses.values():
        assert response["content"]["application/json"]["schema"]["allOf"] == [{"$ref": "#/components/schemas/Error"}]
    assert responses["RateLimited"]["headers"]["Retry-After"]["required"] is True
    error = document["components"]["schemas"]["Error"]["properties"]["error"]
    assert error["required"] == ["code", "message", "details"]
    assert document["components"]["schemas"]["ErrorDetail"]["required"] == ["path", "code", "message"]


def test_the_document_is_valid_openapi(document):
    validate_openapi(document)  # openapi-spec-validator: the structure, every $ref, every schema


def test_the_document_is_generated_from_the_body_schemas(document):
    """Bodies and answers are the pydantic schemas of webapp/schemas, as pydantic writes them."""
    schemas = document["components"]["schemas"]
    _, generated = json_schemas([(WorkflowCreate, "validation"), (RatingRequest, "validation")])
    for name in ("WorkflowCreate", "RatingRequest"):
        assert schemas[name] == generated[name], name
    create = document["paths"]["/api/v1/workflows"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert create == {"$ref": "#/components/schemas/WorkflowCreate"}


# -- contract mismatches schemathesis found, each a regression test ---------------------------


def test_fields_read_back_are_documented_as_accepted_and_ignored(api, document):
    """A body holding ``version`` (as a client sends back what it read) was accepted while
    the document marked it readOnly, that is: not to be sent."""
    create = document["components"]["schemas"]["WorkflowCreate"]["properties"]
    assert all("readOnly" not in create[name] for name in ("id", "version", "rating"))
    response = api.post("/workflows", json={**workflow_body(), "version": {}, "rating": "anything"})
    assert response.status_code == 201 and response.json["version"] == 1


@pytest.mark.parametrize("path", ["/workflows/import", "/workflows/from-template"])
def test_options_on_a_fixed_path_names_its_own_methods(api, path):
    """OPTIONS once listed the methods of /workflows/<id> too (GET, PUT, PATCH, DELETE)."""
    allowed = {m.strip() for m in api._call("options", path).headers["Allow"].split(",")}
    assert allowed == {"POST", "OPTIONS"}
    refused = api.get(path)
    assert refused.status_code == 405 and refused.json["error"]["code"] == "method_not_allowed"


def test_an_integer_query_value_may_be_written_as_a_whole_number(api):
    """JSON Schema's integer includes 5.0; ``?limit=5.0`` once answered 400."""
    assert api.get("/workflows", query_string={"limit": "5.0"}).status_code == 200
    assert api.get("/usage", query_string={"days": "2.0"}).json["days"] == 2
    assert api.get("/workflows", query_string={"limit": "5.5"}).status_code == 400


def test_a_rating_body_is_exactly_its_schema(api, document):
    """Extra keys in a rating were accepted although they mean nothing; 3.0 is the integer 3."""
    assert document["components"]["schemas"]["RatingRequest"]["additionalProperties"] is False
    workflow = api.post("/workflows", json=workflow_body()).json["id"]
    extra = api.post(f"/workflows/{workflow}/rating", json={"rating": 3, "stars": 3})
    assert extra.status_code == 422 and extra.json["error"]["details"][0]["code"] == "unknown_field"
    assert api.post(f"/workflows/{workflow}/rating", json={"rating": 3.0}).json["rating"] == 3.0


def test_a_schedule_interval_below_the_servers_minimum_is_documented_as_such(app, document):
    minimum = document["components"]["schemas"]["ScheduleInterval"]["minimum"]
    assert minimum == app.config["SCHEDULE_MIN_INTERVAL"] > 1


def test_what_refuses_a_schema_valid_body_is_named_in_the_document(api, document):
    """A schedule's fields sent to a webhook are refused: the document says so, with the code."""
    update = document["paths"]["/api/v1/triggers/{id}"]["patch"]
    assert {"status": 422, "code": "unknown_field"} in [
        {k: v for k, v in refusal.items() if k != "rule"} for refusal in update["x-refusals"]
    ]
    workflow = api.post("/workflows", json=workflow_body()).json["id"]
    hook = api.post(f"/workflows/{workflow}/triggers", json={"type": "webhook"}).json
    refused = api.patch(f"/triggers/{hook['id']}", json={"interval_seconds": 3600})
    assert refused.status_code == 422 and refused.json["error"]["details"][0]["code"] == "unknown_field"


# -- the tour ------------------------------------------------------------------------------


def _pointer(*parts: str) -> str:
    """A URI fragment JSON pointer: ~ and / escaped, then {id} and the like percent-encoded."""
    return "#/" + "/".join(quote(part.replace("~", "~0").replace("/", "~1"), safe="~") for part in parts)


class Tour:
    """Calls the API and checks each answer against the document: the status is
    documented for the operation, JSON comes as application/json, the body matches
    the schema, required headers are there. Records what it saw, for coverage."""

    def __init__(self, document: dict) -> None:
        self.document = document
        self.seen: set[tuple[str, str, int]] = set()
        self.validators: dict[str, jsonschema_rs.Validator] = {}

    def validator(self, pointer: str) -> jsonschema_rs.Validator:
        """The schema at ``pointer``, its $refs resolved within the whole document."""
        if pointer not in self.validators:
            root = {**self.document, "$ref": pointer}
            self.validators[pointer] = jsonschema_rs.Draft202012Validator(root, validate_formats=True)
        return self.validators[pointer]

    def response_spec(self, method: str, path: str, status: int) -> tuple[dict, str]:
        responses = self.document["paths"][path][method]["responses"]
        assert str(status) in responses, f"{method.upper()} {path} answered {status}, not documented"
        spec, pointer = responses[str(status)], _pointer("paths", path, method, "responses", str(status))
        if "$ref" in spec:
            pointer = spec["$ref"]
            spec = self.resolve(pointer)
        return spec, pointer

    def resolve(self, pointer: str) -> dict:
        node = self.document
        for part in pointer.removeprefix("#/").split("/"):
            node = node[unquote(part).replace("~1", "/").replace("~0", "~")]
        return node

    def check(self, response, spec: dict, pointer: str, label: str):
        if "content" not in spec:
            assert response.get_data() == b"", label
            return response
        if response.mimetype == "text/event-stream":  # each event against the schema of one
            validator = self.validator(pointer + "/content/text~1event-stream/schema")
            events = list(parse([response.get_data()]))
            assert events and events[-1].event == "execution_finished", label
            content = self.validator(pointer + "/content/text~1event-stream/schema/properties/data/contentSchema")
            for event in events:  # as on the wire (id and data are text), and the data's content
                body = {"event": event.event, "data": json.dumps(event.data)}
                body |= {"id": str(event.id)} if event.id is not None else {}
                errors = [f"{e.instance_path}: {e.message}" for e in validator.iter_errors(body)]
                errors += [f"data{e.instance_path}: {e.message}" for e in content.iter_errors(event.data)]
                assert not errors, f"{label}: {errors}\n{json.dumps(body)[:2000]}"
            return response
        assert response.mimetype == "application/json", label
        body = json.loads(response.get_data())
        validator = self.validator(pointer + "/content/application~1json/schema")
        errors = [f"{e.instance_path}: {e.message}" for e in validator.iter_errors(body)]
        assert not errors, f"{label}: {errors}\n{json.dumps(body)[:2000]}"
        for name, header in spec.get("headers", {}).items():
            if header.get("required") or name in ("Location", "Content-Disposition"):
                assert response.headers.get(name), f"{label}: header {name} is missing"
        return response

    def call(
        self,
        client: Api | None,
        method: str,
        path: str,
        expect: int,
        *,
        id: str | None = None,
        n: int | None = None,
        raw_client=None,
        **kwargs,
    ):
        url = path.replace("{id}", id).replace("{token}", id) if id is not None else path
        url = url.replace("{n}", str(n)) if n is not None else url
        full = path if path.startswith("/hooks/") else f"/api/v1{path}"  # webhooks live outside the API prefix
        if client is not None:
            response = getattr(client, method)(url, **kwargs)
        else:
            response = getattr(raw_client, method)(full.replace(path, url), **kwargs)
        label = f"{method.upper()} {url} → {response.status_code}: {response.get_data(as_text=True)[:300]}"
        assert response.status_code == expect, label
        spec, pointer = self.response_spec(method, full, response.status_code)
        self.seen.add((method, full, response.status_code))
        return self.check(response, spec, pointer, label)

    def check_error(self, response, status: int, component: str):
        """An answer outside any operation (405, an unknown path): still the envelope."""
        assert response.status_code == status
        pointer = f"#/components/responses/{component}"
        return self.check(response, self.resolve(pointer), pointer, f"{status} {response.get_data(as_text=True)}")


def test_a_tour_of_the_api_matches_the_document(app, client, api, other_api, document, model, tmp_path):
    tour = Tour(document)
    get, post = "get", "post"
    app.config["HTTP_ALLOWED_HOSTS"] = "127.0.0.1"  # the model server stands for a provider below

    # Workflows.
    echo = tour.call(api, post, "/workflows", 201, json=workflow_body("Echo", category="demo")).json
    copy = tour.call(api, post, "/workflows", 201, json=workflow_body("Copy", definition=spec_example())).json
    theirs = tour.call(other_api, post, "/workflows", 201, json=workflow_body("Theirs", public=True)).json
    private = tour.call(other_api, post, "/workflows", 201, json=workflow_body("Private")).json
    tour.call(api, get, "/workflows", 200)
    listed = tour.call(api, get, "/workflows", 200, query_string={"public": "true", "limit": 1, "offset": 1}).json
    assert listed["total"] == 3 and listed["has_more"] is True  # echo, copy and theirs
    tour.call(api, get, "/workflows/{id}", 200, id=echo["id"])
    tour.call(api, get, "/workflows/{id}", 200, id=theirs["id"])
    tour.call(api, "patch", "/workflows/{id}", 200, id=echo["id"], json={"name": "Echo!", "public": True})
    tour.call(api, "put", "/workflows/{id}", 200, id=echo["id"], json={"description": "louder"})
    lone = tour.call(api, post, "/workflows", 201, json=workflow_body("Lone", definition=LONE_OUTPUT)).json
    cleared = tour.call(api, "patch", "/workflows/{id}", 200, id=lone["id"], json={"connections": None}).json
    assert cleared["connections"] == []
    rated = tour.call(api, post, "/workflows/{id}/rating", 200, id=theirs["id"], json={"rating": 4}).json
    assert rated["rating"] == 4.0
    tour.call(api, post, "/workflows/{id}/clone", 201, id=theirs["id"])
    tour.call(api, post, "/workflows/{id}/clone", 201, id=echo["id"], json={"name": "Echo again"})
    exported = tour.call(api, get, "/workflows/{id}/export", 200, id=copy["id"]).json
    tour.call(api, post, "/workflows/import", 201, json=exported)
    tour.call(api, post, "/workflows/import", 201, json=workflow_body("Plain import"))
    doomed = tour.call(api, post, "/workflows", 201, json=workflow_body("Doomed")).json
    tour.call(api, "delete", "/workflows/{id}", 204, id=doomed["id"])
    tour.call(api, get, "/workflows/{id}", 404, id=doomed["id"])

    # Drafts, publishing, versions.
    tour.call(api, get, "/workflows/{id}/draft", 200, id=copy["id"])
    unfinished = {"nodes": [{"id": "out", "type": "output", "config": {"template": "{{ ghost }}"}}], "connections": []}
    kept = tour.call(api, "put", "/workflows/{id}/draft", 200, id=copy["id"], json=unfinished).json
    assert kept["problems"] and kept["changed"] is True
    tour.call(api, "put", "/workflows/{id}/draft", 400, id=copy["id"], json={"nodes": []})
    tour.call(api, post, "/workflows/{id}/publish", 422, id=copy["id"], json={"note": "not yet"})
    tour.call(api, "put", "/workflows/{id}/draft", 200, id=copy["id"], json=LONE_OUTPUT | {"connections": []})
    tour.call(api, post, "/workflows/{id}/publish", 200, id=copy["id"], json={"note": "lone"})
    tour.call(api, post, "/workflows/{id}/publish", 409, id=copy["id"])
    tour.call(api, get, "/workflows/{id}/versions", 200, id=copy["id"])
    tour.call(api, get, "/workflows/{id}/versions/{n}", 200, id=copy["id"], n=1)
    tour.call(api, get, "/workflows/{id}/versions/{n}", 404, id=copy["id"], n=9)
    tour.call(other_api, get, "/workflows/{id}/draft", 404, id=echo["id"])
    tour.call(api, "put", "/workflows/{id}/draft", 200, id=copy["id"], json=spec_example())
    tour.call(api, post, "/workflows/{id}/publish", 200, id=copy["id"])  # back to the definition the tour runs

    # Executions: sync, async, idempotent, with a model, failing, cancelled, retried.
    done = tour.call(api, post, "/workflows/{id}/execute", 200, id=echo["id"], json={"inputs": {"text": "hi"}}).json
    assert done["status"] == "completed" and done["outputs"] == {"result": "HI"}

    # Evaluations: cases, a test run scored, one cancelled.
    shouts = {
        "name": "Shouts",
        "inputs": {"text": "hi"},
        "checks": [{"output": "result", "kind": "equals", "value": "HI"}],
    }
    case = tour.call(api, post, "/workflows/{id}/tests", 201, id=echo["id"], json=shouts).json
    tour.call(api, post, "/workflows/{id}/tests", 201, id=echo["id"], json={"from_execution": done["id"]})
    tour.call(api, post, "/workflows/{id}/tests", 422, id=echo["id"], json={"name": ""})
    tour.call(other_api, post, "/workflows/{id}/tests", 404, id=echo["id"], json=shouts)
    tour.call(api, get, "/workflows/{id}/tests", 200, id=echo["id"])
    tour.call(api, "put", "/tests/{id}", 200, id=case["id"], json={"name": "Shouts loudly"})
    tour.call(other_api, "put", "/tests/{id}", 404, id=case["id"], json={"name": "mine"})
    scoring = tour.call(api, post, "/workflows/{id}/test-runs", 202, id=echo["id"], json={"version": "draft"}).json
    scored = eventually(lambda: api.get(f"/test-runs/{scoring['id']}").json, until=lambda r: r["status"] != "running")
    assert scored["passed"] == 2
    tour.call(api, get, "/test-runs/{id}", 200, id=scoring["id"])
    tour.call(api, get, "/workflows/{id}/test-runs", 200, id=echo["id"])
    tour.call(api, post, "/test-runs/{id}/cancel", 409, id=scoring["id"])
    tour.call(api, post, "/workflows/{id}/test-runs", 404, id=echo["id"], json={"version": 99})
    stuck = tour.call(api, post, "/workflows", 201, json=workflow_body("Stuck", definition=model_definition())).json
    tour.call(api, post, "/workflows/{id}/test-runs", 409, id=stuck["id"])  # no cases yet
    hangs = {"name": "Hangs", "inputs": {"text": "[[hang]]"}}
    tour.call(api, post, "/workflows/{id}/tests", 201, id=stuck["id"], json=hangs)
    waiting = tour.call(api, post, "/workflows/{id}/test-runs", 202, id=stuck["id"]).json
    tour.call(api, post, "/test-runs/{id}/cancel", 202, id=waiting["id"])
    tour.call(api, "delete", "/tests/{id}", 204, id=case["id"])
    queued = tour.call(
        api, post, "/workflows/{id}/execute", 202, id=echo["id"], json={"inputs": {"text": "later"}, "async": True}
    ).json
    assert queued["status"] == "queued"
    tour.call(api, post, "/workflows/{id}/execute", 200, id=theirs["id"], json={"inputs": {"text": "yours"}})
    keyed = [
        tour.call(
            api,
            post,
            "/workflows/{id}/execute",
            200,
            id=echo["id"],
            json={"inputs": {"text": "once"}},
            headers={"Idempotency-Key": "tour-1"},
        ).json["id"]
        for _ in range(2)
    ]
    assert keyed[0] == keyed[1]
    priced = tour.call(
        api, post, "/workflows/{id}/execute", 200, id=copy["id"], json={"inputs": {"product": "a lamp"}}
    ).json
    assert priced["status"] == "completed" and priced["usage"]["total_tokens"] > 0
    assert finished(api, queued["execution_id"])["status"] == "completed"
    tour.call(api, get, "/executions/{id}", 200, id=queued["execution_id"])
    tour.call(api, get, "/executions/{id}", 200, id=priced["id"])
    tour.call(api, get, "/executions/{id}/events", 200, id=priced["id"])
    tour.call(api, post, "/workflows/{id}/execute", 200, id=echo["id"], json={"inputs": {"text": "x"}, "stream": True})
    tour.call(api, get, "/workflows/{id}/executions", 200, id=echo["id"])
    tour.call(api, get, "/workflows/{id}/executions", 200, id=echo["id"], query_string={"status": "completed"})
    tour.call(api, post, "/executions/{id}/cancel", 409, id=done["id"])
    tour.call(api, post, "/executions/{id}/retry", 409, id=done["id"])
    fails = model_definition("[[status=500]] {{ in.text }}", retries=0)
    broken = tour.call(api, post, "/workflows", 201, json=workflow_body("Fails", definition=fails)).json
    failed = tour.call(api, post, "/workflows/{id}/execute", 200, id=broken["id"], json={"inputs": {"text": "x"}}).json
    assert failed["status"] == "failed" and failed["error"]["code"] == "model_error"
    retried = tour.call(api, post, "/executions/{id}/retry", 202, id=failed["id"]).json
    assert retried["retry_of"] == failed["id"] and retried["nodes"][0]["reused_from"] == failed["id"]
    assert finished(api, retried["id"])["status"] == "failed"  # the same model error again
    slow = tour.call(api, post, "/workflows", 201, json=workflow_body("Slow", definition=one_call("[[latency=1]]")))
    running = tour.call(api, post, "/workflows/{id}/execute", 202, id=slow.json["id"], json={"async": True}).json
    node_reached(api, running["execution_id"], "gen")  # cancelling mid-claim races (see test_fuzz.py)
    cancelled = tour.call(api, post, "/executions/{id}/cancel", 202, id=running["execution_id"]).json
    assert cancelled["status"] == "cancelled"
    tour.call(api, post, "/executions/{id}/retry", 202, id=cancelled["id"])

    # Triggers: a webhook called sync and async, a schedule changed, both listed and deleted.
    hook = tour.call(api, post, "/workflows/{id}/triggers", 201, id=echo["id"], json={"type": "webhook"}).json
    token = hook["url"].rsplit("/hooks/", 1)[1]
    hooked = tour.call(None, post, "/hooks/{token}", 200, id=token, raw_client=client, json={"text": "hook"}).json
    assert hooked["outputs"] == {"result": "HOOK"}
    tour.call(
        None,
        post,
        "/hooks/{token}",
        202,
        id=token,
        raw_client=client,
        json={"text": "x"},
        query_string={"async": "true"},
    )
    tour.call(None, post, "/hooks/{token}", 422, id=token, raw_client=client, json={"text": 1})
    tour.call(None, post, "/hooks/{token}", 404, id="no-such-token", raw_client=client, json={})
    schedule = {"type": "schedule", "cron": "0 9 * * 1-5", "timezone": "Europe/Paris", "inputs": {"text": "daily"}}
    timed = tour.call(api, post, "/workflows/{id}/triggers", 201, id=echo["id"], json=schedule).json
    tour.call(api, "patch", "/triggers/{id}", 200, id=timed["id"], json={"interval_seconds": 3600, "enabled": False})
    tour.call(api, get, "/workflows/{id}/triggers", 200, id=echo["id"])
    tour.call(api, post, "/workflows/{id}/triggers", 403, id=theirs["id"], json={"type": "webhook"})
    tour.call(api, post, "/workflows/{id}/triggers", 422, id=echo["id"], json={"type": "schedule", "cron": "nope"})
    tour.call(other_api, "patch", "/triggers/{id}", 404, id=timed["id"], json={"enabled": True})
    tour.call(api, "delete", "/triggers/{id}", 204, id=timed["id"])

    # Model providers.
    provider_body = {"name": "local", "base_url": model.base_url, "api_key": "sk-tour-1234", "models": ["local-llama"]}
    provider = tour.call(api, post, "/providers", 201, json=provider_body).json
    tour.call(api, get, "/providers", 200)
    tour.call(api, get, "/providers/{id}", 200, id=provider["id"])
    tour.call(api, get, "/providers/{id}", 200, id="default")
    tour.call(
        api,
        "patch",
        "/providers/{id}",
        200,
        id=provider["id"],
        json={"prices": {"local-llama": {"prompt": 1, "completion": 2}}},
    )
    tour.call(api, get, "/providers/{id}/models", 200, id=provider["id"])
    tour.call(api, post, "/providers", 422, json={**provider_body, "base_url": "file:///etc"})
    tour.call(other_api, get, "/providers/{id}", 404, id=provider["id"])
    tour.call(api, "delete", "/providers/{id}", 204, id=provider["id"])

    # Templates: the real catalogue (every one must match the schema) and one of our own.
    (tmp_path / "shouter.json").write_text(json.dumps(template_file()))
    with app.app_context():
        template_service.seed()
        template_service.seed(tmp_path)
    templates = tour.call(api, get, "/templates", 200, query_string={"limit": 100}).json
    assert templates["total"] == len(templates["templates"]) > 1
    template_id = next(t["id"] for t in templates["templates"] if t["name"] == "Shouter")
    tour.call(api, get, "/templates", 200, query_string={"category": "writing", "limit": 1})
    tour.call(api, get, "/templates/{id}", 200, id=template_id)
    tour.call(api, post, "/workflows/from-template", 201, json={"template_id": template_id, "name": "From template"})
    tour.call(api, get, "/templates/{id}", 404, id="tpl_nope")
    tour.call(api, post, "/workflows/from-template", 404, json={"template_id": "tpl_nope"})
    tour.call(api, post, "/workflows/from-template", 422, json={"name": "no template"})

    # Usage and audit.
    usage = tour.call(api, get, "/usage", 200).json
    assert usage["totals"]["executions"] >= 5 and len(usage["by_day"]) == 30
    tour.call(api, get, "/usage", 200, query_string={"days": 1, "workflow_id": copy["id"]})
    audit = tour.call(api, get, "/audit", 200, query_string={"limit": 100}).json
    assert {"workflow.created", "execution.started", "execution.cancelled"} <= {e["action"] for e in audit["events"]}
    tour.call(None, get, "/openapi.json", 200, raw_client=client)

    # 400: malformed query and bodies.
    tour.call(api, get, "/workflows", 400, query_string={"limit": "abc"})
    tour.call(api, get, "/workflows", 400, query_string={"offset": -1})
    tour.call(api, get, "/workflows", 400, query_string={"limit": 101})
    tour.call(api, get, "/workflows", 400, query_string={"public": "maybe"})
    tour.call(api, get, "/workflows/{id}/executions", 400, id=echo["id"], query_string={"status": "asleep"})
    tour.call(api, get, "/usage", 400, query_string={"days": 0})
    tour.call(api, get, "/audit", 400, query_string={"limit": 0})
    tour.call(api, get, "/templates", 400, query_string={"offset": "x"})
    json_headers = {"Content-Type": "application/json"}
    tour.call(api, post, "/workflows", 400, data="{not json", headers=json_headers)
    tour.call(api, post, "/workflows", 400, data="[1, 2]", headers=json_headers)
    tour.call(api, post, "/workflows", 400, data='{"name": NaN}', headers=json_headers)
    tour.call(api, post, "/workflows", 400, data='{"name": "x", "nodes": 1e999}', headers=json_headers)
    tour.call(api, post, "/workflows", 400, data="[" * 50_000 + "]" * 50_000, headers=json_headers)
    tour.call(
        api,
        post,
        "/workflows/{id}/execute",
        400,
        id=echo["id"],
        data='{"inputs": {"text": ' + '{"a": ' * 200 + "1" + "}" * 200 + "}}",
        headers=json_headers,
    )
    tour.call(api, post, "/workflows/{id}/rating", 400, id=echo["id"])

    # 401, 403, 404.
    tour.call(None, get, "/workflows", 401, raw_client=client)
    tour.call(
        None,
        get,
        "/executions/{id}",
        401,
        id=done["id"],
        raw_client=client,
        headers={"Authorization": "Bearer not-a-key"},
    )
    tour.call(api, "patch", "/workflows/{id}", 403, id=theirs["id"], json={"name": "mine now"})
    tour.call(api, "put", "/workflows/{id}", 403, id=theirs["id"], json={"name": "mine now"})
    tour.call(api, "delete", "/workflows/{id}", 403, id=theirs["id"])
    for path in ("/workflows/{id}", "/workflows/{id}/export", "/workflows/{id}/executions"):
        tour.call(api, get, path, 404, id=private["id"])
    for path in ("/workflows/{id}/rating", "/workflows/{id}/clone", "/workflows/{id}/execute"):
        tour.call(api, post, path, 404, id=private["id"], json={"rating": 3})
    tour.call(api, "patch", "/workflows/{id}", 404, id=private["id"], json={"name": "x"})
    tour.call(api, "delete", "/workflows/{id}", 404, id="wf_nope")
    for path in ("/executions/{id}/cancel", "/executions/{id}/retry"):
        tour.call(other_api, post, path, 404, id=done["id"])
    tour.call(other_api, get, "/executions/{id}", 404, id=done["id"])
    tour.check_error(api.get("/nowhere"), 404, "NotFound")

    # 405, 413, 415, 422.
    not_allowed = tour.check_error(api.delete("/templates"), 405, "MethodNotAllowed")
    assert "GET" in not_allowed.headers["Allow"]
    too_big = "x" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    tour.call(api, post, "/workflows", 413, data=too_big, headers=json_headers)
    tour.call(api, post, "/workflows", 415, data="name=x", headers={"Content-Type": "text/plain"})
    tour.call(
        api,
        post,
        "/workflows/{id}/execute",
        415,
        id=echo["id"],
        data="x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    bad_definition = spec_example()
    bad_definition["nodes"][1]["config"]["prompt"] = "{{ gen2.text }}"
    bad_definition["connections"].append({"from": "out", "to": "in"})
    invalid = tour.call(api, post, "/workflows", 422, json=workflow_body(definition=bad_definition)).json
    assert len(invalid["error"]["details"]) >= 2
    nul = tour.call(api, post, "/workflows", 422, json=workflow_body("a\u0000b")).json
    assert nul["error"]["details"][0]["path"] == "name"
    tour.call(api, "patch", "/workflows/{id}", 422, id=echo["id"], json={"colour": "red"})
    tour.call(api, post, "/workflows/{id}/rating", 422, id=echo["id"], json={"rating": 6})
    tour.call(api, post, "/workflows/{id}/clone", 422, id=echo["id"], json={"name": ""})
    tour.call(api, post, "/workflows/{id}/execute", 422, id=echo["id"], json={"inputs": {"text": 3}})
    tour.call(api, post, "/workflows/{id}/execute", 422, id=echo["id"], json={"inputs": {}, "sync": True})
    tour.call(
        api,
        post,
        "/workflows/{id}/execute",
        422,
        id=echo["id"],
        json={"inputs": {"text": "x"}},
        headers={"Idempotency-Key": "k" * 256},
    )
    tour.call(api, post, "/workflows/import", 422, json={"format": "n8n", "workflow": {}})

    # 429: over the monthly token budget.
    app.config["MONTHLY_TOKEN_BUDGET"] = 1
    limited = tour.call(api, post, "/workflows/{id}/execute", 429, id=echo["id"], json={"inputs": {"text": "x"}})
    assert limited.json["error"]["code"] == "budget_exceeded" and int(limited.headers["Retry-After"]) > 0
    tour.call(api, post, "/executions/{id}/retry", 429, id=failed["id"])

    succeeded = {(method, path) for method, path, status in tour.seen if status < 300}
    assert succeeded == SPEC_OPERATIONS

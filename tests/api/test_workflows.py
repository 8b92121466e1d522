"""The workflows API: every endpoint, field and status of docs/api.md, "Workflows"."""

from __future__ import annotations

import re

from tests.definitions import SUMMARY_FIELDS, echo_definition, spec_example, workflow_body

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def create(api, **fields):
    response = api.post("/workflows", json=workflow_body(**fields))
    assert response.status_code == 201, response.json
    return response.json


def test_create_returns_the_full_workflow(api):
    body = create(api, name="Copywriter", description="Writes copy", category="marketing", definition=spec_example())
    assert body["id"].startswith("wf_")
    assert body["created_by"] == api.user.id and body["created_by"].startswith("user_")
    assert set(body) == SUMMARY_FIELDS | {"version", "require_passing_tests", "nodes", "connections"}
    assert body["version"] == 1 and body["usage_count"] == 0 and body["rating"] is None
    assert body["public"] is False
    assert body["nodes"] == spec_example()["nodes"] and body["connections"] == spec_example()["connections"]
    assert ISO_MS.match(body["created_at"]) and ISO_MS.match(body["updated_at"])


def test_get_returns_what_was_created(api):
    created = create(api)
    response = api.get(f"/workflows/{created['id']}")
    assert response.status_code == 200
    assert response.json == created


def test_list_is_newest_first_with_exact_summary_fields(api):
    first, second, third = (create(api, name=f"wf {i}") for i in range(3))
    api.patch(f"/workflows/{first['id']}", json={"description": "touched"})  # now the most recently updated
    body = api.get("/workflows").json
    assert body["total"] == 3 and body["has_more"] is False
    assert [w["id"] for w in body["workflows"]] == [first["id"], third["id"], second["id"]]
    assert all(set(w) == SUMMARY_FIELDS for w in body["workflows"])


def test_list_paginates_and_filters_by_category(api):
    for i in range(5):
        create(api, name=f"wf {i}", category="sales" if i % 2 else "support")
    page = api.get("/workflows?limit=2&offset=0").json
    assert len(page["workflows"]) == 2 and page["total"] == 5 and page["has_more"] is True
    last = api.get("/workflows?limit=2&offset=4").json
    assert len(last["workflows"]) == 1 and last["has_more"] is False
    sales = api.get("/workflows?category=sales").json
    assert sales["total"] == 2 and {w["category"] for w in sales["workflows"]} == {"sales"}


def test_list_shows_others_public_workflows_only_when_asked(api, other_api):
    mine = create(api, name="mine")
    theirs_public = create(other_api, name="theirs, public", public=True)
    create(other_api, name="theirs, private")
    assert [w["id"] for w in api.get("/workflows").json["workflows"]] == [mine["id"]]
    listed = {w["id"] for w in api.get("/workflows?public=true").json["workflows"]}
    assert listed == {mine["id"], theirs_public["id"]}


def test_put_and_patch_keep_fields_left_out(api):
    created = create(api, name="before", description="kept", category="research")
    for method in ("put", "patch"):
        response = getattr(api, method)(f"/workflows/{created['id']}", json={"name": f"after {method}"})
        assert response.status_code == 200
        body = response.json
        assert body["name"] == f"after {method}" and body["description"] == "kept" and body["category"] == "research"
        assert body["nodes"] == created["nodes"]


def test_version_grows_only_when_the_definition_changes(api):
    created = create(api)
    renamed = api.patch(
        f"/workflows/{created['id']}", json={"name": "renamed", "public": True, "category": "x", "description": "y"}
    ).json
    assert renamed["version"] == 1
    changed = echo_definition()
    changed["nodes"][1]["config"]["operation"] = "lowercase"
    bumped = api.put(f"/workflows/{created['id']}", json={"nodes": changed["nodes"]}).json
    assert bumped["version"] == 2 and bumped["nodes"][1]["config"]["operation"] == "lowercase"
    unchanged = api.put(f"/workflows/{created['id']}", json={"nodes": changed["nodes"]}).json
    assert unchanged["version"] == 2


def test_update_accepts_a_full_workflow_as_returned_by_get(api):
    created = create(api)
    created["name"] = "round trip"
    response = api.put(f"/workflows/{created['id']}", json=created)
    assert response.status_code == 200 and response.json["name"] == "round trip"


def test_an_invalid_change_is_refused_and_loses_nothing(api):
    created = create(api)
    response = api.patch(
        f"/workflows/{created['id']}", json={"name": "new", "connections": [{"from": "in", "to": "nowhere"}]}
    )
    assert response.status_code == 422
    assert response.json["error"]["details"][0]["path"] == "connections[0].to"
    assert api.get(f"/workflows/{created['id']}").json == created


def test_delete_then_404_but_executions_stay_readable(api):
    created = create(api)
    run = api.post(f"/workflows/{created['id']}/execute", json={"inputs": {"text": "hi"}})
    assert run.status_code == 200
    assert api.delete(f"/workflows/{created['id']}").status_code == 204
    assert api.get(f"/workflows/{created['id']}").status_code == 404
    assert api.delete(f"/workflows/{created['id']}").status_code == 404
    assert api.get(f"/executions/{run.json['id']}").json["status"] == "completed"


def test_rating_is_the_mean_of_one_rating_per_user(api, other_api):
    created = create(api, public=True)
    assert api.post(f"/workflows/{created['id']}/rating", json={"rating": 5}).json["rating"] == 5.0
    assert other_api.post(f"/workflows/{created['id']}/rating", json={"rating": 2}).json["rating"] == 3.5
    assert other_api.post(f"/workflows/{created['id']}/rating", json={"rating": 4}).json["rating"] == 4.5
    assert api.get(f"/workflows/{created['id']}").json["rating"] == 4.5


def test_rating_rounds_to_one_decimal(api, other_api, app):
    from tests.conftest import Api, make_user

    created = create(api, public=True)
    user, key = make_user(app, "carol@example.com")
    third = Api(app.test_client(), user, key)
    for client, value in ((api, 5), (other_api, 4), (third, 4)):
        last = client.post(f"/workflows/{created['id']}/rating", json={"rating": value})
    assert last.json["rating"] == 4.3


def test_rating_out_of_range_or_not_an_integer_is_422(api):
    created = create(api)
    for value in (0, 6, 3.5, "4", True, None):
        response = api.post(f"/workflows/{created['id']}/rating", json={"rating": value})
        assert response.status_code == 422, value
        assert response.json["error"]["details"][0]["path"] == "rating"


def test_clone_makes_a_private_copy_owned_by_the_caller(api, other_api):
    source = create(other_api, name="Shared", public=True, definition=spec_example())
    response = api.post(f"/workflows/{source['id']}/clone")
    assert response.status_code == 201
    clone = response.json
    assert clone["id"] != source["id"] and clone["created_by"] == api.user.id
    assert clone["public"] is False and clone["version"] == 1
    assert clone["nodes"] == source["nodes"] and clone["connections"] == source["connections"]
    named = api.post(f"/workflows/{source['id']}/clone", json={"name": "Mine now"}).json
    assert named["name"] == "Mine now"


def test_export_then_import_recreates_the_workflow(api):
    created = create(api, name="Exported", category="content", definition=spec_example())
    exported = api.get(f"/workflows/{created['id']}/export")
    assert exported.status_code == 200
    assert "attachment" in exported.headers["Content-Disposition"]
    imported = api.post("/workflows/import", json=exported.json)
    assert imported.status_code == 201
    body = imported.json
    assert body["id"] != created["id"] and body["public"] is False
    for key in ("name", "category", "nodes", "connections"):
        assert body[key] == created[key]


def test_import_refuses_a_document_of_another_format(api):
    response = api.post("/workflows/import", json={"format": "n8n", "workflow": {"name": "x"}})
    assert response.status_code == 422
    assert response.json["error"]["details"][0]["path"] == "format"


def test_create_validates_fields(api):
    response = api.post("/workflows", json={"name": "", "public": "yes", "colour": "red", **echo_definition()})
    assert response.status_code == 422
    paths = {d["path"]: d["code"] for d in response.json["error"]["details"]}
    assert paths == {"name": "invalid_value", "public": "invalid_value", "colour": "unknown_field"}
    assert api.post("/workflows", json=echo_definition()).json["error"]["details"][0]["path"] == "name"
    long_name = api.post("/workflows", json=workflow_body(name="x" * 201))
    assert long_name.status_code == 422


def test_create_reports_every_definition_problem_at_once(api):
    definition = spec_example()
    definition["nodes"][1]["config"]["prompt"] = "Describe {{ gen2.text }}"
    definition["nodes"][3]["type"] = "teleport"
    definition["connections"].append({"from": "draft", "to": "out", "branch": "true"})
    response = api.post("/workflows", json=workflow_body(definition=definition))
    assert response.status_code == 422
    error = response.json["error"]
    assert error["code"] == "validation_error" and error["message"] == "Workflow definition is invalid"
    found = {(d["path"], d["code"]) for d in error["details"]}
    assert ("nodes[1].config.prompt", "bad_reference") in found
    assert ("nodes[3].type", "unknown_node_type") in found
    assert ("connections[5].branch", "bad_branch") in found
    assert any("gen2" in d["message"] for d in error["details"])


def test_every_connection_leaving_a_conditional_names_its_branch(api):
    definition = spec_example()
    definition["connections"][3] = {"from": "long", "to": "out"}  # was "branch": "false"
    response = api.post("/workflows", json=workflow_body(definition=definition))
    assert response.status_code == 422
    detail = next(d for d in response.json["error"]["details"] if d["path"] == "connections[3].branch")
    assert detail["code"] == "bad_branch" and "'long'" in detail["message"] and "true or false" in detail["message"]


def test_an_output_with_an_empty_template_or_no_fields_is_refused(api):
    for config, path in (
        ({"template": "   "}, "nodes[4].config.template"),
        ({"fields": {}}, "nodes[4].config.fields"),
    ):
        definition = spec_example()
        definition["nodes"][4]["config"] = config
        response = api.post("/workflows", json=workflow_body(definition=definition))
        assert response.status_code == 422, config
        assert path in {d["path"] for d in response.json["error"]["details"]}, response.json

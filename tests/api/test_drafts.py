"""Drafts, versions and publishing over the API (docs/api.md, "Drafts, versions and
publishing"), on SQLite and on PostgreSQL."""

from __future__ import annotations

import copy

import pytest

from tests.api.test_executions import create
from tests.api.test_triggers import due_schedule, hook_path, scheduled_runs, webhook
from tests.definitions import echo_definition, model_definition
from tests.waiting import finished
from webapp.runs.schedules import fire_due

DRAFT_FIELDS = {"nodes", "connections", "based_on_version", "updated_at", "changed", "problems"}


def lowercase_echo() -> dict:
    """``echo_definition`` made to lower-case instead: a published change one can see run."""
    definition = echo_definition()
    definition["nodes"][1]["config"]["operation"] = "lowercase"
    return definition


def broken() -> dict:
    """Unfinished: the output refers to a node that does not exist."""
    definition = echo_definition()
    definition["nodes"][2]["config"]["fields"]["result"] = "{{ ghost.value }}"
    return definition


def test_a_new_workflows_draft_is_its_published_version(api):
    workflow_id = create(api)
    draft = api.get(f"/workflows/{workflow_id}/draft")
    assert draft.status_code == 200 and set(draft.json) == DRAFT_FIELDS
    assert draft.json["nodes"] == echo_definition()["nodes"]
    assert draft.json["based_on_version"] == 1 and draft.json["changed"] is False and draft.json["problems"] == []


def test_a_draft_is_kept_whatever_its_problems_and_changes_nothing_that_runs(api):
    workflow_id = create(api)
    saved = api.put(f"/workflows/{workflow_id}/draft", json=broken())
    assert saved.status_code == 200 and saved.json["changed"] is True
    assert [(p["path"], p["code"]) for p in saved.json["problems"]] == [
        ("nodes[2].config.fields.result", "bad_reference")
    ]
    assert "ghost" in saved.json["problems"][0]["message"]
    assert api.get(f"/workflows/{workflow_id}/draft").json["nodes"] == broken()["nodes"]
    workflow = api.get(f"/workflows/{workflow_id}").json
    assert workflow["version"] == 1 and workflow["nodes"] == echo_definition()["nodes"]
    run = api.post(f"/workflows/{workflow_id}/execute", json={"inputs": {"text": "Hi"}}).json
    assert run["outputs"] == {"result": "HI"} and run["workflow_version"] == 1


@pytest.mark.parametrize(
    "body",
    [[], {"nodes": []}, {"nodes": [], "connections": [], "extra": 1}, {"nodes": {}, "connections": []}, "draft"],
)
def test_a_draft_that_is_not_an_object_with_nodes_and_connections_is_malformed(api, body):
    workflow_id = create(api)
    response = api.put(f"/workflows/{workflow_id}/draft", json=body)
    assert response.status_code == 400 and response.json["error"]["code"] == "bad_request"


def test_nodes_of_any_shape_are_kept_and_listed(api):
    workflow_id = create(api)
    saved = api.put(f"/workflows/{workflow_id}/draft", json={"nodes": ["half", {"id": "x"}], "connections": [7]})
    assert saved.status_code == 200 and saved.json["problems"]
    assert all(set(p) == {"path", "code", "message"} for p in saved.json["problems"])


def test_a_draft_past_the_size_bounds_is_refused_with_413(app, api):
    workflow_id = create(api)
    too_many = app.config["MAX_NODES"] + 1
    nodes = [{"id": f"n{i}", "type": "processing", "config": {}} for i in range(too_many)]
    response = api.put(f"/workflows/{workflow_id}/draft", json={"nodes": nodes, "connections": []})
    assert response.status_code == 413 and response.json["error"]["code"] == "payload_too_large"
    assert api.get(f"/workflows/{workflow_id}/draft").json["changed"] is False


def test_only_the_owner_sees_the_draft_and_the_versions(api, other_api):
    workflow_id = create(api, public=True)
    for path in ("draft", "versions", "versions/1"):
        assert other_api.get(f"/workflows/{workflow_id}/{path}").status_code == 404
    assert other_api.put(f"/workflows/{workflow_id}/draft", json=echo_definition()).status_code == 404
    assert other_api.post(f"/workflows/{workflow_id}/publish", json={}).status_code == 404
    assert api.get(f"/workflows/{workflow_id}/versions/2").status_code == 404


def test_publish_makes_the_next_version_with_its_note_and_what_runs_follows(api):
    workflow_id = create(api)
    api.put(f"/workflows/{workflow_id}/draft", json=lowercase_echo())
    published = api.post(f"/workflows/{workflow_id}/publish", json={"note": "quieter"})
    assert published.status_code == 200 and published.json["version"] == 2
    assert published.json["nodes"] == lowercase_echo()["nodes"]
    draft = api.get(f"/workflows/{workflow_id}/draft").json
    assert draft["changed"] is False and draft["based_on_version"] == 2
    run = api.post(f"/workflows/{workflow_id}/execute", json={"inputs": {"text": "Hi"}}).json
    assert run["outputs"] == {"result": "hi"} and run["workflow_version"] == 2
    versions = api.get(f"/workflows/{workflow_id}/versions").json
    assert versions["total"] == 2 and versions["has_more"] is False
    assert [(v["version"], v["note"], v["published_by"]) for v in versions["versions"]] == [
        (2, "quieter", api.user.id),
        (1, None, api.user.id),
    ]
    first = api.get(f"/workflows/{workflow_id}/versions/1").json
    assert first["nodes"] == echo_definition()["nodes"] and first["version"] == 1
    assert set(first) == {"version", "nodes", "connections", "created_at", "published_by", "note"}
    page = api.get(f"/workflows/{workflow_id}/versions?limit=1&offset=1").json
    assert [v["version"] for v in page["versions"]] == [1] and page["has_more"] is False


def test_publish_refuses_a_draft_with_problems_and_an_unchanged_one(api):
    workflow_id = create(api)
    nothing = api.post(f"/workflows/{workflow_id}/publish")
    assert nothing.status_code == 409 and nothing.json["error"]["code"] == "nothing_to_publish"
    api.put(f"/workflows/{workflow_id}/draft", json=broken())
    refused = api.post(f"/workflows/{workflow_id}/publish", json={"note": "oops"})
    assert refused.status_code == 422 and refused.json["error"]["details"][0]["code"] == "bad_reference"
    assert api.get(f"/workflows/{workflow_id}").json["version"] == 1
    assert api.get(f"/workflows/{workflow_id}/versions").json["total"] == 1


def test_a_note_is_bounded(api):
    workflow_id = create(api)
    api.put(f"/workflows/{workflow_id}/draft", json=lowercase_echo())
    response = api.post(f"/workflows/{workflow_id}/publish", json={"note": "x" * 1001})
    assert response.status_code == 422


def test_put_of_a_definition_still_validates_publishes_and_sets_the_draft(api):
    workflow_id = create(api)
    api.put(f"/workflows/{workflow_id}/draft", json=broken())
    assert api.put(f"/workflows/{workflow_id}", json=broken()).status_code == 422
    changed = api.patch(f"/workflows/{workflow_id}", json=lowercase_echo())
    assert changed.status_code == 200 and changed.json["version"] == 2
    draft = api.get(f"/workflows/{workflow_id}/draft").json
    assert draft["nodes"] == lowercase_echo()["nodes"] and draft["changed"] is False
    assert draft["based_on_version"] == 2


def test_clones_imports_and_workflows_from_templates_start_published(api):
    workflow_id = create(api)
    api.put(f"/workflows/{workflow_id}/draft", json=broken())
    clone = api.post(f"/workflows/{workflow_id}/clone", json={}).json  # the published version is copied
    assert clone["version"] == 1 and clone["nodes"] == echo_definition()["nodes"]
    draft = api.get(f"/workflows/{clone['id']}/draft").json
    assert draft["changed"] is False and draft["based_on_version"] == 1
    exported = api.get(f"/workflows/{workflow_id}/export").json
    imported = api.post("/workflows/import", json=exported).json
    assert api.get(f"/workflows/{imported['id']}/versions").json["total"] == 1


def test_webhooks_and_other_users_run_the_published_version_not_the_draft(api, other_api, client):
    workflow_id = create(api, public=True)
    api.put(f"/workflows/{workflow_id}/draft", json=lowercase_echo())
    trigger = webhook(api, workflow_id)
    hooked = client.post(hook_path(trigger), json={"text": "Hi"})
    assert hooked.json["outputs"] == {"result": "HI"}
    theirs = other_api.post(f"/workflows/{workflow_id}/execute", json={"inputs": {"text": "Hi"}}).json
    assert theirs["outputs"] == {"result": "HI"} and theirs["workflow_version"] == 1


def test_a_workflow_node_runs_the_children_published_version(api, model):
    child = create(api, model_definition("Child says {{ in.text }}", cache=False), name="Child")
    parent_definition = {
        "nodes": [
            {"id": "in", "type": "input", "config": {"fields": [{"name": "text", "type": "string"}]}},
            {"id": "sub", "type": "workflow", "config": {"workflow_id": child, "inputs": {"text": "{{ in.text }}"}}},
            {"id": "out", "type": "output", "config": {"fields": {"got": "{{ sub.outputs.answer }}"}}},
        ],
        "connections": [{"from": "in", "to": "sub"}, {"from": "sub", "to": "out"}],
    }
    parent = create(api, parent_definition, name="Parent")
    draft = copy.deepcopy(model_definition("Draft says {{ in.text }}", cache=False))
    api.put(f"/workflows/{child}/draft", json=draft)
    run = api.post(f"/workflows/{parent}/execute", json={"inputs": {"text": "tea"}}).json
    assert run["status"] == "completed", run["error"]
    assert run["outputs"]["got"] == "Echo: Child says tea"


def test_the_audit_log_records_publishing(api):
    workflow_id = create(api)
    api.put(f"/workflows/{workflow_id}/draft", json=lowercase_echo())
    api.post(f"/workflows/{workflow_id}/publish", json={"note": "n"})
    actions = [e["action"] for e in api.get("/audit").json["events"]]
    assert "workflow.version_published" in actions


def test_a_schedule_runs_the_published_version_not_the_draft(app, api):
    workflow_id = create(api)
    api.put(f"/workflows/{workflow_id}/draft", json=lowercase_echo())
    made = due_schedule(app, api, workflow_id, {"text": "Tick"})
    with app.app_context():
        assert fire_due() == 1
    (run,) = scheduled_runs(app, made["id"])
    done = finished(api, run.id)
    assert done["outputs"] == {"result": "TICK"} and done["workflow_version"] == 1 and done["trigger"] == "schedule"

"""The templates API (docs/api.md, "Templates"), making workflows from templates, and
publishing a workflow for others to clone."""

from __future__ import annotations

import json
import shutil

import pytest

from webapp.services import templates
from webapp.services.templates import CATALOGUE_DIR

TEMPLATE_FIELDS = {
    *("id", "name", "description", "category", "how_to_use", "usage_count", "example_inputs", "nodes", "connections")
}
# Three files, two of them in one category.
SEEDED = ("support-ticket-triage", "review-response-router", "meeting-action-items")


@pytest.fixture
def seeded(app, tmp_path) -> dict[str, dict]:
    """A small catalogue in the database: slug → the file's content."""
    for slug in SEEDED:
        shutil.copy(CATALOGUE_DIR / f"{slug}.json", tmp_path / f"{slug}.json")
    with app.app_context():
        templates.seed(tmp_path)
    return {slug: json.loads((tmp_path / f"{slug}.json").read_text(encoding="utf-8")) for slug in SEEDED}


def template_named(api, name: str) -> dict:
    listed = api.get("/templates?limit=100").json["templates"]
    return next(t for t in listed if t["name"] == name)


def from_template(api, template_id: str, **fields) -> dict:
    response = api.post("/workflows/from-template", json={"template_id": template_id, **fields})
    assert response.status_code == 201, response.json
    return response.json


# -- listing and reading -------------------------------------------------------------------


def test_list_returns_every_template_with_exact_fields(api, seeded):
    response = api.get("/templates")
    assert response.status_code == 200
    body = response.json
    assert body["total"] == 3 and body["has_more"] is False
    assert {t["name"] for t in body["templates"]} == {doc["name"] for doc in seeded.values()}
    for item in body["templates"]:
        assert set(item) == TEMPLATE_FIELDS
        assert item["id"].startswith("tpl_") and item["usage_count"] == 0
        source = next(doc for doc in seeded.values() if doc["name"] == item["name"])
        assert item["nodes"] == source["nodes"] and item["connections"] == source["connections"]
        assert (item["category"], item["how_to_use"]) == (source["category"], source["how_to_use"])
        assert item["example_inputs"] == source["example_inputs"] and item["example_inputs"]


def test_list_filters_by_category(api, seeded):
    body = api.get("/templates?category=support").json
    assert body["total"] == 2 and {t["category"] for t in body["templates"]} == {"support"}
    assert api.get("/templates?category=data extraction").json["total"] == 1
    assert api.get("/templates?category=nothing-here").json == {"templates": [], "total": 0, "has_more": False}


def test_list_paginates(api, seeded):
    first = api.get("/templates?limit=2").json
    assert len(first["templates"]) == 2 and first["total"] == 3 and first["has_more"] is True
    rest = api.get("/templates?limit=2&offset=2").json
    assert len(rest["templates"]) == 1 and rest["total"] == 3 and rest["has_more"] is False
    seen = [t["id"] for t in first["templates"] + rest["templates"]]
    assert len(set(seen)) == 3, "pages neither overlap nor skip"
    beyond = api.get("/templates?offset=10").json
    assert beyond["templates"] == [] and beyond["total"] == 3 and beyond["has_more"] is False


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=abc", "offset=-1", "offset=x"])
def test_list_refuses_bad_paging(api, seeded, query):
    response = api.get(f"/templates?{query}")
    assert response.status_code == 400
    assert response.json["error"]["code"]


def test_templates_need_an_api_key(client, seeded):
    assert client.get("/api/v1/templates").status_code == 401
    assert client.get("/api/v1/templates", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_get_one_template(api, seeded):
    listed = template_named(api, seeded["meeting-action-items"]["name"])
    response = api.get(f"/templates/{listed['id']}")
    assert response.status_code == 200
    assert response.json == listed


def test_unknown_template_is_404(api, seeded):
    response = api.get("/templates/tpl_doesnotexist")
    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"


# -- making a workflow from a template ----------------------------------------------------


def test_from_template_makes_a_private_workflow_owned_by_the_caller(api, other_api, seeded):
    template = template_named(api, seeded["support-ticket-triage"]["name"])
    workflow = from_template(api, template["id"])
    assert workflow["id"].startswith("wf_")
    assert workflow["name"] == template["name"] and workflow["description"] == template["description"]
    assert workflow["category"] == template["category"]
    assert workflow["public"] is False and workflow["created_by"] == api.user.id
    assert workflow["version"] == 1 and workflow["usage_count"] == 0
    assert workflow["nodes"] == template["nodes"] and workflow["connections"] == template["connections"]
    assert [w["id"] for w in api.get("/workflows").json["workflows"]] == [workflow["id"]]
    assert other_api.get(f"/workflows/{workflow['id']}").status_code == 404


def test_from_template_takes_a_name_and_a_description(api, seeded):
    template = template_named(api, seeded["meeting-action-items"]["name"])
    workflow = from_template(api, template["id"], name="Standup notes", description="Ours, daily")
    assert (workflow["name"], workflow["description"]) == ("Standup notes", "Ours, daily")
    assert workflow["nodes"] == template["nodes"]


def test_from_template_may_publish_when_asked(api, seeded):
    template = template_named(api, seeded["meeting-action-items"]["name"])
    assert from_template(api, template["id"], public=True)["public"] is True


def test_from_template_counts_uses_of_the_template(api, other_api, seeded):
    template = template_named(api, seeded["review-response-router"]["name"])
    from_template(api, template["id"])
    from_template(other_api, template["id"], name="Theirs")
    assert api.get(f"/templates/{template['id']}").json["usage_count"] == 2
    others = [t for t in api.get("/templates").json["templates"] if t["id"] != template["id"]]
    assert all(t["usage_count"] == 0 for t in others)


def test_from_an_unknown_template_is_404(api, seeded):
    response = api.post("/workflows/from-template", json={"template_id": "tpl_doesnotexist"})
    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"
    assert api.get("/workflows").json["total"] == 0


@pytest.mark.parametrize("body", [{}, {"name": "No template"}, {"template_id": None}, {"template_id": 7}])
def test_from_template_needs_a_template_id(api, seeded, body):
    response = api.post("/workflows/from-template", json=body)
    assert response.status_code == 422
    error = response.json["error"]
    assert error["code"] == "validation_error" and error["details"][0]["path"] == "template_id"


@pytest.mark.parametrize(
    "fields,path",
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"public": "yes"}, "public"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_from_template_refuses_bad_fields(api, seeded, fields, path):
    template = template_named(api, seeded["meeting-action-items"]["name"])
    response = api.post("/workflows/from-template", json={"template_id": template["id"], **fields})
    assert response.status_code == 422
    assert [d["path"] for d in response.json["error"]["details"]] == [path]
    assert api.get(f"/templates/{template['id']}").json["usage_count"] == 0


@pytest.mark.parametrize("raw,content_type", [("{not json", "application/json"), ("[1]", "application/json")])
def test_from_template_refuses_a_malformed_body(api, seeded, raw, content_type):
    response = api.post("/workflows/from-template", data=raw, headers={"Content-Type": content_type})
    assert response.status_code == 400
    assert response.json["error"]["code"]


# -- publishing and cloning ------------------------------------------------------------------


def test_a_published_workflow_can_be_cloned_but_not_changed_by_others(api, other_api, seeded):
    template = template_named(api, seeded["support-ticket-triage"]["name"])
    original = from_template(api, template["id"], name="Alice's triage")
    assert original["id"] not in {w["id"] for w in other_api.get("/workflows?public=true").json["workflows"]}
    assert other_api.post(f"/workflows/{original['id']}/clone").status_code == 404  # private: invisible

    published = api.patch(f"/workflows/{original['id']}", json={"public": True})
    assert published.status_code == 200 and published.json["public"] is True
    listed = other_api.get("/workflows?public=true").json["workflows"]
    assert original["id"] in {w["id"] for w in listed}
    assert original["id"] not in {w["id"] for w in other_api.get("/workflows").json["workflows"]}

    clone = other_api.post(f"/workflows/{original['id']}/clone")
    assert clone.status_code == 201
    copy = clone.json
    assert copy["id"] != original["id"] and copy["public"] is False and copy["created_by"] == other_api.user.id
    assert copy["nodes"] == original["nodes"] and copy["connections"] == original["connections"]
    assert copy["id"] in {w["id"] for w in other_api.get("/workflows").json["workflows"]}
    assert api.get(f"/workflows/{copy['id']}").status_code == 404  # the clone is private to its owner

    for response in (
        other_api.patch(f"/workflows/{original['id']}", json={"name": "Mine now"}),
        other_api.put(f"/workflows/{original['id']}", json={"name": "Mine now"}),
        other_api.delete(f"/workflows/{original['id']}"),
    ):
        assert response.status_code == 403
        assert response.json["error"]["code"] == "forbidden"
    unchanged = api.get(f"/workflows/{original['id']}").json
    assert unchanged["name"] == "Alice's triage" and unchanged["public"] is True
    assert other_api.patch(f"/workflows/{copy['id']}", json={"name": "Bob's triage"}).status_code == 200

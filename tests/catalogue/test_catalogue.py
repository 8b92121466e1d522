"""The template catalogue: every file validates, becomes a workflow through the API and
runs to completion against the model server, down both branches of its conditional,
and even when the model answers unhelpfully. Seeding is idempotent and all-or-nothing.
"""

from __future__ import annotations

import json
import shutil

import pytest
from sqlalchemy import func, select

from tests.catalogue.scenarios import SCENARIOS, inputs_of, on_loopback, wrong_types
from webapp.extensions import db
from webapp.models import Template
from webapp.services import templates
from webapp.services.templates import CATALOGUE_DIR, CatalogueError

FILES = sorted(CATALOGUE_DIR.glob("*.json"))
SLUGS = [path.stem for path in FILES]
UNHELPFUL = {
    "json_missing_fields": None,  # the model server's default: {"echo": …, "words": …} or "Echo: …"
    "plain_text": "I'm sorry, I can't help with that.",
    "json_array": "[]",
}


def document(slug: str) -> dict:
    return json.loads((CATALOGUE_DIR / f"{slug}.json").read_text(encoding="utf-8"))


def has_conditional(slug: str) -> bool:
    return any(node["type"] == "conditional" for node in document(slug)["nodes"])


@pytest.fixture
def catalogue(app, api, tmp_path, api_server):
    """Seeds one template at a time, turns the response cache off (runs differ only in
    their scripted replies, not in their prompts) and makes and runs workflows; the
    templates that call HTTP APIs reach the loopback API server."""
    app.config["CACHE_ENABLED"] = False  # read when the model gateway is first built
    app.config["HTTP_ALLOWED_HOSTS"] = "127.0.0.1"  # read when the HTTP client is first built

    class Catalogue:
        def workflow(self, slug: str) -> str:
            shutil.copy(CATALOGUE_DIR / f"{slug}.json", tmp_path / f"{slug}.json")
            with app.app_context():
                templates.seed(tmp_path)
                template_id = db.session.scalar(select(Template.id).where(Template.slug == slug))
            response = api.post("/workflows/from-template", json={"template_id": template_id})
            assert response.status_code == 201, response.json
            return response.json["id"]

        def run(self, workflow_id: str, inputs: dict) -> dict:
            inputs = on_loopback(inputs, api_server.url(""))
            response = api.post(f"/workflows/{workflow_id}/execute", json={"inputs": inputs})
            assert response.status_code == 200, response.json
            return response.json

    return Catalogue()


def script(model, rules) -> None:
    model.replies.clear()
    for substring, reply in rules:
        model.reply_when(substring, reply)


def assert_completed(execution: dict) -> dict:
    failed = {n["node_id"]: n["error"] for n in execution["nodes"] if n["status"] == "failed"}
    assert execution["status"] == "completed", (execution["error"], failed)
    outputs = execution["outputs"]
    assert outputs, "a template must produce outputs"
    assert all(value is not None for value in outputs.values()), outputs
    return outputs


def branches_taken(execution: dict) -> list[bool]:
    return [n["output"]["result"] for n in execution["nodes"] if n["type"] == "conditional"]


# -- the files -------------------------------------------------------------------------


def test_the_catalogue_is_broad_and_every_template_has_a_scenario():
    assert len(FILES) >= 12
    categories = {document(slug)["category"] for slug in SLUGS}
    assert len(categories) >= 5, categories
    assert set(SLUGS) == set(SCENARIOS)
    for slug in SLUGS:
        expected_runs = {"true", "false"} if has_conditional(slug) else {"helpful"}
        assert set(SCENARIOS[slug].runs) == expected_runs, slug


@pytest.mark.parametrize("path", FILES, ids=SLUGS)
def test_template_file_is_well_made(path):
    data = json.loads(path.read_text(encoding="utf-8"))
    assert set(data) == {"name", "description", "category", "how_to_use", "example_inputs", "nodes", "connections"}
    inner = [node["config"]["node"] for node in data["nodes"] if node["type"] == "map"]
    node_types = [node["type"] for node in data["nodes"] + inner]
    models = node_types.count("ai_model") + node_types.count("agent")
    assert models >= 1 and node_types.count("output") >= 1 and "input" in node_types
    assert len(data["nodes"]) >= 4, "a template is a multi-step workflow"
    for node in data["nodes"] + inner:
        if node["type"] in ("ai_model", "agent"):
            config = node["config"]
            assert "model" not in config, "the deployment's DEFAULT_MODEL applies"
            assert config.get("system"), f"{node['id']} needs a system prompt"
        if node["type"] == "input":
            for spec in node["config"]["fields"]:
                assert spec.get("description") and "required" in spec, spec
                if spec["type"] == "string" and "enum" not in spec:
                    assert spec.get("max_length"), f"{spec['name']} needs a max_length"


@pytest.mark.parametrize("path", FILES, ids=SLUGS)
def test_template_file_passes_the_validator(app, path):
    with app.app_context():
        data = templates.load_file(path)
    assert data["name"] and data["nodes"]


# -- running them ------------------------------------------------------------------------


@pytest.mark.parametrize("slug", SLUGS)
def test_template_runs_to_completion_down_every_branch(catalogue, model, slug):
    scenario = SCENARIOS[slug]
    workflow_id = catalogue.workflow(slug)
    for run, rules in scenario.runs.items():
        script(model, rules)
        execution = catalogue.run(workflow_id, inputs_of(slug))
        outputs = assert_completed(execution)
        for name, value in outputs.items():
            assert not (isinstance(value, str) and not value.strip()), f"{slug}/{run}: output '{name}' is empty"
        if run in ("true", "false"):
            assert branches_taken(execution) == [run == "true"], f"{slug}: expected the {run} branch"
        for name, value in scenario.expect.get(run, {}).items():
            assert outputs.get(name) == value, f"{slug}/{run}: {name}"


@pytest.mark.parametrize("slug", SLUGS)
def test_template_completes_whatever_the_model_answers(catalogue, model, slug):
    """Missing fields, plain text where JSON was asked for, the wrong JSON type, and
    every field of the wrong type: each run still completes, down a defined path."""
    scenario = SCENARIOS[slug]
    workflow_id = catalogue.workflow(slug)
    runs = {name: [("", reply)] if reply else [] for name, reply in UNHELPFUL.items()}
    first_run = next(iter(scenario.runs.values()))
    runs["wrong_types"] = [(substring, wrong_types(reply)) for substring, reply in first_run]
    for name, rules in runs.items():
        script(model, rules)
        execution = catalogue.run(workflow_id, inputs_of(slug))
        try:
            assert_completed(execution)
        except AssertionError as exc:
            raise AssertionError(f"{slug} with {name} replies: {exc}") from None


# -- seeding ------------------------------------------------------------------------------


def count_templates() -> int:
    return db.session.scalar(select(func.count()).select_from(Template))


def test_seeding_twice_updates_in_place(app, tmp_path):
    for path in FILES[:2]:
        shutil.copy(path, tmp_path / path.name)
    with app.app_context():
        assert templates.seed(tmp_path) == (2, 0)
        before = dict(db.session.execute(select(Template.slug, Template.id)).all())
        changed = document(FILES[0].stem) | {"name": "Renamed in the file"}
        (tmp_path / FILES[0].name).write_text(json.dumps(changed), encoding="utf-8")
        assert templates.seed(tmp_path) == (0, 2)
        db.session.expire_all()
        assert count_templates() == 2
        assert dict(db.session.execute(select(Template.slug, Template.id)).all()) == before
        assert db.session.get(Template, before[FILES[0].stem]).name == "Renamed in the file"


def seed_command(app):
    """``flask seed-templates``; the ``flask`` command pushes an app context, and so do we."""
    with app.app_context():
        return app.test_cli_runner().invoke(args=["seed-templates"])


def test_seed_command_is_idempotent(app):
    first = seed_command(app)
    assert first.exit_code == 0, first.output
    assert f"{len(FILES)} created, 0 updated" in first.output
    second = seed_command(app)
    assert f"0 created, {len(FILES)} updated" in second.output
    with app.app_context():
        assert count_templates() == len(FILES)


def valid() -> dict:
    return document("meeting-action-items")


BROKEN = {
    "bad_json": ('{"name": "Half a file",', "not readable JSON"),
    "not_an_object": (json.dumps([valid()]), "must hold one JSON object"),
    "missing_field": (json.dumps({k: v for k, v in valid().items() if k != "how_to_use"}), "missing how_to_use"),
    "wrong_type": (json.dumps(valid() | {"category": ["support"]}), "'category' must be a string"),
    "unknown_key": (json.dumps(valid() | {"tags": ["x"]}), "unknown key 'tags'"),
    "bad_reference": (
        json.dumps(
            valid()
            | {
                "nodes": [
                    *valid()["nodes"][:-1],
                    {"id": "out", "type": "output", "config": {"fields": {"x": "{{ nowhere.value }}"}}},
                ]
            }
        ),
        "invalid definition: nodes[5].config.fields.x: references unknown node 'nowhere'",
    ),
    "cycle": (
        json.dumps(valid() | {"connections": [*valid()["connections"], {"from": "out", "to": "clean"}]}),
        "invalid definition: connections: connections form a cycle",
    ),
    "no_examples": (json.dumps({k: v for k, v in valid().items() if k != "example_inputs"}), "missing example_inputs"),
    "examples_it_refuses": (
        json.dumps(valid() | {"example_inputs": {"notes": 42, "mood": "fine"}}),
        "example_inputs: inputs.mood: 'mood' is not an input of this workflow; inputs.notes: 'notes' must be a string",
    ),
}


@pytest.mark.parametrize("content,problem", BROKEN.values(), ids=BROKEN.keys())
def test_a_broken_file_fails_seeding_naming_file_and_problem(app, tmp_path, content, problem):
    shutil.copy(FILES[0], tmp_path / FILES[0].name)  # a good file, seeded only if all are good
    (tmp_path / "zz-broken.json").write_text(content, encoding="utf-8")
    with app.app_context():
        with pytest.raises(CatalogueError) as caught:
            templates.seed(tmp_path)
        assert str(caught.value).startswith("zz-broken.json: ")
        assert problem in str(caught.value)
        assert count_templates() == 0


def test_seed_command_reports_a_broken_file_and_writes_nothing(app, tmp_path, monkeypatch):
    (tmp_path / "good.json").write_text(json.dumps(valid()), encoding="utf-8")
    (tmp_path / "broken.json").write_text(json.dumps(valid() | {"nodes": []}), encoding="utf-8")
    monkeypatch.setattr(templates, "CATALOGUE_DIR", tmp_path)
    result = seed_command(app)
    assert result.exit_code != 0
    assert "broken.json: missing nodes" in result.output
    with app.app_context():
        assert count_templates() == 0


# -- answers JSON cannot hold -------------------------------------------------------------


@pytest.mark.parametrize("reply", ['{"score": NaN, "summary": "ok"}', '{"score": Infinity}'])
def test_a_non_finite_number_in_a_json_answer_is_a_handled_node_failure(app, catalogue, model, reply):
    """NaN and Infinity are not JSON (PostgreSQL refuses them): the node fails as
    invalid_json, which the template's on_error handles, on every database."""
    workflow_id = catalogue.workflow("resume-screening")
    script(model, [("Screen this resume", reply)])
    execution = catalogue.run(workflow_id, inputs_of("resume-screening"))
    assert execution["status"] == "completed", execution["error"]
    screen = next(n for n in execution["nodes"] if n["node_id"] == "screen")
    assert screen["status"] == "failed" and screen["error"]["code"] == "invalid_json"

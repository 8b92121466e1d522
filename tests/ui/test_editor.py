"""The workflow editor: forms per node that give back the definition they show,
live validation with problems next to their fields, structural edits, the JSON
tab, and saving (a new version only when the definition changed)."""

from __future__ import annotations

import copy
import json
import re

import pytest

from tests.definitions import echo_definition, fan_out_definition, spec_example
from tests.ui.conftest import create_workflow
from tests.ui.forms import as_multidict, form_fields
from webapp.ui import draft


def rich_definition() -> dict:
    """Every node type with most of its options, including ones the form keeps hidden."""
    return {
        "nodes": [
            {
                "id": "in",
                "type": "input",
                "name": "Request",
                "config": {
                    "fields": [
                        {
                            "name": "topic",
                            "type": "string",
                            "required": True,
                            "max_length": 300,
                            "description": "What about",
                            "label": "Topic",
                        },
                        {"name": "tone", "type": "string", "enum": ["plain", "warm, friendly"], "default": "plain"},
                        {"name": "count", "type": "integer", "default": 3, "enum": [1, 3, 5]},
                        {"name": "strict", "type": "boolean", "default": False},
                        {"name": "extra", "type": "object", "default": {"a": [1, 2]}},
                        {"name": "tags", "type": "array"},
                    ]
                },
            },
            {
                "id": "gen",
                "type": "ai_model",
                "on_error": "branch",
                "config": {
                    "model": "gpt-4o",
                    "system": "Be brief.",
                    "prompt": "Write about {{ in.topic }} in a {{ in.tone }} tone",
                    "temperature": 0.2,
                    "max_tokens": 300,
                    "response_format": "json",
                    "cache": False,
                    "timeout": 12.5,
                    "retries": 1,
                },
            },
            {"id": "fallback", "type": "processing", "config": {"operation": "template", "template": "n/a"}},
            {
                "id": "pick",
                "type": "processing",
                "config": {
                    "operation": "regex_extract",
                    "input": "{{ gen.text }}",
                    "pattern": "(?P<word>\\w+)",
                    "group": "word",
                },
            },
            {
                "id": "parts",
                "type": "processing",
                "config": {"operation": "split", "input": "{{ gen.text }}", "separator": "\n\t"},
            },
            {
                "id": "both",
                "type": "processing",
                "config": {"operation": "merge", "values": {"word": "{{ pick.value }}", "parts": "{{ parts.value }}"}},
            },
            {"id": "check", "type": "conditional", "config": {"condition": "parts.value | length > 2"}},
            {
                "id": "report",
                "type": "output",
                "config": {"template": "# {{ in.topic }}\n\n{{ both.value }}", "format": "markdown"},
            },
            {"id": "short", "type": "output", "config": {"fields": {"answer": "{{ fallback.value }}"}}},
        ],
        "connections": [
            {"from": "in", "to": "gen"},
            {"from": "gen", "to": "fallback", "branch": "error"},
            {"from": "gen", "to": "pick"},
            {"from": "gen", "to": "parts"},
            {"from": "pick", "to": "both"},
            {"from": "parts", "to": "both"},
            {"from": "both", "to": "check"},
            {"from": "check", "to": "report", "branch": "true"},
            {"from": "check", "to": "short", "branch": "false"},
            {"from": "fallback", "to": "short"},
            {"from": "in", "to": "report"},
        ],
    }


def editor_form(page, workflow_id: str) -> list[tuple[str, str]]:
    return page.form(f"/workflows/{workflow_id}", "editor-form")


def replace(pairs, name: str, value: str) -> list[tuple[str, str]]:
    assert any(k == name for k, _ in pairs), f"no field {name}"
    return [(k, value if k == name else v) for k, v in pairs]


def slot(html: str, slot_id: str) -> str:
    match = re.search(rf'<span class="problem" id="{re.escape(slot_id)}"[^>]*>(.*?)</span>', html, re.S)
    assert match, f"no slot {slot_id}"
    return match.group(1)


def outbound_definition() -> dict:
    """The node types that reach out: an HTTP request, and a map of one over a list."""
    return {
        "nodes": [
            {"id": "in", "type": "input", "config": {"fields": [{"name": "ids", "type": "array"}]}},
            {
                "id": "call",
                "type": "http_request",
                "config": {
                    "method": "POST",
                    "url": "https://api.example.com/search",
                    "query": {"q": "{{ in.ids | join(',') }}"},
                    "headers": {"Accept": "application/json"},
                    "body": "{{ {'ids': in.ids} }}",
                    "timeout": 10,
                    "retries": 2,
                    "fail_on_status": False,
                },
            },
            {
                "id": "each",
                "type": "map",
                "config": {
                    "items": "{{ in.ids }}",
                    "node": {
                        "type": "http_request",
                        "config": {
                            "url": "https://api.example.com/items/{{ item }}",
                            "headers": {"X-Index": "{{ index }}"},
                        },
                    },
                    "concurrency": 4,
                    "on_item_error": "skip",
                },
            },
            {
                "id": "out",
                "type": "output",
                "config": {"fields": {"search": "{{ call.json }}", "items": "{{ each.values }}"}},
            },
        ],
        "connections": [
            {"from": "in", "to": "call"},
            {"from": "in", "to": "each"},
            {"from": "call", "to": "out"},
            {"from": "each", "to": "out"},
        ],
    }


def agent_definition() -> dict:
    """An agent with a workflow tool and an HTTP tool (its templates see args)."""
    search = {
        "name": "search",
        "description": "Searches the web.",
        "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
        "http": {"url": "https://api.example.com/search", "query": {"q": "{{ args.q }}", "lang": "{{ in.lang }}"}},
    }
    return {
        "nodes": [
            {"id": "in", "type": "input", "config": {"fields": [{"name": "lang", "type": "string"}]}},
            {
                "id": "agent",
                "type": "agent",
                "config": {
                    "prompt": "Research {{ in.lang }}",
                    "tools": [search, {"name": "summarise", "workflow_id": "wf_summary"}],
                    "max_steps": 8,
                    "temperature": 0.2,
                },
            },
            {"id": "out", "type": "output", "config": {"fields": {"answer": "{{ agent.text }}"}}},
        ],
        "connections": [{"from": "in", "to": "agent"}, {"from": "agent", "to": "out"}],
    }


@pytest.mark.parametrize(
    "definition",
    [
        spec_example(),
        echo_definition(),
        fan_out_definition(3),
        rich_definition(),
        outbound_definition(),
        agent_definition(),
    ],
    ids=["spec", "echo", "fan_out", "rich", "outbound", "agent"],
)
def test_an_unchanged_form_gives_back_the_same_definition(page, app, definition):
    workflow_id = create_workflow(app, page.user, definition)
    posted = draft.read_form(as_multidict(editor_form(page, workflow_id)))
    assert posted.problems == []
    assert posted.definition == definition


def test_the_rich_definitions_are_valid(app):
    from webapp.services.definitions import compile_definition

    with app.app_context():
        compile_definition(rich_definition())
        compile_definition(outbound_definition())
        compile_definition(agent_definition())


def test_a_map_draws_its_inner_node_and_switching_its_type_redraws_it(page, app):
    workflow_id = create_workflow(app, page.user, outbound_definition())
    html = page.get(f"/workflows/{workflow_id}").text
    assert 'name="nodes[2].config.node.type"' in html and 'name="nodes[2].config.node.config.url"' in html
    assert 'name="nodes[2].config.node.config.headers[0].template"' in html
    assert 'value="add_row:2:node.headers"' in html
    url = f"/workflows/{workflow_id}/editor"
    original = editor_form(page, workflow_id)
    pairs = replace(original, "nodes[2].config.node.type", "ai_model")
    switched = page.post(url, pairs, htmx=True).text
    assert 'name="nodes[2].config.node.config.prompt"' in switched
    assert 'name="nodes[2].config.node.config.url"' not in switched
    added = page.post(
        url, [*original, ("action", "add_row:2:node.headers")], htmx=True
    ).text  # (the draft kept the switch)
    assert 'name="nodes[2].config.node.config.headers[1].name"' in added


def test_a_workflow_node_offers_the_workflows_it_may_run(page, app):
    other = create_workflow(app, page.user, echo_definition(), name="Reusable classifier")
    definition = {
        "nodes": [
            {"id": "in", "type": "input", "config": {"fields": [{"name": "text", "type": "string"}]}},
            {"id": "sub", "type": "workflow", "config": {"workflow_id": other, "inputs": {"text": "{{ in.text }}"}}},
            {"id": "out", "type": "output", "config": {"fields": {"r": "{{ sub.outputs }}"}}},
        ],
        "connections": [{"from": "in", "to": "sub"}, {"from": "sub", "to": "out"}],
    }
    workflow_id = create_workflow(app, page.user, definition, name="Caller")
    html = page.get(f"/workflows/{workflow_id}").text
    assert f'<option value="{other}" selected>Reusable classifier</option>' in select(
        html, "nodes[1].config.workflow_id"
    )
    assert f'<option value="{workflow_id}"' not in html  # not itself
    assert 'name="nodes[1].config.inputs[0].template"' in html


OUT = {"id": "out", "type": "output", "config": {"fields": {"done": "yes"}}}


def select(html: str, name: str) -> str:
    """The select named ``name``, whole (its options), or a failure saying it is none."""
    found = re.search(rf'<select id="[^"]*" name="{re.escape(name)}"[^>]*>.*?</select>', html, re.S)
    assert found, f"{name} is not a select"
    return found.group(0)


def options_of(html: str, name: str) -> list[str]:
    return re.findall(r'<option value="([^"]*)"', select(html, name))


def test_pickers_offer_ones_providers_the_chosen_providers_models_and_the_workflows_one_may_run(page, app, other_page):
    fields = {"name": "local", "base_url": "http://10.0.0.5/v1", "api_key": "sk-test-1234", "models": "llama3.1, tiny"}
    page.post("/settings/providers", fields, htmx=True)
    other_page.post("/settings/providers", {**fields, "name": "theirs"}, htmx=True)
    needs = {
        "nodes": [
            {
                "id": "in",
                "type": "input",
                "config": {
                    "fields": [
                        {"name": "text", "type": "string", "required": True},
                        {"name": "tone", "type": "string", "required": True, "default": "plain"},
                        {"name": "limit", "type": "integer"},
                    ]
                },
            },
            *echo_definition()["nodes"][1:],
        ],
        "connections": echo_definition()["connections"],
    }
    child = create_workflow(app, page.user, needs, name="Needs text")
    public = create_workflow(app, other_page.user, echo_definition(), name="Shared one", public=True)
    private = create_workflow(app, other_page.user, echo_definition(), name="Their secret")
    model_node = {
        "id": "m",
        "type": "ai_model",
        "config": {"prompt": "{{ in.text }}", "provider": "local", "model": "tiny"},
    }
    plain_node = {"id": "p", "type": "ai_model", "config": {"prompt": "{{ in.text }}"}}
    sub_node = {"id": "sub", "type": "workflow", "config": {"workflow_id": child, "inputs": {}}}
    definition = {
        "nodes": [
            {"id": "in", "type": "input", "config": {"fields": [{"name": "text"}]}},
            model_node,
            plain_node,
            sub_node,
            OUT,
        ],
        "connections": [
            *({"from": "in", "to": n} for n in ("m", "p", "sub")),
            *({"from": n, "to": "out"} for n in ("m", "p", "sub")),
        ],
    }
    html = page.get(f"/workflows/{create_workflow(app, page.user, definition)}").text

    assert options_of(html, "nodes[1].config.provider") == ["", "local"]  # one's own only
    assert "hx-post=" in select(html, "nodes[1].config.provider")  # a change redraws: the models follow
    assert options_of(html, "nodes[1].config.model") == ["", "llama3.1", "tiny"]  # the chosen provider's
    assert '<option value="tiny" selected>' in select(html, "nodes[1].config.model")
    assert "gpt-4o-mini" in options_of(html, "nodes[2].config.model")  # no provider: the server's models
    runs = options_of(html, "nodes[3].config.workflow_id")
    assert child in runs and public in runs and private not in runs
    # Picking a workflow lists what it takes and adds a row for each required input without a default.
    assert 'name="nodes[3].config.inputs[0].name" value="text"' in html
    assert 'value="tone"' not in html and 'value="limit"' not in html
    assert "It takes: text (string, required), tone (string), limit (integer)" in html


def test_a_value_one_cannot_pick_stays_marked_not_dropped(page, app):
    node = {"id": "m", "type": "ai_model", "config": {"prompt": "hi", "provider": "gone", "model": "m1"}}
    sub = {"id": "sub", "type": "workflow", "config": {"workflow_id": "wf_nothere", "inputs": {}}}
    definition = {
        "nodes": [{"id": "in", "type": "input", "config": {"fields": []}}, node, sub, OUT],
        "connections": [
            *({"from": "in", "to": n} for n in ("m", "sub")),
            *({"from": n, "to": "out"} for n in ("m", "sub")),
        ],
    }
    html = page.get(f"/workflows/{create_workflow(app, page.user, definition)}").text
    assert '<option value="gone" selected>gone (not one you can pick)</option>' in select(
        html, "nodes[1].config.provider"
    )
    assert 'name="nodes[1].config.model"' in html and "nodes[1].config.model" not in re.findall(
        r'<select id="[^"]*" name="([^"]*)"', html
    )  # a provider it cannot see lists no model: free text
    assert '<option value="wf_nothere" selected>wf_nothere (not one you can pick)</option>' in html


def test_a_problem_inside_a_maps_inner_node_shows_next_to_its_field(page, app):
    workflow_id = create_workflow(app, page.user, outbound_definition())
    pairs = replace(editor_form(page, workflow_id), "nodes[2].config.node.config.timeout", "0")
    html = page.post(f"/workflows/{workflow_id}/editor", [*pairs, ("action", "validate")], htmx=True).text
    assert "between 0.1 and 600" in slot(html, "pb-nodes-2-config-node-config-timeout")


def test_each_node_gets_a_form_fitting_its_type(page, app):
    workflow_id = create_workflow(app, page.user, rich_definition(), name="Rich")
    html = page.get(f"/workflows/{workflow_id}").text
    assert "gpt-4o-mini" in options_of(html, "nodes[1].config.model")
    assert re.search(r'<textarea id="f-nodes-1-config-prompt" name="nodes\[1\].config.prompt"', html)
    assert 'name="nodes[3].config.operation"' in html and 'value="regex_extract" selected' in html
    assert 'name="nodes[3].config.pattern"' in html and 'name="nodes[3].config.group"' in html
    assert 'name="nodes[4].config.separator" value="\\n\\t"' in html  # escapes shown as typed
    assert 'name="nodes[5].config.values[1].name" value="parts"' in html
    assert 'name="nodes[6].config.condition"' in html
    assert 'name="nodes[7].config.format"' in html and 'value="markdown" selected' in html
    assert 'name="nodes[8].config.fields[0].template"' in html
    assert 'name="connections[1].branch"' in html and '<option value="error" selected>' in html
    # references: what each template may use, from the nodes upstream of it
    refs = re.search(r'<div class="refs" id="refs-1">(.*?)</div>', html, re.S).group(1)
    assert 'data-insert="in.topic"' in refs and 'data-insert="in.tags"' in refs and "gen." not in refs
    refs = re.search(r'<div class="refs" id="refs-5">(.*?)</div>', html, re.S).group(1)
    assert 'data-insert="gen.json"' in refs and 'data-insert="pick.value"' in refs
    assert 'data-insert="check.result"' not in refs
    assert "version 1" in html and "Published v1" in html


def test_a_bad_reference_is_reported_next_to_the_prompt(page, app):
    workflow_id = create_workflow(app, page.user, spec_example())
    pairs = replace(editor_form(page, workflow_id), "nodes[1].config.prompt", "Describe {{ nope.product }}")
    response = page.post(f"/workflows/{workflow_id}/editor/check", pairs, htmx=True)
    assert response.status_code == 200
    html = response.text
    assert "references unknown node &#39;nope&#39;" in slot(html, "pb-nodes-1-config-prompt")
    assert slot(html, "pb-nodes-0-id") == ""  # every other slot is cleared
    assert html.lstrip().startswith('<div class="problems-box">')  # the summary, swapped in place
    assert '<div id="editor-graph" class="graph-wrap" hx-swap-oob="true">' in html
    # The check keeps the draft as typed, problems and all; what runs is unchanged.
    assert (
        'class="editor-state is-draft" data-published="Published v1" hx-swap-oob="true">Draft · not published' in html
    )
    assert "Describe {{ nope.product }}" in page.get(f"/workflows/{workflow_id}").text


def test_a_valid_change_clears_the_problems(page, app):
    workflow_id = create_workflow(app, page.user, spec_example())
    pairs = replace(editor_form(page, workflow_id), "nodes[1].config.prompt", "Sell {{ in.product }} to me")
    html = page.post(f"/workflows/{workflow_id}/editor/check", pairs, htmx=True).text
    assert "✓ Valid" in html and slot(html, "pb-nodes-1-config-prompt") == ""


def test_problems_land_on_their_fields(page, app):
    workflow_id = create_workflow(app, page.user, rich_definition())
    pairs = editor_form(page, workflow_id)
    pairs = replace(pairs, "nodes[1].config.temperature", "7")
    pairs = replace(pairs, "nodes[3].config.pattern", "(unclosed")
    pairs = replace(pairs, "nodes[6].config.condition", "parts.value |")
    pairs = replace(pairs, "nodes[8].config.fields[0].template", "{{ report.value }}")
    pairs = replace(pairs, "nodes[0].config.fields[1].default", "loud")  # not in its enum
    pairs = replace(pairs, "connections[2].to", "gen")  # gen → gen
    pairs = replace(pairs, "nodes[2].id", "if")  # a reserved word
    html = page.post(f"/workflows/{workflow_id}/editor/check", pairs, htmx=True).text
    assert "between 0 and 2" in slot(html, "pb-nodes-1-config-temperature")
    assert "invalid regular expression" in slot(html, "pb-nodes-3-config-pattern")
    assert slot(html, "pb-nodes-6-config-condition")
    assert "not upstream" in slot(html, "pb-nodes-8-config-fields-0-template")
    assert "must be one of" in slot(html, "pb-nodes-0-config-fields-1-default")
    assert "connected to itself" in slot(html, "pb-connections-2")
    assert "reserved word" in slot(html, "pb-nodes-2-id")


def test_problems_without_a_field_go_to_the_nearest_place(page, app):
    definition = echo_definition()
    definition["nodes"] = [n for n in definition["nodes"] if n["type"] != "output"]
    definition["connections"] = definition["connections"][:1]
    with pytest.raises(Exception):  # noqa: B017 - the service refuses it; the editor must still show it
        create_workflow(app, page.user, definition)
    workflow_id = create_workflow(app, page.user, echo_definition())
    pairs = [(k, v) for k, v in editor_form(page, workflow_id) if not k.startswith(("nodes[2]", "connections[1]"))]
    html = page.post(f"/workflows/{workflow_id}/editor/check", pairs, htmx=True).text
    assert "needs at least one output node" in slot(html, "pb-nodes")


def test_structural_edits_redraw_the_editor(page, app):
    workflow_id = create_workflow(app, page.user, spec_example())
    url = f"/workflows/{workflow_id}/editor"
    pairs = editor_form(page, workflow_id)
    assert ("new_node_after", "short") in pairs  # by default, after the last node that is not an output
    added = page.post(url, [*replace(pairs, "new_node_after", "in"), ("action", "add_node")], htmx=True)
    assert added.status_code == 200 and added.text.lstrip().startswith('<section id="editor"')
    assert 'value="model"' in added.text and "{{ in.product }}" in added.text  # a starter prompt
    new_id = re.search(r'<input type="text" id="f-nodes-5-id"[^>]*>', added.text).group(0)
    assert "autofocus" in new_id and added.text.count("autofocus") == 1  # the keyboard lands on the new node
    pairs = form_fields(added.text, "editor-form")
    assert ("connections[5].from", "in") in pairs and ("connections[5].to", "model") in pairs
    removed = page.post(url, [*pairs, ("action", "remove_node:3")], htmx=True).text  # 'short'
    assert 'value="short"' not in removed and "references" not in removed.split("pb-nodes-3")[0][-50:]
    pairs = form_fields(removed, "editor-form")
    assert not any(v == "short" for k, v in pairs if k.startswith("connections"))
    bridged = draft.read_form(as_multidict(pairs)).definition["connections"]
    assert {"from": "long", "to": "out", "branch": "true"} in bridged  # its neighbours, connected
    with_row = page.post(url, [*pairs, ("action", "add_row:0")], htmx=True).text
    assert 'name="nodes[0].config.fields[1].name" value="field"' in with_row
    with_connection = page.post(url, [*pairs, ("action", "add_connection")], htmx=True).text
    assert len(re.findall(r'name="connections\[\d+\]\.from"', with_connection)) == 6
    moved = page.post(url, [*pairs, ("action", "move_node:1:1")], htmx=True).text
    assert moved.index('value="long"') < moved.index('value="draft"')


def test_switching_an_operation_or_output_shape_redraws_its_options(page, app):
    workflow_id = create_workflow(app, page.user, spec_example())
    url = f"/workflows/{workflow_id}/editor"
    pairs = replace(editor_form(page, workflow_id), "nodes[3].config.operation", "split")
    html = page.post(url, pairs, htmx=True).text
    assert 'name="nodes[3].config.separator"' in html and 'name="nodes[3].config.length"' not in html
    assert 'hx-trigger="change consume"' in html
    pairs = replace(editor_form(page, workflow_id), "nodes[4].shape", "template")
    html = page.post(url, pairs, htmx=True).text
    assert 'name="nodes[4].config.template"' in html and "{{ short.value if short else draft.text }}" in html
    assert 'name="nodes[4].config.format"' in html


def test_renaming_a_node_follows_it_in_the_connections(page, app):
    workflow_id = create_workflow(app, page.user, spec_example())
    pairs = replace(editor_form(page, workflow_id), "nodes[1].id", "writer")
    html = page.post(f"/workflows/{workflow_id}/editor", pairs, htmx=True).text
    after = draft.read_form(as_multidict(form_fields(html, "editor-form"))).definition
    assert {"from": "in", "to": "writer"} in after["connections"]
    assert {"from": "writer", "to": "long"} in after["connections"]
    assert "references unknown node &#39;draft&#39;" in html  # templates still say draft: shown, not rewritten


def test_save_keeps_the_draft_and_publish_makes_the_next_version(page, app):
    workflow_id = create_workflow(app, page.user, spec_example())
    url = f"/workflows/{workflow_id}/definition"
    pairs = editor_form(page, workflow_id)
    same = page.post(url, pairs, htmx=True)
    assert same.status_code == 200 and "No changes to save" in same.text and "Published v1" in same.text
    changed = replace(pairs, "nodes[1].config.prompt", "Describe {{ in.product }} briefly")
    saved = page.post(url, changed, htmx=True)
    assert saved.status_code == 200 and "Draft saved." in saved.text and "Draft · not published" in saved.text
    assert "briefly" in page.get(f"/workflows/{workflow_id}").text  # the owner's editor shows the draft
    assert "briefly" not in published_prompt(app, workflow_id)  # what runs has not changed
    published = page.post(
        f"/workflows/{workflow_id}/editor/publish", replace(changed, "publish_note", "Shorter"), htmx=True
    )
    assert published.status_code == 200 and "Published version 2." in published.text
    assert published.headers["HX-Trigger"] == "workflow-saved"
    assert 'id="wf-head" class="page-head" hx-swap-oob="true"' in published.text  # the header's version too
    assert "briefly" in published_prompt(app, workflow_id)
    assert "v2" in published.text and "Shorter" in published.text  # the version list, with its note
    again = page.post(f"/workflows/{workflow_id}/editor/publish", changed, htmx=True)
    assert "Nothing to publish" in again.text


def published_prompt(app, workflow_id: str) -> str:
    from webapp.extensions import db
    from webapp.models import Workflow

    with app.app_context():
        return db.session.get(Workflow, workflow_id).definition["nodes"][1]["config"]["prompt"]


def test_a_draft_with_problems_is_kept_with_them_and_not_published(page, app):
    workflow_id = create_workflow(app, page.user, spec_example())
    pairs = replace(editor_form(page, workflow_id), "nodes[1].config.prompt", "{{ ghost.text }}")
    response = page.post(f"/workflows/{workflow_id}/definition", pairs, htmx=True)
    assert response.status_code == 200 and "Not saved" not in response.text
    assert "Draft saved, with 1 problem to fix before publishing." in response.text
    assert "ghost" in slot(response.text, "pb-nodes-1-config-prompt")
    reloaded = page.get(f"/workflows/{workflow_id}").text
    assert "{{ ghost.text }}" in reloaded and "ghost" in slot(reloaded, "pb-nodes-1-config-prompt")
    refused = page.post(f"/workflows/{workflow_id}/editor/publish", pairs, htmx=True)
    assert refused.status_code == 422 and "Not published: fix the problems below." in refused.text
    assert "ghost" in slot(refused.text, "pb-nodes-1-config-prompt")
    assert "version 1" in page.get(f"/workflows/{workflow_id}").text


def test_saving_and_publishing_without_htmx_redirect_back(page, app):
    workflow_id = create_workflow(app, page.user, spec_example())
    pairs = replace(editor_form(page, workflow_id), "nodes[1].config.temperature", "0.3")
    response = page.post(f"/workflows/{workflow_id}/definition", pairs)
    assert response.status_code == 303
    assert "Draft saved." in page.get(response.headers["Location"]).text
    response = page.post(f"/workflows/{workflow_id}/editor/publish", pairs)
    assert response.status_code == 303 and "Published version 2." in page.get(response.headers["Location"]).text
    bad = replace(pairs, "nodes[1].config.temperature", "9")
    response = page.post(f"/workflows/{workflow_id}/editor/publish", bad)
    assert response.status_code == 422 and "<html" in response.text and "between 0 and 2" in response.text


def test_a_structural_edit_without_htmx_renders_the_page(page, app):
    workflow_id = create_workflow(app, page.user, spec_example())
    pairs = editor_form(page, workflow_id)
    response = page.post(f"/workflows/{workflow_id}/editor", [*pairs, ("action", "add_connection")])
    assert response.status_code == 200 and "<html" in response.text
    assert "Draft · not published" in response.text  # kept: the page shows the draft it now is


def test_the_json_tab_round_trips(page, app):
    workflow_id = create_workflow(app, page.user, spec_example())
    url = f"/workflows/{workflow_id}/editor"
    json_view = page.post(url, [*editor_form(page, workflow_id), ("action", "view:json")], htmx=True).text
    pairs = form_fields(json_view, "editor-form")
    text = dict(pairs)["definition_json"]
    assert json.loads(text) == spec_example() and ("_view", "json") in pairs
    edited = copy.deepcopy(spec_example())
    edited["nodes"][1]["config"]["prompt"] = "Pitch {{ in.product }}"
    pairs = replace(pairs, "definition_json", json.dumps(edited))
    checked = page.post(f"/workflows/{workflow_id}/editor/check", pairs, htmx=True).text
    assert "✓ Valid" in checked and "Draft · not published" in checked
    back = page.post(url, [*pairs, ("action", "view:form")], htmx=True).text
    assert "Pitch {{ in.product }}" in back and 'name="nodes[1].config.prompt"' in back
    saved = page.post(f"/workflows/{workflow_id}/editor/publish", pairs, htmx=True)
    assert "Published version 2" in saved.text


def test_the_json_tab_reports_broken_json_and_keeps_the_text(page, app):
    workflow_id = create_workflow(app, page.user, spec_example())
    pairs = [("csrf_token", page.token), ("_view", "json"), ("definition_json", '{"nodes": [')]
    checked = page.post(f"/workflows/{workflow_id}/editor/check", pairs, htmx=True).text
    assert "not valid JSON" in slot(checked, "pb-definition_json")
    assert "editor-graph" not in checked  # the last good picture stays
    back = page.post(f"/workflows/{workflow_id}/editor", [*pairs, ("action", "view:form")], htmx=True)
    assert (
        back.status_code == 422
        and '<textarea id="definition_json"' in back.text
        and '{"nodes": [' in back.text
        and "not valid JSON" in back.text
    )
    saved = page.post(f"/workflows/{workflow_id}/definition", pairs, htmx=True)
    assert saved.status_code == 422


def test_the_json_tab_takes_an_export_document(page, app):
    workflow_id = create_workflow(app, page.user, spec_example())
    document = page.get(f"/workflows/{workflow_id}/export").json
    document["workflow"]["nodes"][1]["config"]["prompt"] = "Exported {{ in.product }}"
    pairs = [("csrf_token", page.token), ("_view", "json"), ("definition_json", json.dumps(document))]
    html = page.post(f"/workflows/{workflow_id}/editor", [*pairs, ("action", "view:form")], htmx=True).text
    assert "Exported {{ in.product }}" in html


def test_the_graph_opens_one_node_at_a_time_and_draws_a_conditionals_exits(page, app):
    workflow_id = create_workflow(app, page.user, spec_example())
    html = page.get(f"/workflows/{workflow_id}").text
    assert '<a href="#node-draft" id="graph-node-draft" class="node-link" data-node="draft">' in html
    assert 'id="node-draft"' in html
    cards = re.findall(r'<fieldset class="node-card[^>]*>', html)
    assert len(cards) == 5 and all(" hidden" in card for card in cards)  # all posted, none open yet
    assert '<div class="card panel-pick" id="panel-pick">' in html and 'href="#node-short"' in html
    assert 'class="exit exit-true"' in html and 'class="exit exit-false"' in html  # the conditional's exits
    assert (
        html.count('class="insert-point"') == len(spec_example()["connections"]) and 'data-action="insert_on:0"' in html
    )
    opened = page.post(
        f"/workflows/{workflow_id}/editor", replace(editor_form(page, workflow_id), "_selected", "1"), htmx=True
    ).text
    cards = re.findall(r'<fieldset class="node-card[^>]*>', opened)
    assert [" hidden" in card for card in cards] == [True, False, True, True, True]  # the open node stays open
    assert re.search(r'data-node="draft"><g class="node t-ai_model is-selected"', opened)


def test_an_unused_exit_is_drawn_open():
    from webapp.ui.graph import render_graph

    definition = spec_example()
    definition["connections"] = [c for c in definition["connections"] if c.get("branch") != "false"]
    svg = str(render_graph(definition))
    assert 'class="exit exit-false is-open"' in svg and 'class="exit exit-true"' in svg


def test_a_node_inserted_on_a_connection_opens_and_undo_takes_it_back(page, app):
    workflow_id = create_workflow(app, page.user, spec_example())
    url = f"/workflows/{workflow_id}/editor"
    pairs = replace(editor_form(page, workflow_id), "new_node_type", "processing")
    saved = draft.read_form(as_multidict(pairs)).definition
    index = next(i for i, c in enumerate(saved["connections"]) if c.get("branch") == "true")  # long → short
    inserted = page.post(url, [*pairs, ("action", f"insert_on:{index}")], htmx=True).text
    pairs = form_fields(inserted, "editor-form")
    after = draft.read_form(as_multidict(pairs)).definition
    assert {"from": "long", "to": "step", "branch": "true"} in after["connections"]  # the branch stays at its source
    assert {"from": "step", "to": "short"} in after["connections"]
    assert not any(c["from"] == "long" and c["to"] == "short" for c in after["connections"])
    assert (after["nodes"][-1]["id"], after["nodes"][-1]["type"]) == ("step", "processing")
    assert ("_selected", "5") in pairs and re.search(r'<input type="text" id="f-nodes-5-id"[^>]*autofocus', inserted)
    assert (
        "Draft · not published" in inserted and re.search(r'value="undo"[^>]*>', inserted).group(0).find("disabled") < 0
    )
    undone = page.post(url, [*pairs, ("action", "undo")], htmx=True).text
    assert draft.read_form(as_multidict(form_fields(undone, "editor-form"))).definition == saved
    assert "disabled" in re.search(r'value="undo"[^>]*>', undone).group(0)  # nothing more to take back
    assert "Published v1" in re.search(r'id="editor-state"[^>]*>[^<]*', undone).group(0)  # the draft is v1 again


def test_revert_to_saved_brings_back_the_graph_and_the_settings_and_undo_the_draft(page, app):
    workflow_id = create_workflow(app, page.user, spec_example(), name="Reverted")
    url = f"/workflows/{workflow_id}/editor"
    pairs = replace(editor_form(page, workflow_id), "nodes[1].config.prompt", "A draft prompt")
    pairs = replace(pairs, "name", "A draft name")
    reverted = page.post(url, [*pairs, ("action", "revert")], htmx=True).text
    back = draft.read_form(as_multidict(form_fields(reverted, "editor-form"))).definition
    assert back["nodes"][1]["config"]["prompt"] == spec_example()["nodes"][1]["config"]["prompt"]
    assert 'id="workflow-meta" class="meta-form" hx-swap-oob="true"' in reverted and 'value="Reverted"' in reverted
    again = page.post(url, [*form_fields(reverted, "editor-form"), ("action", "undo")], htmx=True).text
    assert "A draft prompt" in again


def test_a_version_is_viewed_and_restored_into_the_draft(page, app, other_page):
    workflow_id = create_workflow(app, page.user, spec_example(), public=True)
    pairs = replace(editor_form(page, workflow_id), "nodes[1].config.prompt", "Version two {{ in.product }}")
    page.post(f"/workflows/{workflow_id}/editor/publish", replace(pairs, "publish_note", "v2 note"), htmx=True)
    html = page.get(f"/workflows/{workflow_id}").text
    assert "v2 note" in html and "The draft changes draft." in html and "Same as the draft." in html
    viewed = page.get(f"/workflows/{workflow_id}/versions/1")
    assert viewed.status_code == 200 and "Describe {{ in.product }}" in viewed.text
    assert other_page.get(f"/workflows/{workflow_id}/versions/1").status_code == 404  # the owner's alone
    restored = page.post(
        f"/workflows/{workflow_id}/editor", [*editor_form(page, workflow_id), ("action", "restore:1")], htmx=True
    )
    assert restored.status_code == 200 and "Version 1 is in the draft now" in restored.text
    assert "Describe {{ in.product }}" in page.get(f"/workflows/{workflow_id}").text
    assert "Version two" in published_prompt(app, workflow_id)  # what runs is still version 2
    undone = page.post(
        f"/workflows/{workflow_id}/editor", [*form_fields(restored.text, "editor-form"), ("action", "undo")], htmx=True
    )
    assert "Version two {{ in.product }}" in undone.text
    page.post(f"/workflows/{workflow_id}/versions/1/restore", [])  # from the version's own page
    assert "Describe {{ in.product }}" in page.get(f"/workflows/{workflow_id}").text


def test_a_tampered_undo_history_is_an_empty_one(page, app):
    import base64
    import zlib

    workflow_id = create_workflow(app, page.user, spec_example())

    def packed(raw: bytes) -> str:
        return base64.urlsafe_b64encode(zlib.compress(raw, 9)).decode()

    bomb = packed(b"[" + b" " * 10_000_000 + b"]")
    deep = packed(b"[" * 100_000)  # past Python's parser
    surrogate = packed(
        b'[{"before": {"nodes": ["\\ud800"], "connections": []}, "after": {"nodes": [], "connections": []}}]'
    )
    shapeless = packed(b'[{"before": 1, "after": {"nodes": "no"}}, [], "x"]')
    junk = base64.urlsafe_b64encode(b"junk").decode()
    for history in ("not base64 at all!", junk, bomb, deep, surrogate, shapeless):
        pairs = replace(editor_form(page, workflow_id), "_undo", history)
        answer = page.post(f"/workflows/{workflow_id}/editor", [*pairs, ("action", "undo")], htmx=True)
        assert answer.status_code == 200 and "disabled" in re.search(r'value="undo"[^>]*>', answer.text).group(0)


def test_undo_keeps_what_was_typed_since_and_the_open_node_by_its_id(page, app):
    workflow_id = create_workflow(app, page.user, spec_example())
    url = f"/workflows/{workflow_id}/editor"
    pairs = editor_form(page, workflow_id)
    added = form_fields(page.post(url, [*pairs, ("action", "add_node")], htmx=True).text, "editor-form")
    typed = replace(added, "nodes[1].config.prompt", "Typed after the add")
    typed = replace(typed, "_selected", "1")  # 'draft' open
    moved = form_fields(page.post(url, [*typed, ("action", "move_node:1:1")], htmx=True).text, "editor-form")
    assert ("_selected", "2") in moved  # the open node followed its move
    once = page.post(url, [*moved, ("action", "undo")], htmx=True).text  # the move, taken back
    pairs = form_fields(once, "editor-form")
    assert ("_selected", "1") in pairs  # still 'draft', found by its id
    twice = draft.read_form(
        as_multidict(form_fields(page.post(url, [*pairs, ("action", "undo")], htmx=True).text, "editor-form"))
    ).definition
    assert [n["id"] for n in twice["nodes"]] == [n["id"] for n in spec_example()["nodes"]]  # the added node is gone
    assert twice["nodes"][1]["config"]["prompt"] == "Typed after the add"  # and the typing is not


def test_an_input_is_not_inserted_on_a_connection(page, app):
    workflow_id = create_workflow(app, page.user, spec_example())
    pairs = replace(editor_form(page, workflow_id), "new_node_type", "input")
    html = page.post(f"/workflows/{workflow_id}/editor", [*pairs, ("action", "insert_on:0")], htmx=True).text
    assert draft.read_form(as_multidict(form_fields(html, "editor-form"))).definition == spec_example()


def test_json_nested_past_the_parser_is_a_problem_not_an_error(page, app):
    workflow_id = create_workflow(app, page.user, spec_example())
    pairs = [("csrf_token", page.token), ("_view", "json"), ("definition_json", "[" * 100_000)]
    answer = page.post(f"/workflows/{workflow_id}/editor", [*pairs, ("action", "view:form")], htmx=True)
    assert answer.status_code == 422 and "nested too deeply" in answer.text


def test_an_agents_form_lists_its_tools_with_their_parameters_and_picks_workflows_as_tools(page, app):
    summariser = create_workflow(app, page.user, echo_definition(), name="Summariser")  # input: text (required)
    definition = agent_definition()
    definition["nodes"][1]["config"]["tools"] = [definition["nodes"][1]["config"]["tools"][0]]  # the HTTP tool
    workflow_id = create_workflow(app, page.user, definition)
    html = page.get(f"/workflows/{workflow_id}").text
    rows = re.search(r'<table class="table compact agent-tool-rows">(.*?)</table>', html, re.S).group(1)
    assert "<code>search</code>" in rows and "GET https://api.example.com/search" in rows and "q: string*" in rows
    assert f'<option value="{summariser} Summariser">Summariser — text: string*</option>' in html
    url = f"/workflows/{workflow_id}/editor"
    form = replace(editor_form(page, workflow_id), "new_tool_workflow_1", f"{summariser} Summariser")
    added = page.post(url, [*form, ("action", "add_tool:1:workflow")], htmx=True).text
    rows = re.search(r'<table class="table compact agent-tool-rows">(.*?)</table>', added, re.S).group(1)
    assert "<code>summariser</code>" in rows and "workflow Summariser" in rows and "text: string*" in rows
    tools = json.loads(dict(form_fields(added, "editor-form"))["nodes[1].config.tools"])
    assert tools[1] == {"name": "summariser", "workflow_id": summariser}
    # an HTTP tool starts with one parameter used in its query; a second gets a fresh name
    more = page.post(url, [*form_fields(added, "editor-form"), ("action", "add_tool:1:http")], htmx=True).text
    tools = json.loads(dict(form_fields(more, "editor-form"))["nodes[1].config.tools"])
    assert [t["name"] for t in tools] == ["search", "summariser", "search_2"]
    assert tools[2]["http"]["query"] == {"q": "{{ args.q }}"}
    fewer = page.post(url, [*form_fields(more, "editor-form"), ("action", "remove_tool:1:0")], htmx=True).text
    tools = json.loads(dict(form_fields(fewer, "editor-form"))["nodes[1].config.tools"])
    assert [t["name"] for t in tools] == ["summariser", "search_2"]
    # what the form holds is a valid definition, saved as it reads
    posted = draft.read_form(as_multidict(form_fields(fewer, "editor-form")))
    assert posted.problems == [] and posted.definition["nodes"][1]["config"]["tools"] == tools


def test_tools_that_are_not_json_are_explained_next_to_the_field(page, app):
    workflow_id = create_workflow(app, page.user, agent_definition())
    form = replace(editor_form(page, workflow_id), "nodes[1].config.tools", "[{oops")
    html = page.post(f"/workflows/{workflow_id}/editor/check", form, htmx=True).text
    assert "must be a list of tools" in html


def test_the_test_panel_runs_the_draft_and_shows_each_nodes_input_and_output(page, app):
    workflow_id = create_workflow(app, page.user, echo_definition(), name="Tested")
    pairs = replace(editor_form(page, workflow_id), "nodes[1].config.operation", "lowercase")
    pairs = replace(pairs, "inputs.text", "Hello There")
    url = f"/workflows/{workflow_id}/editor/test"
    tested = page.post(url, [*pairs, ("test_until", "")], htmx=True)
    assert tested.status_code == 200 and "Test run: completed." in tested.text
    card = tested.text[tested.text.index('id="node-shout"') :]
    card = card[: card.index("</fieldset>")]
    assert "Last test run" in card and "Hello There" in card and "hello there" in card  # input, output
    assert "Hello There</textarea>" in panel(tested.text)  # the inputs stay in the panel
    reloaded = page.get(f"/workflows/{workflow_id}").text  # remembered for the workflow: the last test run's
    assert "Hello There</textarea>" in panel(reloaded) and "Last test run" in reloaded
    with app.app_context():
        from webapp.extensions import db
        from webapp.models import Execution, Workflow

        run = db.session.query(Execution).filter_by(workflow_id=workflow_id).one()
        assert run.trigger == "test" and run.outputs == {"result": "hello there"}
        workflow = db.session.get(Workflow, workflow_id)
        assert workflow.usage_count == 0 and workflow.definition["nodes"][1]["config"]["operation"] == "uppercase"

    out_card = tested.text[tested.text.index('id="node-out"') :]
    start = out_card.index("refs-observed")
    observed = out_card[start : out_card.index("</div>", start)]
    assert 'data-insert="shout.value"' in observed  # the field picker offers what shout really gave

    shout = next(i for i, (k, v) in enumerate(pairs) if k == "_selected")
    pairs[shout] = ("_selected", "1")
    until = page.post(url, [*pairs, ("test_until", "shout")], htmx=True).text
    assert "Test run up to shout: completed." in until
    out_card = until[until.index('id="node-out"') :]
    assert "skipped" in out_card[: out_card.index("</fieldset>")]

    missing = page.post(url, [*replace(pairs, "inputs.text", ""), ("test_until", "")], htmx=True)
    assert missing.status_code == 422 and "Not run" in missing.text and "inputs.text" in missing.text
    broken = replace(pairs, "nodes[2].config.fields[0].template", "{{ ghost.value }}")
    refused = page.post(url, [*broken, ("test_until", "")], htmx=True)
    assert refused.status_code == 422 and "a draft runs only without problems" in refused.text
    plain = page.post(url, [*pairs, ("test_until", "")])  # without JavaScript: a page load
    assert plain.status_code == 303 and "Last test run" in page.get(plain.headers["Location"]).text


def panel(html: str) -> str:
    """The Test panel's part of an editor page."""
    start = html.index('id="test-panel"')
    return html[start : html.index("</details>", start)]


def test_a_draft_of_any_shape_kept_over_the_api_still_draws(page, app):
    """PUT /draft keeps arrays of anything: the editor draws such a draft, with its problems."""
    from tests.ui.conftest import in_app
    from webapp.services.drafts import save_draft

    workflow_id = create_workflow(app, page.user, echo_definition())
    odd = {
        "nodes": [
            {"id": ["a"], "type": "input", "config": {"fields": 5}},
            {"id": "b", "type": "ai_model", "config": {"prompt": "x", "provider": ["x"]}},
            {"id": "m", "type": "map", "config": {"items": "{{ a.urls }}", "node": {"type": "workflow"}}},
        ],
        "connections": [{"from": ["a"], "to": "b"}, {"from": "b", "to": ["m"]}, 7],
    }
    in_app(app, lambda u: save_draft(u, workflow_id, odd) and None, user_id=page.user.id)
    html = page.get(f"/workflows/{workflow_id}")
    assert html.status_code == 200 and "problem" in html.text

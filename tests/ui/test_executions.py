"""The run form, starting runs (background or wait), and the live execution page:
polling until the end, cancel, retry, and who may see an execution."""

from __future__ import annotations

import json
import re

from tests.definitions import echo_definition, model_definition, spec_example
from tests.ui.conftest import both_databases, create_workflow, in_app, run_and_wait
from tests.ui.forms import form_fields
from tests.waiting import eventually
from webapp.services.executions import own_execution

TYPED_INPUTS = {
    "nodes": [
        {
            "id": "in",
            "type": "input",
            "config": {
                "fields": [
                    {
                        "name": "title",
                        "type": "string",
                        "required": True,
                        "max_length": 80,
                        "description": "A short title",
                    },
                    {"name": "body", "type": "string"},
                    {"name": "tone", "type": "string", "enum": ["plain", "warm"], "default": "warm"},
                    {"name": "count", "type": "integer", "default": 2},
                    {"name": "ratio", "type": "number"},
                    {"name": "loud", "type": "boolean", "required": True},
                    {"name": "meta", "type": "object"},
                    {"name": "tags", "type": "array", "default": ["a"]},
                ]
            },
        },
        {
            "id": "out",
            "type": "output",
            "config": {"fields": {"all": "{{ in }}", "count": "{{ in.count }}", "loud": "{{ in.loud }}"}},
        },
    ],
    "connections": [{"from": "in", "to": "out"}],
}

database_url = both_databases  # these pages read queries that differ by database


def test_the_run_form_has_a_widget_per_input_type(page, app):
    workflow_id = create_workflow(app, page.user, TYPED_INPUTS, name="Typed")
    html = page.get(f"/workflows/{workflow_id}/run").text
    assert re.search(r'<input type="text" id="in-title" name="inputs.title"[^>]*maxlength="80"', html)
    assert '<textarea id="in-body" name="inputs.body"' in html
    assert '<select id="in-tone" name="inputs.tone"' in html and '<option value="warm" selected>' in html
    assert re.search(r'<input type="number" id="in-count" name="inputs.count" value="2" step="1"', html)
    assert re.search(r'<input type="number" id="in-ratio" name="inputs.ratio" value="" step="any"', html)
    assert '<select id="in-loud" name="inputs.loud"' in html
    assert '<textarea id="in-meta" name="inputs.meta"' in html and "[&#34;a&#34;]" in html
    assert html.count('<span class="req" aria-hidden="true">*</span>') == 2  # title and loud
    assert "A short title" in html and '<label for="in-title">' in html


def test_an_inputs_example_is_its_placeholder_never_its_value(page, app):
    definition = echo_definition()
    definition["nodes"][0]["config"]["fields"] = [
        {"name": "text", "type": "string", "example": "Our Q3 numbers are in"},
        {"name": "tags", "type": "array", "example": ["finance", "q3"]},
    ]
    workflow_id = create_workflow(app, page.user, definition, name="Examples")
    html = page.get(f"/workflows/{workflow_id}/run").text
    assert re.search(r'<textarea id="in-text"[^>]*placeholder="Our Q3 numbers are in"', html)
    assert re.search(r'<textarea id="in-tags"[^>]*placeholder="\[&#34;finance&#34;, &#34;q3&#34;\]"', html)
    assert dict(form_fields(html, "run-form"))["inputs.text"] == ""  # a placeholder posts nothing


def test_the_execution_page_lists_nodes_in_run_order_and_draws_the_editors_graph(page, app):
    definition = echo_definition()
    definition["nodes"].reverse()  # written output first: the run still starts at the input
    workflow_id = create_workflow(app, page.user, definition, name="Backwards")
    html = page.get(f"/executions/{run_and_wait(app, page.user, workflow_id, {'text': 'hi'})}").text
    assert re.findall(r'<details class="node-run [^"]*" id="run-(\w+)"', html) == ["in", "shout", "out"]
    width, height = map(
        float, re.search(r'<svg class="graph[^"]*"[^>]* viewBox="0 0 ([\d.]+) ([\d.]+)"', html).groups()
    )
    assert height > width  # top to bottom, as the editor draws it


def test_run_again_starts_from_the_runs_inputs(page, other_page, app):
    workflow_id = create_workflow(app, page.user, TYPED_INPUTS, name="Typed", public=True)
    given = {"title": "Again", "loud": False, "count": 7, "meta": {"k": [1, 2]}, "tags": ["x", "y"]}
    execution_id = run_and_wait(app, page.user, workflow_id, given)
    detail = page.get(f"/executions/{execution_id}").text
    again = re.search(r'href="([^"]*/run\?from=[^"]+)"[^>]*>Run again<', detail).group(1).replace("&amp;", "&")
    form = dict(page.form(again, "run-form"))
    assert (form["inputs.title"], form["inputs.loud"], form["inputs.count"]) == ("Again", "false", "7")
    assert json.loads(form["inputs.meta"]) == {"k": [1, 2]} and json.loads(form["inputs.tags"]) == ["x", "y"]
    assert form["inputs.tone"] == "warm"  # not given: its default, as in the run
    assert other_page.get(again).status_code == 404  # another user's run is not theirs to start from


def test_values_are_read_as_their_types(page, app):
    workflow_id = create_workflow(app, page.user, TYPED_INPUTS, name="Typed")
    response = page.post(
        f"/workflows/{workflow_id}/run",
        {
            "inputs.title": "Hi",
            "inputs.body": "",
            "inputs.tone": "plain",
            "inputs.count": "4",
            "inputs.ratio": "0.5",
            "inputs.loud": "true",
            "inputs.meta": '{"k": 1}',
            "inputs.tags": "",
            "mode": "wait",
        },
        htmx=True,
    )
    assert response.status_code == 200, response.text
    assert "completed" in response.text
    execution_id = re.search(r'href="/executions/(exec_\w+)"', response.text).group(1)
    body = in_app(app, lambda u: own_execution(u, execution_id).inputs, user_id=page.user.id)
    assert body == {
        "title": "Hi",
        "body": None,
        "tone": "plain",
        "count": 4,
        "ratio": 0.5,
        "loud": True,
        "meta": {"k": 1},
        "tags": ["a"],
    }


def test_a_lone_surrogate_in_a_json_field_is_an_error_next_to_it(page, app):
    workflow_id = create_workflow(app, page.user, TYPED_INPUTS, name="Typed")
    response = page.post(
        f"/workflows/{workflow_id}/run",
        {"inputs.title": "Hi", "inputs.loud": "true", "inputs.meta": '{"k": "\\udfff"}', "mode": "wait"},
        htmx=True,
    )
    assert response.status_code == 422
    assert re.search(r'id="pb-in-meta">[^<]*lone UTF-16 surrogate', response.text)


def test_input_problems_show_next_to_their_fields(page, app):
    workflow_id = create_workflow(app, page.user, TYPED_INPUTS, name="Typed")
    response = page.post(
        f"/workflows/{workflow_id}/run",
        {"inputs.title": "x" * 81, "inputs.count": "2.5", "inputs.meta": "{broken", "inputs.loud": "true"},
        htmx=True,
    )
    assert response.status_code == 422
    assert "not valid JSON" in response.text
    response = page.post(
        f"/workflows/{workflow_id}/run",
        {"inputs.title": "x" * 81, "inputs.count": "2.5", "inputs.loud": "", "mode": "background"},
        htmx=True,
    )
    assert response.status_code == 422
    html = response.text
    assert re.search(r'id="pb-in-title">[^<]*longer than 80', html)
    assert re.search(r'id="pb-in-count">[^<]*integer', html)
    assert re.search(r'id="pb-in-loud">[^<]*required', html)
    assert 'value="2.5"' in html  # what was typed stays
    assert page.get("/history").text.count("/executions/exec_") == 0  # nothing ran


def test_run_in_background_goes_to_the_live_page(page, app, model):
    workflow_id = create_workflow(app, page.user, model_definition(), name="Ask")
    response = page.post(
        f"/workflows/{workflow_id}/run", {"inputs.text": "hello [[latency=1.2]]", "mode": "background"}, htmx=True
    )
    assert response.status_code == 204
    location = response.headers["HX-Redirect"]
    assert location.startswith("/executions/exec_")
    live = page.get(location)
    assert live.status_code == 200
    assert 'hx-trigger="every 1s"' in live.text and "Cancel" in live.text
    assert re.search(r'data-status="(queued|running)"', live.text)

    def settled():
        fragment = page.get(location + "/live", htmx=True)
        assert 'data-status="completed"' in fragment.text or 'hx-trigger="every 1s"' in fragment.text
        return fragment if 'data-status="completed"' in fragment.text else None

    fragment = eventually(settled, timeout=15, interval=0.2, what="the live part to show the run completed")
    assert re.match(r'\s*(<title>[^<]*</title>)?<div id="live"', fragment.text)  # the part, with the tab's title
    assert "hx-trigger" not in re.search(r'<div id="live"[^>]*>', fragment.text).group(0)  # finished: no more polls
    assert "Echo: hello" in fragment.text and "Cancel" not in fragment.text


def test_run_and_wait_shows_the_result_in_place(page, app, model):
    workflow_id = create_workflow(app, page.user, echo_definition(), name="Shout")
    response = page.post(f"/workflows/{workflow_id}/run", {"inputs.text": "quiet", "mode": "wait"}, htmx=True)
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<section id="run-panel"')
    assert "QUIET" in response.text and "Open the execution" in response.text
    plain = page.post(f"/workflows/{workflow_id}/run", {"inputs.text": "quiet", "mode": "wait"})
    assert plain.status_code == 303 and plain.headers["Location"].startswith("/executions/")


def test_the_execution_page_shows_every_node(page, app, model):
    workflow_id = create_workflow(app, page.user, spec_example(), name="Copy")
    execution_id = run_and_wait(app, page.user, workflow_id, {"product": "a lamp"})
    html = page.get(f"/executions/{execution_id}").text
    assert "Completed" in html and "Copy" in html
    for node_id in ("in", "draft", "long", "short", "out"):
        assert f'id="run-{node_id}"' in html
    assert 'class="node t-processing s-skipped"' in html and 'class="node t-ai_model s-completed"' in html
    assert "Describe a lamp" in html and "You write marketing copy." in html  # the messages sent
    assert "tokens" in html and "$" in html
    assert "Echo: Describe a lamp" in html


def test_failed_executions_show_the_error_and_can_be_retried(page, app, model):
    workflow_id = create_workflow(app, page.user, model_definition(prompt="{{ in.text }}", retries=0), name="Flaky")
    execution_id = run_and_wait(app, page.user, workflow_id, {"text": "boom [[fail=1:500]]"})
    html = page.get(f"/executions/{execution_id}").text
    assert "Failed" in html and "Retry" in html and "alert-error" in html
    failed_row = html[html.index('id="run-gen"') :]
    assert '<p class="role-label">user</p>' in failed_row[: failed_row.index("</details>")]  # the prompt it sent
    assert "boom [[fail=1:500]]" in failed_row[: failed_row.index("</details>")]
    response = page.post(f"/executions/{execution_id}/retry", htmx=True)
    assert response.status_code == 204
    retried = response.headers["HX-Redirect"]
    assert retried != f"/executions/{execution_id}"
    html = eventually(
        lambda: page.get(retried).text,
        until=lambda text: 'data-status="completed"' in text,
        timeout=15,
        interval=0.2,
        what="the retry to complete",
    )
    assert "retry of" in html and execution_id in html


def test_cancel_stops_a_running_execution(page, app, model):
    workflow_id = create_workflow(app, page.user, model_definition(), name="Slow")
    response = page.post(f"/workflows/{workflow_id}/run", {"inputs.text": "wait [[latency=3]]"}, htmx=True)
    location = response.headers["HX-Redirect"]
    execution_id = location.rsplit("/", 1)[1]
    cancelled = page.post(f"/executions/{execution_id}/cancel", htmx=True)
    assert cancelled.status_code == 200
    assert 'data-status="cancelled"' in cancelled.text and "Retry" in cancelled.text
    again = page.post(f"/executions/{execution_id}/cancel", htmx=True)
    assert again.status_code == 409 and again.headers["HX-Retarget"] == "#flash"
    assert "already cancelled" in again.text


def test_a_completed_execution_cannot_be_retried(page, app, model):
    workflow_id = create_workflow(app, page.user, echo_definition())
    execution_id = run_and_wait(app, page.user, workflow_id, {"text": "x"})
    response = page.post(f"/executions/{execution_id}/retry", htmx=True)
    assert response.status_code == 409 and "alert-error" in response.text


def test_another_users_execution_is_not_found(page, other_page, app, model):
    shared = create_workflow(app, other_page.user, echo_definition(), name="Shared", public=True)
    execution_id = run_and_wait(app, other_page.user, shared, {"text": "bob's input"})
    for path in (f"/executions/{execution_id}", f"/executions/{execution_id}/live"):
        response = page.get(path)
        assert response.status_code == 404 and "bob&#39;s input" not in response.text, path
    for path in (f"/executions/{execution_id}/cancel", f"/executions/{execution_id}/retry"):
        assert page.post(path, htmx=True).status_code == 404, path
    assert "bob" not in page.get("/history").text.lower()


def test_running_someone_elses_public_workflow_is_my_execution(page, other_page, app, model):
    shared = create_workflow(app, other_page.user, echo_definition(), name="Shared", public=True)
    response = page.post(f"/workflows/{shared}/run", {"inputs.text": "mine", "mode": "wait"}, htmx=True)
    assert response.status_code == 200 and "MINE" in response.text
    execution_id = re.search(r'href="/executions/(exec_\w+)"', response.text).group(1)
    assert page.get(f"/executions/{execution_id}").status_code == 200
    assert other_page.get(f"/executions/{execution_id}").status_code == 404


def test_the_run_form_posts_with_the_token(page, app):
    workflow_id = create_workflow(app, page.user, echo_definition())
    names = {name for name, _ in page.form(f"/workflows/{workflow_id}/run", "run-form")}
    assert names == {"csrf_token", "inputs.text"}
    html = page.get(f"/workflows/{workflow_id}/run").text
    assert 'name="mode" value="background"' in html and 'name="mode" value="wait"' in html
    assert form_fields(html, "run-form")[0][0] == "csrf_token"


def test_a_map_lists_its_items_and_a_workflow_node_links_its_child(page, app, model):
    child = create_workflow(app, page.user, model_definition("Echo {{ in.text }}"), name="Child")
    definition = {
        "nodes": [
            {"id": "in", "type": "input", "config": {"fields": [{"name": "list", "type": "array"}]}},
            {
                "id": "each",
                "type": "map",
                "config": {
                    "items": "{{ in.list }}",
                    "node": {"type": "processing", "config": {"operation": "json_parse", "input": "{{ item }}"}},
                    "on_item_error": "skip",
                },
            },
            {"id": "sub", "type": "workflow", "config": {"workflow_id": child, "inputs": {"text": "hi"}}},
            {
                "id": "out",
                "type": "output",
                "config": {"fields": {"n": "{{ each.values | length }}", "s": "{{ sub.outputs }}"}},
            },
        ],
        "connections": [
            {"from": "in", "to": "each"},
            {"from": "in", "to": "sub"},
            {"from": "each", "to": "out"},
            {"from": "sub", "to": "out"},
        ],
    }
    parent = create_workflow(app, page.user, definition, name="Parent")
    execution_id = run_and_wait(app, page.user, parent, {"list": ["[1]", "oops"]})
    html = page.get(f"/executions/{execution_id}").text
    items = re.search(r'<table class="table compact map-items">(.*?)</table>', html, re.S).group(1)
    assert items.count("<tr>") == 3 and "status-completed" in items and "status-failed" in items
    assert "the model did not answer with valid JSON" in items  # the failed item's error, in its row
    child_id = re.search(r'Child execution</dt><dd><a class="mono" href="/executions/(exec_\w+)"', html).group(1)
    assert "Child executions" in html and f'href="/executions/{child_id}"' in html
    child_page = page.get(f"/executions/{child_id}").text
    assert f'run by a workflow node of <a href="/executions/{execution_id}"' in child_page


def test_the_run_form_focuses_its_first_field(page, app):
    workflow_id = create_workflow(app, page.user, spec_example())
    fields = re.findall(
        r"<(?:input|textarea|select) [^>]*name=\"inputs\.[^>]*>", page.get(f"/workflows/{workflow_id}/run").text
    )
    assert fields and "autofocus" in fields[0] and all("autofocus" not in f for f in fields[1:])


def test_a_running_executions_header_counts_its_finished_nodes_and_the_tab_title_follows(page, app, model):
    definition = {
        "nodes": [
            {"id": "in", "type": "input", "config": {"fields": [{"name": "text", "type": "string"}]}},
            {"id": "quick", "type": "ai_model", "config": {"prompt": "{{ in.text }}", "cache": False}},
            {"id": "slow", "type": "ai_model", "config": {"prompt": "[[latency=3]] {{ quick.text }}", "cache": False}},
            {"id": "out", "type": "output", "config": {"fields": {"a": "{{ slow.text }}"}}},
        ],
        "connections": [{"from": "in", "to": "quick"}, {"from": "quick", "to": "slow"}, {"from": "slow", "to": "out"}],
    }
    workflow_id = create_workflow(app, page.user, definition, name="Two calls")
    response = page.post(f"/workflows/{workflow_id}/run", {"inputs.text": "hello there"}, htmx=True)
    execution_id = response.headers["HX-Redirect"].rsplit("/", 1)[1]
    slow_running = re.compile(r'id="run-slow".*?status-running">running', re.S)  # quick has finished by then

    def live_part() -> str:
        return page.get(f"/executions/{execution_id}/live", htmx=True).text

    live = eventually(live_part, until=slow_running.search, what="slow to run")
    quick = in_app(app, lambda u: own_execution(u, execution_id).nodes[1].total_tokens, user_id=page.user.id)
    tokens = re.search(r'Tokens</span><span class="stat-value">([\d,]+)<', live).group(1)
    assert quick and int(tokens.replace(",", "")) == quick  # not 0 while the run goes on
    assert live.startswith("<title>Execution running · Two calls") or "<title>Execution running · Two calls" in live
    live = eventually(
        live_part,
        until=lambda text: 'data-status="completed"' in text,
        timeout=20,
        what="the run to complete",
    )
    assert "<title>Execution completed · Two calls" in live
    assert page.get(f"/executions/{execution_id}").text.count("<title>Execution completed") == 1  # the page's own


def test_an_agent_shows_its_steps_as_a_timeline_with_its_childs_link(page, app, model):
    child = create_workflow(app, page.user, model_definition("Echo {{ in.text }}"), name="Echoer")
    prompt = '[[call=echo {"text": "hi"}]] [[call=echo {"text": 3}]] {{ in.text }}'
    definition = {
        "nodes": [
            {"id": "in", "type": "input", "config": {"fields": [{"name": "text", "type": "string"}]}},
            {
                "id": "agent",
                "type": "agent",
                "config": {
                    "prompt": prompt,
                    "tools": [{"name": "echo", "description": "Echoes", "workflow_id": child}],
                },
            },
            {"id": "out", "type": "output", "config": {"fields": {"a": "{{ agent.text }}"}}},
        ],
        "connections": [{"from": "in", "to": "agent"}, {"from": "agent", "to": "out"}],
    }
    parent = create_workflow(app, page.user, definition, name="Agent")
    execution_id = run_and_wait(app, page.user, parent, {"text": "go"})
    html = page.get(f"/executions/{execution_id}").text
    steps = re.search(r'<ol class="agent-steps">(.*?)</ol>', html, re.S).group(1)
    assert steps.count('<li class="agent-step') == 2
    assert "s-completed" in steps and "s-failed" in steps and "&#39;text&#39; must be a string" in steps
    child_id = re.search(r'href="/executions/(exec_\w+)">exec_', steps).group(1)
    assert f'href="/executions/{child_id}"' in steps
    assert "Echo hi" in steps  # the child's outputs, as the step's result
    assert "<code>echo</code> · workflow" in html  # the tool list, in the node's input


def test_a_failed_agent_still_shows_the_steps_it_made(page, app, model):
    child = create_workflow(app, page.user, model_definition("Echo {{ in.text }}"), name="Echoer")
    prompt = '[[call=echo {"text": "one"}]] [[call=echo {"text": "two"}]] {{ in.text }}'
    tools = [{"name": "echo", "workflow_id": child}]
    definition = {
        "nodes": [
            {"id": "in", "type": "input", "config": {"fields": [{"name": "text", "type": "string"}]}},
            {"id": "agent", "type": "agent", "config": {"prompt": prompt, "tools": tools, "max_steps": 1}},
            {"id": "out", "type": "output", "config": {"fields": {"a": "{{ agent.text }}"}}},
        ],
        "connections": [{"from": "in", "to": "agent"}, {"from": "agent", "to": "out"}],
    }
    execution_id = run_and_wait(app, page.user, create_workflow(app, page.user, definition), {"text": "go"})
    html = page.get(f"/executions/{execution_id}").text
    assert "resource_limit" in html and "max_steps is 1" in html
    steps = re.search(r'<ol class="agent-steps">(.*?)</ol>', html, re.S).group(1)
    assert steps.count('<li class="agent-step') == 1 and "Echo one" in steps


def test_debug_in_the_editor_fills_the_test_panel_with_the_runs_inputs(page, other_page, app):
    workflow_id = create_workflow(app, page.user, TYPED_INPUTS, name="Typed", public=True)
    given = {"title": "Debug me", "loud": True, "count": 3}
    execution_id = run_and_wait(app, page.user, workflow_id, given)
    detail = page.get(f"/executions/{execution_id}").text
    debug = re.search(r'href="([^"]*\?test_from=[^"]+)"[^>]*>Debug in the editor<', detail).group(1)
    assert debug.endswith("#test-panel")
    html = page.get(debug.replace("&amp;", "&").partition("#")[0]).text
    assert re.search(r'<details class="card test-panel" id="test-panel" open>', html)
    form = dict(page.form(debug.replace("&amp;", "&").partition("#")[0], "editor-form"))
    assert (form["inputs.title"], form["inputs.loud"], form["inputs.count"]) == ("Debug me", "true", "3")
    assert page.get(f"/workflows/{workflow_id}?test_from=exec_none").status_code == 404
    seen_by_other = other_page.get(debug.replace("&amp;", "&"))  # a public workflow: its page, not the run's inputs
    assert seen_by_other.status_code == 200 and "Debug me" not in seen_by_other.text
    # Someone else's run of a public workflow: Run again, but no editor of theirs to debug in.
    theirs = run_and_wait(app, other_page.user, workflow_id, given)
    assert "Debug in the editor" not in other_page.get(f"/executions/{theirs}").text

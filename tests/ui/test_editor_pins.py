"""The Test panel's pinned outputs and its live runs: *Pin this output* beside a node's
last test output and *Unpin* (kept on the draft, owner only, with and without htmx), the
next test runs taking the pin (the node does not run), pins of removed nodes dropped, a pin
that no longer fits its node shown as a problem; and a run still going answered as it
stands, with its events' address, then drawn with its results once it has ended, or
cancelled from the panel."""

from __future__ import annotations

import copy
import re
import time

from tests.definitions import echo_definition, model_definition
from tests.ui.conftest import create_workflow, in_app
from tests.ui.test_editor import editor_form, panel, replace
from webapp.extensions import db
from webapp.models import Execution, WorkflowDraft


def run_test(page, workflow_id: str, pairs, until: str = ""):
    return page.post(f"/workflows/{workflow_id}/editor/test", [*pairs, ("test_until", until)], htmx=True)


def pins_post(page, workflow_id: str, pairs, **which):
    """Pin (``pin_node=``) or Unpin (``unpin_node=``) as the editor form's button posts it."""
    return page.post(f"/workflows/{workflow_id}/editor/pins", [*pairs, *which.items()], htmx=True)


def stored_pins(app, workflow_id: str):
    with app.app_context():
        return db.session.get(WorkflowDraft, workflow_id).pins


def newest_run(app, workflow_id: str) -> Execution:
    with app.app_context():
        run = db.session.query(Execution).filter_by(workflow_id=workflow_id).order_by(Execution.created_at.desc())
        found = run.first()
        assert found.nodes  # loaded while the session is open
        db.session.expunge(found)
        return found


def card(html: str, node_id: str) -> str:
    """A node's card in the editor's panel."""
    start = html.index(f'id="node-{node_id}"')
    return html[start : html.index("</fieldset>", start)]


def after_a_test_run(page, app, workflow_id: str, text: str = "Hello There"):
    """The editor form of ``workflow_id`` after a test run with ``text``: its answer, and the form."""
    pairs = replace(editor_form(page, workflow_id), "inputs.text", text)
    tested = run_test(page, workflow_id, pairs)
    assert tested.status_code == 200 and "Test run: completed." in tested.text, tested.text
    return tested.text, pairs


def test_a_nodes_last_output_is_pinned_and_the_next_test_runs_take_it_until_unpinned(page, app):
    workflow_id = create_workflow(app, page.user, echo_definition(), name="Pinned")
    html, pairs = after_a_test_run(page, app, workflow_id)
    assert 'name="pin_node" value="shout"' in card(html, "shout")  # beside its last output
    assert "pin_node" not in card(html, "in") and "pin_node" not in card(html, "out")  # nothing to pin there

    pinned = pins_post(page, workflow_id, pairs, pin_node="shout")
    assert pinned.status_code == 200 and "Pinned the output of shout" in pinned.text
    assert stored_pins(app, workflow_id) == {"shout": {"value": "HELLO THERE"}}
    shout = card(pinned.text, "shout")
    assert 'id="pin-toggle-1" name="unpin_node" value="shout"' in shout  # the same button's place: the focus stays
    assert "Test runs of the draft take this output" in shout
    assert "Pinned outputs" in panel(pinned.text) and 'name="unpin_node" value="shout"' in panel(pinned.text)
    assert re.search(r'data-node="shout"><g class="node t-processing[^"]*is-pinned"', pinned.text)  # on the graph

    lowered = replace(replace(pairs, "nodes[1].config.operation", "lowercase"), "inputs.text", "Other Words")
    again = run_test(page, workflow_id, lowered)
    assert again.status_code == 200 and "Test run: completed." in again.text
    run = newest_run(app, workflow_id)
    shout_row = next(row for row in run.nodes if row.node_id == "shout")
    assert shout_row.pinned and run.outputs == {"result": "HELLO THERE"}  # the pin, not "other words"
    assert "given its pinned output" in card(again.text, "shout")
    assert re.search(r'<g class="node t-processing s-completed is-pinned" data-node="shout">', panel(again.text))

    unpinned = pins_post(page, workflow_id, lowered, unpin_node="shout")
    assert unpinned.status_code == 200 and "Unpinned shout" in unpinned.text
    assert stored_pins(app, workflow_id) is None and "Pinned outputs" not in panel(unpinned.text)
    assert run_test(page, workflow_id, lowered).status_code == 200
    assert newest_run(app, workflow_id).outputs == {"result": "other words"}  # it runs again


def test_pins_are_the_owners_and_only_of_an_output_the_last_test_run_gave(page, app, other_page):
    workflow_id = create_workflow(app, page.user, echo_definition(), public=True)
    pairs = replace(editor_form(page, workflow_id), "inputs.text", "hi")
    nothing_yet = pins_post(page, workflow_id, pairs, pin_node="shout")  # no test run yet
    assert nothing_yet.status_code == 422 and "Not pinned: the last test run has no output" in nothing_yet.text
    after_a_test_run(page, app, workflow_id)
    for refused in ("in", "out", "ghost"):  # an input's or an output's, a node the draft does not have
        answer = pins_post(page, workflow_id, pairs, pin_node=refused)
        assert answer.status_code == 422 and "Not pinned" in answer.text
    assert stored_pins(app, workflow_id) is None

    assert pins_post(page, workflow_id, pairs, pin_node="shout").status_code == 200
    theirs = [(k, v) for k, v in pairs if k != "csrf_token"]
    private = create_workflow(app, page.user, echo_definition())
    for which in ({"pin_node": "shout"}, {"unpin_node": "shout"}):  # someone else: as every edit of it
        assert pins_post(other_page, workflow_id, theirs, **which).status_code == 403  # public: seen, not theirs
        assert pins_post(other_page, private, theirs, **which).status_code == 404
    assert stored_pins(app, workflow_id) == {"shout": {"value": "HELLO THERE"}}
    assert "Pinned outputs" not in other_page.get(f"/workflows/{workflow_id}").text


def test_pinning_and_unpinning_without_javascript_are_form_posts(page, app):
    workflow_id = create_workflow(app, page.user, echo_definition())
    after_a_test_run(page, app, workflow_id)
    pairs = editor_form(page, workflow_id)
    plain = page.post(f"/workflows/{workflow_id}/editor/pins", [*pairs, ("pin_node", "shout")])
    assert plain.status_code == 303
    shown = page.get(plain.headers["Location"]).text
    assert "Pinned the output of shout" in shown and "Pinned outputs" in panel(shown)
    tokenless = [(k, v) for k, v in editor_form(page, workflow_id) if k != "csrf_token"]
    refused = page.post(f"/workflows/{workflow_id}/editor/pins", [*tokenless, ("unpin_node", "shout")], token=False)
    assert refused.status_code == 400 and stored_pins(app, workflow_id) is not None  # CSRF
    form = editor_form(page, workflow_id)
    plain = page.post(f"/workflows/{workflow_id}/editor/pins", [*form, ("unpin_node", "shout")])
    assert plain.status_code == 303 and stored_pins(app, workflow_id) is None


def test_a_pin_of_a_removed_node_is_dropped_and_one_that_no_longer_fits_is_a_problem(page, app):
    from webapp.services.drafts import save_draft

    workflow_id = create_workflow(app, page.user, echo_definition())
    _, pairs = after_a_test_run(page, app, workflow_id)
    pins_post(page, workflow_id, pairs, pin_node="shout")

    # The node's id now names a condition: the pin is not what a condition gives.
    changed = echo_definition()
    changed["nodes"][1] = {"id": "shout", "type": "conditional", "config": {"condition": "in.text != ''"}}
    changed["nodes"][2]["config"]["fields"] = {"result": "{{ in.text }}"}
    changed["connections"] = [{"from": "in", "to": "shout"}, {"from": "shout", "to": "out", "branch": "true"}]
    in_app(app, lambda u: save_draft(u, workflow_id, changed) and None, user_id=page.user.id)
    html = page.get(f"/workflows/{workflow_id}").text
    assert "No longer fits shout: a condition" in panel(html)
    assert "It no longer fits shout" in card(html, "shout")
    form = replace(editor_form(page, workflow_id), "inputs.text", "x")
    refused = run_test(page, workflow_id, form)
    assert refused.status_code == 422 and "Not run: pinned.shout: a condition" in refused.text
    assert stored_pins(app, workflow_id) == {"shout": {"value": "HELLO THERE"}}  # kept: Unpin is the way out

    # The node is gone from the draft: its pin is not given, and not kept.
    gone = copy.deepcopy(changed)
    gone["nodes"].pop(1)
    gone["connections"] = [{"from": "in", "to": "out"}]
    in_app(app, lambda u: save_draft(u, workflow_id, gone) and None, user_id=page.user.id)
    assert "Pinned outputs" not in panel(page.get(f"/workflows/{workflow_id}").text)
    ran = run_test(page, workflow_id, replace(editor_form(page, workflow_id), "inputs.text", "x"))
    assert ran.status_code == 200 and "Test run: completed." in ran.text
    assert stored_pins(app, workflow_id) is None


def test_a_run_still_going_is_answered_as_it_stands_and_drawn_with_its_results_once_ended(page, app):
    definition = model_definition("[[latency=1.5]] [[reply=Slow and steady]] {{ in.text }}")
    workflow_id = create_workflow(app, page.user, definition)
    pairs = replace(editor_form(page, workflow_id), "inputs.text", "go")
    going = run_test(page, workflow_id, pairs)
    assert going.status_code == 200 and "Test run: still running." in going.text
    result = panel(going.text)
    events = re.search(r'data-events="/executions/(exec_\w+)/events"', result)
    assert events and 'hx-trigger="execution-finished"' in result
    execution_id = events.group(1)
    assert re.search(r'<g class="node t-ai_model s-running" data-node="gen">', result)  # as it stands
    assert 'data-streamed-text="gen"' in result and 'data-node-status="gen">running<' in result
    deadline = time.monotonic() + 15
    while newest_run(app, workflow_id).status in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.1)
    ended = page.post(f"/workflows/{workflow_id}/editor/test/{execution_id}", pairs, htmx=True)
    assert ended.status_code == 200 and "Test run: completed." in ended.text
    assert "data-events" not in panel(ended.text) and "Slow and steady" in card(ended.text, "gen")
    assert page.post(f"/workflows/{workflow_id}/editor/test/exec_nothere", pairs, htmx=True).status_code == 404


def test_a_test_run_still_going_can_be_cancelled_from_the_panel(page, app):
    workflow_id = create_workflow(app, page.user, model_definition("[[latency=5]] {{ in.text }}"))
    pairs = replace(editor_form(page, workflow_id), "inputs.text", "go")
    going = run_test(page, workflow_id, pairs)
    execution_id = newest_run(app, workflow_id).id
    cancel = f"/workflows/{workflow_id}/editor/test/{execution_id}/cancel"
    assert f'id="test-cancel" formaction="{cancel}"' in panel(going.text)
    cancelled = page.post(cancel, pairs, htmx=True)
    assert cancelled.status_code == 200 and "Test run: cancelled." in cancelled.text
    assert "test-cancel" not in cancelled.text and newest_run(app, workflow_id).status == "cancelled"
    again = page.post(cancel, pairs)  # ended already; without JavaScript: back to the page
    assert again.status_code == 303 and "Test run: cancelled." in page.get(again.headers["Location"]).text


def test_the_pins_together_are_held_to_what_one_request_could_carry(page, app):
    workflow_id = create_workflow(app, page.user, echo_definition(), name="Big pins")
    _, pairs = after_a_test_run(page, app, workflow_id, text="x" * 400)
    app.config["MAX_CONTENT_LENGTH"] = 10_000  # the forms posted here are smaller; the pins would not be
    try:
        assert pins_post(page, workflow_id, pairs, pin_node="shout").status_code == 200
        with app.app_context():  # as if other nodes' outputs were pinned before
            draft = db.session.get(WorkflowDraft, workflow_id)
            draft.pins = {**draft.pins, "earlier": {"value": "y" * 9_700}}
            db.session.commit()
        refused = pins_post(page, workflow_id, pairs, pin_node="shout")
        assert "Not pinned: the pinned outputs together are" in refused.text
        assert set(stored_pins(app, workflow_id)) == {"shout", "earlier"}  # as they were
    finally:
        app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024


def test_unpinning_what_is_not_pinned_says_so(page, app):
    workflow_id = create_workflow(app, page.user, echo_definition(), name="Nothing pinned")
    _, pairs = after_a_test_run(page, app, workflow_id)
    answer = pins_post(page, workflow_id, pairs, unpin_node="shout" + "x" * 5000)
    assert "has no pinned output" in answer.text and "x" * 100 not in answer.text  # clipped
    assert stored_pins(app, workflow_id) is None

"""Rough edges of the pages, each at its cause (issue 16, items 9 and 10)."""

from __future__ import annotations

import re

from tests.definitions import echo_definition, model_definition
from tests.ui.conftest import create_workflow, in_app, run_and_wait
from webapp.services import workflows


def test_a_new_account_is_welcomed_not_welcomed_back(page, app):
    assert "<h1>Welcome</h1>" in page.get("/").text
    create_workflow(app, page.user, echo_definition())
    assert "<h1>Welcome back</h1>" in page.get("/").text


def test_the_history_filter_leaves_out_deleted_workflows_never_run(page, app):
    kept = create_workflow(app, page.user, echo_definition(), name="Mood router")
    for _ in range(3):  # made and deleted, never run
        doomed = create_workflow(app, page.user, echo_definition(), name="Mood router")
        in_app(app, lambda u, w=doomed: workflows.delete_workflow(u, w), user_id=page.user.id)
    ran = create_workflow(app, page.user, echo_definition(), name="Old report")
    run_and_wait(app, page.user, ran, {"text": "x"})
    in_app(app, lambda u: workflows.delete_workflow(u, ran), user_id=page.user.id)
    options = re.findall(r'<option value="(wf_\w+)"[^>]*>([^<]+)</option>', page.get("/history").text)
    assert options == [(kept, "Mood router"), (ran, "Old report (deleted)")]


def test_the_audit_log_names_workflows_and_links_only_live_ones(page, app):
    live = create_workflow(app, page.user, echo_definition(), name="Still here")
    gone = create_workflow(app, page.user, echo_definition(), name="Gone now")
    in_app(app, lambda u: workflows.delete_workflow(u, gone), user_id=page.user.id)
    html = page.get("/audit").text
    assert f'<a href="/workflows/{live}">Still here</a>' in html
    assert 'Gone now <span class="muted small">(deleted)</span>' in html and f'href="/workflows/{gone}"' not in html


def test_a_failed_run_links_to_its_retry(page, app, model):
    workflow_id = create_workflow(app, page.user, model_definition(prompt="{{ in.text }}", retries=0))
    failed = run_and_wait(app, page.user, workflow_id, {"text": "boom [[fail=1:500]]"})
    retry = page.post(f"/executions/{failed}/retry", htmx=True).headers["HX-Redirect"].rsplit("/", 1)[1]
    assert f'retried as <a href="/executions/{retry}"' in page.get(f"/executions/{failed}").text
    assert f'<a class="badge" href="/executions/{retry}">retried:' in page.get("/history").text


def test_a_private_workflow_has_no_rating_card(page, app):
    private = create_workflow(app, page.user, echo_definition())
    public = create_workflow(app, page.user, echo_definition(), public=True)
    assert "<h2>Rating</h2>" not in page.get(f"/workflows/{private}").text
    assert "<h2>Rating</h2>" in page.get(f"/workflows/{public}").text


def test_run_and_wait_tells_the_recent_runs_to_refresh(page, app, model):
    workflow_id = create_workflow(app, page.user, model_definition())
    html = page.get(f"/workflows/{workflow_id}/run").text
    assert 'id="recent-runs"' in html and 'hx-trigger="runs-changed from:body"' in html and "None yet" in html
    answer = page.post(f"/workflows/{workflow_id}/run", {"inputs.text": "hi", "mode": "wait"}, htmx=True)
    assert "runs-changed" in answer.headers["HX-Trigger"]
    refreshed = page.get(f"/workflows/{workflow_id}/runs/recent", htmx=True).text
    assert refreshed.startswith('<aside class="card" id="recent-runs"') and "None yet" not in refreshed
    assert 'hx-disabled-elt="find button[type=submit]"' in html  # "Run and wait" is off while it runs


def test_a_wide_graph_scrolls_at_a_readable_size_and_says_so():
    from webapp.ui.graph import FITS_WIDTH, MIN_SCALE, render_graph

    # Drawn top to bottom, a graph is wide when it fans out: one input into 12 steps side by side.
    chain = [{"id": f"n{i}", "type": "processing"} for i in range(12)]
    fan = [{"id": "src", "type": "input"}, *chain]
    wide = str(render_graph({"nodes": fan, "connections": [{"from": "src", "to": n["id"]} for n in chain]}))
    view_width = int(re.search(r'viewBox="0 0 (\d+) ', wide).group(1))
    drawn_width = int(re.search(r'<svg class="graph graph-wide"[^>]* width="(\d+)"', wide).group(1))
    assert view_width > FITS_WIDTH and drawn_width / view_width >= MIN_SCALE - 0.01  # titles stay ≥ 10 px
    assert "scroll sideways" in wide
    small = str(render_graph({"nodes": chain[:3], "connections": []}))
    assert "graph-wide" not in small and "scroll sideways" not in small

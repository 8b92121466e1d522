"""Pages as a whole: the dashboard, error pages, page-or-fragment, and markup the
Content-Security-Policy would break (inline scripts, styles, event handlers)."""

from __future__ import annotations

import re

from tests.definitions import echo_definition, spec_example
from tests.ui.conftest import add_template, create_workflow, run_and_wait

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
INLINE_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.I)
STYLE_ATTRIBUTE = re.compile(r"<[^>]+\sstyle\s*=", re.I)
HTMX_EVAL = re.compile(r"hx-on[:-]|hx-vars|js:|javascript:", re.I)


def assert_csp_clean(html: str, where: str) -> None:
    assert not INLINE_SCRIPT.search(html), f"inline <script> on {where}"
    assert "<style" not in html.lower(), f"inline <style> on {where}"
    assert not STYLE_ATTRIBUTE.search(html), f"style= attribute on {where}"
    assert not INLINE_HANDLER.search(html), f"inline event handler on {where}"
    assert not HTMX_EVAL.search(html), f"htmx feature needing eval on {where}"


def test_dashboard_for_a_new_user_points_to_templates(page, app):
    add_template(app, spec_example(), name="Product copy")
    response = page.get("/")
    assert response.status_code == 200
    assert "No workflows yet" in response.text and "Browse templates" in response.text
    assert "Product copy" in response.text  # a suggestion


def test_dashboard_shows_recent_runs_and_totals(page, app):
    workflow_id = create_workflow(app, page.user, echo_definition(), name="Shouter")
    run_and_wait(app, page.user, workflow_id, {"text": "hi"})
    html = page.get("/").text
    assert "Shouter" in html and "completed" in html
    assert 'class="stat-value">1</span>' in html  # one workflow, one run


def test_every_page_is_free_of_inline_code(page, app, model):
    template_id = add_template(app, spec_example())
    workflow_id = create_workflow(app, page.user, spec_example(), name="Copy")
    execution_id = run_and_wait(app, page.user, workflow_id, {"product": "a lamp"})
    for path in (
        "/",
        "/templates",
        f"/templates/{template_id}",
        "/workflows",
        "/workflows/new",
        f"/workflows/{workflow_id}",
        f"/workflows/{workflow_id}/run",
        f"/executions/{execution_id}",
        "/history",
        "/usage",
        "/settings",
        "/audit",
    ):
        response = page.get(path)
        assert response.status_code == 200, path  # a real page: a 404 here would check nothing
        assert_csp_clean(response.text, path)
        assert "Content-Security-Policy" in response.headers
    missing = page.get("/nope")
    assert missing.status_code == 404  # and the error page is held to the same rules
    assert_csp_clean(missing.text, "/nope")
    assert "Content-Security-Policy" in missing.headers


def test_the_login_page_is_clean_too(client):
    assert_csp_clean(client.get("/login").text, "/login")
    assert_csp_clean(client.get("/register").text, "/register")


def test_pages_load_htmx_pinned_and_configured_without_eval(page):
    html = page.get("/").text
    assert "/static/vendor/htmx-2.0.11.min.js" in html
    config = re.search(r'<meta name="htmx-config" content="([^"]+)"', html).group(1).replace("&#34;", '"')
    assert '"allowEval": false' in config and '"includeIndicatorStyles": false' in config
    assert '"allowScriptTags": false' in config
    assert page.get("/static/vendor/htmx-2.0.11.min.js").status_code == 200
    assert page.get("/static/app.js").status_code == 200
    assert page.get("/static/app.css").status_code == 200


def test_an_unknown_page_is_a_404_in_the_site_style(page):
    response = page.get("/no/such/page")
    assert response.status_code == 404
    assert "error-page" in response.text and "Go to the dashboard" in response.text
    assert "HX-Request" in response.headers["Vary"]


def test_error_pages_look_the_same_for_visitors(client):
    response = client.get("/static/nope.css")
    assert response.status_code == 404 and "error-page" in response.text and "Sign in" in response.text


def test_an_htmx_error_lands_in_the_message_area(page):
    response = page.get("/workflows/wf_missing", htmx=True)
    assert response.status_code == 404
    assert response.headers["HX-Retarget"] == "#flash" and response.headers["HX-Reswap"] == "innerHTML"
    assert 'class="alert alert-error"' in response.text and "<html" not in response.text


def test_a_500_is_a_page_not_a_traceback(page, app, monkeypatch):
    from webapp.services import workflows

    def broken(*args, **kwargs):
        raise RuntimeError("database on fire")

    monkeypatch.setattr(workflows, "list_workflows", broken)
    response = page.get("/workflows")
    assert response.status_code == 500
    assert "Something went wrong" in response.text and "database on fire" not in response.text
    fragment = page.get("/workflows", htmx=True)
    assert fragment.status_code == 500 and fragment.headers["HX-Retarget"] == "#flash"


def test_fragments_and_pages_vary_on_hx_request(page):
    for path in ("/workflows", "/templates", "/history", "/usage", "/audit", "/settings"):
        whole = page.get(path)
        part = page.get(path, htmx=True)
        assert whole.status_code == part.status_code == 200, path
        assert "HX-Request" in whole.headers["Vary"] and "HX-Request" in part.headers["Vary"], path
        assert "<html" in whole.text and "<html" not in part.text, path


def test_a_history_restore_gets_the_whole_page(page):
    response = page.get("/workflows", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert "<html" in response.text


def test_navigation_marks_the_current_section(page):
    html = page.get("/history").text
    assert '<a href="/history" aria-current="page">History</a>' in html
    assert '<a href="/settings">Settings</a>' in html  # settings in the nav, not behind one's email
    for path in ("/settings", "/audit"):
        assert '<a href="/settings" aria-current="page">Settings</a>' in page.get(path).text


def _luminance(colour: str) -> float:
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(one: str, two: str) -> float:
    high, low = sorted((_luminance(one), _luminance(two)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_focus_rings_stand_out_by_at_least_3_to_1():
    """WCAG 2.2 (1.4.11): a focus indicator needs 3:1 against what surrounds it."""
    from pathlib import Path

    css = (Path(__file__).parents[2] / "static" / "app.css").read_text()
    focus = re.search(r"--focus: (#[0-9a-f]{6})", css).group(1)
    on_dark = re.search(r"--focus-on-dark: (#[0-9a-f]{6})", css).group(1)
    topbar = re.search(r"\.topbar \{ background: (#[0-9a-f]{6})", css).group(1)
    assert _contrast(focus, "#ffffff") >= 3 and _contrast(on_dark, topbar) >= 3
    assert "rgba(79, 70, 229, .45)" not in css  # the old 2.1:1 ring is gone everywhere
    assert re.search(r"input:focus-visible[^{]*\{ outline: 3px solid var\(--focus\)", css)

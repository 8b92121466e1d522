"""Model output is data: escaped as text, sanitised as markdown, inside containers
htmx ignores. (The browser test proves nothing runs; these check the markup.)"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from tests.ui.conftest import both_databases, create_workflow, run_and_wait

PAYLOAD = (
    '<img src=x onerror="window.pwned=1"> <script>window.pwned=2</script> '
    '<a href="javascript:window.pwned=3">link</a> <b hx-get="/settings" hx-trigger="load">bold</b> '
    "**strong** [ok](https://example.org)"
)

database_url = both_databases  # these pages read queries that differ by database


def two_outputs() -> dict:
    return {
        "nodes": [
            {"id": "in", "type": "input", "config": {"fields": [{"name": "text", "type": "string"}]}},
            {"id": "gen", "type": "ai_model", "config": {"prompt": "{{ in.text }}"}},
            {"id": "plain", "type": "output", "config": {"fields": {"answer": "{{ gen.text }}"}}},
            {"id": "rich", "type": "output", "config": {"template": "{{ gen.text }}", "format": "markdown"}},
        ],
        "connections": [{"from": "in", "to": "gen"}, {"from": "gen", "to": "plain"}, {"from": "gen", "to": "rich"}],
    }


class Elements(HTMLParser):
    """Every element the browser would build from a page, with its attributes."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, dict]] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, dict(attrs)))


def assert_nothing_active(html: str) -> None:
    for tag, attributes in Elements(html).found:
        assert tag not in ("iframe", "object", "embed"), tag
        assert tag not in ("script", "img") or attributes.get("src", "").startswith("/static/"), attributes
        assert not any(name.startswith("on") for name in attributes), (tag, attributes)
        assert not attributes.get("href", "").lower().startswith("javascript"), attributes
        assert attributes.get("hx-get") != "/settings" and attributes.get("hx-trigger") != "load", attributes


def test_text_is_escaped_and_markdown_is_sanitised(page, app, model):
    model.reply_when("attack", PAYLOAD)
    workflow_id = create_workflow(app, page.user, two_outputs(), name="Hostile")
    execution_id = run_and_wait(app, page.user, workflow_id, {"text": "attack"})
    html = page.get(f"/executions/{execution_id}").text
    assert "<script>window.pwned" not in html and "<img src=x" not in html
    assert "&lt;script&gt;window.pwned=2&lt;/script&gt;" in html  # shown, as text
    assert "&lt;img src=x onerror=" in html
    assert_nothing_active(html)
    rich = re.search(r'<div class="output output-markdown prose" hx-disable>(.*?)</div>', html, re.S).group(1)
    assert "<strong>strong</strong>" in rich and 'href="https://example.org"' in rich
    assert 'rel="noopener noreferrer nofollow"' in rich


def test_every_model_output_container_is_hx_disabled(page, app, model):
    model.reply_when("attack", PAYLOAD)
    workflow_id = create_workflow(app, page.user, two_outputs(), name="Hostile")
    execution_id = run_and_wait(app, page.user, workflow_id, {"text": "attack"})
    html = page.get(f"/executions/{execution_id}/live", htmx=True).text
    assert_nothing_active(html)
    pres = re.findall(r'<pre class="output[^"]*"([^>]*)>', html)
    assert pres and all("hx-disable" in attributes for attributes in pres)


def test_run_and_wait_results_are_safe_too(page, app, model):
    model.reply_when("attack", PAYLOAD)
    workflow_id = create_workflow(app, page.user, two_outputs(), name="Hostile")
    response = page.post(f"/workflows/{workflow_id}/run", {"inputs.text": "attack", "mode": "wait"}, htmx=True)
    assert_nothing_active(response.text)
    assert "<script>window.pwned" not in response.text and "&lt;script&gt;" in response.text
    assert '<dl class="outputs" hx-disable>' in response.text


def test_markdown_renderer_allows_only_harmless_markup():
    from webapp.ui.output import as_value_block, render_markdown

    html = str(
        render_markdown(
            PAYLOAD + "\n\n![tracker](https://evil.example/p.png)\n\n<iframe src=x></iframe>"
            "\n\n[click](javascript:alert(1)) <https://fine.example>"
        )
    )
    assert_nothing_active(html)
    assert "<script" not in html and "<img" not in html and "<iframe" not in html
    assert str(as_value_block({"a": "<b>"}, "markdown")).startswith('<pre class="output output-json" hx-disable>')
    assert "&lt;b&gt;" in str(as_value_block("<b>", "text"))

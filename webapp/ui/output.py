"""Model output on a page: never trusted, never run.

Output is text and is shown escaped. Where an output node's format is
``markdown`` it is rendered by markdown-it with raw HTML turned off, then cleaned
by nh3 with a short allow-list (no ``img``, no event or ``hx-*`` attributes, only
http/https/mailto links). Only that cleaned HTML is ever marked safe. Every
container of model output also carries ``hx-disable``, so even markup that slipped
through could not make htmx issue a request.
"""

from __future__ import annotations

import json
from typing import Any

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

ALLOWED_TAGS = {
    "p",
    "br",
    "hr",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "strong",
    "em",
    "b",
    "i",
    "s",
    "del",
    "code",
    "pre",
    "blockquote",
    "ul",
    "ol",
    "li",
    "a",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}, "th": {"align"}, "td": {"align"}}
URL_SCHEMES = {"http", "https", "mailto"}

_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable(
    ["table", "strikethrough"]
)


def render_markdown(text: str) -> Markup:
    """Markdown to HTML that is safe to show: the one place model output becomes markup."""
    html = _markdown.render(text if isinstance(text, str) else json.dumps(text, ensure_ascii=False))
    cleaned = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )
    return Markup(cleaned)  # nh3 has just cleaned it


def as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def as_text_block(value: Any, css: str = "") -> Markup:
    """Escaped text in a ``<pre>`` that htmx ignores."""
    return Markup('<pre class="output {}" hx-disable>{}</pre>').format(css, as_text(value))


def as_value_block(value: Any, output_format: str = "text") -> Markup:
    """An execution output as its node's format asks: sanitised markdown, pretty
    JSON or plain text, always inside an ``hx-disable`` container."""
    if output_format == "markdown" and isinstance(value, str):
        return Markup('<div class="output output-markdown prose" hx-disable>{}</div>').format(render_markdown(value))
    if output_format == "json" or not isinstance(value, str):
        return as_text_block(value, "output-json")
    return as_text_block(value)

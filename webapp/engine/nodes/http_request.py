"""``http_request``: one HTTP request to an address the outbound rules allow."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from ..attempts import retries_option
from ..errors import ErrorCode, NodeError
from ..http_calls import HttpRequest
from ..options import Option, choices
from .base import ConfigReader, NodeOutcome, NodeType, RunContext, as_text, clip

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


class HttpRequestNode(NodeType):
    type_name = "http_request"
    label = "HTTP request"
    summary = "Calls an HTTP API: a request rendered from upstream values; its answer as status, headers and body."
    colour = "#0f766e"
    blocking = True
    options = (
        Option(key="method", kind="choice", label="Method", default="GET", choices=choices(*METHODS)),
        Option(
            key="url",
            kind="template_line",
            label="URL",
            required=True,
            placeholder="https://api.example.com/items/{{ in.id }}",
            help="http or https; private and loopback addresses are refused unless the server allows them.",
        ),
        Option(
            key="query",
            kind="templates",
            label="Query parameters",
            allow_empty=True,
            help="Name → template; added to the URL.",
        ),
        Option(key="headers", kind="templates", label="Headers", allow_empty=True, help="Name → template."),
        Option(
            key="body",
            kind="template",
            label="Body",
            rows=4,
            help="Sent as JSON when it renders to an object or a list, otherwise as text.",
        ),
        Option(
            key="timeout", kind="number", label="Timeout (seconds)", minimum=0.1, maximum=600, default=30, advanced=True
        ),
        retries_option(default=0, help="For network errors, 429 and 5xx answers."),
        Option(
            key="fail_on_status",
            kind="boolean",
            label="Fail on a 4xx or 5xx answer",
            default=True,
            advanced=True,
        ),
    )
    outputs = ("status", "json", "text", "headers", "duration_ms")
    starter = {"method": "GET", "url": "https://"}
    starter_id = "call"

    @classmethod
    def lists_for(cls, config: dict) -> tuple[str, ...]:
        return ("json",)

    @classmethod
    def main_value(cls, output: dict) -> Any:
        """The parsed answer when it was JSON, else its text."""
        return output["json"] if output.get("json") is not None else output.get("text")

    def configure(self, reader: ConfigReader) -> None:
        super().configure(reader)
        if self.url is not None and "{" not in self.url.source:
            _check_literal_url(self.url.source, reader)

    def prepare(self, ctx: RunContext) -> HttpRequest:
        """The request, rendered from upstream values; ``perform`` sends it."""
        url = as_text(self.evaluate(self.url, ctx)).strip()
        headers = {name: as_text(self.evaluate(t, ctx)) for name, t in (self.headers or {}).items()}
        query = {name: as_text(self.evaluate(t, ctx)) for name, t in (self.query or {}).items()}
        body, content_type = None, None
        if self.body is not None:
            value = self.evaluate(self.body, ctx)
            if isinstance(value, (dict, list)):
                body, content_type = json.dumps(value, ensure_ascii=False).encode(), "application/json"
            elif value is not None:
                body = as_text(value).encode()
        return HttpRequest(
            method=self.method,
            url=url,
            headers=headers,
            query=query,
            body=body,
            content_type=content_type,
            timeout=self.timeout,
            retries=self.retries,
        )

    def perform(self, request: HttpRequest, ctx: RunContext) -> NodeOutcome:
        if ctx.http is None:
            raise NodeError(ErrorCode.HTTP_ERROR, "no HTTP client is configured")
        answer = ctx.http.send(request, deadline=ctx.deadline, stopped=ctx.stopped)
        if self.fail_on_status and answer.status >= 400:
            raise NodeError(
                ErrorCode.HTTP_ERROR,
                f"{request.method} {clip(request.url, 120)} answered {answer.status}: {answer.text[:200]}",
                attempts=answer.attempts,
            )
        output = {
            "status": answer.status,
            "headers": answer.headers,
            "text": answer.text,
            "json": answer.json,
            "duration_ms": answer.duration_ms,
        }
        return NodeOutcome(output=output, input=self.shown(request), attempts=answer.attempts)

    def shown(self, request: HttpRequest) -> dict:
        """What the call was given, as its record shows it: a secret header's value masked."""
        return {
            "method": request.method,
            "url": request.url,
            "query": request.query,
            "headers": masked_headers(request.headers),
            "body": _shown_body(request),
        }


# A header whose name holds one of these carries a secret: its value is never recorded.
SECRET_HEADER_PARTS = ("auth", "key", "token", "secret", "cookie")
MASK = "…"


def masked_headers(headers: dict[str, str]) -> dict[str, str]:
    return {
        name: MASK if any(part in name.lower() for part in SECRET_HEADER_PARTS) else value
        for name, value in headers.items()
    }


def _shown_body(request: HttpRequest):
    """The body as it was rendered: the JSON value for a JSON body, else its text."""
    if request.body is None:
        return None
    text = request.body.decode("utf-8", errors="replace")
    return json.loads(text) if request.content_type == "application/json" else text


def _check_literal_url(url: str, reader: ConfigReader) -> None:
    """A URL written out in full is checked as the definition is read."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        reader.problem("url", "invalid_value", "'url' must be an http or https URL with a host")

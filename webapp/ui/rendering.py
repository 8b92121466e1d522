"""Page or fragment: the one place that decides, plus htmx-aware redirects.

A request made by htmx (``HX-Request: true``, but not a history restore, which
wants the whole page) gets only the fragment it will swap in; any other request
gets the full page. Both vary on ``HX-Request`` so no cache mixes them up.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import Response, make_response, redirect, render_template, request

HX_REDIRECT = "HX-Redirect"
HX_TRIGGER = "HX-Trigger"


def is_fragment_request() -> bool:
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.history_restore_request


def vary_on_htmx(response: Response) -> Response:
    response.vary.add("HX-Request")
    return response


def respond(
    page: str, fragment: str | None = None, *, status: int = 200, trigger: str | dict | None = None, **context
) -> Response:
    """Render ``fragment`` for htmx, ``page`` otherwise (the page includes the fragment)."""
    template = fragment if fragment and is_fragment_request() else page
    response = vary_on_htmx(make_response(render_template(template, **context), status))
    if trigger:
        add_trigger(response, trigger)
    return response


def redirect_to(location: str, *, trigger: str | dict | None = None) -> Response:
    """After a POST: htmx follows ``HX-Redirect`` (a full navigation); a plain form
    post gets a 303 so a reload does not post again."""
    if is_fragment_request():
        response = make_response("", 204)
        response.headers[HX_REDIRECT] = location
    else:
        response = redirect(location, 303)
    if trigger:
        add_trigger(response, trigger)
    return vary_on_htmx(response)


def add_trigger(response: Response, trigger: str | dict) -> Response:
    """``HX-Trigger``: events other parts of the page listen for (``hx-trigger="x from:body"``)."""
    response.headers[HX_TRIGGER] = trigger if isinstance(trigger, str) else json.dumps(trigger)
    return response


def safe_next(target: str | None) -> str | None:
    """A same-site path to return to after signing in, or None (no open redirects, and
    nothing a header cannot carry: a control character is no part of an address)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    if any(ord(character) < 0x20 or ord(character) == 0x7F for character in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or parts.path.startswith("/api/"):
        return None
    return target


@dataclass(frozen=True)
class Pagination:
    """Page numbers (1-based) over ``total`` items, ``per_page`` a page."""

    page: int
    per_page: int
    total: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def first_item(self) -> int:
        return min(self.offset + 1, self.total)

    @property
    def last_item(self) -> int:
        return min(self.offset + self.per_page, self.total)


MAX_PAGE = 100_000


def page_arg(per_page: int) -> Pagination:
    """The ``page`` query argument; anything unreadable is page 1 (a page, unlike the
    API, forgives a mangled link)."""
    raw = request.args.get("page", "1")
    page = int(raw) if raw.isdigit() else 1
    return Pagination(min(max(page, 1), MAX_PAGE), per_page, 0)


def paginate(pagination: Pagination, total: int) -> Pagination:
    return Pagination(pagination.page, pagination.per_page, total)

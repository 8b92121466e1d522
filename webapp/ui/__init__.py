"""The browser UI: server-rendered pages with htmx partial updates.

One blueprint, ``ui``, with one module per area. Every page needs a signed-in
session except sign-in and registration; the API never accepts the session (it
takes API keys), and pages never accept API keys.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Flask, make_response, render_template, request, url_for
from flask_login import current_user
from markupsafe import escape

from . import formatting
from .rendering import is_fragment_request, redirect_to, safe_next, vary_on_htmx

log = logging.getLogger(__name__)

bp = Blueprint("ui", __name__)
PUBLIC_ENDPOINTS = {"ui.login", "ui.register", "ui.logout", "ui.node_type_styles"}
ERROR_TITLES = {
    400: "Bad request",
    401: "Please sign in",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed here",
    409: "Conflict",
    413: "Too large",
    422: "Not valid",
    429: "Slow down",
    500: "Something went wrong",
    503: "Back in a moment",
}


@bp.before_request
def require_sign_in():
    """Pages need a session. An htmx request whose session ended is sent to the
    sign-in page as a whole page, not swapped into a fragment."""
    if request.endpoint in PUBLIC_ENDPOINTS or current_user.is_authenticated:
        return None
    return redirect_to(url_for("ui.login", next=safe_next(request.full_path.rstrip("?"))))


def init_app(app: Flask) -> None:
    """Registers the UI blueprint, its template helpers and filters."""
    app.register_blueprint(bp)
    formatting.register(app)


def render_error_page(status: int, message: str):
    """An error in the site's style: a page, or (for htmx) an inline message that
    lands in the page's message area instead of replacing the fragment."""
    title = ERROR_TITLES.get(status, "Error")
    try:
        if is_fragment_request():
            body = render_template("partials/_error_inline.html", status=status, title=title, message=message)
            response = vary_on_htmx(make_response(body, status))
            response.headers["HX-Retarget"] = "#flash"
            response.headers["HX-Reswap"] = "innerHTML"
            return response
        body = render_template("errors/error.html", status=status, title=title, message=message)
        return vary_on_htmx(make_response(body, status))
    except Exception:  # the error page itself failed: never leave the person with nothing
        log.exception("rendering the error page for %s failed", status)
        page = f"<!doctype html><title>{status}</title><h1>{status} {escape(title)}</h1><p>{escape(message)}</p>"
        return page, status


from . import (  # noqa: E402,F401 - views register themselves on bp
    audit,
    auth,
    dashboard,
    editor,
    editor_saving,
    executions,
    history,
    node_styles,
    providers,
    settings,
    templates_gallery,
    test_runs,
    tests_tab,
    triggers,
    usage,
    workflows,
)

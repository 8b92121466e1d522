"""Response headers every answer carries: a strict CSP and friends.

The CSP allows no inline script or style at all: pages load ``static/`` files only,
htmx is configured through a ``<meta>`` tag, and model output can never run.
"""

from __future__ import annotations

from flask import Flask, Response, request

from .errors import BadRequest

FORM_TYPES = {"application/x-www-form-urlencoded", "multipart/form-data"}

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def init_app(app: Flask) -> None:
    @app.before_request
    def refuse_nul_characters() -> None:
        """PostgreSQL text cannot hold NUL, so a NUL anywhere a value may reach a query
        is refused up front, for every route (JSON bodies are checked in api/params.py)."""
        values = [request.path, *request.args.keys(), *request.args.values()]
        if request.mimetype in FORM_TYPES and not request.path.startswith("/api/"):  # API bodies: params.py
            values += [*request.form.keys(), *request.form.values()]
        if any("\x00" in value for value in values):
            raise BadRequest("NUL characters are not allowed in the address or form")

    @app.after_request
    def add_security_headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if app.config["SESSION_COOKIE_SECURE"]:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response

"""The browser UI: server-rendered pages with htmx partial updates."""

from __future__ import annotations

from flask import Flask
from markupsafe import escape


def init_app(app: Flask) -> None:
    """Registers the UI blueprint(s) and the session login."""


def render_error_page(status: int, message: str):
    return f"<h1>{status}</h1><p>{escape(message)}</p>", status

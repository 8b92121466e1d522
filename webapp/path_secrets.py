"""Paths that hold a secret (a webhook's token is its URL), and masking them wherever a
path is written down: gunicorn's access log (``MaskedLogger``, named in gunicorn.conf.py,
so ``make run`` and the Procfile both use it) and the app's own log lines (``masked``).

Kept free of the app's imports: gunicorn loads the logger before it loads the app.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote

from gunicorn.glogging import Logger

HOOKS_PREFIX = "/hooks"  # webhooks' paths: /hooks/<token>
MASK = "[token]"
_TOKEN = re.compile(rf"({re.escape(HOOKS_PREFIX)}/+)[^/?#\s\"]+")


def masked(text: str) -> str:
    """``text`` with the token after every ``/hooks/`` replaced, also when the path was
    sent percent-encoded (``/%68ooks/…`` reaches the same view)."""
    if _TOKEN.search(text):
        return _TOKEN.sub(rf"\g<1>{MASK}", text)
    decoded = unquote(text)
    return _TOKEN.sub(rf"\g<1>{MASK}", decoded) if _TOKEN.search(decoded) else text


class MaskedLogger(Logger):
    """gunicorn's logger, every access-log value (request line, path, referer, headers,
    environ) masked: whatever format an operator gives, no token is written. Its error
    log too ("Error handling request /hooks/…")."""

    def __init__(self, cfg) -> None:
        super().__init__(cfg)
        self.error_log.addFilter(_MaskingFilter())

    def atoms(self, resp, req, environ, request_time) -> dict:
        atoms = super().atoms(resp, req, environ, request_time)
        return {key: masked(value) if isinstance(value, str) else value for key, value in atoms.items()}


class _MaskingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = masked(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(masked(arg) if isinstance(arg, str) else arg for arg in record.args)
        return True

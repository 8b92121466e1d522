"""The RQ job. It takes an id, never an object: the state lives in the database."""

from __future__ import annotations

from contextlib import AbstractContextManager

from flask import Flask, current_app, has_app_context

from .. import create_app
from .dispatch import dispatcher
from .execution import run_execution as run
from .worker import current_worker

_app: Flask | None = None  # a plain ``rq worker``'s app, made once per process


def run_execution(execution_id: str) -> None:
    """In an ``AppWorker`` (``worker.py``): hand the execution to its executor, on the
    slot the worker reserved before taking the job. In a plain ``rq worker``: run it
    here, one at a time."""
    worker = current_worker()
    if worker is not None and worker.hand_over(execution_id):
        return
    with _context():
        outcome = run(execution_id)
        dispatcher().after_run(execution_id, outcome)


def _context() -> AbstractContextManager:
    global _app
    if has_app_context():
        return current_app.app_context()
    if _app is None:
        _app = create_app()
    return _app.app_context()

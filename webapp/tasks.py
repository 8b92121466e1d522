"""RQ jobs. A job takes an id, never an object: the state lives in the database."""

from __future__ import annotations

from flask import has_app_context

_app = None


def run_execution(execution_id: str) -> None:
    """Run one execution. ``webapp.worker.AppWorker`` provides the app context; a
    plain ``rq worker`` gets one made here, once per process."""
    from .services.runs import run_execution as run

    if has_app_context():
        run(execution_id)
        return
    global _app
    if _app is None:
        from . import create_app

        _app = create_app()
    with _app.app_context():
        run(execution_id)

"""The application factory."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import click
from flask import Flask
from flask.cli import FlaskGroup
from sqlalchemy import event

from .admission import Admission
from .config import INSTANCE_DIR, Config
from .extensions import csrf, db, htmx, login_manager
from .outages import ping_when_idle


def create_app(config: Config | Mapping | None = None) -> Flask:
    """Build the app. ``config`` (a ``Config`` or a mapping of overrides) is for tests
    and tools; everything else comes from the environment through ``Config``."""
    app = Flask(__name__, template_folder="../templates", static_folder="../static", instance_path=str(INSTANCE_DIR))
    settings = config if isinstance(config, Config) else Config()
    app.config.from_mapping(settings.as_dict())
    if isinstance(config, Mapping):
        app.config.from_mapping(config)
    app.json.sort_keys = False  # answers keep the field order of their schemas (docs/api.md)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    _init_database(app)
    if _in_flask_command():
        init_migrations(app)
    csrf.init_app(app)
    htmx.init_app(app)
    login_manager.init_app(app)

    from . import api, cli, models, ratelimits, security, ui  # noqa: F401 - models register their tables
    from .api import errors as api_errors
    from .api import hooks
    from .auth import session

    csrf.exempt(api.bp)  # bearer keys, not cookies: nothing for a forged form to ride on
    csrf.exempt(hooks.bp)  # the token in the address is the secret
    app.register_blueprint(api.bp)
    app.register_blueprint(hooks.bp)
    ratelimits.init_app(app)
    session.init_app(app)
    ui.init_app(app)
    api_errors.register(app, ui.render_error_page)
    security.init_app(app)
    cli.init_app(app)

    app.wsgi_app = Admission(app.wsgi_app, app.config["ACTIVE_REQUESTS"])

    @app.before_request
    def start_background() -> None:
        # gunicorn starts them with the process (gunicorn.conf.py); this covers other servers.
        start_background_work(app)  # once per process; a no-op after that

    return app


def start_background_work(app: Flask) -> None:
    """This process's reaper and scheduler, started now, not at a first request: a
    restarted server with no traffic must still settle runs and fire schedules."""
    from .runs import start_recovery
    from .runs.schedules import scheduler

    start_recovery(app)
    scheduler(app).ensure_running()


def init_migrations(app: Flask) -> None:
    """Flask-Migrate: the ``flask db …`` commands and its ``upgrade()`` for this app."""
    from flask_migrate import Migrate

    Migrate(app, db, directory=str(INSTANCE_DIR.parent / "migrations"), render_as_batch=True)


def _in_flask_command() -> bool:
    """Whether the ``flask`` command is loading the app. Only there can a migration run:
    alembic costs each process that imports it ~11 MB, and web processes and workers never
    migrate."""
    context = click.get_current_context(silent=True)
    return context is not None and isinstance(context.find_root().command, FlaskGroup)


def _init_database(app: Flask) -> None:
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("sqlite:///"):
        INSTANCE_DIR.mkdir(exist_ok=True)
        # Threads share the file: wait on locks rather than fail at once.
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"connect_args": {"timeout": 30, "check_same_thread": False}}
    db.init_app(app)
    with app.app_context():
        if uri.startswith("sqlite"):
            event.listen(db.engine, "connect", _sqlite_pragmas)
        else:  # a file cannot drop a connection; a server can restart
            ping_when_idle(db.engine)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    """WAL lets readers run beside the one writer; NORMAL sync is safe under WAL."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()

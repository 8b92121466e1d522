"""``flask --app wsgi …`` commands: users, API keys, templates, budgets."""

from __future__ import annotations

import click
from flask import Flask

from .auth import accounts
from .errors import ServiceError
from .services import templates


def init_app(app: Flask) -> None:
    app.cli.add_command(create_user)
    app.cli.add_command(create_api_key)
    app.cli.add_command(seed_templates)


def _fail(exc: ServiceError) -> None:
    details = "".join(f"\n  {d.path}: {d.message}" for d in exc.details)
    raise click.ClickException(exc.message + details)


@click.command("create-user")
@click.argument("email")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def create_user(email: str, password: str) -> None:
    """Create a user who can sign in with EMAIL and the password."""
    try:
        user = accounts.create_user(email, password)
    except ServiceError as exc:
        _fail(exc)
    click.echo(f"Created {user.email} ({user.id})")


@click.command("create-api-key")
@click.argument("email")
@click.option("--name", default="cli", help="A label to recognise the key by.")
def create_api_key(email: str, name: str) -> None:
    """Make an API key for EMAIL. The key is printed once, alone on the last line."""
    user = accounts.user_by_email(email)
    if user is None:
        raise click.ClickException(f"No user with email {email}")
    raw = accounts.issue_api_key(user, name)
    click.echo(f"API key for {user.email} (shown once; store it now):")
    click.echo(raw)


@click.command("seed-templates")
def seed_templates() -> None:
    """Load the template catalogue (catalogue/*.json). Safe to run again: it updates."""
    try:
        created, updated = templates.seed()
    except templates.CatalogueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Templates: {created} created, {updated} updated")

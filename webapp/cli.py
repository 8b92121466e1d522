"""``flask --app wsgi …`` commands: users, API keys, templates, budgets."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import with_appcontext

from .auth import accounts
from .errors import ServiceError
from .extensions import db
from .services import templates
from .services.limits import budgets


def init_app(app: Flask) -> None:
    app.cli.add_command(create_user)
    app.cli.add_command(create_api_key)
    app.cli.add_command(seed_templates)
    app.cli.add_command(set_budget)


def _fail(exc: ServiceError) -> None:
    details = "".join(f"\n  {d.path}: {d.message}" for d in exc.details)
    raise click.ClickException(exc.message + details)


@click.command("create-user")
@with_appcontext
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
@with_appcontext
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
@with_appcontext
def seed_templates() -> None:
    """Load the template catalogue (catalogue/*.json). Safe to run again: it updates."""
    try:
        created, updated = templates.seed()
    except templates.CatalogueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Templates: {created} created, {updated} updated")


@click.command("set-budget")
@with_appcontext
@click.argument("email")
@click.option("--tokens", type=click.IntRange(min=0), help="Tokens per month (0: unlimited).")
@click.option("--cost", type=click.FloatRange(min=0), help="US dollars per month (0: unlimited).")
@click.option("--default", "use_default", is_flag=True, help="Forget this user's override; use the config.")
def set_budget(email: str, tokens: int | None, cost: float | None, use_default: bool) -> None:
    """Override the monthly token and cost budget of one user."""
    user = accounts.user_by_email(email)
    if user is None:
        raise click.ClickException(f"No user with email {email}")
    if use_default:
        user.token_budget = user.cost_budget = None
    if tokens is not None:
        user.token_budget = tokens
    if cost is not None:
        user.cost_budget = cost
    db.session.commit()
    token_budget, cost_budget = budgets(user)
    dollars = f"${cost_budget:g}" if cost_budget else "unlimited"
    click.echo(f"Budget for {user.email}: {token_budget or 'unlimited'} tokens, {dollars} per month")

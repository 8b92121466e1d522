"""Settings → Model providers: add one (its key shown never again), edit, test and
delete it. Editing happens in the panel itself (``?edit_provider=<id>`` on the settings
page, or the panel alone for htmx); a key left empty is kept."""

from __future__ import annotations

import json

from flask import request
from flask_login import current_user

from ..engine import jsontext
from ..engine.errors import Problem
from ..errors import Conflict, ValidationFailed
from ..services import providers as service
from . import bp
from .rendering import respond

FORM_FIELDS = ("name", "base_url", "api_key", "models", "prices")


def providers_context(editing: str | None = None, **extra) -> dict:
    """The panel: the user's providers, and the form (adding one, or editing ``editing``
    filled with what it holds, its key never)."""
    user = current_user._get_current_object()
    providers = service.list_providers(user)
    edited = next((p for p in providers if p.id == editing), None)
    values = _values_of(edited) if edited is not None else {}
    return {"providers": providers, "editing": edited, "problems": {}, "values": values, "tested": {}, **extra}


def _panel(*, status: int = 200, **extra):
    return respond("partials/_providers.html", status=status, **providers_context(**extra))


@bp.get("/settings/providers")
def providers_panel():
    """The panel alone, editing one provider when asked (htmx's Edit and Cancel)."""
    return _panel(editing=request.args.get("edit_provider"))


@bp.post("/settings/providers")
def provider_create():
    return _saved(lambda user, body: service.create_provider(user, body))


@bp.post("/settings/providers/<provider_id>")
def provider_update(provider_id: str):
    return _saved(lambda user, body: service.update_provider(user, provider_id, body), editing=provider_id)


def _saved(save, editing: str | None = None):
    values = {key: request.form.get(key, "") for key in FORM_FIELDS}
    try:
        save(current_user._get_current_object(), _body(values))
    except (ValidationFailed, Conflict) as exc:  # a taken name is a conflict, told beside the field alike
        values["api_key"] = ""  # a key is never sent back to the page
        problems = {p.path.split(".")[0]: p.message for p in exc.details}
        return _panel(status=422, editing=editing, problems=problems, values=values)
    return _panel()


@bp.post("/settings/providers/<provider_id>/test")
def provider_test(provider_id: str):
    """Ask the provider for its model list: the connection, the key and the address rules at once."""
    try:
        models = service.provider_models(current_user._get_current_object(), provider_id)
        result = {"ok": True, "message": f"Connected: {len(models)} models", "models": models}
    except ValidationFailed as exc:
        result = {"ok": False, "message": "; ".join(p.message for p in exc.details) or exc.message, "models": []}
    return _panel(tested={provider_id: result})


@bp.post("/settings/providers/<provider_id>/delete")
def provider_delete(provider_id: str):
    service.delete_provider(current_user._get_current_object(), provider_id)
    return _panel()


def _values_of(provider) -> dict:
    """The form's fields as a provider holds them (the key left empty: kept unless typed)."""
    prices = json.dumps(provider.prices, ensure_ascii=False) if provider.prices else ""
    models = ", ".join(provider.models)
    return {"name": provider.name, "base_url": provider.base_url, "models": models, "prices": prices}


def _body(values: dict) -> dict:
    """The form as the API's body: models comma-separated, prices as JSON."""
    body = {key: values[key].strip() for key in ("name", "base_url")}
    if values["api_key"].strip():
        body["api_key"] = values["api_key"].strip()
    body["models"] = [name.strip() for name in values["models"].split(",") if name.strip()]
    if values["prices"].strip():
        try:
            body["prices"] = jsontext.loads(values["prices"])
        except ValueError as exc:
            problem = Problem("prices", "syntax_error", f"not valid JSON: {exc}")
            raise ValidationFailed("Provider is invalid", [problem]) from None
    return body

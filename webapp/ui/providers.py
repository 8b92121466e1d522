"""Settings → Model providers: add one (its key shown never again), test it, delete it."""

from __future__ import annotations

from flask import request
from flask_login import current_user

from ..engine import jsontext
from ..engine.errors import Problem
from ..errors import Conflict, ValidationFailed
from ..services import providers as service
from . import bp
from .rendering import respond

FORM_FIELDS = ("name", "base_url", "api_key", "models", "prices")


def providers_context(**extra) -> dict:
    user = current_user._get_current_object()
    return {"providers": service.list_providers(user), "problems": {}, "values": {}, "tested": {}, **extra}


def _panel(*, status: int = 200, **extra):
    return respond("partials/_providers.html", status=status, **providers_context(**extra))


@bp.post("/settings/providers")
def provider_create():
    values = {key: request.form.get(key, "") for key in FORM_FIELDS}
    try:
        service.create_provider(current_user._get_current_object(), _body(values))
    except (ValidationFailed, Conflict) as exc:  # a taken name is a conflict, told beside the field alike
        values["api_key"] = ""  # a key is never sent back to the page
        problems = {p.path.split(".")[0]: p.message for p in exc.details}
        return _panel(status=422, problems=problems, values=values)
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

"""/api/v1 providers: the caller's model providers, and the server's own as "default"."""

from __future__ import annotations

from flask import g

from ..services import providers as service
from . import bp
from .params import json_body
from .serializers import provider as serialize


@bp.post("/providers")
def create_provider():
    return serialize(service.create_provider(g.user, json_body())), 201


@bp.get("/providers")
def list_providers():
    mine = service.list_providers(g.user)
    return {"providers": [serialize(service.default_provider()), *(serialize(p) for p in mine)]}


@bp.get("/providers/<provider_id>")
def get_provider(provider_id: str):
    if provider_id == service.DEFAULT_ID:
        return serialize(service.default_provider())
    return serialize(service.own_provider(g.user, provider_id))


@bp.patch("/providers/<provider_id>")
def update_provider(provider_id: str):
    return serialize(service.update_provider(g.user, provider_id, json_body()))


@bp.delete("/providers/<provider_id>")
def delete_provider(provider_id: str):
    service.delete_provider(g.user, provider_id)
    return "", 204


@bp.get("/providers/<provider_id>/models")
def provider_models(provider_id: str):
    return {"models": service.provider_models(g.user, provider_id)}

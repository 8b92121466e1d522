"""/api/v1 providers: the caller's model providers, and the server's own as "default"."""

from __future__ import annotations

from flask import g

from ..schemas import providers as schema
from ..services import providers as service
from . import bp
from .contract import Answer, Refusal, operation
from .serializers import provider as serialize

PROVIDER = (schema.Provider, "The provider.")
REFUSALS = (
    Refusal("invalid_value", "the name is 'default', or base_url is not an absolute http(s) URI of ASCII characters"),
)


@bp.post("/providers")
@operation(
    "createProvider",
    "Add a model provider",
    tag="providers",
    errors=(409,),
    body=schema.ProviderRequest,
    example={"name": "ollama", "base_url": "https://llm.example.com/v1", "models": ["llama3.1"]},
    refusals=REFUSALS,
    description="The key is stored encrypted and never shown again (api_key_last4 only). "
    "A name the caller already uses: 409.",
    answers={201: PROVIDER},
)
def create_provider(body: schema.ProviderRequest):
    return serialize(service.create_provider(g.user, body.given())), 201


@bp.get("/providers")
@operation(
    "listProviders",
    "List your model providers and the server's own",
    tag="providers",
    answers={200: (schema.ProviderList, "The server's ('default') and yours.")},
)
def list_providers():
    mine = service.list_providers(g.user)
    return {"providers": [serialize(service.default_provider()), *(serialize(p) for p in mine)]}


@bp.get("/providers/<provider_id>")
@operation("getProvider", "Get a model provider", tag="providers", errors=(404,), answers={200: PROVIDER})
def get_provider(provider_id: str):
    if provider_id == schema.DEFAULT_ID:
        return serialize(service.default_provider())
    return serialize(service.own_provider(g.user, provider_id))


def _own(provider_id: str) -> None:
    service.own_provider(g.user, provider_id)


@bp.patch("/providers/<provider_id>")
@operation(
    "updateProvider",
    "Change a model provider",
    tag="providers",
    errors=(404, 409),
    before=_own,
    body=schema.ProviderUpdate,
    refusals=REFUSALS,
    answers={200: PROVIDER},
)
def update_provider(provider_id: str, body: schema.ProviderUpdate):
    return serialize(service.update_provider(g.user, provider_id, body.given()))


@bp.delete("/providers/<provider_id>")
@operation(
    "deleteProvider",
    "Delete a model provider",
    tag="providers",
    errors=(404,),
    answers={204: Answer(None, "Deleted.")},
)
def delete_provider(provider_id: str):
    service.delete_provider(g.user, provider_id)
    return "", 204


@bp.get("/providers/<provider_id>/models")
@operation(
    "listProviderModels",
    "List the models a provider offers",
    tag="providers",
    errors=(404, 422),
    refusals=(
        Refusal("blocked_destination", "its base_url is refused by the outbound rules"),
        Refusal("provider_unavailable", "its base_url does not answer with a model list"),
    ),
    answers={200: (schema.ModelList, "From the provider's own model list.")},
)
def provider_models(provider_id: str):
    return {"models": service.provider_models(g.user, provider_id)}

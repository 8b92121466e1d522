"""Model providers: a user's own OpenAI-compatible servers (docs/api.md, "Model providers").

The API key is sealed at rest (``secretbox.py``) and never leaves this module but to
make a call: answers show ``api_key_set`` and ``api_key_last4`` only. An ``ai_model``
node names a provider; it resolves among the providers of the user whose execution
runs (``settings_for``), so running someone's public workflow never spends their key.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import select

from .. import admission
from ..engine.errors import Problem
from ..errors import Conflict, NotFound, ValidationFailed
from ..extensions import db
from ..llm import DEFAULT_PRICES, ProviderSettings, blocked_cause, gateway_for
from ..models import Provider, User, isoformat, utcnow
from ..schemas.providers import DEFAULT_ID, KEY_MAX, NAME_MAX, URL_MAX
from ..secretbox import open_sealed, seal
from . import audit

FIELDS = {"name", "base_url", "api_key", "models", "prices"}
_UNSAFE = re.compile(r'[\x00-\x20\x7f"<>\\^`{|}]')


def own_provider(user: User, provider_id: str) -> Provider:
    provider = db.session.get(Provider, provider_id) if isinstance(provider_id, str) else None
    if provider is None or provider.user_id != user.id:
        raise NotFound(f"No provider '{provider_id}'")
    return provider


def list_providers(user: User) -> list[Provider]:
    query = select(Provider).where(Provider.user_id == user.id).order_by(Provider.name)
    return list(db.session.scalars(query))


def create_provider(user: User, body: dict) -> Provider:
    provider = Provider(user_id=user.id, models=[], prices={})
    _apply(provider, body, creating=True)
    db.session.add(provider)
    db.session.flush()
    audit.record("provider.created", user, "provider", provider.id, details={"name": provider.name})
    db.session.commit()
    return provider


def update_provider(user: User, provider_id: str, body: dict) -> Provider:
    provider = own_provider(user, provider_id)
    _apply(provider, body, creating=False)
    provider.updated_at = utcnow()
    audit.record("provider.updated", user, "provider", provider.id, details={"fields": sorted(body)})
    db.session.commit()
    return provider


def delete_provider(user: User, provider_id: str) -> None:
    provider = own_provider(user, provider_id)
    audit.record("provider.deleted", user, "provider", provider.id, details={"name": provider.name})
    db.session.delete(provider)
    db.session.commit()


def provider_models(user: User, provider_id: str) -> list[str]:
    """What the provider's own model list says (``GET {base_url}/models``)."""
    if provider_id == DEFAULT_ID:
        endpoint = gateway_for(current_app).default
    else:
        endpoint = gateway_for(current_app).endpoint_for(_settings(own_provider(user, provider_id)))
    try:
        with admission.aside():  # the provider may take its time: others need not wait for it
            return sorted(model.id for model in endpoint.client.models.list())
    except Exception as exc:  # the provider's failure, told as such: never a 500 of ours
        blocked = blocked_cause(exc)
        if blocked is not None:
            raise ValidationFailed(str(blocked), [Problem("base_url", "blocked_destination", str(blocked))]) from None
        message = f"the provider at base_url did not list its models ({type(exc).__name__})"
        raise ValidationFailed(
            "The provider did not answer", [Problem("base_url", "provider_unavailable", message)]
        ) from None


def default_provider() -> Provider:
    """The server's own settings, as a provider every user has (its key is never shown)."""
    config = current_app.config
    prices = {**DEFAULT_PRICES, **(config.get("MODEL_PRICES") or {})}
    return Provider(
        id=DEFAULT_ID,
        name=DEFAULT_ID,
        base_url=config.get("OPENAI_BASE_URL") or "https://api.openai.com/v1",
        api_key_encrypted="(the server's)" if config.get("OPENAI_API_KEY") else None,
        api_key_last4=None,
        models=sorted({config["DEFAULT_MODEL"], *prices}),
        prices={model: _price(price) for model, price in prices.items()},
        created_at=None,
    )


def settings_for(user_id: str, names: set[str]) -> dict[str, ProviderSettings]:
    """The running user's providers named in a workflow, ready to call (keys decrypted)."""
    if not names:
        return {}
    query = select(Provider).where(Provider.user_id == user_id, Provider.name.in_(names))
    return {provider.name: _settings(provider) for provider in db.session.scalars(query)}


def provider_names(nodes) -> set[str]:
    """Provider names the ``ai_model`` nodes of a graph ask for (a map's inner ones too)."""
    names = set()
    for node in nodes:
        for kind, config in ((node.type, node.config), _inner(node)):
            if kind == "ai_model" and isinstance(config.get("provider"), str):
                names.add(config["provider"])
    return names


def _inner(node) -> tuple[str | None, dict]:
    inner = node.config.get("node") if node.type == "map" else None
    if not isinstance(inner, dict) or not isinstance(inner.get("config"), dict):
        return None, {}
    return inner.get("type"), inner["config"]


def _settings(provider: Provider) -> ProviderSettings:
    key = open_sealed(provider.api_key_encrypted) if provider.api_key_encrypted else None
    return ProviderSettings(
        id=provider.id,
        name=provider.name,
        base_url=provider.base_url,
        api_key=key,
        prices=provider.prices or {},
        version=isoformat(provider.updated_at),
    )


def _apply(provider: Provider, body: dict, *, creating: bool) -> None:
    problems = [Problem(key, "unknown_field", f"unknown field '{key}'") for key in body if key not in FIELDS]
    name = body.get("name", provider.name)
    if not isinstance(name, str) or not name.strip() or len(name) > NAME_MAX or name == DEFAULT_ID:
        problems.append(Problem("name", "invalid_value", f"'name' must be 1 to {NAME_MAX} characters, not 'default'"))
    base_url = body.get("base_url", provider.base_url)
    if not _http_url(base_url):
        problems.append(Problem("base_url", "invalid_value", "'base_url' must be an http or https URL"))
    key = body.get("api_key")
    if "api_key" in body and key is not None and (not isinstance(key, str) or len(key) > KEY_MAX):
        problems.append(Problem("api_key", "invalid_value", "'api_key' must be a string"))
    models = body.get("models", provider.models)
    if not isinstance(models, list) or not all(isinstance(m, str) and m.strip() for m in models):
        problems.append(Problem("models", "invalid_value", "'models' must be a list of model names"))
    prices = body.get("prices", provider.prices)
    problems += _price_problems(prices)
    if problems:
        raise ValidationFailed("Provider is invalid", problems)
    if (creating or name.strip() != provider.name) and _taken(provider.user_id, name.strip()):
        taken = f"you already have a provider named '{name}'"
        raise Conflict("A provider of that name exists", [Problem("name", "duplicate_id", taken)])
    provider.name, provider.base_url, provider.models, provider.prices = name.strip(), base_url, models, prices
    if "api_key" in body:
        provider.api_key_encrypted = seal(key) if key else None
        provider.api_key_last4 = key[-4:] if key else None


def _price_problems(prices: Any) -> list[Problem]:
    if not isinstance(prices, dict):
        return [Problem("prices", "invalid_value", "'prices' must be an object of model → price")]
    problems = []
    for model, price in prices.items():
        amounts = price if isinstance(price, dict) else {}
        if set(amounts) != {"prompt", "completion"} or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in amounts.values()
        ):
            problems.append(
                Problem(
                    f"prices.{model}", "invalid_value", 'a price is {"prompt": USD, "completion": USD} per 1M tokens'
                )
            )
    return problems


def _price(price) -> dict:
    prompt, completion = price if isinstance(price, (list, tuple)) else (price["prompt"], price["completion"])
    return {"prompt": prompt, "completion": completion}


def _http_url(value: Any) -> bool:
    """An absolute http(s) URI as RFC 3986 writes one: ASCII, no spaces or unsafe characters."""
    if not isinstance(value, str) or len(value) > URL_MAX or not value.isascii() or _UNSAFE.search(value):
        return False
    try:
        parts = urlsplit(value)
        return parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port is not False
    except ValueError:  # a port that is not a number
        return False


def _taken(user_id: str, name: str) -> bool:
    return db.session.scalar(select(Provider.id).where(Provider.user_id == user_id, Provider.name == name)) is not None

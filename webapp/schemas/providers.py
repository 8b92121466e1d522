"""Model provider bodies: a user's own OpenAI-compatible servers."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field
from typing_extensions import TypedDict

from .base import ANSWER, NOT_BLANK, Body, Timestamp, number, prefixed_id

NAME_MAX, URL_MAX, KEY_MAX = 100, 500, 500  # characters (the columns' widths)
DEFAULT_ID = "default"  # the server's own settings, shown as a provider every user has


class Price(TypedDict):
    __pydantic_config__ = ANSWER  # type: ignore[misc]
    prompt: number(ge=0)
    completion: number(ge=0)


Prices = Annotated[dict[str, Price], Field(description="USD per 1M tokens, per model.")]
ProviderName = Annotated[
    str, Field(min_length=1, max_length=NAME_MAX, pattern=NOT_BLANK, description="Unique per user; not 'default'.")
]
BaseUrl = Annotated[str, Field(max_length=URL_MAX, pattern="^https?://", json_schema_extra={"format": "uri"})]
ModelName = Annotated[str, Field(min_length=1, pattern=NOT_BLANK)]


class ProviderUpdate(Body):
    name: ProviderName = None  # type: ignore[assignment]
    base_url: BaseUrl = None  # type: ignore[assignment]
    api_key: Annotated[str, Field(max_length=KEY_MAX)] | None = Field(None, description="null or '': no key.")
    models: list[ModelName] = None  # type: ignore[assignment]
    prices: Prices = None  # type: ignore[assignment]


class ProviderRequest(ProviderUpdate):
    """The key is stored encrypted and never shown again (``api_key_last4`` only)."""

    name: ProviderName
    base_url: BaseUrl


# -- answers ---------------------------------------------------------------------------------


class Provider(TypedDict):
    __pydantic_config__ = ANSWER  # type: ignore[misc]
    id: prefixed_id("prv") | Literal["default"]
    name: Annotated[str, Field(min_length=1, max_length=NAME_MAX)]
    base_url: Annotated[str, Field(json_schema_extra={"format": "uri"})]
    api_key_set: bool
    api_key_last4: Annotated[str, Field(max_length=4)] | None
    models: list[str]
    prices: Prices
    created_at: Timestamp | None


class ProviderList(TypedDict):
    __pydantic_config__ = ANSWER  # type: ignore[misc]
    providers: Annotated[list[Provider], Field(description="The server's own first, as 'default'.")]


class ModelList(TypedDict):
    __pydantic_config__ = ANSWER  # type: ignore[misc]
    models: list[str]

"""The options every node that calls a model shares (``ai_model``, ``agent``), declared
once so their forms, validation and OpenAPI schemas cannot drift apart."""

from __future__ import annotations

from ..options import Option


def model(help: str) -> Option:
    return Option(key="model", kind="text", label="Model", placeholder="server default", help=help, suggest="models")


PROVIDER = Option(
    key="provider",
    kind="text",
    label="Provider",
    placeholder="the server's",
    help="One of your model providers, by name; whoever runs the workflow uses theirs, or the server's.",
    suggest="providers",
)
TEMPERATURE = Option(
    key="temperature", kind="number", label="Temperature", minimum=0, maximum=2, placeholder="model default"
)


def max_tokens(*, advanced: bool = False) -> Option:
    return Option(
        key="max_tokens",
        kind="integer",
        label="Max tokens",
        minimum=1,
        maximum=1_000_000,
        placeholder="model default",
        advanced=advanced,
    )


def timeout(label: str) -> Option:
    return Option(
        key="timeout",
        kind="number",
        label=label,
        minimum=0.1,
        maximum=3600,
        advanced=True,
        placeholder="server default",
    )

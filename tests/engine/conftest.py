"""Engine tests drive the runner directly; model calls still go over real HTTP."""

from __future__ import annotations

import pytest

from webapp.llm import ModelGateway, PriceTable


def make_gateway(
    base_url: str, cache=None, retries: int = 2, timeout: float = 10.0, prices=None, max_answer_bytes: int = 1 << 20
) -> ModelGateway:
    return ModelGateway(
        api_key="test-key",
        base_url=base_url,
        default_model="gpt-4o-mini",
        timeout=timeout,
        retries=retries,
        prices=PriceTable(prices),
        cache=cache,
        cache_ttl=60,
        max_answer_bytes=max_answer_bytes,
    )


@pytest.fixture
def gateway(model) -> ModelGateway:
    return make_gateway(model.base_url)

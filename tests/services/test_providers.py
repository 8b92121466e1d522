"""services/providers.py: a name once per user, the key sealed, and resolution by the
user whose execution runs."""

from __future__ import annotations

import pytest

from webapp.errors import Conflict, ValidationFailed
from webapp.models import Provider
from webapp.services import providers

BODY = {"name": "local", "base_url": "https://llm.example.com/v1", "api_key": "sk-secret-1234"}


def test_a_name_is_taken_once_per_user_and_is_a_conflict(as_user):
    alice, bob = as_user
    providers.create_provider(alice, BODY)
    with pytest.raises(Conflict) as taken:
        providers.create_provider(alice, BODY)
    assert taken.value.details[0].code == "duplicate_id"
    assert providers.create_provider(bob, BODY).name == "local"  # another user's name space
    with pytest.raises(ValidationFailed):
        providers.create_provider(alice, {**BODY, "name": "default"})  # the server's own


def test_the_key_is_sealed_and_only_its_last_four_characters_kept(as_user):
    alice, _ = as_user
    made = providers.create_provider(alice, BODY)
    assert made.api_key_last4 == "1234" and "sk-secret" not in (made.api_key_encrypted or "")
    stored = providers.own_provider(alice, made.id)
    assert isinstance(stored, Provider)


def test_a_provider_resolves_among_the_running_users_own(as_user):
    """Running someone's public workflow never spends their key: names resolve per runner."""
    alice, bob = as_user
    providers.create_provider(alice, BODY)
    assert providers.settings_for(alice.id, {"local"})["local"].api_key == "sk-secret-1234"
    assert providers.settings_for(bob.id, {"local"}) == {}

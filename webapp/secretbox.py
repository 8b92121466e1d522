"""Secrets kept at rest: provider API keys and webhook tokens, encrypted with Fernet
(AES-128-CBC and HMAC-SHA256) under a key from ``ENCRYPTION_KEY``, or derived from
``SECRET_KEY`` when that is not set. Rotating the key means re-entering the secrets."""

from __future__ import annotations

import base64
import hashlib
from typing import TYPE_CHECKING

from flask import current_app

if TYPE_CHECKING:
    from cryptography.fernet import Fernet


class SecretUnreadable(Exception):
    """A stored secret the current key cannot open (the key changed)."""


def _fernet() -> Fernet:
    found = current_app.extensions.get("secretbox")
    if found is None:
        # Imported here: cryptography costs each process ~7 MB, and most web processes
        # and workers never open a secret.
        from cryptography.fernet import Fernet

        given = current_app.config.get("ENCRYPTION_KEY")
        if given:
            key = given.encode()
        else:  # a key of its own, derived, so a leak of one is not the other
            digest = hashlib.sha256(b"ai-workflows secretbox:" + current_app.config["SECRET_KEY"].encode()).digest()
            key = base64.urlsafe_b64encode(digest)
        found = current_app.extensions["secretbox"] = Fernet(key)
    return found


def seal(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode()


def open_sealed(sealed: str) -> str:
    from cryptography.fernet import InvalidToken

    try:
        return _fernet().decrypt(sealed.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable("a stored secret cannot be decrypted with the current ENCRYPTION_KEY") from None

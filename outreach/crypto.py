"""Encryption of mailbox secrets at rest, with a key that never enters the database."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from outreach.errors import ConfigurationError

_UNREADABLE = (
    "a stored mailbox secret cannot be decrypted with the configured keys; "
    "was OUTREACH_ENCRYPTION_KEYS or the instance folder changed?"
)


class SecretBox:
    """Encrypts with the first key and decrypts with any, so keys can be rotated.

    Rotation (see outreach.keys and docs/decisions/0006-key-rotation.md): put the
    new key first, re-encrypt every stored token with `rotate`, then drop the old key.
    """

    def __init__(self, keys: tuple[str, ...]) -> None:
        if not keys:
            raise ConfigurationError("no encryption key is configured")
        self._fernet = MultiFernet([Fernet(key) for key in keys])

    def encrypt(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise ConfigurationError(_UNREADABLE) from None

    def rotate(self, token: str) -> str:
        """Re-encrypt `token` under the newest key, without the secret leaving this call.

        Raises ConfigurationError, like `decrypt`, when no configured key opens it.
        """
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken:
            raise ConfigurationError(_UNREADABLE) from None

    def __repr__(self) -> str:
        return "SecretBox(<keys hidden>)"

"""Encryption of mailbox secrets at rest, with a key that never enters the database."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from outreach.errors import ConfigurationError


class SecretBox:
    """Encrypts with the first key and decrypts with any, so keys can be rotated."""

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
            raise ConfigurationError(
                "a stored mailbox secret cannot be decrypted with the configured keys; "
                "was OUTREACH_ENCRYPTION_KEYS or the instance folder changed?"
            ) from None

    def rotate(self, token: str) -> str:
        """Re-encrypt `token` under the newest key."""
        return self._fernet.rotate(token.encode()).decode()

    def __repr__(self) -> str:
        return "SecretBox(<keys hidden>)"

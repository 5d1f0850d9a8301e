"""Secrets at rest (provider API keys): Fernet from ``cryptography``, never hand-rolled.

Fernet is AES-128-CBC with an HMAC-SHA256 over the ciphertext: a stored value cannot be read
or altered without the key. The key is derived from ``BERRYS_SECRET_KEY`` with HKDF-SHA256
and a purpose label of its own, so the value that signs dashboard CSRF tokens never serves
as an encryption key directly. Old keys (``BERRYS_OLD_SECRET_KEY``) still decrypt, so a
server keeps working while ``berrys secrets rotate`` re-encrypts under the new one.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

if TYPE_CHECKING:
    from berrys.config import Settings

_PURPOSE = b"berrys: secrets at rest, v1"
# Keys shorter than this show nothing but "set": their last characters would be too much.
HINT_MIN_LENGTH = 16
HINT_CHARACTERS = 4


class SecretUnreadable(Exception):
    """A stored secret none of the configured keys decrypts (or one that was altered)."""


def derive_key(secret_key: str) -> bytes:
    """The Fernet key (urlsafe base64 of 32 bytes) derived from ``secret_key``."""
    material = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_PURPOSE).derive(
        secret_key.encode()
    )
    return base64.urlsafe_b64encode(material)


class SecretBox:
    """Encrypts under the first key; decrypts and rotates with any of them."""

    def __init__(self, secret_key: str, old_keys: Sequence[str] = ()) -> None:
        keys = [secret_key, *(key for key in old_keys if key and key != secret_key)]
        self._fernet = MultiFernet([Fernet(derive_key(key)) for key in keys])

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise SecretUnreadable(
                "a stored secret cannot be decrypted with BERRYS_SECRET_KEY (nor "
                "BERRYS_OLD_SECRET_KEY): the key changed without `berrys secrets rotate`"
            ) from None

    def rotate(self, token: str) -> str:
        """``token`` re-encrypted under the first key (it may have been under any)."""
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken:
            raise SecretUnreadable(
                "a stored secret is under none of the given keys: pass the key it was "
                "encrypted with as BERRYS_OLD_SECRET_KEY"
            ) from None


def secret_box(settings: Settings) -> SecretBox:
    """The box of the configured secret key (BERRYS_SECRET_KEY), and the old one if set."""
    old = settings.old_secret_key
    return SecretBox(settings.resolved_secret_key, [old.get_secret_value()] if old else [])


def hint(secret: str) -> str | None:
    """What may be shown of a secret: its last characters when it is long, else nothing."""
    if len(secret) < HINT_MIN_LENGTH:
        return None
    return secret[-HINT_CHARACTERS:]


def describe(is_set: bool, last: str | None) -> str:
    """The one way a key is ever described: "set, ends in …1234", "set" or "not set"."""
    if not is_set:
        return "not set"
    return f"set, ends in …{last}" if last else "set"


async def rotate_stored(
    session: AsyncSession,
    box: SecretBox,
    column: InstrumentedAttribute[str | None],
    *,
    order_by: Sequence[InstrumentedAttribute[Any]],
    label: Callable[[Any], str],
) -> list[str]:
    """Re-encrypt every value of ``column`` under ``box``'s first key, rows locked; their
    labels. Raises SecretUnreadable, naming the row, if one is under no key."""
    model = column.class_
    rows = list(
        await session.scalars(
            select(model).where(column.is_not(None)).order_by(*order_by).with_for_update()
        )
    )
    for row in rows:
        try:
            setattr(row, column.key, box.rotate(getattr(row, column.key) or ""))
        except SecretUnreadable as exc:
            raise SecretUnreadable(f"{label(row)}: {exc}") from None
    await session.flush()
    return [label(row) for row in rows]

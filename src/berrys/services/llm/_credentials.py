"""Stored provider credentials: a registered model's own server URL and encrypted API key.

The key is encrypted before it reaches the row (``core.encryption``) and decrypted only to
build the provider client that serves the model (``Runtime.endpoints``); what anyone sees
of it is ``LlmModel.api_key_status``. ``rotate`` re-encrypts every stored key under the
current secret key in the caller's transaction: all of them, or none.
"""

from __future__ import annotations

import structlog
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession

from berrys.core.encryption import SecretBox, SecretUnreadable, hint, rotate_stored
from berrys.services.llm._providers import factories
from berrys.services.llm._runtime import Endpoint, Runtime
from berrys.services.llm.tables import LlmModel

_log = structlog.get_logger("berrys.llm")


def has_endpoint(row: LlmModel) -> bool:
    return row.base_url is not None or row.api_key_encrypted is not None


def store(
    state: Runtime, row: LlmModel, *, base_url: str | None, api_key: SecretStr | None
) -> None:
    """Set the row's URL and key (``None``: keep what is there); the key only encrypted."""
    if base_url is not None:
        row.base_url = base_url
    if api_key is not None:
        plain = api_key.get_secret_value()
        row.api_key_encrypted = state.secrets.encrypt(plain)
        row.api_key_hint = hint(plain)


def endpoint(state: Runtime, row: LlmModel) -> Endpoint:
    """The provider serving ``row`` from its stored URL and key, built once per change."""
    fingerprint = (row.base_url, row.api_key_encrypted)
    current = state.endpoints.get(row.id)
    if current is not None and current.fingerprint == fingerprint:
        return current
    if current is not None and current.provider is not None:
        state.retired.append(current.provider)
    try:
        key = state.secrets.decrypt(row.api_key_encrypted) if row.api_key_encrypted else None
        provider = factories.build_endpoint(
            row.provider, base_url=row.base_url, api_key=key, settings=state.settings
        )
        built = Endpoint(fingerprint, provider=provider)
    except SecretUnreadable as exc:
        _log.warning("llm.stored_key_unreadable", provider=row.provider, model=row.name)
        built = Endpoint(fingerprint, error=f"its stored API key is unreadable: {exc}")
    except ValueError as exc:
        built = Endpoint(fingerprint, error=str(exc))
    state.endpoints[row.id] = built
    return built


async def rotate(models: Runtime, session: AsyncSession, *, box: SecretBox) -> list[str]:
    """Re-encrypt every stored key with ``box``'s first key (any of its keys may decrypt);
    the models' names. Raises SecretUnreadable, changing nothing, if one key is under none."""
    names = await rotate_stored(
        session,
        box,
        LlmModel.api_key_encrypted,
        order_by=(
            LlmModel.provider,
            LlmModel.name,
        ),
        label=lambda row: f"{row.provider}/{row.name}",
    )
    models.forget_registry()
    return names

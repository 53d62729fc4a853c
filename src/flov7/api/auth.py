"""API keys: who may call ``/api/...``.

Keys come from two places, and only their SHA-256 digests are ever kept:

- ``FLOV7_API_KEYS`` (comma-separated raw keys): hashed once at start, kept in memory;
- ``flov7 api-key create NAME``: a random key, printed once, its digest in the store.

A request presents its key as ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``.
A missing, malformed or wrong key is the same 401 with the same message: nothing tells
a caller which part was wrong. Digests are compared in constant time; store lookups go
by digest (what an index sees is a hash of the secret, not the secret).

Without any key the API is open, but only to loopback clients (``flov7 serve`` also
refuses to listen elsewhere, see :mod:`flov7.api.server`), unless
``FLOV7_ALLOW_UNAUTHENTICATED=true`` says otherwise.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import logging
import secrets
import time
from collections.abc import Iterable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from flov7.api.context import get_context
from flov7.api.errors import UnauthorizedError
from flov7.store.repository import ApiKeyRecord, Repository

log = logging.getLogger(__name__)

__all__ = [
    "NO_KEYS_RECHECK_SECONDS",
    "ApiKeyRing",
    "create_api_key",
    "hash_api_key",
    "is_loopback",
    "require_api_key",
]

KEY_PREFIX = "flov7_"
_UNAUTHORIZED = "Missing or invalid API key"
# last_used_at is informative: one write per key per minute is plenty.
_TOUCH_INTERVAL_SECONDS = 60.0
NO_KEYS_RECHECK_SECONDS = 1.0
"""How long the API believes the store holds no key before asking it again."""


def hash_api_key(key: str) -> str:
    """The hex SHA-256 of a key: keys are random 256-bit secrets (or operator-chosen
    ones), so a fast hash is enough; what matters is never storing the key itself."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def is_loopback(host: str | None) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


async def create_api_key(repository: Repository, name: str) -> tuple[ApiKeyRecord, str]:
    """Make a key, store its digest, return the record and the key (shown once)."""
    key_id = secrets.token_hex(6)
    key = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    record = await repository.add_api_key(key_id, name, hash_api_key(key))
    return record, key


class ApiKeyRing:
    """The keys this process accepts: ``FLOV7_API_KEYS`` plus the store's."""

    def __init__(
        self,
        env_keys: Iterable[str],
        repository: Repository | None,
        *,
        allow_unauthenticated: bool = False,
    ) -> None:
        self._env_digests = [hash_api_key(key) for key in env_keys]
        self._repository = repository
        self.allow_unauthenticated = allow_unauthenticated
        self._store_has_keys = False
        self._no_keys_seen_at = float("-inf")
        self._asking: asyncio.Future[bool] | None = None
        self._touched: dict[str, float] = {}

    async def required(self) -> bool:
        """Whether requests must present a key (some key exists somewhere).

        Once true it stays true for the process: a key created while the API runs
        switches authentication on within :data:`NO_KEYS_RECHECK_SECONDS`, and revoking
        the last one never silently switches it off (restart to serve without keys).
        """
        if self._env_digests or self._store_has_keys:
            return True
        if self._repository is None:
            return False
        # Without keys only loopback clients are served; asking the store on every
        # request cost each run a transaction. `flov7 api-key create` runs in another
        # process, so "no keys" is only believed for a second.
        if time.monotonic() - self._no_keys_seen_at < NO_KEYS_RECHECK_SECONDS:
            return False
        # One question at a time: concurrent requests wait for its answer.
        if self._asking is None:
            self._asking = asyncio.ensure_future(self._ask_store())
        return await asyncio.shield(self._asking)

    async def _ask_store(self) -> bool:
        assert self._repository is not None
        try:
            self._store_has_keys = await self._repository.has_api_keys()
            if not self._store_has_keys:
                self._no_keys_seen_at = time.monotonic()
            return self._store_has_keys
        finally:
            self._asking = None

    async def verify(self, presented: str) -> bool:
        """True when ``presented`` is a known key."""
        digest = hash_api_key(presented)
        matched = False
        for known in self._env_digests:  # no early exit: same time for every position
            matched |= hmac.compare_digest(digest, known)
        if matched:
            return True
        if self._repository is None:
            return False
        record = await self._repository.find_api_key(digest)
        if record is None:
            return False
        await self._touch(record.id)
        return True

    async def _touch(self, key_id: str) -> None:
        now = time.monotonic()
        if now - self._touched.get(key_id, float("-inf")) < _TOUCH_INTERVAL_SECONDS:
            return
        self._touched[key_id] = now
        assert self._repository is not None
        try:
            await self._repository.touch_api_key(key_id)
        except Exception as exc:  # bookkeeping only: never fail the request for it
            log.warning("Could not record the use of API key %s: %s", key_id, exc)


_bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer <API key>`")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="`X-API-Key: <API key>`")


async def require_api_key(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header_key: Annotated[str | None, Depends(_header)],
) -> None:
    """Dependency of every ``/api`` route: 401 unless the request may go on."""
    keys = get_context(request).keys
    if not await keys.required():
        client = request.client.host if request.client else None
        if keys.allow_unauthenticated or is_loopback(client):
            return
        raise UnauthorizedError(_UNAUTHORIZED)
    presented = bearer.credentials if bearer is not None else header_key
    if not presented or not await keys.verify(presented):
        raise UnauthorizedError(_UNAUTHORIZED)

"""Signed, expiring approval links: what an ``approval`` node hands to a person.

A token names one decision (approve or reject) of one ``approval`` node of one run and
when it expires, signed with HMAC-SHA256 under the approval signing key::

    base64url(JSON {"e": execution id, "n": node id, "d": "approve"|"reject",
                    "x": expiry (Unix seconds), "t": title}) "." base64url(signature)

The key is ``FLOV7_APPROVAL_SIGNING_KEY``, or else a random key generated once and
kept in ``<FLOV7_DATA_DIR>/approval-signing.key`` (mode 0600). Whoever checks the
links (the API serving ``/approve/{token}``) and whoever mints them (the worker running
the node) must share it: the same data directory, or the same variable. Tokens are
verified in constant time; single use comes from the run itself (the node stops
waiting once decided, see :mod:`flov7.api.routes.approvals`).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import quote

__all__ = ["KEY_FILE", "ApprovalClaim", "ApprovalSigner", "load_signing_key"]

KEY_FILE = "approval-signing.key"
Decision = Literal["approve", "reject"]
_DOMAIN = b"flov7-approval-v1."
_MAX_TOKEN_LENGTH = 8192


def load_signing_key(configured: str | None, data_dir: Path) -> bytes:
    """The configured key, or the data directory's (generated on first use)."""
    if configured:
        return configured.encode()
    path = data_dir / KEY_FILE
    with contextlib.suppress(FileNotFoundError):
        return _read_key(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    try:
        # O_EXCL: when two processes start at once, one key wins and both use it.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_key(path)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key.encode()


def _read_key(path: Path) -> bytes:
    key = path.read_text(encoding="utf-8").strip()
    if not key:
        raise FileNotFoundError(path)
    return key.encode()


@dataclass(frozen=True, slots=True)
class ApprovalClaim:
    """What a valid token says."""

    execution_id: str
    node_id: str
    decision: Decision
    expires_at: int
    title: str

    @property
    def event(self) -> str:
        """The event the approval node waits for."""
        return approval_event(self.node_id)


def approval_event(node_id: str) -> str:
    """The name of the event an ``approval`` node waits for."""
    return f"approval:{node_id}"


@dataclass(frozen=True, slots=True)
class ApprovalSigner:
    """Mints and checks approval tokens under one key."""

    key: bytes
    public_url: str
    """Where the API is reached from outside (links are ``<public_url>/approve/...``)."""

    def mint(
        self, execution_id: str, node_id: str, decision: Decision, expires_at: int, title: str
    ) -> str:
        """A signed token for one decision."""
        claims = {"e": execution_id, "n": node_id, "d": decision, "x": expires_at, "t": title}
        body = _b64(json.dumps(claims, separators=(",", ":"), ensure_ascii=True).encode())
        return f"{body}.{_b64(self._sign(body))}"

    def links(self, execution_id: str, node_id: str, expires_at: int, title: str) -> dict[str, str]:
        """``approve_url`` and ``reject_url`` of one approval node."""
        base = self.public_url.rstrip("/")
        return {
            f"{decision}_url": f"{base}/{decision}/"
            + quote(self.mint(execution_id, node_id, decision, expires_at, title), safe="")
            for decision in ("approve", "reject")
        }

    def verify(self, token: str) -> ApprovalClaim | None:
        """The token's claim when its signature is ours (expiry not checked), else None."""
        if len(token) > _MAX_TOKEN_LENGTH or token.count(".") != 1:
            return None
        body, signature = token.split(".")
        try:
            given = _unb64(signature)
            claims = json.loads(_unb64(body))
        except (ValueError, binascii.Error):
            return None
        if not hmac.compare_digest(given, self._sign(body)):
            return None
        try:
            decision = claims["d"]
            if decision not in ("approve", "reject"):
                return None
            return ApprovalClaim(
                execution_id=str(claims["e"]),
                node_id=str(claims["n"]),
                decision=decision,
                expires_at=int(claims["x"]),
                title=str(claims.get("t") or ""),
            )
        except (KeyError, TypeError, ValueError):
            return None

    def _sign(self, body: str) -> bytes:
        return hmac.new(self.key, _DOMAIN + body.encode(), hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))

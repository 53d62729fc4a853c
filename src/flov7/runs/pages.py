"""Opaque page tokens: URL-safe strings clients hand back unchanged.

Behind a token is either an engine's own cursor (Temporal's ``next_page_token`` bytes)
or a small JSON position (an offset, the last id seen), framed with a version byte and
a checksum. Clients must not build or parse them; a token that does not check out is a
400, never a 500 (nor a request Temporal would choke on).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from flov7.errors import InvalidQueryError

__all__ = [
    "decode_bytes",
    "decode_position",
    "encode_bytes",
    "encode_position",
    "keyset_page",
]

Row = TypeVar("Row")

_MAX_TOKEN_LENGTH = 8192
_VERSION = b"\x01"
_CHECKSUM_BYTES = 8
_INVALID = "Invalid page_token: pass back the token you were given"


def encode_bytes(raw: bytes | None) -> str | None:
    """An engine cursor as a token (None stays None: no further page)."""
    if not raw:
        return None
    framed = _VERSION + _checksum(raw) + raw
    return base64.urlsafe_b64encode(framed).decode("ascii").rstrip("=")


def decode_bytes(token: str | None) -> bytes | None:
    """The engine cursor behind a token; :class:`InvalidQueryError` if it is not one.

    Tokens carry a checksum so that a mangled or made-up token is refused here (400)
    rather than handed to Temporal, which answers those with retried internal errors.
    """
    if token is None or token == "":
        return None
    if len(token) > _MAX_TOKEN_LENGTH:
        raise InvalidQueryError("Invalid page_token: too long")
    try:
        framed = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError) as exc:
        raise InvalidQueryError(_INVALID) from exc
    header = len(_VERSION) + _CHECKSUM_BYTES
    raw = framed[header:]
    if framed[: len(_VERSION)] != _VERSION or framed[len(_VERSION) : header] != _checksum(raw):
        raise InvalidQueryError(_INVALID)
    return raw


def _checksum(raw: bytes) -> bytes:
    return hashlib.sha256(raw).digest()[:_CHECKSUM_BYTES]


def encode_position(kind: str, value: Any) -> str:
    """A position (``kind`` names what it indexes, so tokens cannot be mixed up)."""
    raw = json.dumps({"k": kind, "v": value}, separators=(",", ":")).encode()
    token = encode_bytes(raw)
    assert token is not None
    return token


def decode_position(token: str | None, kind: str) -> Any:
    """The position behind a token made by :func:`encode_position` with this ``kind``."""
    raw = decode_bytes(token)
    if raw is None:
        return None
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        data = None
    if not isinstance(data, dict) or data.get("k") != kind or "v" not in data:
        raise InvalidQueryError(_INVALID)
    return data["v"]


def keyset_page(
    rows: Sequence[Row], page_size: int, kind: str, position: Callable[[Row], Any]
) -> tuple[list[Row], str | None]:
    """Cut ``rows`` (fetched with ``limit=page_size + 1``) to a page and its next token.

    The extra row only says that there is a next page; the token holds the position of
    the page's last row, from which the next query starts.
    """
    page = list(rows[:page_size])
    more = len(rows) > page_size
    return page, encode_position(kind, position(page[-1])) if more else None

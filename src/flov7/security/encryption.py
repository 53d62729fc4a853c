"""AES-256-GCM with named keys, for payload encryption (:mod:`flov7.temporal.codec`).

A :class:`KeyRing` holds one or more 32-byte keys, each under a short id. The first
key encrypts; every key decrypts, so that after a rotation (a new key put first, the
old one kept after it) payloads written before still decrypt. The key id travels
with each ciphertext (in the Temporal payload's metadata), never the key.

``FLOV7_ENCRYPTION_KEYS=id:base64key[,id:base64key...]``; ``flov7 encryption-key``
prints a fresh key in that form.

This module knows nothing of Temporal: it encrypts bytes.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from flov7.errors import Flov7Error

__all__ = ["KEY_BYTES", "DecryptionError", "KeyRing", "new_key_spec"]

KEY_BYTES = 32
"""AES-256."""
_NONCE_BYTES = 12  # GCM's standard nonce; random per message
_KEY_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


class DecryptionError(Flov7Error):
    """A ciphertext could not be decrypted (unknown key id, wrong key, tampering)."""


def new_key_spec(key_id: str | None = None) -> str:
    """A fresh ``id:base64key`` entry for ``FLOV7_ENCRYPTION_KEYS``."""
    key_id = key_id or f"k{secrets.token_hex(4)}"
    return f"{key_id}:{base64.b64encode(os.urandom(KEY_BYTES)).decode()}"


@dataclass(frozen=True)
class KeyRing:
    """Named AES-256-GCM keys: :attr:`current_id` encrypts, all decrypt."""

    keys: dict[str, bytes]
    current_id: str

    @classmethod
    def parse(cls, spec: str) -> KeyRing:
        """Read ``id:base64key[,id:base64key...]`` (the first entry encrypts).

        Raises ValueError with a message that names the entry but never quotes a key.
        """
        keys: dict[str, bytes] = {}
        order: list[str] = []
        for index, entry in enumerate(part.strip() for part in spec.split(",")):
            if not entry:
                continue
            key_id, sep, encoded = entry.partition(":")
            if not sep or not _KEY_ID.fullmatch(key_id):
                raise ValueError(
                    f"FLOV7_ENCRYPTION_KEYS entry {index + 1} must look like "
                    "id:base64key (id of letters, digits, '.', '_' or '-')"
                )
            try:
                key = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                raise ValueError(
                    f"FLOV7_ENCRYPTION_KEYS key '{key_id}' is not valid base64"
                ) from None
            if len(key) != KEY_BYTES:
                raise ValueError(
                    f"FLOV7_ENCRYPTION_KEYS key '{key_id}' must be {KEY_BYTES} bytes "
                    f"(AES-256), got {len(key)}; make one with `flov7 encryption-key`"
                )
            if key_id in keys:
                raise ValueError(f"FLOV7_ENCRYPTION_KEYS names key '{key_id}' twice")
            keys[key_id] = key
            order.append(key_id)
        if not order:
            raise ValueError("FLOV7_ENCRYPTION_KEYS is set but holds no key")
        return cls(keys=keys, current_id=order[0])

    def encrypt(self, plaintext: bytes, *, associated_data: bytes = b"") -> tuple[str, bytes]:
        """``(key id, nonce + ciphertext + tag)`` under the current key."""
        nonce = os.urandom(_NONCE_BYTES)
        sealed = AESGCM(self.keys[self.current_id]).encrypt(nonce, plaintext, associated_data)
        return self.current_id, nonce + sealed

    def decrypt(self, key_id: str, data: bytes, *, associated_data: bytes = b"") -> bytes:
        """The plaintext of :meth:`encrypt`'s output, with the key it names."""
        key = self.keys.get(key_id)
        if key is None:
            raise DecryptionError(
                f"Payload encrypted with key '{key_id}', which FLOV7_ENCRYPTION_KEYS does not "
                "hold (keep old keys after the current one when rotating)"
            )
        try:
            return AESGCM(key).decrypt(data[:_NONCE_BYTES], data[_NONCE_BYTES:], associated_data)
        except (InvalidTag, ValueError):
            raise DecryptionError(
                f"Payload does not decrypt with key '{key_id}' (wrong key or tampered data)"
            ) from None

    def secret_values(self) -> list[str]:
        """The keys in the form they are configured in (to mask them out of logs)."""
        return [base64.b64encode(key).decode() for key in self.keys.values()]

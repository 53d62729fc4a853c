"""Payload encryption: a Temporal payload codec (AES-256-GCM, :mod:`flov7.security.encryption`).

With ``FLOV7_ENCRYPTION_KEYS`` set, every payload the client and worker send to
Temporal (workflow inputs: the document and the run input; activity inputs: rendered
node configs; activity results: node outputs; the run's result; memos; query answers;
signal arguments) is encrypted before it leaves the process. Temporal's history and
database hold ciphertext; only processes with the keys read it (as in the SDK's
``encryption`` sample). Failure messages and stack traces (node errors quote response
bodies) are moved into an encrypted payload too, by the SDK's
``DefaultFailureConverterWithEncodedAttributes``: the server sees "Encoded failure".
Search attributes are never encoded (the server indexes them).

An encrypted payload is a new payload whose metadata says ``encoding:
binary/encrypted`` and ``encryption-key-id: <id>``, and whose data is the original
payload, serialized, sealed under that key. Payloads without that encoding pass
through untouched, so turning encryption on keeps older runs readable.

:func:`data_converter` is composable: it adds the codec to the converter it is given
(the default one, or another feature's), and the payload store
(:mod:`flov7.temporal.payload_storage`) when one is configured. The SDK encodes with the
codec first and offloads after, so what the store holds is encrypted when encryption is
on; a reference in the history is not (it names a digest, not the data).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
)

from flov7.config import TemporalSettings
from flov7.security.encryption import DecryptionError, KeyRing

__all__ = [
    "ENCODING",
    "KEY_ID_METADATA",
    "DecryptionError",
    "EncryptionCodec",
    "data_converter",
    "decode_payloads_in",
]

ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"


class EncryptionCodec(PayloadCodec):
    """Encrypts payloads with the key ring's current key; decrypts with any of its keys."""

    def __init__(self, key_ring: KeyRing) -> None:
        self.key_ring = key_ring

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encode_one(payload) for payload in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decode_one(payload) for payload in payloads]

    def encode_one(self, payload: Payload) -> Payload:
        """The sealed form of ``payload``."""
        key_id, sealed = self.key_ring.encrypt(payload.SerializeToString())
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID_METADATA: key_id.encode()}, data=sealed
        )

    def decode_one(self, payload: Payload) -> Payload:
        """The original of a sealed payload; any other payload as it is.

        Raises :class:`DecryptionError` when the key is unknown or the data was altered.
        """
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        key_id = payload.metadata.get(KEY_ID_METADATA, b"").decode(errors="replace")
        return Payload.FromString(self.key_ring.decrypt(key_id, payload.data))


def data_converter(settings: TemporalSettings, base: DataConverter | None = None) -> DataConverter:
    """``base`` (default: the SDK's) with the encryption codec when keys are configured
    and the payload store when there is one (``FLOV7_PAYLOAD_STORE_DIR``)."""
    from flov7.temporal.payload_storage import external_storage

    base = base or DataConverter.default
    changes: dict[str, Any] = {}
    ring = settings.key_ring
    if ring is not None:
        changes["payload_codec"] = EncryptionCodec(ring)
        changes["failure_converter_class"] = DefaultFailureConverterWithEncodedAttributes
    storage = external_storage(settings)
    if storage is not None:
        changes["external_storage"] = storage
    return dataclasses.replace(base, **changes) if changes else base


async def decode_payloads_in(message: Message, converter: DataConverter) -> None:
    """Decode, in place, every payload anywhere in ``message`` (a history event, say),
    and put encoded failure messages back where they were.

    Raw history, as the server sends it, holds encoded payloads; the SDK decodes only
    what it reads itself (results, memos, queries). Flov7's timeline and raw-history
    answers read events directly, so they decode them here first. Payloads stored by
    reference are fetched from the payload store first (as the SDK's decode does).
    """
    codec = converter.payload_codec
    if codec is None and converter.external_storage is None:
        return
    found: list[Payload] = []
    failures: list[Failure] = []
    _walk(message, found, failures)
    if found and converter.external_storage is not None:
        # The SDK's own retrieval step (references in, stored payloads out, others as
        # they are): the same code path a worker's decode takes.
        fetched = await converter._external_retrieve_payload_sequence(found)
        for original, stored in zip(found, fetched, strict=True):
            if stored is not original:
                original.CopyFrom(stored)
    if found and codec is not None:
        decoded = await codec.decode(found)
        for original, plain in zip(found, decoded, strict=True):
            if plain is not original:
                original.CopyFrom(plain)
    for failure in failures:
        _restore_attributes(failure, converter)


def _restore_attributes(failure: Failure, converter: DataConverter) -> None:
    """Message and stack trace from a (decoded) ``encoded_attributes`` payload."""
    if not failure.HasField("encoded_attributes"):
        return
    try:
        attributes = converter.payload_converter.from_payloads([failure.encoded_attributes])[0]
    except Exception:  # not ours to read: leave the failure as the server has it
        return
    if isinstance(attributes, dict):
        failure.message = str(attributes.get("message", failure.message))
        failure.stack_trace = str(attributes.get("stack_trace", ""))
        failure.ClearField("encoded_attributes")


def _walk(message: Message, found: list[Payload], failures: list[Failure]) -> None:
    if isinstance(message, Payload):
        found.append(message)
        return
    if isinstance(message, Failure):
        failures.append(message)
    for field, value in message.ListFields():
        entry = field.message_type
        if field.type != FieldDescriptor.TYPE_MESSAGE or entry is None:
            continue
        if entry.GetOptions().map_entry:
            if entry.fields_by_name["value"].type == FieldDescriptor.TYPE_MESSAGE:
                for key in value:
                    _walk(value[key], found, failures)
        elif field.is_repeated:
            for item in value:
                _walk(item, found, failures)
        else:
            _walk(value, found, failures)

"""Large payloads by reference: a claim check on the SDK's ``ExternalStorage``.

Temporal keeps every payload in the run's history and refuses one over 2 MB. With a
payload store, the client's and the worker's data converter put each payload of at least
``FLOV7_PAYLOAD_STORE_THRESHOLD_BYTES`` into the store and send Temporal a reference
(about 200 bytes) instead; whoever reads the payload back (the worker replaying the run,
the API or CLI reading a result) fetches it from the store. The SDK does this itself
(:class:`temporalio.converter.ExternalStorage`, experimental in 1.35): this module is only
the storage driver, :class:`FilePayloadStore`, and the glue to the settings.

Order with encryption (``FLOV7_ENCRYPTION_KEYS``): the SDK runs the payload codec first,
then the store, so the store only ever holds ciphertext, and the history holds a
reference in clear (the reference names a digest, not the data).

The file store:

- content-addressed: a payload's file is named by the SHA-256 of its encoded bytes, so
  storing it again (an activity retried, a workflow task replayed) writes nothing new
  and every reference stays valid; writes go to a temporary file renamed into place, so
  a reader never sees half a payload, and reads check the digest;
- one directory, ``FLOV7_PAYLOAD_STORE_DIR`` (default ``<FLOV7_DATA_DIR>/payloads`` with
  the embedded server). Every process that reads or writes runs (the API, the CLI, each
  worker) must see the same directory: with workers on several machines, a shared file
  system (NFS, EFS, a mounted volume). A worker that cannot find a payload fails its
  workflow task with a message naming the setting, and Temporal retries it, so fixing the
  mount lets the run go on;
- nothing is deleted: references in a history stay valid for as long as Temporal keeps
  the history (the namespace's retention). Remove files older than that retention
  (``find <dir> -type f -mtime +N -delete``) to reclaim space.

An object store plugs in the same way: any :class:`~temporalio.converter.StorageDriver`
(the SDK ships ``temporalio.contrib.aws.s3driver.S3StorageDriver`` and
``temporalio.contrib.gcp.gcsdriver``) can replace :class:`FilePayloadStore` in
:func:`external_storage`; the limits (:func:`payload_limits`) do not change.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from temporalio.api.common.v1 import Payload
from temporalio.converter import (
    DataConverter,
    ExternalStorage,
    StorageDriver,
    StorageDriverClaim,
    StorageDriverRetrieveContext,
    StorageDriverStoreContext,
)

from flov7.config import TemporalSettings
from flov7.engine.payloads import INLINE_LIMITS, PayloadLimits
from flov7.errors import Flov7Error

__all__ = [
    "DRIVER_NAME",
    "FilePayloadStore",
    "PayloadStoreError",
    "external_storage",
    "payload_limits",
]

DRIVER_NAME = "flov7-file"
"""The driver's name, recorded in every reference: keep it stable (a renamed driver
cannot read the references of runs stored under the old name)."""

_DIGEST = "sha256"
_SIZE = "size"


class PayloadStoreError(Flov7Error):
    """A stored payload is missing or damaged (the message names the directory)."""


class FilePayloadStore(StorageDriver):
    """Keeps payloads as files named by their SHA-256 in one directory tree.

    ``<directory>/sha256/<2 hex>/<64 hex>``: the first two hex digits fan files out so
    that no directory grows too large. Files hold the payload's protobuf encoding (with
    encryption on: the sealed payload).
    """

    def __init__(self, directory: Path, *, max_payload_bytes: int | None = None) -> None:
        """``max_payload_bytes``: the largest output the limits allow (see
        :func:`payload_limits`); None: :data:`~flov7.engine.payloads` defaults."""
        self.directory = directory
        self.max_payload_bytes = max_payload_bytes

    def name(self) -> str:
        """See :meth:`StorageDriver.name`: recorded in every reference."""
        return DRIVER_NAME

    def type(self) -> str:
        """See :meth:`StorageDriver.type`."""
        return "flov7.file"

    def path_of(self, digest: str) -> Path:
        """Where the payload of SHA-256 ``digest`` (hex) lives."""
        return self.directory / _DIGEST / digest[:2] / digest

    async def store(
        self, context: StorageDriverStoreContext, payloads: Sequence[Payload]
    ) -> list[StorageDriverClaim]:
        """Write each payload (unless already there) and return its claim."""
        # Off the event loop: a worker's loop runs every workflow and activity it hosts,
        # and writing tens of MB would stall them all.
        return await asyncio.to_thread(self._store_all, [p.SerializeToString() for p in payloads])

    async def retrieve(
        self, context: StorageDriverRetrieveContext, claims: Sequence[StorageDriverClaim]
    ) -> list[Payload]:
        """Read back each claimed payload, checking its digest."""
        return await asyncio.to_thread(self._retrieve_all, list(claims))

    def _store_all(self, encoded: list[bytes]) -> list[StorageDriverClaim]:
        claims = []
        for data in encoded:
            digest = hashlib.sha256(data).hexdigest()
            self._write(self.path_of(digest), data)
            claims.append(StorageDriverClaim({_DIGEST: digest, _SIZE: str(len(data))}))
        return claims

    def _write(self, path: Path, data: bytes) -> None:
        if path.exists():
            return  # Same digest, same bytes: a retry or a replay stored it already.
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # A temporary file in the same directory, renamed into place: another process
        # storing the same payload at the same moment, or a crash mid-write, never
        # leaves a partial file under the final name.
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def _retrieve_all(self, claims: list[StorageDriverClaim]) -> list[Payload]:
        return [self._read(claim) for claim in claims]

    def _read(self, claim: StorageDriverClaim) -> Payload:
        digest = claim.claim_data.get(_DIGEST, "")
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise PayloadStoreError(f"Not a payload store claim: {dict(claim.claim_data)}")
        path = self.path_of(digest)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise PayloadStoreError(
                f"Payload {digest} is not in the payload store at {self.directory}: every "
                "API, CLI and worker process must share the same FLOV7_PAYLOAD_STORE_DIR "
                "(a shared file system when they run on several machines)"
            ) from None
        if hashlib.sha256(data).hexdigest() != digest:
            raise PayloadStoreError(f"Payload file {path} is damaged (its digest differs)")
        return Payload.FromString(data)


def external_storage(settings: TemporalSettings) -> ExternalStorage | None:
    """The SDK's external storage for ``settings``, or None when there is no store."""
    directory = settings.payload_store_path
    if directory is None:
        return None
    return ExternalStorage(
        drivers=[FilePayloadStore(directory, max_payload_bytes=settings.max_large_output_bytes)],
        payload_size_threshold=settings.payload_store_threshold_bytes,
    )


def payload_limits(converter: DataConverter) -> PayloadLimits:
    """The limits a process with ``converter`` can honour: larger ones when it stores
    payloads by reference, Temporal's own otherwise.

    A worker checks its activities' outputs against these, so a worker without a store
    never returns a result Temporal would refuse, whatever the run was stamped with.
    """
    storage = converter.external_storage
    if storage is None:
        return INLINE_LIMITS
    maxima = [
        driver.max_payload_bytes
        for driver in storage.drivers
        if isinstance(driver, FilePayloadStore) and driver.max_payload_bytes is not None
    ]
    if not maxima:
        # Another driver (an object store): take the setting's default.
        maxima = [int(TemporalSettings.model_fields["max_large_output_bytes"].default)]
    return PayloadLimits.with_store(storage.payload_size_threshold, min(maxima))

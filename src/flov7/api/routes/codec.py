"""The codec endpoint of the Temporal Web UI: ``POST /api/v1/codec/{decode,encode}``.

With payload encryption on (``FLOV7_ENCRYPTION_KEYS``), Temporal's history holds
ciphertext, and so does the Temporal Web UI's view of it. An operator who sets the
UI's *codec endpoint* to ``http://<flov7>:8002/api/v1/codec`` sees the payloads
decrypted: the UI (in the operator's browser) posts them here and shows the answer.
The keys never leave Flov7.

The protocol is Temporal's remote codec: a JSON body ``{"payloads": [{"metadata":
{...}, "data": "..."}]}`` (protobuf JSON, bytes in base64), the same shape back.
These routes need an API key like every ``/api/v1`` route (a decryption oracle must
not be open); the browser's CORS preflight is answered for the origins of
``FLOV7_CODEC_CORS_ORIGINS`` (the UI's address), without a key, as browsers send none.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from flov7.api.auth import require_api_key
from flov7.api.context import get_context
from flov7.api.errors import error_response
from flov7.api.runs import API_PREFIX

__all__ = ["router"]

router = APIRouter(prefix=f"{API_PREFIX}/codec", tags=["health"])

_bearer = HTTPBearer(auto_error=False)
_header = APIKeyHeader(name="X-API-Key", auto_error=False)
_ALLOWED_HEADERS = "authorization, content-type, x-api-key, x-namespace"


def _cors_headers(request: Request) -> dict[str, str]:
    origin = request.headers.get("origin")
    allowed = get_context(request).settings.flov7.codec_cors_origins
    origins = {item.strip().rstrip("/") for item in allowed.split(",") if item.strip()}
    if origin is None or origin.rstrip("/") not in origins:
        return {}
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Methods": "POST, OPTIONS",
        "Access-Control-Allow-Headers": _ALLOWED_HEADERS,
        "Access-Control-Allow-Credentials": "true",
        "Vary": "Origin",
    }


@router.options("/{operation}", include_in_schema=False)
async def preflight(request: Request, operation: str) -> Response:
    """The browser's CORS preflight (no key: browsers send none)."""
    return Response(status_code=204, headers=_cors_headers(request))


@router.post("/decode", summary="Decrypt payloads (Temporal Web UI codec endpoint)")
async def decode(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header_key: Annotated[str | None, Depends(_header)],
) -> Response:
    """Payloads as stored in Temporal in, the same payloads in clear out."""
    await require_api_key(request, bearer, header_key)
    return await _apply(request, decode=True)


@router.post("/encode", summary="Encrypt payloads (Temporal Web UI codec endpoint)")
async def encode(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header_key: Annotated[str | None, Depends(_header)],
) -> Response:
    """Payloads in clear in (what the UI sends with a signal), encrypted out."""
    await require_api_key(request, bearer, header_key)
    return await _apply(request, decode=False)


async def _apply(request: Request, *, decode: bool) -> Response:
    # The SDK's protobuf types, imported only when the endpoint is used (a local
    # deployment never loads the SDK).
    from google.protobuf import json_format
    from temporalio.api.common.v1 import Payloads

    from flov7.temporal.codec import DecryptionError, EncryptionCodec

    headers = _cors_headers(request)
    ring = get_context(request).settings.temporal.key_ring
    if ring is None:
        return error_response(
            404, "encryption_off", "Payload encryption is off (FLOV7_ENCRYPTION_KEYS is unset)"
        )
    try:
        payloads = json_format.Parse(await request.body(), Payloads())
    except json_format.ParseError as exc:
        return error_response(400, "invalid_payloads", f"Not a payloads document: {exc}")
    codec = EncryptionCodec(ring)
    try:
        done = await (codec.decode if decode else codec.encode)(payloads.payloads)
    except DecryptionError as exc:
        return error_response(400, "undecryptable", str(exc), headers=headers)
    body = json_format.MessageToDict(Payloads(payloads=done))
    return JSONResponse({"payloads": body.get("payloads", [])}, headers=headers)

"""One error shape for every failed request, and the handlers that produce it.

Every 4xx/5xx answer of the API is::

    {"error": {"code": "not_found", "message": "No execution 'x'", "details": null}}

``code`` is stable (clients branch on it), ``message`` is for people, ``details`` holds
structured extras (the validation report, the fields that failed). FastAPI's own
validation errors and Starlette's HTTP errors are reshaped to match; unexpected
exceptions become a bare 500 (logged here, never shown: no stack trace reaches a client).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.service import RPCError

from flov7.errors import (
    EngineUnavailableError,
    ExecutionAlreadyClosedError,
    ExecutionConflictError,
    ExecutionNotFoundError,
    Flov7Error,
    InvalidQueryError,
    InvalidWorkflowError,
    RunInputTooLargeError,
    RunServiceError,
    TemporalConnectionError,
)
from flov7.messages import error_message
from flov7.store.database import StoreError
from flov7.store.repository import (
    VersionConflictError,
    WorkflowExistsError,
    WorkflowNotFoundError,
)
from flov7.suggestions import closest

log = logging.getLogger(__name__)

__all__ = [
    "ApiError",
    "BadRequestError",
    "ConflictError",
    "NotFoundError",
    "PayloadTooLargeError",
    "ServiceUnavailableError",
    "UnauthorizedError",
    "error_body",
    "install_error_handlers",
]


class ApiError(Flov7Error):
    """An error the API answers with on purpose: status, stable code, message, details."""

    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, details: Any = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if code is not None:
            self.code = code


class BadRequestError(ApiError):
    """400: the request cannot be understood (bad JSON, bad page token, bad filter)."""


class UnauthorizedError(ApiError):
    """401: no API key, or not a valid one. Says nothing more, whatever the reason."""

    status_code = 401
    code = "unauthorized"


class NotFoundError(ApiError):
    """404: no such execution, workflow, version or node type."""

    status_code = 404
    code = "not_found"


class ConflictError(ApiError):
    """409: the resource is not in a state that allows this (closed run, version moved)."""

    status_code = 409
    code = "conflict"


class PayloadTooLargeError(ApiError):
    """413: the body is over ``FLOV7_MAX_REQUEST_BYTES``."""

    status_code = 413
    code = "payload_too_large"


class ServiceUnavailableError(ApiError):
    """503: a dependency (Temporal, the store) cannot be reached right now."""

    status_code = 503
    code = "unavailable"


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    """The JSON body of an error answer."""
    return {"error": {"code": code, "message": message, "details": details}}


def error_response(
    status_code: int,
    code: str,
    message: str,
    details: Any = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """An error answer in the one shape."""
    return JSONResponse(
        error_body(code, message, details), status_code=status_code, headers=headers
    )


# Domain errors raised below the routes, and the API error each one is.
_DOMAIN_ERRORS: Sequence[tuple[type[Exception], int, str]] = (
    (ExecutionNotFoundError, 404, "not_found"),
    (WorkflowNotFoundError, 404, "not_found"),
    (ExecutionAlreadyClosedError, 409, "execution_closed"),
    (ExecutionConflictError, 409, "execution_conflict"),
    (WorkflowExistsError, 409, "workflow_exists"),
    (VersionConflictError, 409, "version_conflict"),
    (InvalidQueryError, 400, "bad_request"),
    (RunInputTooLargeError, 413, "payload_too_large"),
    (EngineUnavailableError, 503, "temporal_unavailable"),
    (TemporalConnectionError, 503, "temporal_unavailable"),
    (StoreError, 503, "store_unavailable"),
)


def install_error_handlers(app: FastAPI) -> None:
    """Route every exception the app can raise to the one error shape."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for exc_type, _, _ in _DOMAIN_ERRORS:
        app.add_exception_handler(exc_type, _domain_error)
    app.add_exception_handler(RunServiceError, _domain_error)
    app.add_exception_handler(InvalidWorkflowError, _invalid_workflow)
    app.add_exception_handler(RPCError, _rpc_error)
    app.add_exception_handler(Exception, _unexpected_error)


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
    return error_response(exc.status_code, exc.code, exc.message, exc.details, headers)


async def _invalid_workflow(request: Request, exc: Exception) -> JSONResponse:
    # 422 with the whole report: every problem at once, each naming node and field.
    assert isinstance(exc, InvalidWorkflowError)
    return error_response(422, "invalid_workflow", str(exc), exc.report.as_dict())


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    for exc_type, status, code in _DOMAIN_ERRORS:
        if isinstance(exc, exc_type):
            details: dict[str, Any] | None = None
            if isinstance(exc, VersionConflictError):
                details = {"current_version": exc.current_version}
            if isinstance(exc, ExecutionAlreadyClosedError):
                details = {"status": exc.status}
            return error_response(status, code, str(exc), details)
    return error_response(503, "unavailable", str(exc))


async def _rpc_error(request: Request, exc: Exception) -> JSONResponse:
    # The backend translates the RPC errors it expects; one that slips through is a
    # Temporal-side problem, not a bug worth a 500.
    log.warning("Unexpected Temporal error on %s %s: %s", request.method, request.url.path, exc)
    return error_response(503, "temporal_unavailable", f"Temporal error: {exc}")


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    fields = _body_fields(request)
    problems = [_problem(error, fields) for error in exc.errors()]
    if any(problem["type"] == "json_invalid" for problem in problems):
        return error_response(400, "invalid_json", "The request body is not valid JSON", problems)
    not_json = _not_json_message(request, problems)
    if not_json is not None:
        return error_response(422, "validation_error", not_json, problems)
    problems = _merge_misnamed(problems)
    summary = "; ".join(f"{p['location']}: {p['message']}" for p in problems[:5])
    return error_response(422, "validation_error", f"Invalid request: {summary}", problems)


def _problem(error: Any, fields: tuple[str, ...] = ()) -> dict[str, Any]:
    # Only location, message and type: pydantic's ``input`` would echo the request back
    # (secrets included) and its ``ctx`` may hold exception objects.
    loc = tuple(error.get("loc", ()))
    location = ".".join(str(part) for part in loc)
    message = error_message(error)
    if error.get("type") == "extra_forbidden" and len(loc) == 2 and loc[0] == "body":
        message = _unknown_body_field(str(loc[1]), fields, error.get("input"))
    return {"location": location, "message": message, "type": error.get("type")}


def _body_fields(request: Request) -> tuple[str, ...]:
    """The fields of the matched route's body model (``workflow_data``, ``input``...)."""
    route = request.scope.get("route")
    body_field = getattr(route, "body_field", None)
    model = getattr(getattr(body_field, "field_info", None), "annotation", None)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return tuple(info.alias or name for name, info in model.model_fields.items())
    return ()


_DOCUMENT_NAMES = ("workflow", "definition", "document", "workflow_definition", "flow", "spec")
"""What people call the workflow document when they do not call it ``workflow_data``."""


def _unknown_body_field(key: str, fields: tuple[str, ...], value: Any) -> str:
    if key in ("nodes", "edges") and "workflow_data" in fields:
        return (
            f"'{key}' belongs to the workflow document: send it wrapped, as "
            '{"workflow_data": {"nodes": [...], "edges": [...]}}'
        )
    if isinstance(value, dict) and "workflow_data" in fields and key in _DOCUMENT_NAMES:
        suggestion: str | None = "workflow_data"  # An object: the document, not an id.
    else:
        suggestion = closest(key, fields)
    hint = f"did you mean '{suggestion}'? " if suggestion else ""
    known = ", ".join(f"'{name}'" for name in fields)
    return f"Unknown field '{key}'; {hint}This request takes {known or 'no other field'}"


def _merge_misnamed(problems: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop "Field required" for a field the request sent under another name: the
    unknown-field problem already says which (``workflow`` for ``workflow_data``)."""
    suggested = {
        p["message"].split("did you mean '", 1)[1].split("'", 1)[0]
        for p in problems
        if p["type"] == "extra_forbidden" and "did you mean '" in p["message"]
    }
    return [
        p
        for p in problems
        if not (p["type"] == "missing" and p["location"].removeprefix("body.") in suggested)
    ] or problems


def _not_json_message(request: Request, problems: list[dict[str, Any]]) -> str | None:
    """A body that is not a JSON object because it was not sent as JSON: say so."""
    content_type = request.headers.get("content-type", "")
    if "json" in content_type.lower():
        return None
    if not any(p["location"] == "body" for p in problems):
        return None
    got = f"'{content_type}'" if content_type else "none"
    return (
        "Send the request body as a JSON object with the header "
        f"'Content-Type: application/json' (Content-Type sent: {got})"
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    codes = {
        404: "not_found",
        405: "method_not_allowed",
        413: "payload_too_large",
        401: "unauthorized",
    }
    try:
        phrase = HTTPStatus(exc.status_code).phrase
    except ValueError:
        phrase = "Error"
    message = exc.detail if isinstance(exc.detail, str) and exc.detail else phrase
    code = codes.get(exc.status_code, phrase.lower().replace(" ", "_").replace("-", "_"))
    return error_response(exc.status_code, code, message, headers=dict(exc.headers or {}))


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("Unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "Internal server error")

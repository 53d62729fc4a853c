"""Models every resource shares: the error shape, links, id formats."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "EXECUTION_ID_PATTERN",
    "WORKFLOW_ID_PATTERN",
    "ErrorDetail",
    "ErrorResponse",
    "Links",
    "error_responses",
]

EXECUTION_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@-]*$"
"""Client-chosen execution ids: safe in a URL path and in a Temporal query."""
EXECUTION_ID_MAX_LENGTH = 200
WORKFLOW_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
"""Stored workflow ids: safe in a URL path and in a Temporal query."""
WORKFLOW_ID_MAX_LENGTH = 128


class ErrorDetail(BaseModel):
    """What went wrong."""

    code: str = Field(description="Stable machine-readable code, e.g. `not_found`.")
    message: str = Field(description="What happened and what to do about it.")
    details: Any = Field(default=None, description="Structured extras (validation report...).")


class ErrorResponse(BaseModel):
    """The body of every 4xx/5xx answer."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "error": {
                        "code": "not_found",
                        "message": "No execution 'orders-1b2c3d4e5f60'",
                        "details": None,
                    }
                }
            ]
        }
    )

    error: ErrorDetail


class Links(BaseModel):
    """Where to follow a run."""

    status: str = Field(examples=["/api/v1/workflow/status/orders-1b2c3d4e5f60"])
    history: str = Field(examples=["/api/v1/workflow/history/orders-1b2c3d4e5f60"])
    cancel: str = Field(examples=["/api/v1/workflow/cancel/orders-1b2c3d4e5f60"])
    terminate: str | None = Field(
        default=None, examples=["/api/v1/workflow/terminate/orders-1b2c3d4e5f60"]
    )


_DESCRIPTIONS = {
    400: "Malformed request (bad JSON, bad page token, unusable filter)",
    401: "Missing or invalid API key",
    404: "Not found",
    409: "Conflict with the resource's state",
    413: "Request body over FLOV7_MAX_REQUEST_BYTES",
    422: "Invalid request or workflow document",
    503: "Temporal or the store cannot be reached",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for these error statuses (401/413/422 always)."""
    wanted = sorted({401, 413, 422, *codes})
    return {
        code: {"model": ErrorResponse, "description": _DESCRIPTIONS.get(code, "Error")}
        for code in wanted
    }

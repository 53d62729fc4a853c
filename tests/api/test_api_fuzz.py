"""Property-based fuzzing of the OpenAPI schema (schemathesis): no request gets a 5xx.

For every operation the schema documents, schemathesis generates requests, valid ones
and invalid ones (wrong types, missing fields, odd headers), and each goes to the app
on each engine: the real Temporal dev server, and the local runtime. Whatever comes in,
the answer is never a server error, and every error answer has the one error shape.

Hypothesis runs in a worker thread (it is synchronous); each request is sent on the
session's event loop, where the app, its Temporal client and the worker live.
Examples are derandomised: the same requests every run, so a failure reproduces.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import schemathesis
from api_support import Engine, api_settings, running_app
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.core.result import Ok

from flov7.api.app import create_app
from flov7.config import TemporalSettings
from flov7.store.database import Database

MAX_EXAMPLES = 25
_BASE_URL = "http://flov7.test"

# The schema, built without starting anything (create_app does no I/O).
_SCHEMA = schemathesis.openapi.from_dict(
    create_app(api_settings(TemporalSettings(), Path("."))).openapi()
)
OPERATIONS: list[APIOperation[Any, Any, Any, Any]] = [
    result.ok() for result in _SCHEMA.get_all_operations() if isinstance(result, Ok)
]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def fuzz_app(
    api_engine: Engine,
    api_database: Database,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[FastAPI]:
    """The app, with ``?wait=true`` capped at 2 s so that no example can stall."""
    settings = api_engine.settings(Path(tmp_path_factory.mktemp("fuzz")))
    async with running_app(
        settings, backend=api_engine.backend, database=api_database, max_wait_seconds=2
    ) as app:
        yield app


def _request_kwargs(case: Case[Any]) -> dict[str, Any]:
    raw = case.as_transport_kwargs(base_url=_BASE_URL)
    kwargs: dict[str, Any] = {
        "method": raw["method"],
        "url": raw["url"],
        "headers": raw.get("headers") or {},
        "params": raw.get("params") or {},
        "cookies": raw.get("cookies") or {},
    }
    if "json" in raw:
        kwargs["json"] = raw["json"]
    elif "data" in raw:
        data = raw["data"]
        kwargs["content" if isinstance(data, bytes | str) else "data"] = data
    return kwargs


async def _send(app: FastAPI, kwargs: dict[str, Any]) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    cookies = kwargs.pop("cookies")
    async with httpx.AsyncClient(transport=transport, timeout=60, cookies=cookies) as client:
        return await client.request(**kwargs)


def _check(response: httpx.Response, kwargs: dict[str, Any]) -> None:
    where = f"{kwargs['method']} {kwargs['url']} params={kwargs['params']}"
    assert response.status_code < 500, f"{where} -> {response.status_code}: {response.text}"
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error"}, f"{where}: {body}"
        assert {"code", "message", "details"} == set(body["error"]), f"{where}: {body}"


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda operation: operation.label)
async def test_no_server_error(
    fuzz_app: FastAPI, operation: APIOperation[Any, Any, Any, Any]
) -> None:
    loop = asyncio.get_running_loop()
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )

    @given(case=cases)
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case: Case[Any]) -> None:
        try:
            kwargs = _request_kwargs(case)
            request = asyncio.run_coroutine_threadsafe(_send(fuzz_app, dict(kwargs)), loop)
            response = request.result(timeout=120)
        except (UnicodeEncodeError, httpx.InvalidURL, httpx.LocalProtocolError, TypeError):
            # A request HTTP itself cannot carry (e.g. a non-ASCII header): not ours.
            assume(False)
            return
        _check(response, kwargs)

    await asyncio.to_thread(fuzz)

"""API keys: FLOV7_API_KEYS and stored keys; 401 without a valid one; loopback-only without keys."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from api_support import API, api_settings, client_for, running_app
from fastapi import FastAPI

from flov7.api.auth import ApiKeyRing, create_api_key, hash_api_key, is_loopback
from flov7.config import TemporalSettings
from flov7.store.database import Database
from flov7.store.repository import Repository
from flov7.temporal.backend import TemporalBackend

ENV_KEYS = "first-env-key, second-env-key"


@pytest_asyncio.fixture(loop_scope="session")
async def keyed_app(
    api_backend: TemporalBackend, flov7_worker: TemporalSettings, tmp_path: Path
) -> AsyncIterator[FastAPI]:
    """An app with FLOV7_API_KEYS set and its own (empty) store."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'keys.db'}"
    settings = api_settings(flov7_worker, tmp_path, api_keys=ENV_KEYS)
    async with (
        Database.open(url) as database,
        running_app(settings, backend=api_backend, database=database) as app,
    ):
        yield app


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"X-API-Key": "wrong"},
        {"Authorization": "Basic Zmlyc3QtZW52LWtleTo="},
        {"Authorization": "Bearer "},
        {"Authorization": "first-env-key"},
    ],
    ids=["none", "wrong-bearer", "wrong-header", "basic", "empty-bearer", "no-scheme"],
)
async def test_missing_or_wrong_key_is_the_same_401(
    keyed_app: FastAPI, headers: dict[str, str]
) -> None:
    async with client_for(keyed_app) as client:
        for path in (f"{API}/node-types", f"{API}/workflow/status/x", f"{API}/health"):
            response = await client.get(path, headers=headers)
            assert response.status_code == 401, path
            assert response.json() == {
                "error": {
                    "code": "unauthorized",
                    "message": "Missing or invalid API key",
                    "details": None,
                }
            }
            assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer first-env-key"},
        {"Authorization": "bearer second-env-key"},
        {"X-API-Key": "second-env-key"},
    ],
)
async def test_env_keys_work_as_bearer_or_header(
    keyed_app: FastAPI, headers: dict[str, str]
) -> None:
    async with client_for(keyed_app) as client:
        response = await client.get(f"{API}/node-types", headers=headers)
        assert response.status_code == 200


async def test_probes_at_the_root_need_no_key(keyed_app: FastAPI) -> None:
    async with client_for(keyed_app) as client:
        assert (await client.get("/health")).status_code == 200
        assert (await client.get("/health/temporal")).status_code == 200
        assert (await client.get("/openapi.json")).status_code == 200


async def test_stored_keys_work_and_record_their_use(
    keyed_app: FastAPI,
) -> None:
    repository: Repository = keyed_app.state.context.repository
    record, key = await create_api_key(repository, "ci")
    assert key.startswith("flov7_") and record.id in key
    assert record.last_used_at is None
    async with client_for(keyed_app) as client:
        ok = await client.get(f"{API}/node-types", headers={"Authorization": f"Bearer {key}"})
        assert ok.status_code == 200
        revoked_later = await repository.delete_api_key(record.id)
        assert revoked_later
        gone = await client.get(f"{API}/node-types", headers={"X-API-Key": key})
        assert gone.status_code == 401
    listed = await repository.list_api_keys()
    assert record.id not in [item.id for item in listed]


async def test_only_hashes_are_stored(tmp_path: Path) -> None:
    async with Database.open(f"sqlite+aiosqlite:///{tmp_path / 'k.db'}") as database:
        repository = Repository(database)
        _, key = await create_api_key(repository, "ops")
        files = [tmp_path / "k.db", tmp_path / "k.db-wal"]  # WAL: recent writes in -wal
        raw = b"".join(path.read_bytes() for path in files if path.exists())
        assert key.encode() not in raw
        assert hash_api_key(key).encode() in raw
        found = await repository.find_api_key(hash_api_key(key))
        assert found is not None and found.name == "ops"
        ring = ApiKeyRing([], repository)
        assert await ring.required()
        assert await ring.verify(key)
        assert not await ring.verify(key + "x")
        touched = await repository.find_api_key(hash_api_key(key))
        assert touched is not None and touched.last_used_at is not None


async def test_a_key_created_while_running_turns_auth_on(
    api_backend: TemporalBackend, flov7_worker: TemporalSettings, tmp_path: Path
) -> None:
    async with (
        Database.open(f"sqlite+aiosqlite:///{tmp_path / 'late.db'}") as database,
        running_app(
            api_settings(flov7_worker, tmp_path), backend=api_backend, database=database
        ) as app,
        client_for(app) as client,
    ):
        assert (await client.get(f"{API}/node-types")).status_code == 200
        _, key = await create_api_key(Repository(database), "late")
        # "No keys" is believed for NO_KEYS_RECHECK_SECONDS: poll past it, not a timer.
        for _ in range(100):
            keyless = await client.get(f"{API}/node-types")
            if keyless.status_code == 401:
                break
            await asyncio.sleep(0.1)
        assert keyless.status_code == 401
        authorised = await client.get(f"{API}/node-types", headers={"X-API-Key": key})
        assert authorised.status_code == 200


async def test_without_keys_only_loopback_clients_are_served(api_app: FastAPI) -> None:
    async with client_for(api_app, client=("10.1.2.3", 40000)) as remote:
        response = await remote.get(f"{API}/node-types")
        assert response.status_code == 401
        assert (await remote.get("/health")).status_code == 200
    async with client_for(api_app, client=("::1", 40000)) as local6:
        assert (await local6.get(f"{API}/node-types")).status_code == 200


async def test_allow_unauthenticated_serves_remote_clients(
    api_backend: TemporalBackend,
    api_database: Database,
    flov7_worker: TemporalSettings,
    tmp_path: Path,
) -> None:
    settings = api_settings(flov7_worker, tmp_path, allow_unauthenticated=True)
    async with (
        running_app(settings, backend=api_backend, database=api_database) as app,
        client_for(app, client=("10.1.2.3", 40000)) as remote,
    ):
        assert (await remote.get(f"{API}/node-types")).status_code == 200


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.1", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.5", False),
        ("example.com", False),
        ("", False),
        (None, False),
    ],
)
def test_is_loopback(host: str | None, loopback: bool) -> None:
    assert is_loopback(host) is loopback


async def test_concurrent_requests_ask_the_store_once(tmp_path: Path) -> None:
    calls = []

    class CountingRepository(Repository):
        async def has_api_keys(self) -> bool:
            calls.append(1)
            return await super().has_api_keys()

    async with Database.open(f"sqlite+aiosqlite:///{tmp_path / 'once.db'}") as database:
        ring = ApiKeyRing([], CountingRepository(database))
        answers = await asyncio.gather(*(ring.required() for _ in range(20)))
        assert answers == [False] * 20
        assert len(calls) == 1  # then "no keys" is believed for NO_KEYS_RECHECK_SECONDS
        await create_api_key(Repository(database), "now")
        assert await ApiKeyRing([], Repository(database)).required()  # a fresh ring asks

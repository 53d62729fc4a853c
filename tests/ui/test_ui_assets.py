"""The UI's server side without a browser: ``GET /`` and its assets, served from package
files only, every file shipped as package data, ``/docs`` still there."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from pathlib import Path

import httpx
import pytest
from ui_support import ui_settings

from flov7.api.app import create_app
from flov7.config import TemporalSettings
from flov7.ui import STATIC_DIR

ROOT = Path(__file__).resolve().parents[2]
_IMPORT = re.compile(r"""from\s+"(\.{1,2}/[^"]+)"|import\s+"(\.{1,2}/[^"]+)\"""")
_URL = re.compile(r"https?://(?!www\.w3\.org/2000/svg)")
_ASSET = re.compile(r"""(?:src|href)="(/ui/static/[^"]+)\"""")


@pytest.fixture
async def client(tmp_path: Path) -> httpx.AsyncClient:
    # Building the app does no I/O; the UI's routes need no lifespan.
    app = create_app(ui_settings(TemporalSettings(), tmp_path))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://flov7.test")


def asset_paths() -> set[str]:
    """Every URL the page loads: index.html's assets and the modules they import."""
    found = set(_ASSET.findall((STATIC_DIR / "index.html").read_text()))
    todo = [path for path in found if path.endswith(".js")]
    while todo:
        path = todo.pop()
        source = (STATIC_DIR / path.removeprefix("/ui/static/")).read_text()
        for match in _IMPORT.finditer(source):
            relative = match.group(1) or match.group(2)
            url = str(Path(path).parent.joinpath(relative).resolve())
            if url not in found:
                found.add(url)
                todo.append(url)
    return found


async def test_the_page_is_served_at_the_root_with_a_strict_policy(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/", headers={"Accept": "text/html,application/xhtml+xml"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "script-src 'self';" in policy
    assert "http" not in response.text.replace("http-equiv", "")  # no absolute URL at all


async def test_every_asset_is_served_from_the_package(client: httpx.AsyncClient) -> None:
    paths = asset_paths()
    assert {"/ui/static/app.css", "/ui/static/js/app.js", "/ui/static/js/graph.js"} <= paths
    for path in sorted(paths):
        response = await client.get(path)
        assert response.status_code == 200, path
        # Nothing from the network: no absolute URL but the SVG namespace (a name).
        assert not _URL.search(response.text), path


async def test_docs_and_the_api_stay_where_they_were(client: httpx.AsyncClient) -> None:
    assert (await client.get("/docs")).status_code == 200
    schema = (await client.get("/openapi.json")).json()
    assert "/api/v1/workflow/stream/{execution_id}" in schema["paths"]
    assert "/" not in schema["paths"]  # the page is not an API operation


def test_every_static_file_is_package_data() -> None:
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["flov7"]
    package = ROOT / "src" / "flov7"
    files = [path for path in STATIC_DIR.rglob("*") if path.is_file()]
    assert len(files) >= 10
    for path in files:
        relative = path.relative_to(package).as_posix()
        assert any(fnmatch.fnmatch(relative, pattern) for pattern in globs), relative


async def test_the_root_answers_other_clients_with_where_things_are(
    client: httpx.AsyncClient,
) -> None:
    """curl and scripts (no HTML in Accept) get the map: the UI, the docs, the API."""
    response = await client.get("/", headers={"Accept": "*/*"})
    assert response.status_code == 200
    assert (response.json()["ui"], response.json()["docs"]) == ("/", "/docs")

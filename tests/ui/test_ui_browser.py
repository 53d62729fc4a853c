"""The web UI end to end: a real headless Chromium against the app served on 127.0.0.1,
runs on the session's Temporal dev server (and the local engine for sign-in).

Every wait is Playwright waiting on a condition (``expect``), never a sleep. Each test
writes the screenshot of its screen to docs/images/ (shown in docs/ui.md and the README).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import Browser, Page, expect
from ui_support import SCREENSHOTS, UI_KEY, unique

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
UI_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ui"
"""Documents of the UI tests' own (the examples change with the features they show)."""
WAIT = 30_000
"""Milliseconds a condition may take (runs on a shared, busy machine)."""

expect.set_options(timeout=WAIT)


async def store(http: httpx.AsyncClient, document: dict[str, Any]) -> str:
    """Store ``document`` under a fresh id; return the id."""
    workflow_id = unique(str(document.get("id", "wf")))
    response = await http.post(
        "/api/v1/workflows", json={"id": workflow_id, "document": {**document, "id": workflow_id}}
    )
    assert response.status_code == 201, response.text
    return workflow_id


def example(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((EXAMPLES / f"{name}.json").read_text())
    return document


async def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    # The transient "Started ..." notice would cover part of the screen.
    await page.evaluate("document.getElementById('toast').textContent = ''")
    await page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


async def assert_labelled(page: Page) -> None:
    """Every form control has a label and every button a name (screen readers)."""
    unnamed = await page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea, button')]
            .filter((el) => el.closest('dialog:not([open])') === null)
            .filter((el) => el.tagName === 'BUTTON'
                ? !el.textContent.trim() && !el.getAttribute('aria-label')
                : el.labels.length === 0 && !el.getAttribute('aria-label'))
            .map((el) => el.outerHTML)"""
    )
    assert unnamed == []


def run_status(page: Page) -> Any:
    """The run's status badge on an execution screen."""
    return page.locator("#run-status .badge")


def node(page: Page, node_id: str) -> Any:
    return page.locator(f'g.node[data-node-id="{node_id}"]')


async def test_run_an_example_with_input_and_read_a_node(
    page: Page, http: httpx.AsyncClient, ui_url: str
) -> None:
    """Store a workflow from the UI (an invalid one is refused with the reason), save a
    second version, see its graph, handles and the diff of the versions, Run it with an
    edited input, watch the nodes turn completed, read a node's output and input."""
    fixture = json.loads((UI_FIXTURES / "order_review.json").read_text())
    document = {**fixture, "id": unique("order-review")}
    workflow_id = document["id"]
    second = copy.deepcopy(document)
    second["input"]["amount"] = 75

    await page.goto(f"{ui_url}/")
    await expect(page.get_by_role("heading", name="Workflows")).to_be_visible()
    await page.get_by_text("Store a workflow").click()
    editor = page.get_by_label("Workflow document")
    await editor.fill(json.dumps({"id": "bad", "nodes": [{"id": "x", "type": "no_such_type"}]}))
    await page.get_by_role("button", name="Store workflow").click()
    await expect(page.locator(".store-form .error")).to_contain_text("invalid")
    await editor.fill(json.dumps(document))
    await page.get_by_role("button", name="Store workflow").click()
    await expect(page.get_by_role("heading", name=document["name"])).to_be_visible()
    await page.get_by_text("Edit the document (new version)").click()
    await page.get_by_label("Document (saved as v2)").fill(json.dumps(second))
    await page.get_by_role("button", name="Save new version").click()
    await expect(page.locator("#run-button")).to_have_text("Run v2")
    listed = await http.get(f"/api/v1/workflows/{workflow_id}")
    assert listed.json()["current_version"] == 2
    await expect(page.locator("g.node")).to_have_count(len(document["nodes"]))
    await expect(page.locator(".edge.handle-true .handle-label")).to_have_text("true")
    await expect(page.locator(".edge.handle-false .handle-label")).to_have_text("false")
    # The input editor is prefilled from the current version's document.
    assert json.loads(await page.locator("#run-input").input_value()) == second["input"]
    await node(page, "is_big").click()
    await expect(page.locator("#node-info")).to_contain_text("inputs.amount > 100")
    await page.select_option("#compare", "1")
    first_amount = document["input"]["amount"]
    await expect(page.locator(".diff-removed")).to_contain_text(f'"amount": {first_amount}')
    await expect(page.locator(".diff-added")).to_contain_text('"amount": 75')
    await assert_labelled(page)
    await shot(page, "workflow")

    await page.locator("#run-input").fill(json.dumps({**second["input"], "amount": 500}))
    await page.get_by_role("button", name="Run v2").click()
    await expect(run_status(page)).to_have_attribute("data-status", "running")
    # The big-order branch waits 2 s on a durable timer: watch it run, then finish.
    await expect(node(page, "hold")).to_have_attribute("data-status", "running")
    await expect(page.locator("#live-mode")).to_have_text("Live")
    await expect(run_status(page)).to_have_attribute("data-status", "completed")
    for node_id in ("price", "is_big", "hold", "approve", "summary"):
        await expect(node(page, node_id)).to_have_attribute("data-status", "completed")
        await expect(node(page, node_id).locator(".node-status")).to_have_text("✓ completed")
    await expect(node(page, "auto")).to_have_attribute("data-status", "skipped")

    await assert_labelled(page)
    # Keyboard: Tab reaches the graph's nodes (in document order); Enter opens a panel.
    await page.locator("h1").click()  # Tab goes on from here
    for _ in range(40):
        await page.keyboard.press("Tab")
        focused = await page.evaluate("document.activeElement.dataset.nodeId || null")
        if focused == "summary":
            break
    assert focused == "summary"
    await page.keyboard.press("Enter")
    panel = page.locator("#node-panel")
    await expect(panel.locator("h2")).to_have_text("Summary")
    await expect(panel.get_by_label("Output")).to_contain_text("ACME: approved after review (500)")
    await expect(panel.get_by_label("Input (rendered config)")).to_contain_text("expression")
    await expect(page.locator(".timeline-row")).to_have_count(len(document["nodes"]))
    await expect(page.locator('.timeline-row[data-node-id="hold"]')).to_contain_text("completed")
    await shot(page, "execution")

    # A node's output as a collapsible tree.
    await node(page, "price").click()
    output = panel.get_by_label("Output")
    await expect(output).to_contain_text("customer")
    await output.locator("summary").first.click()
    await expect(output.locator("details").first).not_to_have_attribute("open", "")


async def test_executions_list_filters_and_refreshes(
    page: Page, http: httpx.AsyncClient, ui_url: str
) -> None:
    """Executions newest first, filtered by workflow and status; a run started while the
    list is open shows up without a reload (auto-refresh)."""
    workflow_id = await store(http, example("parallel_checks"))
    await page.goto(f"{ui_url}/#/executions?workflow_id={workflow_id}")
    await expect(page.locator("table.executions, .empty")).to_have_count(1)
    started = await http.post(f"/api/v1/workflows/{workflow_id}/execute", json={})
    assert started.status_code == 202, started.text
    execution_id = started.json()["execution_id"]
    row = page.locator(f'tr[data-execution-id="{execution_id}"]')
    await expect(row).to_be_visible()
    await expect(row.locator(".badge")).to_have_attribute("data-status", "completed")
    await expect(row.locator(".badge")).to_contain_text("✓")
    await page.select_option("#f-status", "completed")
    await page.get_by_role("button", name="Apply").click()
    query = f"status=completed&workflow_id={workflow_id}"
    await expect(page).to_have_url(f"{ui_url}/#/executions?{query}")
    await expect(row).to_be_visible()
    await assert_labelled(page)
    await shot(page, "executions")
    await page.get_by_label("Started after").fill("2099-01-01T00:00")
    await page.get_by_role("button", name="Apply").click()
    await expect(page.locator(".empty")).to_have_text("No executions match.")
    await page.get_by_label("Started after").fill("")
    await page.get_by_label("Started before").fill("2099-01-01T00:00")
    await page.get_by_role("button", name="Apply").click()
    await expect(row).to_be_visible()
    await page.select_option("#f-status", "failed")
    await page.get_by_role("button", name="Apply").click()
    await expect(page.locator(".empty")).to_have_text("No executions match.")


async def test_cancel_a_long_run_from_the_ui(
    page: Page, http: httpx.AsyncClient, ui_url: str
) -> None:
    """A run waiting on a long timer is cancelled with the Cancel button; the waiting
    node ends cancelled and the actions are disabled."""
    workflow_id = await store(
        http,
        {
            "id": "long-wait",
            "name": "Long wait",
            "input": {"seconds": 300},
            "nodes": [
                {"id": "wait", "type": "delay", "data": {"label": "Wait", "delay_seconds": 300}},
                {"id": "after", "type": "transform", "data": {"mapping": {"done": "true"}}},
            ],
            "edges": [{"id": "e1", "source": "wait", "target": "after"}],
        },
    )
    await page.goto(f"{ui_url}/#/workflows/{workflow_id}")
    await page.get_by_role("button", name="Run v1").click()
    await expect(node(page, "wait")).to_have_attribute("data-status", "running")
    await page.get_by_role("button", name="Cancel run").click()
    await expect(run_status(page)).to_have_attribute("data-status", "cancelled")
    await expect(node(page, "wait")).to_have_attribute("data-status", "cancelled")
    await expect(node(page, "wait").locator(".node-status")).to_have_text("⊘ cancelled")
    await expect(page.get_by_role("button", name="Cancel run")).to_be_disabled()
    await expect(page.get_by_role("button", name="Terminate")).to_be_disabled()
    await shot(page, "cancelled")


async def test_a_failed_run_shows_its_error_on_the_failed_node(
    page: Page, http: httpx.AsyncClient, ui_url: str
) -> None:
    """An api_call to a closed port fails after its retries: the node shows failed, and
    its panel the error and attempts; the rendered input has its template filled in and
    its secret header redacted."""
    with socketless_port() as port:
        workflow_id = await store(
            http,
            {
                "id": "failing-call",
                "name": "Failing call",
                "input": {"path": "orders"},
                "nodes": [
                    {"id": "prepare", "type": "transform", "data": {"mapping": {"ok": "true"}}},
                    {
                        "id": "fetch",
                        "type": "api_call",
                        "data": {
                            "label": "Fetch orders",
                            "url": f"http://127.0.0.1:{port}/{{{{ input.path }}}}",
                            "method": "GET",
                            "headers": {"Authorization": "Bearer s3cr3t-value"},
                            "retry": {"max_attempts": 2, "initial_interval_seconds": 0.1},
                        },
                    },
                ],
                "edges": [{"id": "e1", "source": "prepare", "target": "fetch"}],
            },
        )
        await page.goto(f"{ui_url}/#/workflows/{workflow_id}")
        await page.get_by_role("button", name="Run v1").click()
        await expect(run_status(page)).to_have_attribute("data-status", "failed")
    await expect(node(page, "fetch")).to_have_attribute("data-status", "failed")
    await expect(node(page, "fetch").locator(".node-status")).to_have_text("✗ failed")
    await expect(page.locator(".run-error")).to_contain_text("at node fetch")
    # The failed node is selected for the reader.
    panel = page.locator("#node-panel")
    await expect(panel.locator("h2")).to_have_text("Fetch orders")
    error = panel.get_by_role("alert", name="Error")
    await expect(error).to_be_visible()
    await expect(panel.locator(".facts")).to_contain_text("Attempts2")
    rendered = panel.get_by_label("Input (rendered config)")
    await expect(rendered).to_contain_text(f"http://127.0.0.1:{port}/orders")
    await expect(rendered).to_contain_text('"***"')
    await expect(panel).not_to_contain_text("s3cr3t-value")
    await shot(page, "failed")


async def test_sign_in_with_an_api_key(browser: Browser, keyed_ui_url: str) -> None:
    """With keys configured the UI asks for one; a wrong key is refused; the right one
    is kept in session storage (never in the URL) and sent as a header."""
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    seen: list[str] = []
    page.on("request", lambda request: seen.append(request.url))
    try:
        await page.goto(f"{keyed_ui_url}/")
        dialog = page.get_by_role("dialog", name="Sign in")
        await expect(dialog).to_be_visible()
        await shot(page, "sign-in")
        await page.get_by_label("API key").fill("flov7_wrong")
        await page.get_by_role("button", name="Sign in").click()
        refused = page.locator("#signin-error")
        await expect(refused).to_have_text("That key was refused. Try another.")
        await page.get_by_label("API key").fill(UI_KEY)
        await page.get_by_role("button", name="Sign in").click()
        await expect(dialog).to_be_hidden()
        await expect(page.get_by_role("heading", name="Workflows")).to_be_visible()
        await expect(page.locator("#session")).to_contain_text("Signed in")
        assert await page.evaluate("sessionStorage.getItem('flov7.apiKey')") == UI_KEY
        await page.reload()
        await expect(page.get_by_role("heading", name="Workflows")).to_be_visible()
        await expect(dialog).to_be_hidden()
        # The live stream is read with the key too (a header, not the URL): a run on the
        # local engine is followed live to its end.
        headers = {"Authorization": f"Bearer {UI_KEY}"}
        async with httpx.AsyncClient(base_url=keyed_ui_url, headers=headers) as http:
            refused = await http.get("/api/v1/workflows", headers={"Authorization": ""})
            assert refused.status_code == 401
            doc = {
                "id": unique("keyed"),
                "nodes": [{"id": "wait", "type": "delay", "data": {"delay_seconds": 1.5}}],
                "edges": [],
            }
            stored = await http.post("/api/v1/workflows", json={"document": doc})
            assert stored.status_code == 201, stored.text
        await page.goto(f"{keyed_ui_url}/#/workflows/{doc['id']}")
        await page.get_by_role("button", name="Run v1").click()
        await expect(page.locator("#live-mode")).to_have_text("Live")
        await expect(run_status(page)).to_have_attribute("data-status", "completed")
        assert not [url for url in seen if UI_KEY in url]
        await page.get_by_role("button", name="Sign out").click()
        await expect(dialog).to_be_visible()
    finally:
        await context.close()


async def test_narrow_window(browser: Browser, http: httpx.AsyncClient, ui_url: str) -> None:
    """On a phone-sized window the screens stack and nothing scrolls sideways."""
    workflow_id = await store(http, example("parallel_checks"))
    started = await http.post(
        f"/api/v1/workflows/{workflow_id}/execute", params={"wait": "true"}, json={}
    )
    assert started.status_code == 200, started.text
    context = await browser.new_context(viewport={"width": 390, "height": 800})
    page = await context.new_page()
    try:
        await page.goto(f"{ui_url}/#/executions/{started.json()['execution_id']}")
        await expect(run_status(page)).to_have_attribute("data-status", "completed")
        await expect(page.locator(".timeline-row")).to_have_count(7)
        await node(page, "name_fallback").click()
        await expect(page.locator("#node-panel h2")).to_have_text("name_fallback")
        overflow = await page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0
        await shot(page, "narrow")
    finally:
        await context.close()


@contextlib.contextmanager
def socketless_port() -> Iterator[int]:
    """A loopback port with nothing listening (held bound but not listening, so no other
    test takes it meanwhile): connections to it are refused."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        port: int = held.getsockname()[1]
        yield port


async def test_an_inline_run_shows_its_nodes(
    page: Page, http: httpx.AsyncClient, ui_url: str
) -> None:
    """A run of an inline document (not stored) still shows every node and its status;
    the edges are not known, and the page says so."""
    document = {
        "id": unique("inline"),
        "nodes": [
            {"id": "one", "type": "transform", "data": {"mapping": {"n": "1"}}},
            {"id": "two", "type": "transform", "data": {"mapping": {"n": "inputs.n + 1"}}},
        ],
        "edges": [{"id": "e", "source": "one", "target": "two"}],
    }
    done = await http.post(
        "/api/v1/workflow/execute", params={"wait": "true"}, json={"workflow_data": document}
    )
    assert done.status_code == 200, done.text
    await page.goto(f"{ui_url}/#/executions/{done.json()['execution_id']}")
    await expect(run_status(page)).to_have_attribute("data-status", "completed")
    await expect(page.locator("#graph-note")).to_contain_text("without their edges")
    await expect(node(page, "two")).to_have_attribute("data-status", "completed")
    await node(page, "two").click()
    await expect(page.locator("#node-panel").get_by_label("Output")).to_contain_text("2")


async def test_polling_takes_over_when_the_stream_drops(
    page: Page, http: httpx.AsyncClient, ui_url: str
) -> None:
    """With the event stream refused, the execution screen polls the status route and
    still follows the run to its end."""
    workflow_id = await store(
        http,
        {
            "id": "short-wait",
            "nodes": [
                {"id": "wait", "type": "delay", "data": {"delay_seconds": 1.5}},
                {"id": "after", "type": "transform", "data": {"mapping": {"done": "true"}}},
            ],
            "edges": [{"id": "e1", "source": "wait", "target": "after"}],
        },
    )
    await page.route("**/api/v1/workflow/stream/**", lambda route: route.abort())
    await page.goto(f"{ui_url}/#/workflows/{workflow_id}")
    await page.get_by_role("button", name="Run v1").click()
    await expect(page.locator("#live-mode")).to_have_text("Live (polling)")
    await expect(node(page, "wait")).to_have_attribute("data-status", "running")
    await expect(run_status(page)).to_have_attribute("data-status", "completed")
    await expect(node(page, "after")).to_have_attribute("data-status", "completed")


async def test_terminate_a_run_from_the_ui(
    page: Page, http: httpx.AsyncClient, ui_url: str
) -> None:
    """Terminate asks for confirmation, then ends the run at once."""
    workflow_id = await store(
        http,
        {
            "id": "to-terminate",
            "nodes": [{"id": "wait", "type": "delay", "data": {"delay_seconds": 300}}],
            "edges": [],
        },
    )
    page.once("dialog", lambda dialog: dialog.accept())
    await page.goto(f"{ui_url}/#/workflows/{workflow_id}")
    await page.get_by_role("button", name="Run v1").click()
    await expect(node(page, "wait")).to_have_attribute("data-status", "running")
    await page.get_by_role("button", name="Terminate").click()
    await expect(run_status(page)).to_have_attribute("data-status", "terminated")
    await expect(run_status(page)).to_contain_text("■ terminated")
    await expect(page.locator("#live-mode")).to_have_text("Closed")


async def test_executions_are_paged(page: Page, http: httpx.AsyncClient, ui_url: str) -> None:
    """Next and Previous walk the pages of the listing, newest first."""
    workflow_id = await store(
        http,
        {"id": "paged", "nodes": [{"id": "a", "type": "transform", "data": {"mapping": {}}}]},
    )
    started = []
    for _ in range(3):
        done = await http.post(
            f"/api/v1/workflows/{workflow_id}/execute", params={"wait": "true"}, json={}
        )
        assert done.status_code == 200, done.text
        started.append(done.json()["execution_id"])
    # Temporal's listing lags about a second behind: wait until it has all three.
    for _ in range(150):
        listed = await http.get("/api/v1/workflow/executions", params={"workflow_id": workflow_id})
        if len(listed.json()["executions"]) == 3:
            break
        await asyncio.sleep(0.2)
    await page.goto(f"{ui_url}/#/executions?workflow_id={workflow_id}&page_size=2")
    rows = page.locator("tr[data-execution-id]")
    await expect(rows).to_have_count(2)
    await expect(rows.first).to_have_attribute("data-execution-id", started[2])
    await page.get_by_role("button", name="Next →").click()
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_have_attribute("data-execution-id", started[0])
    await expect(page.get_by_text("Page 2")).to_be_visible()
    await page.get_by_role("button", name="← Previous").click()
    await expect(rows).to_have_count(2)
    await expect(page.get_by_role("button", name="← Previous")).to_be_disabled()

"""Unit tests of the UI's own modules, run in the browser that runs them (the UI has no
build step, so its ES modules are imported as served): layout, diff, timeline bars."""

from __future__ import annotations

import json
from typing import Any

from playwright.async_api import Page


async def call(page: Page, ui_url: str, module: str, expression: str) -> Any:
    """Import ``/ui/static/js/<module>`` as ``m`` in the page and evaluate ``expression``."""
    await page.goto(f"{ui_url}/")
    return await page.evaluate(
        f"async () => {{ const m = await import('/ui/static/js/{module}'); return {expression}; }}"
    )


async def test_layered_layout_puts_each_node_after_its_parents(page: Page, ui_url: str) -> None:
    nodes = "[{id:'a'},{id:'b'},{id:'c'},{id:'d'}]"
    edges = json.dumps([{"source": s, "target": t} for s, t in ("ab", "ac", "bd", "cd")])
    positions = await call(page, ui_url, "graph.js", f"m.layered({nodes}, {edges})")
    xs = {node: positions[node]["x"] for node in "abcd"}
    assert xs["a"] < xs["b"] == xs["c"] < xs["d"]
    assert positions["b"]["y"] != positions["c"]["y"]


async def test_positions_of_the_document_win(page: Page, ui_url: str) -> None:
    doc = "{nodes:[{id:'a',position:{x:0,y:0}},{id:'b',position:{x:100,y:50}}],edges:[]}"
    positions = await call(page, ui_url, "graph.js", f"m.layout({doc})")
    assert positions["a"] == {"x": 0, "y": 0}
    assert positions["b"]["x"] > 100 and positions["b"]["y"] > 50  # spread, order kept
    # One node without a position: the automatic layout for all.
    mixed = "{nodes:[{id:'a',position:{x:0,y:0}},{id:'b'}],edges:[{source:'a',target:'b'}]}"
    positions = await call(page, ui_url, "graph.js", f"m.layout({mixed})")
    assert positions["b"]["x"] > positions["a"]["x"]


async def test_diff_of_two_documents(page: Page, ui_url: str) -> None:
    lines = await call(page, ui_url, "json.js", "m.diffLines({a: 1, b: 2}, {b: 2, a: 3})")
    assert [(line["op"], line["line"].strip()) for line in lines if line["op"] != " "] == [
        ("-", '"a": 1,'),
        ("+", '"a": 3,'),
    ]
    same = await call(page, ui_url, "json.js", "m.diffLines({x: [1, 2]}, {x: [1, 2]})")
    assert all(line["op"] == " " for line in same)


async def test_attempt_bars_split_at_failed_attempts(page: Page, ui_url: str) -> None:
    events = (
        "[{node_id:'n',event:'scheduled',time:'2026-01-01T00:00:00Z'},"
        "{node_id:'n',event:'attempt_failed',time:'2026-01-01T00:00:01Z',"
        "details:{cause:{type:'HttpError',message:'503'}}},"
        "{node_id:'n',event:'started',time:'2026-01-01T00:00:02Z'},"
        "{node_id:'n',event:'completed',time:'2026-01-01T00:00:03Z'},"
        "{node_id:'s',event:'skipped',time:'2026-01-01T00:00:03Z'}]"
    )
    bars = await call(page, ui_url, "views/execution.js", f"m.attemptBars({events})")
    assert [(bar["node_id"], bar["attempt"], bar["status"]) for bar in bars] == [
        ("n", 1, "failed"),
        ("n", 2, "completed"),
        ("s", 1, "skipped"),
    ]
    assert bars[0]["cause"] == {"type": "HttpError", "message": "503"}
    assert bars[1]["end"] - bars[1]["start"] == 1000


async def test_json_tree_of_a_long_array_is_cut(page: Page, ui_url: str) -> None:
    counts = await call(
        page,
        ui_url,
        "json.js",
        "(() => { const t = m.jsonTree({items: Array.from({length: 2000}, (_, i) => i)});"
        " return [t.querySelectorAll('.json-number').length,"
        " t.textContent.includes('1500 more')]; })()",
    )
    assert counts == [500, True]

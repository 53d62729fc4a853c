"""Parity: every fixture workflow gives the same result on Temporal and in-process."""

from __future__ import annotations

from typing import Any

import pytest

from flov7.local.runtime import LocalRuntime

from support.cases import Case, check_result, comparable, load_cases

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.mark.parametrize("case", load_cases(), ids=lambda case: case.id)
async def test_same_status_and_outputs_on_both_runtimes(case: Case, run_on_temporal: Any) -> None:
    on_temporal = await run_on_temporal(case.document, case.run_input)
    local = await LocalRuntime().run(case.document, run_input=case.run_input)
    check_result(local, case.expect)
    assert local["engine"] == "local"
    assert comparable(local) == comparable(on_temporal)

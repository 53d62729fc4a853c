"""Non-JSON, too deep and too large node outputs fail the node on the local runtime."""

from __future__ import annotations

import pytest

from flov7.local.runtime import LocalRuntime

from support.hostile import HostileCase, check_hostile, hostile_cases

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.mark.parametrize("case", hostile_cases(), ids=lambda case: case.name)
async def test_bad_output_fails_the_node(case: HostileCase) -> None:
    result = await LocalRuntime().run(case.document, run_input=case.run_input)
    check_hostile(result, case)

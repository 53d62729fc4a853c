"""Schedule fields are checked before anything reaches an engine; errors name the field."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from flov7.triggers.schedules import ScheduleCreate, ScheduleFieldError, SchedulePatch


def test_a_cron_string_is_one_expression_and_each_is_checked() -> None:
    request = ScheduleCreate(workflow_id="w", cron="*/5 * * * *")  # type: ignore[arg-type]
    assert request.cron == ["*/5 * * * *"]
    request.check()
    with pytest.raises(ScheduleFieldError) as error:
        ScheduleCreate(workflow_id="w", cron=["0 7 * * *", "61 * * * *"]).check()
    assert error.value.field == "cron[1]"
    with pytest.raises(ScheduleFieldError) as error:
        SchedulePatch(cron=["* * * *"]).check()
    assert error.value.field == "cron[0]"


def test_time_zones_are_iana_names() -> None:
    ScheduleCreate(workflow_id="w", interval_seconds=60, timezone="Europe/Paris").check()
    for bad in ("Mars/Olympus", "../etc/passwd", ""):
        with pytest.raises(ScheduleFieldError) as error:
            SchedulePatch(timezone=bad).check()
        assert error.value.field == "timezone"


def test_a_schedule_needs_when_and_a_usable_id() -> None:
    with pytest.raises(ValidationError, match="cron' or 'interval_seconds"):
        ScheduleCreate(workflow_id="w")
    with pytest.raises(ValidationError, match="schedule_id"):
        ScheduleCreate(workflow_id="w", interval_seconds=5, schedule_id="bad id/..")
    with pytest.raises(ValidationError):
        ScheduleCreate(workflow_id="w", interval_seconds=5, overlap="sometimes")  # type: ignore[arg-type]

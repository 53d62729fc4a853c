"""Conversions between JSON values and database values.

Outbound (:func:`to_json_safe`): a node's output travels through Temporal as JSON, so
every value a driver returns is turned into a JSON type:

============================  ==============================================================
datetime, date, time          ISO 8601 string (``2024-05-01T12:30:00+00:00``)
timedelta                     seconds, as a number (PostgreSQL ``interval``, MySQL ``TIME``
                              in raw queries)
Decimal                       an integral Decimal (exponent >= 0, e.g. MySQL's ``SUM`` of
                              integers) becomes an int; any other Decimal becomes a
                              **string** exactly as the database printed it (``"12.50"``)
                              so that money never goes through a binary float
float NaN / ±Infinity         the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``
UUID, IP addresses, others    ``str(value)``
bytes, bytearray, memoryview  base64 string
list, tuple, set              list (recursively); dict -> dict with string keys
============================  ==============================================================

Inbound (:func:`coerce_param`): values in ``where`` / ``values`` usually come from JSON
(often rendered templates, so ``"42"`` or ``"2024-05-01"``). asyncpg refuses a string
for an integer or timestamp parameter, so values are converted to the Python type of
the reflected column first; a value that cannot be converted is a clear error naming
the column rather than a driver message.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import enum
import math
import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy import Column

from flov7.errors import Flov7Error

__all__ = ["ValueCoercionError", "coerce_param", "to_json_safe"]

_JSON_SCALARS = (str, int, bool, type(None))


def to_json_safe(value: Any) -> Any:
    """``value`` (as returned by a database driver) as a JSON-serialisable value."""
    if isinstance(value, _JSON_SCALARS):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, Decimal):
        return _decimal(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, enum.Enum):
        return to_json_safe(value.value)
    if isinstance(value, Mapping):
        return {str(key): to_json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_json_safe(item) for item in value]
    # UUID, ipaddress objects, ranges, geometric types...: their text form.
    return str(value)


def _decimal(value: Decimal) -> int | str:
    if not value.is_finite():
        return str(value)
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent >= 0:
        return int(value)
    return str(value)


class ValueCoercionError(Flov7Error, ValueError):
    """A JSON value does not fit the type of the column it is meant for."""


def coerce_param(column: Column[Any], value: Any) -> Any:
    """``value`` converted to the Python type of ``column`` when it is a JSON stand-in.

    Values that already have a sensible type are passed through: the database (and
    its error message) stays the judge of what it accepts.
    """
    if value is None:
        return None
    try:
        target = column.type.python_type
    except NotImplementedError:  # Types without a Python equivalent (e.g. NullType).
        return value
    try:
        return _coerce(target, value)
    except (ValueError, TypeError, ArithmeticError, binascii.Error) as exc:
        raise ValueCoercionError(
            f"value {_preview(value)} for column {column.name!r} is not a valid {target.__name__}"
        ) from exc


def _coerce(target: type, value: Any) -> Any:
    if target is bool:
        return _to_bool(value)
    if target is int and isinstance(value, str | float) and not isinstance(value, bool):
        return _to_int(value)
    if target is float and isinstance(value, str):
        return float(value)
    if target is Decimal and isinstance(value, str | int | float) and not isinstance(value, bool):
        # str(float) keeps the short repr: 0.1 -> Decimal("0.1"), not 0.1000000000000000055.
        return Decimal(value if isinstance(value, str) else str(value))
    if target is dt.datetime and isinstance(value, str):
        return dt.datetime.fromisoformat(value)
    if target is dt.date and isinstance(value, str):
        return dt.date.fromisoformat(value)
    if target is dt.time and isinstance(value, str):
        return dt.time.fromisoformat(value)
    if target is dt.timedelta and isinstance(value, int | float) and not isinstance(value, bool):
        return dt.timedelta(seconds=value)
    if target is uuid.UUID and isinstance(value, str):
        return uuid.UUID(value)
    if target is bytes and isinstance(value, str):
        # Symmetric with to_json_safe: binary travels as base64.
        return base64.b64decode(value, validate=True)
    return value


def _to_bool(value: Any) -> Any:
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "1", "yes", "t"):
            return True
        if lowered in ("false", "0", "no", "f"):
            return False
        raise ValueError(value)
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    return value


def _to_int(value: str | float) -> int:
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(value)
        return int(value)
    number = Decimal(value.strip())
    if number != number.to_integral_value():
        raise ValueError(value)
    return int(number)


def _preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."

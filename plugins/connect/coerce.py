"""Turning the values of mapped records into column values, one field at a time.

Each function returns the value to store or raises :class:`~engine.errors.RecordError`
naming the field and the bad value, so one bad record fails alone.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from engine.boundary import shown  # a message quotes a value, it does not store it
from engine.errors import RecordError
from engine.store.jsontext import plain

DECIMAL = re.compile(r"^-?\d+\.\d\d\d*$")  # canonical money text: decimal_text keeps it as is
_CENT = Decimal("0.01")
MONEY_LENGTH = 40  # characters of a money amount's text (the hub's price and total columns)
NUL = "\x00"  # no database column stores it (PostgreSQL refuses it; SQLite would keep it): refused everywhere


def no_nul(value: str, field: str) -> str:
    """``value``, unless it holds a NUL character."""
    if NUL in value:
        raise RecordError(f"{field} {value[:40]!r} contains a NUL character (\\0), which cannot be stored",
                          field=field)
    return value


def key(value: Any, field: str, limit: int = 255) -> str:
    """A required identifier (SKU, external id): a non-empty string, numbers accepted."""
    if isinstance(value, str):
        if value and len(value) <= limit:
            return no_nul(value, field)
    elif isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if value is None or value == "":
        raise RecordError(f"{field} is missing", field=field)
    if isinstance(value, str):
        raise RecordError(f"{field} {value[:40]!r}... is {len(value)} characters long; at most {limit} fit",
                          field=field)
    raise RecordError(f"{field} must be a string, got {type(value).__name__} {shown(value)}", field=field)


def text(value: Any, field: str, limit: int | None = None) -> str | None:
    """An optional string; numbers become their text, over-long or structured values and NULs are refused."""
    if value is None:
        return None
    if not isinstance(value, str):
        if isinstance(value, (dict, list)):
            raise RecordError(f"{field} must be text, got {type(value).__name__} {shown(value)}", field=field)
        value = str(value)
    if limit is not None and len(value) > limit:
        raise RecordError(f"{field} {value[:40]!r}... is {len(value)} characters long; at most {limit} fit",
                          field=field)
    return no_nul(value, field)


def decimal_text(value: Any, field: str) -> str | None:
    """A money amount as canonical text with at least two decimals (``19.9`` -> ``"19.90"``)."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and len(value) <= MONEY_LENGTH and DECIMAL.match(value):
        return value
    if isinstance(value, bool):
        raise RecordError(f"{field} must be a number, got {shown(value)}", field=field)
    try:
        number = Decimal(value if isinstance(value, (str, int, Decimal)) else repr(value))
    except (InvalidOperation, TypeError, ValueError):
        raise RecordError(f"{field} {shown(value)} is not a number", field=field) from None
    if not number.is_finite():
        raise RecordError(f"{field} {shown(value)} is not a finite number", field=field)
    try:
        if number.as_tuple().exponent >= -2:  # type: ignore[operator]
            number = number.quantize(_CENT)
    except InvalidOperation:  # more digits than a decimal context holds (1e50)
        raise RecordError(f"{field} {shown(value)} is too large for an amount", field=field) from None
    out = format(number, "f")
    if len(out) > MONEY_LENGTH:
        raise RecordError(f"{field} {shown(value)} is {len(out)} characters as an amount; at most {MONEY_LENGTH} fit",
                          field=field)
    return out


def integer(value: Any, field: str, *, required: bool = False, minimum: int | None = None) -> int | None:
    """A whole number (``"5"`` and ``5.0`` are accepted, ``5.5`` is not)."""
    if value is None or value == "":
        if required:
            raise RecordError(f"{field} is missing", field=field)
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        try:
            as_float = float(value)
        except (TypeError, ValueError):
            raise RecordError(f"{field} {shown(value)} is not a whole number", field=field) from None
        if isinstance(value, bool) or not as_float.is_integer():
            raise RecordError(f"{field} {shown(value)} is not a whole number", field=field)
        number = int(as_float)
    if minimum is not None and number < minimum:
        raise RecordError(f"{field} {number} is below {minimum}", field=field)
    return number


def number(value: Any, field: str) -> float | None:
    """An optional decimal number stored as a float (weights)."""
    if value is None or value == "":
        return None
    try:
        if isinstance(value, bool):
            raise TypeError(field)
        found = float(value)
    except (TypeError, ValueError, OverflowError):
        raise RecordError(f"{field} {shown(value)} is not a number", field=field) from None
    if not math.isfinite(found):
        raise RecordError(f"{field} {shown(value)} is not a finite number", field=field)
    return found


def flag(value: Any, field: str) -> bool:
    """A yes/no value: booleans, 0/1, and the words true/false/yes/no."""
    if isinstance(value, bool):
        return value
    if value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "yes", "no", "1", "0"):
        return value.strip().lower() in ("true", "yes", "1")
    raise RecordError(f"{field} {shown(value)} is not a yes/no value (use true or false)", field=field)


def obj(value: Any, field: str) -> dict[str, Any] | None:
    """An optional JSON object (addresses, customer, attributes, remote ids)."""
    if value is None:
        return None
    if isinstance(value, dict):
        if not plain(value):
            try:
                json.dumps(value, allow_nan=False)
            except (TypeError, ValueError) as exc:
                raise RecordError(f"{field} holds a value JSON cannot carry ({exc}): {shown(value)}",
                                  field=field) from None
        return value
    raise RecordError(f"{field} must be an object, got {type(value).__name__} {shown(value)}", field=field)


def timestamp(value: Any, field: str) -> datetime | None:
    """An ISO 8601 time (``Z`` or an offset; a time without zone is taken as UTC)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            raise RecordError(f"{field} {shown(value)} is not an ISO 8601 time (e.g. 2024-05-01T10:00:00Z)",
                              field=field) from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def iso(moment: datetime | None) -> str | None:
    """A stored time as ISO 8601 text (records carry text, not datetime objects)."""
    return moment.isoformat() if moment is not None else None

"""ENGINE types: CQL ToString text of every System value (what ToString() and string concatenation show)."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from cds_service.cql.types.values import Code, Concept, Date, DateTime, Interval, Long, Quantity, Ratio, Time, Tuple, format_decimal

__all__ = ["to_string"]


def to_string(value: Any) -> str | None:
    """ToString(x): 'true', '12', '12.50', "5 'mg'", '2012-01-01T10:00:00.000+01:00', '10:30', ...; null -> null."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, Long):
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return format_decimal(value)
    if isinstance(value, (Date, DateTime, Time, Quantity, Ratio)):
        return value.to_cql_string()
    if isinstance(value, (Code, Concept, Interval, Tuple)):
        return repr(value)
    if isinstance(value, list):
        return "{" + ", ".join(to_string(item) or "null" for item in value) + "}"
    return str(value)

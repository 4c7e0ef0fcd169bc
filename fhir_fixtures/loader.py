"""Fixtures layer: load a scenario and shift every date in it from the fixed ANCHOR to the real clock."""

from __future__ import annotations

import copy
import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from fhir_fixtures.model import ANCHOR

ROOT = Path(__file__).resolve().parent

# FHIR date and dateTime/instant lexical forms with at least day precision (the fixtures write no others).
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$")


@dataclass(frozen=True)
class Fixture:
    name: str
    description: str
    hook: str
    service_id: str
    profile: str
    bundle: dict[str, Any]          # FHIR transaction Bundle, dates shifted
    request: dict[str, Any]         # CDS Hooks request body (without fhirServer/prefetch), dates shifted
    findings: list[dict[str, Any]]  # expected findings (section 0), "indicator" optional per finding


def names() -> list[str]:
    """Every fixture folder, sorted."""
    return sorted(p.parent.name for p in ROOT.glob("*/expected.json"))


def shift(data: Any, now: datetime) -> Any:
    """Return a deep copy of `data` with every FHIR date/dateTime/instant moved by (now - ANCHOR).

    dateTimes move by the exact offset (whole seconds), so an instant written as "N days before the
    anchor" is N days before `now` and its UTC calendar-date distance is preserved; plain dates move by
    the difference of calendar dates, so "N days ago" stays N days ago.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    now = now.astimezone(UTC)
    delta = timedelta(seconds=int((now - ANCHOR).total_seconds()))
    day_delta = now.date() - ANCHOR.date()
    return _shift(copy.deepcopy(data), delta, day_delta)


def _shift(node: Any, delta: timedelta, day_delta: timedelta) -> Any:
    if isinstance(node, dict):
        return {k: _shift(v, delta, day_delta) for k, v in node.items()}
    if isinstance(node, list):
        return [_shift(v, delta, day_delta) for v in node]
    if isinstance(node, str):
        if _DATE.match(node):
            return (date.fromisoformat(node) + day_delta).isoformat()
        if _DATETIME.match(node):
            moved = datetime.fromisoformat(node.replace("Z", "+00:00")).astimezone(UTC) + delta
            return moved.strftime("%Y-%m-%dT%H:%M:%SZ")
    return node


def load(name: str, now: datetime | None = None, fresh_hook_instance: bool = True) -> Fixture:
    """Read fhir_fixtures/<name>/ and shift it to `now` (default: the real clock)."""
    folder = ROOT / name
    if not (folder / "expected.json").exists():
        raise FileNotFoundError(f"no fixture named {name!r} under {ROOT}")
    now = now or datetime.now(UTC)
    expected = json.loads((folder / "expected.json").read_text())
    bundle = shift(json.loads((folder / "bundle.json").read_text()), now)
    request = shift(json.loads((folder / "request.json").read_text()), now)
    if fresh_hook_instance:
        request["hookInstance"] = str(uuid.uuid4())
    return Fixture(name=name, description=expected["description"], hook=expected["hook"],
                   service_id=expected["serviceId"], profile=expected["profile"], bundle=bundle,
                   request=request, findings=expected["findings"])


def resources(fixture: Fixture) -> list[dict[str, Any]]:
    """The resources of the fixture's record (the transaction Bundle's entries)."""
    return [e["resource"] for e in fixture.bundle.get("entry", [])]

"""Fixtures layer: compare the findings a service returned with a fixture's expected findings."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

FINDING_EXTENSION = "org.vertebral-augmentation-cds.finding"
# Section 0 of the spec: the keys of a finding; configVersion is compared by no fixture (it changes).
KEYS = ("id", "rules", "levels", "pathway", "ranking", "requested", "provisional", "missing", "profile")


def canonical(finding: dict[str, Any]) -> str:
    """One comparable string per finding: unordered lists sorted, provisional false == absent."""
    out: dict[str, Any] = {}
    for key in KEYS:
        if key not in finding:
            continue
        value = finding[key]
        if key in ("rules", "missing") and isinstance(value, list):
            value = sorted(value)
        if key == "provisional" and value is False:
            continue
        out[key] = value
    return json.dumps(out, sort_keys=True)


def findings_from_cards(cards: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The finding of every card (its extension), with the card's indicator attached for the checks."""
    found = []
    for card in cards:
        ext = (card.get("extension") or {}).get(FINDING_EXTENSION)
        found.append({**(ext if isinstance(ext, dict) else {"id": "<card without finding>",
                                                              "summary": card.get("summary")}),
                      "indicator": card.get("indicator")})
    return found


def diff(expected: list[dict[str, Any]], actual: list[dict[str, Any]]) -> list[str]:
    """Human-readable differences; empty when the multisets of findings match (and indicators hold)."""
    want = Counter(canonical(f) for f in expected)
    got = Counter(canonical(f) for f in actual)
    problems = [f"missing:    {k}" for k in sorted((want - got).elements())]
    problems += [f"unexpected: {k}" for k in sorted((got - want).elements())]
    for f in expected:
        if "indicator" not in f:
            continue
        key = canonical(f)
        indicators = [a.get("indicator") for a in actual if canonical(a) == key]
        if indicators and f["indicator"] not in indicators:
            problems.append(f"indicator:  {key} expected {f['indicator']!r}, got {indicators}")
    return problems


def report(name: str, description: str, problems: list[str]) -> str:
    return "\n".join([f"fixture {name}: {description}", *problems])

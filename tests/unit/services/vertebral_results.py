"""Synthetic VAEvaluation results (the shape the CQL libraries return) for engine-free tests of findings and cards."""

from __future__ import annotations

from typing import Any


def fact(criterion: str, level: str | None = None, value: str | None = "1", result: str = "met",
         threshold: str | None = None, source: str | None = None, at: str | None = None) -> dict[str, Any]:
    return {"criterion": criterion, "level": level, "value": value, "at": at, "source": source,
            "threshold": threshold, "result": result}


def indication(level: str, status: str = "met", rule: str = "IND-OP", pathway: str = "osteoporotic",
               failed: list[str] | None = None, missing: list[str] | None = None) -> dict[str, Any]:
    return {"rule": rule, "level": level, "pathway": pathway, "status": status, "failed": failed or [],
            "missing": missing or [], "facts": [fact("pain-score", None, "9", "met", ">= 8", "Observation/p1",
                                                     "2026-06-01T06:00:00+00:00")]}


def ci(rule: str, level: str, present: bool | None = True, reason: str = "r",
       missing: list[str] | None = None) -> dict[str, Any]:
    return {"rule": rule, "level": level, "present": present, "reason": reason, "missing": missing or [],
            "facts": [fact(rule.lower(), level, "x", "met" if present else "unknown")]}


def technique(level: str, ranking: list[str], row: str = "reduction-target",
              excluded: list[tuple[str, str]] | None = None,
              deprioritized: list[tuple[str, str]] | None = None) -> dict[str, Any]:
    return {"level": level, "pathway": "osteoporotic", "row": row, "reductionTarget": True, "leakageRisk": False,
            "ranking": ranking,
            "excluded": [{"technique": t, "reason": r} for t, r in excluded or ()],
            "deprioritized": [{"technique": t, "reason": r} for t, r in deprioritized or ()]}


def results(indications: list[dict[str, Any]], cis: list[dict[str, Any]] | None = None,
            techniques: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"Indications": indications, "Contraindications": cis or [],
                           "Techniques": techniques or [], "Coverage Notes": [], "Documentation": [],
                           "Levels Missing SINS": [], "Etiology Conflicts": [], "Hospitalized": True}
    out.update(extra)
    return out

"""Domain layer: turns the CQL results of one evaluation into per-level results (a.4 precedence), session rules
(a.8) and the machine-readable findings of spec section 0."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cds_service.cql.types import Tuple
from cds_service.services.vertebral.orders import OrderLine, sort_levels

# a.4: severity precedence per level, worst first.
PRECEDENCE: tuple[str, ...] = ("ci-absolute", "indeterminate", "not-met", "ci-relative", "indicated")

# Which rules a missing input leaves undecided (section 0 is silent on C-MISSING rules; shared with the
# fixtures' oracle: hemostasis -> CI-A5, pregnancy -> CI-A3, SINS -> CI-R9/CI-R10, level -> none).
MISSING_RULES: dict[str, tuple[str, ...]] = {
    "inr": ("CI-A5",), "platelets": ("CI-A5",), "pregnancy-status": ("CI-A3",),
    "sins": ("CI-R9", "CI-R10"), "level": (),
}


def plain(value: Any) -> Any:
    """CQL values -> JSON-able Python: Tuples to dicts, temporal values to ISO text, Decimals kept."""
    kind = type(value)
    if kind is str or value is None or kind is bool or kind is int or kind is float:
        return value  # the exact classes first: this runs for every value of the results
    if kind is list:
        return [plain(v) for v in value]
    if kind is Tuple:
        return {k if type(k) is str else str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    iso = getattr(value, "isoformat", None)
    if callable(iso):
        return iso()
    to_cql = getattr(value, "to_cql_string", None)
    if callable(to_cql):
        text = str(to_cql())
        return text[1:] if text.startswith("@") else text
    return value if value.__class__.__name__ == "Decimal" else str(value)


@dataclass
class LevelResult:
    """Everything decided for one ordered level."""

    level: str
    indication: dict[str, Any]
    absolute: list[dict[str, Any]] = field(default_factory=list)   # CI-A* present
    relative: list[dict[str, Any]] = field(default_factory=list)   # CI-R* present
    undecided: list[dict[str, Any]] = field(default_factory=list)  # CI rules that could not be decided
    technique: dict[str, Any] | None = None
    requested: list[str] = field(default_factory=list)  # one per distinct technique the draft lines ask for

    @property
    def status(self) -> str:
        """a.4 precedence: CI-absolute > indeterminate > not-met > CI-relative > indicated."""
        if self.absolute:
            return "ci-absolute"
        ind = self.indication.get("status")
        if ind == "indeterminate":
            return "indeterminate"
        if ind == "not met":
            return "not-met"
        if self.relative:
            return "ci-relative"
        return "indicated"

    @property
    def gets_technique(self) -> bool:
        """Section 0: indicated (with or without relative CI), or indeterminate only for missing data."""
        return self.status in ("indicated", "ci-relative", "indeterminate")

    @property
    def provisional(self) -> bool:
        return self.indication.get("status") == "indeterminate"


@dataclass
class Session:
    """The levels of all vertebral augmentation lines of one hook call, evaluated together."""

    levels: list[LevelResult]
    documentation: list[dict[str, Any]]
    coverage: list[dict[str, Any]]
    levels_missing_sins: list[str]
    etiology_conflicts: list[dict[str, Any]]
    hospitalized: bool | None
    session_findings: list[dict[str, Any]] = field(default_factory=list)  # CI-R1, CPT-MISMATCH, missing level


def attach_techniques(levels: Iterable[LevelResult], techniques: Iterable[Mapping[str, Any]]) -> None:
    """Give each level its row of the CQL `Techniques` define (ranking, exclusions, deprioritizations)."""
    by_level = {lr.level: lr for lr in levels}
    for tech in techniques:
        if tech["level"] in by_level:
            by_level[tech["level"]].technique = dict(tech)


def build_session(results: Mapping[str, Any], lines: Sequence[OrderLine],
                  rule_enabled: Callable[[str], bool]) -> Session:
    """Per-level results from the CQL result dict of VAEvaluation (already `plain`)."""
    by_level: dict[str, LevelResult] = {}
    for ind in results.get("Indications") or ():
        by_level[ind["level"]] = LevelResult(level=ind["level"], indication=ind)
    for ci in results.get("Contraindications") or ():
        lr = by_level.get(ci["level"])
        if lr is None or not rule_enabled(ci["rule"]):
            continue
        if ci["present"] is True:
            (lr.absolute if ci["rule"].startswith("CI-A") else lr.relative).append(ci)
        elif ci["present"] is None:
            lr.undecided.append(ci)
    attach_techniques(by_level.values(), results.get("Techniques") or ())
    for line in lines:
        for level in line.levels:
            lr = by_level.get(level)
            if lr is not None and line.technique and line.technique not in lr.requested:
                lr.requested.append(line.technique)
    ordered = [by_level[lv] for lv in sort_levels(by_level)]
    return Session(
        levels=ordered,
        documentation=[d for d in results.get("Documentation") or () if rule_enabled(d["rule"])],
        coverage=[c for c in results.get("Coverage Notes") or () if rule_enabled(c["rule"])],
        levels_missing_sins=list(results.get("Levels Missing SINS") or ()),
        etiology_conflicts=list(results.get("Etiology Conflicts") or ()),
        hospitalized=results.get("Hospitalized"),
    )


def _finding(card_id: str, rules: Iterable[str], levels: Iterable[str], **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"id": card_id, "rules": sorted(set(rules)), "levels": sort_levels(levels)}
    out.update({k: v for k, v in extra.items() if v is not None})
    return out


def _grouped(items: Iterable[tuple[tuple[Any, ...], str]]) -> dict[tuple[Any, ...], list[str]]:
    """key -> levels (insertion order of keys kept: cards come out in a stable order)."""
    groups: dict[tuple[Any, ...], list[str]] = {}
    for key, level in items:
        groups.setdefault(key, [])
        if level not in groups[key]:
            groups[key].append(level)
    return groups


def _deferred_to_ci_a8(lr: LevelResult) -> bool:
    # a.6 IND-TR: "B/C -> CI-A8": a traumatic level with an unstable morphology gets the CI-A8 card only.
    return lr.indication.get("rule") == "IND-TR" and any(ci["rule"] == "CI-A8" for ci in lr.absolute)


def session_counts(session: Session, max_levels: int) -> list[str]:
    """a.8 CI-R1: the levels that count (ordered and not 'not indicated' / contraindicated), when > P10."""
    counted = [lr.level for lr in session.levels if lr.status in ("indicated", "ci-relative", "indeterminate")]
    return counted if len(counted) > max_levels else []


def build_findings(session: Session, *, max_levels: int, cpt_mismatch: Sequence[str],
                   rule_enabled: Callable[[str], bool]) -> list[dict[str, Any]]:
    """Section 0: one finding per distinct card; levels sharing a finding share it. Without profile/version."""
    findings: list[dict[str, Any]] = []
    levels = session.levels

    for (rule,), lvls in _grouped(((ci["rule"],), lr.level) for lr in levels for ci in lr.absolute).items():
        findings.append(_finding("C-CI-ABS", [rule], lvls))

    counted = session_counts(session, max_levels) if rule_enabled("CI-R1") else []
    if counted:
        findings.append(_finding("C-CI-REL", ["CI-R1"], counted))
    for (rule,), lvls in _grouped(((ci["rule"],), lr.level) for lr in levels for ci in lr.relative).items():
        findings.append(_finding("C-CI-REL", [rule], lvls))

    indication_cards = _grouped(
        ((lr.indication["rule"], lr.indication["pathway"], lr.indication["status"]), lr.level)
        for lr in levels
        if lr.indication.get("status") in ("met", "not met") and rule_enabled(lr.indication["rule"])
        and not _deferred_to_ci_a8(lr)
    )
    for (rule, pathway, status), lvls in indication_cards.items():
        findings.append(_finding("C-IND-MET" if status == "met" else "C-IND-NOTMET", [rule], lvls, pathway=pathway))

    missing: list[tuple[tuple[Any, ...], str]] = []
    for lr in levels:
        if lr.indication.get("status") == "indeterminate" and lr.indication.get("missing"):
            items = tuple(sorted(lr.indication["missing"]))
            missing.append(((tuple(sorted({lr.indication["rule"]})), items), lr.level))
        for ci in lr.undecided:
            if ci.get("missing"):
                rules = tuple(sorted({r for item in ci["missing"] for r in MISSING_RULES.get(item, (ci["rule"],))}))
                missing.append(((rules, tuple(sorted(ci["missing"]))), lr.level))
    for level in session.levels_missing_sins:
        if rule_enabled("CI-R9") or rule_enabled("CI-R10"):
            missing.append(((MISSING_RULES["sins"], ("sins",)), level))
    for (rules, items), lvls in _grouped(missing).items():
        findings.append(_finding("C-MISSING", rules, lvls, missing=list(items)))

    # a.8: VP and augmentation ordered for the same body give one technique card per requested technique.
    tech_cards = _grouped(
        ((lr.indication["rule"], tuple(lr.technique["ranking"]), requested, lr.provisional), lr.level)
        for lr in levels if lr.gets_technique and lr.technique is not None for requested in lr.requested
    )
    for (rule, ranking, requested, provisional), lvls in tech_cards.items():
        findings.append(_finding("C-TECH", [rule], lvls, ranking=list(ranking), requested=requested,
                                 provisional=True if provisional else None))

    covered = {lr.level for lr in levels if lr.indication.get("status") == "met" and not lr.absolute}
    for (rule,), lvls in _grouped(((c["rule"],), c["level"]) for c in session.coverage
                                  if c["level"] in covered).items():
        findings.append(_finding("C-COVERAGE", [rule], lvls, pathway=None))

    for doc in session.documentation:
        findings.append(_finding("C-DOC", [doc["rule"]], doc["levels"]))
    if cpt_mismatch and rule_enabled("CPT-MISMATCH"):
        findings.append(_finding("C-DOC", ["CPT-MISMATCH"], cpt_mismatch))
    return findings


def missing_level_finding() -> dict[str, Any]:
    """a.9: an order without any level: indeterminate for the whole order."""
    return _finding("C-MISSING", [], [], missing=["level"])


def technique_warning(finding: Mapping[str, Any], technique: Mapping[str, Any] | None) -> bool:
    """a.7: the requested technique is excluded (left out of the ranking) or deprioritized."""
    requested = finding.get("requested")
    if requested not in finding.get("ranking", ()):
        return True
    deprioritized = {d["technique"] for d in (technique or {}).get("deprioritized") or ()}
    return requested in deprioritized and finding["ranking"][0] != requested

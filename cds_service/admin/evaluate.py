"""Admin layer: the what-if evaluator (`cds-service evaluate`): cards and trace for one bundle, cohort impact of a config change."""

from __future__ import annotations

import argparse
import inspect
import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from cds_service.admin.config import (
    ActiveConfig,
    ConfigError,
    ServiceConfig,
    apply_env_overrides,
    build_config,
    default_config,
    load_config_file,
)

# evaluator(bundle, order, active, now) -> EvaluationResult; injectable so the cohort logic has one seam.
Evaluator = Callable[..., "EvaluationResult"]


class EvaluatorUnavailableError(RuntimeError):
    """The clinical evaluator (`cds_service.services.vertebral.evaluate_bundle`) is not installed."""


@dataclass
class EvaluationResult:
    cards: list[dict[str, Any]]
    findings: list[dict[str, Any]]
    trace: list[dict[str, Any]] = field(default_factory=list)


def _to_dict(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json", by_alias=True, exclude_none=True)
    if isinstance(value, list):
        return [_to_dict(v) for v in value]
    return value


def _adapt(result: Any) -> EvaluationResult:
    get = (lambda k: result.get(k)) if isinstance(result, dict) else (lambda k: getattr(result, k, None))
    return EvaluationResult(cards=_to_dict(list(get("cards") or [])), findings=_to_dict(list(get("findings") or [])),
                            trace=_to_dict(list(get("trace") or [])))


def service_evaluator() -> Evaluator:
    """The clinical engineer's `evaluate_bundle`, adapted to this module's call shape."""
    try:
        from cds_service.services import vertebral
        evaluate_bundle = getattr(vertebral, "evaluate_bundle", None)
        if evaluate_bundle is None:
            from cds_service.services.vertebral import logic  # type: ignore[attr-defined]
            evaluate_bundle = getattr(logic, "evaluate_bundle")
    except (ImportError, AttributeError) as exc:
        raise EvaluatorUnavailableError(
            "cds_service.services.vertebral.evaluate_bundle is not available in this build") from exc
    accepted = set(inspect.signature(evaluate_bundle).parameters)

    def evaluator(bundle: dict[str, Any], orders: list[dict[str, Any]] | None, active: ActiveConfig,
                  now: datetime, hook: str | None = None) -> EvaluationResult:
        candidates: dict[str, Any] = {"orders": orders or [], "draft_orders": orders or [], "config": active, "active": active,
                                      "now": now, "hook": hook or "order-sign"}
        if orders is not None and len(orders) == 1:
            candidates["order"] = orders[0]
        kwargs = {name: value for name, value in candidates.items() if name in accepted and value is not None}
        return _adapt(evaluate_bundle(bundle, **kwargs))

    return evaluator


# ---------------------------------------------------------------------------------------------------------------
# Cohort


def _patient_id(bundle: dict[str, Any], name: str) -> str:
    for entry in bundle.get("entry") or ():
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict) and resource.get("resourceType") == "Patient" and resource.get("id"):
            return f"{name} (Patient/{resource['id']})"
    return name


def finding_key(finding: dict[str, Any]) -> str:
    """A finding as one comparable label: card id, rules and levels (`C-CI-ABS CI-A1 @ L1,L2`)."""
    rules = ",".join(finding.get("rules") or [])
    levels = ",".join(finding.get("levels") or [])
    label = f"{finding.get('id', '?')} {rules}".strip()
    return f"{label} @ {levels}" if levels else label


def finding_kind(finding: dict[str, Any]) -> str:
    """A finding without its levels, for per-finding patient counts."""
    return f"{finding.get('id', '?')} {','.join(finding.get('rules') or [])}".strip()


@dataclass
class CohortItem:
    """One patient of a cohort: its record, the draft orders to evaluate (if the cohort gives them), the hook."""

    name: str
    bundle: dict[str, Any] | None
    orders: list[dict[str, Any]] | None = None
    hook: str | None = None
    problem: str | None = None
    stamp: int = 0  # newest mtime (ns) of the item's files: a cached result is reused only while it matches


def _read_json(path: Path) -> tuple[Any, str | None]:
    try:
        return json.loads(path.read_text(encoding="utf-8")), None
    except (OSError, ValueError) as exc:
        return None, f"unreadable: {type(exc).__name__}"


def draft_orders_of(request_body: dict[str, Any]) -> list[dict[str, Any]]:
    """The draft orders of a CDS Hooks request body (context.draftOrders Bundle)."""
    drafts = (request_body.get("context") or {}).get("draftOrders") or {}
    return [e["resource"] for e in drafts.get("entry") or () if isinstance(e, dict) and isinstance(e.get("resource"), dict)]


def iter_cohort(directory: Path) -> Iterator[CohortItem]:
    """`<dir>/<name>/bundle.json` (+ `request.json` with the draft orders, as in fhir_fixtures/) or `<dir>/*.json`."""
    for bundle_path in sorted(directory.glob("*/bundle.json")):
        data, problem = _read_json(bundle_path)
        name = bundle_path.parent.name
        if problem or not isinstance(data, dict) or data.get("resourceType") != "Bundle":
            yield CohortItem(name, None, problem=problem or "not a FHIR Bundle")
            continue
        orders, hook = None, None
        stamp = bundle_path.stat().st_mtime_ns
        request_path = bundle_path.parent / "request.json"
        if request_path.is_file():
            body, problem = _read_json(request_path)
            stamp = max(stamp, request_path.stat().st_mtime_ns)
            if isinstance(body, dict):
                orders, hook = draft_orders_of(body), body.get("hook")
        yield CohortItem(name, data, orders, hook, stamp=stamp)
    for path in sorted(directory.glob("*.json")):
        data, problem = _read_json(path)
        if problem or not isinstance(data, dict) or data.get("resourceType") != "Bundle":
            yield CohortItem(path.stem, None, problem=problem or "not a FHIR Bundle")
            continue
        yield CohortItem(path.stem, data, stamp=path.stat().st_mtime_ns)


@dataclass
class CohortReport:
    patients: int
    counts_current: Counter[str]
    counts_proposed: Counter[str]
    changed: list[dict[str, Any]]
    skipped: list[dict[str, str]]
    seconds: float
    current_version: str
    proposed_version: str
    total: int = 0
    complete: bool = True

    def to_json(self) -> dict[str, Any]:
        kinds = sorted(set(self.counts_current) | set(self.counts_proposed))
        return {
            "patients": self.patients, "total": self.total, "complete": self.complete,
            "currentVersion": self.current_version,
            "proposedVersion": self.proposed_version, "seconds": round(self.seconds, 3),
            "findings": [{"finding": k, "current": self.counts_current.get(k, 0),
                          "proposed": self.counts_proposed.get(k, 0)} for k in kinds],
            "changedPatients": self.changed, "skipped": self.skipped,
        }


class _Progress:
    """A one-line progress bar on stderr, only when stderr is a terminal (never in logs or pipes)."""

    def __init__(self, total: int, stream: TextIO) -> None:
        self.total, self.stream = total, stream
        self.enabled = total > 1 and stream.isatty()

    def update(self, done: int) -> None:
        if not self.enabled:
            return
        width = 30
        filled = int(width * done / self.total)
        self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{self.total}")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


# (config version, patient, files stamp, now) -> findings. The preview re-evaluates the running configuration
# on every click; only the proposed side really changes, so the other half comes from here.
_RESULT_CACHE: dict[tuple[str, str, int, str], list[dict[str, Any]]] = {}
_RESULT_CACHE_MAX = 5000


def _findings(evaluator: Evaluator, item: CohortItem, active: ActiveConfig, now: datetime,
              cache: bool) -> list[dict[str, Any]]:
    key = (active.version, item.name, item.stamp, now.isoformat())
    if cache and key in _RESULT_CACHE:
        return _RESULT_CACHE[key]
    findings = evaluator(item.bundle, item.orders, active, now, item.hook).findings
    if cache:
        if len(_RESULT_CACHE) >= _RESULT_CACHE_MAX:
            _RESULT_CACHE.clear()
        _RESULT_CACHE[key] = findings
    return findings


def run_cohort(directory: Path, current: ActiveConfig, proposed: ActiveConfig, now: datetime,
               evaluator: Evaluator, stream: TextIO | None = None, *, budget_seconds: float | None = None,
               cache: bool = False) -> CohortReport:
    """Evaluate every bundle under both configurations; count patients per finding and list who changes.

    `budget_seconds` stops early (the report says how many of how many were evaluated); `cache` reuses
    results per (version, patient) across calls, for versions whose id names their content.
    """
    started = time.perf_counter()
    items = list(iter_cohort(directory))
    progress = _Progress(len(items), stream or sys.stderr)
    counts_current: Counter[str] = Counter()
    counts_proposed: Counter[str] = Counter()
    changed: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    patients = 0
    complete = True
    budget_start: float | None = None
    for done, item in enumerate(items, start=1):
        # The budget clock starts after the first patient: that one also pays for compiling the logic.
        if budget_seconds is not None and budget_start is not None and time.perf_counter() - budget_start > budget_seconds:
            complete = False
            break
        if item.bundle is None:
            skipped.append({"patient": item.name, "reason": item.problem or "unreadable"})
            progress.update(done)
            continue
        try:
            before = _findings(evaluator, item, current, now, cache)
            after = _findings(evaluator, item, proposed, now, cache)
        except EvaluatorUnavailableError:
            raise
        except Exception as exc:  # one broken bundle must not hide the other patients' results
            skipped.append({"patient": item.name, "reason": f"evaluation failed: {type(exc).__name__}"})
            progress.update(done)
            continue
        patients += 1
        if budget_start is None:
            budget_start = time.perf_counter()
        counts_current.update({finding_kind(f) for f in before})
        counts_proposed.update({finding_kind(f) for f in after})
        keys_before = {finding_key(f) for f in before}
        keys_after = {finding_key(f) for f in after}
        if keys_before != keys_after:
            changed.append({"patient": _patient_id(item.bundle, item.name), "removed": sorted(keys_before - keys_after),
                            "added": sorted(keys_after - keys_before)})
        progress.update(done)
    progress.close()
    return CohortReport(patients, counts_current, counts_proposed, changed, skipped, time.perf_counter() - started,
                        current.version, proposed.version, total=len(items), complete=complete)


def preview_impact(current: ServiceConfig, proposed: ServiceConfig, cohort_dir: str,
                   evaluator: Evaluator | None = None, now: datetime | None = None) -> dict[str, Any]:
    """The admin page's impact preview: the cohort report as JSON, or why it is unavailable."""
    directory = Path(cohort_dir)
    if not directory.is_absolute() and not directory.is_dir():
        # A source checkout keeps fhir_fixtures/ next to the package; the service's cwd is often elsewhere.
        directory = Path(__file__).resolve().parents[2] / cohort_dir
    if not directory.is_dir():
        return {"available": False, "reason": f"cohort directory {cohort_dir!r} not found"}
    try:
        evaluator = evaluator or service_evaluator()
    except EvaluatorUnavailableError as exc:
        return {"available": False, "reason": str(exc)}
    if now is None:
        now = _parse_now(current.admin.cohort_now) if current.admin.cohort_now else datetime.now(UTC)
    # Version ids that name the content: the clinical engine caches compiled logic by version id, and the
    # result cache must never mix two different proposals.
    report = run_cohort(directory, ActiveConfig(current, f"preview-{current.fingerprint()}"),
                        ActiveConfig(proposed, f"preview-{proposed.fingerprint()}"), now, evaluator, stream=None,
                        budget_seconds=current.admin.preview_budget_seconds, cache=True)
    return {"available": True, **report.to_json()}


# ---------------------------------------------------------------------------------------------------------------
# Command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bundle", nargs="?", type=Path, help="FHIR Bundle (JSON) of one patient's record")
    parser.add_argument("--order", type=Path, help="draft order(s) to evaluate: a ServiceRequest, a Bundle of them, "
                                                   "or a CDS Hooks request body (its context.draftOrders and hook)")
    parser.add_argument("--profile", help="threshold profile to use instead of the configured one")
    parser.add_argument("--config", type=Path, help="TOML configuration (default: embedded defaults / CDS_CONFIG)")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--now", help="evaluation time, ISO 8601 (default: now, UTC; with --cohort: [admin] cohort_now, as the admin preview)")
    parser.add_argument("--cohort", type=Path, help="directory of bundles: compare current and --config")
    parser.add_argument("--current-config", type=Path,
                        help="with --cohort: the current configuration (default: embedded defaults / CDS_CONFIG)")


def _parse_now(text: str | None) -> datetime:
    if not text:
        return datetime.now(UTC)
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError([("--now", f"{text!r} is not an ISO 8601 date-time")]) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _load_json(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError([(what, f"cannot read {path}: {exc.strerror or exc}")]) from exc
    except ValueError as exc:
        raise ConfigError([(what, f"{path} is not JSON ({exc})")]) from exc
    if not isinstance(data, dict):
        raise ConfigError([(what, f"{path} must hold a JSON object")])
    return data


def _active(path: Path | None, profile: str | None) -> ActiveConfig:
    import os

    if path is None and os.environ.get("CDS_CONFIG"):
        path = Path(os.environ["CDS_CONFIG"])
    config = load_config_file(path) if path else default_config()
    if profile:
        config = build_config({"clinical": {"profile": profile}}, base=config)
    config = apply_env_overrides(config)
    origin = "file" if path else "default"
    return ActiveConfig(config, f"{origin}-{config.fingerprint()}")


def _print_text(result: EvaluationResult, active: ActiveConfig, out: TextIO) -> None:
    out.write(f"configuration {active.version}, profile {active.config.clinical.profile}\n")
    if not result.cards:
        out.write("no cards\n")
    for card in result.cards:
        out.write(f"\n[{card.get('indicator', '?')}] {card.get('summary', '')}\n")
        finding = (card.get("extension") or {}).get("org.vertebral-augmentation-cds.finding") or {}
        if finding:
            out.write(f"  finding: {finding_key(finding)}\n")
        for suggestion in card.get("suggestions") or ():
            out.write(f"  suggestion: {suggestion.get('label', '')}\n")
    if result.trace:
        out.write("\ntrace:\n")
        for step in result.trace:
            level = step.get("level") or "-"
            out.write(f"  {level:>4}  {step.get('criterion', step.get('rule', '?'))}: {step.get('result')}"
                      f"{'  (' + str(step.get('detail')) + ')' if step.get('detail') else ''}\n")


def run(args: argparse.Namespace, evaluator: Evaluator | None = None) -> int:
    out = sys.stdout
    try:
        now = _parse_now(args.now)
        if args.cohort is not None:
            if not args.cohort.is_dir():
                raise ConfigError([("--cohort", f"{args.cohort} is not a directory")])
            current = _active(args.current_config, args.profile)
            proposed = _active(args.config, args.profile) if args.config else current
            if not args.now and current.config.admin.cohort_now:
                # The same instant as the admin page's impact preview ([admin] cohort_now): the bundled
                # fixtures are written relative to it, and a cohort judged at another time is mostly stale.
                now = _parse_now(current.config.admin.cohort_now)
            report = run_cohort(args.cohort, current, proposed, now, evaluator or service_evaluator())
            if args.format == "json":
                out.write(json.dumps({"evaluatedAt": now.isoformat(), **report.to_json()}, indent=2) + "\n")
            else:
                out.write(f"evaluated at {now.isoformat()} (--now, else [admin] cohort_now)\n")
                _print_cohort(report, out)
            return 0
        if args.bundle is None:
            raise ConfigError([("bundle", "give a bundle file, or --cohort DIR")])
        bundle = _load_json(args.bundle, "bundle")
        if bundle.get("resourceType") != "Bundle":
            raise ConfigError([("bundle", f"{args.bundle} is not a FHIR Bundle")])
        orders, hook = None, None
        if args.order:
            order = _load_json(args.order, "--order")
            if "context" in order and "hook" in order:
                orders, hook = draft_orders_of(order), order.get("hook")
            elif order.get("resourceType") == "Bundle":
                orders = [e["resource"] for e in order.get("entry") or () if isinstance(e.get("resource"), dict)]
            else:
                orders = [order]
        active = _active(args.config, args.profile)
        result = (evaluator or service_evaluator())(bundle, orders, active, now, hook)
        if args.format == "json":
            out.write(json.dumps(result.findings, indent=2) + "\n")
        else:
            _print_text(result, active, out)
        return 0
    except ConfigError as exc:
        print(f"cds-service evaluate: {len(exc.errors)} error(s)", file=sys.stderr)
        for key, reason in exc.errors:
            print(f"  {key}: {reason}", file=sys.stderr)
        return 2
    except EvaluatorUnavailableError as exc:
        print(f"cds-service evaluate: {exc}", file=sys.stderr)
        return 3


def _print_cohort(report: CohortReport, out: TextIO) -> None:
    if not report.complete:
        out.write(f"time budget reached: {report.patients} of {report.total} evaluated\n")
    out.write(f"{report.patients} patient(s) evaluated in {report.seconds:.2f} s; current {report.current_version}, "
              f"proposed {report.proposed_version}\n\n")
    out.write(f"{'finding':<44} {'current':>8} {'proposed':>9} {'change':>7}\n")
    for row in report.to_json()["findings"]:
        delta = row["proposed"] - row["current"]
        out.write(f"{row['finding']:<44} {row['current']:>8} {row['proposed']:>9} {delta:>+7}\n")
    out.write(f"\n{len(report.changed)} patient(s) change:\n")
    for item in report.changed:
        out.write(f"  {item['patient']}\n")
        for key in item["removed"]:
            out.write(f"    - {key}\n")
        for key in item["added"]:
            out.write(f"    + {key}\n")
    for item in report.skipped:
        out.write(f"skipped {item['patient']}: {item['reason']}\n")

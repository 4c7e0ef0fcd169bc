"""What-if evaluator: cohort counting and diffing across configurations, the CLI, and the real clinical evaluator."""

from __future__ import annotations

import argparse
import io
import json
import shutil
import tempfile
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from cds_service.admin import evaluate
from cds_service.admin.config import ActiveConfig, build_config, default_config
from cds_service.admin.evaluate import EvaluationResult, run_cohort

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[3]


def inr_rule(bundle: dict[str, Any], orders: Any, active: ActiveConfig, now: datetime,
             hook: str | None = None) -> EvaluationResult:
    """A transparent stand-in for the clinical evaluator: CI-A5 when the bundle's INR exceeds the hard stop.

    It reads the threshold from the configuration it is given, which is what the cohort diff must exercise.
    """
    stop = active.config.clinical.active_params().inr_hard_stop
    findings = []
    for entry in bundle.get("entry", []):
        resource = entry["resource"]
        if resource["resourceType"] == "Observation" and Decimal(str(resource["valueQuantity"]["value"])) > stop:
            findings.append({"id": "C-CI-ABS", "rules": ["CI-A5"], "levels": ["L1"], "configVersion": active.version})
    if not findings:
        findings.append({"id": "C-IND-MET", "rules": ["IND-OP"], "levels": ["L1"], "configVersion": active.version})
    return EvaluationResult(cards=[{"summary": f["id"], "indicator": "info"} for f in findings], findings=findings,
                            trace=[{"criterion": "INR", "level": "L1", "result": str(stop)}])


def write_patient(directory: Path, name: str, inr: float) -> None:
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Patient", "id": f"pat-{name}"}},
        {"resource": {"resourceType": "Observation", "id": f"inr-{name}", "status": "final",
                      "code": {"coding": [{"system": "http://loinc.org", "code": "6301-6"}]},
                      "valueQuantity": {"value": inr}}}]}
    folder = directory / name
    folder.mkdir(parents=True)
    (folder / "bundle.json").write_text(json.dumps(bundle))
    (folder / "request.json").write_text(json.dumps({"hook": "order-sign", "context": {"draftOrders": {
        "resourceType": "Bundle", "entry": [{"resource": {"resourceType": "ServiceRequest", "id": "d1"}}]}}}))


@pytest.fixture
def cohort(tmp_path: Path) -> Path:
    directory = tmp_path / "cohort"
    for name, inr in (("a", 1.0), ("b", 1.9), ("c", 2.1), ("d", 2.6)):
        write_patient(directory, name, inr)
    (directory / "broken.json").write_text("{not json")
    return directory


def test_cohort_counts_and_changed_patients(cohort: Path) -> None:
    current = ActiveConfig(default_config(), "v1")
    proposed = ActiveConfig(build_config({"clinical": {"profiles": {"cms-lcd": {"inr_hard_stop": 2.5}}}}), "v2")
    report = run_cohort(cohort, current, proposed, NOW, inr_rule, stream=io.StringIO())
    assert report.patients == 4
    assert report.counts_current["C-CI-ABS CI-A5"] == 3 and report.counts_proposed["C-CI-ABS CI-A5"] == 1
    assert [c["patient"] for c in report.changed] == ["b (Patient/pat-b)", "c (Patient/pat-c)"]
    assert report.changed[0]["removed"] == ["C-CI-ABS CI-A5 @ L1"]
    assert report.changed[0]["added"] == ["C-IND-MET IND-OP @ L1"]
    assert report.skipped == [{"patient": "broken", "reason": "unreadable: JSONDecodeError"}]


def test_progress_bar_only_on_a_terminal(cohort: Path) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty, pipe = Tty(), io.StringIO()
    active = ActiveConfig(default_config(), "v1")
    run_cohort(cohort, active, active, NOW, inr_rule, stream=tty)
    run_cohort(cohort, active, active, NOW, inr_rule, stream=pipe)
    assert "5/5" in tty.getvalue() and pipe.getvalue() == ""


def evaluate_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    evaluate.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_cli_cohort_json(cohort: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    proposed = tmp_path / "proposed.toml"
    proposed.write_text("[clinical.profiles.cms-lcd]\ninr_hard_stop = 2.5\n")
    code = evaluate.run(evaluate_args("--cohort", str(cohort), "--config", str(proposed), "--format", "json",
                                      "--now", "2026-06-01T12:00:00Z"), evaluator=inr_rule)
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert {"finding": "C-CI-ABS CI-A5", "current": 3, "proposed": 1} in report["findings"]
    assert len(report["changedPatients"]) == 2


def test_cli_cohort_is_judged_at_the_admin_cohort_instant_unless_now_is_given(
        cohort: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seen: list[datetime] = []

    def recording(bundle: Any, orders: Any, active: Any, now: datetime, hook: Any) -> Any:
        seen.append(now)
        return inr_rule(bundle, orders, active, now, hook)

    assert evaluate.run(evaluate_args("--cohort", str(cohort), "--format", "json"), evaluator=recording) == 0
    assert json.loads(capsys.readouterr().out)["evaluatedAt"] == "2026-06-01T12:00:00+00:00"
    assert set(seen) == {datetime(2026, 6, 1, 12, tzinfo=UTC)}  # what the admin preview uses by default
    seen.clear()
    assert evaluate.run(evaluate_args("--cohort", str(cohort), "--now", "2026-07-01T00:00:00Z"),
                        evaluator=recording) == 0
    assert "evaluated at 2026-07-01T00:00:00+00:00" in capsys.readouterr().out
    assert set(seen) == {datetime(2026, 7, 1, tzinfo=UTC)}


def test_cli_single_bundle_text_and_json(cohort: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bundle = cohort / "c" / "bundle.json"
    assert evaluate.run(evaluate_args(str(bundle), "--order", str(cohort / "c" / "request.json")),
                        evaluator=inr_rule) == 0
    text = capsys.readouterr().out
    assert "profile cms-lcd" in text and "C-CI-ABS" in text and "trace:" in text
    assert evaluate.run(evaluate_args(str(bundle), "--profile", "evicore", "--format", "json"),
                        evaluator=inr_rule) == 0
    findings = json.loads(capsys.readouterr().out)
    assert findings[0]["id"] == "C-CI-ABS"


def test_cli_bad_input_is_a_clear_error(cohort: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert evaluate.run(evaluate_args(str(cohort / "broken.json")), evaluator=inr_rule) == 2
    assert "bundle" in capsys.readouterr().err
    assert evaluate.run(evaluate_args(str(cohort / "a" / "bundle.json"), "--now", "yesterday"),
                        evaluator=inr_rule) == 2
    assert "--now" in capsys.readouterr().err
    assert evaluate.run(evaluate_args(str(cohort / "a" / "bundle.json"), "--profile", "aetna"),
                        evaluator=inr_rule) == 2
    assert "clinical.profile" in capsys.readouterr().err


def real_evaluator() -> evaluate.Evaluator:
    try:
        return evaluate.service_evaluator()
    except evaluate.EvaluatorUnavailableError as exc:
        pytest.skip(f"clinical evaluator not landed yet: {exc}")


def test_real_evaluator_matches_fixture_findings() -> None:
    """With the clinical engineer's evaluate_bundle, --format json gives exactly the expected findings."""
    evaluator = real_evaluator()
    fixture = REPO / "fhir_fixtures" / "ci-a5-inr-1.9"
    expected = json.loads((fixture / "expected.json").read_text())
    item = next(i for i in evaluate.iter_cohort(fixture.parent) if i.name == "ci-a5-inr-1.9")
    config = default_config()
    result = evaluator(item.bundle, item.orders, ActiveConfig(config, f"t-{config.fingerprint()}"), NOW, item.hook)
    got = {evaluate.finding_key(f) for f in result.findings}
    assert {evaluate.finding_key(f) for f in expected["findings"]} == got


def test_real_evaluator_cohort_reacts_to_inr_threshold() -> None:
    evaluator = real_evaluator()
    base = default_config()
    changed_config = build_config({"clinical": {"profiles": {"cms-lcd": {"inr_hard_stop": 2.0}}}})
    current = ActiveConfig(base, f"t-{base.fingerprint()}")
    proposed = ActiveConfig(changed_config, f"t-{changed_config.fingerprint()}")
    # The CQL-based evaluator is ~0.1 s per patient: the INR fixtures are the cohort that must react.
    cohort = Path(tempfile.mkdtemp())
    for name in ("ci-a5-inr-1.9", "ci-a5-inr-at-1.8-boundary", "ci-r3-inr-1.6", "ind-op-acute-41d"):
        shutil.copytree(REPO / "fhir_fixtures" / name, cohort / name)
    report = run_cohort(cohort, current, proposed, NOW, evaluator, stream=io.StringIO())
    shutil.rmtree(cohort)
    changed = {c["patient"].split(" ")[0] for c in report.changed}
    assert changed == {"ci-a5-inr-1.9"}
    assert report.counts_proposed["C-CI-ABS CI-A5"] == report.counts_current["C-CI-ABS CI-A5"] - 1


def test_budget_stops_early_and_says_so(cohort: Path) -> None:
    active = ActiveConfig(default_config(), "v1")
    report = run_cohort(cohort, active, active, NOW, inr_rule, stream=io.StringIO(), budget_seconds=0.0)
    # The first patient always runs (it pays for compiling the logic); the budget then stops the run.
    assert not report.complete and report.patients == 1 and report.total == 5

"""`cds-service evaluate --format json` gives, for every fixture, exactly the findings the service gives.

The HTTP golden tests (test_golden.py) prove the running service returns each fixture's expected findings;
this runs the what-if command as hospital IT would, on the fixture files as they are on disk (dated
relative to the fixtures' anchor, hence `--now`), and holds it to the same expectations. Together: the
evaluator and the running service agree on every fixture.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from cds_service.admin import evaluate
from fhir_fixtures import compare, loader
from fhir_fixtures.model import ANCHOR

ROOT = Path(loader.__file__).resolve().parent


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    evaluate.add_arguments(parser)
    return parser.parse_args(list(argv))


@pytest.mark.parametrize("name", loader.names())
def test_evaluate_json_matches_the_expected_findings(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    folder = ROOT / name
    expected = json.loads((folder / "expected.json").read_text())
    code = evaluate.run(_args(str(folder / "bundle.json"), "--order", str(folder / "request.json"),
                              "--profile", expected["profile"], "--now", ANCHOR.isoformat(), "--format", "json"))
    out = capsys.readouterr().out
    assert code == 0, out
    findings = json.loads(out)
    # --format json prints the findings the cards carry (section 0), configVersion included; the card's
    # indicator is not part of the finding (the text format and the HTTP golden tests check it).
    assert all("configVersion" in f for f in findings)
    wanted = [{k: v for k, v in f.items() if k != "indicator"} for f in expected["findings"]]
    problems = compare.diff(wanted, findings)
    assert not problems, compare.report(name, expected["description"], problems)

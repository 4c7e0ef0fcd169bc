"""Golden tests, fast loop: every fhir_fixtures scenario straight through the vertebral augmentation handler.

No HTTP and no FHIR server: the fixture's resources become the PatientRecord, the draft orders and context
go into a HookCall, and the handler's cards must carry exactly the expected findings. The HTTP golden
tests (test_golden.py) prove the same through prefetch and through the FHIR server; this module is the
quick loop for the clinical logic and pinpoints whether a failure is logic or plumbing.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from fhir_fixtures import compare, loader

# One fixed "now" for the whole module, so the runs are reproducible whatever the wall clock says.
NOW = datetime.now(UTC).replace(microsecond=0)


@cache
def _active_config(profile: str) -> Any:
    from cds_service.admin.config import ActiveConfig, default_config, load_config_file

    if profile == "cms-lcd":
        return ActiveConfig(config=default_config(), version="fixtures-default")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.toml"
        path.write_text(f'[clinical]\nprofile = "{profile}"\n')
        return ActiveConfig(config=load_config_file(path), version=f"fixtures-{profile}")


@cache
def _services() -> dict[str, Any]:
    from cds_service.services.vertebral.service import SERVICES

    return {s.id: s for s in SERVICES}


def _call(fx: loader.Fixture) -> Any:
    from cds_service.fhir.record import PatientRecord
    from cds_service.services.registry import HookCall

    ctx = fx.request["context"]
    return HookCall(
        service_id=fx.service_id, hook=fx.hook, hook_instance=fx.request["hookInstance"],
        patient_id=ctx["patientId"], encounter_id=ctx.get("encounterId"), user_id=ctx.get("userId"),
        selections=list(ctx.get("selections", [])),
        draft_orders=[e["resource"] for e in ctx["draftOrders"]["entry"]],
        record=PatientRecord(loader.resources(fx)), now=NOW, config=_active_config(fx.profile),
    )


@pytest.mark.parametrize("name", loader.names())
def test_handler_gives_the_expected_findings(name: str) -> None:
    fx = loader.load(name, now=NOW)
    result = _services()[fx.service_id].handler(_call(fx))
    cards = [card.to_json() for card in result.cards]
    problems = compare.diff(fx.findings, compare.findings_from_cards(cards))
    assert not problems, compare.report(name, fx.description, problems)
    # The handler's own list of findings is the same set as the one inside the cards.
    assert not compare.diff([{k: v for k, v in f.items() if k != "indicator"} for f in fx.findings],
                            result.findings)


def _card_text(result: Any) -> list[tuple[str, str, str, int]]:
    return [(c.summary, c.detail or "", c.indicator, len(c.suggestions or ())) for c in result.cards]


@pytest.mark.parametrize("name", loader.names())
def test_ranking_techniques_only_for_levels_that_show_them_changes_no_card(name: str,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    # The handler asks for the CQL `Techniques` define only when some level gets a technique card (a.4).
    # Asking for it always, as before, must give the very same cards.
    from cds_service.services.vertebral import engine

    fx = loader.load(name, now=NOW)
    handler = _services()[fx.service_id].handler
    lazy = handler(_call(fx))
    monkeypatch.setattr(engine, "FIRST_DEFINES", engine.RESULT_DEFINES)
    eager = handler(_call(fx))
    assert _card_text(lazy) == _card_text(eager)
    assert lazy.findings == eager.findings

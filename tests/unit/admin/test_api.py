"""Admin HTTP API on a real store: authentication, roles, CSRF, validation errors naming the key, apply, history, rollback."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from cds_service.admin.evaluate import EvaluatorUnavailableError, service_evaluator

from tests.unit.admin.conftest import EDITOR, READER, basic

INR = "clinical.profiles.cms-lcd.inr_hard_stop"
REPO = Path(__file__).resolve().parents[3]


def test_unauthenticated_requests_are_refused(client: FlaskClient) -> None:
    response = client.get("/admin/api/config")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert client.get("/admin/api/config", headers=basic((EDITOR[0], "wrong-password!"))).status_code == 401


def test_reader_reads_but_cannot_change(client: FlaskClient) -> None:
    response = client.get("/admin/api/config", headers=basic(READER))
    assert response.status_code == 200
    assert response.json["version"].startswith("default-")
    assert response.json["config"]["clinical"]["profiles"]["cms-lcd"]["inr_hard_stop"] == 1.8
    refused = client.post("/admin/api/config/versions", headers=basic(READER),
                          json={"changes": {INR: 2.0}, "reason": "r"})
    assert refused.status_code == 403
    assert refused.json["issue"][0]["expression"] == ["role"]


def test_bad_value_gives_400_naming_the_key(client: FlaskClient) -> None:
    response = client.post("/admin/api/config/proposals", headers=basic(EDITOR),
                           json={"changes": {INR: 1.0, "clinical.profiles.cms-lcd.outpatient_pain_min": 12,
                                             "clinical.nonsense": True}})
    assert response.status_code == 400
    assert response.mimetype == "application/fhir+json"
    keys = {issue["expression"][0] for issue in response.json["issue"]}
    assert keys == {INR, "clinical.profiles.cms-lcd.outpatient_pain_min", "clinical.nonsense"}
    assert client.post("/admin/api/config/proposals", headers=basic(EDITOR), data="[1,2",
                       content_type="application/json").status_code == 400
    toml = client.post("/admin/api/config/proposals", headers=basic(EDITOR), json={"toml": "[clinical\n"})
    assert toml.status_code == 400 and toml.json["issue"][0]["expression"] == ["(toml)"]


def test_propose_apply_history_rollback(client: FlaskClient) -> None:
    proposal = client.post("/admin/api/config/proposals", headers=basic(EDITOR), json={"changes": {INR: 2.0}})
    assert proposal.status_code == 200
    assert proposal.json["diff"] == [{"path": INR, "old": 1.8, "new": 2}]
    base = proposal.json["baseVersion"]
    applied = client.post("/admin/api/config/versions", headers=basic(EDITOR),
                          json={"changes": {INR: 2.0}, "reason": "SIR upper bound", "baseVersion": base})
    assert applied.status_code == 201 and applied.json["version"] == "v1"
    assert applied.json["author"] == EDITOR[0]
    assert client.get("/admin/api/config", headers=basic(READER)).json["version"] == "v1"
    stale = client.post("/admin/api/config/versions", headers=basic(EDITOR),
                        json={"changes": {INR: 2.2}, "reason": "from an old page", "baseVersion": base})
    assert stale.status_code == 409
    no_reason = client.post("/admin/api/config/versions", headers=basic(EDITOR),
                            json={"changes": {INR: 2.2}, "baseVersion": "v1"})
    assert no_reason.status_code == 400 and no_reason.json["issue"][0]["expression"] == ["reason"]
    history = client.get("/admin/api/config/versions", headers=basic(READER)).json
    assert history["active"] == "v1" and [v["version"] for v in history["versions"]] == ["v1"]
    rolled = client.post("/admin/api/config/rollback", headers=basic(EDITOR),
                         json={"version": history["base"], "reason": "back to the spec", "baseVersion": "v1"})
    assert rolled.status_code == 201 and rolled.json["rollbackOf"] == history["base"]
    current = client.get("/admin/api/config", headers=basic(READER)).json
    assert current["version"] == "v2"
    assert current["config"]["clinical"]["profiles"]["cms-lcd"]["inr_hard_stop"] == 1.8
    old = client.get("/admin/api/config/versions/v1", headers=basic(READER)).json
    assert old["config"]["clinical"]["profiles"]["cms-lcd"]["inr_hard_stop"] == 2
    assert client.get("/admin/api/config/versions/v99", headers=basic(READER)).status_code == 404
    unknown = client.post("/admin/api/config/rollback", headers=basic(EDITOR), json={"version": "v99", "reason": "x"})
    assert unknown.status_code == 400 and unknown.json["issue"][0]["expression"] == ["version"]


def test_session_login_requires_csrf_token_for_changes(client: FlaskClient) -> None:
    login = client.post("/admin/api/login", json={"username": EDITOR[0], "password": EDITOR[1]})
    assert login.status_code == 200
    token = login.json["csrfToken"]
    without = client.post("/admin/api/config/proposals", json={"changes": {INR: 2.0}})
    assert without.status_code == 403 and without.json["issue"][0]["expression"] == ["X-CSRF-Token"]
    with_token = client.post("/admin/api/config/proposals", json={"changes": {INR: 2.0}},
                             headers={"X-CSRF-Token": token})
    assert with_token.status_code == 200
    assert client.post("/admin/api/login", json={"username": EDITOR[0], "password": "nope"}).status_code == 401


def test_impact_preview_runs_the_cohort(client: FlaskClient, tmp_path: Path) -> None:
    try:
        service_evaluator()
    except EvaluatorUnavailableError as exc:
        pytest.skip(f"clinical evaluator not landed: {exc}")
    cohort = tmp_path / "cohort"
    shutil.copytree(REPO / "fhir_fixtures" / "ci-a5-inr-1.9", cohort / "ci-a5-inr-1.9")
    shutil.copytree(REPO / "fhir_fixtures" / "ci-r3-inr-1.6", cohort / "ci-r3-inr-1.6")
    set_dir = client.post("/admin/api/config/versions", headers=basic(EDITOR),
                          json={"changes": {"admin.cohort_dir": str(cohort)}, "reason": "small test cohort"})
    assert set_dir.status_code == 201
    response = client.post("/admin/api/config/proposals", headers=basic(EDITOR),
                           json={"changes": {INR: 2.0}, "impact": True})
    assert response.status_code == 200
    impact = response.json["impact"]
    assert impact["available"] and impact["complete"] and impact["patients"] == 2
    assert [c["patient"].split(" ")[0] for c in impact["changedPatients"]] == ["ci-a5-inr-1.9"]
    row = next(f for f in impact["findings"] if f["finding"] == "C-CI-ABS CI-A5")
    assert (row["current"], row["proposed"]) == (1, 0)


def test_page_login_and_views(client: FlaskClient) -> None:
    assert client.get("/admin/").status_code == 302
    page = client.get("/admin/login")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    token = html.split('name="csrf_token" value="')[1].split('"')[0]
    refused = client.post("/admin/login", data={"username": EDITOR[0], "password": EDITOR[1], "csrf_token": "x"})
    assert refused.status_code == 401
    ok = client.post("/admin/login", data={"username": EDITOR[0], "password": EDITOR[1], "csrf_token": token})
    assert ok.status_code == 302
    index = client.get("/admin/").get_data(as_text=True)
    assert 'data-key="clinical.profiles.cms-lcd.inr_hard_stop"' in index
    assert "SIR 2019 [V3]" in index
    assert client.get("/admin/history").status_code == 200


def test_repeated_wrong_passwords_lock_the_name_out(client: FlaskClient) -> None:
    for _ in range(5):
        assert client.get("/admin/api/config", headers=basic((READER[0], "wrong-password!"))).status_code == 401
    # Even the right password is refused during the lockout; other users are unaffected.
    assert client.get("/admin/api/config", headers=basic(READER)).status_code == 401
    assert client.get("/admin/api/config", headers=basic(EDITOR)).status_code == 200


def test_lockout_expires() -> None:
    from cds_service.admin.auth import LoginThrottle

    now = [0.0]
    throttle = LoginThrottle(max_failures=2, lockout_seconds=60, clock=lambda: now[0])
    throttle.failed("a")
    throttle.failed("a")
    assert throttle.locked("a") and not throttle.locked("b")
    now[0] = 61.0
    assert not throttle.locked("a")

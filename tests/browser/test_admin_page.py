"""The admin page of the real service in headless Chromium: log in, edit, inline validation, preview, save, history, rollback."""

from __future__ import annotations

from typing import Any

import requests
from playwright.sync_api import expect

from tests.browser.conftest import EDITOR
from tests.integration.fhir_server import ServiceProcess

INR = "clinical.profiles.cms-lcd.inr_hard_stop"


def running(service: ServiceProcess) -> dict[str, Any]:
    response = requests.get(service.url("/admin/api/config"), auth=EDITOR, timeout=10)
    assert response.status_code == 200
    return response.json()


def log_in(page: Any, service: ServiceProcess) -> None:
    page.goto(service.url("/admin/login"))
    page.fill("#username", EDITOR[0])
    page.fill("#password", EDITOR[1])
    page.click("#login")
    page.wait_for_url(service.url("/admin/"))


def test_edit_validate_preview_save_and_roll_back(service: ServiceProcess, browser: Any) -> None:
    base_version = running(service)["version"]
    context = browser.new_context()
    page = context.new_page()
    field = page.locator(f'input[data-key="{INR}"]')
    error = page.locator(f'[data-error-for="{INR}"]')
    try:
        page.goto(service.url("/admin/"))
        assert page.url.endswith("/admin/login")
        page.fill("#username", EDITOR[0])
        page.fill("#password", "wrong-password-x")
        page.click("#login")
        expect(page.locator("p.error")).to_contain_text("Unknown user or wrong password.")
        log_in(page, service)

        # The threshold is shown with its meaning and evidence label.
        row = page.locator("tr", has=field).first
        assert "SIR 2019" in row.inner_text() and "[V3]" in row.inner_text()
        assert field.first.input_value() == "1.8"

        # Inline validation while typing: the same validator that guards the store answers.
        field.first.fill("1.2")
        expect(error.first).to_contain_text("must be greater than inr_warning")
        expect(field.first).to_have_class("invalid")
        field.first.fill("abc")
        expect(error.first).to_contain_text("should be a number")
        field.first.fill("2.0")
        expect(error.first).to_have_text("")

        # Preview lists the change (and the cohort impact, or why it is unavailable).
        page.click("#preview")
        # The preview evaluates the fixture cohort under both configurations (time-boxed by
        # admin.preview_budget_seconds, 20 s by default).
        expect(page.locator("#preview-result ul.diff")).to_contain_text(INR, timeout=90_000)
        expect(page.locator("#preview-result")).to_contain_text("test patient(s)")

        # Saving needs a reason; then the new version is active in the service.
        page.click("#save")
        expect(page.locator("#general-errors")).to_contain_text("reason")
        page.fill("#reason", "Hematology asked for the SIR upper bound")
        page.click("#save")
        expect(page.locator("#save-result")).to_contain_text("Saved as v1")
        expect(page.locator("#version")).to_have_text("v1")
        assert field.first.input_value() == "2"
        assert running(service)["config"]["clinical"]["profiles"]["cms-lcd"]["inr_hard_stop"] == 2

        # History shows who, why and what; rolling back to the base creates v2.
        page.click("text=History")
        entry = page.locator('tr[data-version="v1"]')
        expect(entry).to_contain_text("Hematology asked")
        assert EDITOR[0] in entry.inner_text() and INR in entry.inner_text()
        page.once("dialog", lambda dialog: dialog.accept("undo for the test"))
        page.locator(f'tr[data-version="{base_version}"] button.rollback').click()
        expect(page.locator("#active-version")).to_have_text("v2")
        expect(page.locator('tr[data-version="v2"]')).to_contain_text("undo for the test")
        after = running(service)
        assert after["version"] == "v2"
        assert after["config"]["clinical"]["profiles"]["cms-lcd"]["inr_hard_stop"] == 1.8
    finally:
        context.close()
    assert EDITOR[1] not in service.log_text()


def test_forged_change_without_csrf_token_is_refused(service: ServiceProcess, browser: Any) -> None:
    before = running(service)["version"]
    context = browser.new_context()
    page = context.new_page()
    try:
        log_in(page, service)
        status = page.evaluate("""async () => {
            const r = await fetch('/admin/api/config/versions', {method: 'POST',
                headers: {'Content-Type': 'application/json'},
                body: JSON.stringify({changes: {'clinical.timezone': 'Europe/Paris'}, reason: 'forged'})});
            return r.status; }""")
        assert status == 403
        assert running(service)["version"] == before
    finally:
        context.close()


def test_toml_override_for_value_sets_is_validated_in_the_page(service: ServiceProcess, browser: Any) -> None:
    before = running(service)["version"]
    context = browser.new_context()
    page = context.new_page()
    try:
        log_in(page, service)
        page.fill("#toml", '[valuesets.VS-ORDER-MRI]\ncodes = ["cpt|72146", "cpt|7214"]\n')
        expect(page.locator("#general-errors")).to_contain_text("valuesets.VS-ORDER-MRI.codes[1]: malformed CPT code")
        page.fill("#toml", '[valuesets.VS-ORDER-MRI]\ncodes = ["cpt|72146", "cpt|72148", "cpt|72158"]\n')
        expect(page.locator("#general-errors")).to_have_text("")
        page.click("#preview")
        expect(page.locator("#preview-result ul.diff")).to_contain_text("valuesets.VS-ORDER-MRI.codes",
                                                                        timeout=90_000)
        expect(page.locator("#preview-result ul.diff")).to_contain_text("+cpt|72158")
        assert running(service)["version"] == before
    finally:
        context.close()

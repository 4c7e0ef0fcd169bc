"""Unit tests of the configuration model: defaults, validation errors naming their key, TOML round trip, env."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import tomli_w

from cds_service.admin.config import (
    ConfigError,
    build_config,
    config_to_data,
    default_config,
    env_overrides,
    apply_env_overrides,
    load_config_file,
    loinc_check_ok,
    verhoeff_ok,
)
from cds_service.admin.default_valuesets import trauma_fracture_codes

ICD = "http://hl7.org/fhir/sid/icd-10-cm"


def errors_of(document: dict) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        build_config(document)
    return dict(info.value.errors)


def test_defaults_match_spec_a3() -> None:
    params = default_config().clinical.active_params()
    assert default_config().clinical.profile == "cms-lcd"
    assert params.eligible_levels == ["T1", "L5"] and params.spinejack_levels == ["T7", "L5"]
    assert (params.acute_max_days, params.subacute_max_days) == (41, 84)
    assert params.inr_hard_stop == Decimal("1.8") and params.inr_warning == Decimal("1.5")
    assert params.platelets_hard_stop == 50 and params.max_levels_per_session == 3
    evicore = default_config().clinical.profiles["evicore"]
    assert evicore.eligible_levels == ["T5", "L5"] and evicore.max_levels_per_session == 2
    assert evicore.nsm_min_days == 28 and evicore.nsm_exercise_min_days == 28
    assert default_config().clinical.profiles["commercial-6wk"].nsm_min_days == 42


def test_every_profile_field_documents_spec_id_and_evidence() -> None:
    from cds_service.admin.config import ProfileParams

    for name, info in ProfileParams.model_fields.items():
        if name == "description":
            continue
        text = info.description or ""
        assert any(tag in text for tag in ("P1", "P2", "P3", "P5", "P6", "P7", "P8", "P9", "P1", "a.2", "CI-R6")), name
        assert any(label in text for label in ("[V]", "[V3]", "[M]", "[SEED]", "[DESIGN]")), name


def test_cql_parameters_are_camel_case() -> None:
    params = default_config().clinical.active_params().cql_parameters()
    assert params["InrHardStop"] == Decimal("1.8")
    assert params["EligibleLevels"] == ["T1", "L5"]
    assert "Description" not in params


def test_valuesets_cover_spec_part_b() -> None:
    config = default_config()
    expected = {"VS-DX-OVCF", "VS-DX-COLLAPSE-NEC", "VS-DX-MALIG-FX", "VS-DX-NEOPLASM", "VS-DX-TRAUMA-FX",
                "VS-DX-INFECTION-LOCAL", "VS-DX-INFECTION-SYSTEMIC", "VS-DX-COAG", "VS-DX-NEURO",
                "VS-DX-SCOLIOSIS-KYPHOSIS", "VS-DX-CONGENITAL-SPINE", "VS-DX-OSTEOPOROSIS", "VS-DX-PREGNANCY",
                "VS-DX-ANTITHROMBOTIC-STATUS", "VS-DX-ALLERGY-STATUS", "VS-DX-ALT-PAIN-GENERATOR",
                "VS-BODYSITE-VERTEBRA", "VS-OBS-PAIN", "VS-LAB-INR", "VS-LAB-PLATELETS", "VS-LAB-APTT", "VS-LAB-WBC",
                "VS-LAB-CRP", "VS-LAB-ESR", "VS-OBS-TEMPERATURE", "VS-OBS-DXA-TSCORE", "VS-OBS-PREGNANCY-STATUS",
                "VS-LAB-HCG", "VS-PROC-VA", "VS-RX-ANTICOAG", "VS-RX-ANTIPLT", "VS-RX-SYSTEMIC-GLUCOCORTICOID",
                "VS-LOCAL-FINDINGS"}
    assert expected <= set(config.valuesets)
    assert len(trauma_fracture_codes()) == 450
    trauma = config.expand_valueset("VS-DX-TRAUMA-FX")
    assert trauma.contains(ICD, "S22.060A") and trauma.contains(ICD, "S32.052S")
    assert not trauma.contains(ICD, "S22.20XA")


def test_membership_by_prefix_filter_and_without_dot() -> None:
    sepsis = default_config().expand_valueset("VS-DX-INFECTION-SYSTEMIC")
    assert sepsis.contains(ICD, "A41.89")
    assert sepsis.contains(ICD, "A41.99")  # future code caught by the A41.* filter
    assert sepsis.contains(ICD, "A4189")  # EHRs that drop the dot
    assert not sepsis.contains("http://snomed.info/sct", "A41.89")
    assert not sepsis.contains(ICD, "B41.0")
    pregnancy = default_config().expand_valueset("VS-DX-PREGNANCY")
    assert pregnancy.contains(ICD, "O09.90") and pregnancy.contains(ICD, "Z33.1")


def test_vertebra_levels_and_procedure_trigger() -> None:
    config = default_config()
    assert config.vertebra_levels()[("http://snomed.info/sct", "66794005")] == "L1"
    assert len(config.vertebra_levels()) == 17
    va = config.expand_valueset("VS-PROC-VA")
    assert va.contains("http://www.ama-assn.org/go/cpt", "22514")
    assert va.contains("http://www.cms.gov/Medicare/Coding/ICD10", "XNU0356")
    assert config.expand_valueset(va.url) is va


def test_local_codesystem_remap_changes_local_codes() -> None:
    config = build_config({"codesystems": {"local": "https://hospital.example/fhir/CodeSystem/spine"}})
    findings = config.expand_valueset("VS-LOCAL-FINDINGS")
    assert findings.contains("https://hospital.example/fhir/CodeSystem/spine", "marrow-edema")
    assert not findings.contains("http://example.org/fhir/CodeSystem/vertebral-augmentation", "marrow-edema")


@pytest.mark.parametrize("document, key, fragment", [
    ({"clinical": {"profiles": {"cms-lcd": {"inr_hard_stop": "high"}}}},
     "clinical.profiles.cms-lcd.inr_hard_stop", "should be a number"),
    ({"clinical": {"profiles": {"cms-lcd": {"inr_hard_stop": 1.4}}}},
     "clinical.profiles.cms-lcd.inr_hard_stop", "greater than inr_warning"),
    ({"clinical": {"profiles": {"cms-lcd": {"acute_max_days": -1}}}},
     "clinical.profiles.cms-lcd.acute_max_days", "greater than or equal to 0"),
    ({"clinical": {"profiles": {"cms-lcd": {"inpatient_pain_min": 11}}}},
     "clinical.profiles.cms-lcd.inpatient_pain_min", "less than or equal to 10"),
    ({"clinical": {"profiles": {"cms-lcd": {"inr_warnig": 1.5}}}},
     "clinical.profiles.cms-lcd.inr_warnig", "unknown key"),
    ({"clinical": {"profile": "aetna"}}, "clinical.profile", "unknown profile 'aetna'"),
    ({"clinical": {"timezone": "Mars/Olympus"}}, "clinical.timezone", "unknown time zone"),
    ({"clinical": {"profiles": {"cms-lcd": {"eligible_levels": ["L5", "T1"]}}}},
     "clinical.profiles.cms-lcd.eligible_levels", "below last level"),
    ({"clinical": {"profiles": {"cms-lcd": {"antithrombotic_hold_days": {"warfarin": 90}}}}},
     "clinical.profiles.cms-lcd.antithrombotic_hold_days.warfarin", "between 0 and 60"),
    ({"rules": {"CI-A99": {"enabled": False}}}, "rules.CI-A99", "unknown rule"),
    ({"rules": {"CI-A1": {"enabled": "no"}}}, "rules.CI-A1.enabled", "valid boolean"),
    ({"valuesets": {"VS-DX-OVCF": {"codes": ["icd10cm|"]}}}, "valuesets.VS-DX-OVCF.codes[0]", "empty code"),
    ({"valuesets": {"VS-DX-OVCF": {"codes": ["icd9|733.13"]}}}, "valuesets.VS-DX-OVCF.codes[0]",
     "unknown code system alias 'icd9'"),
    ({"valuesets": {"VS-DX-OVCF": {"codes": ["icd10cm|M80-08XA"]}}}, "valuesets.VS-DX-OVCF.codes[0]",
     "malformed ICD-10-CM code"),
    ({"valuesets": {"VS-DX-OVCF": {"filters": ["icd10cm|A41"]}}}, "valuesets.VS-DX-OVCF.filters[0]",
     "must end with a single '*'"),
    ({"valuesets": {"VS-BODYSITE-VERTEBRA": {"codes": ["snomed|66794006"]}}},
     "valuesets.VS-BODYSITE-VERTEBRA.codes[0]", "Verhoeff"),
    ({"valuesets": {"VS-LAB-INR": {"codes": ["loinc|6301-7"]}}}, "valuesets.VS-LAB-INR.codes[0]", "Mod-10"),
    ({"valuesets": {"VS-DX-OVFC": {"codes": ["icd10cm|M80.08XA"]}}}, "valuesets.VS-DX-OVFC", "unknown value set"),
    ({"codesystems": {"local": "example-local"}}, "codesystems.local", "not an absolute URI"),
    ({"security": {"max_body_bytes": 10}}, "security.max_body_bytes", "greater than or equal to 1024"),
    ({"security": {"trusted_issuers": {"https://ehr.example": {}}}},
     "security.trusted_issuers.https://ehr.example", "exactly one of jwks_url or jwks"),
    ({"security": {"cors_origins": ["https://sandbox.example/path"]}}, "security.cors_origins", "without a path"),
    ({"cards": {"text_overrides": {"C-NOPE": {"summary": "x"}}}}, "cards.text_overrides.C-NOPE", "unknown card id"),
    ({"cards": {"text_overrides": {"C-TECH": {"summary": "x" * 141}}}}, "cards.text_overrides.C-TECH.summary",
     "at most 140"),
])
def test_each_malformed_kind_names_its_key(document: dict, key: str, fragment: str) -> None:
    errors = errors_of(document)
    assert key in errors, errors
    assert fragment in errors[key]


def test_every_error_is_reported_at_once() -> None:
    errors = errors_of({"clinical": {"profile": "nope", "profiles": {"cms-lcd": {"inr_hard_stop": 1.0, "foo": 1}}},
                        "valuesets": {"VS-DX-OVCF": {"codes": ["bad|X"]}}})
    assert set(errors) >= {"clinical.profile", "clinical.profiles.cms-lcd.inr_hard_stop",
                           "clinical.profiles.cms-lcd.foo", "valuesets.VS-DX-OVCF.codes[0]"}


def test_new_profile_extends_an_existing_one() -> None:
    config = build_config({"clinical": {"profile": "site", "profiles": {"site": {"extends": "evicore",
                                                                                "nsm_min_days": 14}}}})
    params = config.clinical.active_params()
    assert params.nsm_min_days == 14 and params.eligible_levels == ["T5", "L5"]
    assert "extends" not in config_to_data(config)["clinical"]["profiles"]["site"]


def test_toml_round_trip_is_lossless(tmp_path: Path) -> None:
    config = build_config({"clinical": {"profiles": {"cms-lcd": {"inr_hard_stop": 2.0, "fever_min_c": 38.5}}},
                           "security": {"cors_origins": ["https://sandbox.example"]}})
    path = tmp_path / "full.toml"
    path.write_text(tomli_w.dumps(config_to_data(config)))
    again = load_config_file(path)
    assert again == config
    assert again.fingerprint() == config.fingerprint()
    assert again.clinical.active_params().fever_min_c == Decimal("38.5")


def test_load_config_file_reports_toml_syntax_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[clinical\nprofile = 1\n")
    with pytest.raises(ConfigError) as info:
        load_config_file(bad)
    assert info.value.errors[0][0] == "(toml)"
    with pytest.raises(ConfigError) as info:
        load_config_file(tmp_path / "missing.toml")
    assert info.value.errors[0][0] == "(file)"


def test_example_file_is_valid() -> None:
    example = Path(__file__).resolve().parents[3] / "config" / "example.toml"
    config = load_config_file(example)
    assert config.clinical.profile in config.clinical.profiles


def test_env_overrides_security_secrets() -> None:
    env = {"CDS_TRUSTED_ISSUERS": '{"https://ehr.example": {"jwks_url": "https://ehr.example/jwks"}}',
           "CDS_CORS_ORIGINS": "https://a.example, https://b.example",
           "CDS_FHIR_SERVER_ALLOWLIST": "https://fhir.hospital.example/r4"}
    config = apply_env_overrides(default_config(), env)
    assert config.security.trusted_issuers["https://ehr.example"].jwks_url == "https://ehr.example/jwks"
    assert config.security.cors_origins == ["https://a.example", "https://b.example"]
    assert config.security.fhir_server_allowed("https://fhir.hospital.example/r4/Patient/1")
    assert not config.security.fhir_server_allowed("http://127.0.0.1:8080/fhir")
    with pytest.raises(ConfigError) as info:
        env_overrides({"CDS_TRUSTED_ISSUERS": "{not json"})
    assert info.value.errors[0][0] == "env:CDS_TRUSTED_ISSUERS"


def test_fhir_allowlist_defaults_to_loopback_only() -> None:
    security = default_config().security
    assert security.fhir_server_allowed("http://127.0.0.1:52001/fhir")
    assert security.fhir_server_allowed("http://localhost:8080/")
    assert not security.fhir_server_allowed("https://evil.example/fhir")
    assert not security.fhir_server_allowed("http://127.0.0.1.evil.example/fhir")
    assert not security.fhir_server_allowed("file:///etc/passwd")
    narrowed = build_config({"security": {"fhir_server_allowlist": ["https://ehr.example:8443/fhir"]}}).security
    assert narrowed.fhir_server_allowed("https://ehr.example:8443/fhir/Patient")
    assert not narrowed.fhir_server_allowed("https://ehr.example:8443/fhirx")
    assert not narrowed.fhir_server_allowed("https://ehr.example/fhir")


def test_check_digit_helpers() -> None:
    assert verhoeff_ok("66794005") and not verhoeff_ok("447766008")
    assert loinc_check_ok("72514-3") and not loinc_check_ok("72514-4")


def test_configuration_doc_reference_is_up_to_date() -> None:
    from cds_service.admin.reference import render_reference

    doc = (Path(__file__).resolve().parents[3] / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert render_reference() in doc, "run: .venv/bin/python -m cds_service.admin.reference"

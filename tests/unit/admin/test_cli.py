"""`cds-service config` and `cds-service evaluate` command lines: exit codes, complete TOML, every error listed."""

from __future__ import annotations

import argparse
import json
import tomllib
from pathlib import Path

import pytest

from cds_service.admin import cli
from cds_service.admin.config import default_config, load_config_file


def run_config(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    return cli.run(parser.parse_args(list(argv)))


def test_show_prints_complete_toml_that_loads_back(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_config("show") == 0
    text = capsys.readouterr().out
    data = tomllib.loads(text)
    assert data["clinical"]["profiles"]["cms-lcd"]["inr_hard_stop"] == 1.8
    assert "VS-DX-TRAUMA-FX" in data["valuesets"]
    path = tmp_path / "shown.toml"
    path.write_text(text)
    assert load_config_file(path) == default_config()


def test_check_valid_file_exits_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "site.toml"
    path.write_text('[clinical]\nprofile = "evicore"\n')
    assert run_config("check", str(path)) == 0
    assert "valid (profile evicore" in capsys.readouterr().out


def test_check_lists_every_error_with_its_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "broken.toml"
    path.write_text('[clinical]\nprofile = "aetna"\n[clinical.profiles.cms-lcd]\ninr_hard_stop = "2"\n'
                    'platelets_hard_stop = -5\n[valuesets.VS-DX-OVCF]\ncodes = ["icd10cm|M80..08"]\n'
                    '[security]\nmax_body_bytes = 1\n')
    assert run_config("check", str(path)) == 1
    err = capsys.readouterr().err
    assert "5 error(s)" in err
    for key in ("clinical.profile", "clinical.profiles.cms-lcd.inr_hard_stop",
                "clinical.profiles.cms-lcd.platelets_hard_stop", "valuesets.VS-DX-OVCF.codes[0]",
                "security.max_body_bytes"):
        assert f"  {key}: " in err


def test_check_missing_file_is_an_error_not_a_crash(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_config("check", str(tmp_path / "none.toml")) == 1
    assert "cannot read" in capsys.readouterr().err


def test_diff_against_defaults(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "site.toml"
    path.write_text('[clinical.profiles.cms-lcd]\ninr_hard_stop = 2.0\n'
                    '[valuesets.VS-ORDER-MRI]\ncodes = ["cpt|72146", "cpt|72148", "cpt|72158"]\n')
    assert run_config("diff", str(path), "--format", "json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["against"] == "defaults"
    assert {"path": "clinical.profiles.cms-lcd.inr_hard_stop", "old": 1.8, "new": 2} in report["changes"]
    assert {"path": "valuesets.VS-ORDER-MRI.codes", "added": ["cpt|72158"], "removed": []} in report["changes"]
    assert run_config("diff", str(path)) == 0
    assert "clinical.profiles.cms-lcd.inr_hard_stop: 1.8 -> 2" in capsys.readouterr().out


def test_apply_history_rollback_against_running_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CDS_DATA_DIR", str(tmp_path / "data"))
    path = tmp_path / "change.toml"
    path.write_text("[clinical.profiles.cms-lcd]\ninr_warning = 1.6\n")
    assert run_config("apply", str(path), "--reason", "local hematology policy", "--author", "it-ops") == 0
    assert "stored v1" in capsys.readouterr().out
    assert run_config("diff", str(path), "--against", "running") == 0
    assert "0 change(s)" in capsys.readouterr().out
    assert run_config("history") == 0
    out = capsys.readouterr().out
    assert "active: v1" in out and "it-ops" in out and "local hematology policy" in out
    assert run_config("rollback", "v0", "--reason", "x") == 1
    assert run_config("show", "--running") == 0
    assert "inr_warning = 1.6" in capsys.readouterr().out
    monkeypatch.setenv("CDS_ADMIN_PASSWORD", "a-long-enough-password")
    assert run_config("add-admin", "ines", "--role", "reader") == 0
    monkeypatch.setenv("CDS_ADMIN_PASSWORD", "short")
    assert run_config("add-admin", "ines") == 1
    assert "at least 12" in capsys.readouterr().err

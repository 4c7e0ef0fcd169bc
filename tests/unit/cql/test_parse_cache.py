"""Parsed libraries are kept on disk so a restart does not pay pyparsing again (seconds for the clinical logic)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cds_service.cql import builder

TEXT = "library Cached\ndefine \"X\": 1 + 2\n"


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CDS_CQL_CACHE_DIR", str(tmp_path))
    builder._parse_library_cached.cache_clear()
    yield tmp_path
    builder._parse_library_cached.cache_clear()


def test_a_parsed_library_is_stored_and_read_back_equal(cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = builder.parse_library(TEXT)
    [entry] = list(cache_dir.glob("*.pickle"))
    builder._parse_library_cached.cache_clear()

    def no_parsing(text: str) -> None:
        raise AssertionError("parsed again although the disk cache holds the library")

    monkeypatch.setattr(builder, "_parse_library_uncached", no_parsing)
    assert builder.parse_library(TEXT) == first
    assert entry.exists()


def test_a_corrupt_entry_is_parsed_again_and_replaced(cache_dir: Path) -> None:
    builder.parse_library(TEXT)
    [entry] = list(cache_dir.glob("*.pickle"))
    entry.write_bytes(b"not a pickle")
    builder._parse_library_cached.cache_clear()
    assert builder.parse_library(TEXT).name == "Cached"
    assert entry.read_bytes() != b"not a pickle"


def test_another_text_is_another_entry_and_syntax_errors_are_not_cached(cache_dir: Path) -> None:
    builder.parse_library(TEXT)
    builder.parse_library(TEXT.replace("1 + 2", "3"))
    assert len(list(cache_dir.glob("*.pickle"))) == 2
    with pytest.raises(Exception, match="syntax error|never closed"):
        builder.parse_library("library Bad\ndefine \"X\": (1\n")
    assert len(list(cache_dir.glob("*.pickle"))) == 2


def test_an_empty_setting_disables_the_disk_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDS_CQL_CACHE_DIR", "")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    builder._parse_library_cached.cache_clear()
    builder.parse_library(TEXT)
    assert not list(tmp_path.rglob("*.pickle"))

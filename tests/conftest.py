"""Shared test fixtures (all data synthetic). Protocol test helpers live in tests/protocol_services.py."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _no_cds_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never depend on the CDS_* variables of the shell they run in (a developer's trusted issuers...)."""
    for name in list(os.environ):
        if name.startswith("CDS_"):
            monkeypatch.delenv(name)

"""Configuration versions on a real store (SQLite and PostgreSQL): apply, history, rollback, live reload, corrupt rows."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest

from cds_service.admin.config import ConfigError, default_config
from cds_service.admin.provider import ConfigManager, ConfigProvider
from cds_service.store.config_versions import ConfigVersionRow, ConfigVersionStore, VersionConflictError
from cds_service.store.db import Store

INR = "clinical.profiles.cms-lcd.inr_hard_stop"


def change_inr(manager: ConfigManager, value: float, who: str = "edna") -> str:
    proposal = manager.propose({"clinical": {"profiles": {"cms-lcd": {"inr_hard_stop": value}}}})
    return manager.apply(proposal, author=who, reason=f"INR hard stop {value}").version


def test_apply_is_versioned_with_author_reason_and_diff(store: Store) -> None:
    provider = ConfigProvider(store, check_interval=0.0)
    assert provider.current().version.startswith("default-")
    manager = ConfigManager(provider)
    version = change_inr(manager, 2.0)
    assert version == "v1"
    assert provider.current().version == "v1"
    assert provider.current().config.clinical.active_params().inr_hard_stop == Decimal("2")
    [entry] = manager.versions.history()
    assert (entry.author, entry.reason, entry.action) == ("edna", "INR hard stop 2.0", "apply")
    assert entry.diff == [{"path": INR, "old": 1.8, "new": 2}]
    assert entry.parent_version.startswith("default-")


def test_rollback_to_any_version_is_a_new_version(store: Store) -> None:
    provider = ConfigProvider(store, check_interval=0.0)
    manager = ConfigManager(provider)
    change_inr(manager, 2.0)
    change_inr(manager, 2.5)
    rolled = manager.rollback("v1", author="rita", reason="2.5 was a typo")
    assert rolled.version == "v3" and rolled.action == "rollback" and rolled.rollback_of == "v1"
    assert rolled.diff == [{"path": INR, "old": 2.5, "new": 2}]
    assert provider.current().config.clinical.active_params().inr_hard_stop == Decimal("2")
    back_to_defaults = manager.rollback(provider.base[1], author="rita", reason="back to spec")
    assert back_to_defaults.version == "v4"
    assert provider.current().config == default_config()
    assert [v.version for v in manager.versions.history()] == ["v4", "v3", "v2", "v1"]


def test_invalid_change_is_refused_and_nothing_is_stored(store: Store) -> None:
    provider = ConfigProvider(store, check_interval=0.0)
    manager = ConfigManager(provider)
    with pytest.raises(ConfigError) as info:
        change_inr(manager, 1.2)
    assert info.value.errors[0][0] == INR
    assert manager.versions.latest_id() is None
    with pytest.raises(ConfigError) as info:
        manager.apply(manager.propose({"clinical": {"timezone": "Europe/Paris"}}), author="edna", reason=" ")
    assert info.value.errors == [("reason", "a reason is required for every change")]


def test_lost_update_is_refused(store: Store) -> None:
    provider = ConfigProvider(store, check_interval=0.0)
    manager = ConfigManager(provider)
    stale = manager.propose({"clinical": {"timezone": "Europe/Paris"}})
    change_inr(manager, 2.0)
    with pytest.raises(VersionConflictError):
        manager.apply(stale, author="edna", reason="based on an old page")


def test_second_worker_sees_change_after_its_check_interval(store: Store) -> None:
    now = [100.0]
    other = ConfigProvider(store, check_interval=1.0, clock=lambda: now[0])
    before = other.current().version
    change_inr(ConfigManager(ConfigProvider(store, check_interval=0.0)), 2.0)
    assert other.current().version == before  # inside the interval: no query, cached config
    now[0] += 1.01
    assert other.current().version == "v1"


def test_corrupt_row_is_ignored_and_previous_config_kept(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    provider = ConfigProvider(store, check_interval=0.0)
    change_inr(ConfigManager(provider), 2.0)
    with store.session() as session:
        template = session.get(ConfigVersionRow, 1)
        assert template is not None
        session.add(ConfigVersionRow(created_at=template.created_at, author="x", reason="x", action="apply",
                                     parent_version="v1", fingerprint="x", diff="[]",
                                     document='{"clinical": {"profile": "no-such-profile"}}'))
        session.add(ConfigVersionRow(created_at=template.created_at, author="x", reason="x", action="apply",
                                     parent_version="v2", fingerprint="x", diff="[]", document="{not json"))
    with caplog.at_level(logging.ERROR, logger="cds_service.admin.provider"):
        assert provider.current().version == "v1"
        fresh = ConfigProvider(store, check_interval=0.0)
        assert fresh.current().version == "v1"
    assert "v3 ignored" in caplog.text and "v2 ignored" in caplog.text
    assert provider.current().config.clinical.active_params().inr_hard_stop == Decimal("2")


def test_store_outage_keeps_serving_the_last_config(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = Store(f"sqlite:///{tmp_path / 'gone.sqlite3'}")
    store.create_all()
    provider = ConfigProvider(store, check_interval=0.0)
    change_inr(ConfigManager(provider), 2.0)
    with store.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE config_versions")
    assert provider.current().version == "v1"


def test_shared_secret_is_created_once(store: Store) -> None:
    versions = ConfigVersionStore(store)
    first = versions.shared_secret("admin-session-key")
    assert len(first) > 40 and versions.shared_secret("admin-session-key") == first

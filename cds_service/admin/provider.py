"""Admin layer: the ConfigProvider every worker reads the active configuration from, and the apply/rollback operations."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cds_service.admin.config import (
    ActiveConfig,
    ConfigError,
    ServiceConfig,
    apply_env_overrides,
    build_config,
    config_to_data,
    default_config,
    load_config_file,
)
from cds_service.admin.diff import config_diff
from cds_service.store.config_versions import (
    ConfigVersion,
    ConfigVersionStore,
    VersionConflictError,
    parse_version_label,
    version_label,
)
from cds_service.store.db import Store, StoreError

log = logging.getLogger(__name__)

# Re-checking the newest version id at most this often keeps a change live everywhere within ~1 s plus the
# request gap, far inside the 5 s promise, for one indexed `max(id)` per second per worker.
DEFAULT_CHECK_INTERVAL_SECONDS = 1.0


def base_config(config_file: str | os.PathLike[str] | None = None) -> tuple[ServiceConfig, str]:
    """The configuration used before anything is stored: the file (`file-<hash>`) or the defaults (`default-<hash>`)."""
    if config_file:
        config = load_config_file(config_file)
        return config, f"file-{config.fingerprint()}"
    config = default_config()
    return config, f"default-{config.fingerprint()}"


class ConfigProvider:
    """`current()` -> ActiveConfig; polls the store's newest version id at most every `check_interval` seconds.

    Thread-safe; a worker thread never waits for another thread's database check (it gets the cached config).
    A stored version that no longer validates is skipped with an error log and the previous config stays.
    """

    def __init__(self, store: Store | None = None, *, base: ServiceConfig | None = None,
                 base_version: str | None = None, check_interval: float = DEFAULT_CHECK_INTERVAL_SECONDS,
                 environ: Mapping[str, str] | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        if base is None:
            base, default_version = base_config(None)
            base_version = base_version or default_version
        self._base = base
        self._base_version = base_version or f"default-{base.fingerprint()}"
        self.versions = ConfigVersionStore(store) if store is not None else None
        self._interval = check_interval
        self._environ = environ
        self._clock = clock
        self._lock = threading.Lock()
        self._raw: ServiceConfig = base
        self._active = ActiveConfig(self._with_env(base), self._base_version)
        self._loaded_id: int | None = None
        self._bad_ids: set[int] = set()
        self._next_check = 0.0
        self.refresh()

    def _with_env(self, config: ServiceConfig) -> ServiceConfig:
        return apply_env_overrides(config, self._environ)

    @property
    def base(self) -> tuple[ServiceConfig, str]:
        return self._base, self._base_version

    def current(self) -> ActiveConfig:
        """The configuration in force now (cheap: a clock read, and a `max(id)` query at most every interval)."""
        if self.versions is not None and self._clock() >= self._next_check:
            if self._lock.acquire(blocking=False):
                try:
                    if self._clock() >= self._next_check:
                        self._check()
                finally:
                    self._lock.release()
        return self._active

    def current_raw(self) -> tuple[ServiceConfig, str]:
        """The active configuration without environment overrides (what editors change and what is stored)."""
        self.current()
        return self._raw, self._active.version

    def refresh(self) -> ActiveConfig:
        """Check the store now (after an apply on this worker, or at start-up)."""
        if self.versions is not None:
            with self._lock:
                self._check()
        return self._active

    def _check(self) -> None:
        assert self.versions is not None
        self._next_check = self._clock() + self._interval
        try:
            latest = self.versions.latest_id()
        except StoreError as exc:
            log.warning("configuration check skipped: %s; keeping %s", exc, self._active.version)
            return
        if latest is None or latest == self._loaded_id or latest in self._bad_ids:
            return
        # Newest first; when the newest row is unusable, the newest valid one above the loaded version wins
        # (at start-up: the newest valid one at all).
        candidates = [latest]
        older: list[int] | None = None
        while candidates:
            version_id = candidates.pop(0)
            if self._loaded_id is not None and version_id <= self._loaded_id:
                return
            if version_id not in self._bad_ids:
                loaded = self._load(version_id)
                if loaded is not None:
                    raw, active = loaded
                    self._raw, self._active, self._loaded_id = raw, active, version_id
                    log.info("configuration %s is now active", active.version)
                    return
            if older is None:
                try:
                    older = self.versions.older_ids(latest)
                except StoreError:
                    return
                candidates.extend(older)

    def _load(self, version_id: int) -> tuple[ServiceConfig, ActiveConfig] | None:
        assert self.versions is not None
        try:
            row = self.versions.get(version_id)
            if row is None:
                return None
            document = json.loads(row.document)
            raw = build_config(document, base=default_config())
            return raw, ActiveConfig(self._with_env(raw), row.version)
        except (ValueError, ConfigError) as exc:
            # A corrupt or no-longer-valid row must never replace a working configuration.
            self._bad_ids.add(version_id)
            detail = "; ".join(f"{k}: {r}" for k, r in exc.errors[:5]) if isinstance(exc, ConfigError) else str(exc)
            log.error("configuration version %s ignored (invalid: %s); keeping %s",
                      version_label(version_id), detail[:500], self._active.version)
            return None
        except StoreError as exc:
            log.warning("configuration version %s not loaded: %s", version_label(version_id), exc)
            return None


# ---------------------------------------------------------------------------------------------------------------
# Changing the configuration


def set_dotted(document: dict[str, Any], path: str, value: Any) -> None:
    """Set `a.b.c` in a nested dict, creating tables on the way."""
    parts = path.split(".")
    if not path or any(not p for p in parts):
        raise ConfigError([(path or "(root)", "empty key path")])
    node = document
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value


def changes_to_document(changes: Mapping[str, Any]) -> dict[str, Any]:
    """{"clinical.profiles.cms-lcd.inr_hard_stop": 2.0} -> nested override document."""
    document: dict[str, Any] = {}
    for path, value in changes.items():
        set_dotted(document, str(path), value)
    return document


@dataclass(frozen=True)
class Proposal:
    """A validated candidate configuration and what it changes against the base version."""

    config: ServiceConfig
    base_version: str
    diff: list[dict[str, Any]]


class ConfigManager:
    """Propose / apply / rollback, with validation before anything is stored."""

    def __init__(self, provider: ConfigProvider) -> None:
        if provider.versions is None:
            raise ValueError("configuration changes need a store")
        self.provider = provider
        self.versions: ConfigVersionStore = provider.versions

    def propose(self, override: Mapping[str, Any]) -> Proposal:
        """`override` (nested document) on top of the current configuration; raises ConfigError."""
        raw, version = self.provider.current_raw()
        candidate = build_config(override, base=raw)
        return Proposal(candidate, version, config_diff(raw, candidate))

    def apply(self, proposal: Proposal, *, author: str, reason: str) -> ConfigVersion:
        """Store `proposal` as the new version; refuses if the base version is no longer current."""
        reason = reason.strip()
        if not reason:
            raise ConfigError([("reason", "a reason is required for every change")])
        if not proposal.diff:
            raise ConfigError([("(changes)", "the proposal changes nothing")])
        expected = self._expected_latest(proposal.base_version)
        stored = self.versions.append(
            document=config_to_data(proposal.config), fingerprint=proposal.config.fingerprint(), author=author,
            reason=reason, action="apply", parent_version=proposal.base_version, expected_latest=expected,
            diff=proposal.diff)
        self.provider.refresh()
        return stored

    def rollback(self, target: str, *, author: str, reason: str, base_version: str | None = None) -> ConfigVersion:
        """Make version `target` (v<n>, or the base `default-`/`file-` version) current again, as a new version."""
        reason = reason.strip()
        if not reason:
            raise ConfigError([("reason", "a reason is required for every change")])
        raw, current_version = self.provider.current_raw()
        if base_version is not None and base_version != current_version:
            raise VersionConflictError(f"the configuration changed meanwhile (now {current_version})")
        base, base_label = self.provider.base
        if target == base_label:
            restored = base
        else:
            try:
                row = self.versions.get(parse_version_label(target))
            except ValueError as exc:
                raise ConfigError([("version", str(exc))]) from exc
            if row is None:
                raise ConfigError([("version", f"unknown version {target!r}")])
            restored = build_config(json.loads(row.document), base=default_config())
        diff = config_diff(raw, restored)
        stored = self.versions.append(
            document=config_to_data(restored), fingerprint=restored.fingerprint(), author=author, reason=reason,
            action="rollback", parent_version=current_version, expected_latest=self._expected_latest(current_version),
            diff=diff, rollback_of=target)
        self.provider.refresh()
        return stored

    def document_of(self, version: str) -> ServiceConfig:
        """The configuration stored as `version` (or the base)."""
        base, base_label = self.provider.base
        if version == base_label:
            return base
        row = self.versions.get(parse_version_label(version))
        if row is None:
            raise ConfigError([("version", f"unknown version {version!r}")])
        return build_config(json.loads(row.document), base=default_config())

    def _expected_latest(self, base_version: str) -> int | None:
        if base_version.startswith("v"):
            try:
                return parse_version_label(base_version)
            except ValueError:
                pass
        latest = self.versions.latest_id()
        if latest is not None:
            raise VersionConflictError(f"the configuration changed meanwhile (now {version_label(latest)})")
        return None


def provider_for(store: Store | None, config_file: str | os.PathLike[str] | None = None,
                 check_interval: float = DEFAULT_CHECK_INTERVAL_SECONDS) -> ConfigProvider:
    """The provider a worker builds at start-up: base from the file (or defaults), live versions from the store."""
    base, version = base_config(Path(config_file) if config_file else None)
    return ConfigProvider(store, base=base, base_version=version, check_interval=check_interval)

"""Store layer: configuration versions (append-only history with author, reason, diff), admin users and admin secrets."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Boolean, DateTime, Integer, String, Text, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from cds_service.store.db import Base, Store, StoreError


class ConfigVersionRow(Base):
    """One applied configuration: the complete document (not a patch), so any version restores on its own."""

    __tablename__ = "config_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    author: Mapped[str] = mapped_column(String(120), nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    action: Mapped[str] = mapped_column(String(20), nullable=False)  # apply | rollback
    parent_version: Mapped[str] = mapped_column(String(40), nullable=False)
    rollback_of: Mapped[str | None] = mapped_column(String(40), nullable=True)
    fingerprint: Mapped[str] = mapped_column(String(20), nullable=False)
    document: Mapped[str] = mapped_column(Text, nullable=False)  # JSON of the whole configuration
    diff: Mapped[str] = mapped_column(Text, nullable=False)  # JSON list of {path, old, new}


class AdminUserRow(Base):
    __tablename__ = "admin_users"

    username: Mapped[str] = mapped_column(String(80), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(300), nullable=False)
    role: Mapped[str] = mapped_column(String(20), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    disabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)


class AdminSecretRow(Base):
    """Process-shared secrets (e.g. the admin session key) so every worker and replica signs alike."""

    __tablename__ = "admin_secrets"

    name: Mapped[str] = mapped_column(String(80), primary_key=True)
    value: Mapped[str] = mapped_column(Text, nullable=False)


def version_label(row_id: int) -> str:
    return f"v{row_id}"


def parse_version_label(label: str) -> int:
    """`v12` -> 12; ValueError for anything else (`default-...` versions are not stored)."""
    if not label.startswith("v") or not label[1:].isdigit():
        raise ValueError(f"{label!r} is not a stored version id (v<number>)")
    return int(label[1:])


@dataclass(frozen=True)
class ConfigVersion:
    """A stored version as the admin layer sees it (the document is parsed lazily by the caller)."""

    id: int
    version: str
    created_at: datetime
    author: str
    reason: str
    action: str
    parent_version: str
    rollback_of: str | None
    fingerprint: str
    document: str
    diff: list[dict[str, Any]]

    def summary(self) -> dict[str, Any]:
        """The history entry without the (large) document."""
        return {"version": self.version, "createdAt": self.created_at.isoformat(), "author": self.author,
                "reason": self.reason, "action": self.action, "parentVersion": self.parent_version,
                "rollbackOf": self.rollback_of, "fingerprint": self.fingerprint, "diff": self.diff}


class VersionConflictError(RuntimeError):
    """Somebody applied another version since the editor loaded the configuration (lost update refused)."""


def _to_version(row: ConfigVersionRow) -> ConfigVersion:
    try:
        diff = json.loads(row.diff)
    except (TypeError, ValueError):
        diff = []
    created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=UTC)
    return ConfigVersion(row.id, version_label(row.id), created, row.author, row.reason, row.action,
                         row.parent_version, row.rollback_of, row.fingerprint, row.document,
                         diff if isinstance(diff, list) else [])


class ConfigVersionStore:
    """Append-only configuration history on top of `Store`; rollback writes a new version."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def latest_id(self) -> int | None:
        """The newest version's id: one indexed aggregate, cheap enough to poll every second."""
        with self.store.session() as session:
            return session.execute(select(func.max(ConfigVersionRow.id))).scalar_one_or_none()

    def get(self, version_id: int) -> ConfigVersion | None:
        with self.store.session() as session:
            row = session.get(ConfigVersionRow, version_id)
            return _to_version(row) if row is not None else None

    def older_ids(self, below: int) -> list[int]:
        """Ids below `below`, newest first (to fall back past a corrupt row)."""
        with self.store.session() as session:
            rows = session.execute(select(ConfigVersionRow.id).where(ConfigVersionRow.id < below)
                                   .order_by(ConfigVersionRow.id.desc()).limit(50))
            return [r for (r,) in rows]

    def history(self, limit: int = 50, offset: int = 0) -> list[ConfigVersion]:
        with self.store.session() as session:
            rows = session.execute(select(ConfigVersionRow).order_by(ConfigVersionRow.id.desc())
                                   .limit(limit).offset(offset)).scalars().all()
            return [_to_version(r) for r in rows]

    def append(self, *, document: dict[str, Any], fingerprint: str, author: str, reason: str, action: str,
               parent_version: str, expected_latest: int | None, diff: list[dict[str, Any]],
               rollback_of: str | None = None) -> ConfigVersion:
        """Store a new version if the newest id is still `expected_latest` (else VersionConflictError).

        The document must already be validated: this layer stores, it does not judge.
        """
        with self.store.session() as session:
            latest = session.execute(select(func.max(ConfigVersionRow.id))).scalar_one_or_none()
            if latest != expected_latest:
                raise VersionConflictError(
                    f"the configuration changed meanwhile (now {version_label(latest) if latest else 'none'})")
            row = ConfigVersionRow(
                created_at=datetime.now(UTC), author=author, reason=reason, action=action,
                parent_version=parent_version, rollback_of=rollback_of, fingerprint=fingerprint,
                document=json.dumps(document, sort_keys=True), diff=json.dumps(diff, default=str))
            session.add(row)
            session.flush()
            return _to_version(row)

    # -- admin users -------------------------------------------------------------------------------------------

    def get_user(self, username: str) -> AdminUserRow | None:
        with self.store.session() as session:
            return session.get(AdminUserRow, username)

    def list_users(self) -> list[AdminUserRow]:
        with self.store.session() as session:
            return list(session.execute(select(AdminUserRow).order_by(AdminUserRow.username)).scalars())

    def upsert_user(self, username: str, password_hash: str, role: str) -> None:
        with self.store.session() as session:
            row = session.get(AdminUserRow, username)
            if row is None:
                session.add(AdminUserRow(username=username, password_hash=password_hash, role=role,
                                         created_at=datetime.now(UTC), disabled=False))
            else:
                row.password_hash, row.role, row.disabled = password_hash, role, False

    def count_users(self) -> int:
        with self.store.session() as session:
            return int(session.execute(select(func.count()).select_from(AdminUserRow)).scalar_one())

    # -- shared secrets ----------------------------------------------------------------------------------------

    def shared_secret(self, name: str) -> str:
        """The named secret, created once (random) and then shared by every process using this database."""
        with self.store.session() as session:
            row = session.get(AdminSecretRow, name)
            if row is not None:
                return row.value
        try:
            with self.store.session() as session:
                session.add(AdminSecretRow(name=name, value=secrets.token_urlsafe(48)))
        except (IntegrityError, StoreError):
            pass  # another process won the race; read its value below
        with self.store.session() as session:
            row = session.get(AdminSecretRow, name)
            if row is None:
                raise StoreError(f"could not create the shared secret {name!r}")
            return row.value

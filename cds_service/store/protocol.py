"""Store layer: protocol tables (invocation audit, issued cards, card feedback, JWT jti replay cache) and their API."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Dialect,
    Float,
    Index,
    Integer,
    String,
    Text,
    delete,
    func,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.types import TypeDecorator

from cds_service.store.db import Base, Store

DataSourceKind = Literal["prefetch", "fhir", "mixed", "none"]
DATA_SOURCES: frozenset[str] = frozenset({"prefetch", "fhir", "mixed", "none"})
FeedbackOutcome = Literal["accepted", "overridden"]
# Where the service puts the machine-readable finding on each card (clinical-rules.md § 0).
FINDING_EXTENSION_KEY = "org.vertebral-augmentation-cds.finding"
# Expired jti rows are pruned at most this often per process; the rows are tiny, so lazily is fine.
_JTI_PRUNE_INTERVAL = timedelta(minutes=5)


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on both backends (SQLite has no time zone type: stored naive, read back as UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; pass an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# --------------------------------------------------------------------------------------------- tables


class InvocationRow(Base):
    """One row per hook invocation, written before the answer leaves (audit for dispute resolution)."""

    __tablename__ = "cds_invocation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    hook_instance: Mapped[str] = mapped_column(String(200), index=True)
    service_id: Mapped[str] = mapped_column(String(200))
    hook: Mapped[str] = mapped_column(String(100))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    status_code: Mapped[int] = mapped_column(Integer)
    cards_count: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error_type: Mapped[str | None] = mapped_column(String(200), nullable=True)
    data_source: Mapped[str] = mapped_column(String(16))
    latency_ms: Mapped[float] = mapped_column(Float)
    config_version: Mapped[str | None] = mapped_column(String(200), nullable=True)
    rules_version: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # The only PHI kept: which patient the decision was about (needed to answer a dispute).
    patient_ref: Mapped[str | None] = mapped_column(String(300), nullable=True)


class IssuedCardRow(Base):
    """A card the service returned, keyed by its uuid, so feedback can be tied back to its finding."""

    __tablename__ = "cds_issued_card"

    card_uuid: Mapped[str] = mapped_column(String(200), primary_key=True)
    hook_instance: Mapped[str] = mapped_column(String(200), index=True)
    service_id: Mapped[str] = mapped_column(String(200))
    suggestion_uuids: Mapped[list[str]] = mapped_column(JSON)
    finding_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    rules: Mapped[list[str]] = mapped_column(JSON)
    levels: Mapped[list[str]] = mapped_column(JSON)
    finding: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    config_version: Mapped[str | None] = mapped_column(String(200), nullable=True)
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)


class FeedbackRow(Base):
    """One feedback item; `dedup_key` makes a resent item a no-op (clients may resend, spec § 5)."""

    __tablename__ = "cds_feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dedup_key: Mapped[str] = mapped_column(String(64), unique=True)
    service_id: Mapped[str] = mapped_column(String(200))
    card_uuid: Mapped[str] = mapped_column(String(200), index=True)
    # Whether the card was known when the feedback arrived (reads re-check the join; see _feedback_query).
    linked: Mapped[bool] = mapped_column(Boolean)
    outcome: Mapped[str] = mapped_column(String(16))
    accepted_suggestions: Mapped[list[str]] = mapped_column(JSON)
    override_reason_system: Mapped[str | None] = mapped_column(String(500), nullable=True)
    override_reason_code: Mapped[str | None] = mapped_column(String(200), nullable=True)
    override_reason_display: Mapped[str | None] = mapped_column(String(500), nullable=True)
    # Free text typed by a clinician: may contain PHI, so it is stored but never logged.
    user_comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    outcome_timestamp: Mapped[datetime] = mapped_column(UtcDateTime())
    received_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)


class JtiRow(Base):
    """JWT ids already used, per issuer, kept until the token's `exp` (shared by all workers/replicas)."""

    __tablename__ = "cds_jwt_jti"

    issuer: Mapped[str] = mapped_column(String(500), primary_key=True)
    jti: Mapped[str] = mapped_column(String(500), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (Index("ix_cds_jwt_jti_expires_at", "expires_at"),)


# -------------------------------------------------------------------------------- plain value objects


@dataclass(frozen=True)
class Invocation:
    """What the audit keeps about one hook call (no PHI except `patient_ref`)."""

    hook_instance: str
    service_id: str
    hook: str
    received_at: datetime
    status_code: int
    data_source: DataSourceKind
    latency_ms: float
    cards_count: int | None = None
    error_type: str | None = None
    config_version: str | None = None
    rules_version: str | None = None
    patient_ref: str | None = None

    def __post_init__(self) -> None:
        if self.data_source not in DATA_SOURCES:
            raise ValueError(f"data_source must be one of {sorted(DATA_SOURCES)}, not {self.data_source!r}")


@dataclass(frozen=True)
class IssuedCard:
    """A returned card reduced to what feedback analysis needs."""

    card_uuid: str
    hook_instance: str
    service_id: str
    issued_at: datetime
    suggestion_uuids: tuple[str, ...] = ()
    finding_id: str | None = None
    rules: tuple[str, ...] = ()
    levels: tuple[str, ...] = ()
    finding: Mapping[str, Any] | None = None
    config_version: str | None = None


@dataclass(frozen=True)
class OverrideReason:
    """`overrideReason`: the chosen Coding (if any) and the clinician's free-text comment (if any)."""

    system: str | None = None
    code: str | None = None
    display: str | None = None
    user_comment: str | None = None


@dataclass(frozen=True)
class FeedbackEntry:
    """One validated feedback item, ready to store."""

    card_uuid: str
    outcome: FeedbackOutcome
    outcome_timestamp: datetime
    accepted_suggestions: tuple[str, ...] = ()
    override_reason: OverrideReason | None = None

    def dedup_key(self, service_id: str) -> str:
        """Stable hash of everything the client said: the same item resent maps to the same key."""
        reason = self.override_reason
        canonical = {
            "service": service_id,
            "card": self.card_uuid,
            "outcome": self.outcome,
            "accepted": sorted(self.accepted_suggestions),
            "reason": None if reason is None else [reason.system, reason.code, reason.display, reason.user_comment],
            "ts": self.outcome_timestamp.astimezone(UTC).isoformat(),
        }
        return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class FeedbackResult:
    """What happened to one feedback item: stored now, or already there (`duplicate`)."""

    card_uuid: str
    linked: bool
    duplicate: bool


@dataclass(frozen=True)
class StoredFeedback:
    """A feedback row as read back, with the finding of the card it refers to when linked.

    `linked` means the card is (now) among the cards this service issued, whatever was true on receipt.
    """

    card_uuid: str
    service_id: str
    outcome: str
    accepted_suggestions: tuple[str, ...]
    override_reason: OverrideReason | None
    outcome_timestamp: datetime
    received_at: datetime
    linked: bool
    finding_id: str | None = None
    rules: tuple[str, ...] = ()
    levels: tuple[str, ...] = ()
    hook_instance: str | None = None
    config_version: str | None = None


# ------------------------------------------------------------------------------------------ functions


def _now() -> datetime:
    return datetime.now(UTC)


def _insert_ignore(session: Session, table: Any, values: Sequence[Mapping[str, Any]] | Mapping[str, Any]) -> int:
    """INSERT ... ON CONFLICT DO NOTHING on either backend; returns the number of rows inserted."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    first_pk = next(iter(table.primary_key.columns))
    # RETURNING, not rowcount: psycopg reports a row for a conflicting single-row insert here.
    stmt = insert(table).on_conflict_do_nothing().returning(first_pk)
    # Rows go as execute parameters, not inlined with .values(): the statement is then compiled once per
    # process and cached (SQLAlchemy batches the rows into one INSERT ... VALUES ... RETURNING), where a
    # .values(list) statement was compiled again on every call (most of the audit writer's CPU).
    rows = [dict(values)] if isinstance(values, Mapping) else [dict(v) for v in values]
    if not rows:
        return 0
    return len(session.execute(stmt, rows).all())


def issued_cards_from_response(
    cards: Iterable[Mapping[str, Any]],
    *,
    hook_instance: str,
    service_id: str,
    issued_at: datetime,
    config_version: str | None = None,
) -> list[IssuedCard]:
    """Reduce response cards (wire JSON) to `IssuedCard`s; cards without a uuid cannot get feedback and are skipped."""
    issued: list[IssuedCard] = []
    for card in cards:
        card_uuid = card.get("uuid")
        if not isinstance(card_uuid, str) or not card_uuid:
            continue
        suggestions = card.get("suggestions") or []
        suggestion_uuids = tuple(
            s["uuid"] for s in suggestions if isinstance(s, Mapping) and isinstance(s.get("uuid"), str)
        )
        extension = card.get("extension") or {}
        finding = extension.get(FINDING_EXTENSION_KEY) if isinstance(extension, Mapping) else None
        finding = finding if isinstance(finding, Mapping) else None
        issued.append(
            IssuedCard(
                card_uuid=card_uuid,
                hook_instance=hook_instance,
                service_id=service_id,
                issued_at=issued_at,
                suggestion_uuids=suggestion_uuids,
                finding_id=str(finding["id"]) if finding and "id" in finding else None,
                rules=tuple(str(r) for r in (finding or {}).get("rules", ())),
                levels=tuple(str(lv) for lv in (finding or {}).get("levels", ())),
                finding=dict(finding) if finding else None,
                config_version=config_version
                or (str(finding["configVersion"]) if finding and "configVersion" in finding else None),
            )
        )
    return issued


def record_hook_call(store: Store, invocation: Invocation, cards: Sequence[IssuedCard] = ()) -> int:
    """Write the audit row and the issued cards in one transaction (committed on return); returns the audit id."""
    return record_hook_calls(store, [(invocation, cards)])[0]


def record_hook_calls(store: Store, records: Sequence[tuple[Invocation, Sequence[IssuedCard]]]) -> list[int]:
    """Write several invocations with their issued cards in one transaction; returns the audit ids in order."""
    with store.session() as session:
        rows = [InvocationRow(
            hook_instance=invocation.hook_instance,
            service_id=invocation.service_id,
            hook=invocation.hook,
            received_at=invocation.received_at,
            status_code=invocation.status_code,
            cards_count=invocation.cards_count,
            error_type=invocation.error_type,
            data_source=invocation.data_source,
            latency_ms=invocation.latency_ms,
            config_version=invocation.config_version,
            rules_version=invocation.rules_version,
            patient_ref=invocation.patient_ref,
        ) for invocation, _ in records]
        session.add_all(rows)
        card_rows = [
            {
                "card_uuid": c.card_uuid,
                "hook_instance": c.hook_instance,
                "service_id": c.service_id,
                "suggestion_uuids": list(c.suggestion_uuids),
                "finding_id": c.finding_id,
                "rules": list(c.rules),
                "levels": list(c.levels),
                "finding": dict(c.finding) if c.finding is not None else None,
                "config_version": c.config_version,
                "issued_at": c.issued_at,
            }
            for _, cards in records for c in cards
        ]
        if card_rows:
            # A client retrying the same hookInstance may get the same card uuids back: keep the first.
            _insert_ignore(session, IssuedCardRow.__table__, card_rows)
        session.flush()
        return [int(row.id) for row in rows]


def record_invocation(store: Store, invocation: Invocation) -> int:
    """Write one audit row (committed on return); returns its id."""
    return record_hook_call(store, invocation, ())


def recent_invocations(store: Store, *, limit: int = 100, hook_instance: str | None = None) -> list[Invocation]:
    """Latest audit rows first (for the admin page and tests)."""
    stmt = select(InvocationRow).order_by(InvocationRow.received_at.desc(), InvocationRow.id.desc()).limit(limit)
    if hook_instance is not None:
        stmt = stmt.where(InvocationRow.hook_instance == hook_instance)
    with store.session() as session:
        return [
            Invocation(
                hook_instance=r.hook_instance,
                service_id=r.service_id,
                hook=r.hook,
                received_at=r.received_at,
                status_code=r.status_code,
                data_source=r.data_source,  # type: ignore[arg-type]
                latency_ms=r.latency_ms,
                cards_count=r.cards_count,
                error_type=r.error_type,
                config_version=r.config_version,
                rules_version=r.rules_version,
                patient_ref=r.patient_ref,
            )
            for r in session.scalars(stmt)
        ]


def issued_card(store: Store, card_uuid: str) -> IssuedCard | None:
    """The issued card with this uuid, or None."""
    with store.session() as session:
        row = session.get(IssuedCardRow, card_uuid)
        if row is None:
            return None
        return IssuedCard(
            card_uuid=row.card_uuid,
            hook_instance=row.hook_instance,
            service_id=row.service_id,
            issued_at=row.issued_at,
            suggestion_uuids=tuple(row.suggestion_uuids),
            finding_id=row.finding_id,
            rules=tuple(row.rules),
            levels=tuple(row.levels),
            finding=row.finding,
            config_version=row.config_version,
        )


def store_feedback(
    store: Store, service_id: str, entries: Sequence[FeedbackEntry], *, received_at: datetime | None = None
) -> list[FeedbackResult]:
    """Store a feedback batch atomically (committed on return); items already stored are not stored again.

    An item whose card uuid this service never issued is stored with `linked=False` rather than refused:
    the client cannot fix it, and dropping it would lose the clinician's answer.
    """
    received = received_at or _now()
    results: list[FeedbackResult] = []
    with store.session() as session:
        uuids = {e.card_uuid for e in entries}
        known = set(
            session.scalars(
                select(IssuedCardRow.card_uuid).where(
                    IssuedCardRow.card_uuid.in_(uuids), IssuedCardRow.service_id == service_id
                )
            )
        ) if uuids else set()
        for entry in entries:
            reason = entry.override_reason
            linked = entry.card_uuid in known
            inserted = _insert_ignore(
                session,
                FeedbackRow.__table__,
                {
                    "dedup_key": entry.dedup_key(service_id),
                    "service_id": service_id,
                    "card_uuid": entry.card_uuid,
                    "linked": linked,
                    "outcome": entry.outcome,
                    "accepted_suggestions": list(entry.accepted_suggestions),
                    "override_reason_system": reason.system if reason else None,
                    "override_reason_code": reason.code if reason else None,
                    "override_reason_display": reason.display if reason else None,
                    "user_comment": reason.user_comment if reason else None,
                    "outcome_timestamp": entry.outcome_timestamp,
                    "received_at": received,
                },
            )
            results.append(FeedbackResult(card_uuid=entry.card_uuid, linked=linked, duplicate=inserted == 0))
    return results


def feedback_for_card(store: Store, card_uuid: str) -> list[StoredFeedback]:
    """Every stored feedback item about a card, oldest first, joined to the card's finding when linked."""
    return _feedback_query(store, card_uuid=card_uuid, limit=None)


def recent_feedback(store: Store, *, limit: int = 100, service_id: str | None = None) -> list[StoredFeedback]:
    """Latest feedback first (for the admin page and reports)."""
    return _feedback_query(store, service_id=service_id, limit=limit)


def _feedback_query(
    store: Store, *, card_uuid: str | None = None, service_id: str | None = None, limit: int | None
) -> list[StoredFeedback]:
    # Linked is decided at read time: the issued card may be written after its feedback arrives (the audit
    # writer can run behind the response), and a late card row must still link the feedback.
    stmt = select(FeedbackRow, IssuedCardRow).outerjoin(
        IssuedCardRow,
        (IssuedCardRow.card_uuid == FeedbackRow.card_uuid) & (IssuedCardRow.service_id == FeedbackRow.service_id),
    )
    if card_uuid is not None:
        stmt = stmt.where(FeedbackRow.card_uuid == card_uuid).order_by(FeedbackRow.id.asc())
    else:
        stmt = stmt.order_by(FeedbackRow.id.desc())
    if service_id is not None:
        stmt = stmt.where(FeedbackRow.service_id == service_id)
    if limit is not None:
        stmt = stmt.limit(limit)
    out: list[StoredFeedback] = []
    with store.session() as session:
        for fb, card in session.execute(stmt):
            has_reason = any(
                v is not None
                for v in (fb.override_reason_system, fb.override_reason_code, fb.override_reason_display, fb.user_comment)
            )
            linked_card = card
            out.append(
                StoredFeedback(
                    card_uuid=fb.card_uuid,
                    service_id=fb.service_id,
                    outcome=fb.outcome,
                    accepted_suggestions=tuple(fb.accepted_suggestions),
                    override_reason=OverrideReason(
                        fb.override_reason_system, fb.override_reason_code, fb.override_reason_display, fb.user_comment
                    )
                    if has_reason
                    else None,
                    outcome_timestamp=fb.outcome_timestamp,
                    received_at=fb.received_at,
                    linked=card is not None,
                    finding_id=linked_card.finding_id if linked_card else None,
                    rules=tuple(linked_card.rules) if linked_card else (),
                    levels=tuple(linked_card.levels) if linked_card else (),
                    hook_instance=linked_card.hook_instance if linked_card else None,
                    config_version=linked_card.config_version if linked_card else None,
                )
            )
    return out


@dataclass
class JtiCache:
    """The JWT replay cache over the store: `claim()` is atomic across workers and replicas."""

    store: Store
    _last_prune: datetime | None = field(default=None, init=False)

    def claim(self, issuer: str, jti: str, expires_at: datetime, *, now: datetime | None = None) -> bool:
        """Record a jti; True the first time, False if already seen and not yet expired (a replay)."""
        current = now or _now()
        with self.store.session() as session:
            if self._last_prune is None or current - self._last_prune > _JTI_PRUNE_INTERVAL:
                session.execute(delete(JtiRow).where(JtiRow.expires_at < current))
                self._last_prune = current
            else:
                # An expired row for this exact pair must not block a claim (only possible with clock skew).
                session.execute(
                    delete(JtiRow).where(JtiRow.issuer == issuer, JtiRow.jti == jti, JtiRow.expires_at < current)
                )
            inserted = _insert_ignore(
                session, JtiRow.__table__, {"issuer": issuer, "jti": jti, "expires_at": expires_at}
            )
        return inserted == 1

    def count(self) -> int:
        """Rows currently cached (tests and metrics)."""
        with self.store.session() as session:
            return int(session.scalar(select(func.count()).select_from(JtiRow)) or 0)

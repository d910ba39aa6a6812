"""ORM tables of 1022 Watch (SQLAlchemy 2). One database holds the monitors', the bridge's and the
embedded bus's state; SQLite on one box, PostgreSQL when distributed. Schema changes go through
Alembic (models/migrations), never create_all, so both databases follow the same history."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import (JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text,
                        UniqueConstraint)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from models.candidate import now_city

# Timestamps are set in Python on the city's clock (not by the server: SQLite's CURRENT_TIMESTAMP is UTC
# without an offset, which would not compare with the rest).
TS = DateTime(timezone=True)


class Base(DeclarativeBase):
    pass


class Camera(Base):
    __tablename__ = "cameras"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))  # source kind: http_snapshot, image_folder, video_file, ...
    url: Mapped[str] = mapped_column(Text)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    ward: Mapped[str | None] = mapped_column(String(200))
    street: Mapped[str | None] = mapped_column(String(200))
    interval_s: Mapped[float] = mapped_column(Float, default=15.0)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    settings: Mapped[dict] = mapped_column(JSON, default=dict)  # headers, auth, analyzers: as configured
    created_at: Mapped[datetime] = mapped_column(TS, default=now_city)
    zones: Mapped[list["Zone"]] = relationship(back_populates="camera", cascade="all, delete-orphan")


class Zone(Base):
    __tablename__ = "zones"
    __table_args__ = (UniqueConstraint("camera_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    camera_id: Mapped[str] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    polygon: Mapped[list] = mapped_column(JSON)  # [[x, y], ...] relative 0..1
    thresholds: Mapped[dict] = mapped_column(JSON, default=dict)  # per detector
    camera: Mapped[Camera] = relationship(back_populates="zones")


class Incident(Base):
    """One real-world incident: the candidates that describe it, merged."""
    __tablename__ = "incidents"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # Our id for the incident at the core: the id of the candidate that opened it (deterministic, so it
    # survives a lost database and lets the sender find a case it created before re-sending).
    watch_id: Mapped[str] = mapped_column(String(64), unique=True)
    category: Mapped[str] = mapped_column(String(64), index=True)
    dedup_key: Mapped[str] = mapped_column(String(128), index=True)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    first_seen: Mapped[datetime] = mapped_column(TS)
    last_seen: Mapped[datetime] = mapped_column(TS)
    candidate_count: Mapped[int] = mapped_column(Integer, default=1)
    # new -> delivered -> accepted | rejected | duplicate | resolved (the core's verdict)
    status: Mapped[str] = mapped_column(String(32), default="new")
    core_request_id: Mapped[str | None] = mapped_column(String(100))
    candidates: Mapped[list["CandidateRow"]] = relationship(back_populates="incident")


class CandidateRow(Base):
    __tablename__ = "candidates"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # Candidate.id (deterministic)
    source: Mapped[str] = mapped_column(String(16))
    source_ref: Mapped[str] = mapped_column(String(500))
    category: Mapped[str] = mapped_column(String(64), index=True)
    confidence: Mapped[float] = mapped_column(Float)
    observed_at: Mapped[datetime] = mapped_column(TS)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    precision: Mapped[str] = mapped_column(String(16))
    ward: Mapped[str | None] = mapped_column(String(200))
    street: Mapped[str | None] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(Text)
    detector: Mapped[str] = mapped_column(String(100))
    threshold: Mapped[float] = mapped_column(Float)
    payload: Mapped[dict] = mapped_column(JSON)  # the whole candidate as received
    received_at: Mapped[datetime] = mapped_column(TS, default=now_city)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), index=True)
    incident: Mapped[Incident | None] = relationship(back_populates="candidates")
    evidence: Mapped[list["EvidenceRow"]] = relationship(back_populates="candidate", cascade="all, delete-orphan")


class EvidenceRow(Base):
    __tablename__ = "evidence"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    candidate_id: Mapped[str] = mapped_column(ForeignKey("candidates.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # frame | post
    uri: Mapped[str | None] = mapped_column(Text)  # stored frame, or the post's URL
    sha256: Mapped[str | None] = mapped_column(String(64))
    text: Mapped[str | None] = mapped_column(Text)
    author_hash: Mapped[str | None] = mapped_column(String(128))
    score: Mapped[float | None] = mapped_column(Float)
    posted_at: Mapped[datetime | None] = mapped_column(TS)
    candidate: Mapped[CandidateRow] = relationship(back_populates="evidence")


class Delivery(Base):
    """Outbox row: the truth of what was (or is to be) sent to the core for one incident.
    A retry is a state change of this row, not a loop in memory."""
    __tablename__ = "deliveries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), unique=True)
    kind: Mapped[str] = mapped_column(String(16), default="create")  # create | reopen
    # pending -> sending -> sent (service_request_id known) | failed (permanent, with reason)
    state: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(TS, default=now_city, index=True)
    last_error: Mapped[str | None] = mapped_column(Text)
    token: Mapped[str | None] = mapped_column(String(100))
    service_request_id: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(TS, default=now_city)
    sent_at: Mapped[datetime | None] = mapped_column(TS)
    status_checked_at: Mapped[datetime | None] = mapped_column(TS)
    core_status: Mapped[str | None] = mapped_column(String(32))
    core_status_notes: Mapped[str | None] = mapped_column(Text)


class Verdict(Base):
    """What operators in the core decided about an incident; feeds threshold tuning and training."""
    __tablename__ = "verdicts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    verdict: Mapped[str] = mapped_column(String(32))  # accepted | rejected | duplicate | resolved
    core_status: Mapped[str] = mapped_column(String(32))
    status_notes: Mapped[str | None] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(TS, default=now_city)


class DeadLetter(Base):
    __tablename__ = "dead_letters"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    stage: Mapped[str] = mapped_column(String(64))  # where it was refused: bridge.validate, social.import, ...
    reason: Mapped[str] = mapped_column(Text)
    payload: Mapped[str] = mapped_column(Text)  # raw, as received
    received_at: Mapped[datetime] = mapped_column(TS, default=now_city)


class SourceCursor(Base):
    """Where a source (a social query, an import file, a feed) left off, so a restart neither skips nor repeats."""
    __tablename__ = "source_cursors"
    source: Mapped[str] = mapped_column(String(200), primary_key=True)
    cursor: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(TS, default=now_city, onupdate=now_city)


class BusMessage(Base):
    """The embedded bus's log: one append-only sequence per topic; the offset is the row id."""
    __tablename__ = "bus_messages"
    __table_args__ = (Index("ix_bus_messages_topic_offset", "topic", "offset"),)
    offset: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(String(200))
    key: Mapped[str | None] = mapped_column(String(300))
    value: Mapped[str] = mapped_column(Text)  # JSON text
    created_at: Mapped[datetime] = mapped_column(TS, default=now_city)


class BusCommit(Base):
    """The embedded bus's committed position of each consumer group on each topic."""
    __tablename__ = "bus_commits"
    group_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    topic: Mapped[str] = mapped_column(String(200), primary_key=True)
    offset: Mapped[int] = mapped_column(Integer)  # last processed offset


class CameraStatus(Base):
    """The health of one camera as the monitor worker watching it last wrote it (monitors.health):
    lets `watch1022 cameras list` and the console show sick feeds from another process."""
    __tablename__ = "camera_status"
    camera_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    worker: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(32))
    quality: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    health: Mapped[dict] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(TS, default=now_city)

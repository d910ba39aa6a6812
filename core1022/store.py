"""Storage of the reference 1022 core: its own database, never shared with the rest of 1022 Watch.

The core is a separate system in production (the city's), so it gets its own DeclarativeBase and
its own tables; the rest of the project only ever sees it over HTTP.
"""
from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    TypeDecorator,
    create_engine,
    select,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import StaticPool
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship, sessionmaker


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """Aware datetimes in, aware UTC datetimes out.

    Stored as naive UTC because SQLite has no time zones; this keeps both databases identical and
    lets the API render city time (+07:00) without guessing what a stored value meant.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc)


class Base(DeclarativeBase):
    pass


class ServiceRequest(Base):
    __tablename__ = "service_requests"

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # The public Open311 id. NULL only while a token-mode request waits for its id to be issued.
    service_request_id: Mapped[str | None] = mapped_column(String(32), unique=True, index=True)
    token: Mapped[str | None] = mapped_column(String(64), unique=True, index=True)

    # Service name and group are copied at intake so history survives a renamed service.
    service_code: Mapped[str] = mapped_column(String(64), index=True)
    service_name: Mapped[str] = mapped_column(String(255))
    agency_responsible: Mapped[str | None] = mapped_column(String(255))
    service_notice: Mapped[str | None] = mapped_column(Text)

    # status is what Open311 shows (open|closed); review_state is the operator decision behind it
    # (new|accepted|rejected|duplicate|resolved). Both are stored so queries never re-derive them.
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    review_state: Mapped[str] = mapped_column(String(16), default="new", index=True)
    status_notes: Mapped[str] = mapped_column(Text, default="")
    duplicate_of: Mapped[str | None] = mapped_column(String(32))

    description: Mapped[str | None] = mapped_column(Text)
    lat: Mapped[float | None] = mapped_column(Float)
    long: Mapped[float | None] = mapped_column(Float)
    address_string: Mapped[str | None] = mapped_column(Text)
    address_id: Mapped[str | None] = mapped_column(String(255))
    zipcode: Mapped[str | None] = mapped_column(String(32))
    media_url: Mapped[str | None] = mapped_column(Text)

    email: Mapped[str | None] = mapped_column(String(255))
    first_name: Mapped[str | None] = mapped_column(String(255))
    last_name: Mapped[str | None] = mapped_column(String(255))
    phone: Mapped[str | None] = mapped_column(String(64))
    device_id: Mapped[str | None] = mapped_column(String(255))
    account_id: Mapped[str | None] = mapped_column(String(255))

    # Every attribute[KEY] sent with the request (the bridge's watch_id, watch_source, ...).
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expected_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    notes: Mapped[list["ReviewNote"]] = relationship(
        back_populates="request", order_by="ReviewNote.pk", cascade="all, delete-orphan"
    )


class ReviewNote(Base):
    """One operator decision; the history of a request is its notes in order."""

    __tablename__ = "review_notes"

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_pk: Mapped[int] = mapped_column(ForeignKey("service_requests.pk", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, default="")
    from_state: Mapped[str] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    duplicate_of: Mapped[str | None] = mapped_column(String(32))
    operator: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    request: Mapped[ServiceRequest] = relationship(back_populates="notes")


def normalise_url(database_url: str) -> str:
    """Accept plain postgresql:// URLs: psycopg 3 is the driver this project ships, not psycopg2."""
    for prefix in ("postgresql://", "postgres://"):
        if database_url.startswith(prefix):
            return "postgresql+psycopg://" + database_url[len(prefix):]
    return database_url


def make_engine(database_url: str) -> Engine:
    url = make_url(normalise_url(database_url))
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if url.get_backend_name() == "sqlite":
        # Handlers run in a thread pool; SQLite connections must be allowed to cross threads.
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        if url.database in (None, "", ":memory:"):
            # One shared connection, or every thread would see its own empty in-memory database.
            kwargs["poolclass"] = StaticPool
        elif not url.database.startswith("file:"):
            Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    return create_engine(url, **kwargs)


class Store:
    """Engine + session factory of one core database."""

    def __init__(self, database_url: str):
        self.engine = make_engine(database_url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def create_all(self) -> None:
        Base.metadata.create_all(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with self._sessions() as session, session.begin():
            yield session

    # -- queries shared by the Open311 and review routes ------------------------------------

    @staticmethod
    def by_public_id(session: Session, service_request_id: str, for_update: bool = False) -> ServiceRequest | None:
        stmt = select(ServiceRequest).where(ServiceRequest.service_request_id == service_request_id)
        if for_update:
            # Two operators clicking at once must not both pass the transition check (PostgreSQL;
            # SQLite serialises writers anyway and ignores FOR UPDATE).
            stmt = stmt.with_for_update()
        return session.scalars(stmt).first()

    @staticmethod
    def issue_due_ids(session: Session, older_than: datetime) -> None:
        """Give token-mode requests received before `older_than` their public id."""
        pending = session.scalars(
            select(ServiceRequest)
            .where(ServiceRequest.service_request_id.is_(None), ServiceRequest.requested_at <= older_than)
            .with_for_update()
        ).all()
        for row in pending:
            row.service_request_id = str(row.pk)

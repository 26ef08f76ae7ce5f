"""The connector contract: what a store (or the hub) plugin implements.

A connector is a class registered through the ``register_connectors`` hook. It
declares its resources and its settings schema as class attributes and
implements up to three operations per resource:

- ``read``: stream pages of raw records, each page carrying the cursor to resume
  from once it is committed;
- ``fetch``: re-read given keys (used to re-check parked records, and by check
  feeds to look records up on the other side);
- ``write``: apply a batch and return one :class:`WriteOutcome` per record.

Connectors own their HTTP details (auth, paging, rate limits, error codes) and
raise the :mod:`engine.errors` classes, never bare httpx errors.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Literal

if TYPE_CHECKING:
    import logging
    from pathlib import Path

    from sqlalchemy.engine import Connection
    from sqlalchemy.orm import Session, sessionmaker

    from engine.errors import EngineError
    from engine.store.db import LazySessions, Transactions

Action = Literal["created", "updated", "unchanged", "error"]
WriteMode = Literal["upsert", "create", "update"]


@dataclass(frozen=True)
class Resource:
    """One kind of record a connector can read, fetch or write.

    Attributes:
        name: The name feeds use (``products``, ``orders``...).
        key: The field that identifies a record of this resource, as the
            connector yields it (read/fetch) and expects it (write).
        read: Whether ``read`` streams this resource.
        fetch: Whether ``fetch`` re-reads records of it by key.
        write: Whether ``write`` accepts records of it.
        description: One line for ``connect-engine plugins``.
        fields: Optional: every top-level field its records have (read, fetch and write).
            When set, validation refuses a mapping into it that produces any other field
            (a misspelt field would otherwise be dropped without a word).
        needs: Optional: the fields ``write`` cannot do without; validation refuses a
            mapping into it that does not produce them all.
        params: Optional: the JSON Schema of the feed ``params`` it takes (``source.params``
            where it is read, ``target.params`` where it is written). When set, validation
            checks a feed's params, and an integration's overrides of them, against it.
    """

    name: str
    key: str = "id"
    read: bool = True
    fetch: bool = False
    write: bool = False
    description: str = ""
    fields: tuple[str, ...] | None = None
    needs: tuple[str, ...] = ()
    params: Mapping[str, Any] | None = field(default=None, compare=False)


@dataclass
class Page:
    """A page of raw records from ``read``.

    Attributes:
        records: The records, as dicts.
        cursor: JSON-serialisable resume point, saved once this page is
            committed. ``None`` keeps the previous cursor.
        total: Optional estimate of all records in the run (for progress).
    """

    records: list[dict[str, Any]]
    cursor: Any = None
    total: int | None = None


@dataclass
class WriteOutcome:
    """What ``write`` did with one record.

    Attributes:
        key: The record's key (the target resource's ``key`` field).
        action: ``created``, ``updated``, ``unchanged`` or ``error``.
        remote_id: The id the target gave the record, if any.
        error: With ``action == "error"``: the :class:`~engine.errors.EngineError`
            (its ``severity`` decides whether the record is parked or rings the bell).
    """

    key: str
    action: Action
    remote_id: str | None = None
    error: EngineError | None = None


@dataclass(frozen=True)
class Services:
    """What the engine lends every connector instance.

    Attributes:
        sessions: The engine database's ORM ``sessionmaker`` (made, and SQLAlchemy's ORM
            imported, on first use).
        clock: Returns the current time (tz-aware UTC); injectable in tests.
        data_dir: A folder the connector may keep files in (downloaded images).
        http_transport: Optional httpx transport override (tests of error translation).
        transactions: Core connections on the engine database, used like ``sessions``
            (``with transactions.begin() as conn``); the hub reads through them. None
            where the lender has only ``sessions``.
    """

    sessions: sessionmaker[Session] | LazySessions
    clock: Callable[[], datetime]
    data_dir: Path
    http_transport: Any = None
    transactions: Transactions | None = None


@dataclass
class RunContext:
    """Per-call context handed to ``read``, ``fetch`` and ``write``.

    Attributes:
        integration: The integration's name.
        feed: The feed's name (empty for ad-hoc calls such as go-live checks).
        mode: ``test`` or ``live``.
        params: The feed's parameters for this side (source or target).
        session: During ``write``: the runner's open transaction, a Core
            ``Connection`` (an ORM ``Session`` where a caller lends one). Connectors
            that keep data in the engine database (the hub) write through it and
            never commit; store connectors ignore it.
        write_mode: ``upsert``, ``create`` (new records only) or ``update``
            (existing records only).
        fields: When set, ``write`` may change only these fields.
        log: Logger for this run.
    """

    integration: str
    feed: str = ""
    mode: str = "test"
    params: Mapping[str, Any] = field(default_factory=dict)
    session: Connection | Session | None = None
    write_mode: WriteMode = "upsert"
    fields: tuple[str, ...] | None = None
    log: logging.Logger | None = None


@dataclass(frozen=True)
class Check:
    """One go-live verification step: its name, whether it passed, and why."""

    name: str
    ok: bool
    detail: str = ""


class Connector:
    """Base class of every connector.

    Subclasses set ``name``, ``resources`` and ``settings_schema`` and override
    the operations they support. Instances are made once per run of a feed and
    used as context managers (``open``/``close`` around the run).
    """

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    version: ClassVar[str] = "0"
    resources: ClassVar[Mapping[str, Resource]] = {}
    settings_schema: ClassVar[Mapping[str, Any]] = {"type": "object"}
    #: Folder name of the standard feed set under ``feeds.d/`` and ``mappings/``.
    feed_set: ClassVar[str | None] = None

    def __init__(self, integration: str, settings: Mapping[str, Any], services: Services) -> None:
        self.integration = integration
        self.settings = settings
        self.services = services

    def open(self) -> None:  # noqa: B027 - optional hook
        """Acquire what a run needs (an HTTP client)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release what ``open`` acquired."""

    def __enter__(self) -> Connector:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read(self, resource: str, *, cursor: Any, ctx: RunContext) -> Iterator[Page]:
        """Stream pages of ``resource`` changed since ``cursor`` (``None``: from the start)."""
        raise NotImplementedError(f"{self.name} cannot read {resource}")

    def fetch(self, resource: str, keys: Sequence[str], *, ctx: RunContext) -> Iterator[dict[str, Any]]:
        """Re-read the records of ``resource`` with these keys; missing keys are left out."""
        raise NotImplementedError(f"{self.name} cannot fetch {resource}")

    def write(self, resource: str, records: Sequence[dict[str, Any]], *,
              ctx: RunContext) -> Sequence[WriteOutcome]:
        """Apply ``records`` to ``resource``; return one outcome per record, in order."""
        raise NotImplementedError(f"{self.name} cannot write {resource}")

    def prepare_write(self, resource: str, records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """The part of a write that needs nothing but the records: what :meth:`write` will then receive.

        Called once per page with its mapped records, where the page is prepared: in
        the read-ahead process when there is one, on an instance never opened there.
        Return one record per record, in order, each still carrying the resource's key;
        plain data only (it crosses processes). ``write`` must still take records that
        were not prepared (the hub's own commands, a host calling it). Default: as they are.
        """
        return list(records)

    def checks(self, ctx: RunContext) -> list[Check]:
        """Go-live verification of this connector (e.g. credentials can write)."""
        return []

    @classmethod
    def resource(cls, name: str) -> Resource | None:
        """The declared resource called ``name``, or None."""
        return cls.resources.get(name)

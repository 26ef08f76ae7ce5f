"""``connect-engine run FEED`` forks its store reader before it loads SQLAlchemy.

Starting the command costs about a tenth of a second or more before its run can write
a page: SQLAlchemy is most of it, and it uses one core.
The store reader (:mod:`engine.readahead`) needs none of them, so the command forks
it first, with nothing loaded but the command line. The reader loads the
configuration itself (the same files, plugins and environment; the database URL as
written), reads the feed's cursor, its last run and the integration's mode straight
from the SQLite file, tells the command what it read them as, and reads the store
on the second core while the command loads, checks the schema and takes the lock.

Nothing is written from a guess. The run takes the pages only if all of this holds
(docs/decisions.md section 24):

- the reader loaded the same configuration files, byte for byte, as the command;
- it read the database file the command's own URL names;
- under the run's lock, the cursor, the mode and the feed's last run are what the
  reader found (:meth:`engine.readahead.Early.matches`, as for any early reader).

Otherwise the reader is killed and the run reads the store itself. Where this
cannot apply (another database than a SQLite file, a feed that is not store ->
hub, ``read_ahead: false``, a check, a disabled feed, a run-once feed that ran, or a
feed another process runs now, whose run will be refused as locked),
the reader says so and ends at once, and the command forks its reader the way
:mod:`engine.earlyread` does, after it has loaded.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import pickle
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from zoneinfo import ZoneInfo

from engine import readahead, yamlio

if TYPE_CHECKING:
    from engine.app import Engine
    from engine.config import EngineConfig, IntegrationDef
    from engine.connector import Page
    from engine.feeds import FeedDef
    from engine.mapping import Compiler

log = logging.getLogger(__name__)
_T = TypeVar("_T")

AHEAD = 64  # pages the reader may read before the run takes the first (and engine.pipes.OUTBOX_BYTES beyond the pipe)
FIRST_WORD = 10.0  # seconds the command waits, once it has loaded, for the reader to say what it reads with
# A SQLite file as a URL names it with nothing SQLAlchemy would decode or add (the run checks it is the same file).
_SQLITE_FILE = re.compile(r"sqlite(?:\+pysqlite)?:///(?!:memory:|file:)([^?#%]+)")


def fork(config_path: str, integration: str, feed: str, *, force: bool = False,
         plugins: Sequence[object] | None = None) -> Forked | None:
    """Fork the reader of a run of ``feed`` now (None where no process can be forked safely).

    Args:
        config_path: engine.yaml, as the command will load it.
        integration: The run's integration.
        feed: The feed it runs.
        force: The run's ``--force``.
        plugins: The plugins the command registers instead of the entry points.
    """
    if not readahead.available() or not _may_apply(config_path):
        return None
    spawned = readahead.start_with(lambda: _setup(config_path, integration, feed, force, plugins), ahead=AHEAD)
    return None if spawned is None else Forked(*spawned)


def _may_apply(config_path: str) -> bool:
    """False when engine.yaml turns read-ahead off or names a database other than SQLite (a cheap look:
    the reader would load the whole configuration only to say so)."""
    try:
        data = yamlio.load_yaml_file(Path(config_path)).data  # parsed before: taken from the cache
    except Exception:  # the command reports what is wrong with it
        return False
    if not isinstance(data, Mapping) or data.get("read_ahead", True) is False:
        return False
    database = data.get("database", "sqlite")
    return not isinstance(database, str) or database.startswith(("sqlite", "${"))


class Forked:
    """A reader forked by :func:`fork`: :meth:`take` it once the engine is built, or :meth:`cancel` it."""

    def __init__(self, pid: int, messages: Connection, acks: Connection) -> None:
        self._spawned: tuple[int, Connection, Connection] | None = (pid, messages, acks)

    def take(self, engine: Engine) -> readahead.Early | None:
        """The reader as the run's early reader, if it read with this engine's configuration and database.

        None (the reader reaped) if it said it does not apply, failed to start, or
        loaded other files or another database than ``engine``.
        """
        if self._spawned is None:
            return None
        pid, messages, acks = self._spawned
        said = self._first_word(messages)
        why = said if isinstance(said, str) else _differs(said, engine)
        if why is not None:
            log.info("the store is read after start-up: %s", why)
            self.cancel()
            return None
        self._spawned = None  # the Early owns the reader now
        log.info("the store has been read since before start-up (process %d)", pid)
        return readahead.Early(pid, messages, acks, cursor=said["cursor"], mode=said["mode"], last=said["last"])

    def cancel(self) -> None:
        """Stop and reap the reader (nothing if :meth:`take` handed it on)."""
        if self._spawned is None:
            return
        spawned, self._spawned = self._spawned, None
        readahead.stop(*spawned)

    @staticmethod
    def _first_word(messages: Connection) -> Any:
        """What the reader said it read with (a dict), or why it does not read (a str)."""
        try:
            if not messages.poll(FIRST_WORD):
                return f"the reader said nothing in {FIRST_WORD:.0f} s"
            kind, *rest = pickle.loads(messages.recv_bytes())
        except (EOFError, OSError, pickle.UnpicklingError) as exc:
            return f"the reader ended before it started ({type(exc).__name__})"
        if kind == "error":  # the run's own start-up meets the same problem and reports it
            return f"the reader could not start ({rest[1]})"
        return rest[0]


def _differs(said: Mapping[str, Any], engine: Engine) -> str | None:
    """Why what the reader loaded is not what ``engine`` loaded (None: the same)."""
    from sqlalchemy.engine import make_url  # loaded by the engine by now

    ours = yamlio.files_read()
    changed = [path for path, digest in said["files"].items() if ours.get(path) != digest]
    if changed:
        return f"{len(changed)} configuration file(s) changed while the command started ({changed[0]})"
    url = make_url(engine.config.database_url)
    if url.get_backend_name() != "sqlite" or url.database != said["database"]:
        return "the reader found another database file than the run's"
    return None


def _setup(config_path: str, integration: str, feed: str, force: bool, plugins: Sequence[object] | None
           ) -> tuple[Any, Iterator[Page | None] | None, Any]:  # pragma: no cover - runs in the reader
    """In the reader: load, guess, build the source; ``(said, source, prepare)`` for :func:`readahead.start_with`."""
    from engine import parts  # loaded here, in the reader: the command forks before it loads anything

    yamlio.forget_files_read()
    hooks, compiler, config = parts.load(config_path, plugins=plugins, resolve_database=False)
    integ = config.integrations.get(integration)
    fd = integ.feeds.get(feed) if integ is not None else None
    if integ is None or fd is None:
        return "no such feed", None, None
    why = not_early(fd, read_ahead=config.read_ahead, force=force)
    database = sqlite_file(config.database_url, config.root)
    if why is None and database is None:
        why = "the database is not a SQLite file"
    if why is not None:
        return why, None, None
    assert database is not None
    if leased(database, integ.name, fd.name, parts.utcnow()):  # the run will be refused: read nothing for it
        return "the feed is running in another process", None, None
    cursor, state_mode, last = guess(database, integ.name, fd.name, incremental=fd.incremental)
    if fd.run_once and last is not None and last[2] is not None and not force:
        return "it ran once", None, None
    mode = state_mode if state_mode is not None else integ.mode
    said = {"cursor": cursor, "mode": mode, "last": last, "database": database, "files": yamlio.files_read()}
    return (said, *read_from(hooks.connectors(), config, integ, fd, compiler, cursor, mode))


def read_from(connectors: Mapping[str, Any], config: EngineConfig, integ: IntegrationDef, fd: FeedDef,
              compiler: Compiler, cursor: Any, mode: str
              ) -> tuple[Iterator[Page | None], Any]:  # pragma: no cover - runs in the reader
    """The store's pages from ``cursor`` and the run's rules and mapping, built as the engine builds them."""
    from engine import parts
    from engine.connector import RunContext, Services
    from engine.prepare import Preparer
    from engine.secrets import Masker, install_log_filter

    masker = Masker(config.secrets)
    install_log_filter(masker)  # what the reader logs hides the secrets as the command's own lines do
    services = Services(sessions=None, clock=parts.utcnow, data_dir=Path(config.data_dir))  # type: ignore[arg-type]
    source = parts.connector(connectors, config, integ, fd.source.side, services)
    target = parts.connector(connectors, config, integ, fd.target.side, services)
    run = parts.feed_run(integ, fd, source, target, transactions=None, compiler=compiler, clock=parts.utcnow,
                         tz=ZoneInfo(config.timezone), mode=mode, masker=masker, execution_id=None)
    ctx = RunContext(integration=integ.name, feed=fd.name, mode=mode, params=fd.source.params, log=run.log)

    return source_pages(source, fd, cursor, ctx), Preparer(run).prepare


def source_pages(source: Any, fd: FeedDef, cursor: Any, ctx: Any) -> Iterator[Page | None]:
    """The pages of ``fd``'s source from ``cursor``: a generator that opens the connector and closes it at the end."""
    from engine import boundary

    with source:
        yield from boundary.pages(source.read(fd.source.resource, cursor=cursor, ctx=ctx), source.name,
                                  fd.source.resource)


def not_early(fd: FeedDef, *, read_ahead: bool, force: bool) -> str | None:
    """Why a run of ``fd`` reads no pages before it starts (None: it may)."""
    if not read_ahead:
        return "read_ahead is off in engine.yaml"
    if not (fd.source.side == "store" and fd.target.side == "hub"):
        return "the feed does not read a store into the hub"
    if fd.direction == "check":
        return "a check compares as it reads"
    if not fd.enabled and not force:
        return "the feed is disabled"
    return None


def sqlite_file(url: str, root: Path) -> str | None:
    """The file a plain SQLite URL names (relative to ``root`` as engine.yaml's are), or None for any other URL."""
    found = _SQLITE_FILE.fullmatch(url)
    if found is None:
        return None
    path = found[1]
    return path if Path(path).is_absolute() else str(root / path)


def guess(database: str, integration: str, feed: str, *, incremental: bool
          ) -> tuple[Any, str | None, tuple[Any, Any, Any] | None]:
    """The feed's cursor, the integration's stored mode and the feed's last run, read with the sqlite3 module.

    The values are what :mod:`engine.store.journal` gives for the same rows (a JSON
    cursor decoded, times tz-aware UTC). Reading waits for no writer (a plain read in
    WAL). A file or table that is not there yet, or a value that does not read back,
    gives None for all three: the run then reads again unless it finds the same.
    """
    def read(con: Any) -> tuple[Any, str | None, tuple[Any, Any, Any] | None]:
        con.execute("BEGIN")  # the three reads see one moment
        row = con.execute("SELECT value FROM ce_cursors WHERE integration = ? AND feed = ?",
                          (integration, feed)).fetchone() if incremental else None
        cursor = json.loads(row[0]) if row is not None and row[0] is not None else None
        row = con.execute("SELECT mode FROM ce_integrations WHERE name = ?", (integration,)).fetchone()
        mode = row[0] if row is not None else None
        row = con.execute("SELECT last_started_at, last_finished_at, once_done_at FROM ce_feed_state "
                          "WHERE integration = ? AND feed = ?", (integration, feed)).fetchone()
        last = None if row is None else (_moment(row[0]), _moment(row[1]), _moment(row[2]))
        return cursor, mode, last

    return _reading(database, read, (None, None, None))


def leased(database: str, integration: str, feed: str, now: datetime) -> bool:
    """Whether another run holds the feed's lease now (its lock row is there and not expired), read with sqlite3.

    A run that will be refused as locked then reads no store pages for nothing; if the
    lease ends before the command asks for it, the command reads the store itself.
    """
    def read(con: Any) -> bool:
        row = con.execute("SELECT lease_until FROM ce_locks WHERE integration = ? AND feed = ?",
                          (integration, feed)).fetchone()
        until = _moment(row[0]) if row is not None else None
        return until is not None and until >= now

    return _reading(database, read, False)


def _reading(database: str, read: Callable[[Any], _T], nothing: _T) -> _T:
    """``read(connection)`` on a plain sqlite3 connection to the file; ``nothing`` where the file, a table or a
    value is not there (yet) or does not read back."""
    if not os.path.isfile(database):
        return nothing
    import sqlite3

    try:
        con = sqlite3.connect(database, timeout=0, isolation_level=None)
    except sqlite3.Error:
        return nothing
    try:
        return read(con)
    except (sqlite3.Error, ValueError, TypeError):
        return nothing
    finally:
        with contextlib.suppress(sqlite3.Error):
            con.close()


def _moment(value: Any) -> datetime | None:
    """A stored time as the engine's UTC column type gives it back."""
    if value is None:
        return None
    moment = datetime.fromisoformat(value)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)

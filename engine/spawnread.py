"""Reading ahead where forking is not safe: a reader started by a fork server (``serve``'s threads).

:mod:`engine.readahead` forks the run's process, which is safe only with one thread:
the CLI's ``run``. ``serve`` runs feeds in a pool of threads, so its runs read
in-process, and the heaviest feed of the day (``update_products``) took about 1.4x
as long there as from the command line. A thread does not help (decisions §15, §26).

Here the reader is a child of a fork server (:mod:`engine.forkserver`): a process
started once, from a fresh interpreter (safe whatever threads the caller has), which
has imported the engine and httpx and forks a reader on request. The reader loads the
engine's configuration from its file, builds the feed's source and rules as the run
does, and reads from the cursor the run's first page ended with; from there on it is
a read-ahead reader like the forked one (same pipe, same pages, same errors).

- The first page is read in the run's own process, as with the forked reader. The
  reader is started only when that page says ``MIN_PAGES`` or more are still to come
  (starting one costs tens of milliseconds), and only for an engine built from an
  engine.yaml file with the entry points' plugins, the process environment and the
  real clock: what the reader can build again by itself.
- The run takes the reader's pages only if it loaded the same configuration files,
  byte for byte, as the engine did; otherwise the reader is stopped and the run reads
  on in-process, from the page it has. Nothing is lost either way: pages are written
  and committed in order by the run, each with its cursor.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import signal
import sys
import threading
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from engine import pipes, readahead, yamlio
from engine.connector import Page

if TYPE_CHECKING:
    from engine.forkserver import ForkServer

log = logging.getLogger(__name__)

MIN_PAGES = 16  # pages still to come that make starting a reader worth its cost
FIRST_WORD = 30.0  # seconds the run waits for the reader to say what it loaded
#: What the fork server imports once, so that a reader it forks starts with them loaded.
PRELOAD = ["engine.parts", "engine.prepare", "engine.earlyfork", "engine.readahead", "engine.pagedata", "httpx",
           "orjson"]
_server: ForkServer | None = None  # started at the first long run (the command line never needs it)
_server_lock = threading.Lock()


@dataclass(frozen=True)
class Origin:
    """What an engine was built from, when a reader can build it again: engine.yaml and the files it read."""

    config_path: str
    files: Mapping[str, bytes] = field(repr=False)
    env: Mapping[str, str] = field(repr=False)
    cwd: str = ""

    @classmethod
    def of(cls, config_path: str) -> Origin:
        """The origin of an engine just loaded from ``config_path`` with the process environment.

        It keeps the digests of every YAML file read so far and the environment as it is
        now: the reader resolves ``${...}`` from the same values, whatever the fork server
        inherited when it started.
        """
        return cls(os.path.abspath(config_path), yamlio.files_read(), dict(os.environ), os.getcwd())


def available() -> bool:
    """True where a fork server can start readers (Linux)."""
    return sys.platform.startswith("linux")


def pages(read: Callable[[], Iterator[Page | None]], prepare: Callable[[list[dict[str, Any]]], Any],
          start: Callable[[Any], Spawned | None], *, min_pages: int = MIN_PAGES
          ) -> Generator[tuple[Page, Any], None, None]:
    """Yield ``(page, prepare(page.records))`` for each page ``read()`` gives, the rest read by a started reader.

    ``start(cursor)`` starts a reader of the pages after ``cursor`` (None if it cannot).
    It is called once the first page is read, before that page is written, if the page
    says ``min_pages`` more are coming and carries a cursor to resume from.
    """
    source = read()
    spawned = None
    try:
        first = next((p for p in source if p is not None), None)
        if first is None:
            return
        worth = (first.cursor is not None and first.total is not None and first.records
                 and first.total - len(first.records) >= min_pages * len(first.records))
        spawned = start(first.cursor) if worth else None
        yield first, prepare(first.records)  # written while the reader starts
        if spawned is not None:
            why = spawned.first_word()
            if why is None:
                _close(source)  # the reader reads on from this page: this process no longer does
                taken, spawned = spawned, None
                yield from taken.pages()  # stops the reader however the run ends
                return
            log.info("the store is read in this process: %s", why)
            spawned.stop()
            spawned = None
        yield from ((page, prepare(page.records)) for page in source if page is not None)
    finally:
        if spawned is not None:  # not taken: the run ended on the first page, or reads in-process
            spawned.stop()
        _close(source)


def _close(source: Iterator[Page | None]) -> None:
    close = getattr(source, "close", None)  # a generator: closing it closes what it reads from
    if close is not None:
        close()


class Spawned:
    """A reader the fork server started: its first word, then its pages (once), or :meth:`stop`."""

    def __init__(self, pid: int, messages: Connection, acks: Connection, files: Mapping[str, bytes]) -> None:
        self.pid, self.messages, self.acks, self.files = pid, messages, acks, files
        self._handle: int | None = _pidfd(pid)  # signals the reader itself, never a process given its pid since
        self._done = False

    def first_word(self) -> str | None:
        """None if the reader loaded what the engine loaded; else why its pages are not taken."""
        try:
            if not self.messages.poll(FIRST_WORD):
                return f"the reader said nothing in {FIRST_WORD:.0f} s"
            kind, *rest = pickle.loads(self.messages.recv_bytes())
        except (EOFError, OSError, pickle.UnpicklingError) as exc:
            return f"the reader ended before it started ({type(exc).__name__})"
        if kind == "error":
            return f"the reader could not start ({rest[1]})"
        said = rest[0]
        if isinstance(said, str):
            return said
        changed = [path for path, digest in said["files"].items() if self.files.get(path) != digest]
        if changed:
            return f"{len(changed)} configuration file(s) changed since the engine loaded them ({changed[0]})"
        return None

    def pages(self) -> Generator[tuple[Page, Any], None, None]:
        """The reader's prepared pages, in order; stops the reader however the caller ends."""
        self._done = True
        return readahead.receive(self.pid, self.messages, self.acks, reap=self._reap)

    def stop(self) -> None:
        """Stop the reader (when its pages were not taken)."""
        if not self._done:
            self._done = True
            readahead.stop(self.pid, self.messages, self.acks, reap=self._reap)

    def _reap(self, kill: bool) -> None:
        # The fork server's children are reaped by the kernel: there is nothing to wait for.
        handle, self._handle = self._handle, None
        if handle is None:
            return
        try:
            if kill:
                with contextlib.suppress(ProcessLookupError):
                    signal.pidfd_send_signal(handle, signal.SIGKILL)
        finally:
            os.close(handle)


def _pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):  # gone already, or a kernel without pidfds: the pipes stop it
        return None


def start(origin: Origin, integration: str, feed: str, cursor: Any, mode: str) -> Spawned | None:
    """Start a reader of ``feed`` of ``integration`` from ``cursor`` (None if no process could be started)."""
    pages_in, pages_out = pipes.pipe(readahead.PIPE_BYTES)  # reader -> run: prepared pages
    acks_in, acks_out = pipes.pipe()  # run -> reader: "taken, read on" (or "stop")
    try:
        args = (origin.config_path, origin.cwd, dict(origin.env), integration, feed, cursor, mode,
                logging.getLogger().getEffectiveLevel())
        pid = _fork_server().fork("engine.spawnread:_reader", args, (pages_out, acks_in))
    except (OSError, pickle.PicklingError) as exc:  # no server, no process slot, no memory: read in-process
        log.warning("read-ahead unavailable (%s); reading in this process", exc)
        pages_in.close()
        acks_out.close()
        return None
    finally:
        pages_out.close()
        acks_in.close()
    log.info("reading ahead in process %d (forked by the fork server)", pid)
    return Spawned(pid, pages_in, acks_out, origin.files)


def warm() -> None:
    """Start the fork server now, in the background (``serve`` does at start): no run waits for it later."""
    try:
        _fork_server().start()
    except OSError as exc:  # the first long run tries again, and reads in-process if it cannot
        log.warning("the fork server did not start (%s)", exc)


def _fork_server() -> ForkServer:
    global _server
    with _server_lock:
        if _server is None:
            from engine.forkserver import ForkServer

            _server = ForkServer(PRELOAD)
        return _server


def _reader(config_path: str, cwd: str, env: dict[str, str], integration: str, feed: str, cursor: Any, mode: str,
            level: int, pages_out: Connection, acks_in: Connection) -> None:  # pragma: no cover - runs in the reader
    """The reader: build the feed's source and rules from engine.yaml, then read from ``cursor``."""
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")

    def setup() -> tuple[Any, Iterator[Page | None] | None, Any]:
        from engine import earlyfork, parts

        yamlio.forget_files_read()
        os.chdir(cwd)  # the engine's working folder, environment and ${...} values, whatever the server's
        os.environ.clear()
        os.environ.update(env)
        hooks, compiler, config = parts.load(config_path, env=env, resolve_database=False)
        integ = config.integrations.get(integration)
        fd = integ.feeds.get(feed) if integ is not None else None
        if integ is None or fd is None:
            return "the configuration has no such feed now", None, None
        said = {"files": yamlio.files_read()}
        return (said, *earlyfork.read_from(hooks.connectors(), config, integ, fd, compiler, cursor, mode))

    readahead.child(pages_out, acks_in, os.getppid(), setup=setup)

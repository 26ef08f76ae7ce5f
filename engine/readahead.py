"""Reading a feed's pages in a second process while this one writes them (read-ahead).

A store -> hub run spends about half its time fetching and parsing the store's
pages and applying rules and the mapping, and the other half writing the hub.
Python runs one of those at a time, so the run forks a reader: the child fetches
a page, runs :meth:`Pipeline.prepare` on it (rules, mapping: no database, no
target) and sends the prepared page through a pipe; the parent writes and
commits it while the child fetches the next one. Nothing else changes: the
parent commits the pages in order, each with its cursor, so a run killed at any
moment resumes from the last committed page as before.

- The first page is read and written in this process. The reader is forked only
  when that page says ``MIN_PAGES`` or more are still to come (a short run, such
  as a daily increment, does not gain what forking costs), and it continues the
  connector's own generator, open connection included: this process does not
  use the source again until the reader is done or killed.
- Memory stays bounded: the child runs at most ``AHEAD`` pages in front of the
  parent (it waits for the parent to take a page before reading further). A thread
  of the child writes them to the pipe (:class:`engine.pipes.Outbox`), so reading
  never waits on a full pipe: neither process waits on the other's slow page, and an
  early reader (:func:`start_with`) reads on while the command is still starting.
- The child never touches the database and dies with its parent: it exits when
  the pipe closes, and on Linux the kernel kills it when the parent dies.
- An error in the child (a store that refuses the credentials, a page that never
  comes) is raised in the parent with its type, message and context, where the
  run ends ``failed`` as it would have in one process.
- Read-ahead is used only where forking is safe: on Linux, in a process with a
  single thread besides the run's own lease keeper, which is held still across
  the fork (:mod:`engine.leasekeeper`): the CLI's ``run``, and ``run --due`` when
  its pool is one run at a time. ``serve``'s worker threads and a pool of several
  have their reader forked by a fork server instead (:mod:`engine.spawnread`); a host
  service's own engine reads in-process, and so does ``read_ahead: false`` in engine.yaml.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import pickle
import signal
import sys
import threading
import traceback
import warnings
from collections.abc import Callable, Generator, Iterator
from multiprocessing.connection import Connection
from typing import Any

from engine import pipes
from engine.connector import Page
from engine.errors import EngineError
from engine.gcpause import paused
from engine.pagedata import decode_page, encode_page

log = logging.getLogger(__name__)

_MORE, _STOP = b"more", b"stop"
_PAGE = b"\x00"  # a prepared page (engine.pagedata.encode_page); other messages are pickles, which never start so
AHEAD = 3  # prepared pages the reader may have sent that the writer has not taken yet
PIPE_BYTES = 1 << 20  # room for them in the pipe, so the reader does not wait on a slow page
MIN_PAGES = 8  # pages still to come that make forking a reader worth its cost (about 10 ms)
_in_reader = False


def in_reader() -> bool:
    """True in a read-ahead process (a connector or test store may want to know where it runs)."""
    return _in_reader


def available() -> bool:
    """True if this process can fork a reader safely (Linux, one thread)."""
    return sys.platform.startswith("linux") and hasattr(os, "fork") and threading.active_count() == 1


def pages(read: Callable[[], Iterator[Page | None]], prepare: Callable[[list[dict[str, Any]]], Any], *,
          min_pages: int = MIN_PAGES) -> Generator[tuple[Page, Any], None, None]:
    """Yield ``(page, prepare(page.records))`` for each page ``read()`` gives, reading ahead in a child process.

    The first page is read here. The reader is forked after it only if the
    first page says at least ``min_pages`` more pages are coming (``total``
    against its own size), or says nothing: forking costs a short run more than
    it gains. A page from the reader carries ``cursor`` and ``total``; its
    records stay in the reader (the prepared page holds what the write needs).
    """
    source = read()
    first = next((p for p in source if p is not None), None)
    if first is None:
        return
    yield first, prepare(first.records)
    yield from _forked(source, prepare) if _worth_forking(first, min_pages) else _inline(source, prepare)


def _inline(source: Iterator[Page | None], prepare: Callable[[list[dict[str, Any]]], Any]
            ) -> Iterator[tuple[Page, Any]]:
    """The rest of ``source``, read and prepared in this process."""
    return ((page, prepare(page.records)) for page in source if page is not None)


def _worth_forking(first: Page, min_pages: int) -> bool:
    if first.total is None or not first.records:
        return True
    return first.total - len(first.records) >= min_pages * len(first.records)


def _forked(source: Iterator[Page | None], prepare: Callable[[list[dict[str, Any]]], Any]
            ) -> Generator[tuple[Page, Any], None, None]:
    """The rest of ``source``, read and prepared in a forked child (which owns ``source`` from here on)."""
    spawned = _spawn(source, prepare)
    if spawned is None:  # no memory or process slot for a reader: read on in this process
        yield from _inline(source, prepare)
        return
    yield from receive(*spawned)


class Early:
    """A reader forked before the run it reads for: see :func:`start`.

    ``cursor`` and ``mode`` are what the pages were read with, and ``last`` marks
    the feed's last run as it was then (when it started and finished); the run
    takes :meth:`pages` only if all three are still its own once it holds the
    feed's lock. :meth:`cancel` stops and reaps the reader unless a generator
    from :meth:`pages` has started (closing that generator does it then).
    """

    def __init__(self, pid: int, pages_in: Connection, acks_out: Connection, *, cursor: Any, mode: str,
                 last: Any = None) -> None:
        self.pid, self.cursor, self.mode, self.last = pid, cursor, mode, last
        self.taken = False  # a run took the pages
        self._spawned: tuple[int, Connection, Connection] | None = (pid, pages_in, acks_out)

    def matches(self, cursor: Any, mode: str, last: Any = None) -> bool:
        """True if the pages were read with this cursor and mode, no run of the feed started or ended since
        (``last``), and nobody has taken them yet."""
        return (self._spawned is not None and self.cursor == cursor and self.mode == mode
                and self.last == last)

    def pages(self) -> Generator[tuple[Page, Any], None, None]:
        """The prepared pages, as :func:`pages` yields them (once)."""
        if self._spawned is None:
            raise RuntimeError("the early reader's pages were taken or cancelled")
        return self._take()

    def _take(self) -> Generator[tuple[Page, Any], None, None]:
        # The reader passes to the generator at its first page: until then cancel() reaps it.
        spawned, self._spawned = self._spawned, None
        if spawned is None:
            raise RuntimeError("the early reader was cancelled")
        self.taken = True
        yield from receive(*spawned)

    def cancel(self) -> None:
        """Stop and reap the reader, unless its pages were taken (then their generator owns it)."""
        if self._spawned is None:
            return
        spawned, self._spawned = self._spawned, None
        stop(*spawned)


Reap = Callable[[bool], None]  # ends a reader: kills it first if told (True), then waits for it


def stop(pid: int, pages_in: Connection, acks_out: Connection, *, reap: Reap | None = None) -> None:
    """Tell a reader to stop, close its pipes, kill and reap it."""
    with contextlib.suppress(OSError):
        acks_out.send_bytes(_STOP)
    pages_in.close()
    acks_out.close()
    (reap or _reaper(pid))(True)


def start(source: Iterator[Page | None], prepare: Callable[[list[dict[str, Any]]], Any], *, cursor: Any,
          mode: str, last: Any = None) -> Early | None:
    """Fork a reader of ``source`` now, before the run that takes its pages has started (None if it cannot).

    ``source`` must not have started: a generator that opens the connector and
    reads from ``cursor``, which runs in the child only. Unlike :func:`pages`,
    the first page is read there too: the point is to read while this process
    is still starting (schema check, lock, execution row).
    """
    spawned = _spawn(source, prepare)
    return None if spawned is None else Early(*spawned, cursor=cursor, mode=mode, last=last)


Setup = Callable[[], tuple[Any, Iterator[Page | None] | None, Callable[[list[dict[str, Any]]], Any] | None]]


def start_with(setup: Setup, *, ahead: int) -> tuple[int, Connection, Connection] | None:
    """Fork a reader that builds what it reads in the child: ``setup()`` runs there first.

    ``setup`` returns ``(said, source, prepare)``: ``said`` (anything pickle takes) is
    the first message the parent receives, as ``("said", said)``; then come the pages
    of ``source`` as :func:`pages` sends them, at most ``ahead`` in front of the parent
    (and what the pipe holds), or at once ``("end",)`` when ``source`` is None. An
    exception in ``setup`` is the first message instead, as ``("error", ...)``.
    Returns (the reader's pid, the messages' read end, the acks' write end), or None
    if no process could be forked.
    """
    return _spawn(None, None, setup=setup, ahead=ahead,
                  told="forked process %d to read the store while this one starts")


def _spawn(source: Iterator[Page | None] | None, prepare: Callable[[list[dict[str, Any]]], Any] | None, *,
           setup: Setup | None = None, ahead: int = AHEAD, told: str = "reading ahead in process %d"
           ) -> tuple[int, Connection, Connection] | None:
    """Fork the reader of ``source``: (its pid, the pages' read end, the acks' write end), or None."""
    pages_in, pages_out = pipes.pipe(PIPE_BYTES)  # child -> parent: prepared pages
    acks_in, acks_out = pipes.pipe()  # parent -> child: "taken, read on" (or "stop")
    for stream in (sys.stdout, sys.stderr):  # the child must not inherit (and print again) what is buffered
        with contextlib.suppress(Exception):
            stream.flush()
    parent = os.getpid()
    try:
        with warnings.catch_warnings():  # Python 3.12+ warns of any other thread: ours is the lease keeper, held still
            warnings.filterwarnings("ignore", r".*multi-threaded.*fork", DeprecationWarning)
            pid = os.fork()
    except OSError as exc:
        log.warning("read-ahead unavailable (%s); reading in this process", exc)
        for conn in (pages_in, pages_out, acks_in, acks_out):
            conn.close()
        return None
    if pid == 0:  # pragma: no cover - runs in the child, which leaves with os._exit
        pages_in.close()
        acks_out.close()
        _child(pages_out, acks_in, source, prepare, parent, setup=setup, ahead=ahead)
    log.info(told, pid)
    pages_out.close()
    acks_in.close()
    return pid, pages_in, acks_out


def receive(pid: int, pages_in: Connection, acks_out: Connection, *, reap: Reap | None = None
            ) -> Generator[tuple[Page, Any], None, None]:
    """The reader's prepared pages, in order; stops and reaps the reader however the caller ends.

    ``reap`` ends a reader that is not this process's child (:mod:`engine.spawnread`'s).
    """
    done = False
    try:
        while True:
            try:
                data = pages_in.recv_bytes()
                with paused():  # a prepared page is thousands of fresh objects (engine.gcpause)
                    if data[:1] == _PAGE:
                        cursor, total, prepared = decode_page(memoryview(data)[1:])
                        kind, rest = "page", [Page(records=[], cursor=cursor, total=total), prepared]
                    else:
                        kind, *rest = pickle.loads(data)
                del data
            except EOFError:
                raise EngineError("the read-ahead process ended without a word "
                                  "(killed, or out of memory?); the next run resumes from the last committed page"
                                  ) from None
            if kind == "end":
                done = True
                return
            if kind == "error":
                raise _rebuild(*rest)
            with contextlib.suppress(BrokenPipeError):  # a reader that sent everything may be gone
                acks_out.send_bytes(_MORE)  # one more page may be read while this one is written
            yield rest[0], rest[1]
    finally:
        with contextlib.suppress(OSError):
            if not done:
                acks_out.send_bytes(_STOP)
        pages_in.close()
        acks_out.close()
        (reap or _reaper(pid))(not done)


def _child(pages: Connection, acks: Connection, source: Iterator[Page | None] | None,
           prepare: Callable[[list[dict[str, Any]]], Any] | None, parent: int, *, setup: Setup | None = None,
           ahead: int = AHEAD) -> None:  # pragma: no cover - the child
    global _in_reader
    _in_reader = True
    code = 0
    try:
        # Ctrl-C and a SIGTERM to the whole group are the parent's to handle: it ends the page in hand,
        # records the run as interrupted and then kills this process.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        _die_with_parent(parent)
        out = pipes.Outbox(pages)
        if setup is not None:
            said, source, prepare = setup()
            out.send(pickle.dumps(("said", said)))
        gc.freeze()  # what the parent built is never walked here; pages are parsed with collection held
        sent = 0  # pages sent that the parent has not taken yet
        for page in source if source is not None and prepare is not None else ():
            if page is None:
                continue
            out.send(_PAGE + encode_page(page.cursor, page.total, prepare(page.records)))
            sent += 1
            while sent >= ahead or (sent and acks.poll()):
                if acks.recv_bytes() != _MORE:
                    raise _Stopped
                sent -= 1
        out.send(pickle.dumps(("end",)))
        out.flush()
    except (EOFError, BrokenPipeError, _Stopped):
        pass  # the parent is gone or stopped reading: nothing to tell it
    except BaseException as exc:  # everything goes to the parent, which decides
        with contextlib.suppress(Exception):  # (without an outbox, the parent finds the pipe closed)
            out.send(pickle.dumps(("error", *_describe(exc))))
            out.flush()
        code = 1
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def child(pages: Connection, acks: Connection, parent: int, *, setup: Setup,
          ahead: int = AHEAD) -> None:  # pragma: no cover - the child
    """Be a reader that builds what it reads (``setup``, as :func:`start_with` takes it); never returns."""
    _child(pages, acks, None, None, parent, setup=setup, ahead=ahead)


class _Stopped(Exception):
    """The parent asked the reader to stop."""


def _describe(exc: BaseException) -> tuple[str, str, str, dict[str, Any]]:
    """What the parent needs to raise ``exc`` again: its class, message and attributes."""
    cls = type(exc)
    state: dict[str, Any] = {}
    for name, value in vars(exc).items():
        try:
            pickle.dumps(value)
        except Exception:
            continue
        state[name] = value
    detail = "".join(traceback.format_exception(exc)) if not isinstance(exc, EngineError) else ""
    return f"{cls.__module__}:{cls.__qualname__}", str(exc), detail, state


def _rebuild(path: str, message: str, detail: str, state: dict[str, Any]) -> BaseException:
    """The child's exception, as the same class where that class can be found here."""
    module, _, name = path.partition(":")
    cls: Any = sys.modules.get(module)
    for part in name.split("."):
        cls = getattr(cls, part, None)
    if isinstance(cls, type) and issubclass(cls, EngineError):
        exc = cls.__new__(cls)
        Exception.__init__(exc, message)
        exc.__dict__.update(state)
        return exc
    if detail:
        log.error("the read-ahead process failed:\n%s", detail.rstrip())
    return RuntimeError(f"in the read-ahead process, {name}: {message}")


def _die_with_parent(parent: int) -> None:  # pragma: no cover - the child
    """Ask Linux to kill this process when its parent dies (a kill -9 leaves no orphan reading on)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def _reaper(pid: int) -> Reap:
    return lambda kill: _reap(pid, kill=kill)


def _reap(pid: int, *, kill: bool) -> None:
    if kill:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)

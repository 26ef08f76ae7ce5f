"""Holding Python's automatic garbage collection while a page of records is parsed or processed.

A page is thousands of fresh containers (the parsed JSON of a store's page,
the mapped records, the rows written). Every automatic collection that runs
while they are alive walks them, and the ones it promotes to the oldest
generation soon trigger full collections of the whole heap (modules, the
SQLAlchemy metadata, the configuration). On a 100,000-product import that is
about an eighth of the run. Reference counting frees a page's objects as usual
either way; collection resumes after the page and reclaims any cycles then.

Start-up is the same story: the command line imports its modules, loads the
configuration and builds the engine, all of it kept until exit, and the
collections that would walk it again and again cost a short command about a
tenth of its time. ``connect-engine`` holds collection from its start until
the command itself begins (:func:`hold`, :func:`release`), and while it builds
the engine (:func:`paused`); both end with ``gc.freeze``, so no collection walks
those objects later either.
"""

from __future__ import annotations

import functools
import gc
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

_lock = threading.Lock()
_depth = 0
_resume = False
_held: list[AbstractContextManager[None]] = []


@contextmanager
def paused() -> Iterator[None]:
    """Hold automatic collection for the block, then restore it as it was.

    Nestable and shared between threads: collection stays held while any
    thread is inside a block and resumes when the last one leaves, and only
    if it was enabled when the first one entered.
    """
    global _depth, _resume
    with _lock:
        if _depth == 0:
            _resume = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _resume:
                gc.enable()


def pausing(fn: Callable[P, R]) -> Callable[P, R]:
    """Decorate ``fn`` so each call runs inside :func:`paused`."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with paused():
            return fn(*args, **kwargs)

    return wrapper


def hold() -> None:
    """Enter :func:`paused` until :func:`release` (for code that cannot wrap a block, like a CLI's start)."""
    block = paused()
    block.__enter__()
    _held.append(block)


def release() -> None:
    """Leave every block :func:`hold` entered (nothing if none), freezing what was made meanwhile.

    Objects made while collection is held stay in the youngest generation: the
    first collection after it would walk them all. ``gc.freeze`` moves them out of
    its way instead (they live until exit, which is what holding is for).
    """
    if _held:
        gc.freeze()
    while _held:
        _held.pop().__exit__(None, None, None)

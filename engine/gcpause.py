"""Holding Python's automatic garbage collection while a page of records is parsed or processed.

A page is thousands of fresh containers (the parsed JSON of a store's page,
the mapped records, the rows written). Every automatic collection that runs
while they are alive walks them, and the ones it promotes to the oldest
generation soon trigger full collections of the whole heap (modules, the
SQLAlchemy metadata, the configuration). On a 100,000-product import that is
about an eighth of the run. Reference counting frees a page's objects as usual
either way; collection resumes after the page and reclaims any cycles then.
"""

from __future__ import annotations

import functools
import gc
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

_lock = threading.Lock()
_depth = 0
_resume = False


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

"""Functions a fork server's child runs in tests/engine/test_forkserver.py."""

from __future__ import annotations

import contextlib
import os
import select
from multiprocessing.connection import Connection


def echo(word: str, out: Connection) -> None:
    """Send back ``word``, this process's pid and its parent's."""
    out.send((word, os.getpid(), os.getppid()))


def wait_for_word(out: Connection, inbox: Connection) -> None:
    """Say the pid, then wait until told to end (or the pipe closes)."""
    out.send(os.getpid())
    with contextlib.suppress(EOFError):
        inbox.recv_bytes()


def ended(pid: int, within: float = 30.0) -> bool:
    """True once the process ``pid`` has ended (waits at most ``within`` seconds, on the process itself)."""
    try:
        handle = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        poller = select.poll()
        poller.register(handle, select.POLLIN)
        return bool(poller.poll(within * 1000))  # a pidfd turns readable when its process ends
    finally:
        os.close(handle)

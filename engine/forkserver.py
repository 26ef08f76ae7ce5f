"""A fork server: a process of its own, started from a fresh interpreter, that forks children on request.

Forking a process that runs other threads is not safe (a lock another thread holds
stays held in the child), so ``serve`` cannot fork a read-ahead reader the way the
command line does. It asks this server instead: the server is started once, with
``subprocess`` (a new interpreter, whatever threads the caller has), imports what
its children need, and forks one per request. Unlike multiprocessing's start
methods, nothing of the caller's main module is imported again (a host service's
main script is never re-run), and the child runs exactly one function.

Protocol, over a ``SOCK_SEQPACKET`` Unix socket pair: a request is one message, a
pickle of ``("module:function", args)`` carrying file descriptors, which the child
receives as :class:`multiprocessing.connection.Connection` objects after ``args``;
the answer is the child's pid (8 bytes, signed; -1 if the fork failed). The server
ends when the caller's end of the socket closes (the caller exited), and its
children are reaped by the kernel (``SIGCHLD`` ignored). A child runs its function
and leaves with ``os._exit``.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import pickle
import signal
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any

log = logging.getLogger(__name__)

_PID = struct.Struct("!q")
_MAX_MESSAGE = 1 << 20


class ForkServer:
    """The caller's side: starts the server on first use (again if it died) and asks it to fork."""

    def __init__(self, preload: Sequence[str] = ()) -> None:
        self.preload = tuple(preload)
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._socket: socket.socket | None = None

    def fork(self, target: str, args: tuple[Any, ...], connections: Sequence[Connection]) -> int:
        """Fork a child that runs ``target(*args, *connections)``; returns its pid.

        The child gets its own copies of ``connections``; the caller still holds (and
        should close) its own.

        Raises:
            OSError: The server could not be started or could not fork.
        """
        message = pickle.dumps((target, args))
        fds = [c.fileno() for c in connections]
        with self._lock:
            sock = self._running()
            try:
                socket.send_fds(sock, [message], fds)
                answer = sock.recv(_PID.size)
            except OSError:
                self._stop()
                raise
            if len(answer) != _PID.size:
                self._stop()
                raise OSError("the fork server ended")
        pid: int = _PID.unpack(answer)[0]
        if pid < 0:
            raise OSError("the fork server could not fork")
        return pid

    def start(self) -> None:
        """Start the server if it is not running (it imports its modules while the caller goes on)."""
        with self._lock:
            self._running()

    def close(self) -> None:
        """Stop the server (it ends when its socket closes); its children live on until they end."""
        with self._lock:
            self._stop()

    def _running(self) -> socket.socket:
        if self._socket is not None and self._process is not None and self._process.poll() is None:
            return self._socket
        self._stop()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        code = (f"import sys; sys.path[:0] = {sys.path!r}; from engine.forkserver import serve; "
                f"serve({theirs.fileno()}, {self.preload!r})")
        try:
            self._process = subprocess.Popen([sys.executable, "-c", code], pass_fds=[theirs.fileno()],
                                             stdin=subprocess.DEVNULL)
        finally:
            theirs.close()
        self._socket = ours
        log.info("started the fork server (process %d)", self._process.pid)
        return ours

    def _stop(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        if self._process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(5)  # it ends once its socket is closed
            if self._process.poll() is None:
                self._process.kill()
                self._process.wait()
            self._process = None


def serve(fd: int, preload: Sequence[str]) -> None:  # pragma: no cover - runs in the server
    """The server: import ``preload``, then fork a child for each request until the socket closes."""
    sock = socket.socket(fileno=fd)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    # A Ctrl-C or SIGTERM to the process group is the caller's to handle: it stops its runs, then exits,
    # which closes the socket and ends this server. (No parent-death signal: Linux sends it when the
    # thread that started the server ends, and a pool's thread may end while other runs read.)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    for name in preload:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(sock, _MAX_MESSAGE, 16)
        except OSError:
            break
        if not message:
            break  # the caller closed its end: it has exited
        try:
            pid = os.fork()
        except OSError:
            pid = -1
        if pid == 0:
            sock.close()
            _child(message, fds)
        for descriptor in fds:
            os.close(descriptor)
        try:
            sock.send(_PID.pack(pid))
        except OSError:
            break
    os._exit(0)


def _child(message: bytes, fds: list[int]) -> None:  # pragma: no cover - runs in a forked child
    code = 1
    try:
        for number in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM):
            signal.signal(number, signal.SIG_DFL)
        target, args = pickle.loads(message)
        module, _, name = target.partition(":")
        function = getattr(importlib.import_module(module), name)
        function(*args, *(Connection(descriptor) for descriptor in fds))
        code = 0
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)

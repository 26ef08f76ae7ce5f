"""Run the CLI with the ops test plugin in separate processes, and wait on their output without sleeping."""

from __future__ import annotations

import os
import selectors
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WAIT = 60.0  # seconds; a bound, never a delay: waits end as soon as the line arrives


def env(offset: float = 0) -> dict[str, str]:
    """The child's environment: no CONNECT_ENGINE_* leaking in, the repository importable, a clock offset."""
    out = {k: v for k, v in os.environ.items() if not k.startswith("CONNECT_ENGINE_")}
    out["PYTHONPATH"] = str(ROOT)
    out["OPS_CLOCK_OFFSET"] = str(offset)
    return out


def command(config: Path, *args: str) -> list[str]:
    """The argv of ``connect-engine --config CONFIG ARGS`` with the ops plugin."""
    return [sys.executable, "-m", "tests.support.ops_cli", "--config", str(config), *args]


def run(config: Path, *args: str, offset: float = 0) -> subprocess.CompletedProcess[str]:
    """Run the CLI to the end and return its exit code and output."""
    return subprocess.run(command(config, *args), cwd=ROOT, env=env(offset), capture_output=True, text=True,
                          timeout=WAIT * 2)


class Proc:
    """A CLI process whose stdout and stderr lines are read as they come."""

    def __init__(self, config: Path, *args: str, offset: float = 0) -> None:
        self.popen = subprocess.Popen(command(config, *args), cwd=ROOT, env=env(offset), stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE)
        self.lines: list[str] = []
        self._partial = {"stdout": b"", "stderr": b""}
        self._sel = selectors.DefaultSelector()
        assert self.popen.stdout is not None and self.popen.stderr is not None
        self._sel.register(self.popen.stdout, selectors.EVENT_READ, "stdout")
        self._sel.register(self.popen.stderr, selectors.EVENT_READ, "stderr")

    def wait_for(self, needle: str, timeout: float = WAIT, *, count: int = 1) -> str:
        """Block until ``count`` lines containing ``needle`` have arrived (on either stream); returns the last."""
        seen = [line for line in self.lines if needle in line]
        if len(seen) >= count:
            return seen[count - 1]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self._sel.get_map():
                break
            for key, _ in self._sel.select(timeout=deadline - time.monotonic()):
                seen += [line for line in self._read(key) if needle in line]
                if len(seen) >= count:
                    return seen[count - 1]
        raise AssertionError(f"{len(seen)} of {count} line(s) with {needle!r} within {timeout}s; got:\n"
                             + "\n".join(self.lines))

    def _read(self, key: selectors.SelectorKey) -> list[str]:
        chunk = os.read(key.fd, 65536)
        if not chunk:
            self._sel.unregister(key.fileobj)
            chunk = b"\n"
        data = self._partial[key.data] + chunk
        *complete, self._partial[key.data] = data.split(b"\n")
        new = [c.decode() for c in complete if c]
        self.lines.extend(new)
        return new

    def finish(self, timeout: float = WAIT) -> int:
        """Read the rest of the output and wait for the exit; returns the exit code."""
        deadline = time.monotonic() + timeout
        while self._sel.get_map() and time.monotonic() < deadline:
            for key, _ in self._sel.select(timeout=deadline - time.monotonic()):
                self._read(key)
        try:
            return self.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
        finally:
            self._close()

    def output(self) -> str:
        """Every line read so far."""
        return "\n".join(self.lines)

    def kill(self) -> None:
        """SIGKILL: no cleanup of any kind runs in the child."""
        self.popen.kill()
        self.popen.wait(timeout=WAIT)
        self._close()

    def _close(self) -> None:
        self._sel.close()
        for stream in (self.popen.stdout, self.popen.stderr):
            if stream is not None:
                stream.close()


def gone(pid: int) -> bool:
    """A forked child of this process ended and was reaped (not left a zombie or running)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return False

"""Measuring a tool run as a separate process (wall time, peak RSS) and steering a sandbox process.

Each measured run is its own process, so what is measured is what a cron job
pays: interpreter start, imports, the work, exit. Wall time is taken with
``time.perf_counter`` around the process. Peak RSS is the larger of
``os.wait4``'s ``ru_maxrss`` (the largest single process) and the largest sum
of the resident sets of the process and its children sampled every 50 ms
(on Linux): a run that forks a reader is charged for both processes.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable


@dataclass(frozen=True)
class Measured:
    """One finished process.

    Attributes:
        wall_s: Seconds from start to exit.
        peak_rss_mib: Peak resident set size of the process, MiB.
        rc: Exit code (negative: killed by that signal).
        stdout: Everything it printed.
        stderr: The last few KiB of its error output.
        timed_out: It was killed for running past the timeout.
    """

    wall_s: float
    peak_rss_mib: float
    rc: int
    stdout: str
    stderr: str
    timed_out: bool = False

    def last_json(self, prefix: str = "") -> dict[str, Any] | None:
        """The last stdout line that parses as a JSON object (after ``prefix``), or None."""
        found = None
        for line in self.stdout.splitlines():
            if prefix and not line.startswith(prefix):
                continue
            text = line[len(prefix):].strip()
            if text.startswith("{"):
                try:
                    found = json.loads(text)
                except ValueError:
                    continue
        if found is None and not prefix:  # a pretty-printed JSON document (``--json``)
            text = self.stdout.strip()
            start = text.find("{")
            if start >= 0:
                try:
                    found = json.loads(text[start:])
                except ValueError:
                    found = None
        return found


def run_measured(cmd: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: str | Path | None = None,
                 timeout: float = 900.0) -> Measured:
    """Run ``cmd`` to completion and measure it (wall time, peak RSS via ``os.wait4``)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(list(cmd), stdout=out, stderr=err, cwd=cwd, env=dict(env) if env else None,
                                start_new_session=True)
        killed = threading.Event()

        def watchdog() -> None:
            killed.set()
            os.killpg(proc.pid, signal.SIGKILL)

        timer = threading.Timer(timeout, watchdog)
        timer.start()
        sampler = TreeRss(proc.pid)
        sampler.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - t0
        finally:
            timer.cancel()
            sampler.stop()
        proc.returncode = os.waitstatus_to_exitcode(status)  # keep Popen from waiting again
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")[-4000:]
    peak = max(usage.ru_maxrss / 1024, sampler.peak_bytes / 2**20)
    return Measured(wall_s=wall, peak_rss_mib=peak, rc=proc.returncode, stdout=stdout,
                    stderr=stderr, timed_out=killed.is_set())


class TreeRss(threading.Thread):
    """Samples the summed resident set of a process and its children until stopped (Linux /proc)."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.peak_bytes = 0
        self._done = threading.Event()
        self._page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

    def run(self) -> None:
        while not self._done.wait(self.interval):
            total = sum(self._resident(p) for p in self._tree())
            self.peak_bytes = max(self.peak_bytes, total)

    def stop(self) -> None:
        self._done.set()
        self.join()

    def _tree(self) -> list[int]:
        out, todo = [], [self.pid]
        while todo:
            pid = todo.pop()
            out.append(pid)
            try:  # every thread's children: a process started from a worker thread is listed under that thread
                tasks = list(Path(f"/proc/{pid}/task").iterdir())
            except OSError:
                continue
            for task in tasks:
                try:
                    todo.extend(int(c) for c in (task / "children").read_text().split())
                except (OSError, ValueError):
                    continue
        return out

    def _resident(self, pid: int) -> int:
        try:
            return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * self._page
        except (OSError, ValueError, IndexError):
            return 0


def repo_env(**extra: str) -> dict[str, str]:
    """The current environment with the repository importable (``engine``, ``plugins``)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env.update(extra)
    return env


class SandboxProcess:
    """The Shopify sandbox as a separate process, products rendered before it listens (``--warm``).

    Args:
        products: Generated products (1-3 variants each).
        seed: Data seed (the same seed serves the same catalogue and touches the same products).
        token: The access token it accepts.
        start_timeout: Seconds to wait for it to listen.
    """

    def __init__(self, products: int, *, seed: int, token: str, start_timeout: float = 300.0) -> None:
        self.products = products
        self.seed = seed
        self.token = token
        self.start_timeout = start_timeout
        self.url = ""
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> SandboxProcess:
        cmd = [PY, "-m", "plugins.shopify.sandbox", "--port", "0", "--products", str(self.products),
               "--orders", "0", "--seed", str(self.seed), "--token", self.token, "--no-rate-limit", "--warm"]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=REPO, env=repo_env(),
                                start_new_session=True)
        self._proc = proc
        assert proc.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + self.start_timeout
        line = b""
        while b"\n" not in line:
            left = deadline - time.monotonic()
            if left <= 0 or proc.poll() is not None:
                self.__exit__()
                raise RuntimeError(f"the sandbox did not start (exit code {proc.poll()})")
            if sel.select(min(left, 1.0)):
                chunk = os.read(proc.stdout.fileno(), 4096)
                if not chunk:
                    continue
                line += chunk
        sel.close()
        self.url = line.split(b"\n", 1)[0].decode().rsplit(" ", 1)[-1]
        # Keep draining its output so a chatty server never blocks on a full pipe.
        threading.Thread(target=_drain, args=(proc.stdout,), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()

    def control(self, method: str, path: str) -> Any:
        """Call the sandbox's control interface (``/__sandbox/<path>``) and return its JSON answer."""
        req = urllib.request.Request(f"{self.url}/__sandbox/{path}", method=method, data=b"" if method == "POST"
                                     else None)
        with urllib.request.urlopen(req, timeout=120) as resp:
            return json.loads(resp.read() or b"{}")


def _drain(stream: Any) -> None:
    try:
        while stream.read(65536):
            pass
    except (OSError, ValueError):  # closed when the sandbox stopped
        pass


def median(values: Iterable[float]) -> float:
    """The median (NaN when there is nothing)."""
    items = [v for v in values if v is not None]
    return statistics.median(items) if items else float("nan")


def table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A Markdown table, columns padded."""
    body = [[str(c) for c in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in body)]) for i, h in enumerate(header)]
    lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += ["| " + " | ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in body]
    return "\n".join(lines)

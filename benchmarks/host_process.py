"""The engine as a long-running process holds it (``serve``, or a host service), for ``update_products.py``.

Builds the engine from an engine.yaml once and starts the fork server (as ``serve`` does at
start), prints ``{"ready": seconds}``, then for
each ``run`` line on standard input runs ``update_products`` of the integration the
way ``serve`` does (in a worker thread, with read-ahead: a long run reads the store in
a reader the fork server starts, engine.spawnread) and prints one JSON line:
the call's wall seconds, the execution's status, duration and counts, and this
process's peak RSS so far. Ends at end of input.

    python benchmarks/host_process.py ENGINE_YAML INTEGRATION
"""

from __future__ import annotations

import json
import resource
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine import spawnread  # noqa: E402
from engine.app import Engine  # noqa: E402

FEED = "update_products"


def main() -> None:
    """Build the engine, then run the feed once per ``run`` line."""
    config, integration = sys.argv[1], sys.argv[2]
    started = time.perf_counter()
    with Engine.from_config(config) as engine, ThreadPoolExecutor(1, thread_name_prefix="connect-engine") as pool:
        spawnread.warm()  # as serve does at start
        print(json.dumps({"ready": time.perf_counter() - started}), flush=True)
        for line in sys.stdin:
            if line.strip() != "run":
                break
            began = time.perf_counter()
            info = pool.submit(engine.run, FEED, integration, trigger="manual", read_ahead=True).result()
            wall = time.perf_counter() - began
            rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
            print(json.dumps({"wall": wall, "status": info.status, "duration": info.duration, "counts": info.counts,
                              "message": info.message, "rss": rss_mib}), flush=True)


if __name__ == "__main__":
    main()

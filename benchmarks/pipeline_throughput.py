"""Records per second through the pipeline: an in-memory source into the hub's products in SQLite.

No HTTP and no store: the source (``benchmarks/memory_source.py``, a plugin
registered with ``Engine.from_config(..., plugins=[...])`` beside the real hub
plugin ``plugins.connect``) yields N generated records in pages of 250, and a
feed written to a temporary feeds folder maps them (plain paths, one JMESPath
function, a nested object) into hub products, 1,000 per batch. Each run is a
separate process on a fresh SQLite file; peak RSS comes from ``os.wait4``.

    python benchmarks/pipeline_throughput.py [--ns 10000,100000] [--reps 3]

Prints figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.measure import PY, median, repo_env, run_measured, table  # noqa: E402

INTEGRATION = "mem"


def child(n: int, work: Path, page_size: int) -> None:
    """Build the engine, run the feed once, print one ``RESULT {...}`` line."""
    t0 = time.perf_counter()
    import plugins.connect
    from benchmarks import memory_source
    from engine.app import Engine

    feeds, mappings = work / "feeds.d" / "memory", work / "mappings" / "memory"
    feeds.mkdir(parents=True, exist_ok=True)
    mappings.mkdir(parents=True, exist_ok=True)
    (feeds / "load_products.yaml").write_text(memory_source.FEED, encoding="utf-8")
    (mappings / "products.yaml").write_text(memory_source.MAPPING, encoding="utf-8")
    config = {"database": f"sqlite:///{work / 'engine.db'}", "timezone": "UTC", "data_dir": str(work / "data"),
              "feeds_dir": str(work / "feeds.d"), "mappings_dir": str(work / "mappings"),
              "hub": {"connector": "connect"},
              "integrations": {INTEGRATION: {"connector": "memory",
                                             "settings": {"count": n, "page_size": page_size}}}}
    with Engine.from_config(config, plugins=[plugins.connect, memory_source]) as engine:
        t1 = time.perf_counter()
        info = engine.run("load_products", INTEGRATION)
        t2 = time.perf_counter()
    print("RESULT " + json.dumps({"status": info.status, "counts": info.counts, "message": info.message,
                                  "setup_s": t1 - t0, "run_s": t2 - t1}), flush=True)


def main() -> None:
    """Run each N ``--reps`` times in fresh processes and print the medians."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ns", default="10000,100000", help="record counts, comma separated")
    ap.add_argument("--reps", type=int, default=3, help="repetitions (medians are reported)")
    ap.add_argument("--page-size", type=int, default=250, help="records per source page")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--work", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.n, args.work, args.page_size)
        return
    ns = [int(x) for x in args.ns.split(",") if x]
    root = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    results: dict[int, list[dict[str, Any]]] = {n: [] for n in ns}
    try:
        for rep in range(args.reps):
            for n in ns:
                work = root / f"n{n}-rep{rep}"
                work.mkdir()
                m = run_measured([PY, __file__, "--child", "--n", str(n), "--work", str(work),
                                  "--page-size", str(args.page_size)], env=repo_env(), cwd=work)
                res = m.last_json("RESULT ")
                if m.rc != 0 or not res or res["status"] != "success":
                    raise RuntimeError(f"run failed (exit {m.rc}): {res or m.stderr[-1500:]}")
                written = res["counts"]["created"] + res["counts"]["updated"] + res["counts"]["unchanged"]
                row = {"wall": m.wall_s, "run": res["run_s"], "setup": res["setup_s"], "rss": m.peak_rss_mib,
                       "records": written}
                results[n].append(row)
                print(f"N={n} rep={rep} wall={m.wall_s:.3f}s run={res['run_s']:.3f}s setup={res['setup_s']:.3f}s "
                      f"rss={m.peak_rss_mib:.1f}MiB written={written}", flush=True)
                shutil.rmtree(work, ignore_errors=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    rows = []
    for n in ns:
        rs = results[n]
        wall, run, rss = median(r["wall"] for r in rs), median(r["run"] for r in rs), median(r["rss"] for r in rs)
        rows.append([f"{n:,}", f"{wall:.3f}", f"{run:.3f}", f"{median(r['setup'] for r in rs):.3f}",
                     f"{n / run:,.0f}", f"{n / wall:,.0f}", f"{rss:.1f}"])
    print()
    print(f"pipeline throughput, in-memory source -> hub products (SQLite), medians of {args.reps}")
    print(table(["N", "wall s", "run s", "setup s", "records/s (run)", "records/s (wall)", "peak RSS MiB"], rows))
    if len(ns) > 1:
        lo, hi = min(ns), max(ns)
        growth = median(r["rss"] for r in results[hi]) / median(r["rss"] for r in results[lo])
        print(f"peak RSS at {hi:,} is {growth:.2f}x that at {lo:,}")


if __name__ == "__main__":
    main()

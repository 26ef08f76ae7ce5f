"""``update_products`` from the Shopify sandbox into SQLite, beside the hand-written floor, in one run.

For each N (default 10,000 and 100,000 products, 1-3 variants each) and each
repetition, a fresh sandbox process is started (rate limiting off, every
product rendered before it listens) and every tool runs against it as a separate
process, each with its own SQLite file:

1. ``full``: empty database, first run (a full load; the cursor is recorded);
2. the sandbox changes 1% of the products (``POST /__sandbox/products/touch?pct=1``,
   the same products for the same seed);
3. ``incr``: same database and cursor, only what changed.

The engine runs exactly as a user runs it: ``connect-engine --config engine.yaml
run update_products --integration bench --json`` with a generated engine.yaml
(the console script's code, in a fresh interpreter). ``host`` is the same engine as a
long-running process holds it (``serve``, a host service; ``benchmarks/host_process.py``):
built once, then ``update_products`` run in it for each phase in a worker thread, as
``serve`` runs feeds (a long run reads ahead in a reader a fork server starts:
``engine/spawnread.py``); its wall time is the run call's, with no process start to pay, so it
has no ratio to the floor, and its peak RSS counts the fork server and the reader. The floor is plain httpx +
sqlite3 ``executemany`` (``peers/baseline_httpx_sqlite.py`` of the shared peer
benchmark, found next to the repository by default). ``--peers`` adds the other
tools of that benchmark (Singer SDK tap + target, Airbyte's declarative CDK, dlt's
rest_api source), run from their own virtualenv (``--peer-python``; the shared
``peers/run_all.sh`` builds one) against the same sandbox. Each repetition starts
with another tool, and each tool starts once the disk has written back what the one
before it wrote (``os.sync``); medians are reported. The project's bytecode is compiled
first, as installing a wheel writes it (a tree edited since ``make setup``, on a machine
that sets ``PYTHONDONTWRITEBYTECODE``, would compile the edited modules in every run).
Wall time includes interpreter start and imports; peak RSS counts a tool's child
processes too (``benchmarks/measure.py``).

    python benchmarks/update_products.py [--ns 10000,100000] [--reps 3] [--floor PATH] [--no-host]
        [--peers singer,airbyte,dlt --peer-python PEER_VENV/bin/python]

Prints figures and the targets' PASS/MISS; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.measure import PY, REPO, Measured, SandboxProcess, TreeRss, median, repo_env, run_measured, table  # noqa: E402

TOKEN = "bench-token"
INTEGRATION = "bench"
FLOOR_DEFAULT = REPO.parent / "shared" / "bench" / "peers" / "baseline_httpx_sqlite.py"
PHASES = ("full", "incr")
CLI = "import sys; from engine.cli import main; sys.exit(main())"  # what the console script runs
TARGET_FLOOR_RATIO = 1.5
TARGET_RSS_GROWTH = 1.2
TARGET_INCR_SPEEDUP = 20.0


def engine_yaml(work: Path, shop_url: str) -> Path:
    """Write the benchmark's engine.yaml (own SQLite file, the repository's feeds and mappings)."""
    path = work / "engine.yaml"
    path.write_text(
        f"database: sqlite:///{work / 'engine.db'}\n"
        f"timezone: UTC\n"
        f"data_dir: {work / 'data'}\n"
        f"feeds_dir: {REPO / 'feeds.d'}\n"
        f"mappings_dir: {REPO / 'mappings'}\n"
        "hub: {connector: connect}\n"
        "integrations:\n"
        f"  {INTEGRATION}:\n"
        "    connector: shopify\n"
        "    settings:\n"
        f"      shop_url: {shop_url}\n"
        "      access_token: ${BENCH_SHOPIFY_TOKEN}\n",
        encoding="utf-8")
    return path


def run_engine(work: Path, timeout: float) -> tuple[Measured, int, int, float]:
    """One ``connect-engine run update_products``: the process, variant rows, products, the run's own seconds."""
    cmd = [PY, "-c", CLI, "--config", str(work / "engine.yaml"), "run", "update_products",
           "--integration", INTEGRATION, "--json"]
    m = run_measured(cmd, env=repo_env(BENCH_SHOPIFY_TOKEN=TOKEN), cwd=work, timeout=timeout)
    info = m.last_json() or {}
    counts = info.get("counts") or {}
    if m.rc != 0 or info.get("status") != "success":
        raise RuntimeError(f"engine run failed (exit {m.rc}, status {info.get('status')}): "
                           f"{info.get('message') or m.stderr[-1500:]}")
    rows = counts.get("created", 0) + counts.get("updated", 0) + counts.get("unchanged", 0)
    return m, rows, counts.get("read", 0), float(info.get("duration") or 0.0)


class Host:
    """``benchmarks/host_process.py`` over its own engine.yaml: one process for every phase of a repetition."""

    def __init__(self, work: Path) -> None:
        self.proc = subprocess.Popen([PY, str(REPO / "benchmarks" / "host_process.py"), str(work / "engine.yaml"),
                                      INTEGRATION], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     cwd=work, env=repo_env(BENCH_SHOPIFY_TOKEN=TOKEN))
        self._answer()  # {"ready": seconds}: built

    def run(self) -> tuple[Measured, int, int, float]:
        """One run of the feed in the process: its call (as a Measured), variant rows, products, duration."""
        assert self.proc.stdin is not None
        tree = TreeRss(self.proc.pid)  # the host with its fork server and the reader it starts
        tree.start()
        self.proc.stdin.write("run\n")
        self.proc.stdin.flush()
        info = self._answer()
        tree.stop()
        counts = info.get("counts") or {}
        if info.get("status") != "success":
            raise RuntimeError(f"host run failed (status {info.get('status')}): {info.get('message')}")
        rows = counts.get("created", 0) + counts.get("updated", 0) + counts.get("unchanged", 0)
        rss = max(float(info["rss"]), tree.peak_bytes / 2**20)
        m = Measured(wall_s=float(info["wall"]), peak_rss_mib=rss, rc=0, stdout="", stderr="")
        return m, rows, counts.get("read", 0), float(info.get("duration") or 0.0)

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)

    def _answer(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the host process ended (exit {self.proc.wait()})")
        return json.loads(line)  # type: ignore[no-any-return]


def run_peer(script: Path, python: str, work: Path, url: str, timeout: float) -> tuple[Measured, int, int, float]:
    """One run of a peer script of the shared benchmark (the floor is one): process, variant rows, products, seconds.

    Every peer takes ``--base-url --db --token --mode`` and prints a ``RESULT {json}`` line.
    """
    cmd = [python, str(script), "--base-url", url, "--db", str(work / "peer.db"), "--token", TOKEN, "--mode", "sync"]
    m = run_measured(cmd, cwd=work, timeout=timeout)
    res = m.last_json("RESULT ") or {}
    if m.rc != 0 or not res or res.get("error"):
        raise RuntimeError(f"{script.name} failed (exit {m.rc}): {res.get('error') or m.stderr[-1500:]}")
    rows = res.get("rows_written", res.get("target_rows", 0))  # Singer's target reports its own
    products = res.get("products") or res.get("records") or res.get("target_records") or 0
    return m, int(rows), int(products), float(res.get("t_total_s") or 0.0)


def db_totals(path: Path, query: str) -> tuple[int, int]:
    """``(rows, sum of price cents)`` of a result database."""
    con = sqlite3.connect(path)
    try:
        rows, cents = con.execute(query).fetchone()
    finally:
        con.close()
    return int(rows or 0), int(cents or 0)


ENGINE_TOTALS = ("SELECT COUNT(*), SUM(CAST(ROUND(CAST(p.price AS REAL) * 100) AS INTEGER)) FROM hub_products p "
                 f"JOIN hub_product_links l ON l.sku = p.sku AND l.integration = '{INTEGRATION}'")
FLOOR_TOTALS = ("SELECT COUNT(*), SUM(CAST(ROUND(CAST(price AS REAL) * 100) AS INTEGER)) "
                "FROM shopify_variants")
# The other tools of the shared peer benchmark, next to the floor (run with --peer-python).
PEERS = {"singer": "singer_sdk_tap.py", "airbyte": "airbyte_cdk_declarative.py", "dlt": "dlt_rest_api.py"}


def one_rep(n: int, rep: int, args: argparse.Namespace, floor: Path | None, root: Path) -> list[dict[str, Any]]:
    """Both tools, both phases, against one fresh sandbox; returns one result per (tool, phase)."""
    tools = ["engine"] + (["floor"] if floor else []) + ([] if args.no_host else ["host"]) + list(args.peer_list)
    tools = tools[rep % len(tools):] + tools[:rep % len(tools)]  # each rep starts with another tool
    out: list[dict[str, Any]] = []
    with SandboxProcess(n, seed=args.seed, token=TOKEN) as sandbox:
        variants = int(sandbox.control("GET", "info")["variants"])
        works = {}
        for tool in tools:
            works[tool] = root / f"n{n}-rep{rep}-{tool}"
            shutil.rmtree(works[tool], ignore_errors=True)
            works[tool].mkdir(parents=True)
        engine_yaml(works["engine"], sandbox.url)
        host = None
        if "host" in works:
            engine_yaml(works["host"], sandbox.url)
            host = Host(works["host"])
        for phase in PHASES:
            if phase == "incr":
                changed = sandbox.control("POST", f"products/touch?pct={args.pct:g}")["changed"]
            for tool in tools:
                os.sync()  # what the previous tool wrote goes to disk now, not during this tool's run
                if tool == "engine":
                    m, rows, products, inrun = run_engine(works[tool], args.timeout)
                elif tool == "host":
                    assert host is not None
                    m, rows, products, inrun = host.run()
                elif tool == "floor":
                    assert floor is not None
                    m, rows, products, inrun = run_peer(floor, PY, works[tool], sandbox.url, args.timeout)
                else:
                    m, rows, products, inrun = run_peer(args.peers_dir / PEERS[tool], args.peer_python, works[tool],
                                                        sandbox.url, args.timeout)
                out.append({"n": n, "rep": rep, "tool": tool, "phase": phase, "wall": m.wall_s, "inrun": inrun,
                            "rss": m.peak_rss_mib, "rows": rows, "products": products})
                print(f"N={n} rep={rep} {tool:6s} {phase:4s} wall={m.wall_s:7.3f}s in-run={inrun:7.3f}s "
                      f"rss={m.peak_rss_mib:6.1f}MiB "
                      f"rows={rows} products={products}", flush=True)
        if host is not None:
            host.close()
        totals = {tool: db_totals(works[tool] / "engine.db", ENGINE_TOTALS) for tool in ("engine", "host")
                  if tool in works}
        if floor:
            totals["floor"] = db_totals(works["floor"] / "peer.db", FLOOR_TOTALS)
        ok = all(t[0] == variants for t in totals.values()) and len({t[1] for t in totals.values()}) == 1
        print(f"N={n} rep={rep} verify: sandbox variants={variants}, touched={changed} products; "
              + ", ".join(f"{k} rows={v[0]} price_cents={v[1]}" for k, v in totals.items())
              + (" OK" if ok else " MISMATCH"), flush=True)
        for r in out:
            r["verified"] = ok
    if not args.keep:
        for path in works.values():
            shutil.rmtree(path, ignore_errors=True)
    return out


def summarize(results: list[dict[str, Any]], ns: list[int], have_floor: bool) -> tuple[str, list[str]]:
    """The median table and the target checks."""
    med: dict[tuple[int, str, str], dict[str, float]] = {}
    for key in {(r["n"], r["tool"], r["phase"]) for r in results}:
        rs = [r for r in results if (r["n"], r["tool"], r["phase"]) == key]
        med[key] = {f: median(r[f] for r in rs) for f in ("wall", "inrun", "rss", "rows", "products")}
        med[key]["reps"] = len(rs)
        med[key]["ok"] = all(r["verified"] for r in rs)
    rows = []
    for n in ns:
        for phase in PHASES:
            floor = med.get((n, "floor", phase))
            for tool in ("floor", "engine", "host", *PEERS):
                m = med.get((n, tool, phase))
                if m is None:
                    continue
                ratio = f"{m['wall'] / floor['wall']:.2f}x" if floor and tool != "host" else "-"
                rows.append([f"{n:,}", tool, phase, f"{m['wall']:.3f}", f"{m['inrun']:.3f}",
                             f"{m['rows'] / m['wall']:,.0f}",
                             f"{m['rss']:.1f}", ratio, f"{m['rows']:,.0f}", f"{m['products']:,.0f}",
                             f"{int(m['reps'])}{'' if m['ok'] else ' (verify MISMATCH)'}"])
    text = table(["N", "tool", "phase", "wall s", "in-run s", "records/s", "peak RSS MiB", "x floor", "variant rows",
                  "products", "reps"], rows)
    checks = []
    for n in ns:
        eng = med.get((n, "engine", "full"))
        flo = med.get((n, "floor", "full"))
        if eng and flo:
            ratio = eng["wall"] / flo["wall"]
            checks.append(f"{'PASS' if ratio <= TARGET_FLOOR_RATIO else 'MISS'}  N={n:,}: full run {eng['wall']:.3f}s "
                          f"= {ratio:.2f}x the floor's {flo['wall']:.3f}s (target <= {TARGET_FLOOR_RATIO}x)")
        elif eng and not have_floor:
            checks.append(f"SKIP  N={n:,}: full run vs floor (no floor)")
    if len(ns) > 1:
        lo, hi = min(ns), max(ns)
        rss = {n: max(med[(n, "engine", p)]["rss"] for p in PHASES if (n, "engine", p) in med) for n in (lo, hi)}
        growth = rss[hi] / rss[lo]
        checks.append(f"{'PASS' if growth <= TARGET_RSS_GROWTH else 'MISS'}  peak RSS {rss[hi]:.1f} MiB at {hi:,} "
                      f"= {growth:.2f}x the {rss[lo]:.1f} MiB at {lo:,} (target <= {TARGET_RSS_GROWTH}x)")
    for n in ns:
        full, incr = med.get((n, "engine", "full")), med.get((n, "engine", "incr"))
        if full and incr:
            speedup = full["wall"] / incr["wall"]
            inrun = full["inrun"] / incr["inrun"] if incr["inrun"] else float("nan")
            checks.append(f"{'PASS' if speedup >= TARGET_INCR_SPEEDUP else 'MISS'}  N={n:,}: 1%-changed run "
                          f"{incr['wall']:.3f}s is {speedup:.1f}x faster than the full run {full['wall']:.3f}s "
                          f"by wall (target >= {TARGET_INCR_SPEEDUP:g}x)")
            checks.append(f"{'PASS' if inrun >= TARGET_INCR_SPEEDUP else 'MISS'}  N={n:,}: the same without process "
                          f"start (the runs' own timers): {incr['inrun']:.3f}s vs {full['inrun']:.3f}s = {inrun:.1f}x")
            hfull, hincr = med.get((n, "host", "full")), med.get((n, "host", "incr"))
            if hfull and hincr:
                hs = hfull["wall"] / hincr["wall"]
                checks.append(f"{'PASS' if hs >= TARGET_INCR_SPEEDUP else 'MISS'}  N={n:,}: in a long-running "
                              f"process (host): {hincr['wall']:.3f}s vs {hfull['wall']:.3f}s = {hs:.1f}x")
            flo_full, flo_incr = med.get((n, "floor", "full")), med.get((n, "floor", "incr"))
            if flo_full and flo_incr:
                checks.append(f"      (the floor itself: {flo_full['wall'] / flo_incr['wall']:.1f}x by wall, "
                              f"{flo_full['inrun'] / flo_incr['inrun']:.1f}x without process start)")
    return text, checks


# What the writing process of every engine run imports before its own code (the engine holds collection while
# it starts, so here too). On SQLite the forked reader imports httpx, the writer does not; neither imports the ORM.
STACK = "import gc; gc.disable(); import click, sqlalchemy"


def stack_floor(results: list[dict[str, Any]], ns: list[int], reps: int) -> list[str]:
    """How much of the 1.5x target's room the engine's packages take before any of its own code runs."""
    walls = [run_measured([PY, "-c", STACK], env=repo_env()).wall_s for _ in range(max(reps, 3))]
    stack = median(walls)
    out = [f"INFO  starting Python and importing click and SQLAlchemy alone: {stack:.3f}s "
           f"(median of {len(walls)})"]
    for n in ns:
        flo = [r["wall"] for r in results if (r["n"], r["tool"], r["phase"]) == (n, "floor", "full")]
        if flo:
            room = (TARGET_FLOOR_RATIO - 1) * median(flo)
            out.append(f"      N={n:,}: the {TARGET_FLOOR_RATIO}x target leaves {room:.3f}s beyond the floor's run; "
                       f"that start alone is {stack / room:.0%} of it")
    return out


def main() -> None:
    """Parse arguments, run the matrix, print the table and the target checks."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ns", default="10000,100000", help="product counts, comma separated")
    ap.add_argument("--reps", type=int, default=3, help="repetitions (medians are reported)")
    ap.add_argument("--floor", type=Path, default=FLOOR_DEFAULT, help="the hand-written floor script")
    ap.add_argument("--peers", default="", help=f"also run these peers of the shared benchmark: {', '.join(PEERS)}")
    ap.add_argument("--peer-python", default=PY, help="the Python with the peers' packages (their venv)")
    ap.add_argument("--seed", type=int, default=42, help="sandbox data seed")
    ap.add_argument("--pct", type=float, default=1.0, help="percent of products changed before the incr phase")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per run")
    ap.add_argument("--work", type=Path, default=None, help="work folder (default: a temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep the databases")
    ap.add_argument("--no-host", action="store_true", help="leave out the engine in a long-running process")
    args = ap.parse_args()
    ns = [int(x) for x in args.ns.split(",") if x]
    args.peer_list = [p for p in args.peers.split(",") if p]
    unknown = [p for p in args.peer_list if p not in PEERS]
    if unknown:
        ap.error(f"unknown peers {unknown}; known: {', '.join(PEERS)}")
    args.peers_dir = args.floor.resolve().parent
    floor: Path | None = args.floor.resolve()
    if not floor.is_file():
        print(f"# the floor {floor} is absent: its columns are skipped", flush=True)
        floor = None
    # The project's bytecode, current, as installing a wheel writes it: a tree edited since `make setup` (or a
    # machine that sets PYTHONDONTWRITEBYTECODE) would otherwise compile the edited modules in every run.
    subprocess.run([PY, "-m", "compileall", "-q", "engine", "plugins"], cwd=REPO, check=True)
    root = args.work or Path(tempfile.mkdtemp(prefix="bench-update-products-"))
    root.mkdir(parents=True, exist_ok=True)
    print(f"# python {sys.version.split()[0]}, sqlite {sqlite3.sqlite_version}, work {root}", flush=True)
    results: list[dict[str, Any]] = []
    for n in ns:
        for rep in range(args.reps):
            results.extend(one_rep(n, rep, args, floor, root))
    text, checks = summarize(results, ns, floor is not None)
    checks.extend(stack_floor(results, ns, args.reps))
    print()
    print(f"update_products, medians of {args.reps}: records/s = variant rows / process wall; in-run = the tool's "
          "own timer after start-up (engine: the execution's duration); x floor = wall / floor wall; "
          "host: the engine in a long-running process, wall = the run call")
    print(text)
    print()
    for line in checks:
        print(line)
    if args.work is None and not args.keep:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()

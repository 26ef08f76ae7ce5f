"""End to end, read-ahead: ``connect-engine run`` reads the sandbox's pages in a forked reader, faults and all.

The command line is run as a process of its own (read-ahead only happens in a
process that runs nothing else), against a sandbox of enough pages that the
first one says the reader is worth forking, on SQLite and PostgreSQL. The store
misbehaves meanwhile: the reader's retries must lose and double nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.app import Engine
from plugins.shopify.sandbox import ShopifySandbox
from tests.plugins.shopify.conftest import PAGE_SIZE, PLUGINS, ROOT, SHOP, ShopApi, hub_products, sandbox_env

PRODUCTS = 120  # 18 pages of 7: the first says 17 more are coming


def connect_engine(work: Path, raw: dict[str, Any], sb: ShopifySandbox, *args: str) -> subprocess.CompletedProcess[str]:
    """``connect-engine --verbose ARGS`` as a process of its own, on ``raw`` (the config fixture's) as engine.yaml.

    ``raw`` loses its ``root`` for the repository's feed and mapping folders.
    """
    raw.pop("root")
    raw.update(feeds_dir=str(ROOT / "feeds.d"), mappings_dir=str(ROOT / "mappings"))
    path = work / "engine.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("CONNECT_ENGINE_")},
           **sandbox_env(sb), "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", "import sys; from engine.cli import main; sys.exit(main())",
                           "--config", str(path), "--verbose", *args], cwd=work, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.parametrize("faults", [{"error_rate": 0.2, "seed": 3}, {"truncate_rate": 0.1, "seed": 5}],
                         ids=["5xx", "truncated"])
def test_a_read_ahead_run_survives_faults_with_nothing_lost(faults: dict[str, Any], tmp_path: Path,
                                                            config: Callable[..., dict[str, Any]]) -> None:
    assert PRODUCTS - PAGE_SIZE >= 8 * PAGE_SIZE  # enough pages after the first for the reader to be forked
    with ShopifySandbox(products=PRODUCTS, orders=0, seed=2, rate_limit=False) as sb:
        skus = set(ShopApi(sb).variants())
        raw = config()
        sb.set_faults(**faults)
        proc = connect_engine(tmp_path, raw, sb, "run", "update_products", "--integration", SHOP, "--json")
        served = sb.stats()["faults"]["served"]

    assert proc.returncode == 0, proc.stderr
    assert "reading ahead in process" in proc.stderr or "to read the store while" in proc.stderr  # from the reader,
    assert "taking the pages read since before the run started" in proc.stderr  # forked before the run started
    if raw["database"].startswith("sqlite"):  # forked before the command loaded (engine.earlyfork)
        assert "the store has been read since before start-up" in proc.stderr
    else:  # forked once the command has loaded (engine.earlyread)
        assert "to read the store while this one starts" not in proc.stderr
    assert sum(served.values()) > 0, served  # and the store did misbehave
    info = json.loads(proc.stdout[proc.stdout.index("{"):])
    assert info["status"] == "success", info
    assert info["counts"]["read"] == PRODUCTS and info["counts"]["created"] == len(skus)
    with Engine.from_config(raw, plugins=PLUGINS, env={"SHOPIFY_SHOP_URL": "http://unused.invalid",
                                                       "SHOPIFY_TOKEN": "unused"}) as engine:
        stored = [p["sku"] for p in hub_products(engine)]
    assert sorted(stored) == sorted(skus)  # every variant once


def test_run_due_one_feed_at_a_time_reads_ahead_too(tmp_path: Path, config: Callable[..., dict[str, Any]]) -> None:
    with ShopifySandbox(products=PRODUCTS, orders=0, seed=2, rate_limit=False) as sb:
        skus = set(ShopApi(sb).variants())
        raw = config()
        proc = connect_engine(tmp_path, raw, sb, "run", "--due", "--pool", "1", "--json")

    assert proc.returncode == 0, proc.stderr
    assert "reading ahead in process" in proc.stderr
    results = {(r["integration"], r["feed"]): r for r in json.loads(proc.stdout[proc.stdout.index("{"):])["results"]}
    run = results[(SHOP, "update_products")]
    assert run["status"] == "success" and run["execution"]["counts"]["read"] == PRODUCTS, run
    with Engine.from_config(raw, plugins=PLUGINS, env={"SHOPIFY_SHOP_URL": "http://unused.invalid",
                                                       "SHOPIFY_TOKEN": "unused"}) as engine:
        assert sorted(p["sku"] for p in hub_products(engine)) == sorted(skus)  # every variant once

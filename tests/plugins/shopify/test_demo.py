"""The main job, ``connect-engine demo``: the whole cycle runs to the end, also on a shop too small for some steps."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from plugins.shopify.demo import run_demo

ROOT = Path(__file__).resolve().parents[3]


def demo_config(tmp_path: Path) -> Path:
    raw = yaml.safe_load((ROOT / "engine.yaml").read_text(encoding="utf-8"))
    raw.update(feeds_dir=str(ROOT / "feeds.d"), mappings_dir=str(ROOT / "mappings"))
    path = tmp_path / "engine.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def test_the_demo_runs_the_whole_cycle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_demo(demo_config(tmp_path), products=20, orders=40, seed=7) == 0
    out = capsys.readouterr().out
    assert "skipped" not in out
    assert "is now paid" in out and "-> cancelled" in out and "is now LIVE" in out
    assert "the store received 1 fulfilment(s) and 2 stock update(s)" in out
    executions = out.split("== Executions", 1)[1].split("== Notifications", 1)[0]
    assert "failed" not in executions
    assert executions.count("stock_check") == 2 and (tmp_path / "var" / "demo.db").is_file()


@pytest.mark.parametrize("orders", [0, 1])
def test_a_shop_with_too_few_orders_skips_those_steps_and_says_why(tmp_path: Path, orders: int,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert run_demo(demo_config(tmp_path), products=5, orders=orders, seed=7) == 0
    out = capsys.readouterr().out
    assert "skipped: the sandbox has no unpaid order (give it more --orders)" in out
    assert "skipped: the hub needs two open orders" in out
    assert "== 6. The nightly stock check is clean" in out

"""End to end, faults: the store misbehaves (5xx, cut bodies, timeouts, 429 storms) and nothing is lost or doubled.

Against the Shopify sandbox over HTTP, on SQLite and PostgreSQL. The hub's
rows are compared with what the store's API says they must be.
"""

from __future__ import annotations

from typing import Any

import pytest

from engine import hubapi
from plugins.shopify.sandbox import ShopifySandbox
from tests.plugins.shopify.conftest import (
    FULFILMENTS_PATH,
    PAGE_SIZE,
    SHOP,
    EngineFactory,
    ShopApi,
    expected_orders,
    go_live,
    hub_orders,
    hub_products,
    run,
    store_writes,
)

#: (error_rate, seed) of 502s that spare the looks before the fulfilment POST and fail the POST itself.
LOST = (0.5, 3)
#: Connector timeout of the timeout case; the sandbox holds those answers a little longer.
TIMEOUT = 0.3
FAULTS: dict[str, dict[str, Any]] = {
    "error": {"error_rate": 0.2, "seed": 3},
    "truncate": {"truncate_rate": 0.1, "seed": 5},
    "timeout": {"timeout_rate": 0.1, "timeout_s": TIMEOUT + 0.2, "seed": 3},
    "storm_429": {"storm_429": 2},
}


@pytest.mark.parametrize("kind", sorted(FAULTS))
def test_faults_lose_and_double_nothing(kind: str, make_engine: EngineFactory, sb: ShopifySandbox,
                                        shop: ShopApi) -> None:
    skus = set(shop.variants())
    orders = shop.orders()
    lines = {str(o["id"]): len(o["line_items"]) for o in orders}
    want = expected_orders(orders)
    engine = make_engine(timeout_seconds=TIMEOUT) if kind == "timeout" else make_engine()
    if kind == "storm_429":
        sb.set_rate_limit(True)  # pacing and the leaky bucket stay on while the storm passes
    sb.reset_stats()
    sb.set_faults(**FAULTS[kind])

    run(engine, "import_new_products")
    run(engine, "import_new_orders", "partial")

    stats = sb.stats()
    served = stats["faults"]["served"]
    assert served[kind] > 0, served  # the store did misbehave
    if kind == "storm_429":
        assert served["storm_429"] == 2 and stats["by_status"]["429"] == 2
    products = hub_products(engine)
    assert {p["sku"] for p in products} == skus and len(products) == len(skus)
    hub = hub_orders(engine)
    assert {o["external_id"] for o in hub} == want["imported"] and len(hub) == len(want["imported"])
    assert all(len(o["lines"]) == lines[o["external_id"]] for o in hub)
    assert {p.record_key for p in engine.parked(integration=SHOP)} == want["parked"]
    bell = engine.notifications(integration=SHOP)
    assert {n.record_key for n in bell} == want["bell"]  # no failed run rang


def test_a_run_failing_mid_way_resumes_after_its_last_committed_page(make_engine: EngineFactory,
                                                                      sb: ShopifySandbox, shop: ShopApi) -> None:
    engine = make_engine(max_retries=1)
    products = sorted(shop.products(), key=lambda p: p["id"])
    committed = products[:3 * PAGE_SIZE]
    pages: list[dict[str, int]] = []

    def after_page(counts: dict[str, int], total: int | None) -> None:
        pages.append(counts)
        if len(pages) == 3:  # the store breaks down after three committed pages
            sb.set_faults(error_rate=1.0)

    failed = run(engine, "import_new_products", "failed", progress=after_page)

    assert "500" in (failed.message or "")
    assert failed.counts["read"] == len(committed)
    assert failed.cursor_after["run"]["last_id"] == committed[-1]["id"]
    done = {v["sku"] for p in committed for v in p["variants"]}
    assert {p["sku"] for p in hub_products(engine)} == done

    still = run(engine, "import_new_products", "failed")
    assert still.cursor_before == still.cursor_after == failed.cursor_after
    assert {p["sku"] for p in hub_products(engine)} == done

    (bell,) = [n for n in engine.notifications(integration=SHOP) if n.record_key is None]
    assert bell.feed == "import_new_products" and bell.count == 2  # one notification for the two failed runs

    sb.clear_faults()
    resumed = run(engine, "import_new_products")

    assert resumed.cursor_before == failed.cursor_after and "run" not in resumed.cursor_after
    assert resumed.counts["read"] == len(products) - len(committed)
    every = [v["sku"] for p in products for v in p["variants"]]
    assert resumed.counts["created"] == len(every) - len(done) and resumed.counts["updated"] == 0
    hub = hub_products(engine)
    assert sorted(p["sku"] for p in hub) == sorted(every)
    assert [n for n in engine.notifications(integration=SHOP) if n.record_key is None] == []  # fixed: resolved


def test_a_timed_out_fulfilment_post_is_neither_doubled_nor_an_error(make_engine: EngineFactory,
                                                                       sb: ShopifySandbox, shop: ShopApi) -> None:
    """The store applies a timed-out POST a moment later: the POST is not sent again, the order is re-read.

    The fault seed makes the first POST of a fulfilment time out; the store applies the held request
    after the client gave up. Sending it again would fulfil twice whenever something is left to fulfil
    (a shipment of some lines); the fulfilment counts as created once the order shows it.
    """
    engine = make_engine(timeout_seconds=TIMEOUT)
    go_live(engine)
    run(engine, "import_new_orders", "partial")
    keys = sorted(expected_orders(shop.orders())["imported"])[:2]
    before = {k: len(sb.fulfillments(int(k))) for k in keys}
    for n, key in enumerate(keys):
        hubapi.create_shipment(engine, key, carrier="dhl", tracking=f"E2E-SLOW-{n}", integration=SHOP)
    sb.set_faults(timeout_rate=0.2, timeout_s=TIMEOUT + 0.2, seed=5)

    info = run(engine, "shipping_confirmation")

    posts = [(w["body"]["fulfillment"]["tracking_info"]["number"], w["status"])
             for w in store_writes(sb, FULFILMENTS_PATH)]
    assert sorted(posts) == [(f"E2E-SLOW-{n}", 201) for n in range(len(keys))], posts  # never sent twice
    assert sb.stats()["faults"]["served"]["timeout"] > 0  # and one of them did time out
    assert info.counts["created"] == len(keys) and info.counts["errors"] == 0
    for n, key in enumerate(keys):
        fulfilments = sb.fulfillments(int(key))
        assert len(fulfilments) == before[key] + 1
        assert fulfilments[-1]["tracking_number"] == f"E2E-SLOW-{n}"
    assert [n for n in engine.notifications(integration=SHOP) if n.feed == "shipping_confirmation"] == []
    sb.clear_faults()
    assert run(engine, "shipping_confirmation").counts["created"] == 0


def test_a_fulfilment_post_whose_answer_was_lost_is_sent_again_only_by_a_later_run(
        make_engine: EngineFactory, sb: ShopifySandbox, shop: ShopApi) -> None:
    """A 5xx may come after the shop applied the request: the run stops rather than send it again blind."""
    engine = make_engine(max_retries=1)  # the store answers nothing but 502s: no point waiting out five retries
    go_live(engine)
    run(engine, "import_new_orders", "partial")
    key = sorted(expected_orders(shop.orders())["imported"])[0]
    before = len(sb.fulfillments(int(key)))
    hubapi.create_shipment(engine, key, carrier="dhl", tracking="E2E-LOST-0", integration=SHOP)
    sb.reset_stats()
    sb.set_faults(error_rate=LOST[0], error_status=502, seed=LOST[1])

    failed = run(engine, "shipping_confirmation", "failed")
    assert "answer to the fulfillment with tracking number E2E-LOST-0 was lost" in (failed.message or ""), failed
    posts = {route: n for route, n in sb.stats()["by_route"].items() if route.startswith("POST")}
    assert list(posts.values()) == [1], posts  # the POST whose answer was lost is not repeated in the run

    sb.clear_faults()
    done = run(engine, "shipping_confirmation")
    assert done.counts["created"] == 1
    assert len(sb.fulfillments(int(key))) == before + 1

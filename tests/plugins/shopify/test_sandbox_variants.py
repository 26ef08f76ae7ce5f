"""The Shopify sandbox's products with more than 100 variants, over real HTTP: REST shows 100, GraphQL the rest."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from plugins.shopify.sandbox import ShopifySandbox
from plugins.shopify.sandbox.cli import build_parser

TOKEN = "shpat_sandbox"
QUERY = """query ProductVariantsPage($id: ID!, $first: Int!, $after: String) {
  product(id: $id) {
    variants(first: $first, after: $after) {
      pageInfo { hasNextPage endCursor }
      nodes {
        id legacyResourceId sku position
        inventoryItem { legacyResourceId measurement { weight { unit value } } }
      }
    }
  }
}"""
#: Points QUERY asks with first: 100 (product 1, connection 2, per variant: it, its item, measurement, weight).
COST_100 = 1 + 2 + 100 * 4
GRAPHQL_ROUTE = "POST /admin/api/{version}/graphql.json"


@pytest.fixture
def sb() -> Iterator[ShopifySandbox]:
    with ShopifySandbox(products=12, orders=5, seed=1, rate_limit=False) as sandbox:
        yield sandbox


def big_product(sb: ShopifySandbox, count: int = 230, number: int = 2) -> dict[str, Any]:
    """Product ``number`` (1-based) given ``count`` variants through the control interface."""
    pid = httpx.get(f"{sb.api_url}/products.json", headers={"X-Shopify-Access-Token": TOKEN},
                    params={"limit": 250}).json()["products"][number - 1]["id"]
    answer = httpx.post(f"{sb.url}/__sandbox/products/{pid}/variants", json={"count": count})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"product_id": pid, "variants": count}
    return sb.product(pid)


def query(api: httpx.Client, product_gid: str, first: int = 100, after: str | None = None,
          document: str = QUERY) -> httpx.Response:
    return api.post("graphql.json", json={"query": document,
                                          "variables": {"id": product_gid, "first": first, "after": after}})


def all_nodes(api: httpx.Client, product_gid: str, first: int = 100) -> tuple[list[dict[str, Any]], list[Any]]:
    nodes: list[dict[str, Any]] = []
    costs: list[Any] = []
    after = None
    while True:
        body = query(api, product_gid, first, after).json()
        assert "errors" not in body, body
        connection = body["data"]["product"]["variants"]
        nodes.extend(connection["nodes"])
        costs.append(body["extensions"]["cost"])
        if not connection["pageInfo"]["hasNextPage"]:
            return nodes, costs
        after = connection["pageInfo"]["endCursor"]


# -- the seed's data stay put ----------------------------------------------------------------------


def test_default_data_are_unchanged_by_the_variant_ranges(sb: ShopifySandbox, api: httpx.Client) -> None:
    body = api.get("products.json", params={"limit": 250}).content.replace(sb.url.encode(), b"URL")
    # The catalog of seed 1 as generated before products could hold more than 100 variants.
    assert hashlib.sha256(body).hexdigest() == "d630723ab9b479600c4952e048b494118c8e8b06f152aad73c3c76326350f470"
    assert sb.stats()["by_route"].get(GRAPHQL_ROUTE) is None


def test_variant_counts_give_the_same_products_on_every_start() -> None:
    def snapshot() -> list[dict[str, Any]]:
        with ShopifySandbox(products=6, orders=3, seed=4, rate_limit=False, variant_counts={3: 150}) as sandbox:
            pid = httpx.get(f"{sandbox.api_url}/products.json", headers={"X-Shopify-Access-Token": TOKEN}
                            ).json()["products"][2]["id"]
            return sandbox.product(pid)["variants"]

    first, second = snapshot(), snapshot()
    assert first == second and len(first) == 150
    assert len({v["id"] for v in first}) == len({v["inventory_item_id"] for v in first}) == 150
    assert [v["position"] for v in first] == list(range(1, 151))


# -- REST shows 100 --------------------------------------------------------------------------------


def test_every_rest_endpoint_shows_the_first_100_variants(sb: ShopifySandbox, api: httpx.Client) -> None:
    product = big_product(sb)
    pid, variants = product["id"], product["variants"]
    first_100 = [v["id"] for v in variants[:100]]

    listed = next(p for p in api.get("products.json", params={"limit": 250}).json()["products"] if p["id"] == pid)
    assert [v["id"] for v in listed["variants"]] == first_100
    assert [v["id"] for v in api.get(f"products/{pid}.json").json()["product"]["variants"]] == first_100
    by_fields = api.get(f"products/{pid}.json", params={"fields": "id,variants"}).json()["product"]
    assert [v["id"] for v in by_fields["variants"]] == first_100
    assert [v["id"] for v in api.get(f"products/{pid}/variants.json").json()["variants"]] == first_100
    assert api.get(f"variants/{variants[99]['id']}.json").status_code == 200
    assert api.get(f"variants/{variants[100]['id']}.json").status_code == 404
    # Inventory is its own resource: items past the 100th variant are there.
    item = variants[200]["inventory_item_id"]
    assert api.get("inventory_items.json", params={"ids": item}).json()["inventory_items"][0]["sku"] == \
        variants[200]["sku"]
    level = api.get("inventory_levels.json", params={"inventory_item_ids": item}).json()["inventory_levels"]
    assert [lv["available"] for lv in level] == [variants[200]["inventory_quantity"]]
    assert sb.info()["variants"] == sum(len(p["variants"]) for p in
                                        (sb.product(q["id"]) for q in api.get("products.json").json()["products"]))


def test_a_locations_levels_page_through_every_item_of_a_wide_product(sb: ShopifySandbox, api: httpx.Client) -> None:
    variants = big_product(sb)["variants"]
    primary = sb.info()["primary_location_id"]
    levels, pages = [], 0
    response = api.get("inventory_levels.json", params={"location_ids": primary, "limit": 50})
    while True:
        assert response.status_code == 200, response.text
        levels += response.json()["inventory_levels"]
        pages += 1
        if "next" not in response.links:
            break
        response = api.get(response.links["next"]["url"])
    items = [lv["inventory_item_id"] for lv in levels]
    assert items == sorted(set(items)) and pages > 1  # ascending, each once, across pages
    assert {v["inventory_item_id"] for v in variants} <= set(items)
    assert len(items) == sb.info()["variants"]


def test_shrinking_drops_the_last_variants_and_bad_counts_are_refused(sb: ShopifySandbox) -> None:
    product = big_product(sb, 120)
    assert len(sb.set_variant_count(product["id"], 101)["variants"]) == 101
    assert [v["id"] for v in sb.product(product["id"])["variants"]] == [v["id"] for v in product["variants"][:101]]
    for bad in (0, 2049, "7"):
        answer = httpx.post(f"{sb.url}/__sandbox/products/{product['id']}/variants", json={"count": bad})
        assert answer.status_code == 400 and "1 to 2048 variants" in answer.text
    assert httpx.post(f"{sb.url}/__sandbox/products/1/variants", json={"count": 5}).status_code == 404


def test_the_command_line_gives_products_variants() -> None:
    assert build_parser().parse_args(["--variants", "3=230", "--variants", "1=2"]).variants == [(3, 230), (1, 2)]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--variants", "3:230"])
    with pytest.raises(ValueError, match="no product number 9"):
        ShopifySandbox(products=5, orders=1, variant_counts={9: 200})


# -- GraphQL -------------------------------------------------------------------------------------


def test_graphql_pages_through_every_variant_in_rest_ids(sb: ShopifySandbox, api: httpx.Client) -> None:
    product = big_product(sb)
    sb.reset_stats()

    nodes, costs = all_nodes(api, product["admin_graphql_api_id"])

    want = product["variants"]
    assert [int(n["legacyResourceId"]) for n in nodes] == [v["id"] for v in want]
    assert [n["id"] for n in nodes] == [f"gid://shopify/ProductVariant/{v['id']}" for v in want]
    assert [n["sku"] for n in nodes] == [v["sku"] for v in want]
    assert [n["position"] for n in nodes] == list(range(1, 231))
    assert [int(n["inventoryItem"]["legacyResourceId"]) for n in nodes] == [v["inventory_item_id"] for v in want]
    units = {"kg": "KILOGRAMS", "g": "GRAMS", "lb": "POUNDS"}
    assert all(n["inventoryItem"]["measurement"]["weight"] == {"unit": units[v["weight_unit"]], "value": v["weight"]}
               for n, v in zip(nodes, want, strict=True))
    assert [c["requestedQueryCost"] for c in costs] == [COST_100] * 3
    assert [c["actualQueryCost"] for c in costs] == [COST_100, COST_100, 3 + 30 * 4]
    assert costs[0]["throttleStatus"] == {"maximumAvailable": 2000.0, "currentlyAvailable": 2000, "restoreRate": 100.0}
    stats = sb.stats()
    assert stats["by_route"][GRAPHQL_ROUTE] == 3
    assert sb.writes() == []  # a query is not a write


def test_graphql_answers_carry_no_rest_call_limit_and_need_the_token(sb: ShopifySandbox, api: httpx.Client) -> None:
    product = big_product(sb)
    answer = query(api, product["admin_graphql_api_id"])
    assert answer.status_code == 200 and "X-Shopify-Shop-Api-Call-Limit" not in answer.headers
    assert answer.headers["X-Shopify-API-Version"] == "2024-07"
    bad = httpx.post(f"{sb.api_url}/graphql.json", json={"query": QUERY}, headers={"X-Shopify-Access-Token": "x"})
    assert bad.status_code == 401
    assert bad.json() == {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}


def test_graphql_refuses_what_shopify_refuses(sb: ShopifySandbox, api: httpx.Client) -> None:
    gid = big_product(sb)["admin_graphql_api_id"]

    def errors(answer: httpx.Response) -> list[str]:
        assert answer.status_code == 200
        return [e["message"] for e in answer.json()["errors"]]

    assert errors(query(api, gid, first=251)) == [
        "first cannot exceed 250. To query larger amounts of data with fewer limits, bulk operations should be "
        "used instead."]
    assert errors(query(api, gid, first=250)) == [
        "Query cost is 1003, which exceeds the single query max cost limit (1000)."]
    assert errors(api.post("graphql.json", json={"query": "{ shop { name } }"})) == [
        "Field 'shop' doesn't exist on type 'QueryRoot'"]
    assert errors(query(api, gid, document=QUERY.replace("sku", "skew"))) == [
        "Field 'skew' doesn't exist on type 'ProductVariant'"]
    assert errors(api.post("graphql.json", json={"query": QUERY, "variables": {"first": 5}})) == [
        "Variable $id of type ID! was provided invalid value"]
    assert errors(api.post("graphql.json", json={"variables": {}})) == ["No query string was present"]
    assert errors(api.post("graphql.json", json={"query": "{ product(id: "})) == ["Unexpected end of document"]
    assert errors(query(api, "8000000001940")) == ["Invalid global id '8000000001940'"]
    mutation = 'mutation { productDelete(input: {id: "x"}) { deletedProductId } }'
    assert errors(api.post("graphql.json", json={"query": mutation})) == [
        "Field 'productDelete' doesn't exist on type 'Mutation'"]
    assert query(api, "gid://shopify/Product/1").json()["data"] == {"product": None}


def test_graphql_denies_a_token_without_read_products(sb: ShopifySandbox, api: httpx.Client) -> None:
    gid = big_product(sb)["admin_graphql_api_id"]
    sb.set_scopes(["read_orders", "read_inventory"])
    body = query(api, gid).json()
    assert body["data"] == {"product": None}
    assert body["errors"][0]["message"] == ("Access denied for product field. Required access: `read_products` "
                                            "access scope.")
    assert body["errors"][0]["extensions"]["code"] == "ACCESS_DENIED"


def test_a_frozen_cost_bucket_refills_only_as_time_is_passed(monkeypatch: pytest.MonkeyPatch) -> None:
    from plugins.shopify.sandbox import faults

    clock = [1000.0]
    monkeypatch.setattr(faults, "time", type("Clock", (), {"monotonic": staticmethod(lambda: clock[0])}))
    bucket = faults.CostBucket(maximum=1000, restore_rate=50)
    bucket.set(available=100, frozen=True)
    clock[0] += 5  # real time goes by: nothing comes back
    assert bucket.snapshot()["available"] == 100 and bucket.snapshot()["frozen"] is True
    bucket.pass_time(2)
    assert bucket.snapshot()["available"] == 200
    bucket.set(frozen=False)  # the clock runs again from where it stood
    assert bucket.snapshot()["available"] == 200
    clock[0] += 1
    assert bucket.snapshot()["available"] == 250
    with pytest.raises(ValueError, match="frozen must be true or false"):
        bucket.set(frozen="yes")  # type: ignore[arg-type]


def test_graphql_cost_limit_is_off_without_rate_limiting(sb: ShopifySandbox, api: httpx.Client) -> None:
    gid = big_product(sb)["admin_graphql_api_id"]
    sb.set_graphql_limit(available=0)
    assert "data" in query(api, gid).json()
    assert sb.info()["graphql_cost_limit"] is False


@pytest.mark.parametrize("status", [200, 429])
def test_graphql_throttles_a_query_the_bucket_cannot_pay(status: int, sb: ShopifySandbox, api: httpx.Client) -> None:
    gid = big_product(sb)["admin_graphql_api_id"]
    control = f"{sb.url}/__sandbox/graphql_limit"
    limit = httpx.post(control, json={"enabled": True, "maximum": 1000, "restore_rate": 50, "available": 100,
                                      "throttle_status": status}).json()
    assert limit["enabled"] and limit["maximum"] == 1000 and limit["available"] >= 100

    throttled = query(api, gid)

    assert throttled.status_code == status
    body = throttled.json()
    assert "data" not in body
    assert body["errors"] == [{"message": "Throttled", "extensions": {
        "code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"}}]
    cost = body["extensions"]["cost"]
    assert cost["requestedQueryCost"] == COST_100 and cost["actualQueryCost"] is None
    assert cost["throttleStatus"]["maximumAvailable"] == 1000.0 and cost["throttleStatus"]["restoreRate"] == 50.0
    assert 100 <= cost["throttleStatus"]["currentlyAvailable"] < COST_100
    assert sb.stats()["graphql_throttled"] == 1

    wait = (COST_100 - cost["throttleStatus"]["currentlyAvailable"]) / 50
    assert httpx.post(f"{control}/pass", json={"seconds": wait}).status_code == 200
    paid = query(api, gid).json()
    assert paid["extensions"]["cost"]["actualQueryCost"] == COST_100
    assert paid["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] < 50  # the query took what it asked

    sb.set_rate_limit(False)  # rate limiting off switches the cost limit off too
    assert "data" in query(api, gid).json() and httpx.get(control).json()["enabled"] is False


def test_rate_limited_sandbox_starts_with_the_cost_limit_on() -> None:
    with ShopifySandbox(products=3, orders=1, seed=1, rate_limit=True) as sandbox:
        assert sandbox.info()["graphql_cost_limit"] is True
        assert sandbox.set_graphql_limit()["available"] == 2000.0


def test_graphql_edges_and_cursors_page_like_nodes(sb: ShopifySandbox, api: httpx.Client) -> None:
    product = big_product(sb, 120)
    edges = """query Edges($id: ID!, $after: String) {
      product(id: $id) { title v: variants(first: 70, after: $after) { edges { cursor node { sku } } } } }"""

    def page(after: str | None) -> dict[str, Any]:
        answer = api.post("graphql.json", json={"query": edges, "variables": {"id": product["admin_graphql_api_id"],
                                                                               "after": after}})
        return answer.json()

    first = page(None)["data"]["product"]
    assert first["title"] == product["title"] and len(first["v"]["edges"]) == 70
    second = page(first["v"]["edges"][-1]["cursor"])["data"]["product"]["v"]["edges"]
    skus = [e["node"]["sku"] for e in first["v"]["edges"] + second]
    assert skus == [v["sku"] for v in product["variants"]]
    assert page("not-a-cursor")["errors"][0]["message"] == "Invalid cursor 'not-a-cursor' for the variants of a product"

"""The product catalog and its inventory levels, rendered lazily and cached as JSON bytes."""

from __future__ import annotations

import random
from typing import Any

import orjson

from .data import (
    ITEM_BASE,
    MAX_VARIANTS,
    PLACEHOLDER_URL,
    REST_VARIANTS,
    VARIANT_BASE,
    build_product,
    build_variant,
    cents,
    dumps,
    gid,
    index_columns,
    iso,
    item_id,
    loads,
    money,
    product_id,
    split_slot,
)

_FIELD_CACHES = 4  # distinct `fields=` selections whose rendered bytes are kept


class Catalog:
    """Products, variants and inventory levels of one sandbox shop.

    A product's serialised JSON is the source of truth once rendered: the initial catalog
    is drawn from the seed on first access, edits decode, change and re-encode it. Only
    the filterable columns (ids, created/updated time, status, variant count) live as
    Python lists, so listing 100,000 products is a join of cached byte strings.

    ``blobs`` hold what the REST API shows: a product with more than 100 variants
    (``resize``) shows its first 100 there, as on Shopify, and is kept whole in ``full``
    (what :meth:`product` and the GraphQL API read).

    Args:
        count: number of generated products.
        seed: data seed; the same seed always yields the same catalog.
        primary_location: location id holding the generated stock.
        location_ids: every valid location id.
    """

    def __init__(self, count: int, seed: int, primary_location: int, location_ids: list[int]) -> None:
        self.seed = seed
        self.primary = primary_location
        self.location_ids = list(location_ids)
        self.created, self.updated, self.nvar, self.status = index_columns(seed, count)
        self.ids = [product_id(i) for i in range(count)]
        self.pos = {pid: i for i, pid in enumerate(self.ids)}
        self.blobs: list[bytes | None] = [None] * count
        self.full: dict[int, bytes] = {}
        self.base_url = PLACEHOLDER_URL
        self.version = 0
        self.levels: dict[int, dict[int, list[int]]] = {}
        self._keys: dict[bytes, list[Any]] = {}
        self._fields: dict[tuple[str, ...], dict[int, bytes]] = {}
        self._touch_rng = random.Random(f"touch:{seed}")

    # -- rendering --------------------------------------------------------------------------
    def rebase(self, url: str) -> None:
        """Point image URLs at ``url`` (the server's address once bound)."""
        old, new = self.base_url.encode(), url.encode()
        self.blobs = [b.replace(old, new) if b else b for b in self.blobs]
        self.full = {i: b.replace(old, new) for i, b in self.full.items()}
        self._fields.clear()
        self.base_url = url

    def blob(self, i: int) -> bytes:
        """Return the serialised product at index ``i``, rendering it on first use."""
        b = self.blobs[i]
        if b is None:
            b = self.blobs[i] = dumps(build_product(
                self.seed, i, self.created[i], self.updated[i], self.nvar[i], self.status[i],
                self.base_url))
        return b

    def warm(self) -> None:
        """Render every product now instead of on first request."""
        for i in range(len(self.ids)):
            self.blob(i)

    def product(self, i: int) -> dict[str, Any]:
        """Return a fresh dict of the product at index ``i``, with every variant."""
        whole = self.full.get(i)
        return loads(whole if whole is not None else self.blob(i))

    def rest_product(self, i: int) -> dict[str, Any]:
        """Return the product at index ``i`` as the REST API shows it (at most its first 100 variants)."""
        return loads(self.blob(i))

    def find(self, pid: int) -> int:
        """Return the index of product ``pid``.

        Raises:
            KeyError: unknown product id.
        """
        return self.pos[pid]

    def _store(self, i: int, product: dict[str, Any], updated: int) -> None:
        variants = product["variants"]
        if len(variants) > REST_VARIANTS:
            self.full[i] = dumps(product)
            self.blobs[i] = dumps({**product, "variants": variants[:REST_VARIANTS]})
        else:
            self.full.pop(i, None)
            self.blobs[i] = dumps(product)
        self.updated[i] = updated
        self.status[i] = product["status"]
        self.nvar[i] = len(product["variants"])
        for cache in self._fields.values():
            cache.pop(i, None)
        self.version += 1

    def page_body(self, ids: list[int], fields: tuple[str, ...] | None, key: bytes = b"products") -> bytes:
        """Return ``{"products":[...]}`` for ``ids`` by joining cached bytes."""
        pos, blob = self.pos, self.blob
        if fields is None:
            parts = [blob(pos[pid]) for pid in ids]
        else:
            cache = self._fields.get(fields)
            if cache is None:
                if len(self._fields) >= _FIELD_CACHES:
                    self._fields.pop(next(iter(self._fields)))
                cache = self._fields[fields] = {}
            parts = []
            for pid in ids:
                i = pos[pid]
                b = cache.get(i)
                if b is None:
                    p = loads(blob(i))
                    b = cache[i] = dumps({f: p[f] for f in fields if f in p})
                parts.append(b)
        return b'{"' + key + b'":[' + b",".join(parts) + b"]}"

    # -- queries ------------------------------------------------------------------------------
    def keys(self, f: dict[str, Any]) -> list[int]:
        """Return the ids (ascending) of products matching the filters ``f``.

        Recognised keys: ``ids``, ``since_id``, ``created_at_min/max``, ``updated_at_min/max``
        (epoch seconds, inclusive) and ``status`` (list). Results are cached per data version.
        """
        if not f:
            return self.ids
        ck = orjson.dumps([self.version, f], option=orjson.OPT_SORT_KEYS)
        hit = self._keys.get(ck)
        if hit is not None:
            return hit
        ids, created, updated, status = self.ids, self.created, self.updated, self.status
        big, small = 1 << 62, -(1 << 62)
        since = f.get("since_id") or small
        cmin, cmax = f.get("created_at_min", small), f.get("created_at_max", big)
        umin, umax = f.get("updated_at_min", small), f.get("updated_at_max", big)
        wanted = set(f["status"]) if f.get("status") else None
        wanted_ids = f.get("ids")
        idx = range(len(ids)) if wanted_ids is None else sorted(self.pos[x] for x in wanted_ids if x in self.pos)
        out = [ids[i] for i in idx
               if ids[i] > since and cmin <= created[i] <= cmax and umin <= updated[i] <= umax
               and (wanted is None or status[i] in wanted)]
        if len(self._keys) > 64:
            self._keys.clear()
        self._keys[ck] = out
        return out

    def variant(self, vid: int, rest: bool = False) -> tuple[int, dict[str, Any], dict[str, Any]]:
        """Return ``(product index, product, variant)`` for variant ``vid``.

        Raises:
            KeyError: unknown variant id (or, with ``rest``, one the REST API does not show).
        """
        i, k = split_slot(vid, VARIANT_BASE)
        if not 0 <= i < len(self.ids) or k >= self.nvar[i]:
            raise KeyError(vid)
        if k >= REST_VARIANTS and rest:  # the REST API does not show a product's variants past its 100th
            raise KeyError(vid)
        p = self.product(i)
        for v in p["variants"]:
            if v["id"] == vid:
                return i, p, v
        raise KeyError(vid)

    # -- changes ------------------------------------------------------------------------------
    def edit(self, pid: int, fields: dict[str, Any], variants: dict[int, dict[str, Any]] | None,
             ts: int) -> dict[str, Any]:
        """Set top-level product fields and per-variant fields; stamp ``updated_at`` with ``ts``.

        Raises:
            KeyError: unknown product, or a variant id not of this product.
        """
        i = self.find(pid)
        p = self.product(i)
        by_id = {v["id"]: v for v in p["variants"]}
        for vid, changes in (variants or {}).items():
            v = by_id[int(vid)]
            v.update({k: val for k, val in changes.items() if k != "id"})
            v["updated_at"] = iso(ts)
            if "inventory_quantity" in changes:
                self.levels.pop(v["inventory_item_id"], None)
        p.update({k: val for k, val in fields.items() if k not in ("id", "variants")})
        p["updated_at"] = iso(ts)
        self._store(i, p, ts)
        return p

    def delete_last_variant(self, pid: int, ts: int) -> dict[str, Any]:
        """Delete the product's last variant (with its inventory) and return it; stamp ``updated_at``.

        Only the last one: a variant's ids are its position in the product (``data.variant_id``).

        Raises:
            KeyError: unknown product. ValueError: the product has one variant left.
        """
        i = self.find(pid)
        p = self.product(i)
        if len(p["variants"]) < 2:
            raise ValueError(f"product {pid} has one variant left; Shopify keeps at least one")
        gone = p["variants"].pop()
        self.levels.pop(gone["inventory_item_id"], None)
        for image in p["images"]:
            image["variant_ids"] = [v for v in image["variant_ids"] if v != gone["id"]]
        p["updated_at"] = iso(ts)
        self._store(i, p, ts)
        return gone

    def resize(self, pid: int, count: int, ts: int) -> dict[str, Any]:
        """Give a product ``count`` variants (adding drawn ones, or dropping its last); stamp ``updated_at``.

        A product with one ``Default Title`` variant that grows calls it ``Style 1`` (Shopify shows the
        default title only on a product without options).

        Raises:
            KeyError: unknown product. ValueError: ``count`` outside 1..2048 (Shopify's limit).
        """
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_VARIANTS:
            raise ValueError(f"a product has 1 to {MAX_VARIANTS} variants, not {count!r}")
        i = self.find(pid)
        p = self.product(i)
        variants, stamp = p["variants"], iso(ts)
        while len(variants) > count:
            gone = variants.pop()
            self.levels.pop(gone["inventory_item_id"], None)
            for image in p["images"]:
                image["variant_ids"] = [v for v in image["variant_ids"] if v != gone["id"]]
        if len(variants) < count and variants[0]["title"] == "Default Title":
            variants[0].update(title="Style 1", option1="Style 1", updated_at=stamp)
            p["options"][0]["name"] = "Style"
        variants.extend(build_variant(self.seed, i, k, p, stamp) for k in range(len(variants), count))
        p["options"][0]["values"] = [v["title"] for v in variants]
        p["updated_at"] = stamp
        self._store(i, p, ts)
        return p

    def add(self, fields: dict[str, Any], ts: int) -> dict[str, Any]:
        """Append a generated product created at ``ts`` (ids stay ascending) and return it."""
        i = len(self.ids)
        nvar = 1 + i % 3
        p = build_product(self.seed, i, ts, ts, nvar, "active", self.base_url)
        p.update({k: v for k, v in fields.items() if k not in ("id", "variants")})
        self.ids.append(product_id(i))
        self.pos[self.ids[i]] = i
        self.created.append(ts)
        self.updated.append(ts)
        self.status.append(p["status"])
        self.nvar.append(nvar)
        self.blobs.append(None)
        self._store(i, p, ts)
        return p

    def touch(self, pct: float, ts: int) -> int:
        """Raise the price of ``pct`` percent of the products by 1.00 and stamp them ``ts``."""
        n = len(self.ids)
        k = min(n, max(1, round(n * pct / 100.0))) if pct > 0 and n else 0
        stamp = iso(ts)
        for i in sorted(self._touch_rng.sample(range(n), k)):
            p = self.product(i)
            for v in p["variants"]:
                v["price"] = money(cents(v["price"]) + 100)
                v["updated_at"] = stamp
            p["updated_at"] = stamp
            self._store(i, p, ts)
        return k

    # -- inventory ----------------------------------------------------------------------------
    def item_ref(self, iid: int) -> tuple[int, int] | None:
        """Return ``(product index, variant position)`` of inventory item ``iid`` or ``None``."""
        i, k = split_slot(iid, ITEM_BASE)
        return (i, k) if 0 <= i < len(self.ids) and k < self.nvar[i] else None

    def levels_of(self, iid: int) -> dict[int, list[int]]:
        """Return ``{location_id: [available, updated_ts]}`` of a known inventory item."""
        got = self.levels.get(iid)
        if got is not None:
            return got
        i, k = split_slot(iid, ITEM_BASE)
        qty = self.product(i)["variants"][k]["inventory_quantity"]
        return {self.primary: [qty, self.updated[i]]}

    def level(self, iid: int, loc: int) -> dict[str, Any]:
        """Return the Shopify InventoryLevel object of item ``iid`` at location ``loc``."""
        available, ts = self.levels_of(iid)[loc]
        return {"inventory_item_id": iid, "location_id": loc, "available": available,
                "updated_at": iso(ts),
                "admin_graphql_api_id": f"gid://shopify/InventoryLevel/{loc}?inventory_item_id={iid}"}

    def set_level(self, iid: int, loc: int, available: int, ts: int) -> dict[str, Any]:
        """Set ``available`` of item ``iid`` at ``loc`` (connecting it if needed) and return the level.

        The variant's ``inventory_quantity`` becomes the sum over locations and the product's
        ``updated_at`` is stamped with ``ts``.
        """
        i, k = split_slot(iid, ITEM_BASE)
        levels = {lid: list(v) for lid, v in self.levels_of(iid).items()}
        levels[loc] = [available, ts]
        self.levels[iid] = levels
        p = self.product(i)
        v = p["variants"][k]
        v["old_inventory_quantity"] = v["inventory_quantity"]
        v["inventory_quantity"] = sum(a for a, _ in levels.values())
        v["updated_at"] = p["updated_at"] = iso(ts)
        self._store(i, p, ts)
        return self.level(iid, loc)

    def level_keys(self, item_ids: list[int] | None, loc_ids: list[int] | None,
                   updated_min: int | None) -> list[tuple[int, int]]:
        """Return ``(inventory_item_id, location_id)`` keys matching the filters, ascending."""
        ck = orjson.dumps(["levels", self.version, item_ids, loc_ids, updated_min])
        hit = self._keys.get(ck)
        if hit is not None:
            return hit
        if item_ids is not None:
            items = [x for x in item_ids if self.item_ref(x)]
        else:
            # sorted: a product's variants past its first slots number in a range of their own
            items = sorted(item_id(i, k) for i in range(len(self.ids)) for k in range(self.nvar[i]))
        want = set(loc_ids) if loc_ids is not None else None
        out = []
        levels, primary, updated = self.levels, self.primary, self.updated
        for iid in items:
            got = levels.get(iid)
            if got is None:
                pairs = [(primary, updated[split_slot(iid, ITEM_BASE)[0]])]
            else:
                pairs = sorted((loc, v[1]) for loc, v in got.items())
            out.extend((iid, loc) for loc, ts in pairs
                       if (want is None or loc in want) and (updated_min is None or ts >= updated_min))
        if len(self._keys) > 64:
            self._keys.clear()
        self._keys[ck] = out
        return out

    def inventory_item(self, iid: int) -> dict[str, Any]:
        """Return the Shopify InventoryItem object of a known item."""
        i, k = split_slot(iid, ITEM_BASE)
        p = self.product(i)
        v = p["variants"][k]
        return {"id": iid, "sku": v["sku"], "created_at": p["created_at"], "updated_at": v["updated_at"],
                "requires_shipping": True, "cost": money(cents(v["price"]) * 45 // 100),
                "country_code_of_origin": None, "province_code_of_origin": None,
                "harmonized_system_code": None, "tracked": True, "country_harmonized_system_codes": [],
                "admin_graphql_api_id": gid("InventoryItem", iid)}

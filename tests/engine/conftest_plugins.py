"""Throwaway connectors for the configuration tests, registered as a real pluggy plugin.

``engine.plugins.build_manager(plugins=[conftest_plugins])`` registers them. They
declare resources and settings schemas only: loading a configuration never calls
a connector's operations.
"""

from __future__ import annotations

from typing import Any

from engine import Connector, JMESPathFunction, Resource, hookimpl


class StoreConnector(Connector):
    """A store: reads orders and products, writes products and fulfillments."""

    name = "teststore"
    feed_set = "teststore"
    resources = {
        "orders": Resource("orders", key="id", read=True, fetch=True, params={
            "type": "object",
            "properties": {"status": {"enum": ["any", "open", "paid"]},
                           "limit": {"type": "integer", "minimum": 1, "maximum": 250}}}),
        "products": Resource("products", key="id", read=True, fetch=True, write=True),
        "fulfillments": Resource("fulfillments", key="order_id", read=False, write=True),
    }
    settings_schema: dict[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["shop_url", "access_token"],
        "properties": {
            "shop_url": {"type": "string", "pattern": "^https?://"},
            "access_token": {"type": "string", "minLength": 8},
            "page_size": {"type": "integer", "minimum": 1, "maximum": 250},
        },
    }


class HubConnector(Connector):
    """The hub: orders, products and stock both ways; shipments read-only."""

    name = "testhub"
    resources = {
        "orders": Resource("orders", key="number", read=True, fetch=True, write=True,
                           fields=("number", "email", "status", "carrier", "lines", "source"),
                           needs=("number", "status")),
        "products": Resource("products", key="sku", read=True, fetch=True, write=True),
        "stock": Resource("stock", key="sku", read=True, fetch=True, write=True),
        "shipments": Resource("shipments", key="id", read=True),
    }
    settings_schema: dict[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {"default_warehouse": {"type": "string"}},
    }


class PlainConnector(Connector):
    """A connector without a feed set folder (its integrations get no feeds)."""

    name = "plainstore"
    resources = {"items": Resource("items")}


class BrokenSchemaConnector(Connector):
    """A connector whose settings schema is not a valid JSON Schema (a plugin bug)."""

    name = "brokenschema"
    settings_schema: dict[str, Any] = {"type": "thing"}


@hookimpl
def register_connectors() -> list[type[Connector]]:
    """The test connectors."""
    return [StoreConnector, HubConnector, PlainConnector, BrokenSchemaConnector]


@hookimpl
def register_jmespath_functions() -> list[JMESPathFunction]:
    """One plugin function, so tests can tell plugin functions from unknown ones."""
    return [JMESPathFunction("sku_norm", lambda s: str(s).strip().upper(), ("any",))]

"""Hub operations of the embedding API: each opens one transaction and asks the hub connector.

The core knows the hub only as "the hub connector" of engine.yaml; the
operations below are the ones it must offer besides its resources (the
in-tree hub implements them). :class:`engine.app.Engine` exposes them as
methods; the CLI's ``hub`` commands call them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, cast, runtime_checkable

from engine.errors import PluginError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from engine.app import Engine

LISTINGS = ("products", "orders", "stock", "shipments", "images")


@runtime_checkable
class HubOperations(Protocol):
    """What the hub connector offers beyond read/fetch/write (each call gets an open session)."""

    def set_stock(self, session: Session, sku: str, quantity: int,
                  warehouse: str | None = None) -> dict[str, Any]: ...

    def adjust_stock(self, session: Session, sku: str, delta: int,
                     warehouse: str | None = None) -> dict[str, Any]: ...

    def create_shipment(self, session: Session, order: str, *, carrier: str, tracking: str,
                        integration: str | None = None, url: str | None = None,
                        lines: list[dict[str, Any]] | None = None) -> dict[str, Any]: ...

    def hub_list(self, session: Session, what: str, **filters: Any) -> list[dict[str, Any]]: ...

    def get_order(self, session: Session, key: str,
                  integration: str | None = None) -> dict[str, Any] | None: ...


def hub(engine: Engine) -> HubOperations:
    """The configured hub connector, checked to offer the hub operations.

    Raises:
        PluginError: The hub connector lacks them.
    """
    connector = engine.connector_for(None, "hub")
    if not isinstance(connector, HubOperations):
        raise PluginError(f"the hub connector {engine.config.hub_connector!r} does not offer the hub operations "
                          "(set_stock, adjust_stock, create_shipment, hub_list, get_order)")
    return cast(HubOperations, connector)


def set_stock(engine: Engine, sku: str, quantity: int, warehouse: str | None = None) -> dict[str, Any]:
    """Set a SKU's stock in a warehouse (default: the hub's ``default_warehouse``).

    Returns:
        ``{sku, warehouse, quantity, reserved, available, updated_at, previous}``.

    Raises:
        RecordError: Unknown SKU or a negative quantity; nothing is stored.
    """
    operations = hub(engine)
    with engine.sessions.begin() as session:
        return operations.set_stock(session, sku, quantity, warehouse)


def adjust_stock(engine: Engine, sku: str, delta: int, warehouse: str | None = None) -> dict[str, Any]:
    """Add ``delta`` (negative: take) to a SKU's stock; the result may not drop below 0."""
    operations = hub(engine)
    with engine.sessions.begin() as session:
        return operations.adjust_stock(session, sku, delta, warehouse)


def create_shipment(engine: Engine, order: str, *, carrier: str, tracking: str, integration: str | None = None,
                    url: str | None = None, lines: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Record a shipment of an order (external id or number); ``lines`` None ships every line.

    Returns:
        The shipment record plus ``action`` (created, updated or unchanged).

    Raises:
        RecordError: Unknown or ambiguous order, a SKU not on the order, a bad
            quantity; nothing is stored.
    """
    operations = hub(engine)
    with engine.sessions.begin() as session:
        return operations.create_shipment(session, order, carrier=carrier, tracking=tracking,
                                          integration=integration, url=url, lines=lines)


def unlink(engine: Engine, skus: Sequence[str], integration: str) -> list[dict[str, Any]]:
    """Remove SKUs' links to their records in an integration's store, all or none; the products stay in the hub.

    An optional operation: a hub connector offers it with an ``unlink(session, sku, integration)`` method.

    Returns:
        ``{sku, integration, external_id}`` of each link removed.

    Raises:
        RecordError: A SKU is not linked to that integration (nothing is removed).
        PluginError: The hub connector does not offer it.
    """
    operations = hub(engine)
    method = getattr(operations, "unlink", None)
    if method is None:
        raise PluginError(f"the hub connector {engine.config.hub_connector!r} cannot unlink SKUs")
    with engine.sessions.begin() as session:
        return [cast(dict[str, Any], method(session, sku, integration)) for sku in skus]


def hub_list(engine: Engine, what: str, **filters: Any) -> list[dict[str, Any]]:
    """List hub data (``products``, ``orders``, ``stock``, ``shipments``, ``images``) with filters
    such as ``integration`` and ``limit``."""
    operations = hub(engine)
    with engine.sessions() as session:
        return operations.hub_list(session, what, **filters)


def get_order(engine: Engine, key: str, integration: str | None = None) -> dict[str, Any] | None:
    """One order by external id or number, with lines and shipments; None if the hub has none."""
    operations = hub(engine)
    with engine.sessions() as session:
        return operations.get_order(session, key, integration=integration)

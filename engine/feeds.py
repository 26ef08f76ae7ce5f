"""Feed definitions: the frozen dataclasses a loaded feed YAML becomes.

Loading and validation live in :mod:`engine.config`; nothing outside the
loader sees raw YAML dicts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

from engine.errors import Severity

if TYPE_CHECKING:
    from engine.mapping import CompiledMapping
    from engine.rules import RuleSet

Direction = Literal["inbound", "outbound", "check"]
Side = Literal["store", "hub"]


@dataclass(frozen=True)
class Endpoint:
    """One end of a feed: the store of the integration, or the hub; a resource; its params."""

    side: Side
    resource: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RetryPolicy:
    """How parked (``retry``) records are re-checked.

    Attributes:
        schedule: Cron of the re-checks (hourly by default).
        expire_after: How long a record may stay parked before it is given up.
        on_expiry: Severity of giving up (``info`` by default: e.g. an order
            never paid).
        max_attempts: Re-checks after which the record escalates to ``error``
            (None: no limit, only expiry).
    """

    schedule: str = "0 * * * *"
    expire_after: timedelta = timedelta(days=30)
    on_expiry: Severity = Severity.INFO
    max_attempts: int | None = None


@dataclass(frozen=True)
class FeedDef:
    """A feed as one integration runs it (standard definition + that integration's overrides).

    Attributes:
        name: Unique within the integration.
        direction: ``inbound`` (store -> hub), ``outbound`` (hub -> store; refused in
            test mode) or ``check`` (compare both sides, write nothing).
        source: Where records are read.
        target: Where records are written (or, for ``check``, looked up).
        schedule: Cron expression (in the engine's time zone).
        mapping: The compiled field mapping (None: records pass through unchanged).
        rules: Ordered severity rules, evaluated on each source record before mapping.
        key: Field of the source record that identifies it (parking, fetch);
            default: the source resource's key.
        label: JMESPath for a human label of a source record (order number, SKU).
        batch_size: Records per page written in one transaction.
        run_once: Runs once per integration, then is refused unless forced.
        write_mode: ``upsert``, ``create`` (new records only) or ``update`` (existing only).
        fields: Only these target fields may change (``update_orders``: status).
        compare: ``check`` feeds: the fields that must match.
        incremental: Whether the source cursor is kept between runs.
        change_detection: Skip records whose mapped content equals what this
            feed last wrote for the key (counted ``unchanged``).
        retry: Re-check policy of parked records.
        enabled: False: never scheduled, refused by ``run`` unless forced.
        description: One line for listings.
        file: The YAML file it came from.
    """

    name: str
    direction: Direction
    source: Endpoint
    target: Endpoint
    schedule: str
    mapping: CompiledMapping | None = None
    rules: RuleSet | None = None
    key: str | None = None
    label: str | None = None
    batch_size: int = 250
    run_once: bool = False
    write_mode: Literal["upsert", "create", "update"] = "upsert"
    fields: tuple[str, ...] | None = None
    compare: tuple[str, ...] | None = None
    incremental: bool = True
    change_detection: bool = True
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    enabled: bool = True
    description: str = ""
    file: str = ""

    @property
    def writes_to_store(self) -> bool:
        """True for feeds that change the store (refused in test mode)."""
        return self.direction == "outbound"

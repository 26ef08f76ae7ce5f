"""Everything one run of one feed needs, gathered once: connectors, transactions, clock, masking."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.config import IntegrationDef
    from engine.connector import Connector
    from engine.feeds import FeedDef
    from engine.mapping import Compiler
    from engine.store.db import Transactions


@dataclass
class FeedRun:
    """One run of one feed of one integration (shared by the runner and the page pipeline)."""

    integration: IntegrationDef
    feed: FeedDef
    source: Connector
    target: Connector
    transactions: Transactions
    compiler: Compiler
    clock: Callable[[], datetime]
    tz: tzinfo
    mode: str
    masker: Any
    maps: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    execution_id: int | None = None
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("engine.run"))

    @property
    def target_side(self) -> str:
        """``store`` or ``hub``."""
        return self.feed.target.side

    def now(self) -> datetime:
        """The (injectable) current time."""
        return self.clock()

    def mask(self, text: str) -> str:
        """Hide every secret value in ``text``."""
        return self.masker.mask(text) if self.masker else text

    def mask_obj(self, obj: Any) -> Any:
        """Hide every secret value inside ``obj`` (dicts, lists, strings)."""
        return self.masker.mask_obj(obj) if self.masker else obj

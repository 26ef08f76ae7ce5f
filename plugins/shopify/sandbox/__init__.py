"""A faithful fake of the Shopify Admin REST API for end-to-end tests, benchmarks and demos.

Start one in-process with :class:`ShopifySandbox` (``with ShopifySandbox(products=5) as sb:``)
or from a shell with ``python -m plugins.shopify.sandbox --port 8081``.
"""

from __future__ import annotations

from .cli import main, serve_forever
from .sandbox import ShopifySandbox

__all__ = ["ShopifySandbox", "main", "serve_forever"]

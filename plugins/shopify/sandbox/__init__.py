"""A faithful fake of the Shopify Admin REST API for end-to-end tests, benchmarks and demos.

It also serves the GraphQL Admin API query of a product's variants, which a REST client needs
for products with more than 100 variants (the REST API shows the first 100).

Start one in-process with :class:`ShopifySandbox` (``with ShopifySandbox(products=5) as sb:``)
or from a shell with ``python -m plugins.shopify.sandbox --port 8081``.
"""

from __future__ import annotations

from .cli import main, serve_forever
from .sandbox import ShopifySandbox

__all__ = ["ShopifySandbox", "main", "serve_forever"]

"""JMESPath functions the Shopify mappings use (registered through ``register_jmespath_functions``)."""

from __future__ import annotations

from typing import Any

from engine.mapping import JMESPathFunction

#: The title Shopify gives the only variant of a product without options.
DEFAULT_TITLE = "Default Title"


def variant_name(product_title: Any, variant_title: Any) -> str | None:
    """``Mug - Large``; the product's own title for its default (only) variant."""
    if not variant_title or variant_title == DEFAULT_TITLE:
        return product_title if product_title is None else str(product_title)
    if not product_title:
        return str(variant_title)
    return f"{product_title} - {variant_title}"


FUNCTIONS = [JMESPathFunction("variant_name", variant_name, ("any", "any"))]

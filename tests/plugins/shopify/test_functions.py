"""The JMESPath functions the Shopify plugin adds, used from a mapping like integrators use them."""

from __future__ import annotations

from engine.mapping import Compiler, compile_mapping
from plugins.shopify.functions import FUNCTIONS, variant_name


def test_variant_name() -> None:
    assert variant_name("Mug", "Large") == "Mug - Large"
    assert variant_name("Mug", "Default Title") == "Mug"
    assert variant_name("Mug", None) == "Mug"
    assert variant_name(None, "Large") == "Large"


def test_variant_name_in_a_mapping() -> None:
    m = compile_mapping({"each": "variants", "fields": {"name": "variant_name(parent.title, title)"}},
                        Compiler(FUNCTIONS))
    product = {"title": "Mug", "variants": [{"title": "Default Title"}, {"title": "Blue / L"}]}
    assert m.apply(product) == [{"name": "Mug"}, {"name": "Mug - Blue / L"}]

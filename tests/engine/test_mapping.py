"""Mappings: plain paths, JMESPath, each, value maps, nested objects and lists, failures."""

from __future__ import annotations

import pytest

from engine.errors import MappingError
from engine.mapping import Compiler, JMESPathFunction, compile_mapping

PRODUCT = {
    "id": 7, "title": "Mug", "vendor": "Acme",
    "variants": [
        {"id": 70, "sku": "MUG-S", "barcode": "123", "grams": 250, "weight": 0.55, "weight_unit": "lb"},
        {"id": 71, "sku": "MUG-L", "barcode": None, "grams": 400, "weight": 400, "weight_unit": "g"},
    ],
}


@pytest.fixture
def compiler() -> Compiler:
    return Compiler()


def test_each_flattens_and_items_see_parent(compiler: Compiler) -> None:
    m = compile_mapping({"each": "variants", "key": "sku", "fields": {
        "sku": "sku", "name": "join(' - ', [parent.title, sku])", "product_id": "parent.id",
        "grams": "weight_grams(weight, weight_unit)"}}, compiler)
    out = m.apply(PRODUCT)
    assert out == [
        {"sku": "MUG-S", "name": "Mug - MUG-S", "product_id": 7, "grams": 249.476},
        {"sku": "MUG-L", "name": "Mug - MUG-L", "product_id": 7, "grams": 400.0},
    ]


def test_plain_paths_behave_like_jmespath_on_missing_and_non_objects(compiler: Compiler) -> None:
    m = compile_mapping({"fields": {"a": "x.y.z", "b": "title.length", "c": "nope"}}, compiler)
    assert m.apply(PRODUCT) == [{"a": None, "b": None, "c": None}]


def test_value_map_default_and_miss(compiler: Compiler) -> None:
    m = compile_mapping({"fields": {"status": {"path": "s", "map": {"paid": "open"}, "default": "other"}}}, compiler)
    assert m.apply({"s": "paid"}) == [{"status": "open"}]
    assert m.apply({"s": "weird"}) == [{"status": "other"}]
    strict = compile_mapping({"fields": {"status": {"path": "s", "map": {"paid": "open"}}}}, compiler)
    with pytest.raises(MappingError, match=r"value 'weird' of 's' is not in the value map \(known: paid\)"):
        strict.apply({"s": "weird"})


def test_unmapped_values_can_pass_through(compiler: Compiler) -> None:
    m = compile_mapping({"fields": {"company": {"path": "carrier", "lookup": "companies", "unmapped": "keep",
                                                "default": "none"}},
                         "maps": {"companies": {"dhl": "DHL Express"}}}, compiler)
    assert m.apply({"carrier": "dhl"}) == [{"company": "DHL Express"}]
    assert m.apply({"carrier": "Bike Courier Ltd"}) == [{"company": "Bike Courier Ltd"}]
    assert m.apply({"carrier": None}) == [{"company": "none"}]
    assert m.apply({"carrier": "dhl"}, {"companies": {"dhl": "DHL eCommerce"}}) == [{"company": "DHL eCommerce"}]
    inline = compile_mapping({"fields": {"s": {"path": "s", "map": {"a": "A"}, "unmapped": "keep"}}}, compiler)
    assert inline.apply({"s": "b"}) == [{"s": "b"}] and inline.apply({"s": None}) == [{"s": None}]


def test_lookup_uses_integration_maps_over_file_maps(compiler: Compiler) -> None:
    m = compile_mapping({"fields": {"carrier": {"path": "code", "lookup": "carriers"}},
                         "maps": {"carriers": {"Standard": "file-post"}}}, compiler)
    assert m.apply({"code": "Standard"}) == [{"carrier": "file-post"}]
    assert m.apply({"code": "Standard"}, {"carriers": {"Standard": "dhl"}}) == [{"carrier": "dhl"}]
    with pytest.raises(MappingError, match="not in map 'carriers'"):
        m.apply({"code": "Pigeon"}, {"carriers": {"Standard": "dhl"}})


def test_nested_object_list_and_constant(compiler: Compiler) -> None:
    m = compile_mapping({"fields": {
        "remote": {"fields": {"id": "id"}},
        "addr": {"path": "shipping", "fields": {"city": "city"}},
        "lines": {"each": "line_items", "fields": {"sku": "sku", "qty": "quantity"}},
        "source": {"value": "store"}}}, compiler)
    rec = {"id": 1, "shipping": {"city": "Gent"}, "line_items": [{"sku": "A", "quantity": 2}]}
    assert m.apply(rec) == [{"remote": {"id": 1}, "addr": {"city": "Gent"},
                             "lines": [{"sku": "A", "qty": 2}], "source": "store"}]
    assert m.apply({"id": 2})[0]["addr"] is None


def test_bad_expression_names_field_and_expression(compiler: Compiler) -> None:
    with pytest.raises(MappingError) as err:
        compile_mapping({"fields": {"name": "title[["}}, compiler, file="m.yaml")
    assert err.value.field == "name" and err.value.expression == "title[[" and err.value.file == "m.yaml"


def test_runtime_failure_names_field(compiler: Compiler) -> None:
    m = compile_mapping({"fields": {"n": "to_int(title)"}}, compiler)
    with pytest.raises(MappingError, match="field 'n': expression 'to_int\\(title\\)' failed"):
        m.apply({"title": "abc"})


def test_each_must_give_a_list(compiler: Compiler) -> None:
    m = compile_mapping({"each": "title", "fields": {"x": "value"}}, compiler)
    with pytest.raises(MappingError, match="not a list"):
        m.apply(PRODUCT)
    assert compile_mapping({"each": "nothing", "fields": {}}, compiler).apply(PRODUCT) == []


def test_plugin_functions(compiler: Compiler) -> None:
    c = Compiler([JMESPathFunction("shout", lambda s: s.upper() + "!", ("string",))])
    assert compile_mapping({"fields": {"t": "shout(title)"}}, c).apply(PRODUCT) == [{"t": "MUG!"}]
    with pytest.raises(MappingError, match="shout"):
        compile_mapping({"fields": {"t": "shout(title)"}}, compiler).apply(PRODUCT)

"""``POST graphql.json``: the GraphQL Admin API query of a product's variants, page by page.

The sandbox answers one kind of query, the one a REST client needs for products with more
than 100 variants: ``product(id:)`` with its ``variants(first:, after:)`` connection
(``pageInfo``, ``nodes`` or ``edges``) and a selection of ``ProductVariant`` fields. Anything
else is answered with a GraphQL ``errors`` list, as Shopify answers a query it refuses
(HTTP 200). Every answer carries ``extensions.cost``; with the cost bucket on, a query
asking more points than the bucket holds is answered ``THROTTLED`` without ``data``. A token
without ``read_products`` gets ``product: null`` and Shopify's ACCESS_DENIED error.
"""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from typing import Any

import orjson

from .data import gid
from .gql import Field, GraphQLError, Operation, Var, cost, parse, project
from .state import ShopState
from .wire import Request, Response, json_response

MAX_FIRST = 250
MAX_COST = 1000
CONNECTION_COST = 2
FIRST_TOO_LARGE = (f"first cannot exceed {MAX_FIRST}. To query larger amounts of data with fewer limits, bulk "
                   "operations should be used instead.")
THROTTLED = {"message": "Throttled",
             "extensions": {"code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"}}
UNITS = {"g": "GRAMS", "kg": "KILOGRAMS", "oz": "OUNCES", "lb": "POUNDS"}
#: The scope ``product`` needs; without it Shopify answers the field null with ACCESS_DENIED.
READ_PRODUCTS = "read_products"
_PRODUCT_GID = re.compile(r"gid://shopify/Product/(\d+)")
_ANY_GID = re.compile(r"gid://shopify/[A-Za-z]+/\d+")
#: Input types a variable may have here, and the JSON values each takes.
_INPUT_TYPES: dict[str, tuple[type, ...]] = {"ID": (str,), "String": (str,), "Int": (int,), "Boolean": (bool,)}
#: Real arguments of ``Product.variants`` that the sandbox does not serve.
_UNSERVED_ARGS = ("last", "before", "reverse", "sortKey", "query")


def _utc(stamp: str) -> str:
    return datetime.fromisoformat(stamp).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def product_node(p: dict[str, Any]) -> dict[str, Any]:
    """A product's ``Product`` fields (its ``variants`` connection is served apart)."""
    return {"__typename": "Product", "id": p["admin_graphql_api_id"], "legacyResourceId": str(p["id"]),
            "title": p["title"], "handle": p["handle"], "vendor": p["vendor"], "productType": p["product_type"],
            "status": p["status"].upper(), "createdAt": _utc(p["created_at"]), "updatedAt": _utc(p["updated_at"])}


def variant_node(v: dict[str, Any], p: dict[str, Any]) -> dict[str, Any]:
    """A REST variant as the GraphQL ``ProductVariant`` it is (weight under ``inventoryItem.measurement``)."""
    iid = v["inventory_item_id"]
    options = [{"__typename": "SelectedOption", "name": opt["name"], "value": v.get(f"option{n}")}
               for n, opt in enumerate(p.get("options") or (), 1) if v.get(f"option{n}") is not None]
    weight = {"__typename": "Weight", "unit": UNITS[v["weight_unit"]], "value": float(v["weight"])}
    item = {"__typename": "InventoryItem", "id": gid("InventoryItem", iid), "legacyResourceId": str(iid),
            "sku": v["sku"], "tracked": v["inventory_management"] == "shopify",
            "requiresShipping": v["requires_shipping"], "createdAt": _utc(v["created_at"]),
            "updatedAt": _utc(v["updated_at"]),
            "measurement": {"__typename": "InventoryItemMeasurement", "id": gid("InventoryItemMeasurement", iid),
                            "weight": weight}}
    return {"__typename": "ProductVariant", "id": v["admin_graphql_api_id"], "legacyResourceId": str(v["id"]),
            "title": v["title"], "displayName": f"{p['title']} - {v['title']}", "sku": v["sku"],
            "barcode": v["barcode"], "price": v["price"], "compareAtPrice": v["compare_at_price"],
            "position": v["position"], "inventoryPolicy": v["inventory_policy"].upper(),
            "inventoryQuantity": v["inventory_quantity"], "taxable": v["taxable"],
            "createdAt": _utc(v["created_at"]), "updatedAt": _utc(v["updated_at"]), "selectedOptions": options,
            "inventoryItem": item}


def _connection(nodes: list[dict[str, Any]], cursors: list[str], more: bool, earlier: bool) -> dict[str, Any]:
    page = {"__typename": "PageInfo", "hasNextPage": more, "hasPreviousPage": earlier,
            "startCursor": cursors[0] if cursors else None, "endCursor": cursors[-1] if cursors else None}
    return {"__typename": "ProductVariantConnection", "pageInfo": page, "nodes": nodes,
            "edges": [{"__typename": "ProductVariantEdge", "cursor": c, "node": n} for c, n in zip(cursors, nodes,
                                                                                               strict=True)]}


_SAMPLE_PRODUCT = {"id": 1, "title": "t", "handle": "t", "vendor": "v", "product_type": "p", "status": "active",
                   "created_at": "2024-01-01T00:00:00+00:00", "updated_at": "2024-01-01T00:00:00+00:00",
                   "admin_graphql_api_id": "gid://shopify/Product/1", "options": [{"name": "Size"}]}
_SAMPLE_VARIANT = variant_node({
    "id": 1, "title": "S", "sku": "s", "barcode": "b", "price": "1.00", "compare_at_price": "2.00", "position": 1,
    "inventory_policy": "deny", "inventory_quantity": 0, "taxable": True, "created_at": "2024-01-01T00:00:00+00:00",
    "updated_at": "2024-01-01T00:00:00+00:00", "option1": "S", "inventory_item_id": 1, "weight": 0.0,
    "weight_unit": "kg", "inventory_management": "shopify", "requires_shipping": True,
    "admin_graphql_api_id": "gid://shopify/ProductVariant/1"}, _SAMPLE_PRODUCT)
_SAMPLE_CONNECTION = _connection([_SAMPLE_VARIANT], ["c"], False, False)


def cursor_of(variant_id: int, position: int) -> str:
    """The opaque cursor of a variant in its product's ``variants`` connection."""
    raw = orjson.dumps({"last_id": variant_id, "last_value": position})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _after(cursor: str) -> int:
    try:
        got = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return int(got["last_value"])
    except (ValueError, TypeError, KeyError):
        raise GraphQLError(f"Invalid cursor {cursor!r} for the variants of a product",
                           code="argumentLiteralsIncompatible") from None


class _Plan:
    """A checked product query: what each root field asks, and its requested cost."""

    def __init__(self, op: Operation, variables: dict[str, Any]) -> None:
        self.roots: list[tuple[Field, int, list[Field], list[tuple[Field, int, int]]]] = []
        self.requested = 0
        used: set[str] = set()
        for f in op.fields:
            if op.kind != "query" or f.name != "product":
                kind = {"query": "QueryRoot"}.get(op.kind, op.kind.capitalize())
                raise GraphQLError(f"Field '{f.name}' doesn't exist on type '{kind}'", code="undefinedField",
                                   line=f.line, column=f.column, typeName=kind, fieldName=f.name)
            self._args(f, ("id",), ())
            raw = self._value(f.args["id"], variables, used)
            if not isinstance(raw, str) or not _ANY_GID.fullmatch(raw):
                raise GraphQLError(f"Invalid global id '{raw}'", code="argumentLiteralsIncompatible",
                                   line=f.line, column=f.column)
            m = _PRODUCT_GID.fullmatch(raw)
            if f.children is None:
                raise GraphQLError("Field must have selections (field 'product' returns Product but has no "
                                   "selections)", code="selectionMismatch", line=f.line, column=f.column)
            plain = [c for c in f.children if c.name != "variants"]
            if plain:
                project(product_node(_SAMPLE_PRODUCT), plain)
            pages = [self._variants(c, variables, used) for c in f.children if c.name == "variants"]
            self.roots.append((f, int(m.group(1)) if m else -1, plain, pages))
            self.requested += 1 + cost(product_node(_SAMPLE_PRODUCT), plain) + sum(
                CONNECTION_COST + first * self.node_cost(c) for c, first, _ in pages)
        unused = sorted(set(op.variables) - used)
        if unused:
            raise GraphQLError(f"Variable ${unused[0]} is declared by {op.name or 'anonymous query'} but not used",
                               code="variableNotUsed", variableName=unused[0])

    @staticmethod
    def _args(f: Field, known: tuple[str, ...], required: tuple[str, ...]) -> None:
        for arg in f.args:
            if arg in _UNSERVED_ARGS:
                raise GraphQLError(f"the sandbox serves {f.name}(first:, after:) only, not the argument '{arg}'",
                                   line=f.line, column=f.column)
            if arg not in known:
                raise GraphQLError(f"Field '{f.name}' doesn't accept argument '{arg}'", code="argumentNotAccepted",
                                   line=f.line, column=f.column, name=f.name, typeName="Field", argumentName=arg)
        missing = [a for a in required or known if a not in f.args]
        if missing:
            raise GraphQLError(f"Field '{f.name}' is missing required arguments: {', '.join(missing)}",
                               code="missingRequiredArguments", line=f.line, column=f.column)

    @staticmethod
    def _value(value: Any, variables: dict[str, Any], used: set[str]) -> Any:
        if isinstance(value, Var):
            used.add(value.name)
            return variables.get(value.name)
        return value

    def _variants(self, f: Field, variables: dict[str, Any], used: set[str]) -> tuple[Field, int, int]:
        self._args(f, ("first", "after"), ("first",))
        first = self._value(f.args["first"], variables, used)
        after = self._value(f.args.get("after"), variables, used)
        if isinstance(first, bool) or not isinstance(first, int) or first < 0:
            raise GraphQLError(f"first must be a whole number of 0 or more, not {first!r}",
                               code="argumentLiteralsIncompatible", line=f.line, column=f.column)
        if first > MAX_FIRST:
            raise GraphQLError(FIRST_TOO_LARGE, line=f.line, column=f.column)
        if after is not None and not isinstance(after, str):
            raise GraphQLError(f"after must be a cursor (a string), not {after!r}",
                               code="argumentLiteralsIncompatible", line=f.line, column=f.column)
        if f.children is None:
            raise GraphQLError("Field must have selections (field 'variants' returns ProductVariantConnection but "
                               "has no selections)", code="selectionMismatch", line=f.line, column=f.column)
        project(_SAMPLE_CONNECTION, f.children)
        return f, first, _after(after) if after is not None else 0

    @staticmethod
    def node_cost(f: Field) -> int:
        """Points one node of a ``variants`` selection costs (``nodes`` or ``edges { node }``)."""
        best = 0
        for child in f.children or ():
            if child.name == "nodes":
                best = max(best, 1 + cost(_SAMPLE_VARIANT, child.children or []))
            elif child.name == "edges":
                inner = next((c for c in child.children or () if c.name == "node"), None)
                best = max(best, 1 + cost(_SAMPLE_VARIANT, inner.children or []) if inner else 0)
        return best


def _check_variables(op: Operation, variables: dict[str, Any]) -> None:
    declared = op.variables
    for name, kind in declared.items():
        base, required = kind.rstrip("!"), kind.endswith("!")
        if base not in _INPUT_TYPES:
            raise GraphQLError(f"{base} isn't a defined input type (on ${name})", code="variableRequiresValidType",
                               typeName=base, variableName=name)
        value = variables.get(name)
        ok = (value is None and not required) or (
            value is not None and isinstance(value, _INPUT_TYPES[base])
            and not (base == "Int" and isinstance(value, bool)))
        if not ok:
            raise GraphQLError(f"Variable ${name} of type {kind} was provided invalid value", code="INVALID_VARIABLE",
                               value=value, problems=[{"path": [], "explanation": (
                                   "Expected value to not be null" if value is None
                                   else f"Could not coerce value {orjson.dumps(value).decode()} to {base}")}])

    def uses(fields: list[Field]) -> list[str]:
        out = [v.name for f in fields for v in f.args.values() if isinstance(v, Var)]
        return out + [n for f in fields for n in uses(f.children or [])]

    for name in uses(op.fields):
        if name not in declared:
            raise GraphQLError(f"Variable ${name} is used by {op.name or 'anonymous query'} but not declared",
                               code="variableNotDefined", variableName=name)


def _execute(state: ShopState, plan: _Plan) -> tuple[dict[str, Any], int]:
    data: dict[str, Any] = {}
    actual = 0
    cat = state.catalog
    for f, pid, plain, pages in plan.roots:
        i = cat.pos.get(pid)
        actual += 1
        if i is None:
            data[f.key] = None
            continue
        p = cat.product(i)
        out = project(product_node(p), plain) if plain else {}
        variants = p["variants"]
        for c, first, after in pages:
            start = next((n for n, v in enumerate(variants) if v["position"] > after), len(variants))
            page = variants[start:start + first]
            nodes = [variant_node(v, p) for v in page]
            cursors = [cursor_of(v["id"], v["position"]) for v in page]
            connection = _connection(nodes, cursors, start + first < len(variants), start > 0)
            out[c.key] = project(connection, c.children or [])
            actual += CONNECTION_COST + len(page) * plan.node_cost(c)
        data[f.key] = out
    return data, actual


def _denied(plan: _Plan) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    required = f"`{READ_PRODUCTS}` access scope."
    errors = [{"message": f"Access denied for product field. Required access: {required}",
               "locations": [{"line": f.line, "column": f.column}], "path": [f.key],
               "extensions": {"code": "ACCESS_DENIED", "documentation": "https://shopify.dev/api/usage/access-scopes",
                              "requiredAccess": required}} for f, *_ in plan.roots]
    return {f.key: None for f, *_ in plan.roots}, errors


def _errors(errors: list[dict[str, Any]]) -> Response:
    return json_response({"errors": errors})


def graphql(state: ShopState, req: Request, args: tuple[str, ...]) -> Response:
    """``POST graphql.json``: answer the product variants query, or a GraphQL error."""
    body = req.body if isinstance(req.body, dict) else {}
    query, variables = body.get("query"), body.get("variables")
    if not isinstance(query, str) or not query.strip():
        return _errors([{"message": "No query string was present"}])
    if variables is not None and not isinstance(variables, dict):
        return _errors([{"message": "Variables must be a JSON object"}])
    try:
        op = parse(query)
        _check_variables(op, variables or {})
        plan = _Plan(op, variables or {})
    except GraphQLError as exc:
        state.count("graphql_errors")
        return _errors([exc.as_dict()])
    requested, bucket = plan.requested, state.cost_bucket
    if requested > MAX_COST:
        state.count("graphql_errors")
        return _errors([{"message": f"Query cost is {requested}, which exceeds the single query max cost limit "
                                    f"({MAX_COST}).", "extensions": {"code": "MAX_COST_EXCEEDED", "cost": requested,
                                                                     "maxCost": MAX_COST}}])
    allowed, status = bucket.take(requested)
    if not allowed:
        state.count("graphql_throttled")
        return json_response({"errors": [THROTTLED], "extensions": {"cost": {
            "requestedQueryCost": requested, "actualQueryCost": None, "throttleStatus": status}}},
            status=bucket.throttle_status)
    if READ_PRODUCTS not in state.scopes:
        (data, errors), actual = _denied(plan), len(plan.roots)
        state.count("graphql_errors")
    else:
        (data, actual), errors = _execute(state, plan), []
    status = bucket.refund(max(0, requested - actual))
    cost_info = {"requestedQueryCost": requested, "actualQueryCost": actual, "throttleStatus": status}
    return json_response({**({"errors": errors} if errors else {}), "data": data, "extensions": {"cost": cost_info}})


ROUTES = (
    ("POST", r"graphql\.json", graphql, "graphql.json"),
)

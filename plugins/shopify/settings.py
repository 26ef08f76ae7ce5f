"""The Shopify connector's settings: the JSON Schema it ships, validated into a frozen dataclass."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine import validcache
from engine.errors import ConfigError, ConfigValidationError

SCHEMA: dict[str, Any] = json.loads((Path(__file__).parent / "settings.schema.json").read_text(encoding="utf-8"))
_DEFAULTS = {name: prop["default"] for name, prop in SCHEMA["properties"].items() if "default" in prop}
_SECRET = ("access_token",)


@dataclass(frozen=True)
class ShopifySettings:
    """Validated settings of one Shopify integration (defaults from ``settings.schema.json``)."""

    shop_url: str
    access_token: str
    api_version: str
    page_size: int
    timeout_seconds: float
    max_retries: int
    calls_per_second: float
    location_id: int | None = None

    @classmethod
    def load(cls, settings: Mapping[str, Any], *, integration: str = "") -> ShopifySettings:
        """Validate ``settings`` (``${ENV_VAR}`` already resolved) and apply the defaults.

        Raises:
            ConfigValidationError: Every problem at once, each naming the setting
                (a secret's value is never quoted).
        """
        where = f"integrations.{integration}.settings" if integration else "settings"

        def check() -> list[ConfigError]:
            import jsonschema

            found = []
            for err in jsonschema.Draft202012Validator(SCHEMA).iter_errors(dict(settings)):
                name = ".".join(str(p) for p in err.absolute_path)
                path = f"{where}.{name}" if name else where
                secret = any(s in name for s in _SECRET)
                message = f"{err.validator} check failed" if secret else err.message
                found.append(ConfigError(f"{path}: {message}", path=path))
            return found

        # The engine checked these settings against SCHEMA already; a pass is kept, never a value.
        errors = validcache.schema_passed(SCHEMA, dict(settings), check, private=validcache.EVERY_VALUE)
        url = settings.get("shop_url")
        if isinstance(url, str) and not url.startswith(("http://", "https://")):
            errors.append(ConfigError(
                f"{where}.shop_url: {url!r} is not an address; write https://NAME.myshopify.com",
                path=f"{where}.shop_url"))
        if errors:
            raise ConfigValidationError(errors)
        values = {**_DEFAULTS, **settings}
        return cls(
            shop_url=str(values["shop_url"]).rstrip("/"),
            access_token=str(values["access_token"]),
            api_version=str(values["api_version"]),
            page_size=int(values["page_size"]),
            timeout_seconds=float(values["timeout_seconds"]),
            max_retries=int(values["max_retries"]),
            calls_per_second=float(values["calls_per_second"]),
            location_id=values.get("location_id"),
        )

    def __repr__(self) -> str:
        return (f"ShopifySettings(shop_url={self.shop_url!r}, api_version={self.api_version!r}, "
                f"location_id={self.location_id!r}, access_token=****)")

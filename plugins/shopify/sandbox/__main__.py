"""Entry point of ``python -m plugins.shopify.sandbox``."""

from __future__ import annotations

from .cli import main

raise SystemExit(main())

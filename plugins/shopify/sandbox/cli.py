"""Run the sandbox in the foreground: ``python -m plugins.shopify.sandbox --port 8081``."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from .sandbox import ShopifySandbox


def serve_forever(*, stop: threading.Event | None = None, warm: bool = False, announce: bool = True,
                  **kwargs: Any) -> None:
    """Start a sandbox and serve until SIGTERM / SIGINT (or until ``stop`` is set).

    Prints ``sandbox listening on http://HOST:PORT`` (flushed) once it accepts connections.

    Args:
        stop: an event that ends serving when set; signals set it too (main thread only).
        warm: render every product before announcing.
        announce: print the listening line.
        **kwargs: :class:`ShopifySandbox` arguments.
    """
    stop = stop or threading.Event()
    sandbox = ShopifySandbox(**kwargs)
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, lambda *_: stop.set())
    try:
        sandbox.start()
        if warm:
            sandbox.warm()
        if announce:
            print(f"sandbox listening on {sandbox.url}", flush=True)
            print(f"access token: {sandbox.token} (engine.yaml: shop_url {sandbox.url}, access_token from "
                  f"SHOPIFY_TOKEN={sandbox.token}); control: {sandbox.url}/__sandbox/info", flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        sandbox.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def build_parser(prog: str = "python -m plugins.shopify.sandbox") -> argparse.ArgumentParser:
    """Return the command-line parser (``prog``: how usage lines name the command)."""
    ap = argparse.ArgumentParser(prog=prog,
                                 description="Serve a fake Shopify Admin REST API (and the GraphQL query of "
                                             "products' variants) on loopback.")
    ap.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    ap.add_argument("--port", type=int, default=0, help="port; 0 picks a free one (default)")
    ap.add_argument("--products", type=int, default=50, help="generated products (default 50)")
    ap.add_argument("--orders", type=int, default=30, help="generated orders (default 30)")
    ap.add_argument("--seed", type=int, default=1, help="data seed (default 1)")
    ap.add_argument("--token", default="shpat_sandbox",
                    help="the X-Shopify-Access-Token it accepts (default: shpat_sandbox)")
    ap.add_argument("--api-version", default="2024-07", help="default API version (any is accepted)")
    ap.add_argument("--no-rate-limit", action="store_true",
                    help="never answer 429 from the bucket (nor THROTTLED to GraphQL queries)")
    ap.add_argument("--variants", action="append", default=[], metavar="NUMBER=COUNT", type=_variant_count,
                    help="give product NUMBER (1-based, as in its title) COUNT variants (1..2048; the REST API "
                         "shows 100, GraphQL the rest); repeatable")
    ap.add_argument("--warm", action="store_true", help="render every product before listening")
    return ap


def _variant_count(text: str) -> tuple[int, int]:
    number, sep, count = text.partition("=")
    if not sep or not number.strip().isdigit() or not count.strip().isdigit():
        raise argparse.ArgumentTypeError(f"expected NUMBER=COUNT (e.g. 3=230), got {text!r}")
    return int(number), int(count)


def main(argv: Sequence[str] | None = None, prog: str = "python -m plugins.shopify.sandbox") -> int:
    """Parse ``argv`` and serve until SIGTERM / SIGINT; return the exit code (0)."""
    args = build_parser(prog).parse_args(argv)
    try:
        serve_forever(host=args.host, port=args.port, products=args.products, orders=args.orders,
                      seed=args.seed, token=args.token, rate_limit=not args.no_rate_limit,
                      api_version=args.api_version, warm=args.warm, variant_counts=dict(args.variants))
    except ValueError as exc:
        print(f"sandbox: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"sandbox: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0

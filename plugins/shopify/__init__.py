"""The Shopify plugin: registers the Shopify connector and its sandbox (a fake Admin API)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from engine.hookspecs import hookimpl
from engine.sandbox import SandboxSpec

if TYPE_CHECKING:
    import click

    from engine.connector import Connector
    from engine.mapping import JMESPathFunction


@hookimpl
def register_connectors() -> list[type[Connector]]:
    """The Shopify connector."""
    from plugins.shopify.connector import ShopifyConnector

    return [ShopifyConnector]


def _sandbox_main(argv: Sequence[str]) -> int:
    from plugins.shopify.sandbox import main

    try:
        return main(list(argv), prog="connect-engine sandbox shopify")
    except SystemExit as exc:  # --help, or a usage error from argparse
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)


@hookimpl
def register_jmespath_functions() -> list[JMESPathFunction]:
    """``variant_name(product_title, variant_title)``: a hub product's name from a Shopify variant."""
    from plugins.shopify.functions import FUNCTIONS

    return FUNCTIONS


@hookimpl
def register_sandboxes() -> list[SandboxSpec]:
    """The Shopify sandbox (``connect-engine sandbox shopify --port 8081``), with its contract-suite hints."""
    from plugins.shopify import contract

    return [SandboxSpec(name="shopify", description="A fake Shopify Admin API on loopback (products, orders, "
                        "inventory, fulfillments; GraphQL variants)", main=_sandbox_main, connector="shopify",
                        start=contract.start, contract=contract.CONTRACT)]


@hookimpl
def register_commands(cli: click.Group) -> None:
    """``connect-engine demo``: the whole cycle against the sandbox on a fresh demo database.

    The engine's root group imports it when it is used (``add_lazy_command``): every
    ``connect-engine`` command calls this hook, and the demo imports the engine and the sandbox.
    """
    add_lazy = getattr(cli, "add_lazy_command", None)
    if add_lazy is not None:
        add_lazy("demo", "plugins.shopify.demo:demo_command")
        return
    from plugins.shopify.demo import demo_command

    cli.add_command(demo_command)

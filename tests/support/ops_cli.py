"""``python -m tests.support.ops_cli --config PATH COMMAND ...``: the real CLI with the ops test plugin.

The operations tests start this in separate processes. It builds the engine
from ``--config`` with :mod:`tests.support.opsstore` registered instead of the
installed entry points, and a clock shifted by ``OPS_CLOCK_OFFSET`` seconds
(so a test can let a lease run out without waiting for it), then hands the
engine to the ``connect-engine`` command line.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime, timedelta

from engine.app import Engine
from engine.cli import cli
from engine.cli.common import fail
from engine.errors import EngineError
from tests.support import opsstore


def main(argv: list[str]) -> None:
    """Run the CLI with ``argv`` (which must include ``--config PATH``)."""
    offset = timedelta(seconds=float(os.environ.get("OPS_CLOCK_OFFSET", "0")))

    def clock() -> datetime:
        return datetime.now(UTC) + offset

    try:
        engine = Engine.from_config(argv[argv.index("--config") + 1], plugins=[opsstore], clock=clock)
    except EngineError as exc:
        fail(exc)
    try:
        cli.main(argv, prog_name="connect-engine", obj={"engine": engine})
    finally:
        engine.close()


if __name__ == "__main__":
    main(sys.argv[1:])

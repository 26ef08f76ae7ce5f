"""Discovery and helpers of the contract suite: registered connectors, sandboxes that start in-process.

Connectors and sandboxes come from the real ``connect_engine`` entry points, so a
new plugin is covered as soon as it is installed.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from engine.connector import Connector, Page, RunContext, Services
from engine.plugins import Hooks, build_manager
from engine.sandbox import SandboxSpec

#: Every key ``SandboxSpec.contract`` may hold (docs/plugins.md, "Contract tests").
HINT_KEYS = frozenset({"small_pages", "single_page", "full_refresh", "cursor_fields", "read", "fetch",
                       "write_samples", "received_writes"})
INTEGRATION = "contract"


def utcnow() -> datetime:
    """The connectors' clock (real time: the sandboxes' data lie in the past)."""
    return datetime.now(UTC)


@functools.cache
def registry() -> tuple[dict[str, type[Connector]], dict[str, SandboxSpec]]:
    """The connectors and sandboxes the installed plugins register (loaded once)."""
    hooks = Hooks(build_manager())
    return hooks.connectors(), hooks.sandboxes()


@dataclass(frozen=True)
class Case:
    """A connector and the sandbox that fakes its store, with the sandbox's contract hints."""

    connector: type[Connector]
    sandbox: SandboxSpec

    @property
    def name(self) -> str:
        """The connector's name (the test id)."""
        return self.connector.name

    @property
    def hints(self) -> Mapping[str, Any]:
        """``SandboxSpec.contract`` (empty when the sandbox gives none)."""
        return self.sandbox.contract or {}

    def resources(self, hint: str, flag: str) -> list[str]:
        """The resources with ``flag`` set, narrowed to the hint's list when the sandbox gives one."""
        chosen = self.hints.get(hint)
        return [n for n, r in self.connector.resources.items()
                if getattr(r, flag) and (chosen is None or n in chosen)]

    def names(self, hint: str) -> frozenset[str]:
        """The resource names a list-valued hint holds."""
        return frozenset(self.hints.get(hint) or ())

    @property
    def small_pages(self) -> Mapping[str, Any]:
        """Settings overrides that make pages small, so every read spans several pages."""
        return self.hints.get("small_pages") or {}

    @property
    def read_resources(self) -> list[str]:
        """Resources whose reads are checked."""
        return self.resources("read", "read")

    @property
    def resume_resources(self) -> list[str]:
        """Read resources that span several pages, so a read can resume mid-way."""
        return [r for r in self.read_resources if r not in self.names("single_page")]

    @property
    def fetch_resources(self) -> list[str]:
        """Resources both read and fetched: fetch is checked with the keys a read returned."""
        return [r for r in self.resources("fetch", "fetch") if self.connector.resources[r].read]

    @property
    def write_resources(self) -> list[str]:
        """Resources the connector writes."""
        return [n for n, r in self.connector.resources.items() if r.write]

    def hook(self, name: str) -> Callable[[Mapping[str, Any]], Any]:
        """A callable hint; fails the test, saying what to add, when the sandbox lacks it."""
        fn = self.hints.get(name)
        if not callable(fn):
            pytest.fail(f"sandbox {self.sandbox.name!r} gives no contract[{name!r}] callable; "
                        "docs/plugins.md (Contract tests) says what it returns")
        return fn  # type: ignore[no-any-return]


def cases() -> list[Case]:
    """Every sandbox that starts in-process, with the registered connector it fakes."""
    connectors, sandboxes = registry()
    out = []
    for spec in sandboxes.values():
        cls = connectors.get(spec.connector or spec.name)
        if spec.start is not None and cls is not None:
            out.append(Case(cls, spec))
    return sorted(out, key=lambda c: c.name)


# -- connectors and sandboxes ----------------------------------------------------------------------


def make_connector(case: Case, settings: Mapping[str, Any], data_dir: Path, **overrides: Any) -> Connector:
    """A connector instance as the runner builds one (no database: store connectors need none)."""
    services = Services(sessions=None, clock=utcnow, data_dir=data_dir)  # type: ignore[arg-type]
    return case.connector(INTEGRATION, {**settings, **overrides}, services)


def context(**kwargs: Any) -> RunContext:
    """The run context of a contract-suite call."""
    return RunContext(integration=INTEGRATION, feed="contract", **kwargs)


def roundtrip(cursor: Any) -> Any:
    """The cursor as the runner stores and loads it (JSON)."""
    return json.loads(json.dumps(cursor))


class Sandboxes:
    """Read-only sandboxes shared by the session: started on first use, stopped at the end.

    Tests that write start a fresh sandbox of their own (``fresh_settings``).
    """

    def __init__(self, stack: ExitStack, data_dir: Path) -> None:
        self.stack = stack
        self.data_dir = data_dir
        self._settings: dict[str, Mapping[str, Any]] = {}
        self._reads: dict[tuple[str, str], list[Page]] = {}

    def settings(self, case: Case) -> Mapping[str, Any]:
        """The settings that point at this case's shared sandbox (started on first use)."""
        if case.name not in self._settings:
            assert case.sandbox.start is not None
            self._settings[case.name] = dict(self.stack.enter_context(case.sandbox.start()))
        return self._settings[case.name]

    def connector(self, case: Case) -> Connector:
        """A connector on the shared sandbox with small pages."""
        return make_connector(case, self.settings(case), self.data_dir, **case.small_pages)

    def read(self, case: Case, resource: str, cursor: Any = None) -> list[Page]:
        """Every page of one read of ``resource`` from ``cursor``, with small pages."""
        with self.connector(case) as conn:
            return list(conn.read(resource, cursor=cursor, ctx=context()))

    def full_read(self, case: Case, resource: str) -> list[Page]:
        """The pages of a read from the start (done once per session; the sandbox does not change)."""
        if (case.name, resource) not in self._reads:
            self._reads[case.name, resource] = self.read(case, resource)
        return self._reads[case.name, resource]


def keys_of(records: Sequence[Mapping[str, Any]], key: str) -> list[str]:
    """The records' keys, as text (the form ``fetch`` takes and ``WriteOutcome.key`` holds)."""
    return [str(r[key]) for r in records]

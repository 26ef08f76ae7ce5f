"""The contract suite's parametrization and fixtures (discovery itself lives in ``harness.py``).

Tests ask for these arguments and are parametrized over the installed plugins:

- ``connector_cls``: every registered connector (the hub too);
- ``spec``: every registered sandbox;
- ``case``: every sandbox with ``start`` and the connector it fakes;
- ``case`` with ``read_resource``, ``resume_resource``, ``fetch_resource`` or
  ``write_resource``: one test per resource the contract hints select.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import ExitStack
from typing import Any

import pytest

from tests.contract.harness import Case, Sandboxes, cases, registry

_PER_RESOURCE = {"read_resource": "read_resources", "resume_resource": "resume_resources",
                 "fetch_resource": "fetch_resources", "write_resource": "write_resources"}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize over the registry (see the module docstring)."""
    connectors, sandboxes = registry()
    names = metafunc.fixturenames
    if "connector_cls" in names:
        metafunc.parametrize("connector_cls", [connectors[n] for n in sorted(connectors)], ids=sorted(connectors))
    if "spec" in names:
        metafunc.parametrize("spec", [sandboxes[n] for n in sorted(sandboxes)], ids=sorted(sandboxes))
    per_resource = [arg for arg in _PER_RESOURCE if arg in names]
    if per_resource:
        [arg] = per_resource
        pairs = [(c, r) for c in cases() for r in getattr(c, _PER_RESOURCE[arg])]
        metafunc.parametrize(f"case,{arg}", pairs, ids=[f"{c.name}-{r}" for c, r in pairs])
    elif "case" in names:
        found = cases()
        metafunc.parametrize("case", found, ids=[c.name for c in found])


@pytest.fixture(scope="session")
def sandboxes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandboxes]:
    """The session's shared read-only sandboxes."""
    with ExitStack() as stack:
        yield Sandboxes(stack, tmp_path_factory.mktemp("contract-data"))


@pytest.fixture
def fresh_settings(case: Case) -> Iterator[Mapping[str, Any]]:
    """Settings of a sandbox started for this test alone (tests that write)."""
    assert case.sandbox.start is not None
    with case.sandbox.start() as settings:
        yield dict(settings)



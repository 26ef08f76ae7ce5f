"""The connector contract, checked on every registered connector and, over real HTTP, on its sandbox."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from engine.app import Engine
from engine.connector import Check, Connector, Page, WriteOutcome
from engine.sandbox import SandboxSpec
from engine.secrets import is_secret_key
from tests.contract.harness import (
    HINT_KEYS,
    INTEGRATION,
    Case,
    Sandboxes,
    context,
    keys_of,
    make_connector,
    registry,
    roundtrip,
)

# -- every connector: class attributes and settings schema ------------------------------------------


def test_class_attributes_are_well_formed(connector_cls: type[Connector]) -> None:
    connectors, _ = registry()
    assert isinstance(connector_cls.name, str) and connectors[connector_cls.name] is connector_cls
    assert isinstance(connector_cls.version, str) and connector_cls.version
    assert connector_cls.feed_set is None or (isinstance(connector_cls.feed_set, str) and connector_cls.feed_set)
    assert connector_cls.resources, f"{connector_cls.name} declares no resources"
    for name, resource in connector_cls.resources.items():
        assert resource.name == name, f"{connector_cls.name}: resources[{name!r}] is named {resource.name!r}"
        assert isinstance(resource.key, str) and resource.key, f"{connector_cls.name}.{name} has no key field"
        assert resource.read or resource.fetch or resource.write, f"{connector_cls.name}.{name} can do nothing"
        assert connector_cls.resource(name) is resource


def test_settings_schema_is_a_valid_closed_json_schema(connector_cls: type[Connector]) -> None:
    schema = connector_cls.settings_schema
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema.get("type") == "object"
    assert schema.get("additionalProperties") is False, "a misspelt setting must be an error (docs/plugins.md)"
    for name, prop in (schema.get("properties") or {}).items():
        if "default" in prop:  # the schema is the one source of the defaults: each must be valid
            assert jsonschema.Draft202012Validator(prop).is_valid(prop["default"]), (name, prop["default"])


# -- every sandbox: it fakes a registered connector, with hints the suite understands ----------------


def test_sandbox_fakes_a_registered_connector(spec: SandboxSpec) -> None:
    connectors, _ = registry()
    if spec.start is None and spec.connector is None:
        assert spec.contract is None, f"sandbox {spec.name!r} gives contract hints but no start()"
        return
    target = spec.connector or spec.name
    assert target in connectors, f"sandbox {spec.name!r} fakes {target!r}; registered: {sorted(connectors)}"


def test_contract_hints_are_known(case: Case) -> None:
    hints, resources = case.hints, case.connector.resources
    unknown_hints = sorted(set(hints) - HINT_KEYS)
    assert not unknown_hints, f"unknown contract hints {unknown_hints}; known: {sorted(HINT_KEYS)}"
    for hint in ("single_page", "full_refresh", "read", "fetch"):
        unknown = set(hints.get(hint) or ()) - set(resources)
        assert not unknown, f"contract[{hint!r}] names {sorted(unknown)}; resources: {sorted(resources)}"
    assert isinstance(case.small_pages, Mapping)
    assert set(hints.get("cursor_fields") or {}) <= set(resources)


def test_sandbox_settings_validate_against_the_schema(case: Case, sandboxes: Sandboxes, tmp_path: Path) -> None:
    validator = jsonschema.Draft202012Validator(case.connector.settings_schema)
    settings = sandboxes.settings(case)
    for values in (settings, {**settings, **case.small_pages}):
        problems = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(dict(values))]
        assert not problems, problems
        make_connector(case, values, tmp_path)  # the connector's own loading accepts them too


def test_checks_pass_against_the_sandbox(case: Case, sandboxes: Sandboxes) -> None:
    with sandboxes.connector(case) as conn:
        checks = conn.checks(context())
    assert all(isinstance(c, Check) for c in checks)
    assert [(c.name, c.detail) for c in checks if not c.ok] == []


# -- read ---------------------------------------------------------------------------------------------


def _records(pages: Sequence[Page]) -> list[dict[str, Any]]:
    return [r for p in pages for r in p.records]


def test_read_streams_pages_to_the_end(case: Case, read_resource: str, sandboxes: Sandboxes) -> None:
    key = case.connector.resources[read_resource].key
    pages = sandboxes.full_read(case, read_resource)
    assert pages, "a read yields at least one page"
    for page in pages:
        assert isinstance(page, Page) and isinstance(page.records, list)
        assert all(isinstance(r, dict) and r.get(key) is not None for r in page.records), f"a record lacks {key!r}"
        assert roundtrip(page.cursor) == page.cursor, f"cursor {page.cursor!r} does not survive JSON"
        assert page.total is None or (isinstance(page.total, int) and page.total >= 0)
    keys = keys_of(_records(pages), key)
    assert keys, f"the sandbox holds no {read_resource}: give it some, or leave it out of contract['read']"
    assert len(keys) == len(set(keys)), "one read yielded a record twice"
    if read_resource not in case.names("single_page"):
        assert len(pages) > 1, f"with {dict(case.small_pages)} the read still fits one page (contract['small_pages'])"
        cursors = [json.dumps(p.cursor, sort_keys=True) for p in pages[:-1]]
        assert None not in [p.cursor for p in pages[:-1]], "every page but the last must carry a resume cursor"
        assert len(set(cursors)) == len(cursors), "the cursor does not advance from page to page"


def test_read_resumes_after_any_page(case: Case, resume_resource: str, sandboxes: Sandboxes) -> None:
    key = case.connector.resources[resume_resource].key
    pages = sandboxes.full_read(case, resume_resource)
    for k in range(len(pages) - 1):
        resumed = sandboxes.read(case, resume_resource, roundtrip(pages[k].cursor))
        expected = keys_of(_records(pages[k + 1:]), key)
        assert keys_of(_records(resumed), key) == expected, f"resumed after page {k + 1} of {len(pages)}"


def test_read_again_from_the_last_cursor(case: Case, read_resource: str, sandboxes: Sandboxes) -> None:
    key = case.connector.resources[read_resource].key
    records = _records(sandboxes.full_read(case, read_resource))
    last = sandboxes.full_read(case, read_resource)[-1].cursor
    again = keys_of(_records(sandboxes.read(case, read_resource, roundtrip(last))), key)
    assert len(again) == len(set(again))
    if read_resource in case.names("full_refresh"):  # every run reads the whole resource
        assert sorted(again) == sorted(keys_of(records, key))
        return
    # Incremental: nothing changed, so nothing comes back but (at most) the records at the high-water mark.
    field = (case.hints.get("cursor_fields") or {}).get(read_resource)
    mark = max((r[field] for r in records if r.get(field) is not None), default=None) if field else None
    boundary = {str(r[key]) for r in records if field and mark is not None and r.get(field) == mark}
    assert set(again) <= boundary, f"re-read {sorted(set(again) - boundary)} though nothing changed"


# -- fetch --------------------------------------------------------------------------------------------


def test_fetch_returns_the_records_read(case: Case, fetch_resource: str, sandboxes: Sandboxes) -> None:
    key = case.connector.resources[fetch_resource].key
    read = {str(r[key]): r for r in _records(sandboxes.full_read(case, fetch_resource))}
    with sandboxes.connector(case) as conn:
        fetched = list(conn.fetch(fetch_resource, list(read), ctx=context()))
        assert list(conn.fetch(fetch_resource, [], ctx=context())) == []
    assert sorted(keys_of(fetched, key)) == sorted(read)
    for record in fetched:
        seen = read[str(record[key])]
        differ = {f for f in record.keys() & seen.keys()
                  if record[f] is not None and seen[f] is not None and record[f] != seen[f]}
        assert not differ, f"fetched {key}={record[key]} differs from the read record in {sorted(differ)}"


# -- write --------------------------------------------------------------------------------------------


def _check_outcomes(outcomes: Sequence[WriteOutcome], samples: list[dict[str, Any]], key: str) -> None:
    assert len(outcomes) == len(samples), "write must return exactly one outcome per record"
    assert all(isinstance(o, WriteOutcome) for o in outcomes)
    assert [o.key for o in outcomes] == keys_of(samples, key), "outcomes must follow the records' order"
    assert [(o.key, o.error) for o in outcomes if o.action == "error"] == []
    assert {o.action for o in outcomes} <= {"created", "updated", "unchanged"}
    assert all(o.remote_id is None or isinstance(o.remote_id, str) for o in outcomes)


def test_write_returns_one_outcome_per_record(case: Case, write_resource: str, fresh_settings: Mapping[str, Any],
                                              tmp_path: Path) -> None:
    key = case.connector.resources[write_resource].key
    samples = case.hook("write_samples")(fresh_settings).get(write_resource)
    assert samples, f"contract['write_samples'] gives no record for {write_resource!r}"
    assert all(r.get(key) is not None for r in samples), f"a sample lacks the key field {key!r}"
    with make_connector(case, fresh_settings, tmp_path) as conn:
        first = conn.write(write_resource, samples, ctx=context(mode="live"))
    _check_outcomes(first, samples, key)
    assert case.hook("received_writes")(fresh_settings), "the store received no write"
    with make_connector(case, fresh_settings, tmp_path) as conn:  # a re-run after a lost outcome
        _check_outcomes(conn.write(write_resource, samples, ctx=context(mode="live")), samples, key)
        if case.connector.resources[write_resource].fetch:
            found = set(keys_of(list(conn.fetch(write_resource, keys_of(samples, key), ctx=context())), key))
            assert set(keys_of(samples, key)) <= found, "records written cannot be fetched back"


# -- test mode ----------------------------------------------------------------------------------------

FEED = "contract_push"


def _engine_config(case: Case, settings: Mapping[str, Any], sample: dict[str, Any], resource: str,
                   root: Path, db_url: str) -> tuple[dict[str, Any], dict[str, str]]:
    """engine.yaml's content (and its environment): one integration in test mode with one outbound feed.

    The feed pushes every hub product to ``resource`` as the constant record ``sample``.
    """
    feed_set = case.connector.feed_set or case.connector.name
    (root / "feeds" / feed_set).mkdir(parents=True)
    (root / "mappings" / feed_set).mkdir(parents=True)
    feed = {"name": FEED, "direction": "outbound", "schedule": "0 * * * *", "mapping": f"{FEED}.yaml",
            "source": {"side": "hub", "resource": "products"}, "target": {"side": "store", "resource": resource}}
    mapping = {"fields": {field: {"value": value} for field, value in sample.items()}}
    (root / "feeds" / feed_set / f"{FEED}.yaml").write_text(yaml.safe_dump(feed), encoding="utf-8")
    (root / "mappings" / feed_set / f"{FEED}.yaml").write_text(yaml.safe_dump(mapping), encoding="utf-8")
    env: dict[str, str] = {}
    written: dict[str, Any] = {}
    for name, value in settings.items():  # secrets are only accepted as ${ENV_VAR}
        if is_secret_key(name) and isinstance(value, str):
            env[f"CONTRACT_{name.upper()}"] = value
            value = f"${{CONTRACT_{name.upper()}}}"
        written[name] = value
    raw = {"root": str(root), "database": db_url, "data_dir": "data", "feeds_dir": "feeds",
           "mappings_dir": "mappings", "hub": {"connector": "connect"},
           "integrations": {INTEGRATION: {"connector": case.name, "mode": "test", "settings": written}}}
    return raw, env


def test_test_mode_blocks_writes(case: Case, fresh_settings: Mapping[str, Any], tmp_path: Path,
                                 db_url: str) -> None:
    writable = case.write_resources
    if not writable:
        pytest.skip(f"{case.name} writes no resource: there is nothing for test mode to block")
    samples = case.hook("write_samples")(fresh_settings)
    resource = next((r for r in writable if samples.get(r)), None)
    assert resource, f"contract['write_samples'] gives no record for any of {writable}"
    received = case.hook("received_writes")
    raw, env = _engine_config(case, fresh_settings, samples[resource][0], resource, tmp_path, db_url)
    with Engine.from_config(raw, env=env) as engine:  # the real entry points: the real hub
        hub = engine.connector_for(None, "hub")
        with engine.sessions.begin() as session:
            seeded = hub.write("products", [{"sku": "CONTRACT-1", "name": "Contract suite product"}],
                               ctx=context(session=session))
        assert [o.action for o in seeded] == ["created"]

        info = engine.run(FEED, INTEGRATION)
        assert info.status == "skipped" and "test mode" in (info.message or "")
        assert not list(received(fresh_settings)), "the store received a write from an integration in test mode"

        # The control: once live, the very same feed does write to the store.
        assert engine.go_live(INTEGRATION, force=True, reason="contract suite control").mode == "live"
        live = engine.run(FEED, INTEGRATION)
        assert live.status == "success", live.message
        assert received(fresh_settings), "the live run wrote nothing, so the test-mode run proved nothing"

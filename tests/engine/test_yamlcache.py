"""engine.yamlcache: parsed YAML kept by content, never trusted over the file, never a reason to fail."""

from __future__ import annotations

import marshal
import os
from pathlib import Path

import pytest
import yaml

from engine import yamlcache
from engine.errors import ConfigError
from engine.yamlio import load_yaml_file

FEED = """\
name: update_products   # a comment
source: {side: store, resource: products}
target: {side: hub, resource: products}
tags: &t [a, b]
again: *t
rules:
  - when: "status == 'archived'"
    severity: info
"""


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv(yamlcache.ENV_VAR, str(folder))
    return folder


def entries(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def parse_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """From here on, any use of the YAML parser fails the test."""
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the YAML parser ran")

    monkeypatch.setattr(yaml, "SafeLoader", refuse)


def test_second_load_comes_from_the_cache_with_the_same_data_and_marks(
        tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "feed.yaml"
    path.write_text(FEED)
    parsed = load_yaml_file(path, "feeds.d/x/feed.yaml")
    assert len(entries(cache)) == 1
    parse_fails(monkeypatch)
    cached = load_yaml_file(path, "feeds.d/x/feed.yaml")
    assert cached.data == parsed.data
    assert cached.marks == parsed.marks
    assert cached.marks.value(("rules", 0, "severity")) == (8, 15)
    assert cached.data is not parsed.data  # a fresh copy each time: callers may change what they get


def test_an_edit_is_read_whatever_the_timestamps_say(tmp_path: Path, cache: Path) -> None:
    path = tmp_path / "feed.yaml"
    path.write_text("severity: info\n")
    stat = path.stat()
    assert load_yaml_file(path).data == {"severity": "info"}
    path.write_text("severity: warn\n")  # same size
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same mtime
    assert load_yaml_file(path).data == {"severity": "warn"}


def test_the_same_text_under_another_name_keeps_its_own_name(tmp_path: Path, cache: Path) -> None:
    (tmp_path / "a.yaml").write_text(FEED)
    (tmp_path / "b.yaml").write_text(FEED)
    load_yaml_file(tmp_path / "a.yaml", "a.yaml")
    doc = load_yaml_file(tmp_path / "b.yaml", "b.yaml")
    assert doc.marks.file == "b.yaml"
    assert doc.marks.error(("name",), "bad").render().startswith("b.yaml:1:7")


def test_documents_with_problems_are_parsed_every_time(tmp_path: Path, cache: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text("a: 1\na: 2\n")
    for _ in range(2):
        doc = load_yaml_file(path)
        assert [e.line for e in doc.errors] == [2]
    assert entries(cache) == []


def test_syntax_errors_are_never_kept(tmp_path: Path, cache: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("a: [1, 2\n")
    for _ in range(2):
        with pytest.raises(ConfigError, match="YAML syntax error"):
            load_yaml_file(path)
    assert entries(cache) == []


def test_values_marshal_cannot_keep_are_parsed_every_time(tmp_path: Path, cache: Path) -> None:
    path = tmp_path / "dated.yaml"
    path.write_text("go_live: 2026-11-27\n")
    assert str(load_yaml_file(path).data["go_live"]) == "2026-11-27"
    assert entries(cache) == []
    assert str(load_yaml_file(path).data["go_live"]) == "2026-11-27"


@pytest.mark.parametrize("damage", [b"", b"not marshal", b"\xe9(garbage", "marshalled-wrong-shape"])
def test_a_damaged_entry_is_ignored(tmp_path: Path, cache: Path, damage: bytes | str) -> None:
    path = tmp_path / "feed.yaml"
    path.write_text(FEED)
    expected = load_yaml_file(path).data
    (entry,) = entries(cache)
    entry.write_bytes(marshal.dumps(["a", "list"]) if damage == "marshalled-wrong-shape" else damage)
    assert load_yaml_file(path).data == expected


def test_an_unwritable_cache_only_costs_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv(yamlcache.ENV_VAR, str(blocker / "cache"))  # a folder below a file: cannot exist
    path = tmp_path / "feed.yaml"
    path.write_text(FEED)
    assert load_yaml_file(path).data["name"] == "update_products"
    assert load_yaml_file(path).data["name"] == "update_products"


def test_an_empty_setting_turns_the_cache_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(yamlcache.ENV_VAR, "")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    path = tmp_path / "feed.yaml"
    path.write_text(FEED)
    load_yaml_file(path)
    assert yamlcache.cache_dir() is None
    assert not (tmp_path / "xdg").exists()


def test_default_folder_follows_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(yamlcache.ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert yamlcache.cache_dir() == tmp_path / "xdg" / "connect-engine" / "yaml"
    path = tmp_path / "feed.yaml"
    path.write_text(FEED)
    load_yaml_file(path)
    (entry,) = entries(tmp_path / "xdg")
    assert entry.parent.parent == tmp_path / "xdg" / "connect-engine" / "yaml"
    assert (entry.parent.stat().st_mode & 0o777) == 0o700

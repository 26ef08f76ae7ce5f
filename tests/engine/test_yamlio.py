"""engine.yamlio: YAML aliases that never end, or expand to billions of values, are configuration errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import ConfigError
from engine.yamlio import MAX_VALUES, load_yaml_file


def test_an_alias_inside_what_it_names_is_an_error_not_a_recursion(tmp_path: Path) -> None:
    path = tmp_path / "engine.yaml"
    path.write_text("database: sqlite:///x.db\nplugins: &a\n  disabled: [*a]\n")
    with pytest.raises(ConfigError) as err:
        load_yaml_file(path, "engine.yaml")
    assert err.value.render().startswith("engine.yaml:2:10: an alias (*name) refers to a value that contains it")


def test_aliases_of_aliases_stop_at_a_bound(tmp_path: Path) -> None:
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for prev, name in zip("abcdef", "bcdefg", strict=True):  # 9**7 values once expanded
        lines.append(f"{name}: &{name} [{', '.join(['*' + prev] * 9)}]")
    path = tmp_path / "laughs.yaml"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError, match=f"more than {MAX_VALUES:,} values once its aliases"):
        load_yaml_file(path)


def test_ordinary_aliases_still_load(tmp_path: Path) -> None:
    path = tmp_path / "feed.yaml"
    path.write_text("base: &b {a: 1, b: [1, 2]}\none: *b\ntwo: {<<: *b, c: 3}\n")
    doc = load_yaml_file(path)
    assert doc.data == {"base": {"a": 1, "b": [1, 2]}, "one": {"a": 1, "b": [1, 2]},
                        "two": {"a": 1, "b": [1, 2], "c": 3}}

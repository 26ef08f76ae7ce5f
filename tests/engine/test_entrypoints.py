"""Finding the ``connect_engine`` entry points without importlib.metadata: the same answer, faster."""

from __future__ import annotations

import importlib.metadata
import sys
import zipfile
from pathlib import Path

import pytest

from engine import entrypoints
from engine.plugins import Hooks, build_manager

GROUP = "connect_engine"


def installed(site: Path, folder: str, entry_points: str, metadata: str = "") -> None:
    info = site / folder
    info.mkdir(parents=True)
    (info / "entry_points.txt").write_text(entry_points)
    if metadata:
        (info / ("PKG-INFO" if folder.endswith(".egg-info") else "METADATA")).write_text(metadata)


def test_the_installed_entry_points_are_those_importlib_metadata_finds() -> None:
    theirs = [(ep.name, ep.value) for dist in importlib.metadata.distributions()
              for ep in dist.entry_points if ep.group == GROUP]
    ours = [(ep.name, ep.value) for ep in entrypoints.find(GROUP)]
    assert sorted(ours) == sorted(theirs)
    assert {"connect", "shopify"} <= {name for name, _ in ours}
    for group in ("console_scripts", "pytest11"):  # any group, not only ours
        assert sorted((ep.name, ep.value) for ep in entrypoints.find(group)) == sorted(
            (ep.name, ep.value) for dist in importlib.metadata.distributions()
            for ep in dist.entry_points if ep.group == group)


def test_entry_points_are_read_as_importlib_metadata_reads_them(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    installed(site, "acme_plugin-2.3.dist-info",
              "# made by hand\n[console_scripts]\nacme = acme_plugin.cli:main\n\n"
              "[connect_engine]\n  acme =  acme_plugin.hooks:plugin [extra]\n# a comment\nacme_two=acme_plugin\n",
              "Metadata-Version: 2.1\nName: Acme-Plugin\nVersion: 2.3\n\nName: not a header\n")
    installed(site, "Legacy.EGG-INFO", "[connect_engine]\nlegacy = legacy_mod\n",
              "Metadata-Version: 1.0\nName: legacy\nVersion: 0.9\n")
    installed(site, "nothing-1.0.dist-info", "[other]\nx = y\n")
    (site / "notes.txt").write_text("not a distribution")
    monkeypatch.setattr(sys, "path", [str(tmp_path / "missing"), str(site)])
    found = {ep.name: ep for ep in entrypoints.find(GROUP)}
    theirs = {ep.name: ep.value for dist in importlib.metadata.distributions() for ep in dist.entry_points
              if ep.group == GROUP}
    assert {name: ep.value for name, ep in found.items()} == theirs == {
        "acme": "acme_plugin.hooks:plugin [extra]", "acme_two": "acme_plugin", "legacy": "legacy_mod"}
    assert found["acme"].distribution() == ("Acme-Plugin", "2.3")
    assert found["legacy"].distribution() == ("legacy", "0.9")


def test_an_entry_point_loads_the_object_it_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "acme_hooks.py").write_text("class Plugin:\n    class Inner:\n        pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    ep = entrypoints.EntryPoint("acme", "acme_hooks:Plugin.Inner [extra]", str(tmp_path))
    assert ep.load().__qualname__ == "Plugin.Inner"
    assert entrypoints.EntryPoint("acme", "acme_hooks", str(tmp_path)).load().__name__ == "acme_hooks"
    assert entrypoints.EntryPoint("acme", "acme_hooks [extra]", str(tmp_path)).load().__name__ == "acme_hooks"


def test_an_archive_on_the_path_is_searched_by_importlib_metadata(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    archive = tmp_path / "plugins.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("zipped-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: zipped\nVersion: 1.0\n")
        z.writestr("zipped-1.0.dist-info/entry_points.txt", "[connect_engine]\nzipped = zipped_mod\n")
    monkeypatch.setattr(sys, "path", [str(archive)])
    found = entrypoints.find(GROUP)
    assert [(ep.name, ep.value) for ep in found] == [("zipped", "zipped_mod")]
    assert found[0].distribution() == ("zipped", "1.0")


def test_a_plugin_found_first_on_the_path_wins_and_lists_its_own_distribution(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As pluggy's loader: a name already registered is skipped, so the first folder on sys.path wins."""
    first, second = tmp_path / "first", tmp_path / "second"
    for site, version in ((first, "2.0"), (second, "1.0")):
        installed(site, f"shadow-{version}.dist-info", "[connect_engine]\nshadow = shadow_hooks\n",
                  f"Metadata-Version: 2.1\nName: shadow\nVersion: {version}\n")
    (first / "shadow_hooks.py").write_text("")
    monkeypatch.setattr(sys, "path", [str(first), str(second), *sys.path])
    monkeypatch.delitem(sys.modules, "shadow_hooks", raising=False)
    hooks = Hooks(build_manager(blocked=["connect", "shopify"]))
    rows = {p.name: p for p in hooks.plugins()}
    assert (rows["shadow"].distribution, rows["shadow"].version) == ("shadow", "2.0")
    assert "connect" not in rows

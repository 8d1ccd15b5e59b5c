"""``engine._resources``: the one lookup of the shipped resources, for each way LayerForge runs:
a checkout, an installed wheel (``share/layerforge/resources`` in the data folder), a frozen
build (``sys._MEIPASS``), and the ``LAYERFORGE_RESOURCES`` override."""

from __future__ import annotations

import site as site_module
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import pytest

import engine
from engine import _resources

CHECKOUT = Path(engine.__file__).resolve().parents[1] / "resources"


def make_resources(folder: Path) -> Path:
    (folder / "templates").mkdir(parents=True)
    (folder / "templates" / "spiral.json").write_text("{}", encoding="utf-8")
    return folder


@pytest.fixture(autouse=True)
def _fresh_lookup(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("LAYERFORGE_RESOURCES", raising=False)
    _resources._found.cache_clear()
    yield
    _resources._found.cache_clear()


def installed_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make the module believe it lives in site-packages of a prefix ``tmp_path/env``."""
    site = tmp_path / "env" / "lib" / "site-packages"
    prefix = str(tmp_path / "env")
    monkeypatch.setattr(_resources, "__file__", str(site / "engine" / "_resources.py"))
    monkeypatch.setattr(sysconfig, "get_path", lambda name, *a, **k: prefix)
    for name in ("prefix", "base_prefix"):  # this machine's own installation stays out of it
        monkeypatch.setattr(sys, name, prefix)
    monkeypatch.setattr(site_module, "USER_BASE", prefix)
    return site


def test_a_checkout_uses_the_resources_folder_next_to_engine() -> None:
    assert _resources.resources_dir() == CHECKOUT
    assert _resources.resource_path("templates", "spiral.json").is_file()


def test_the_override_wins_and_a_missing_file_names_every_place(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAYERFORGE_RESOURCES", str(tmp_path))
    assert _resources.resources_dir() == tmp_path
    with pytest.raises(FileNotFoundError,
                       match=rf"datasets/digits.npz is missing \(looked in: {tmp_path}\).*"
                             "set LAYERFORGE_RESOURCES"):
        _resources.resource_path("datasets", "digits.npz")


def test_a_frozen_build_uses_its_unpacked_folder(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    bundle = make_resources(tmp_path / "_internal" / "resources")
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path / "_internal"), raising=False)
    assert _resources.candidates()[0] == bundle
    assert _resources.resources_dir() == bundle


def test_an_installed_wheel_uses_the_data_folder_and_skips_a_foreign_resources_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = installed_layout(tmp_path, monkeypatch)
    (site / "resources").mkdir(parents=True)  # someone else's top-level "resources" package
    data = make_resources(tmp_path / "env" / "share" / "layerforge" / "resources")
    assert _resources.candidates()[:2] == [site / "resources", data]
    assert _resources.resources_dir() == data


def test_nothing_found_points_at_the_first_place_and_lists_them_all(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = installed_layout(tmp_path, monkeypatch)
    monkeypatch.setattr(_resources, "_recorded_dir", lambda: None)
    assert _resources.resources_dir() == site / "resources"
    with pytest.raises(FileNotFoundError, match=r"looked in: .*site-packages/resources, "
                                                r".*env/share/layerforge/resources"):
        _resources.resource_path("icons", "layerforge.svg")


def test_the_app_and_the_datasets_use_the_same_lookup() -> None:
    from app.core.project import TEMPLATES_DIR
    from engine.data.datasets import resources_dir as data_resources_dir

    assert TEMPLATES_DIR == _resources.resources_dir() / "templates"
    assert data_resources_dir() == _resources.resources_dir()

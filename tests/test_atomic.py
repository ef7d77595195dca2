"""Atomic output folders: all or nothing, and never clobber a foreign folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from movierec.atomic import atomic_dir
from movierec.errors import MovierecError


def test_success_renames_into_place(tmp_path: Path) -> None:
    target = tmp_path / "out"
    with atomic_dir(target, replace_if="summary.json") as tmp:
        assert tmp != target and tmp.parent == tmp_path
        (tmp / "summary.json").write_text("{}")
    assert (target / "summary.json").read_text() == "{}"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_failure_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "out"
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "half.txt").write_text("x")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_replaces_own_output_but_not_foreign_folders(tmp_path: Path) -> None:
    target = tmp_path / "out"
    with atomic_dir(target, replace_if="summary.json") as tmp:
        (tmp / "summary.json").write_text("1")
    with atomic_dir(target, replace_if="summary.json") as tmp:
        (tmp / "summary.json").write_text("2")
    assert (target / "summary.json").read_text() == "2"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]

    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "cat.jpg").write_text("x")
    with (
        pytest.raises(MovierecError, match="not a movierec output"),
        atomic_dir(foreign, replace_if="summary.json"),
    ):
        pass
    assert (foreign / "cat.jpg").exists()

    # A failed re-run keeps the previous good output.
    with pytest.raises(RuntimeError), atomic_dir(target, replace_if="summary.json") as tmp:
        (tmp / "summary.json").write_text("3")
        raise RuntimeError("boom")
    assert (target / "summary.json").read_text() == "2"

"""docs/tutorial.md runs: every ```python cell of each part, in order, in one namespace,
from a folder holding ml-latest-small (so the page's relative paths work)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGE = REPO / "docs" / "tutorial.md"


def cells(part: str) -> list[str]:
    """The python cells of the section whose heading starts with ``## {part}``."""
    text = PAGE.read_text(encoding="utf-8")
    sections = re.split(r"^## ", text, flags=re.M)
    body = next(s for s in sections if s.startswith(part))
    return re.findall(r"```python\n(.*?)```", body, flags=re.S)


@pytest.fixture
def workdir(tmp_path: Path, ml_small: Path) -> Iterator[Path]:
    (tmp_path / "ml-latest-small").symlink_to(ml_small)
    old = Path.cwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(old)


def _run(part: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "__tutorial__"}
    found = cells(part)
    assert len(found) >= 8, f"{part}: only {len(found)} cells"
    for i, cell in enumerate(found, 1):
        try:
            exec(compile(cell, f"{PAGE.name}:{part}:cell{i}", "exec"), namespace)
        except Exception as exc:
            raise AssertionError(f"tutorial {part} cell {i} failed:\n{cell}") from exc
    return namespace


@pytest.mark.slow
def test_tutorial_part_1_pandas(workdir: Path) -> None:
    ns = _run("Part 1")
    assert (workdir / "my-model" / "model.json").is_file()
    assert (workdir / "run-out" / "summary.json").is_file()
    assert len(ns["result"].recommendations) > 0


@pytest.mark.slow
@pytest.mark.spark
def test_tutorial_part_2_spark(workdir: Path, spark: Any) -> None:
    ns = _run("Part 2")
    assert ns["spark"] is spark  # the page adopted the running session, unchanged
    assert (workdir / "my-spark-model" / "model.json").is_file()
    assert (workdir / "spark-run-out" / "summary.json").is_file()

"""Shared fixtures: where the shared datasets are, and one session-wide SparkSession."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def datasets_dir() -> Path:
    """Shared datasets: ``$MOVIEREC_DATA_DIR``, else ``../shared/datasets`` from the repo root."""
    env = os.environ.get("MOVIEREC_DATA_DIR")
    if env:
        return Path(env)
    return REPO_ROOT.parent / "shared" / "datasets"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = datasets_dir()
    if not (path / "ml-latest-small" / "ratings.csv").is_file():
        pytest.fail(
            f"ml-latest-small not found under {path}; "
            "set MOVIEREC_DATA_DIR to the shared datasets folder"
        )
    return path


@pytest.fixture(scope="session")
def ml_small(data_dir: Path) -> Path:
    """The ml-latest-small folder (ratings.csv, movies.csv)."""
    return data_dir / "ml-latest-small"


@pytest.fixture(scope="session")
def spark() -> Iterator[object]:
    """One local[2] SparkSession for the whole test session, built by the project's only builder."""
    from movierec.config import SparkConfig
    from movierec.spark import get_spark, stop_spark

    session = get_spark(SparkConfig(master="local[2]", shuffle_partitions=2, driver_memory="2g"))
    yield session
    stop_spark()

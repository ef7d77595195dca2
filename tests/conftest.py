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


HEAVY_FIRST = (
    "test_cli.py",
    "test_cluster.py",
    "test_driver_memory.py",
    "test_spark_plane.py",
    "test_tutorial.py",
    "test_connect.py",
    "test_data_corpus.py",
    "test_local_kernels.py",
    "test_report.py",
    "test_engines_ials.py",
    "test_service.py",
)
"""Test files in decreasing running time (measured in CI). `make test` runs the suite on two
pytest-xdist workers with ``--dist loadfile`` (a file's tests stay on one worker, in file
order, sharing its module fixtures) and ``--no-loadscope-reorder``: handing out the longest
files first keeps one long file from starting last and running alone."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Order the files as :data:`HEAVY_FIRST`, then the rest in their usual order (stable)."""
    rank = {name: i for i, name in enumerate(HEAVY_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


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
    from cluster import TEST_SPARK_CONF
    from movierec.config import SparkConfig
    from movierec.spark import get_spark, stop_spark

    cfg = SparkConfig(
        master="local[2]", shuffle_partitions=2, driver_memory="2g", conf=TEST_SPARK_CONF
    )
    session = get_spark(cfg)
    yield session
    stop_spark()

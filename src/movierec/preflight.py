"""Checks a command makes before its work starts, where failing is cheap: the input exists
and is readable (before a JVM starts and prints to stderr), the relevance threshold is within
the data's rating scale (before any model is fitted)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from movierec.config import DataConfig
from movierec.engines.base import EngineData
from movierec.errors import ConfigError
from movierec.schema import RATING


def check_source(cfg: DataConfig) -> None:
    """Before an engine starts (a JVM prints to stderr when it starts), fail on what is cheap
    to check here: an unknown or missing dataset (fetched when downloadable, as the reader
    would), a local path that does not exist, a local file that is not text or Parquet.
    Hadoop URIs are left to the engine's reader.

    Raises:
        DatasetError, DataError: as :func:`movierec.data.load_ratings` would.
    """
    from movierec.data import resolve_dataset
    from movierec.data.sources import resolve_source
    from movierec.data.textio import check_not_binary
    from movierec.paths import is_remote

    if cfg.path is None:
        if cfg.dataset:
            resolve_dataset(cfg.dataset, download=True)
        return
    if is_remote(cfg.path):
        return
    src = resolve_source(Path(cfg.path).expanduser(), cfg.format)
    if src.layout != "parquet" and src.ratings.is_file():
        check_not_binary(src.ratings)


def check_threshold(ratings: pd.DataFrame | EngineData, threshold: float) -> None:
    """Fail early when no rating reaches ``threshold`` (the top-k metrics would be undefined).

    Raises:
        ConfigError: the threshold is above every rating in the data.
    """
    rows = ratings.local_rows() if isinstance(ratings, EngineData) else ratings
    if rows is not None:
        top = float(rows[RATING].max())
    else:
        assert isinstance(ratings, EngineData)
        top = float(ratings.stats().rating_max)  # one aggregation where the data lives
    if threshold > top:
        raise ConfigError(
            f"threshold {threshold} is above every rating in the data (highest: {top}); "
            "choose --threshold within the rating scale"
        )


__all__ = ["check_source", "check_threshold"]

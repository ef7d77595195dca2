"""Ratings and movies input: readers, validation and the MovieLens dataset cache.

Everything here runs with pandas/numpy on the driver; the result is the canonical ratings
frame described in :mod:`movierec.schema`.
"""

from __future__ import annotations

from movierec.data.datasets import (
    DATASETS,
    DatasetInfo,
    default_cache_dir,
    fetch_dataset,
    list_datasets,
    resolve_dataset,
)
from movierec.data.movies import load_movies
from movierec.data.readers import load_ratings, save_rejects
from movierec.data.report import REASONS, REJECT_COLUMNS, LoadedRatings, LoadReport

__all__ = [
    "DATASETS",
    "REASONS",
    "REJECT_COLUMNS",
    "DatasetInfo",
    "LoadReport",
    "LoadedRatings",
    "default_cache_dir",
    "fetch_dataset",
    "list_datasets",
    "load_movies",
    "load_ratings",
    "resolve_dataset",
    "save_rejects",
]

"""The engine contract: an engine owns its data plane.

An engine reads a ratings source into a table it holds (:class:`EngineData`), splits it,
fits models on it (:class:`TrainedModel`), scores and ranks with them, computes the metrics
and writes the results — all where the data lives. The pipeline only passes handles between
these methods and reads back small results: counts, metric dicts, aggregates bounded by the
number of users and movies, a few rows of a handful of users.

* The **local** engine keeps its tables as pandas frames in this process; the default
  implementations below (on ``self.ratings``, with :mod:`movierec.engines.frames`) are its
  data plane: :mod:`movierec.split`, :mod:`movierec.metrics`, :mod:`movierec.baselines`.
* The **Spark** engine overrides every data-plane method with DataFrame operations that run
  on the executors, so no row of a ratings-sized table reaches the Python driver.

Handles, models and read results are context managers: ``with train, test:``, ``with
engine.fit(train, params) as model:`` release engine-side resources (a cached DataFrame,
an index) on exit. Column names are those of :mod:`movierec.schema`: a ratings
table has USER, ITEM, RATING (TIMESTAMP optional), a scored table adds PREDICTION, a top-N
table has USER, ITEM, SCORE, RANK.

The abstract handles (:class:`EngineData`, :class:`Predictor`, :class:`TrainedModel`) and the
in-memory :class:`FrameData` and :class:`BaselinePredictor` live in
:mod:`movierec.engines.handles`, the plain values in :mod:`movierec.engines.values`; both are
re-exported here. This module holds what reads and fits: :class:`Engine`, :class:`Loaded` and
the in-memory :class:`FrameLoaded`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import pandas as pd

from movierec.engines.handles import (
    BASELINES,
    BaselinePredictor,
    EngineData,
    FrameData,
    Predictor,
    TrainedModel,
    _Scoped,
)
from movierec.engines.values import (
    MODELS,
    RANKING_MODELS,
    ALSParams,
    Catalog,
    Factors,
    TableStats,
    WrittenLists,
)
from movierec.schema import ITEM, USER

if TYPE_CHECKING:
    from movierec.config import DataConfig, SparkConfig
    from movierec.data.report import LoadedRatings, LoadReport


class Loaded(_Scoped, ABC):
    """What :meth:`Engine.read` returns: the validated ratings (held by the engine), the
    load report, and the titles and original ids (:class:`Catalog`)."""

    ratings: EngineData
    report: LoadReport
    catalog: Catalog

    @property
    def rejected(self) -> int:
        """Rows of the source that were not kept."""
        return int(sum(self.report.rejected.values()))

    @abstractmethod
    def aligned(
        self,
        user_ids: np.ndarray | None,
        item_ids: np.ndarray | None,
        known_users: np.ndarray,
        known_items: np.ndarray,
    ) -> EngineData:
        """The ratings in a model's dense ids (a new table): ``user_ids``/``item_ids`` are
        the model's original ids by dense id (None: not remapped), ``known_*`` the dense ids
        it has factors for. Ids match through their original values as text; a user or
        movie the model does not know gets a fresh id, distinct per original, that no known
        one has (cold start). See :func:`movierec.ids.align_column`."""

    @abstractmethod
    def write_rejects(self, folder: Path) -> list[str]:
        """Write the rejected rows into ``folder`` (nothing when there are none); return the
        names written."""

    def release(self) -> None:
        self.ratings.release()


class Engine(ABC):
    """Factory for the data handles and models of one compute engine."""

    name: ClassVar[str]
    max_concurrent_fits: ClassVar[int | None] = None
    """How many fits may run at once from different threads (None: no limit). An engine that
    already uses every core inside one fit sets 1."""

    def read(
        self, cfg: DataConfig, spark_cfg: SparkConfig | None = None, *, keep_lines: bool = False
    ) -> Loaded:
        """Read and validate the ratings source ``cfg`` (:func:`movierec.data.load_ratings`
        rules, reject reasons and counts) into this engine's data plane. ``keep_lines``: an
        in-memory engine also keeps each kept row's source line (for row accounting).

        Raises:
            DataError: unreadable source, bad rows beyond the reject limit, and the like.
        """
        from movierec.data import load_ratings

        return FrameLoaded(load_ratings(cfg, spark_cfg, keep_lines=keep_lines), self.data)

    @abstractmethod
    def data(self, ratings: pd.DataFrame) -> EngineData:
        """The engine's copy of a canonical pandas ratings table (small inputs and tests;
        a distributed engine copies it to the cluster)."""

    def table(self, ratings: pd.DataFrame | EngineData) -> AbstractContextManager[EngineData]:
        """``ratings`` as this engine's table, for a ``with`` block: a handle as it is (the
        caller keeps it), a pandas frame copied in with :meth:`data` and released on exit."""
        if isinstance(ratings, EngineData):
            return nullcontext(ratings)
        return self.data(ratings)

    def read_table(self, path: Path) -> EngineData:
        """A canonical ratings table stored as Parquet: one file, or a folder of part files."""
        from movierec.lists import read_table

        return self.data(read_table(Path(path)))

    def catalog(
        self,
        movies: pd.DataFrame | None,
        user_ids: np.ndarray | None = None,
        item_ids: np.ndarray | None = None,
    ) -> Catalog:
        """A :class:`Catalog` of this engine from driver-side values (e.g. a model folder's)."""
        return Catalog(movies, user_ids, item_ids)

    @abstractmethod
    def fit(self, train: EngineData, params: ALSParams) -> TrainedModel:
        """Fit ALS on ``train`` with ``params``; deterministic for a given seed."""

    @abstractmethod
    def load(self, path: Path, params: ALSParams) -> TrainedModel:
        """Load a model written by :meth:`TrainedModel.save`; ``params`` come from its metadata."""

    def aggregates(self, data: EngineData) -> tuple[pd.Series, pd.Series, pd.Series]:
        """``data.aggregates()``: (ratings per user, per movie, per rating value)."""
        return data.aggregates()


class FrameLoaded(Loaded):
    """A :class:`~movierec.data.LoadedRatings` whose ratings an in-memory engine holds."""

    def __init__(
        self, loaded: LoadedRatings, handle: EngineData | Callable[[pd.DataFrame], EngineData]
    ) -> None:
        self.loaded = loaded
        self.ratings = handle if isinstance(handle, EngineData) else handle(loaded.ratings)
        self.report = loaded.report
        self.catalog = Catalog(loaded.movies, loaded.user_ids, loaded.item_ids)

    def write_rejects(self, folder: Path) -> list[str]:
        """``folder/rejects.csv`` (:func:`movierec.data.save_rejects`) when rows were rejected."""
        from movierec.data import save_rejects

        if not len(self.loaded.rejects):
            return []
        save_rejects(self.loaded.rejects, Path(folder) / "rejects.csv")
        return ["rejects.csv"]

    def aligned(
        self,
        user_ids: np.ndarray | None,
        item_ids: np.ndarray | None,
        known_users: np.ndarray,
        known_items: np.ndarray,
    ) -> EngineData:
        from movierec.ids import align_column

        frame = self.loaded.ratings.copy()
        for col, model_map, test_map, known in (
            (USER, user_ids, self.loaded.user_ids, known_users),
            (ITEM, item_ids, self.loaded.item_ids, known_items),
        ):
            if model_map is not None or test_map is not None:
                frame[col] = align_column(frame[col].to_numpy(), test_map, model_map, known)
        return self.ratings.derive(frame)


__all__ = [
    "BASELINES",
    "MODELS",
    "RANKING_MODELS",
    "ALSParams",
    "BaselinePredictor",
    "Catalog",
    "Engine",
    "EngineData",
    "Factors",
    "FrameData",
    "FrameLoaded",
    "Loaded",
    "Predictor",
    "TableStats",
    "TrainedModel",
    "WrittenLists",
]

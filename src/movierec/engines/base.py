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
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from movierec.engines.values import (
    MODELS,
    RANKING_MODELS,
    ALSParams,
    Catalog,
    Factors,
    TableStats,
    WrittenLists,
)
from movierec.errors import ConfigError, EngineError
from movierec.schema import ITEM, PREDICTION, RATING, USER
from movierec.split import SALT_HOLDOUT

if TYPE_CHECKING:
    from typing_extensions import Self

    from movierec.config import DataConfig, SparkConfig
    from movierec.data.report import LoadedRatings, LoadReport

BASELINES = ("global_mean", "bias", "most_popular")
"""Names :meth:`EngineData.fit_baseline` accepts (see :mod:`movierec.baselines`)."""


class _Scoped:
    """``with`` support: leaving the block calls :meth:`release`."""

    def release(self) -> None:
        """Free engine-side resources; the object must not be used afterwards."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


class EngineData(_Scoped, ABC):
    """A table held by an engine: ratings, a split of them, predictions or top-N lists.

    Every method runs on the engine's data plane and returns a handle or a small result. The
    defaults work on :attr:`ratings` in this process (the local engine's plane); a
    distributed engine overrides them all, so that none of them moves rows to the driver.
    """

    @property
    @abstractmethod
    def ratings(self) -> pd.DataFrame:
        """The rows as a pandas frame. The local engine's own frame; a distributed engine
        collects them (for tests and small tables: the pipeline never calls this)."""

    def local_rows(self) -> pd.DataFrame | None:
        """The rows when this process already holds them (in-memory engines), else None."""
        return self.ratings

    def derive(self, frame: pd.DataFrame) -> EngineData:
        """A new handle of the same engine on the pandas table ``frame``."""
        return FrameData(frame)

    # --- counts and aggregates ------------------------------------------------------------

    def count(self) -> int:
        """Number of rows."""
        return len(self.ratings)

    def stats(self) -> TableStats:
        """Rows, distinct users and movies, lowest and highest rating (NaN when empty)."""
        frame = self.ratings
        values = frame[RATING].to_numpy(dtype=np.float64)
        empty = len(values) == 0
        return TableStats(
            rows=len(frame),
            users=int(frame[USER].nunique()),
            items=int(frame[ITEM].nunique()),
            rating_min=float("nan") if empty else float(values.min()),
            rating_max=float("nan") if empty else float(values.max()),
        )

    def aggregates(self) -> tuple[pd.Series, pd.Series, pd.Series]:
        """(ratings per user, per movie, per rating value): int64 Series indexed by id or
        value, ascending. Their sizes grow with users and movies, not with ratings."""
        from movierec.eda import counts_from_ratings

        return counts_from_ratings(self.ratings)

    def rows_of_users(self, users: np.ndarray) -> pd.DataFrame:
        """The rows of a few ``users`` (dense ids), collected: a bounded sample for reports
        (at most ``len(users)`` × movies rows)."""
        frame = self.ratings
        return frame.loc[frame[USER].isin(np.asarray(users))].reset_index(drop=True)

    # --- splits (definitions in movierec.split; the same rows on every engine) -------------

    def random_split(
        self, test_fraction: float, seed: int, salt: int = SALT_HOLDOUT
    ) -> tuple[EngineData, EngineData]:
        """:func:`movierec.split.random_split`: (train, test)."""
        from movierec.split import random_split

        train, test = random_split(self.ratings, test_fraction, seed, salt)
        return self.derive(train), self.derive(test)

    def holdout_split(
        self,
        method: str,
        test_fraction: float,
        seed: int,
        *,
        time_cut: str | None = None,
        leave_last: int = 1,
    ) -> tuple[EngineData, EngineData]:
        """:func:`movierec.split.holdout_split`: (development part, test part)."""
        from movierec.split import holdout_split

        dev, test = holdout_split(
            self.ratings, method, test_fraction, seed, time_cut=time_cut, leave_last=leave_last
        )
        return self.derive(dev), self.derive(test)

    def train_fraction_splits(
        self, fractions: list[float], seed: int
    ) -> list[tuple[float, EngineData, EngineData]]:
        """:func:`movierec.split.train_fraction_splits`: (fraction, train, test) each."""
        from movierec.split import train_fraction_splits

        splits = train_fraction_splits(self.ratings, fractions, seed)
        return [(f, self.derive(tr), self.derive(te)) for f, tr, te in splits]

    def kfold(self, folds: int, seed: int) -> list[tuple[EngineData, EngineData]]:
        """:func:`movierec.split.kfold`: (train, validation) per fold."""
        from movierec.split import kfold

        return [(self.derive(tr), self.derive(va)) for tr, va in kfold(self.ratings, folds, seed)]

    def interactions(self, mode: str, threshold: float) -> EngineData:
        """:func:`movierec.interactions.to_interactions` of this table (``self`` in
        ``rating`` mode)."""
        from movierec.engines.frames import to_interactions

        table = to_interactions(self.ratings, mode, threshold)
        return self if table is self.ratings else self.derive(table)

    def cold_start_counts(self, test: EngineData) -> dict[str, int]:
        """:func:`movierec.split.cold_start_counts` of ``test`` against this training table."""
        from movierec.split import cold_start_counts

        return cold_start_counts(self.ratings, test.ratings)

    # --- scored tables (PREDICTION column, NaN where the model could not score) -----------

    def predicted(self) -> EngineData:
        """The rows of a scored table that have a prediction (not NaN)."""
        frame = self.ratings
        known = ~np.isnan(frame[PREDICTION].to_numpy(dtype=np.float64))
        return self.derive(frame.loc[known].reset_index(drop=True))

    def rating_errors(self) -> dict[str, float | int]:
        """:func:`movierec.metrics.rating_errors` (rmse, mae, mse, n) of a scored table over
        its rows with a prediction."""
        from movierec.metrics import rating_errors

        frame = self.ratings
        predicted = frame[PREDICTION].to_numpy(dtype=np.float64)
        known = ~np.isnan(predicted)
        return rating_errors(frame[RATING].to_numpy(dtype=np.float64)[known], predicted[known])

    def holdout_rmse(self) -> tuple[float, int]:
        """(RMSE over the rows with a prediction, number of rows without one).

        Raises:
            DataError: no row has a prediction.
        """
        from movierec.engines.frames import holdout_rmse

        frame = self.ratings
        return holdout_rmse(frame[PREDICTION].to_numpy(), frame[RATING])

    def prediction_metrics(self, k: int, threshold: float) -> dict[str, Any]:
        """rmse, mae, mse, n, ``pairwise`` and ``within_test_top_k`` of a scored table whose
        every row has a prediction (see :meth:`predicted`)."""
        from movierec.engines.frames import prediction_metrics

        frame = self.ratings
        return prediction_metrics(frame, frame[PREDICTION].to_numpy(), k, threshold)

    # --- top-N tables (USER, ITEM, SCORE, RANK) -------------------------------------------

    def catalogue_top_k(self, test: EngineData, k: int, threshold: float) -> dict[str, Any]:
        """:func:`movierec.metrics.catalogue_top_k` of these lists against ``test``."""
        from movierec.metrics import catalogue_top_k

        return catalogue_top_k(self.ratings, test.ratings, k, threshold)

    def beyond_accuracy(
        self, train: EngineData, catalog: Catalog | None, k: int
    ) -> dict[str, float | None]:
        """:func:`movierec.metrics.beyond_accuracy` of these lists; the catalogue is the
        movies of ``train``, genres come from ``catalog``."""
        from movierec.metrics import beyond_accuracy

        tr = train.ratings
        movies = catalog.movies if catalog is not None else None
        return beyond_accuracy(self.ratings, tr, movies, int(tr[ITEM].nunique()), k)

    def write_recommendations(self, path: Path, catalog: Catalog | None) -> WrittenLists:
        """Write these lists with titles and original ids at ``path``, atomically: the
        format by suffix (``.parquet`` or ``.csv``; none = both, as ``path.parquet`` and
        ``path.csv``). One file each here; see :mod:`movierec.lists`."""
        from movierec.lists import decorate, save_recommendations

        cat = catalog or Catalog()
        table = decorate(self.ratings, cat.movies, cat.user_ids, cat.item_ids)
        files = save_recommendations(table, Path(path))
        return WrittenLists(int(table[USER].nunique()), len(table), [p.name for p in files])

    # --- models and model folders ---------------------------------------------------------

    def fit_baseline(self, name: str) -> Predictor:
        """One of :data:`BASELINES` fitted on this ratings table (:mod:`movierec.baselines`)."""
        return BaselinePredictor(name, self.ratings)

    def fingerprint(self) -> str:
        """An order-independent digest of the (user, movie, rating) triples."""
        from movierec.engines.frames import fingerprint

        return fingerprint(self.ratings)

    def write_ratings(self, path: Path) -> dict[str, tuple[int, str]]:
        """Write USER, ITEM, RATING as Parquet at ``path`` (a model folder's training data).
        Returns (size, hex SHA-256) by path relative to ``path.parent`` of the files written
        somewhere else than ``path`` on this disk (a distributed engine writing into a remote
        output), for the model's manifest; here none."""
        self.ratings[[USER, ITEM, RATING]].to_parquet(path, index=False)
        return {}


class Predictor(_Scoped, ABC):
    """Anything that scores (user, movie) pairs and ranks movies: a model or a baseline."""

    @abstractmethod
    def predict(self, pairs: pd.DataFrame) -> np.ndarray:
        """Predicted ratings for the (USER, ITEM) rows of ``pairs``, in row order.

        For ``implicit-als`` the values are preference scores x_u·y_i (for ranking, roughly
        0..1), not ratings. Rows whose user or movie was not in the training data get NaN
        (cold start); callers count and report them.
        """

    @abstractmethod
    def recommend(
        self, users: np.ndarray | None, n: int, exclude: EngineData | None
    ) -> pd.DataFrame:
        """Top-``n`` movies per user: columns USER, ITEM, SCORE, RANK (1-based).

        ``users`` None means every user the model knows. Movies the user has in
        ``exclude`` (normally the training ratings) are never recommended. Ties in score are
        broken by ascending movie id, so lists are deterministic.
        """

    def predict_table(
        self, pairs: EngineData, scale: tuple[float, float] | None = None
    ) -> EngineData:
        """``pairs`` with a PREDICTION column (NaN for cold start), clipped to ``scale``."""
        from movierec.engines.frames import clip_ratings

        frame = pairs.ratings
        values = clip_ratings(self.predict(frame), scale)
        return pairs.derive(frame.assign(**{PREDICTION: values}))

    def recommend_table(
        self, users: EngineData | None, n: int, exclude: EngineData | None
    ) -> EngineData:
        """:meth:`recommend` for the distinct users of ``users`` (None: every user the model
        knows), as a top-N table."""
        ids = None if users is None else np.unique(users.ratings[USER].to_numpy())
        recs = self.recommend(ids, n, exclude)
        origin = users if users is not None else exclude
        return FrameData(recs) if origin is None else origin.derive(recs)


class TrainedModel(Predictor):
    """A fitted ALS model."""

    params: ALSParams

    @abstractmethod
    def factors(self) -> Factors:
        """The user and item factors as numpy arrays (float32), sorted by id."""

    @abstractmethod
    def save(self, path: Path) -> None:
        """Write the engine's native model format to ``path`` (a folder that must not exist)."""


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


# --- the in-memory plane's concrete classes ----------------------------------------------


class FrameData(EngineData):
    """Any pandas table as an engine handle (top-N lists, predictions, test data)."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self._frame = frame

    @property
    def ratings(self) -> pd.DataFrame:
        return self._frame


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


class BaselinePredictor(Predictor):
    """A :mod:`movierec.baselines` model behind the :class:`Predictor` interface.

    ``global_mean`` and ``bias`` predict ratings (no top-N); ``most_popular`` ranks (no
    predictions); the other direction raises :class:`EngineError`.
    """

    def __init__(self, name: str, train: pd.DataFrame) -> None:
        from movierec.baselines import BiasBaseline, GlobalMean, MostPopular

        if name not in BASELINES:
            raise ConfigError(f"unknown baseline {name!r}; choose one of: {', '.join(BASELINES)}")
        self.name = name
        self.train = train
        model: Any = {"global_mean": GlobalMean, "bias": BiasBaseline, "most_popular": MostPopular}
        self.model = model[name]().fit(train)

    def predict(self, pairs: pd.DataFrame) -> np.ndarray:
        if self.name == "most_popular":
            raise EngineError("the most-popular baseline ranks movies; it predicts no ratings")
        return np.asarray(self.model.predict(pairs), dtype=np.float64)

    def recommend(
        self, users: np.ndarray | None, n: int, exclude: EngineData | None
    ) -> pd.DataFrame:
        if self.name != "most_popular":
            raise EngineError(f"the {self.name} baseline predicts ratings; it makes no lists")
        if users is None:
            users = np.unique(self.train[USER].to_numpy())
        seen = exclude.ratings if exclude is not None else None
        return self.model.recommend(users, n=n, exclude=seen)


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

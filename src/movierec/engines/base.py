"""The engine contract: an engine owns its data plane.

An engine reads a ratings source into a table it holds (:class:`EngineData`), splits it,
fits models on it (:class:`TrainedModel`), scores and ranks with them, computes the metrics
and writes the results — all where the data lives. The pipeline only passes handles between
these methods and reads back small results: counts, metric dicts, aggregates bounded by the
number of users and movies, a few rows of a handful of users.

* The **local** engine keeps its tables as pandas frames in this process; the default
  implementations below (in :mod:`movierec.engines.memory`, on ``self.ratings``) are its
  data plane: :mod:`movierec.split`, :mod:`movierec.metrics`, :mod:`movierec.baselines`.
* The **Spark** engine overrides every data-plane method with DataFrame operations that run
  on the executors, so no row of a ratings-sized table reaches the Python driver.

Handles, models and read results are context managers: ``with table.kfold(3, seed) ...``,
``with engine.fit(train, params) as model:`` release engine-side resources (a cached
DataFrame, an index) on exit. Column names are those of :mod:`movierec.schema`: a ratings
table has USER, ITEM, RATING (TIMESTAMP optional), a scored table adds PREDICTION, a top-N
table has USER, ITEM, SCORE, RANK.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from movierec.config import ALSConfig
from movierec.schema import ITEM, PREDICTION, RATING, USER
from movierec.split import SALT_HOLDOUT

if TYPE_CHECKING:
    from typing_extensions import Self

    from movierec.config import DataConfig, SparkConfig
    from movierec.data.report import LoadReport

MODELS = ("als", "biased-als", "implicit-als")
"""``als``: Spark MLlib ALS on the ratings. ``biased-als``: global mean + damped user and
movie biases, with ALS fitted on the residuals (prediction = mean + b_u + b_i + x_u·y_i).
``implicit-als``: Spark MLlib's implicit-feedback ALS (Hu, Koren & Volinsky; every rating is
an interaction with confidence 1 + alpha·|r|); its "prediction" x_u·y_i is a preference
score for ranking (about 0..1), not a rating."""

BASELINES = ("global_mean", "bias", "most_popular")
"""Names :meth:`EngineData.fit_baseline` accepts (see :mod:`movierec.baselines`)."""


@dataclass(frozen=True)
class ALSParams:
    """Hyper-parameters of one ALS fit (Spark MLlib semantics).

    ``alpha`` is the confidence scale of ``implicit-als`` (Spark's ``alpha``); the explicit
    models ignore it.
    """

    rank: int = 10
    reg_param: float = 0.1
    max_iter: int = 15
    seed: int = 42
    model: str = "als"
    bias_reg: float = 5.0
    nonnegative: bool = False
    num_blocks: int = 4
    checkpoint_interval: int = 10
    alpha: float = 1.0
    clip_predictions: bool = True
    rating_scale: tuple[float, float] | None = None
    """``(lo, hi)`` that predicted ratings are clipped to; None = the training data's lowest
    and highest rating (see :func:`movierec.engines.clipping.prediction_scale`)."""

    def __post_init__(self) -> None:
        if self.rating_scale is not None:  # a list when read back from JSON metadata
            lo, hi = (float(v) for v in self.rating_scale)
            object.__setattr__(self, "rating_scale", (lo, hi))

    @property
    def biased(self) -> bool:
        return self.model == "biased-als"

    @property
    def implicit(self) -> bool:
        """True for ``implicit-als``: scores are preferences, not predicted ratings."""
        return self.model == "implicit-als"

    @classmethod
    def from_config(cls, cfg: ALSConfig, seed: int) -> ALSParams:
        return cls(
            rank=cfg.rank,
            reg_param=cfg.reg_param,
            max_iter=cfg.max_iter,
            seed=seed,
            model=cfg.model,
            bias_reg=cfg.bias_reg,
            nonnegative=cfg.nonnegative,
            num_blocks=cfg.num_blocks,
            checkpoint_interval=cfg.checkpoint_interval,
            alpha=cfg.alpha,
            clip_predictions=cfg.clip_predictions,
            rating_scale=cfg.rating_scale,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Factors:
    """Latent factors as plain arrays: row ``j`` of ``user_factors`` belongs to ``user_ids[j]``.

    A prediction is ``global_mean + user_bias[u] + item_bias[i] + user_factors[u] @
    item_factors[i]``; for plain ALS the mean is 0 and the biases are zeros.
    """

    user_ids: np.ndarray
    user_factors: np.ndarray
    item_ids: np.ndarray
    item_factors: np.ndarray
    global_mean: float = 0.0
    user_bias: np.ndarray | None = None
    item_bias: np.ndarray | None = None


@dataclass(frozen=True)
class TableStats:
    """Counts of a ratings table: rows, distinct users and movies, lowest/highest rating
    (NaN when the table is empty)."""

    rows: int
    users: int
    items: int
    rating_min: float
    rating_max: float


@dataclass(frozen=True)
class WrittenLists:
    """What :meth:`EngineData.write_recommendations` wrote: distinct users, rows, and the
    names of the outputs (files, or folders of part files on a cluster)."""

    users: int
    rows: int
    files: list[str]


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


class Catalog:
    """Titles and original ids of a dataset: ``movies`` (ITEM, TITLE, GENRES) or None, and
    the original user/movie ids by dense id (None when that column was not remapped).

    These are driver-side values, bounded by the number of movies and users. A distributed
    engine subclasses it to keep its own copies and collect the driver-side ones on demand.
    """

    def __init__(
        self,
        movies: pd.DataFrame | None = None,
        user_ids: np.ndarray | None = None,
        item_ids: np.ndarray | None = None,
    ) -> None:
        self._movies, self._user_ids, self._item_ids = movies, user_ids, item_ids

    @property
    def movies(self) -> pd.DataFrame | None:
        return self._movies

    @property
    def user_ids(self) -> np.ndarray | None:
        return self._user_ids

    @property
    def item_ids(self) -> np.ndarray | None:
        return self._item_ids


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
        """A new handle of the same engine on ``frame`` (in-memory engines only)."""
        from movierec.engines.memory import FrameData

        return FrameData(frame)

    # --- counts and aggregates ------------------------------------------------------------

    def count(self) -> int:
        """Number of rows."""
        return len(self.ratings)

    def stats(self) -> TableStats:
        """Rows, distinct users and movies, lowest and highest rating (one pass)."""
        from movierec.engines.memory import table_stats

        return table_stats(self.ratings)

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
        from movierec.interactions import to_interactions

        table = to_interactions(self.ratings, mode, threshold)
        return self if table is self.ratings else self.derive(table)

    def cold_start_counts(self, test: EngineData) -> dict[str, int]:
        """:func:`movierec.split.cold_start_counts` of ``test`` against this training table."""
        from movierec.split import cold_start_counts

        return cold_start_counts(self.ratings, test.ratings)

    # --- scored tables (PREDICTION column, NaN where the model could not score) -----------

    def predicted(self) -> EngineData:
        """The rows of a scored table that have a prediction (not NaN)."""
        from movierec.engines.memory import predicted_rows

        return self.derive(predicted_rows(self.ratings))

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
        from movierec.engines.memory import holdout_rmse

        frame = self.ratings
        return holdout_rmse(frame[PREDICTION].to_numpy(), frame[RATING])

    def prediction_metrics(self, k: int, threshold: float) -> dict[str, Any]:
        """rmse, mae, mse, n, ``pairwise`` and ``within_test_top_k`` of a scored table whose
        every row has a prediction (see :meth:`predicted`)."""
        from movierec.engines.memory import prediction_metrics

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

    def write_recommendations(
        self, folder: Path, catalog: Catalog | None, name: str = "recommendations"
    ) -> WrittenLists:
        """Write these lists with titles and original ids (see :mod:`movierec.lists`) as
        ``folder/NAME.parquet`` and ``folder/NAME.csv``."""
        from movierec.lists import decorate, save_recommendations

        cat = catalog or Catalog()
        table = decorate(self.ratings, cat.movies, cat.user_ids, cat.item_ids)
        save_recommendations(table, Path(folder) / name)
        files = [f"{name}.parquet", f"{name}.csv"]
        return WrittenLists(int(table[USER].nunique()), len(table), files)

    # --- models and model folders ---------------------------------------------------------

    def fit_baseline(self, name: str) -> Predictor:
        """One of :data:`BASELINES` fitted on this ratings table (:mod:`movierec.baselines`)."""
        from movierec.engines.memory import BaselinePredictor

        return BaselinePredictor(name, self.ratings)

    def fingerprint(self) -> str:
        """An order-independent digest of the (user, movie, rating) triples."""
        from movierec.engines.memory import fingerprint

        return fingerprint(self.ratings)

    def write_ratings(self, path: Path) -> None:
        """Write USER, ITEM, RATING as Parquet at ``path`` (a model folder's training data)."""
        self.ratings[[USER, ITEM, RATING]].to_parquet(path, index=False)


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
        from movierec.engines.clipping import clip_ratings

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
        if origin is None:
            from movierec.engines.memory import FrameData

            return FrameData(recs)
        return origin.derive(recs)


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

    def read(self, cfg: DataConfig, spark_cfg: SparkConfig | None = None) -> Loaded:
        """Read and validate the ratings source ``cfg`` (:func:`movierec.data.load_ratings`
        rules, reject reasons and counts) into this engine's data plane.

        Raises:
            DataError: unreadable source, bad rows beyond the reject limit, and the like.
        """
        from movierec.data import load_ratings
        from movierec.engines.memory import FrameLoaded

        return FrameLoaded(load_ratings(cfg, spark_cfg), self.data)

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


_CLIPPING = ("ClippedModel", "clip_ratings", "fit_clipped", "prediction_scale", "with_clipping")


def __getattr__(name: str) -> Any:
    """The clipping helpers, moved to :mod:`movierec.engines.clipping`, under their old names."""
    if name in _CLIPPING:
        from movierec.engines import clipping

        return getattr(clipping, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

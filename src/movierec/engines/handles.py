"""The data-plane handles of the engine contract (re-exported by :mod:`movierec.engines.base`).

* :class:`EngineData`: a table an engine holds; its default methods (on ``self.ratings``,
  with :mod:`movierec.engines.frames`) are the local engine's data plane, the Spark engine
  overrides them all;
* :class:`Predictor` and :class:`TrainedModel`: what scores pairs and ranks movies;
* the in-memory concrete classes the defaults return: :class:`FrameData` (any pandas table
  as a handle) and :class:`BaselinePredictor` (a :mod:`movierec.baselines` model, one of
  :data:`BASELINES`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from movierec.engines.values import ALSParams, Catalog, Factors, TableStats, WrittenLists
from movierec.errors import ConfigError, EngineError
from movierec.schema import ITEM, PREDICTION, RATING, USER
from movierec.split import SALT_HOLDOUT

if TYPE_CHECKING:
    from typing_extensions import Self

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


# --- the in-memory plane's concrete classes ----------------------------------------------


class FrameData(EngineData):
    """Any pandas table as an engine handle (top-N lists, predictions, test data)."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self._frame = frame

    @property
    def ratings(self) -> pd.DataFrame:
        return self._frame


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

"""The in-process data plane: the default implementation of the engine contract on pandas.

:class:`~movierec.engines.base.EngineData`'s default methods call these functions on the
frame the handle holds; the local engine uses them as they are. Everything here runs in
this process and grows with the table it is given.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from movierec.data.report import LoadedRatings
from movierec.engines.base import (
    BASELINES,
    Catalog,
    EngineData,
    Loaded,
    Predictor,
    TableStats,
)
from movierec.errors import ConfigError, DataError, EngineError
from movierec.metrics import pairwise_prf, rating_errors, within_test_top_k
from movierec.schema import ITEM, PREDICTION, RATING, USER


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


def table_stats(ratings: pd.DataFrame) -> TableStats:
    """:class:`TableStats` of a pandas ratings table."""
    values = ratings[RATING].to_numpy(dtype=np.float64)
    empty = len(values) == 0
    return TableStats(
        rows=len(ratings),
        users=int(ratings[USER].nunique()),
        items=int(ratings[ITEM].nunique()),
        rating_min=float("nan") if empty else float(values.min()),
        rating_max=float("nan") if empty else float(values.max()),
    )


def predicted_rows(scored: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``scored`` whose PREDICTION is not NaN, renumbered from 0."""
    known = ~np.isnan(scored[PREDICTION].to_numpy(dtype=np.float64))
    return scored.loc[known].reset_index(drop=True)


def holdout_rmse(model_predict: np.ndarray, actual: pd.Series) -> tuple[float, int]:
    """RMSE over the rows that have a prediction, and the number of cold-start rows left out.

    Raises:
        DataError: no row has a prediction (every user or movie is new).
    """
    pred = np.asarray(model_predict, dtype=np.float64)
    ok = ~np.isnan(pred)
    if not ok.any():
        raise DataError("no validation rating could be predicted (every user or movie is new)")
    return float(rating_errors(actual.to_numpy()[ok], pred[ok])["rmse"]), int((~ok).sum())


def prediction_metrics(
    test: pd.DataFrame, predicted: np.ndarray, k: int, threshold: float
) -> dict[str, Any]:
    """RMSE, MAE, MSE, pairwise and within-test top-k metrics of one set of predictions.

    ``predicted`` must be aligned with ``test`` rows and free of NaN.
    """
    actual = test[RATING].to_numpy(dtype=np.float64)
    errors = rating_errors(actual, predicted)
    frame = pd.DataFrame(
        {
            USER: test[USER].to_numpy(),
            ITEM: test[ITEM].to_numpy(),
            RATING: actual,
            PREDICTION: predicted,
        }
    )
    return {
        "rmse": errors["rmse"],
        "mae": errors["mae"],
        "mse": errors["mse"],
        "n": errors["n"],
        "pairwise": pairwise_prf(actual, predicted, threshold),
        "within_test_top_k": within_test_top_k(frame, k, threshold),
    }


def fingerprint(ratings: pd.DataFrame) -> str:
    """SHA-256 of the (user, movie, rating) triples, independent of row order.

    Rows are sorted by (user, movie) before hashing the int32/int32/float64 arrays, so the
    same ratings give the same fingerprint however they were read.
    """
    order = np.lexsort((ratings[ITEM].to_numpy(), ratings[USER].to_numpy()))
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(ratings[USER].to_numpy(dtype=np.int32)[order]).tobytes())
    h.update(np.ascontiguousarray(ratings[ITEM].to_numpy(dtype=np.int32)[order]).tobytes())
    h.update(np.ascontiguousarray(ratings[RATING].to_numpy(dtype=np.float64)[order]).tobytes())
    return "sha256:" + h.hexdigest()


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

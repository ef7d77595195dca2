"""Evaluate a trained model on a held-out test set, beside simple baselines on the same split.

Three readings of precision/recall/F1 are reported (see the README for exact definitions):
``pairwise`` (each test pair a classification), ``within_test_top_k`` (the Surprise recipe)
and ``catalogue_top_k`` (each user's top-k unseen movies from the whole catalogue).
:func:`account_test_rows` says where every row of a test file went (scored, or why not).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from movierec.baselines import BiasBaseline, GlobalMean, MostPopular
from movierec.data.report import LoadedRatings
from movierec.engines.base import EngineData, TrainedModel, with_clipping
from movierec.errors import DataError
from movierec.metrics import (
    beyond_accuracy,
    catalogue_top_k,
    pairwise_prf,
    rating_errors,
    within_test_top_k,
)
from movierec.schema import ITEM, LINE, PREDICTION, RATING, RAW, REASON, USER
from movierec.split import cold_start_counts

log = logging.getLogger(__name__)


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


def evaluate(
    model: TrainedModel,
    train: EngineData,
    test: pd.DataFrame,
    *,
    k: int = 10,
    threshold: float = 3.0,
    with_baselines: bool = True,
    movies: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Evaluate ``model`` (fitted on ``train``) on ``test``; optionally the baselines too.

    Rating metrics are computed on the test rows whose user and movie are in the training
    data (ALS cannot score the others); how many rows that leaves out is reported under
    ``coverage``, and the baselines are scored on exactly the same rows. The catalogue
    top-k reading covers every test user with at least one relevant movie (rating >=
    ``threshold``): a user the model cannot score counts with zero hits. Predicted ratings
    are clipped to the rating scale as ``model.params`` say (:func:`with_clipping`).

    Returns a dict with the keys of ``summary.json``'s ``test`` section, plus ``baselines``
    when requested.

    Raises:
        DataError: the test set is empty or no test row can be predicted.
    """
    if len(test) == 0:
        raise DataError("the test set is empty")
    train_ratings = train.ratings
    model = with_clipping(model, train_ratings)  # as its params say; no-op if already clipped
    coverage = cold_start_counts(train_ratings, test)
    predicted = model.predict(test)
    known = ~np.isnan(predicted)
    if not known.any():
        raise DataError(
            "no test rating can be predicted: no test user or movie is in the training data"
        )
    scored = test.loc[known].reset_index(drop=True)
    result: dict[str, Any] = prediction_metrics(scored, predicted[known], k, threshold)
    result["coverage"] = {**coverage, "scored_rows": int(known.sum())}
    test_users = np.unique(test[USER].to_numpy())
    recs = model.recommend(test_users, k, exclude=train)
    result["catalogue_top_k"] = catalogue_top_k(recs, test, k, threshold)
    n_items = int(train_ratings[ITEM].nunique())
    result["beyond_accuracy"] = beyond_accuracy(recs, train_ratings, movies, n_items, k)
    result["k"] = k
    result["threshold"] = threshold
    result["model"] = model.params.model
    result["params"] = model.params.to_dict()
    if with_baselines:
        result["baselines"] = evaluate_baselines(
            train_ratings, test, scored, k, threshold, movies=movies
        )
    return result


def evaluate_baselines(
    train: pd.DataFrame,
    test: pd.DataFrame,
    scored: pd.DataFrame,
    k: int,
    threshold: float,
    movies: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Global mean, user+item bias (rating metrics on ``scored`` rows) and most-popular (top-k)."""
    out: dict[str, Any] = {}
    for name, baseline in (("global_mean", GlobalMean()), ("bias", BiasBaseline())):
        baseline.fit(train)
        out[name] = prediction_metrics(scored, baseline.predict(scored), k, threshold)
    popular = MostPopular().fit(train)
    users = np.unique(test[USER].to_numpy())
    recs = popular.recommend(users, n=k, exclude=train)
    out["most_popular"] = {
        "catalogue_top_k": catalogue_top_k(recs, test, k, threshold),
        "beyond_accuracy": beyond_accuracy(recs, train, movies, int(train[ITEM].nunique()), k),
    }
    return out


# --------------------------------------------------------------------------- test-row accounting

EVAL_REASONS: tuple[str, ...] = ("unknown_user", "unknown_movie")
"""Why a valid test row is not scored: its user (checked first) or its movie is not in the
training data. Rows the reader rejects keep their reasons (:data:`movierec.data.REASONS`)."""


@dataclass(frozen=True)
class RowsAccount:
    """Where every row of a test file went when a saved model was evaluated on it.

    Invariant: ``read == scored + sum(rejected.values())``. ``rejected`` counts per reason:
    the reader's (malformed rows, duplicates) and :data:`EVAL_REASONS`; ``rejects`` lists
    those rows (columns of :data:`movierec.data.REJECT_COLUMNS`) in line order.
    """

    read: int
    scored: int
    rejected: dict[str, int]
    rejects: pd.DataFrame

    def to_dict(self) -> dict[str, Any]:
        """``read``, ``scored`` and ``rejected`` (reason → count) as plain JSON values."""
        return {
            "read": int(self.read),
            "scored": int(self.scored),
            "rejected": {str(k): int(v) for k, v in self.rejected.items()},
        }

    def describe(self) -> str:
        """One line: ``1,000 test rows read, 950 scored; not scored: unknown_user 30, ...``."""
        line = f"{self.read:,} test rows read, {self.scored:,} scored"
        if self.rejected:
            line += "; not scored: " + ", ".join(f"{k} {v:,}" for k, v in self.rejected.items())
        return line


def _raw_rows(loaded: LoadedRatings, rows: np.ndarray, lines: np.ndarray | None) -> list[str]:
    """The source text of test rows: the file's lines for a local text file, else the values."""
    report = loaded.report
    path = Path(report.path)
    if lines is not None and report.encoding is not None and path.is_file():
        from movierec.data.textscan import fetch_lines

        return fetch_lines(path, lines, report.encoding)
    frame = loaded.ratings.iloc[rows]
    users = frame[USER].to_numpy()
    items = frame[ITEM].to_numpy()
    if loaded.user_ids is not None:
        users = loaded.user_ids[users]
    if loaded.item_ids is not None:
        items = loaded.item_ids[items]
    return [
        f"{USER}={u}, {ITEM}={i}, {RATING}={r}"
        for u, i, r in zip(users, items, frame[RATING].to_numpy())
    ]


def account_test_rows(
    loaded: LoadedRatings, test: pd.DataFrame, train: pd.DataFrame
) -> RowsAccount:
    """Account for every row of a test file: scored, or why not (reason and line).

    ``loaded`` is the test file as :func:`movierec.data.load_ratings` read it (with
    ``keep_lines=True`` the unscored rows get their line numbers, else line 0); ``test`` is
    ``loaded.ratings`` in the model's ids (:func:`movierec.model_io.align_test_ids`);
    ``train`` the model's training ratings. A row is scored when its user and its movie are
    in ``train`` — the rows :func:`evaluate` computes rating metrics on.
    """
    known_u = test[USER].isin(pd.unique(train[USER])).to_numpy()
    known_i = test[ITEM].isin(pd.unique(train[ITEM])).to_numpy()
    reasons = np.where(~known_u, 1, np.where(~known_i, 2, 0))
    rejected = dict(loaded.report.rejected)
    parts = [loaded.rejects]
    for code, reason, column in ((1, "unknown_user", USER), (2, "unknown_movie", ITEM)):
        rows = np.flatnonzero(reasons == code)
        if not len(rows):
            continue
        rejected[reason] = len(rows)
        lines = None if loaded.lines is None else np.asarray(loaded.lines)[rows]
        parts.append(
            pd.DataFrame(
                {
                    LINE: np.zeros(len(rows), np.int64) if lines is None else lines,
                    "column": column,
                    REASON: reason,
                    RAW: pd.Series(_raw_rows(loaded, rows, lines), dtype=object),
                }
            )
        )
    rejects = pd.concat(parts, ignore_index=True) if len(parts) > 1 else loaded.rejects
    rejects = rejects.sort_values(LINE, kind="stable").reset_index(drop=True)
    return RowsAccount(
        read=loaded.report.rows_read,
        scored=int((reasons == 0).sum()),
        rejected=rejected,
        rejects=rejects,
    )

"""Evaluate a trained model on a held-out test set, beside simple baselines on the same split.

Three readings of precision/recall/F1 are reported (see the README for exact definitions):
``pairwise`` (each test pair a classification), ``within_test_top_k`` (the Surprise recipe)
and ``catalogue_top_k`` (each user's top-k unseen movies from the whole catalogue).

Every step runs on the engine's data plane (:class:`~movierec.engines.base.EngineData`):
only the metric dicts come back.

:func:`account_test_rows` says where every row of a test file went (scored, or why not).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from movierec.data.report import LoadedRatings
from movierec.engines.base import Catalog, EngineData, FrameLoaded, Loaded, TrainedModel
from movierec.engines.clipping import with_clipping
from movierec.engines.frames import prediction_metrics as _prediction_metrics
from movierec.errors import DataError
from movierec.schema import ITEM, LINE, RATING, RAW, REASON, USER

log = logging.getLogger(__name__)


def prediction_metrics(
    test: pd.DataFrame, predicted: np.ndarray, k: int, threshold: float
) -> dict[str, Any]:
    """RMSE, MAE, MSE, pairwise and within-test top-k metrics of one set of predictions.

    ``predicted`` must be aligned with ``test`` rows and free of NaN.
    """
    return _prediction_metrics(test, predicted, k, threshold)


def _catalog(movies: Catalog | pd.DataFrame | None) -> Catalog | None:
    return Catalog(movies) if isinstance(movies, pd.DataFrame) else movies


def evaluate(
    model: TrainedModel,
    train: EngineData,
    test: pd.DataFrame | EngineData,
    *,
    k: int = 10,
    threshold: float = 3.0,
    with_baselines: bool = True,
    movies: Catalog | pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Evaluate ``model`` (fitted on ``train``) on ``test``; optionally the baselines too.

    Rating metrics are computed on the test rows whose user and movie are in the training
    data (ALS cannot score the others); how many rows that leaves out is reported under
    ``coverage``, and the baselines are scored on exactly the same rows. The catalogue
    top-k reading covers every test user with at least one relevant movie (rating >=
    ``threshold``): a user the model cannot score counts with zero hits. Predicted ratings
    are clipped to the rating scale as ``model.params`` say (:func:`with_clipping`).
    ``test`` is a table of ``train``'s engine (or a pandas frame copied into it); ``movies``
    (a :class:`Catalog`, or a movies frame) gives the genres of the diversity metric.

    Returns a dict with the keys of ``summary.json``'s ``test`` section, plus ``baselines``
    when requested.

    Raises:
        DataError: the test set is empty or no test row can be predicted.
    """
    tst = test if isinstance(test, EngineData) else train.derive(test)
    try:
        return _evaluate(model, train, tst, k, threshold, with_baselines, _catalog(movies))
    finally:
        if tst is not test:
            tst.release()


def _evaluate(
    model: TrainedModel,
    train: EngineData,
    test: EngineData,
    k: int,
    threshold: float,
    with_baselines: bool,
    catalog: Catalog | None,
) -> dict[str, Any]:
    if test.count() == 0:
        raise DataError("the test set is empty")
    model = with_clipping(model, train)  # as its params say; no-op if already clipped
    coverage = train.cold_start_counts(test)
    with model.predict_table(test) as scored, scored.predicted() as known:
        n_known = known.count()
        if n_known == 0:
            raise DataError(
                "no test rating can be predicted: no test user or movie is in the training data"
            )
        result: dict[str, Any] = known.prediction_metrics(k, threshold)
        result["coverage"] = {**coverage, "scored_rows": int(n_known)}
        with model.recommend_table(test, k, exclude=train) as recs:
            result["catalogue_top_k"] = recs.catalogue_top_k(test, k, threshold)
            result["beyond_accuracy"] = recs.beyond_accuracy(train, catalog, k)
        result["k"] = k
        result["threshold"] = threshold
        result["model"] = model.params.model
        result["params"] = model.params.to_dict()
        if with_baselines:
            result["baselines"] = evaluate_baselines(train, test, known, k, threshold, catalog)
    return result


def evaluate_baselines(
    train: EngineData,
    test: EngineData,
    scored: EngineData,
    k: int,
    threshold: float,
    movies: Catalog | pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Global mean, user+item bias (rating metrics on the ``scored`` rows: the test rows the
    model predicted) and most-popular (top-k of every test user), fitted on ``train``."""
    out: dict[str, Any] = {}
    for name in ("global_mean", "bias"):
        with train.fit_baseline(name) as baseline, baseline.predict_table(scored) as predicted:
            out[name] = predicted.prediction_metrics(k, threshold)
    with (
        train.fit_baseline("most_popular") as popular,
        popular.recommend_table(test, k, exclude=train) as recs,
    ):
        out["most_popular"] = {
            "catalogue_top_k": recs.catalogue_top_k(test, k, threshold),
            "beyond_accuracy": recs.beyond_accuracy(train, _catalog(movies), k),
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
    those rows (columns of :data:`movierec.data.REJECT_COLUMNS`) in line order, or is None
    where the rows stay on a cluster (the Spark engine counts them, it does not collect them).
    """

    read: int
    scored: int
    rejected: dict[str, int]
    rejects: pd.DataFrame | None

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


def account_rows(loaded: Loaded, test: EngineData, train: EngineData) -> RowsAccount:
    """:func:`account_test_rows` on any engine: ``loaded`` the test source as the engine read
    it, ``test`` its rows in the model's ids, ``train`` the model's training ratings.

    An in-memory read (:class:`~movierec.engines.base.FrameLoaded`) gets the full account,
    rejects listed. Otherwise the counts come from one aggregation where the data lives
    (:meth:`EngineData.cold_start_counts`: a row whose user is unknown is ``unknown_user``,
    else one whose movie is unknown ``unknown_movie``) and ``rejects`` is None.
    """
    if isinstance(loaded, FrameLoaded):
        rows = test.local_rows()
        if rows is not None:
            return account_test_rows(loaded.loaded, rows, train.ratings)
    counts = train.cold_start_counts(test)
    rejected = dict(loaded.report.rejected)
    unknown_user = counts["unknown_user_rows"]
    unknown_movie = counts["cold_start_rows"] - unknown_user
    for reason, n in (("unknown_user", unknown_user), ("unknown_movie", unknown_movie)):
        if n:
            rejected[reason] = n
    return RowsAccount(
        read=loaded.report.rows_read,
        scored=counts["test_rows"] - counts["cold_start_rows"],
        rejected=rejected,
        rejects=None,
    )

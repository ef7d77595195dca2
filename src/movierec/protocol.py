"""Reproduce a published evaluation protocol: k-fold CV over given split files or seeded folds.

A protocol is a list of (train, test) pairs: MovieLens 100K's ``u1.base``/``u1.test`` …
``u5.base``/``u5.test``, any other pairs of files, or ``k`` seeded folds by rating of one
ratings table (:func:`movierec.split.kfold`). One model configuration is fitted on each
training part and scored on its test part; per fold and over folds we report RMSE and MAE
(rating units) on the test rows whose user and movie are in that fold's training part, and
how many rows were left out as cold start. A ranking model (``implicit-als``: its scores are
preferences, not ratings) is scored instead by catalogue top-k precision, recall, NDCG, MAP
and hit rate (:func:`movierec.metrics.catalogue_top_k`: each test user's top-k unseen
movies, relevance = test rating >= the threshold).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from movierec.config import DataConfig
from movierec.engines.base import ALSParams, Engine
from movierec.engines.clipping import fit_clipped
from movierec.errors import ConfigError, DataError
from movierec.metrics import catalogue_top_k, rating_errors
from movierec.schema import ITEM, RATING, USER
from movierec.split import cold_start_counts, kfold

log = logging.getLogger(__name__)

Fold = tuple[pd.DataFrame, pd.DataFrame]

_RANGE = re.compile(r"\{(\d+)\.\.(\d+)\}")
_LIST = re.compile(r"\{([^{}]*,[^{}]*)\}")


def expand_braces(pattern: str) -> list[str]:
    """Expand shell-style braces in ``pattern``: ``{1..5}`` (integer range, either direction)
    and ``{a,b,c}`` (alternatives), left to right, e.g. ``u{1..3}.base`` → u1/u2/u3.base.

    A pattern with several braces gives their product in order.
    """
    found = [m for m in (_RANGE.search(pattern), _LIST.search(pattern)) if m is not None]
    if not found:
        return [pattern]
    m = min(found, key=lambda match: match.start())
    if m.re is _RANGE:
        lo, hi = int(m.group(1)), int(m.group(2))
        step = 1 if hi >= lo else -1
        values = [str(v) for v in range(lo, hi + step, step)]
    else:
        values = m.group(1).split(",")
    head, tail = pattern[: m.start()], pattern[m.end() :]
    return [out for v in values for out in expand_braces(head + v + tail)]


def parse_folds_from(spec: str, base_dir: Path | None = None) -> list[tuple[Path, Path]]:
    """Pairs of (train, test) files from ``'TRAIN_PATTERN:TEST_PATTERN'``.

    Both patterns are brace-expanded (:func:`expand_braces`) and paired in order, e.g.
    ``'u{1..5}.base:u{1..5}.test'``; relative paths are taken under ``base_dir``.

    Raises:
        ConfigError: no ``:`` separator, or the two patterns expand to different counts.
    """
    train_pat, sep, test_pat = spec.rpartition(":")
    if not sep or not train_pat or not test_pat:
        raise ConfigError(
            f"--folds-from wants 'TRAIN_PATTERN:TEST_PATTERN' (e.g. 'u{{1..5}}.base:"
            f"u{{1..5}}.test'), got {spec!r}"
        )
    trains, tests = expand_braces(train_pat), expand_braces(test_pat)
    if len(trains) != len(tests):
        raise ConfigError(
            f"--folds-from: {train_pat!r} gives {len(trains)} files but {test_pat!r} gives "
            f"{len(tests)}; they must pair up"
        )
    root = Path(base_dir) if base_dir is not None else Path()
    return [(root / a, root / b) for a, b in zip(trains, tests)]


def _original_ids(dense: np.ndarray, mapping: np.ndarray | None) -> pd.Series:
    values = np.asarray(mapping)[dense] if mapping is not None else dense
    return pd.Series(values).astype(str)


def _common_ids(
    train: pd.DataFrame, test: pd.DataFrame, maps: list[tuple[Any, Any]]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Re-express both tables in one dense id space per column (matched by original id)."""
    train, test = train.copy(), test.copy()
    for col, (train_map, test_map) in zip((USER, ITEM), maps):
        if train_map is None and test_map is None:
            continue
        a = _original_ids(train[col].to_numpy(), train_map)
        b = _original_ids(test[col].to_numpy(), test_map)
        codes, _ = pd.factorize(pd.concat([a, b], ignore_index=True))
        train[col] = codes[: len(a)].astype(np.int32)
        test[col] = codes[len(a) :].astype(np.int32)
    return train, test


def load_fold_pairs(
    pairs: Sequence[tuple[Path, Path]], data: DataConfig | None = None, fmt: str | None = None
) -> list[Fold]:
    """Read each (train, test) pair of files with :func:`movierec.data.load_ratings`.

    ``data`` gives the reading options (format, separator, columns, scale …; its ``path`` is
    replaced by each file); ``fmt`` overrides its format. Ids are matched between the two
    files of a pair by their original values, whatever the readers did with them.

    Raises:
        ConfigError: no pairs.
        DataError: a file is missing, unreadable, or has no valid rating.
    """
    from movierec.data import load_ratings

    if not pairs:
        raise ConfigError("no folds: give --folds-from, --fold TRAIN TEST, or --folds K")
    base = data or DataConfig()
    if fmt is not None:
        base = base.model_copy(update={"format": fmt})
    out = []
    for train_file, test_file in pairs:
        loaded = []
        for file in (train_file, test_file):
            if not Path(file).is_file():
                raise DataError("split file not found", path=str(file))
            cfg = base.model_copy(update={"path": Path(file), "dataset": None, "movies": None})
            loaded.append(load_ratings(cfg))
        tr, te = loaded
        maps = [(tr.user_ids, te.user_ids), (tr.item_ids, te.item_ids)]
        out.append(_common_ids(tr.ratings, te.ratings, maps))
    return out


def random_folds(ratings: pd.DataFrame, folds: int, seed: int) -> list[Fold]:
    """``folds`` seeded folds by rating (:func:`movierec.split.kfold`)."""
    return kfold(ratings, folds, seed)


RANKING_KEYS = ("precision", "recall", "recall_norm", "ndcg", "map", "hit_rate")
"""Per-fold catalogue top-k metrics of a ranking model (means and stds over folds too)."""


@dataclass
class ProtocolResult:
    """Per-fold and summary metrics of one model configuration over a list of folds: RMSE
    and MAE, or for a ranking model (``ranking``) the catalogue top-k :data:`RANKING_KEYS`."""

    params: dict[str, Any]
    engine: str
    folds: list[dict[str, Any]] = field(default_factory=list)
    source: str = ""
    ranking: dict[str, Any] | None = None
    """``{"k": …, "threshold": …}`` of a ranking model's metrics; None for a rating model."""

    def _stat(self, key: str) -> tuple[float, float]:
        values = np.array([f[key] for f in self.folds], dtype=np.float64)
        return float(values.mean()), float(values.std(ddof=0))

    def to_dict(self) -> dict[str, Any]:
        if self.ranking is not None:
            out: dict[str, Any] = {
                "source": self.source,
                "engine": self.engine,
                "params": self.params,
                "folds": self.folds,
                **self.ranking,
            }
            for key in RANKING_KEYS:
                out[f"{key}_mean"], out[f"{key}_std"] = self._stat(key)
            out["std"] = "population standard deviation over folds (ddof=0)"
            return out
        rmse_mean, rmse_std = self._stat("rmse")
        mae_mean, mae_std = self._stat("mae")
        return {
            "source": self.source,
            "engine": self.engine,
            "params": self.params,
            "folds": self.folds,
            "rmse_mean": rmse_mean,
            "rmse_std": rmse_std,
            "mae_mean": mae_mean,
            "mae_std": mae_std,
            "std": "population standard deviation over folds (ddof=0)",
        }


Progress = Callable[[int, int, str], None]


def evaluate_protocol(
    engine: Engine,
    folds: Sequence[Fold],
    params: ALSParams,
    *,
    names: Sequence[str] | None = None,
    source: str = "",
    progress: Progress | None = None,
    k: int = 10,
    threshold: float = 3.0,
) -> ProtocolResult:
    """Fit ``params`` on each fold's training part and score its test part.

    Per fold: RMSE and MAE (rating units) over the test rows whose user and movie are in
    the training part, predictions clipped to the rating scale as ``params`` say; the
    number of test rows, of rows scored, and of cold-start rows left out. Mean and
    population std (ddof=0) over folds are in :meth:`ProtocolResult.to_dict`. A ranking
    model is scored by catalogue top-``k`` metrics instead (relevance: test rating >=
    ``threshold``; see :func:`_ranking_fold`).

    Raises:
        ConfigError: no folds.
        DataError: a fold has no test row that can be predicted (or, for a ranking model,
            no relevant test rating).
    """
    from movierec.workflows import predicts_ratings

    if not folds:
        raise ConfigError("no folds to evaluate")
    labels = list(names) if names is not None else [f"fold {i + 1}" for i in range(len(folds))]
    result = ProtocolResult(params=params.to_dict(), engine=engine.name, source=source)
    ranking = not predicts_ratings(params.model)
    if ranking:
        result.ranking = {"k": k, "threshold": threshold}
    for i, (train, test) in enumerate(folds):
        if len(test) == 0:
            raise DataError(f"{labels[i]}: the test part is empty")
        if ranking:
            row = _ranking_fold(engine, train, test, params, k, threshold)
            result.folds.append({"fold": i + 1, "name": labels[i], **row})
            log.info("%s: NDCG@%d %.4f", labels[i], k, row["ndcg"])
            if progress is not None:
                progress(i + 1, len(folds), f"{labels[i]}: NDCG@{k} {row['ndcg']:.4f}")
            continue
        with engine.data(train) as handle, fit_clipped(engine, handle, params) as model:
            predicted = model.predict(test)
            scale = getattr(model, "scale", None)
        known = ~np.isnan(predicted)
        if not known.any():
            raise DataError(f"{labels[i]}: no test rating can be predicted (all cold start)")
        errors = rating_errors(test[RATING].to_numpy()[known], predicted[known])
        row = {
            "fold": i + 1,
            "name": labels[i],
            "train_ratings": len(train),
            "test_ratings": len(test),
            "scored_rows": int(known.sum()),
            "cold_start_rows": cold_start_counts(train, test)["cold_start_rows"],
            "rmse": float(errors["rmse"]),
            "mae": float(errors["mae"]),
            "clipped_to": list(scale) if scale is not None else None,
        }
        result.folds.append(row)
        log.info("%s: RMSE %.4f MAE %.4f", labels[i], row["rmse"], row["mae"])
        if progress is not None:
            progress(i + 1, len(folds), f"{labels[i]}: RMSE {row['rmse']:.4f}")
    return result


def _ranking_fold(
    engine: Engine,
    train: pd.DataFrame,
    test: pd.DataFrame,
    params: ALSParams,
    k: int,
    threshold: float,
) -> dict[str, Any]:
    """One fold of a ranking model: each test user's top-``k`` movies not rated in ``train``
    scored against the test ratings >= ``threshold`` (:func:`catalogue_top_k`)."""
    with engine.data(train) as handle, engine.fit(handle, params) as model:
        recs = model.recommend(np.unique(test[USER].to_numpy()), k, exclude=handle)
    top = catalogue_top_k(recs, test, k, threshold)
    coverage = cold_start_counts(train, test)
    return {
        "train_ratings": len(train),
        "test_ratings": len(test),
        "scored_rows": coverage["test_rows"] - coverage["cold_start_rows"],
        "cold_start_rows": coverage["cold_start_rows"],
        "users": int(top["users"]),
        **{key: float(top[key]) for key in RANKING_KEYS},
    }
